//! The change watcher: polls the size and modification time of the files
//! the runtime writes (the state directory's files, the queue and run
//! directories themselves, the event log and the config) a few times a second, and bumps a version
//! number on a `tokio::sync::watch` channel when any of them changed. Each
//! SSE stream waits on that channel. Only metadata is read; no inotify.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::watch;

use crate::workspace::documents::DocKind;
use crate::workspace::layout::Layout;
use crate::workspace::queue;

/// How often the files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);

fn hash_entry(h: &mut DefaultHasher, path: &Path) {
    path.hash(h);
    if let Ok(m) = std::fs::metadata(path) {
        m.len().hash(h);
        if let Ok(t) = m.modified() {
            t.duration_since(UNIX_EPOCH).unwrap_or_default().hash(h);
        }
    }
}

/// Every entry of a directory (name, size, mtime), in name order.
fn hash_dir(h: &mut DefaultHasher, dir: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    for p in names {
        hash_entry(h, &p);
    }
}

/// A fingerprint of everything the dashboard shows of one workspace.
pub fn fingerprint(layout: &Layout) -> u64 {
    let mut h = DefaultHasher::new();
    hash_dir(&mut h, &layout.state_dir());
    hash_entry(&mut h, &layout.event_log());
    hash_entry(&mut h, &layout.config_file());
    // Directories whose entries come and go (queue items move by rename,
    // runs are created): their own mtime changes then, so one stat each
    // suffices however many items they hold. What a stage writes inside a
    // run shows in the event log.
    for kind in DocKind::ALL {
        for state in queue::states(kind) {
            hash_entry(&mut h, &queue::state_dir(layout, kind, state));
        }
    }
    hash_entry(&mut h, &crate::cli::runs::runs_dir(layout));
    h.finish()
}

fn fingerprint_all(layouts: &[Layout]) -> Vec<u64> {
    layouts.iter().map(fingerprint).collect()
}

/// Poll forever, sending a new version whenever a fingerprint changes.
/// Ends when every receiver is gone.
pub async fn poll(layouts: Vec<Layout>, tx: watch::Sender<u64>) {
    let layouts = std::sync::Arc::new(layouts);
    let mut last = {
        let l = layouts.clone();
        tokio::task::spawn_blocking(move || fingerprint_all(&l))
            .await
            .unwrap_or_default()
    };
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let l = layouts.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint_all(&l)).await else {
            continue;
        };
        if now != last {
            last = now;
            tx.send_modify(|v| *v += 1);
        }
        if tx.is_closed() {
            return;
        }
    }
}
