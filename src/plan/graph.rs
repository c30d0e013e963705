//! Graph exports of a compiled plan: the reference's text listing (plus, ours,
//! each plane's entries and threshold edges, grouped per threshold and
//! wrapped at 100 columns), a stable JSON export, DOT (one digraph, a
//! cluster per plane; a threshold's sources meet at one junction point
//! before its dashed edge) and Mermaid, built from one petgraph graph per
//! plane (nodes and terminal states as vertices; routes, and threshold
//! exhaustion as dashed edges; entries as arrows from a start point).

use super::ir::{CompiledPlan, TransitionTarget};
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
        text_entries_and_thresholds(&mut out, g);
    }
    out
}

/// The width the text graph keeps to.
pub const TEXT_WIDTH: usize = 100;

/// Ours, after the reference's route lines of a plane: where work enters,
/// and one line per threshold policy (all its sources, the outcome, the
/// limit, the counter and where the outcome goes once the limit is
/// reached), so that every node reachable only that way shows up.
fn text_entries_and_thresholds(out: &mut String, g: &super::ir::CompiledGraph) {
    let mut entries: Vec<String> = g
        .entries
        .iter()
        .map(|e| format!("{} -> {}", e.entry_key, e.node_id))
        .collect();
    if let Some(c) = &g.completion_behavior {
        entries.push(format!(
            "{} -> {} (completion)",
            c.request_kind, c.target_node_id
        ));
    }
    if !entries.is_empty() {
        wrap_list(out, "  entries: ", &entries);
    }
    if g.threshold_policies.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  thresholds (once the counter reaches the limit, the outcome goes here):"
    );
    for th in &g.threshold_policies {
        let arrow = format!(
            "--{} after {} ({})--> {}",
            th.on_outcome, th.threshold, th.counter_name, th.exhausted_target
        );
        let sources = th.source_node_ids.join(", ");
        let one_line = format!("    {sources} {arrow}");
        if one_line.len() <= TEXT_WIDTH {
            let _ = writeln!(out, "{one_line}");
        } else {
            wrap_list(out, "    ", &th.source_node_ids);
            let _ = writeln!(out, "        {arrow}");
        }
    }
}

/// `prefix` then `items` joined by `, `, wrapped under the prefix at `TEXT_WIDTH`.
fn wrap_list(out: &mut String, prefix: &str, items: &[String]) {
    let indent = " ".repeat(prefix.len());
    let mut line = prefix.to_string();
    let mut first = true;
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        let piece = format!("{item}{sep}");
        if !first && line.len() + 1 + piece.len() > TEXT_WIDTH {
            let _ = writeln!(out, "{}", line.trim_end());
            line = indent.clone();
            first = true;
        }
        if !first {
            line.push(' ');
        }
        line.push_str(&piece);
        first = false;
    }
    let _ = writeln!(out, "{line}");
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
}

/// One threshold policy of a plane, drawn as a group: its source vertex
/// ids, the vertex its exhausted outcome goes to, and its label.
struct ThresholdGroup {
    sources: Vec<String>,
    target: String,
    label: String,
}

