//! The loop simulator behind `millrace test`: a compiled graph run in
//! memory, with no workspace and no processes. Each transition goes through
//! the runtime's own code: the result surface check (`surface::check`, as
//! `engine/apply.rs` judges a result) and the router (`router::route` with
//! `Counters`), so a scenario exercises exactly what the daemon would decide.
//!
//! Two drivers: [`run`] follows scripted outcomes (the outcomes each stage
//! returns, in order), and [`explore`] enumerates every outcome sequence
//! (every legal outcome of every node, and every resume target a result's
//! metadata could name) over the states the counters can reach, memoized by
//! state, reporting the terminals reached, the refusals, cycles and the
//! longest sequence (the loop's worst case).

use super::counters::Counters;
use super::router::{self, Decision, ResumeHints};
use super::surface;
use crate::plan::ir::{CompiledGraph, TransitionTarget};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The work item every simulation routes for (counters are per item).
pub const ITEM: (&str, &str) = ("simulated", "scenario");

/// The entry key of a loop's completion target (the arbiter's closure run).
pub const CLOSURE_ENTRY: &str = "closure_target";

/// What a simulation could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// The loop has no entry for this work item kind.
    UnknownEntry { loop_id: String, entry: String },
    /// An outcome in a script is not written `OUTCOME [key=value ...]`.
    BadOutcome { text: String, reason: String },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::UnknownEntry { loop_id, entry } => {
                write!(f, "loop {loop_id} has no entry for {entry}")
            }
            SimError::BadOutcome { text, reason } => write!(f, "outcome {text:?}: {reason}"),
        }
    }
}

impl std::error::Error for SimError {}

/// One scripted stage result: an outcome, optionally its result class and
/// the metadata a resume policy reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scripted {
    pub outcome: String,
    pub result_class: Option<String>,
    pub hints: ResumeHints,
}

impl Scripted {
    /// `OUTCOME`, then optional `class=C`, `resume_stage=N`, `target_stage=N`.
    pub fn parse(text: &str) -> Result<Scripted, SimError> {
        let bad = |reason: &str| SimError::BadOutcome {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let mut words = text.split_whitespace();
        let outcome = words.next().ok_or_else(|| bad("empty"))?;
        if !outcome.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            return Err(bad(
                "an outcome is written in capitals, like BUILDER_COMPLETE",
            ));
        }
        let mut s = Scripted {
            outcome: outcome.to_string(),
            ..Scripted::default()
        };
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| bad("after the outcome, only key=value words"))?;
            match k {
                "class" => s.result_class = Some(v.to_string()),
                "resume_stage" => s.hints.resume_stage = Some(v.to_string()),
                "target_stage" => s.hints.target_stage = Some(v.to_string()),
                _ => return Err(bad("keys are class, resume_stage and target_stage")),
            }
        }
        Ok(s)
    }
}

impl fmt::Display for Scripted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.outcome)?;
        if let Some(c) = &self.result_class {
            write!(f, " class={c}")?;
        }
        if let Some(r) = &self.hints.resume_stage {
            write!(f, " resume_stage={r}")?;
        }
        if let Some(t) = &self.hints.target_stage {
            write!(f, " target_stage={t}")?;
        }
        Ok(())
    }
}

/// One simulated transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub node: String,
    /// What the stage returned.
    pub returned: Scripted,
    /// The outcome the runtime routed (`BLOCKED` when the result was refused).
    pub outcome: String,
    /// Why the result surface was refused (`illegal_terminal_result`).
    pub refused: Option<String>,
    pub decision: Decision,
}

/// How a simulated run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A terminal state of the loop.
    Terminal(String),
    /// A stage ran more often than the script gave it outcomes.
    OutOfScript { node: String, runs: usize },
    /// The runtime would refuse to go on (no route, inconsistent plan).
    Refused(String),
    /// More stage runs than the compiled bound allows.
    OverBound { bound: u64 },
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Terminal(t) => write!(f, "terminal {t}"),
            End::OutOfScript { node, runs } => write!(
                f,
                "{node} ran a {} time but the scenario gives it {runs} outcome{}",
                ordinal(runs + 1),
                if *runs == 1 { "" } else { "s" }
            ),
            End::Refused(why) => write!(f, "refused by the runtime: {why}"),
            End::OverBound { bound } => {
                write!(f, "exceeded the loop's bound of {bound} stage runs")
            }
        }
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A scripted run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub steps: Vec<Step>,
    pub end: End,
    /// The item's counters when the run ended.
    pub counters: BTreeMap<String, u32>,
}

