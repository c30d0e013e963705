//! The bounded-cycle analysis of one loop: its transition graph (routes,
//! resume targets, threshold-counted and threshold-exhausted edges),
//! reachability, the proof that every cycle is exited by a threshold, and the
//! worst-case number of stage runs one work item can take.
//!
//! Counters are per work item and never reset while it is in the loop, so an
//! edge counted by a threshold with `after N` is taken at most N times. A
//! cycle is bounded exactly when it contains such an edge; with every cycle
//! bounded, the states (node, counter values) form a DAG and the longest path
//! through it is the exact worst case.

use super::model::{Loop, StageKind, Target};
use super::source::Span;
use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// How an edge may be taken at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeKind {
    /// The route's own target.
    Plain,
    /// A node chosen by resume metadata instead of the route's default.
    Resume,
    /// The normal route of a thresholded outcome: taken while the counter is under its threshold.
    Counted(String),
    /// The threshold's exhausted target: taken once the counter reaches its threshold.
    Exhausted(String),
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub outcome: String,
    pub to: Target,
    pub kind: EdgeKind,
    /// The route arm or policy this edge comes from.
    pub span: Span,
}

impl Edge {
    /// A short note for messages about how this edge is taken.
    pub fn note(&self) -> String {
        let to = match &self.to {
            Target::Node(n) => n.clone(),
            Target::Terminal(t) => format!("terminal {t}"),
        };
        match &self.kind {
            EdgeKind::Plain => format!(" to `{to}`"),
            EdgeKind::Resume => format!(" resumed at `{to}` by metadata"),
            EdgeKind::Counted(c) => format!(" to `{to}` (counted by `{c}`)"),
            EdgeKind::Exhausted(c) => format!(" to `{to}` once `{c}` is exhausted"),
        }
    }
}

/// A cycle that no threshold bounds, as the edges taken around it in order.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub edges: Vec<Edge>,
    /// Other simple cycles through the same group of nodes (counted up to [`MAX_CYCLES`]).
    pub others: usize,
    /// The nodes of the group, in loop order.
    pub group: Vec<String>,
}

/// The worst case for one loop: stage runs per entry (and for the completion target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bound {
    /// Worst-case stage runs for one work item entering at each entry, in entry order.
    pub per_entry: Vec<(String, u64)>,
    /// The largest of them.
    pub max_stage_runs: u64,
    /// False when the state space was too large and a coarser upper bound was used.
    pub exact: bool,
}

pub struct Graph<'a> {
    l: &'a Loop,
    edges: Vec<Edge>,
    after: BTreeMap<String, u32>,
}

/// Cap on the unbounded cycles reported for one loop.
pub const MAX_CYCLES: usize = 16;

/// Cap on the (node, counters) states explored for the exact bound.
const MAX_STATES: usize = 200_000;

