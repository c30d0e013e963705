//! Govern: usage governance at stage boundaries. After each applied stage
//! its token usage is counted in the ledger and the rules evaluated; a
//! reached rule adds the `usage_governance` pause source (the daemon stops
//! claiming work, a stage in flight still finishes), and while that source
//! is set every tick re-evaluates, lifting it by itself when the window
//! allows and `auto_resume` is on. An operator's `resume` never lifts it.
//! The rules, ledger and state file are `runtime::governance`'s.

use super::Engine;
use crate::runtime::governance::{self, GovernanceState, PAUSE_SOURCE};
use crate::runtime::Error;
use crate::workspace::events;
use serde_json::json;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Engine {
    fn governance_paused(&self) -> bool {
        self.snapshot
            .pause_sources
            .iter()
            .any(|v| v == PAUSE_SOURCE)
    }

    /// Whether governance has anything to do: enabled, or a state or pause
    /// of its own to clear.
    fn governs(&self) -> bool {
        self.config.usage_governance.enabled
            || self.governance_paused()
            || governance::state_file(&self.layout).is_file()
    }

    /// At startup: count stage results a crash left uncounted, evaluate.
    pub(super) fn govern_boot(&mut self) -> Result<(), Error> {
        if !self.governs() {
            return Ok(());
        }
        let session = self.session.clone();
        if self.config.usage_governance.enabled {
            governance::reconcile(&self.layout, &mut self.ledger, Some(&session));
        }
        self.govern()
    }

    /// After a stage was applied: count its result, evaluate.
    pub(super) fn govern_after_stage(&mut self) -> Result<(), Error> {
        if !self.governs() {
            return Ok(());
        }
        if self.config.usage_governance.enabled
            && self.config.usage_governance.runtime_token_rules.enabled
        {
            if let Some(rel) = self.snapshot.last_stage_result_path.clone() {
                let session = self.session.clone();
                let r = governance::record(&self.layout, &mut self.ledger, &rel, Some(&session));
                self.io("state/usage_governance_ledger.jsonl", r)?;
            }
        }
        self.govern()
    }

    /// While paused by governance: evaluate again (auto-resume).
    pub(super) fn govern_tick(&mut self) -> Result<(), Error> {
        if self.governance_paused() {
            self.govern()?;
        }
        Ok(())
    }

    /// Evaluate the rules and apply the outcome to the pause sources.
    fn govern(&mut self) -> Result<(), Error> {
        let g = self.config.usage_governance.clone();
        let had = self.governance_paused();
        let previous = governance::load_state(&self.layout).unwrap_or_default();
        let now = now_secs();
        let quota = crate::runtime::subscription_quota::status(
            &self.config,
            &previous.subscription_quota_status,
            now,
        );
        let mut state = governance::evaluate(
            &self.config,
            &self.ledger,
            &quota,
            now,
            Some(&self.session),
            had,
        );
        let add = g.enabled && !state.active_blockers.is_empty();
        let remove = had && (!g.enabled || (state.active_blockers.is_empty() && g.auto_resume));
        if add && !had {
            self.snapshot.pause_sources.push(json!(PAUSE_SOURCE));
            self.snapshot.paused = true;
        } else if remove {
            self.snapshot.pause_sources.retain(|v| v != PAUSE_SOURCE);
            self.snapshot.paused = !self.snapshot.pause_sources.is_empty();
        }
        let now_paused = self.governance_paused();
        state.paused_by_governance = now_paused;
        let r = governance::save_state(&self.layout, &state);
        self.io("state/usage_governance_state.json", r)?;
        if now_paused != had {
            self.save_snapshot()?;
        }
        self.governance_lines(&state, &previous, had, now_paused);
        Ok(())
    }

    fn governance_lines(
        &mut self,
        state: &GovernanceState,
        previous: &GovernanceState,
        had: bool,
        now: bool,
    ) {
        let q = &state.subscription_quota_status;
        if q.state == "degraded" && previous.subscription_quota_status.state != "degraded" {
            self.monitor.line(&format!(
                "governance degraded source={} policy={} detail={}",
                q.provider,
                q.degraded_policy.as_deref().unwrap_or("none"),
                q.detail.as_deref().unwrap_or("none")
            ));
        }
        if !had && now {
            for b in &state.active_blockers {
                tracing::info!(rule = %b.rule_id, window = %b.window, "governance pause");
                let _ = events::record(
                    &self.layout,
                    "usage_governance_blocked",
                    serde_json::to_value(b).unwrap_or_default(),
                );
                self.monitor.line(&format!(
                    "governance pause source={} rule={} window={} observed={} threshold={} next_resume={}",
                    b.source,
                    b.rule_id,
                    b.window,
                    governance::number(b.observed),
                    governance::number(b.threshold),
                    b.next_auto_resume_at.as_deref().unwrap_or("none")
                ));
            }
        } else if had && !now {
            let cleared: Vec<&str> = previous
                .active_blockers
                .iter()
                .map(|b| b.rule_id.as_str())
                .collect();
            tracing::info!(cleared_rules = ?cleared, "governance resume");
            let _ = events::record(
                &self.layout,
                "usage_governance_resumed",
                json!({"cleared_rules": cleared}),
            );
            self.monitor.line(&format!(
                "governance resume cleared_rules={}",
                cleared.join(",")
            ));
        }
    }
}
