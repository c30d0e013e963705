//! The append-only runtime event log, `logs/runtime_events.jsonl`: one JSON
//! object per line (`schema_version`, `kind`, `event_type`, `occurred_at`,
//! `data`, keys sorted), one line per runtime mutation. Never rewritten;
//! appended without fsync (see `atomic::append_line`).

use std::io;

use serde_json::{json, Value};

use super::{atomic, clock, layout::Layout};

/// Append one event. `data` should be a JSON object.
pub fn record(layout: &Layout, event_type: &str, data: Value) -> io::Result<()> {
    let line = json!({
        "schema_version": "1.0",
        "kind": "runtime_event",
        "event_type": event_type,
        "occurred_at": clock::now_rfc3339(),
        "data": data,
    });
    let path = layout.event_log();
    let line = line.to_string();
    match atomic::append_line(&path, &line) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                super::safe_fs::create_dir_all(dir)?;
            }
            atomic::append_line(&path, &line)
        }
        r => r,
    }
}

/// Every event in the log, oldest first. Lines that are not JSON (a torn
/// last line after a crash) are skipped.
pub fn read_all(layout: &Layout) -> io::Result<Vec<Value>> {
    let text = match super::safe_fs::open_regular(&layout.event_log(), None).and_then(|f| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(f), &mut text).map(|_| text)
    }) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_sorted_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        record(&layout, "a", json!({"x": 1})).unwrap();
        record(&layout, "b", json!({})).unwrap();
        let text = std::fs::read_to_string(layout.event_log()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.starts_with("{\"data\":{\"x\":1},\"event_type\":\"a\",\"kind\":\"runtime_event\"")
        );
        let events = read_all(&layout).unwrap();
        assert_eq!(events[1]["event_type"], "b");
    }
}
