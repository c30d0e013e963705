//! The curator's promotion boundary: a curator stage that completed with a
//! skill update (an artifact or run file named `*skill_update*`) is
//! recorded under `learning/update-candidates/`: `applied/` at once when no
//! planning or execution stage is active, else `deferred/`, moved to
//! `applied/` at the first tick with the foreground idle. Foreground work
//! thus never sees a skill change in the middle of its stage.

use super::{ActiveRun, Engine};
use crate::plan::ir::CompiledNode;
use crate::workspace::{atomic, clock, events};
use serde_json::{json, Value};
use std::path::PathBuf;

const CURATOR_COMPLETE: &str = "CURATOR_COMPLETE";

fn is_skill_update(name: &str) -> bool {
    let n = name.to_lowercase();
    n.contains("skill_update") || n.contains("skill-update")
}

impl Engine {
    fn promotion_dir(&self, state: &str) -> PathBuf {
        self.layout
            .runtime
            .join("learning/update-candidates")
            .join(state)
    }

    fn foreground_active(&self) -> Vec<String> {
        ["planning", "execution"]
            .iter()
            .filter(|p| self.snapshot.active_runs_by_plane.contains_key(**p))
            .map(|p| p.to_string())
            .collect()
    }

    /// After a stage was applied: record a curator's skill update.
    pub(super) fn curator_promotion(&mut self, run: &ActiveRun, node: &CompiledNode) {
        if run.plane != "learning"
            || node.stage_kind_id != "curator"
            || self.snapshot.last_terminal_result != json!(CURATOR_COMPLETE)
        {
            return;
        }
        let mut artifacts: Vec<String> = Vec::new();
        if let Some(rel) = &self.snapshot.last_stage_result_path {
            let result: Option<Value> = std::fs::read_to_string(self.layout.root.join(rel))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            if let Some(list) = result.as_ref().and_then(|r| r["artifact_paths"].as_array()) {
                artifacts.extend(
                    list.iter()
                        .filter_map(Value::as_str)
                        .filter(|p| is_skill_update(p.rsplit('/').next().unwrap_or(p)))
                        .map(str::to_string),
                );
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.run_dir(run)) {
            let mut found: Vec<String> = entries
                .flatten()
                .filter(|e| is_skill_update(&e.file_name().to_string_lossy()))
                .map(|e| e.path().display().to_string())
                .filter(|p| !artifacts.contains(p))
                .collect();
            found.sort();
            artifacts.extend(found);
        }
        if artifacts.is_empty() {
            return;
        }
        let foreground = self.foreground_active();
        let state = if foreground.is_empty() {
            "applied"
        } else {
            "deferred"
        };
        let item = run.work_item_id.clone().unwrap_or_default();
        let path = self
            .promotion_dir(state)
            .join(format!("{}-{item}.json", run.run_id));
        let record = json!({
            "schema_version": "1.0",
            "kind": "learning_curator_promotion",
            "state": state,
            "run_id": run.run_id,
            "work_item_id": item,
            "artifact_paths": artifacts,
            "foreground_active_planes": foreground,
            "recorded_at": clock::now_rfc3339(),
        });
        if self.write_record(&path, &record).is_err() {
            return;
        }
        let rel = self.relative(&path);
        let _ = events::record(
            &self.layout,
            &format!("learning_curator_promotion_{state}"),
            json!({"promotion_record_path": rel, "work_item_id": item, "artifact_paths": record["artifact_paths"], "foreground_active_planes": record["foreground_active_planes"]}),
        );
        // The reference's monitor lines, with the record's path added.
        let line = if state == "deferred" {
            let active = record["foreground_active_planes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            format!("curator promotion deferred active={active} record={rel}")
        } else {
            format!("curator promotion applied source=none record={rel}")
        };
        self.monitor.line(&line);
    }

    /// With no foreground stage active: apply the deferred promotions.
    pub(super) fn apply_deferred_promotions(&mut self) {
        if !self.foreground_active().is_empty() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.promotion_dir("deferred")) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let Some(name) = path.file_name() else {
                continue;
            };
            let target = self.promotion_dir("applied").join(name);
            let mut record: Value = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_else(|| json!({}));
            record["state"] = json!("applied");
            record["applied_at"] = json!(clock::now_rfc3339());
            if self.write_record(&target, &record).is_err() {
                continue;
            }
            let _ = std::fs::remove_file(&path);
            let rel = self.relative(&target);
            let _ = events::record(
                &self.layout,
                "learning_curator_promotion_applied",
                json!({"promotion_record_path": rel, "source": "deferred_safe_boundary"}),
            );
            self.monitor.line(&format!(
                "curator promotion applied source=deferred_safe_boundary record={rel}"
            ));
        }
    }

    fn write_record(&self, path: &std::path::Path, record: &Value) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = serde_json::to_string_pretty(record).expect("record serializes");
        text.push('\n');
        atomic::write_atomic(path, text.as_bytes())
    }

    fn relative(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.layout.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}