impl Run {
    /// The nodes that ran, in order.
    pub fn path(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.node.clone()).collect()
    }
}

/// The node a work item of kind `entry` starts at (`closure_target`: the
/// completion behaviour's target).
pub fn start_node<'g>(graph: &'g CompiledGraph, entry: &str) -> Result<&'g str, SimError> {
    let found = if entry == CLOSURE_ENTRY {
        graph
            .completion_behavior
            .as_ref()
            .map(|c| c.target_node_id.as_str())
    } else {
        graph
            .entries
            .iter()
            .find(|e| e.entry_key == entry)
            .map(|e| e.node_id.as_str())
    };
    found.ok_or_else(|| SimError::UnknownEntry {
        loop_id: graph.loop_id.clone(),
        entry: entry.to_string(),
    })
}

/// Every entry key of a graph, the closure target last.
pub fn entries(graph: &CompiledGraph) -> Vec<String> {
    let mut out: Vec<String> = graph.entries.iter().map(|e| e.entry_key.clone()).collect();
    if graph.completion_behavior.is_some() {
        out.push(CLOSURE_ENTRY.to_string());
    }
    out
}

/// One transition: judge the result surface as the engine does (an illegal
/// result becomes `BLOCKED`), then route it with the runtime's router.
pub fn step(
    graph: &CompiledGraph,
    counters: &mut Counters,
    node: &str,
    returned: &Scripted,
) -> Result<Step, super::Error> {
    let n = graph
        .node(node)
        .ok_or_else(|| super::Error::NodeNotInLoop {
            node: node.to_string(),
            loop_id: graph.loop_id.clone(),
        })?;
    let class = returned
        .result_class
        .clone()
        .or_else(|| surface::default_class(n, &returned.outcome))
        .unwrap_or_default();
    let (outcome, refused, hints) = match surface::check(n, &returned.outcome, &class) {
        Ok(()) => (returned.outcome.clone(), None, returned.hints.clone()),
        Err(note) => (
            "BLOCKED".to_string(),
            Some(note.to_string()),
            ResumeHints::default(),
        ),
    };
    let decision = router::route(graph, node, &outcome, &hints, counters, ITEM)?;
    Ok(Step {
        node: node.to_string(),
        returned: returned.clone(),
        outcome,
        refused,
        decision,
    })
}

/// Run a work item of kind `entry` through `graph`, each stage returning
/// its scripted outcomes in order.
pub fn run(
    graph: &CompiledGraph,
    entry: &str,
    script: &BTreeMap<String, Vec<Scripted>>,
) -> Result<Run, SimError> {
    let mut node = start_node(graph, entry)?.to_string();
    let bound = graph
        .stage_run_bound
        .per_entry
        .get(entry)
        .copied()
        .unwrap_or(graph.stage_run_bound.max_stage_runs);
    let mut counters = Counters::default();
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut steps = Vec::new();
    let end = loop {
        if steps.len() as u64 >= bound {
            break End::OverBound { bound };
        }
        let runs = used.entry(node.clone()).or_insert(0);
        let Some(returned) = script.get(&node).and_then(|v| v.get(*runs)) else {
            break End::OutOfScript { node, runs: *runs };
        };
        *runs += 1;
        match step(graph, &mut counters, &node, returned) {
            Err(e) => break End::Refused(e.to_string()),
            Ok(s) => {
                let next = s.decision.next.clone();
                steps.push(s);
                match next {
                    TransitionTarget::Node(n) => node = n,
                    TransitionTarget::Terminal(t) => break End::Terminal(t),
                }
            }
        }
    };
    Ok(Run {
        steps,
        end,
        counters: counters.of_item(ITEM.0, ITEM.1),
    })
}

/// Every result a node could return: each legal outcome, and for an outcome
/// a resume policy reads, each node its metadata could name.
pub fn choices(graph: &CompiledGraph, node: &str) -> Vec<Scripted> {
    let Some(n) = graph.node(node) else {
        return vec![];
    };
    let mut out = Vec::new();
    for outcome in &n.legal_outcomes {
        out.push(Scripted {
            outcome: outcome.clone(),
            ..Scripted::default()
        });
        let Some(policy) = graph
            .resume_policies
            .iter()
            .find(|r| r.source_node_id == node && &r.on_outcome == outcome)
        else {
            continue;
        };
        let Some(key) = policy.metadata_stage_keys.first() else {
            continue;
        };
        for target in &graph.nodes {
            let t = &target.node_id;
            if *t == policy.default_target_node_id || policy.disallowed_target_node_ids.contains(t)
            {
                continue;
            }
            let mut hints = ResumeHints::default();
            match key.as_str() {
                "resume_stage" => hints.resume_stage = Some(t.clone()),
                "target_stage" => hints.target_stage = Some(t.clone()),
                _ => continue,
            }
            out.push(Scripted {
                outcome: outcome.clone(),
                result_class: None,
                hints,
            });
        }
    }
    out
}

