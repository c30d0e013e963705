//! `millrace status`: a minimal, fast view of the runtime (snapshot, lock,
//! queue depths counted from the directories, status markers), in the
//! reference's `key: value` style. Meant to be extended by the runtime.

use clap::Args;

use super::workspace_arg::{fail, WorkspaceArg};
use crate::workspace::layout::PLANES;
use crate::workspace::{lock, queue, state};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
}

fn or_none(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

pub fn run(args: StatusArgs) -> i32 {
    let layout = match args.workspace.initialized() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let snap = match state::load_snapshot(&layout) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let mut out = String::with_capacity(1024);
    let mut line = |k: &str, v: &str| {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    };
    line("workspace", &layout.root.display().to_string());
    line("runtime_mode", &snap.runtime_mode);
    line("process_running", &snap.process_running.to_string());
    line("runtime_ownership_lock", lock::inspect(&layout).label());
    line("paused", &snap.paused.to_string());
    line("stop_requested", &snap.stop_requested.to_string());
    line("active_mode_id", &snap.active_mode_id);
    line("compiled_plan_id", &snap.compiled_plan_id);
    line("active_plane", or_none(&snap.active_plane));
    line("active_stage", or_none(&snap.active_stage));
    line(
        "active_work_item_kind",
        or_none(&snap.active_work_item_kind),
    );
    line("active_work_item_id", or_none(&snap.active_work_item_id));
    let depths = queue::queue_depths(&layout);
    for (plane, depth) in PLANES.iter().zip(depths) {
        line(&format!("{plane}_queue_depth"), &depth.to_string());
    }
    for plane in PLANES {
        match state::read_marker(&layout, plane) {
            Ok(marker) => line(&format!("{plane}_status_marker"), &marker),
            Err(e) => return fail(&format!("{}: {e}", layout.status_file(plane).display())),
        }
    }
    print!("{out}");
    0
}
