//! Usage governance: the token ledger, the rules over its windows, and the
//! governance state file, as the reference lays them out
//! (`state/usage_governance_ledger.jsonl`, one entry per stage result that
//! carries `token_usage`, keyed by the result's path so nothing is counted
//! twice; `state/usage_governance_state.json`, the last evaluation and its
//! active blockers). The engine decides when to evaluate and what a
//! blocker does (`engine/govern.rs`); `status` and `resume` read the state.
//!
//! Windows: `rolling_5h` (and, ours, any `rolling_<N>s|m|h`), the
//! `calendar_week` (UTC, from Monday 00:00), the `daemon_session` (entries
//! counted by this daemon's lock session), and `per_run` (every entry, as
//! the reference counts it). Rolling and weekly blockers resume by
//! themselves when the window allows; the others wait for a new session or
//! a config change. Subscription quota rules read Codex's rate-limit
//! telemetry (`runtime::subscription_quota`).

use crate::runners::TokenUsage;
use crate::workspace::config::{Config, TokenRule};
use crate::workspace::layout::Layout;
use crate::workspace::ConfigError;
use crate::workspace::{atomic, clock};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

/// The pause source governance adds to the snapshot.
pub const PAUSE_SOURCE: &str = "usage_governance";

/// A rule that is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocker {
    pub source: String,
    pub rule_id: String,
    pub window: String,
    pub observed: f64,
    pub threshold: f64,
    pub metric: Option<String>,
    pub auto_resume_possible: bool,
    pub next_auto_resume_at: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaStatus {
    pub enabled: bool,
    pub provider: String,
    pub state: String,
    pub degraded_policy: Option<String>,
    pub detail: Option<String>,
    pub last_refreshed_at: Option<String>,
    pub windows: BTreeMap<String, Value>,
}

impl Default for QuotaStatus {
    fn default() -> Self {
        QuotaStatus {
            enabled: false,
            provider: "codex_chatgpt_oauth".into(),
            state: "disabled".into(),
            degraded_policy: None,
            detail: None,
            last_refreshed_at: None,
            windows: BTreeMap::new(),
        }
    }
}

/// `state/usage_governance_state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GovernanceState {
    pub version: String,
    pub enabled: bool,
    pub auto_resume: bool,
    pub auto_resume_possible: bool,
    pub evaluation_boundary: String,
    pub calendar_timezone: String,
    pub daemon_session_id: Option<String>,
    pub last_evaluated_at: String,
    pub active_blockers: Vec<Blocker>,
    pub paused_by_governance: bool,
    pub next_auto_resume_at: Option<String>,
    pub subscription_quota_status: QuotaStatus,
}

impl Default for GovernanceState {
    fn default() -> Self {
        GovernanceState {
            version: "1.0".into(),
            enabled: false,
            auto_resume: true,
            auto_resume_possible: true,
            evaluation_boundary: "between_stages".into(),
            calendar_timezone: "UTC".into(),
            daemon_session_id: None,
            last_evaluated_at: clock::format_unix(0, 0),
            active_blockers: Vec::new(),
            paused_by_governance: false,
            next_auto_resume_at: None,
            subscription_quota_status: QuotaStatus::default(),
        }
    }
}

/// One counted stage result, a line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub dedupe_key: String,
    pub counted_at: String,
    pub stage_completed_at: String,
    pub plane: String,
    pub run_id: String,
    pub stage_id: String,
    pub work_item_kind: Option<String>,
    pub work_item_id: Option<String>,
    pub token_usage: TokenUsage,
    pub stage_result_path: String,
    pub daemon_session_id: Option<String>,
}

/// A rule's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Rolling(i64),
    CalendarWeek,
    DaemonSession,
    PerRun,
}

impl Window {
    /// `rolling_5h`, `rolling_<N>s|m|h`, `calendar_week`, `daemon_session`, `per_run`.
    pub fn parse(s: &str) -> Option<Window> {
        match s {
            "calendar_week" => return Some(Window::CalendarWeek),
            "daemon_session" => return Some(Window::DaemonSession),
            "per_run" => return Some(Window::PerRun),
            _ => {}
        }
        let spec = s.strip_prefix("rolling_")?;
        let (n, unit) = spec.split_at(spec.len().checked_sub(1)?);
        let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
        let secs = match unit {
            "s" => n,
            "m" => n.checked_mul(60)?,
            "h" => n.checked_mul(3600)?,
            _ => return None,
        };
        Some(Window::Rolling(secs))
    }
}