/// A simulation state: the node about to run and the item's counters.
type State = (String, Vec<(String, u32)>);

#[derive(Debug, Clone)]
enum Child {
    State(usize),
    End(String),
}

#[derive(Debug, Default)]
struct Summary {
    choices: Vec<(Scripted, Child)>,
    /// Stage runs of the longest sequence from here, and the choice it takes.
    longest: u64,
    longest_choice: usize,
    /// Outcome sequences from here (saturating).
    sequences: u128,
    /// Each end reachable from here, with a choice that leads to it.
    ends: BTreeMap<String, usize>,
}

/// A sequence of (node, returned result) pairs.
pub type Sequence = Vec<(String, Scripted)>;

/// What an exhaustive exploration of one entry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exploration {
    pub loop_id: String,
    pub entry: String,
    /// The compiled bound for this entry.
    pub bound: u64,
    /// Distinct (node, counters) states reached.
    pub states: usize,
    /// Router calls made.
    pub transitions: u64,
    /// Distinct outcome sequences (saturating at u128::MAX).
    pub sequences: u128,
    /// The longest sequence and where it ends.
    pub worst_case: Sequence,
    pub worst_end: String,
    /// Every end reached (`terminal:ID`, `refused: ...`, `cycle: ...`)
    /// with one sequence that reaches it.
    pub ends: BTreeMap<String, Sequence>,
}

impl Exploration {
    /// Terminals reached, by id.
    pub fn terminals(&self) -> Vec<&str> {
        self.ends
            .keys()
            .filter_map(|k| k.strip_prefix("terminal:"))
            .collect()
    }

    /// Ends the runtime would refuse: router refusals, cycles, and a
    /// longest sequence past the compiled bound.
    pub fn refusals(&self) -> Vec<(String, Sequence)> {
        let mut out: Vec<(String, Sequence)> = self
            .ends
            .iter()
            .filter(|(k, _)| !k.starts_with("terminal:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if self.worst_case.len() as u64 > self.bound {
            out.push((
                format!(
                    "over bound: {} stage runs where the compiled bound is {}",
                    self.worst_case.len(),
                    self.bound
                ),
                self.worst_case.clone(),
            ));
        }
        out
    }
}

struct Explorer<'g> {
    graph: &'g CompiledGraph,
    index: HashMap<State, usize>,
    states: Vec<Option<Summary>>,
    keys: Vec<State>,
    /// The counters of each state, as the router reads them.
    counters: Vec<Counters>,
    /// Each node's possible results, computed once.
    choices: HashMap<String, Vec<Scripted>>,
    transitions: u64,
}

