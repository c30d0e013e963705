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
//!
//! Every walk here is iterative (explicit stacks and queues), so a loop of any
//! size is analysed without deep recursion: a large loop cannot overflow the
//! stack of `lint`, `compile` or the daemon.

use super::model::{Loop, StageKind, Target};
use super::source::Span;
use petgraph::algo::kosaraju_scc;
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
    /// True when the search stopped early: there may be more than `others`.
    pub more: bool,
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

/// Cap on the depth-first steps spent enumerating the cycles of one group:
/// a large group reports its first cycles, not all of them.
const MAX_CYCLE_STEPS: usize = 100_000;

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

    /// Index of each node id in loop order.
    fn index(&self) -> HashMap<&str, usize> {
        self.l
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect()
    }

    /// For each node (by index), the indices of the edges leaving it, in route order.
    fn out_edges(&self, index: &HashMap<&str, usize>) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.l.nodes.len()];
        for (ei, e) in self.edges.iter().enumerate() {
            if let Some(&i) = index.get(e.from.as_str()) {
                out[i].push(ei);
            }
        }
        out
    }

    /// Nodes that no entry or completion target can reach, in node order.
    pub fn unreachable(&self) -> Vec<String> {
        let index = self.index();
        let out = self.out_edges(&index);
        let mut seen = vec![false; self.l.nodes.len()];
        let mut queue: VecDeque<usize> = self
            .starts()
            .iter()
            .filter_map(|(_, n)| index.get(n.as_str()).copied())
            .collect();
        while let Some(n) = queue.pop_front() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            for &ei in &out[n] {
                if let Target::Node(t) = &self.edges[ei].to {
                    if let Some(&ti) = index.get(t.as_str()) {
                        queue.push_back(ti);
                    }
                }
            }
        }
        self.l
            .nodes
            .iter()
            .zip(seen)
            .filter(|(_, s)| !s)
            .map(|(n, _)| n.id.clone())
            .collect()
    }

    /// Nodes from which no terminal state is reachable, in node order.
    pub fn no_terminal_path(&self) -> Vec<String> {
        let index = self.index();
        // Walk the edges backwards from every node with an edge to a terminal.
        let mut into: Vec<Vec<usize>> = vec![Vec::new(); self.l.nodes.len()];
        let mut good = vec![false; self.l.nodes.len()];
        let mut queue = VecDeque::new();
        for e in &self.edges {
            let Some(&from) = index.get(e.from.as_str()) else {
                continue;
            };
            match &e.to {
                Target::Terminal(_) => queue.push_back(from),
                Target::Node(t) => {
                    if let Some(&ti) = index.get(t.as_str()) {
                        into[ti].push(from);
                    }
                }
            }
        }
        while let Some(n) = queue.pop_front() {
            if std::mem::replace(&mut good[n], true) {
                continue;
            }
            queue.extend(into[n].iter().copied().filter(|p| !good[*p]));
        }
        self.l
            .nodes
            .iter()
            .zip(good)
            .filter(|(_, g)| !g)
            .map(|(n, _)| n.id.clone())
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
        for mut scc in kosaraju_scc(&g) {
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
        // Groups whose enumeration ran out of budget (keyed by smallest node).
        let mut capped: BTreeSet<usize> = BTreeSet::new();
        for members in &groups {
            let allowed: BTreeSet<usize> = members.iter().copied().collect();
            let mut in_group: Vec<Vec<usize>> = Vec::new();
            let mut budget = MAX_CYCLE_STEPS;
            for &start in members {
                let mut path = vec![start];
                self.cycles_from(&g, start, &allowed, &mut path, &mut in_group, &mut budget);
                if in_group.len() >= MAX_CYCLES || budget == 0 {
                    break;
                }
            }
            if budget == 0 {
                capped.insert(members[0]);
                if in_group.is_empty() {
                    in_group.extend(shortest_cycle_through(&g, members[0], &allowed));
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
                more: capped.contains(&groups[gid][0]),
                group: groups[gid]
                    .iter()
                    .map(|i| self.l.nodes[*i].id.clone())
                    .collect(),
            })
            .collect();
        out.sort_by_key(|c| (c.edges[0].span, c.edges.len()));
        out
    }

    /// Depth-first enumeration of simple cycles whose smallest node is `path[0]`,
    /// with an explicit stack of (node, its sorted successors, next to try).
    fn cycles_from(
        &self,
        g: &DiGraphMap<usize, usize>,
        start: usize,
        allowed: &BTreeSet<usize>,
        path: &mut Vec<usize>,
        found: &mut Vec<Vec<usize>>,
        budget: &mut usize,
    ) {
        let successors = |n: usize| {
            let mut next: Vec<usize> = g.neighbors(n).collect();
            next.sort();
            next
        };
        let mut on_path: BTreeSet<usize> = path.iter().copied().collect();
        let first = *path.last().expect("path starts non-empty");
        let mut stack: Vec<(Vec<usize>, usize)> = vec![(successors(first), 0)];
        while let Some((next, i)) = stack.last_mut() {
            if found.len() >= MAX_CYCLES {
                return;
            }
            let Some(&n) = next.get(*i) else {
                stack.pop();
                if let Some(done) = path.pop() {
                    on_path.remove(&done);
                }
                continue;
            };
            *i += 1;
            if n == start {
                found.push(path.clone());
            } else if n > start && allowed.contains(&n) && !on_path.contains(&n) {
                if *budget == 0 {
                    return;
                }
                *budget -= 1;
                path.push(n);
                on_path.insert(n);
                stack.push((successors(n), 0));
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
        let index = self.index();
        let out = self.out_edges(&index);
        let steps: Vec<Step> = self
            .edges
            .iter()
            .map(|e| Step {
                to: match &e.to {
                    Target::Terminal(_) => None,
                    Target::Node(t) => index.get(t.as_str()).copied(),
                },
                counter: match &e.kind {
                    EdgeKind::Counted(c) | EdgeKind::Exhausted(c) => counters
                        .iter()
                        .position(|x| *x == c)
                        .map(|i| (i, self.after[c])),
                    EdgeKind::Plain | EdgeKind::Resume => None,
                },
                counted: matches!(e.kind, EdgeKind::Counted(_)),
            })
            .collect();
        let mut memo: HashMap<(usize, Vec<u32>), u64> = HashMap::new();
        let zero = vec![0u32; counters.len()];
        let per_entry: Vec<(String, u64)> = starts
            .into_iter()
            .map(|(k, n)| {
                let runs = index
                    .get(n.as_str())
                    .map(|&i| longest((i, zero.clone()), &out, &steps, &mut memo))
                    .unwrap_or(0);
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
}

/// The shortest cycle from `start` back to itself inside `allowed`, by
/// breadth-first search, as its nodes in order.
fn shortest_cycle_through(
    g: &DiGraphMap<usize, usize>,
    start: usize,
    allowed: &BTreeSet<usize>,
) -> Option<Vec<usize>> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut next: Vec<usize> = g.neighbors(n).collect();
        next.sort();
        for m in next {
            if m == start {
                let mut cycle = vec![n];
                while let Some(&p) = parent.get(cycle.last().expect("non-empty")) {
                    cycle.push(p);
                }
                cycle.reverse();
                return Some(cycle);
            }
            if allowed.contains(&m) && !parent.contains_key(&m) {
                parent.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    None
}

/// One edge as the longest-path search takes it, by index.
struct Step {
    /// The node it leads to; `None` for a terminal.
    to: Option<usize>,
    /// The counter it is gated by (index, threshold), if any.
    counter: Option<(usize, u32)>,
    /// True when taking it increments the counter; false when it needs it exhausted.
    counted: bool,
}

/// The state a step leads to from `counts`, or `None` if it cannot be taken there.
fn advance(step: &Step, counts: &[u32]) -> Option<Vec<u32>> {
    let mut next = counts.to_vec();
    if let Some((i, after)) = step.counter {
        if step.counted {
            if next[i] >= after {
                return None;
            }
            next[i] += 1;
        } else if next[i] < after {
            return None;
        }
    }
    Some(next)
}

/// Stage runs on the longest path from `start` (a node and its counter
/// values) to a terminal, memoised per state. The state graph is acyclic when
/// every cycle is bounded; a state met again while still open (which only a
/// bug could cause) counts as zero rather than looping.
fn longest(
    start: (usize, Vec<u32>),
    out: &[Vec<usize>],
    steps: &[Step],
    memo: &mut HashMap<(usize, Vec<u32>), u64>,
) -> u64 {
    if let Some(v) = memo.get(&start) {
        return *v;
    }
    // Each frame: the state, the next outgoing edge to try, the best run count after it.
    let mut stack: Vec<((usize, Vec<u32>), usize, u64)> = vec![(start.clone(), 0, 0)];
    let mut open: std::collections::HashSet<(usize, Vec<u32>)> = [start.clone()].into();
    while let Some((state, i, best)) = stack.last_mut() {
        let node = state.0;
        let Some(&ei) = out[node].get(*i) else {
            let total = 1 + *best;
            let (state, _, _) = stack.pop().expect("non-empty");
            open.remove(&state);
            memo.insert(state, total);
            if let Some((_, _, parent_best)) = stack.last_mut() {
                *parent_best = (*parent_best).max(total);
            }
            continue;
        };
        *i += 1;
        let step = &steps[ei];
        let Some(next) = advance(step, &state.1) else {
            continue;
        };
        let Some(to) = step.to else {
            continue; // a terminal: nothing runs after it
        };
        let key = (to, next);
        if let Some(v) = memo.get(&key) {
            *best = (*best).max(*v);
        } else if !open.contains(&key) {
            open.insert(key.clone());
            stack.push((key, 0, 0));
        }
    }
    memo.get(&start).copied().unwrap_or(0)
}
