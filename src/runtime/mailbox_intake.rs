//! What the daemon does with a mailbox envelope besides the engine's own
//! control actions: it refuses commands addressed to another daemon
//! (expired), and applies work intake (`add_task`, `add_spec`, `add_idea`)
//! by writing the document into its queue exactly once per command id.
//!
//! Addressing: our CLI puts the session id of the daemon it saw into a
//! control command's payload (`daemon_session_id`; the reference ignores
//! unknown payload keys of control commands). A command naming another
//! session, or naming none and issued before this daemon took the
//! workspace, was meant for a daemon that is gone: applying it (a `stop`
//! above all) to this one would act on a stale decision. Work intake is
//! never expired: the work it carries is applied whoever it was sent to.

use serde_json::{json, Map, Value};

use super::Error;
use crate::workspace::documents::{DocKind, IdeaDocument, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::mailbox::Envelope;
use crate::workspace::{clock, events, queue};

/// The payload key naming the daemon session a command was issued to.
pub const SESSION_KEY: &str = "daemon_session_id";

/// Does `command` carry work (applied here) rather than a control action?
pub fn is_intake(command: &str) -> bool {
    matches!(command, "add_task" | "add_spec" | "add_idea")
}

fn seconds(stamp: &str) -> Option<f64> {
    let utc = stamp
        .strip_suffix("+00:00")
        .map_or_else(|| stamp.to_string(), |s| format!("{s}Z"));
    clock::parse_seconds(&utc)
}

/// Why `env` must not be applied by the daemon of `session`, which has
/// owned the workspace since `owned_since`; `None` when it is for us.
pub fn expired(env: &Envelope, session: &str, owned_since: &str) -> Option<String> {
    if is_intake(&env.command) {
        return None;
    }
    match env.payload.get(SESSION_KEY) {
        Some(Value::String(s)) if s == session => None,
        Some(other) => Some(format!(
            "expired: issued to daemon session {other} at {}, not to this daemon ({session})",
            env.issued_at
        )),
        None => match (seconds(&env.issued_at), seconds(owned_since)) {
            (Some(issued), Some(since)) if issued < since => Some(format!(
                "expired: issued at {}, before this daemon ({session}) took the workspace at {owned_since}",
                env.issued_at
            )),
            _ => None,
        },
    }
}

fn only_keys(payload: &Map<String, Value>, allowed: &[&str]) -> Result<(), Error> {
    match payload.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::Payload(format!(
            "payload key `{k}` is not one of {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn string<'a>(payload: &'a Map<String, Value>, key: &str) -> Result<&'a str, Error> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Payload(format!("payload `{key}` must be a string")))
}

/// The document an `add_task` / `add_spec` payload carries: the
/// reference's `{"document": {...}}`, or, when the operator's markdown has
/// a body the JSON shape cannot hold, also `"markdown"` (the full text,
/// which must be the same item).
fn payload_document(kind: DocKind, env: &Envelope) -> Result<WorkDocument, Error> {
    only_keys(&env.payload, &["document", "markdown"])?;
    let label = format!("mailbox command {}", env.command_id);
    let document = env
        .payload
        .get("document")
        .filter(|d| d.is_object())
        .ok_or_else(|| Error::Payload("payload `document` must be a JSON object".into()))?;
    let from_json = WorkDocument::from_json(kind, &document.to_string(), &label)
        .map_err(crate::workspace::Error::from)?;
    match env.payload.get("markdown") {
        None => Ok(from_json),
        Some(Value::String(md)) => {
            let doc =
                WorkDocument::parse_as(kind, md, &label).map_err(crate::workspace::Error::from)?;
            if doc.id() != from_json.id() {
                return Err(Error::Payload(format!(
                    "payload `markdown` is {} {}, `document` is {}",
                    kind,
                    doc.id(),
                    from_json.id()
                )));
            }
            Ok(doc)
        }
        Some(_) => Err(Error::Payload("payload `markdown` must be a string".into())),
    }
}

/// Apply a work-intake command; the result is archived with it.
pub fn apply_intake(layout: &Layout, env: &Envelope) -> Result<Value, Error> {
    let rel = |p: &std::path::Path| {
        p.strip_prefix(&layout.root)
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let (event, data, result) = match env.command.as_str() {
        "add_task" | "add_spec" => {
            let kind = if env.command == "add_task" {
                DocKind::Task
            } else {
                DocKind::Spec
            };
            let doc = payload_document(kind, env)?;
            let created = queue::enqueue_as(layout, &doc, Some(&env.command_id))
                .map_err(crate::workspace::Error::from)?;
            let key = format!("{}_id", kind.tag());
            (
                format!("mailbox_{}_applied", env.command),
                json!({key.as_str(): doc.id(), "path": rel(&created.path)}),
                json!({"work_item_kind": kind.tag(), "work_item_id": doc.id(), "path": rel(&created.path), "repeated": created.repeated}),
            )
        }
        "add_idea" => {
            only_keys(&env.payload, &["source_name", "markdown"])?;
            let idea = IdeaDocument::parse(
                string(&env.payload, "source_name")?,
                string(&env.payload, "markdown")?,
            )
            .map_err(crate::workspace::Error::from)?;
            let created = queue::add_idea_as(layout, &idea, Some(&env.command_id))
                .map_err(crate::workspace::Error::from)?;
            (
                "mailbox_add_idea_applied".to_string(),
                json!({"source_name": format!("{}.md", idea.id), "path": rel(&created.path)}),
                json!({"idea_id": idea.id, "path": rel(&created.path), "repeated": created.repeated}),
            )
        }
        other => {
            return Err(Error::Refused(format!(
                "{other} is not a work-intake command"
            )))
        }
    };
    let _ = events::record(layout, &event, data);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(command: &str, issued_at: &str, payload: Value) -> Envelope {
        Envelope {
            schema_version: "1.0".into(),
            kind: "mailbox_command".into(),
            command_id: "c-1".into(),
            command: command.into(),
            issued_at: issued_at.into(),
            issuer: "operator".into(),
            payload: payload.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn commands_for_another_daemon_expire_and_work_never_does() {
        let since = "2026-05-01T10:00:00Z";
        let ours = envelope("stop", "2026-05-01T09:00:00Z", json!({SESSION_KEY: "s-1"}));
        assert_eq!(expired(&ours, "s-1", since), None);
        let theirs = envelope("stop", "2026-05-01T11:00:00Z", json!({SESSION_KEY: "s-0"}));
        assert!(expired(&theirs, "s-1", since)
            .unwrap()
            .starts_with("expired:"));
        let old = envelope("pause", "2026-05-01T09:59:59+00:00", json!({}));
        assert!(expired(&old, "s-1", since).is_some());
        let new = envelope("pause", "2026-05-01T10:00:01Z", json!({}));
        assert_eq!(expired(&new, "s-1", since), None);
        let work = envelope("add_task", "2020-01-01T00:00:00Z", json!({}));
        assert_eq!(expired(&work, "s-1", since), None);
    }
}
