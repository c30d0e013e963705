//! Graph exports of a compiled plan: the reference's text listing, a stable
//! JSON export, and DOT and Mermaid drawings built from one petgraph graph
//! per plane (nodes and terminal states as vertices; routes, and threshold
//! exhaustion as dashed edges; entries as arrows from a start point).

use super::ir::{CompiledPlan, TransitionTarget};
use petgraph::dot::{Config as DotConfig, Dot};
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The reference's `compile graph` text: header, then `src --OUTCOME--> dst` per plane.
pub fn text(plan: &CompiledPlan, plane: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "compiled_plan_id: {}", plan.compiled_plan_id);
    let _ = writeln!(out, "mode_id: {}", plan.mode_id);
    let planes: Vec<&String> = plan
        .graphs_by_plane
        .keys()
        .filter(|p| plane.is_none_or(|x| x == p.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "planes: {}",
        planes
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for p in planes {
        let g = &plan.graphs_by_plane[p];
        let _ = writeln!(out, "\n{p}:");
        for t in &g.transitions {
            let _ = writeln!(
                out,
                "  {} --{}--> {}",
                t.from_node_id, t.on_outcome, t.target
            );
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Vertex {
    Start(String),
    Node(String),
    Terminal(String),
}

#[derive(Debug, Clone)]
enum Arc {
    Entry,
    Route(String),
    Exhausted {
        outcome: String,
        counter: String,
        after: u32,
    },
}

/// One plane as a petgraph graph.
fn build(plan: &CompiledPlan, plane: &str) -> DiGraph<Vertex, Arc> {
    let g = &plan.graphs_by_plane[plane];
    let mut graph = DiGraph::new();
    let mut index: BTreeMap<String, NodeIndex> = BTreeMap::new();
    for n in &g.nodes {
        index.insert(
            n.node_id.clone(),
            graph.add_node(Vertex::Node(n.node_id.clone())),
        );
    }
    for t in &g.terminal_states {
        let key = format!("terminal:{}", t.terminal_state_id);
        index.insert(
            key,
            graph.add_node(Vertex::Terminal(t.terminal_state_id.clone())),
        );
    }
    let target = |t: &TransitionTarget| match t {
        TransitionTarget::Node(n) => n.clone(),
        TransitionTarget::Terminal(t) => format!("terminal:{t}"),
    };
    for e in &g.entries {
        let s = graph.add_node(Vertex::Start(e.entry_key.clone()));
        graph.add_edge(s, index[&e.node_id], Arc::Entry);
    }
    if let Some(c) = &g.completion_behavior {
        let s = graph.add_node(Vertex::Start(c.request_kind.clone()));
        graph.add_edge(s, index[&c.target_node_id], Arc::Entry);
    }
    for t in &g.transitions {
        graph.add_edge(
            index[&t.from_node_id],
            index[&target(&t.target)],
            Arc::Route(t.on_outcome.clone()),
        );
    }
    for th in &g.threshold_policies {
        for s in &th.source_node_ids {
            graph.add_edge(
                index[s],
                index[&target(&th.exhausted_target)],
                Arc::Exhausted {
                    outcome: th.on_outcome.clone(),
                    counter: th.counter_name.clone(),
                    after: th.threshold,
                },
            );
        }
    }
    graph
}

fn vertex_id(plane: &str, v: &Vertex) -> String {
    match v {
        Vertex::Start(k) => format!("{plane}_start_{k}"),
        Vertex::Node(n) => format!("{plane}_{n}"),
        Vertex::Terminal(t) => format!("{plane}_terminal_{t}"),
    }
}

fn planes<'a>(plan: &'a CompiledPlan, plane: Option<&str>) -> Vec<&'a String> {
    plan.graphs_by_plane
        .keys()
        .filter(|p| plane.is_none_or(|x| x == p.as_str()))
        .collect()
}

/// Graphviz DOT: one digraph per plane (`dot -Tsvg` renders it).
pub fn dot(plan: &CompiledPlan, plane: Option<&str>) -> String {
    let mut out = String::new();
    for p in planes(plan, plane) {
        let graph = build(plan, p);
        let edge_attr = |_: &DiGraph<Vertex, Arc>, e: petgraph::graph::EdgeReference<'_, Arc>| {
            match e.weight() {
                Arc::Entry => "style=bold".to_string(),
                Arc::Route(o) => format!("label=\"{o}\""),
                Arc::Exhausted {
                    outcome,
                    counter,
                    after,
                } => {
                    format!("label=\"{outcome} after {after} ({counter})\" style=dashed color=firebrick")
                }
            }
        };
        let node_attr = |_: &DiGraph<Vertex, Arc>, (_, v): (NodeIndex, &Vertex)| match v {
            Vertex::Start(k) => format!("label=\"{k}\" shape=plaintext"),
            Vertex::Node(n) => format!("label=\"{n}\" shape=box style=rounded"),
            Vertex::Terminal(t) => format!("label=\"{t}\" shape=doublecircle"),
        };
        let body = Dot::with_attr_getters(
            &graph,
            &[
                DotConfig::EdgeNoLabel,
                DotConfig::NodeNoLabel,
                DotConfig::GraphContentOnly,
            ],
            &edge_attr,
            &node_attr,
        );
        let _ = writeln!(out, "digraph \"{}\" {{", g_name(plan, p));
        let _ = writeln!(out, "    rankdir=LR;");
        let _ = writeln!(
            out,
            "    label=\"{} ({}) in {}\";",
            p, plan.graphs_by_plane[p].loop_id, plan.mode_id
        );
        let _ = write!(out, "{body:?}");
        let _ = writeln!(out, "}}");
    }
    out
}

fn g_name(plan: &CompiledPlan, plane: &str) -> String {
    format!("{}.{}", plan.mode_id, plane)
}

/// Mermaid flowchart: one subgraph per plane.
pub fn mermaid(plan: &CompiledPlan, plane: Option<&str>) -> String {
    let mut out = String::from("flowchart LR\n");
    for p in planes(plan, plane) {
        let graph = build(plan, p);
        let _ = writeln!(
            out,
            "  subgraph {p}[\"{p}: {}\"]",
            plan.graphs_by_plane[p].loop_id
        );
        for idx in graph.node_indices() {
            let v = &graph[idx];
            let id = vertex_id(p, v);
            let _ = match v {
                Vertex::Start(k) => writeln!(out, "    {id}(((\"{k}\")))"),
                Vertex::Node(n) => writeln!(out, "    {id}[\"{n}\"]"),
                Vertex::Terminal(t) => writeln!(out, "    {id}([\"{t}\"])"),
            };
        }
        for e in graph.edge_indices() {
            let (a, b) = graph.edge_endpoints(e).expect("edge exists");
            let (a, b) = (vertex_id(p, &graph[a]), vertex_id(p, &graph[b]));
            let _ = match &graph[e] {
                Arc::Entry => writeln!(out, "    {a} ==> {b}"),
                Arc::Route(o) => writeln!(out, "    {a} -->|{o}| {b}"),
                Arc::Exhausted {
                    outcome,
                    counter,
                    after,
                } => {
                    writeln!(
                        out,
                        "    {a} -.->|\"{outcome} after {after} ({counter})\"| {b}"
                    )
                }
            };
        }
        let _ = writeln!(out, "  end");
    }
    out
}

/// The stable JSON export (`kind: compiled_graph_export`, schema 1.0).
pub fn json(plan: &CompiledPlan, plane: Option<&str>) -> serde_json::Value {
    let planes: Vec<serde_json::Value> = planes(plan, plane)
        .into_iter()
        .map(|p| {
            let g = &plan.graphs_by_plane[p];
            let mut edges: Vec<serde_json::Value> = g
                .transitions
                .iter()
                .map(|t| {
                    json!({
                        "edge_id": t.edge_id,
                        "from": t.from_node_id,
                        "outcome": t.on_outcome,
                        "to": t.target,
                        "via": "route",
                        "source": t.source,
                    })
                })
                .collect();
            for th in &g.threshold_policies {
                for s in &th.source_node_ids {
                    edges.push(json!({
                        "edge_id": format!("{s}.{}.exhausted", th.on_outcome),
                        "from": s,
                        "outcome": th.on_outcome,
                        "to": th.exhausted_target,
                        "via": "threshold_exhausted",
                        "policy_id": th.policy_id,
                        "counter": th.counter_name,
                        "threshold": th.threshold,
                        "source": th.source,
                    }));
                }
            }
            json!({
                "plane": p,
                "loop_id": g.loop_id,
                "entries": g.entries,
                "nodes": g.nodes,
                "edges": edges,
                "terminal_states": g.terminal_states,
                "resume_policies": g.resume_policies,
                "completion_behavior": g.completion_behavior,
                "stage_run_bound": g.stage_run_bound,
            })
        })
        .collect();
    json!({
        "schema_version": "1.0",
        "kind": "compiled_graph_export",
        "compiled_plan_id": plan.compiled_plan_id,
        "mode_id": plan.mode_id,
        "planes": planes,
    })
}