impl Explorer<'_> {
    fn intern(&mut self, s: State, counters: Counters) -> (usize, bool) {
        if let Some(&i) = self.index.get(&s) {
            return (i, false);
        }
        let i = self.keys.len();
        self.index.insert(s.clone(), i);
        self.keys.push(s);
        self.counters.push(counters);
        self.states.push(None);
        (i, true)
    }

    /// Depth-first over states with an explicit stack (no recursion on
    /// loop size); a state is summarized once all its children are.
    fn explore(&mut self, root: usize) {
        enum Frame {
            Enter(usize),
            Leave(usize),
        }
        let mut on_stack: Vec<bool> = Vec::new();
        let mut stack = vec![Frame::Enter(root)];
        while let Some(frame) = stack.pop() {
            match frame {
                Frame::Enter(i) => {
                    if self.states[i].is_some() {
                        continue;
                    }
                    on_stack.resize(self.keys.len().max(on_stack.len()), false);
                    on_stack[i] = true;
                    let node = self.keys[i].0.clone();
                    let results = match self.choices.get(&node) {
                        Some(r) => r.clone(),
                        None => {
                            let r = choices(self.graph, &node);
                            self.choices.insert(node.clone(), r.clone());
                            r
                        }
                    };
                    let mut children = Vec::new();
                    let mut pending = Vec::new();
                    for returned in results {
                        let mut c = self.counters[i].clone();
                        self.transitions += 1;
                        let child = match step(self.graph, &mut c, &node, &returned) {
                            Err(e) => Child::End(format!("refused: {e}")),
                            Ok(s) => match s.decision.next {
                                TransitionTarget::Terminal(t) => {
                                    Child::End(format!("terminal:{t}"))
                                }
                                TransitionTarget::Node(n) => {
                                    let key = (n, c.of_item(ITEM.0, ITEM.1).into_iter().collect());
                                    let (j, _) = self.intern(key, c);
                                    on_stack.resize(self.keys.len(), false);
                                    if on_stack[j] {
                                        Child::End(format!(
                                            "cycle: back to {} with the same counters",
                                            self.keys[j].0
                                        ))
                                    } else {
                                        if self.states[j].is_none() {
                                            pending.push(j);
                                        }
                                        Child::State(j)
                                    }
                                }
                            },
                        };
                        children.push((returned, child));
                    }
                    // In progress (longest = MAX) until its children are done.
                    self.states[i] = Some(Summary {
                        choices: children,
                        longest: u64::MAX,
                        ..Summary::default()
                    });
                    stack.push(Frame::Leave(i));
                    for j in pending {
                        stack.push(Frame::Enter(j));
                    }
                    on_stack[i] = true;
                }
                Frame::Leave(i) => {
                    on_stack[i] = false;
                    let summary = self.states[i].take().unwrap_or_default();
                    let mut s = Summary {
                        choices: summary.choices,
                        ..Summary::default()
                    };
                    for (k, (_, child)) in s.choices.iter().enumerate() {
                        let (len, seqs, ends): (u64, u128, Vec<String>) = match child {
                            Child::End(e) => (1, 1, vec![e.clone()]),
                            Child::State(j) => match &self.states[*j] {
                                Some(c) if c.longest != u64::MAX => {
                                    (c.longest + 1, c.sequences, c.ends.keys().cloned().collect())
                                }
                                _ => (1, 0, vec![]),
                            },
                        };
                        if len > s.longest {
                            s.longest = len;
                            s.longest_choice = k;
                        }
                        s.sequences = s.sequences.saturating_add(seqs);
                        for e in ends {
                            s.ends.entry(e).or_insert(k);
                        }
                    }
                    self.states[i] = Some(s);
                }
            }
        }
    }

    /// Follow choices from `root`, `pick` naming the choice at each state.
    fn follow(&self, root: usize, pick: impl Fn(&Summary) -> Option<usize>) -> Sequence {
        let mut out = Vec::new();
        let mut at = root;
        while let Some(s) = &self.states[at] {
            let Some(k) = pick(s) else { break };
            let Some((returned, child)) = s.choices.get(k) else {
                break;
            };
            out.push((self.keys[at].0.clone(), returned.clone()));
            match child {
                Child::State(j) if out.len() <= self.keys.len() + 1 => at = *j,
                _ => break,
            }
        }
        out
    }
}

