//! The router: from a node's accepted outcome to where the work item goes
//! next, reading only the compiled graph. Thresholds are consulted first (a
//! counted outcome past its threshold takes the exhausted target), then the
//! resume policy (a stage named in the result's metadata, within the
//! policy's limits), then the transition itself. Every decision carries the
//! `.mill` location of the rule that made it.

use super::counters::Counters;
use crate::plan::ir::{CompiledGraph, SourceLoc, TransitionTarget};

/// Metadata a stage may return to choose where work resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeHints {
    pub resume_stage: Option<String>,
    pub target_stage: Option<String>,
}

impl ResumeHints {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "resume_stage" => self.resume_stage.as_deref(),
            "target_stage" => self.target_stage.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Route,
    Resume,
    ThresholdExhausted,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Route => "route",
            Via::Resume => "resume",
            Via::ThresholdExhausted => "threshold_exhausted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub next: TransitionTarget,
    /// The reference's reason vocabulary (`builder:BUILDER_COMPLETE`,
    /// `builder_blocked`, `fix_needed`, `troubleshoot_complete`, ...).
    pub reason: String,
    pub via: Via,
    /// The counter this decision incremented, with its new value.
    pub counted: Option<(String, u32)>,
    /// The rule that decided (transition, resume policy or threshold).
    pub source: SourceLoc,
}

/// `updater` + `UPDATE_COMPLETE` → `updater_complete`; `consultant` +
/// `NEEDS_PLANNING` → `consultant_needs_planning`.
fn terminal_reason(node: &str, outcome: &str) -> String {
    let lower = outcome.to_ascii_lowercase();
    if lower.ends_with("_complete") {
        format!("{node}_complete")
    } else {
        format!("{node}_{lower}")
    }
}

fn normal_reason(node: &str, outcome: &str, success: bool) -> String {
    if outcome == "BLOCKED" {
        format!("{node}_blocked")
    } else if success {
        format!("{node}:{outcome}")
    } else {
        outcome.to_ascii_lowercase()
    }
}