impl<'a> Graph<'a> {
    /// Build the transition graph; `overrides` replaces thresholds by counter name.
    pub fn new(
        l: &'a Loop,
        _stages: &BTreeMap<String, StageKind>,
        overrides: &BTreeMap<String, u32>,
    ) -> Self {
        let mut edges = Vec::new();
        for r in &l.routes {
            let mut targets = vec![(r.target.clone(), EdgeKind::Plain)];
            if let Some(res) = l.resume_for(&r.from, &r.outcome) {
                for n in &l.nodes {
                    if n.id != res.default && !res.never.contains(&n.id) {
                        targets.push((Target::Node(n.id.clone()), EdgeKind::Resume));
                    }
                }
            }
            match l.threshold_for(&r.from, &r.outcome) {
                Some(t) => {
                    for (to, _) in targets {
                        edges.push(Edge {
                            from: r.from.clone(),
                            outcome: r.outcome.clone(),
                            to,
                            kind: EdgeKind::Counted(t.counter.clone()),
                            span: r.span,
                        });
                    }
                    edges.push(Edge {
                        from: r.from.clone(),
                        outcome: r.outcome.clone(),
                        to: t.exhausted.clone(),
                        kind: EdgeKind::Exhausted(t.counter.clone()),
                        span: t.span,
                    });
                }
                None => {
                    for (to, kind) in targets {
                        edges.push(Edge {
                            from: r.from.clone(),
                            outcome: r.outcome.clone(),
                            to,
                            kind,
                            span: r.span,
                        });
                    }
                }
            }
        }
        let after = l
            .thresholds
            .iter()
            .map(|t| {
                (
                    t.counter.clone(),
                    *overrides.get(&t.counter).unwrap_or(&t.after),
                )
            })
            .collect();
        Graph { l, edges, after }
    }

    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    fn starts(&self) -> Vec<(String, String)> {
        let mut s: Vec<(String, String)> = self
            .l
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.node.clone()))
            .collect();
        if let Some(c) = &self.l.completion {
            s.push(("closure_target".to_string(), c.target.clone()));
        }
        s
    }

    /// Nodes that no entry or completion target can reach, in node order.
    pub fn unreachable(&self) -> Vec<String> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<String> = self.starts().into_iter().map(|(_, n)| n).collect();
        while let Some(n) = queue.pop_front() {
            if !seen.insert(self.l.node(&n).map(|x| x.id.as_str()).unwrap_or("")) {
                continue;
            }
            for e in self.edges.iter().filter(|e| e.from == n) {
                if let Target::Node(t) = &e.to {
                    queue.push_back(t.clone());
                }
            }
        }
        self.l
            .nodes
            .iter()
            .filter(|n| !seen.contains(n.id.as_str()))
            .map(|n| n.id.clone())
            .collect()
    }

    /// Nodes from which no terminal state is reachable, in node order.
    pub fn no_terminal_path(&self) -> Vec<String> {
        let mut good: BTreeSet<&str> = self
            .edges
            .iter()
            .filter(|e| matches!(e.to, Target::Terminal(_)))
            .map(|e| e.from.as_str())
            .collect();
        loop {
            let before = good.len();
            for e in &self.edges {
                if let Target::Node(t) = &e.to {
                    if good.contains(t.as_str()) {
                        good.insert(e.from.as_str());
                    }
                }
            }
            if good.len() == before {
                break;
            }
        }
        self.l
            .nodes
            .iter()
            .filter(|n| !good.contains(n.id.as_str()))
            .map(|n| n.id.clone())
            .collect()
    }

    /// Every simple cycle that uncounted edges alone can go around forever
    /// (at most [`MAX_CYCLES`], shortest first). Empty when the loop is bounded.
    pub fn unbounded_cycles(&self) -> Vec<Cycle> {
        let index: HashMap<&str, usize> = self
            .l
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        // One representative edge per (from, to) pair, in route order.
        let mut g: DiGraphMap<usize, usize> = DiGraphMap::new();
        for i in 0..self.l.nodes.len() {
            g.add_node(i);
        }
        for (ei, e) in self.edges.iter().enumerate() {
            if matches!(e.kind, EdgeKind::Counted(_)) {
                continue;
            }
            if let Target::Node(t) = &e.to {
                let (a, b) = (index[e.from.as_str()], index[t.as_str()]);
                if !g.contains_edge(a, b) {
                    g.add_edge(a, b, ei);
                }
            }
        }
        // Only nodes inside a strongly connected group can be on a cycle.
        let mut group_of: HashMap<usize, usize> = HashMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for mut scc in tarjan_scc(&g) {
            if scc.len() > 1 || g.contains_edge(scc[0], scc[0]) {
                scc.sort();
                for n in &scc {
                    group_of.insert(*n, groups.len());
                }
                groups.push(scc);
            }
        }
        // Enumerate per group, with the cap applying to each group separately.
        let mut found: Vec<Vec<usize>> = Vec::new();
        for members in &groups {
            let allowed: BTreeSet<usize> = members.iter().copied().collect();
            let mut in_group: Vec<Vec<usize>> = Vec::new();
            for &start in members {
                let mut path = vec![start];
                self.cycles_from(&g, start, &allowed, &mut path, &mut in_group);
                if in_group.len() >= MAX_CYCLES {
                    break;
                }
            }
            found.extend(in_group);
        }
        found.sort_by_key(|c| (c.len(), c.clone()));
        // Report the shortest cycle of each group, with how many others share it.
        let mut per_group: BTreeMap<usize, (Vec<usize>, usize)> = BTreeMap::new();
        for c in found {
            let gid = group_of[&c[0]];
            per_group
                .entry(gid)
                .and_modify(|(_, others)| *others += 1)
                .or_insert((c, 0));
        }
        let mut out: Vec<Cycle> = per_group
            .into_iter()
            .map(|(gid, (nodes, others))| Cycle {
                edges: (0..nodes.len())
                    .map(|i| {
                        let (a, b) = (nodes[i], nodes[(i + 1) % nodes.len()]);
                        self.edges[*g.edge_weight(a, b).expect("cycle edges exist")].clone()
                    })
                    .collect(),
                others,
                group: groups[gid]
                    .iter()
                    .map(|i| self.l.nodes[*i].id.clone())
                    .collect(),
            })
            .collect();
        out.sort_by_key(|c| (c.edges[0].span, c.edges.len()));
        out
    }

    /// Depth-first enumeration of simple cycles whose smallest node is `path[0]`.
    fn cycles_from(
        &self,
        g: &DiGraphMap<usize, usize>,
        start: usize,
        allowed: &BTreeSet<usize>,
        path: &mut Vec<usize>,
        found: &mut Vec<Vec<usize>>,
    ) {
        let at = *path.last().expect("path starts non-empty");
        let mut next: Vec<usize> = g.neighbors(at).collect();
        next.sort();
        for n in next {
            if found.len() >= MAX_CYCLES {
                return;
            }
            if n == start {
                found.push(path.clone());
            } else if n > start && allowed.contains(&n) && !path.contains(&n) {
                path.push(n);
                self.cycles_from(g, start, allowed, path, found);
                path.pop();
            }
        }
    }

    /// The worst-case stage runs per work item, or `None` if a cycle is unbounded.
    pub fn worst_case(&self) -> Option<Bound> {
        if !self.unbounded_cycles().is_empty() {
            return None;
        }
        let counters: Vec<&String> = self.after.keys().collect();
        let states: usize = self
            .after
            .values()
            .try_fold(self.l.nodes.len().max(1), |acc, a| {
                acc.checked_mul(*a as usize + 1)
            })
            .unwrap_or(usize::MAX);
        let starts = self.starts();
        if states > MAX_STATES {
            let budget: u64 = self.after.values().map(|a| u64::from(*a)).sum();
            let coarse = (budget + 1) * self.l.nodes.len() as u64;
            return Some(Bound {
                per_entry: starts.into_iter().map(|(k, _)| (k, coarse)).collect(),
                max_stage_runs: coarse,
                exact: false,
            });
        }
        let mut memo: HashMap<(String, Vec<u32>), u64> = HashMap::new();
        let zero = vec![0u32; counters.len()];
        let per_entry: Vec<(String, u64)> = starts
            .into_iter()
            .map(|(k, n)| {
                let runs = self.longest(&n, &zero, &counters, &mut memo);
                (k, runs)
            })
            .collect();
        let max_stage_runs = per_entry.iter().map(|(_, r)| *r).max().unwrap_or(0);
        Some(Bound {
            per_entry,
            max_stage_runs,
            exact: true,
        })
    }

    fn longest(
        &self,
        node: &str,
        counts: &[u32],
        counters: &[&String],
        memo: &mut HashMap<(String, Vec<u32>), u64>,
    ) -> u64 {
        let key = (node.to_string(), counts.to_vec());
        if let Some(v) = memo.get(&key) {
            return *v;
        }
        let mut best = 0u64;
        for e in self.edges.iter().filter(|e| e.from == node) {
            let mut next = counts.to_vec();
            match &e.kind {
                EdgeKind::Counted(c) => {
                    let i = counters
                        .iter()
                        .position(|x| *x == c)
                        .expect("counter known");
                    if next[i] >= self.after[c] {
                        continue;
                    }
                    next[i] += 1;
                }
                EdgeKind::Exhausted(c) => {
                    let i = counters
                        .iter()
                        .position(|x| *x == c)
                        .expect("counter known");
                    if next[i] < self.after[c] {
                        continue;
                    }
                }
                EdgeKind::Plain | EdgeKind::Resume => {}
            }
            let rest = match &e.to {
                Target::Terminal(_) => 0,
                Target::Node(t) => self.longest(t, &next, counters, memo),
            };
            best = best.max(rest);
        }
        let total = 1 + best;
        memo.insert(key, total);
        total
    }
}