/// Enumerate every outcome sequence a work item of kind `entry` can take.
pub fn explore(graph: &CompiledGraph, entry: &str) -> Result<Exploration, SimError> {
    let start = start_node(graph, entry)?.to_string();
    let mut ex = Explorer {
        graph,
        index: HashMap::new(),
        states: Vec::new(),
        keys: Vec::new(),
        counters: Vec::new(),
        choices: HashMap::new(),
        transitions: 0,
    };
    let (root, _) = ex.intern((start, Vec::new()), Counters::default());
    ex.explore(root);
    let summary = ex.states[root].as_ref();
    let worst_case = ex.follow(root, |s| {
        (!s.choices.is_empty()).then_some(s.longest_choice)
    });
    let worst_end = {
        let mut at = root;
        let mut end = String::new();
        for _ in 0..=worst_case.len() {
            let Some(s) = &ex.states[at] else { break };
            match s.choices.get(s.longest_choice).map(|c| &c.1) {
                Some(Child::State(j)) => at = *j,
                Some(Child::End(e)) => {
                    end = e.clone();
                    break;
                }
                None => break,
            }
        }
        end
    };
    let mut ends = BTreeMap::new();
    for label in summary
        .map(|s| s.ends.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let seq = ex.follow(root, |s| s.ends.get(&label).copied());
        ends.insert(label, seq);
    }
    Ok(Exploration {
        loop_id: graph.loop_id.clone(),
        entry: entry.to_string(),
        bound: graph
            .stage_run_bound
            .per_entry
            .get(entry)
            .copied()
            .unwrap_or(graph.stage_run_bound.max_stage_runs),
        states: ex.keys.len(),
        transitions: ex.transitions,
        sequences: summary.map(|s| s.sequences).unwrap_or(0),
        worst_case,
        worst_end,
        ends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::compile::{compile, AssetRoot};

    fn graph(plane: &str) -> CompiledGraph {
        let out = compile(&AssetRoot::Embedded, Some("default_codex"));
        out.plan.unwrap().graphs_by_plane[plane].clone()
    }

    fn script(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<Scripted>> {
        pairs
            .iter()
            .map(|(n, outs)| {
                (
                    n.to_string(),
                    outs.iter().map(|o| Scripted::parse(o).unwrap()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_scripted_happy_path_reaches_update_complete() {
        let g = graph("execution");
        let s = script(&[
            ("builder", &["BUILDER_COMPLETE"]),
            ("checker", &["CHECKER_PASS"]),
            ("updater", &["UPDATE_COMPLETE"]),
        ]);
        let r = run(&g, "task", &s).unwrap();
        assert_eq!(r.path(), ["builder", "checker", "updater"]);
        assert_eq!(r.end, End::Terminal("update_complete".into()));
    }

    #[test]
    fn resume_metadata_and_out_of_script_are_reported() {
        let g = graph("execution");
        let s = script(&[
            ("builder", &["BLOCKED"]),
            (
                "troubleshooter",
                &["TROUBLESHOOT_COMPLETE resume_stage=checker"],
            ),
        ]);
        let r = run(&g, "task", &s).unwrap();
        assert_eq!(r.path(), ["builder", "troubleshooter"]);
        assert_eq!(
            r.end,
            End::OutOfScript {
                node: "checker".into(),
                runs: 0
            }
        );
        assert_eq!(r.counters.get("troubleshoot_attempt_count"), Some(&1));
    }

    #[test]
    fn an_illegal_result_is_routed_as_blocked() {
        let g = graph("execution");
        let s = script(&[("builder", &["CHECKER_PASS"]), ("troubleshooter", &[])]);
        let r = run(&g, "task", &s).unwrap();
        assert_eq!(r.steps[0].outcome, "BLOCKED");
        assert!(r.steps[0].refused.is_some());
    }

    #[test]
    fn exploration_finds_every_terminal_within_the_bound() {
        let g = graph("execution");
        let ex = explore(&g, "task").unwrap();
        assert_eq!(
            ex.terminals(),
            ["blocked", "needs_planning", "update_complete"]
        );
        assert!(ex.refusals().is_empty(), "{:?}", ex.refusals());
        assert!(ex.worst_case.len() as u64 <= ex.bound);
        assert!(ex.worst_case.len() > 5);
        assert!(ex.sequences > 1000);
    }

    #[test]
    fn exploration_reports_what_the_runtime_would_refuse() {
        // A plan with a hole: no route for updater BLOCKED.
        let mut g = graph("execution");
        g.transitions
            .retain(|t| !(t.from_node_id == "updater" && t.on_outcome == "BLOCKED"));
        let ex = explore(&g, "task").unwrap();
        let refused: Vec<String> = ex.refusals().into_iter().map(|(k, _)| k).collect();
        assert!(
            refused
                .iter()
                .any(|r| r.contains("no route for updater BLOCKED")),
            "{refused:?}"
        );
        let witness = &ex.ends[&refused[0]];
        assert_eq!(witness.last().unwrap().0, "updater");

        // Without its threshold, troubleshooter BLOCKED loops on itself.
        let mut g = graph("execution");
        g.threshold_policies
            .retain(|t| t.counter_name != "troubleshoot_attempt_count");
        let ex = explore(&g, "task").unwrap();
        assert!(
            ex.refusals()
                .iter()
                .any(|(k, _)| k.starts_with("cycle: back to troubleshooter")),
            "{:?}",
            ex.refusals()
        );

        // A bound below the longest sequence.
        let mut g = graph("execution");
        g.stage_run_bound.per_entry.insert("task".into(), 5);
        let ex = explore(&g, "task").unwrap();
        assert!(ex
            .refusals()
            .iter()
            .any(|(k, _)| k.starts_with("over bound: 23")));
    }

    #[test]
    fn exploration_of_an_unknown_entry_is_an_error() {
        let g = graph("execution");
        assert!(matches!(
            explore(&g, "spec"),
            Err(SimError::UnknownEntry { .. })
        ));
    }
}