/// Decide where `outcome` of `node` leads. `item` is (kind, id) for counters.
pub fn route(
    graph: &CompiledGraph,
    node: &str,
    outcome: &str,
    hints: &ResumeHints,
    counters: &mut Counters,
    item: (&str, &str),
) -> Result<Decision, super::Error> {
    let n = graph
        .node(node)
        .ok_or_else(|| super::Error::NodeNotInLoop {
            node: node.to_string(),
            loop_id: graph.loop_id.clone(),
        })?;
    let t = graph
        .transition(node, outcome)
        .ok_or_else(|| super::Error::NoRoute {
            loop_id: graph.loop_id.clone(),
            node: node.to_string(),
            outcome: outcome.to_string(),
        })?;
    let success = n.success_outcomes.iter().any(|o| o == outcome);
    let mut counted = None;
    if let Some(th) = graph
        .threshold_policies
        .iter()
        .find(|th| th.on_outcome == outcome && th.source_node_ids.iter().any(|s| s == node))
    {
        let current = counters.get(item.0, item.1, &th.counter_name);
        if current >= th.threshold {
            let reason = match (&th.exhausted_target, outcome) {
                (_, "FIX_NEEDED") => "fix_cycle_exhausted".to_string(),
                (TransitionTarget::Node(_), "BLOCKED") => format!("{node}_blocked"),
                (TransitionTarget::Terminal(_), "BLOCKED") => {
                    format!("{node}_blocked:{}_exhausted", th.counter_name)
                }
                _ => format!("{}_exhausted", th.counter_name),
            };
            return Ok(Decision {
                next: th.exhausted_target.clone(),
                reason,
                via: Via::ThresholdExhausted,
                counted: None,
                source: th.source.clone(),
            });
        }
        let v = counters.increment(item.0, item.1, &th.counter_name);
        counted = Some((th.counter_name.clone(), v));
    }
    if let Some(policy) = graph
        .resume_policies
        .iter()
        .find(|r| r.source_node_id == node && r.on_outcome == outcome)
    {
        let chosen = policy.metadata_stage_keys.iter().find_map(|k| {
            hints.get(k).filter(|v| {
                graph.node(v).is_some() && !policy.disallowed_target_node_ids.iter().any(|d| d == v)
            })
        });
        let target = chosen.unwrap_or(&policy.default_target_node_id).to_string();
        let reason = if outcome == "CONSULT_COMPLETE" {
            "consultant_local_recovery".to_string()
        } else {
            outcome.to_ascii_lowercase()
        };
        return Ok(Decision {
            next: TransitionTarget::Node(target),
            reason,
            via: if chosen.is_some() {
                Via::Resume
            } else {
                Via::Route
            },
            counted,
            source: if chosen.is_some() {
                policy.source.clone()
            } else {
                t.source.clone()
            },
        });
    }
    let reason = match &t.target {
        TransitionTarget::Terminal(_) => terminal_reason(node, outcome),
        TransitionTarget::Node(_) => normal_reason(node, outcome, success),
    };
    Ok(Decision {
        next: t.target.clone(),
        reason,
        via: Via::Route,
        counted,
        source: t.source.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::compile::{compile, AssetRoot};

    fn execution() -> CompiledGraph {
        let out = compile(&AssetRoot::Embedded, Some("default_codex"));
        out.plan.unwrap().graphs_by_plane["execution"].clone()
    }

    fn step(g: &CompiledGraph, c: &mut Counters, node: &str, outcome: &str) -> Decision {
        route(
            g,
            node,
            outcome,
            &ResumeHints::default(),
            c,
            ("task", "t-1"),
        )
        .unwrap()
    }

    #[test]
    fn escalation_trace_reaches_the_consultant_after_two_troubleshooter_blocks() {
        let g = execution();
        let mut c = Counters::default();
        let d = step(&g, &mut c, "builder", "BLOCKED");
        assert_eq!(
            (d.next.to_string(), d.reason.as_str()),
            ("troubleshooter".into(), "builder_blocked")
        );
        let d = step(&g, &mut c, "troubleshooter", "BLOCKED");
        assert_eq!(d.next.to_string(), "troubleshooter");
        let d = step(&g, &mut c, "troubleshooter", "BLOCKED");
        assert_eq!(
            (d.next.to_string(), d.via),
            ("consultant".into(), Via::ThresholdExhausted)
        );
        let d = step(&g, &mut c, "consultant", "NEEDS_PLANNING");
        assert_eq!(
            (d.next.to_string(), d.reason.as_str()),
            (
                "terminal:needs_planning".into(),
                "consultant_needs_planning"
            )
        );
    }

    #[test]
    fn a_checker_that_always_asks_for_fixes_escalates() {
        let g = execution();
        let mut c = Counters::default();
        let mut node = "builder".to_string();
        let mut runs = 0;
        let answer = |n: &str| match n {
            "builder" => "BUILDER_COMPLETE",
            "checker" | "doublechecker" => "FIX_NEEDED",
            "fixer" => "FIXER_COMPLETE",
            "troubleshooter" => "TROUBLESHOOT_COMPLETE",
            "consultant" => "CONSULT_COMPLETE",
            _ => "BLOCKED",
        };
        loop {
            runs += 1;
            assert!(
                runs <= g.stage_run_bound.max_stage_runs,
                "exceeded the bound"
            );
            let d = step(&g, &mut c, &node, answer(&node));
            match d.next {
                TransitionTarget::Node(n) => node = n,
                TransitionTarget::Terminal(t) => {
                    assert_eq!(t, "needs_planning");
                    break;
                }
            }
        }
    }

    #[test]
    fn resume_metadata_is_honoured_within_limits() {
        let g = execution();
        let mut c = Counters::default();
        let hints = ResumeHints {
            resume_stage: Some("checker".into()),
            target_stage: None,
        };
        let d = route(
            &g,
            "troubleshooter",
            "TROUBLESHOOT_COMPLETE",
            &hints,
            &mut c,
            ("task", "t"),
        )
        .unwrap();
        assert_eq!((d.next.to_string(), d.via), ("checker".into(), Via::Resume));
        let hints = ResumeHints {
            resume_stage: Some("consultant".into()),
            target_stage: None,
        };
        let d = route(
            &g,
            "troubleshooter",
            "TROUBLESHOOT_COMPLETE",
            &hints,
            &mut c,
            ("task", "t"),
        )
        .unwrap();
        assert_eq!(d.next.to_string(), "builder");
    }
}