/// Check the `[usage_governance]` table: what this implementation cannot
/// act on is refused (nothing is parsed and ignored). The error is the
/// config diagnostic naming the key (`config::parse_config` returns it as is).
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    const G: &str = "usage_governance";
    const TOKENS: &str = "usage_governance.runtime_token_rules.rules";
    const QUOTA: &str = "usage_governance.subscription_quota_rules";
    let fail = |key: String, problem: String| Err(ConfigError::key(None, key, problem));
    let g = &config.usage_governance;
    if g.evaluation_boundary != "between_stages" {
        return fail(
            format!("{G}.evaluation_boundary"),
            format!(
                "`usage_governance.evaluation_boundary` is {:?}; only \"between_stages\" is supported",
                g.evaluation_boundary
            ),
        );
    }
    if g.calendar_timezone != "UTC" {
        return fail(
            format!("{G}.calendar_timezone"),
            format!(
                "`usage_governance.calendar_timezone` is {:?}; only \"UTC\" is supported",
                g.calendar_timezone
            ),
        );
    }
    let mut ids = HashSet::new();
    for rule in &g.runtime_token_rules.rules {
        if Window::parse(&rule.window).is_none() {
            return fail(
                format!("{TOKENS}.window"),
                format!(
                    "usage_governance rule {:?}: window {:?} is not one of rolling_5h (or rolling_<N>s|m|h), calendar_week, daemon_session, per_run",
                    rule.rule_id, rule.window
                ),
            );
        }
        if rule.metric != "total_tokens" {
            return fail(
                format!("{TOKENS}.metric"),
                format!(
                    "usage_governance rule {:?}: metric {:?} is not supported (total_tokens)",
                    rule.rule_id, rule.metric
                ),
            );
        }
        if rule.threshold == 0 {
            return fail(
                format!("{TOKENS}.threshold"),
                format!(
                    "usage_governance rule {:?}: threshold must be above 0",
                    rule.rule_id
                ),
            );
        }
        if !ids.insert(rule.rule_id.as_str()) {
            return fail(
                format!("{TOKENS}.rule_id"),
                format!("usage_governance rule {:?} is declared twice", rule.rule_id),
            );
        }
    }
    let q = &g.subscription_quota_rules;
    if q.provider != "codex_chatgpt_oauth" {
        return fail(
            format!("{QUOTA}.provider"),
            format!(
                "`usage_governance.subscription_quota_rules.provider` is {:?}; only \"codex_chatgpt_oauth\" is supported",
                q.provider
            ),
        );
    }
    if !matches!(q.degraded_policy.as_str(), "fail_open" | "fail_closed") {
        return fail(
            format!("{QUOTA}.degraded_policy"),
            format!(
                "`usage_governance.subscription_quota_rules.degraded_policy` is {:?}; allowed: fail_open, fail_closed",
                q.degraded_policy
            ),
        );
    }
    if q.refresh_interval_seconds == 0 {
        return fail(
            format!("{QUOTA}.refresh_interval_seconds"),
            "`usage_governance.subscription_quota_rules.refresh_interval_seconds` must be above 0"
                .into(),
        );
    }
    for rule in &q.rules {
        if !matches!(rule.window.as_str(), "five_hour" | "weekly") {
            return fail(
                format!("{QUOTA}.rules.window"),
                format!(
                    "subscription quota rule {:?}: window {:?} is not five_hour or weekly",
                    rule.rule_id, rule.window
                ),
            );
        }
        if !(rule.pause_at_percent_used > 0.0 && rule.pause_at_percent_used <= 100.0) {
            return fail(
                format!("{QUOTA}.rules.pause_at_percent_used"),
                format!(
                    "subscription quota rule {:?}: pause_at_percent_used must be above 0 and at most 100",
                    rule.rule_id
                ),
            );
        }
    }
    Ok(())
}

pub fn state_file(layout: &Layout) -> PathBuf {
    layout.state_dir().join("usage_governance_state.json")
}

pub fn ledger_file(layout: &Layout) -> PathBuf {
    layout.state_dir().join("usage_governance_ledger.jsonl")
}

