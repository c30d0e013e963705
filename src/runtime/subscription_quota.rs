//! Subscription quota readings for usage governance, as the reference reads
//! them: the newest Codex `token_count` event with `rate_limits` in the
//! session logs under `$CODEX_HOME/sessions` (default `~/.codex`), its
//! `primary` window as `five_hour` and `secondary` as `weekly`
//! (`used_percent`, `resets_at` in Unix seconds). No telemetry is a
//! `degraded` status: ignored with `fail_open`, a blocker with
//! `fail_closed`. Readings are refreshed at most every
//! `refresh_interval_seconds`.

use super::governance::{parse_time, Blocker, QuotaStatus};
use crate::workspace::clock;
use crate::workspace::config::Config;
use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const TAIL_BYTES: u64 = 512_000;
const RECENT_FILES: usize = 20;

/// Where Codex keeps its sessions: `$CODEX_HOME/sessions`, else `~/.codex/sessions`.
pub fn sessions_dir() -> PathBuf {
    let home = std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".codex")))
        .unwrap_or_else(|| PathBuf::from(".codex"));
    home.join("sessions")
}

fn stamp(secs: i64) -> String {
    clock::format_unix(secs, 0)
}

fn degraded(now: i64, detail: &str) -> QuotaStatus {
    QuotaStatus {
        enabled: true,
        state: "degraded".into(),
        detail: Some(detail.into()),
        last_refreshed_at: Some(stamp(now)),
        ..QuotaStatus::default()
    }
}

/// The `*.jsonl` files under `root`, newest first, at most `RECENT_FILES`.
fn recent_files(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let p = e.path();
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file() && p.extension().is_some_and(|x| x == "jsonl") {
                if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                    found.push((m, p));
                }
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .take(RECENT_FILES)
        .map(|(_, p)| p)
        .collect()
}

/// The last `token_count` payload of a session file (its last 512 KB).
fn latest_token_count(path: &Path) -> Option<Value> {
    let mut f = std::fs::File::open(path).ok()?;
    let size = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(size.saturating_sub(TAIL_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().rev().find_map(|line| {
        let v: Value = serde_json::from_str(line).ok()?;
        if v.get("type")?.as_str()? != "event_msg" {
            return None;
        }
        let inner = v.get("payload")?;
        (inner.get("type")?.as_str()? == "token_count").then(|| inner.clone())
    })
}

fn status_from(payload: &Value, now: i64) -> Option<QuotaStatus> {
    let limits = payload.get("rate_limits")?.as_object()?;
    let mut status = QuotaStatus {
        enabled: true,
        state: "healthy".into(),
        last_refreshed_at: Some(stamp(now)),
        ..QuotaStatus::default()
    };
    for (key, window) in [("primary", "five_hour"), ("secondary", "weekly")] {
        let Some(raw) = limits.get(key).and_then(Value::as_object) else {
            continue;
        };
        let Some(used) = raw.get("used_percent").and_then(Value::as_f64) else {
            continue;
        };
        let resets = raw
            .get("resets_at")
            .and_then(Value::as_f64)
            .map(|s| stamp(s as i64));
        status.windows.insert(
            window.into(),
            json!({"window": window, "percent_used": used, "resets_at": resets, "read_at": stamp(now)}),
        );
    }
    (!status.windows.is_empty()).then_some(status)
}

/// Read the telemetry now.
pub fn read(sessions: &Path, now: i64) -> QuotaStatus {
    if !sessions.is_dir() {
        return degraded(now, "quota_telemetry_unavailable");
    }
    recent_files(sessions)
        .iter()
        .filter_map(|f| latest_token_count(f))
        .find_map(|p| status_from(&p, now))
        .unwrap_or_else(|| degraded(now, "quota_telemetry_unavailable"))
}

/// The status to evaluate: disabled, the previous reading while it is
/// fresh, else a new one.
pub fn status(config: &Config, previous: &QuotaStatus, now: i64) -> QuotaStatus {
    let q = &config.usage_governance.subscription_quota_rules;
    let mut s = if !q.enabled {
        QuotaStatus::default()
    } else if previous.enabled
        && previous
            .last_refreshed_at
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|t| now - t < q.refresh_interval_seconds as i64)
    {
        previous.clone()
    } else {
        read(&sessions_dir(), now)
    };
    s.provider = q.provider.clone();
    s.degraded_policy = Some(q.degraded_policy.clone());
    s
}

/// The quota rules reached by `status`.
pub fn blockers(config: &Config, status: &QuotaStatus) -> Vec<Blocker> {
    let q = &config.usage_governance.subscription_quota_rules;
    if !q.enabled {
        return vec![];
    }
    if status.state == "degraded" {
        if q.degraded_policy != "fail_closed" {
            return vec![];
        }
        return vec![Blocker {
            source: "subscription_quota".into(),
            rule_id: "subscription-quota-degraded-fail-closed".into(),
            window: "degraded".into(),
            observed: 100.0,
            threshold: 100.0,
            metric: None,
            auto_resume_possible: false,
            next_auto_resume_at: None,
            detail: status
                .detail
                .clone()
                .unwrap_or_else(|| "quota_telemetry_unavailable".into()),
        }];
    }
    q.rules
        .iter()
        .filter_map(|rule| {
            let reading = status.windows.get(&rule.window)?;
            let used = reading.get("percent_used")?.as_f64()?;
            if used < rule.pause_at_percent_used {
                return None;
            }
            let resets = reading
                .get("resets_at")
                .and_then(Value::as_str)
                .map(str::to_string);
            Some(Blocker {
                source: "subscription_quota".into(),
                rule_id: rule.rule_id.clone(),
                window: rule.window.clone(),
                observed: used,
                threshold: rule.pause_at_percent_used,
                metric: None,
                auto_resume_possible: resets.is_some(),
                next_auto_resume_at: resets,
                detail: String::new(),
            })
        })
        .collect()
}