fn threshold_groups(plan: &CompiledPlan, p: &str) -> Vec<ThresholdGroup> {
    let target = |t: &TransitionTarget| match t {
        TransitionTarget::Node(n) => vertex_id(p, &Vertex::Node(n.clone())),
        TransitionTarget::Terminal(t) => vertex_id(p, &Vertex::Terminal(t.clone())),
    };
    plan.graphs_by_plane[p]
        .threshold_policies
        .iter()
        .map(|th| ThresholdGroup {
            sources: th
                .source_node_ids
                .iter()
                .map(|s| vertex_id(p, &Vertex::Node(s.clone())))
                .collect(),
            target: target(&th.exhausted_target),
            label: format!(
                "{} after {} ({})",
                th.on_outcome, th.threshold, th.counter_name
            ),
        })
        .collect()
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

/// A DOT string literal.
fn dot_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One plane's vertices and edges as DOT statements, each line indented by
/// `indent`. A threshold with several sources draws them into one junction
/// point, then one labelled dashed edge to where the outcome goes.
fn dot_plane(out: &mut String, plan: &CompiledPlan, p: &str, indent: &str) {
    let graph = build(plan, p);
    for idx in graph.node_indices() {
        let v = &graph[idx];
        let attrs = match v {
            Vertex::Start(k) => format!("label={} shape=plaintext", dot_str(k)),
            Vertex::Node(n) => format!("label={} shape=box style=rounded", dot_str(n)),
            Vertex::Terminal(t) => format!("label={} shape=doublecircle", dot_str(t)),
        };
        let _ = writeln!(out, "{indent}{} [{attrs}];", dot_str(&vertex_id(p, v)));
    }
    for e in graph.edge_indices() {
        let (a, b) = graph.edge_endpoints(e).expect("edge exists");
        let (a, b) = (
            dot_str(&vertex_id(p, &graph[a])),
            dot_str(&vertex_id(p, &graph[b])),
        );
        match &graph[e] {
            Arc::Entry => {
                let _ = writeln!(out, "{indent}{a} -> {b} [style=bold];");
            }
            Arc::Route(o) => {
                let _ = writeln!(out, "{indent}{a} -> {b} [label={}];", dot_str(o));
            }
        }
    }
    for (i, th) in threshold_groups(plan, p).iter().enumerate() {
        let label = dot_str(&th.label);
        let to = dot_str(&th.target);
        let style = "style=dashed color=firebrick";
        if let [only] = th.sources.as_slice() {
            let from = dot_str(only);
            let _ = writeln!(out, "{indent}{from} -> {to} [label={label} {style}];");
            continue;
        }
        let junction = dot_str(&format!("{p}_threshold_{i}"));
        let _ = writeln!(
            out,
            "{indent}{junction} [shape=point width=0.08 color=firebrick label=\"\"];"
        );
        for s in &th.sources {
            let from = dot_str(s);
            let _ = writeln!(
                out,
                "{indent}{from} -> {junction} [arrowhead=none {style}];"
            );
        }
        let _ = writeln!(out, "{indent}{junction} -> {to} [label={label} {style}];");
    }
}

/// Graphviz DOT (`dot -Tsvg` renders it): with `plane`, that plane's
/// digraph; without, one digraph of the mode with a cluster per plane.
pub fn dot(plan: &CompiledPlan, plane: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(p) = plane {
        let _ = writeln!(out, "digraph {} {{", dot_str(&g_name(plan, p)));
        let _ = writeln!(out, "    rankdir=LR;");
        let _ = writeln!(
            out,
            "    label={};",
            dot_str(&format!(
                "{} ({}) in {}",
                p, plan.graphs_by_plane[p].loop_id, plan.mode_id
            ))
        );
        dot_plane(&mut out, plan, p, "    ");
        let _ = writeln!(out, "}}");
        return out;
    }
    let _ = writeln!(out, "digraph {} {{", dot_str(&plan.mode_id));
    let _ = writeln!(out, "    rankdir=LR;");
    let _ = writeln!(
        out,
        "    label={};",
        dot_str(&format!("mode {}", plan.mode_id))
    );
    for p in planes(plan, None) {
        let _ = writeln!(out, "    subgraph {} {{", dot_str(&format!("cluster_{p}")));
        let _ = writeln!(
            out,
            "        label={};",
            dot_str(&format!("{} ({})", p, plan.graphs_by_plane[p].loop_id))
        );
        dot_plane(&mut out, plan, p, "        ");
        let _ = writeln!(out, "    }}");
    }
    let _ = writeln!(out, "}}");
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
            };
        }
        // A threshold's sources meet at one small circle, then one dashed edge.
        for (i, th) in threshold_groups(plan, p).iter().enumerate() {
            let (label, to) = (&th.label, &th.target);
            if let [only] = th.sources.as_slice() {
                let _ = writeln!(out, "    {only} -.->|\"{label}\"| {to}");
                continue;
            }
            let junction = format!("{p}_threshold_{i}");
            let _ = writeln!(out, "    {junction}(( ))");
            for s in &th.sources {
                let _ = writeln!(out, "    {s} -.- {junction}");
            }
            let _ = writeln!(out, "    {junction} -.->|\"{label}\"| {to}");
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