/// The last evaluation, if governance ever ran in this workspace.
pub fn load_state(layout: &Layout) -> Option<GovernanceState> {
    let text = std::fs::read_to_string(state_file(layout)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn save_state(layout: &Layout, state: &GovernanceState) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(state).expect("state serializes");
    text.push('\n');
    atomic::write_atomic(&state_file(layout), text.as_bytes())
}

/// Every readable entry of the ledger (a torn last line is skipped).
pub fn load_ledger(layout: &Layout) -> Vec<LedgerEntry> {
    std::fs::read_to_string(ledger_file(layout))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Count the stage result at `rel` (relative to the workspace root) if it
/// carries token usage and is not counted yet. Appended and fsynced.
pub fn record(
    layout: &Layout,
    ledger: &mut Vec<LedgerEntry>,
    rel: &str,
    session: Option<&str>,
) -> std::io::Result<bool> {
    if ledger.iter().any(|e| e.dedupe_key == rel) {
        return Ok(false);
    }
    let Ok(text) = std::fs::read_to_string(layout.root.join(rel)) else {
        return Ok(false);
    };
    let Ok(result) = serde_json::from_str::<Value>(&text) else {
        return Ok(false);
    };
    let Some(usage) = result
        .get("token_usage")
        .and_then(|u| serde_json::from_value::<TokenUsage>(u.clone()).ok())
    else {
        return Ok(false);
    };
    let s = |k: &str| result.get(k).and_then(Value::as_str).map(str::to_string);
    let entry = LedgerEntry {
        dedupe_key: rel.to_string(),
        counted_at: clock::now_rfc3339(),
        stage_completed_at: s("completed_at").unwrap_or_else(clock::now_rfc3339),
        plane: s("plane").unwrap_or_default(),
        run_id: s("run_id").unwrap_or_default(),
        stage_id: s("stage_kind_id").or(s("stage")).unwrap_or_default(),
        work_item_kind: s("work_item_kind"),
        work_item_id: s("work_item_id"),
        token_usage: usage,
        stage_result_path: rel.to_string(),
        daemon_session_id: session.map(str::to_string),
    };
    let file = ledger_file(layout);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)?;
    let mut line = serde_json::to_string(&entry).expect("entry serializes");
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    ledger.push(entry);
    Ok(true)
}

/// Count every stage result under `runs/` that is not in the ledger yet
/// (a crash between writing a result and counting it). Returns how many.
pub fn reconcile(layout: &Layout, ledger: &mut Vec<LedgerEntry>, session: Option<&str>) -> usize {
    let mut paths = Vec::new();
    if let Ok(runs) = std::fs::read_dir(layout.runtime.join("runs")) {
        for run in runs.flatten() {
            if let Ok(results) = std::fs::read_dir(run.path().join("stage_results")) {
                for r in results.flatten() {
                    let name = r.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".json") {
                        paths.push(format!(
                            "millrace-agents/runs/{}/stage_results/{name}",
                            run.file_name().to_string_lossy()
                        ));
                    }
                }
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .filter(|rel| record(layout, ledger, rel, session).unwrap_or(false))
        .count()
}

/// Seconds since the epoch of an RFC 3339 timestamp (`Z` or `±HH:MM`).
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

fn stamp(secs: i64) -> String {
    clock::format_unix(secs, 0)
}

/// Monday 00:00 UTC of the week holding `now`.
fn week_start(now: i64) -> i64 {
    let days = now.div_euclid(86_400);
    // 1970-01-01 was a Thursday: Monday-based weekday is (days + 3) % 7.
    (days - (days + 3).rem_euclid(7)) * 86_400
}

fn rule_blocker(
    rule: &TokenRule,
    ledger: &[LedgerEntry],
    now: i64,
    session: Option<&str>,
) -> Option<Blocker> {
    let window = Window::parse(&rule.window)?;
    let completed = |e: &LedgerEntry| parse_time(&e.stage_completed_at).unwrap_or(now);
    let entries: Vec<&LedgerEntry> = ledger
        .iter()
        .filter(|e| match window {
            Window::Rolling(secs) => completed(e) >= now - secs,
            Window::CalendarWeek => completed(e) >= week_start(now),
            Window::DaemonSession => session.is_some() && e.daemon_session_id.as_deref() == session,
            Window::PerRun => true,
        })
        .collect();
    let observed: u64 = entries.iter().map(|e| e.token_usage.total_tokens).sum();
    if observed < rule.threshold {
        return None;
    }
    let next = match window {
        Window::Rolling(secs) => {
            // The earliest moment enough old entries have left the window.
            let mut sorted = entries.clone();
            sorted.sort_by_key(|e| completed(e));
            let mut remaining = observed;
            sorted.iter().find_map(|e| {
                remaining -= e.token_usage.total_tokens;
                (remaining < rule.threshold).then(|| stamp(completed(e) + secs))
            })
        }
        Window::CalendarWeek => Some(stamp(week_start(now) + 7 * 86_400)),
        Window::DaemonSession | Window::PerRun => None,
    };
    Some(Blocker {
        source: "runtime_token".into(),
        rule_id: rule.rule_id.clone(),
        window: rule.window.clone(),
        observed: observed as f64,
        threshold: rule.threshold as f64,
        metric: Some(rule.metric.clone()),
        auto_resume_possible: matches!(window, Window::Rolling(_) | Window::CalendarWeek),
        next_auto_resume_at: next,
        detail: String::new(),
    })
}

/// Evaluate the rules over the ledger at `now` (seconds since the epoch).
pub fn evaluate(
    config: &Config,
    ledger: &[LedgerEntry],
    quota: &QuotaStatus,
    now: i64,
    session: Option<&str>,
    paused_by_governance: bool,
) -> GovernanceState {
    let g = &config.usage_governance;
    let mut state = GovernanceState {
        enabled: g.enabled,
        auto_resume: g.auto_resume,
        evaluation_boundary: g.evaluation_boundary.clone(),
        calendar_timezone: g.calendar_timezone.clone(),
        daemon_session_id: session.map(str::to_string),
        last_evaluated_at: stamp(now),
        ..Default::default()
    };
    state.subscription_quota_status = quota.clone();
    if !g.enabled {
        return state;
    }
    if g.runtime_token_rules.enabled {
        state.active_blockers = g
            .runtime_token_rules
            .rules
            .iter()
            .filter_map(|r| rule_blocker(r, ledger, now, session))
            .collect();
    }
    state
        .active_blockers
        .extend(super::subscription_quota::blockers(config, quota));
    let b = &state.active_blockers;
    state.auto_resume_possible = b.iter().all(|b| b.auto_resume_possible);
    state.next_auto_resume_at = if b.is_empty() || !state.auto_resume_possible {
        None
    } else if b.iter().all(|b| b.next_auto_resume_at.is_some()) {
        b.iter()
            .filter_map(|b| b.next_auto_resume_at.clone())
            .min_by_key(|t| parse_time(t))
    } else {
        None
    };
    state.paused_by_governance = paused_by_governance || !b.is_empty();
    state
}

/// The blocker's `status` line.
pub fn blocker_line(b: &Blocker) -> String {
    format!(
        "source={} rule={} window={} observed={} threshold={}",
        b.source,
        b.rule_id,
        b.window,
        number(b.observed),
        number(b.threshold)
    )
}

/// A number as `%g` would print it for the values governance uses.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        assert_eq!(Window::parse("rolling_5h"), Some(Window::Rolling(18_000)));
        assert_eq!(Window::parse("rolling_2s"), Some(Window::Rolling(2)));
        assert_eq!(Window::parse("rolling_0s"), None);
        assert_eq!(Window::parse("rolling_h"), None);
        assert_eq!(Window::parse("weekly"), None);
        assert_eq!(Window::parse("daemon_session"), Some(Window::DaemonSession));
    }

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-12-01T05:17:26.111028Z").unwrap();
        assert_eq!(stamp(t), "2026-12-01T05:17:26.000000Z");
        assert_eq!(parse_time("2026-12-01T07:17:26+02:00"), Some(t));
        // 2026-11-30 is a Monday.
        assert_eq!(stamp(week_start(t)), "2026-11-30T00:00:00.000000Z");
    }

    fn entry(at: &str, total: u64) -> LedgerEntry {
        LedgerEntry {
            dedupe_key: at.into(),
            counted_at: at.into(),
            stage_completed_at: at.into(),
            plane: "execution".into(),
            run_id: "r".into(),
            stage_id: "builder".into(),
            work_item_kind: None,
            work_item_id: None,
            token_usage: TokenUsage {
                input_tokens: total,
                cached_input_tokens: 0,
                output_tokens: 0,
                thinking_tokens: 0,
                total_tokens: total,
            },
            stage_result_path: at.into(),
            daemon_session_id: Some("s".into()),
        }
    }

    #[test]
    fn a_rolling_rule_blocks_and_says_when_it_resumes() {
        let mut config = Config::default();
        config.usage_governance.enabled = true;
        config.usage_governance.runtime_token_rules.rules = vec![TokenRule {
            rule_id: "r".into(),
            window: "rolling_10s".into(),
            metric: "total_tokens".into(),
            threshold: 1000,
        }];
        let ledger = [
            entry("2026-12-01T00:00:00Z", 600),
            entry("2026-12-01T00:00:05Z", 600),
        ];
        let now = parse_time("2026-12-01T00:00:06Z").unwrap();
        let q = QuotaStatus::default();
        let s = evaluate(&config, &ledger, &q, now, Some("s"), false);
        assert_eq!(s.active_blockers.len(), 1);
        assert_eq!(
            s.next_auto_resume_at.as_deref(),
            Some("2026-12-01T00:00:10.000000Z")
        );
        let later = parse_time("2026-12-01T00:00:11Z").unwrap();
        assert!(evaluate(&config, &ledger, &q, later, Some("s"), false)
            .active_blockers
            .is_empty());
    }
}
