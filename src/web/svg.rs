//! One plane's compiled graph drawn as SVG, server-side, with text labels
//! (readable by screen readers and by tests): entries on the left, stages in
//! columns by their distance from an entry, terminal states in the last
//! column. Routes are solid arrows labelled with their outcomes; threshold
//! exhaustion is dashed and labelled `OUTCOME after N (counter)`. The work
//! items currently in a node are listed under its name.
//!
//! Every element carries data attributes (`data-node`, `data-terminal`,
//! `data-from`, `data-to`) so the page can animate transitions and tests
//! can find nodes without parsing geometry.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use crate::plan::ir::{CompiledGraph, TransitionTarget};

const COL: f64 = 250.0;
const ROW: f64 = 96.0;
const BOX_W: f64 = 140.0;
const BOX_H: f64 = 46.0;
const MARGIN: f64 = 24.0;

/// Escape text for SVG/XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Start,
    Node,
    Terminal,
}

struct Vertex {
    key: String,
    label: String,
    kind: Kind,
    x: f64,
    y: f64,
}

/// One drawn arrow: every outcome between the same two vertices shares it.
struct Edge {
    from: usize,
    to: usize,
    labels: Vec<String>,
    /// The full wording of each label (threshold counters), for `<title>`.
    details: Vec<String>,
    threshold: bool,
    entry: bool,
}

fn target_key(t: &TransitionTarget) -> String {
    match t {
        TransitionTarget::Node(n) => n.clone(),
        TransitionTarget::Terminal(t) => format!("terminal:{t}"),
    }
}

/// Columns: stages by breadth-first distance from the entries (stages no
/// entry reaches come after), terminals last, entry points first.
fn columns(g: &CompiledGraph) -> BTreeMap<String, usize> {
    let mut rank: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    let roots = g.entries.iter().map(|e| e.node_id.clone()).chain(
        g.completion_behavior
            .iter()
            .map(|c| c.target_node_id.clone()),
    );
    for r in roots {
        if !rank.contains_key(&r) {
            rank.insert(r.clone(), 1);
            queue.push_back(r);
        }
    }
    while let Some(n) = queue.pop_front() {
        let next_rank = rank[&n] + 1;
        for t in g.transitions.iter().filter(|t| t.from_node_id == n) {
            if let TransitionTarget::Node(m) = &t.target {
                if !rank.contains_key(m) {
                    rank.insert(m.clone(), next_rank);
                    queue.push_back(m.clone());
                }
            }
        }
    }
    let mut last = rank.values().copied().max().unwrap_or(0);
    for n in &g.nodes {
        if !rank.contains_key(&n.node_id) {
            last += 1;
            rank.insert(n.node_id.clone(), last);
        }
    }
    rank
}

/// Draw one plane. `occupants` maps a node id to the work items in it.
pub fn plane_svg(g: &CompiledGraph, occupants: &BTreeMap<String, Vec<String>>) -> String {
    let rank = columns(g);
    let last_node_col = rank.values().copied().max().unwrap_or(0);
    let mut vertices: Vec<Vertex> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut place = |col: usize, key: String, label: String, kind: Kind, vs: &mut Vec<Vertex>| {
        let row = rows.entry(col).or_insert(0);
        let v = Vertex {
            key: key.clone(),
            label,
            kind,
            x: MARGIN + col as f64 * COL,
            y: MARGIN + 20.0 + *row as f64 * ROW,
        };
        *row += 1;
        vs.push(v);
        vs.len() - 1
    };
    let mut edges: Vec<Edge> = Vec::new();
    // Entries (and the completion behaviour) as start points in column 0.
    let starts: Vec<(String, String)> = g
        .entries
        .iter()
        .map(|e| (e.entry_key.clone(), e.node_id.clone()))
        .chain(
            g.completion_behavior
                .iter()
                .map(|c| (c.request_kind.clone(), c.target_node_id.clone())),
        )
        .collect();
    let mut start_ids = Vec::new();
    for (key, _) in &starts {
        let i = place(
            0,
            format!("start:{key}"),
            key.clone(),
            Kind::Start,
            &mut vertices,
        );
        start_ids.push(i);
    }
    let mut by_rank: Vec<&str> = g.nodes.iter().map(|n| n.node_id.as_str()).collect();
    by_rank.sort_by_key(|n| rank.get(*n).copied().unwrap_or(0));
    for n in by_rank {
        let i = place(
            rank[n],
            n.to_string(),
            n.to_string(),
            Kind::Node,
            &mut vertices,
        );
        index.insert(n.to_string(), i);
    }
    for t in &g.terminal_states {
        let key = format!("terminal:{}", t.terminal_state_id);
        let i = place(
            last_node_col + 1,
            key.clone(),
            t.terminal_state_id.clone(),
            Kind::Terminal,
            &mut vertices,
        );
        index.insert(key, i);
    }
    for (s, (_, node)) in start_ids.iter().zip(&starts) {
        if let Some(&to) = index.get(node) {
            edges.push(Edge {
                from: *s,
                to,
                labels: vec![],
                details: vec![],
                threshold: false,
                entry: true,
            });
        }
    }
    let mut add = |from: usize, to: usize, label: String, detail: String, threshold: bool| {
        if let Some(e) = edges
            .iter_mut()
            .find(|e| e.from == from && e.to == to && e.threshold == threshold && !e.entry)
        {
            e.labels.push(label);
            e.details.push(detail);
        } else {
            edges.push(Edge {
                from,
                to,
                labels: vec![label],
                details: vec![detail],
                threshold,
                entry: false,
            });
        }
    };
    for t in &g.transitions {
        if let (Some(&a), Some(&b)) = (
            index.get(&t.from_node_id),
            index.get(&target_key(&t.target)),
        ) {
            let detail = format!(
                "{} → {} ({}:{})",
                t.on_outcome, t.target, t.source.file, t.source.line
            );
            add(a, b, t.on_outcome.clone(), detail, false);
        }
    }
    for th in &g.threshold_policies {
        for s in &th.source_node_ids {
            if let (Some(&a), Some(&b)) =
                (index.get(s), index.get(&target_key(&th.exhausted_target)))
            {
                add(
                    a,
                    b,
                    format!("{} after {}", th.on_outcome, th.threshold),
                    format!(
                        "{} after {} ({}) → {}",
                        th.on_outcome, th.threshold, th.counter_name, th.exhausted_target
                    ),
                    true,
                );
            }
        }
    }

    let width = vertices.iter().map(|v| v.x).fold(0.0, f64::max) + BOX_W + MARGIN;
    let height = vertices.iter().map(|v| v.y).fold(0.0, f64::max) + BOX_H + MARGIN + 40.0;
    let plane = esc(&g.plane);
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" data-plane="{plane}" role="img" aria-labelledby="title-{plane}" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" style="max-width:{width:.0}px"><title id="title-{plane}">{plane} plane: {} ({} stages)</title>"#,
        esc(&g.loop_id),
        g.nodes.len()
    );
    let _ = write!(
        out,
        r#"<defs><marker id="arrow-{plane}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>"#
    );
    for (n, e) in edges.iter().enumerate() {
        draw_edge(&mut out, &plane, &vertices, e, n);
    }
    for v in &vertices {
        draw_vertex(&mut out, v, occupants.get(&v.key));
    }
    out.push_str("</svg>");
    out
}

fn anchor_out(v: &Vertex) -> (f64, f64) {
    (v.x + BOX_W, v.y + BOX_H / 2.0)
}

fn anchor_in(v: &Vertex) -> (f64, f64) {
    (v.x, v.y + BOX_H / 2.0)
}

fn draw_edge(out: &mut String, plane: &str, vs: &[Vertex], e: &Edge, n: usize) {
    let (a, b) = (&vs[e.from], &vs[e.to]);
    let forward = b.x > a.x;
    let (path, lx, ly) = if forward {
        let (x1, y1) = anchor_out(a);
        let (x2, y2) = anchor_in(b);
        let mx = (x1 + x2) / 2.0;
        // Threshold arcs bow upwards so they do not hide a route between
        // the same two stages.
        let bow = if e.threshold { 26.0 } else { 0.0 };
        let (c1, c2) = (y1 - bow, y2 - bow);
        (
            format!("M{x1:.1},{y1:.1} C{mx:.1},{c1:.1} {mx:.1},{c2:.1} {x2:.1},{y2:.1}"),
            mx,
            (y1 + y2) / 2.0 - 4.0 - bow * 0.75,
        )
    } else {
        // Back or same-column edges arc below both boxes, deeper per edge.
        let (x1, y1) = (a.x + BOX_W / 2.0 - 20.0, a.y + BOX_H);
        let (x2, y2) = (b.x + BOX_W / 2.0 + 20.0, b.y + BOX_H);
        let depth = 34.0 + (n % 4) as f64 * 12.0;
        let cy = y1.max(y2) + depth;
        (
            format!("M{x1:.1},{y1:.1} C{x1:.1},{cy:.1} {x2:.1},{cy:.1} {x2:.1},{y2:.1}"),
            (x1 + x2) / 2.0,
            cy - 6.0,
        )
    };
    let class = if e.entry {
        "edge entry"
    } else if e.threshold {
        "edge threshold"
    } else if forward {
        "edge route"
    } else {
        "edge route back"
    };
    let label = e.labels.join(" / ");
    let _ = write!(
        out,
        r#"<g class="{class}" data-from="{}" data-to="{}" data-outcomes="{}"><path d="{path}" marker-end="url(#arrow-{plane})"/>"#,
        esc(&a.key),
        esc(&b.key),
        esc(&label)
    );
    if !e.details.is_empty() {
        let _ = write!(out, "<title>{}</title>", esc(&e.details.join("; ")));
    }
    if !label.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" class="edge-label">{}</text>"#,
            esc(&label)
        );
    }
    out.push_str("</g>");
}

fn draw_vertex(out: &mut String, v: &Vertex, items: Option<&Vec<String>>) {
    let label = esc(&v.label);
    let cx = v.x + BOX_W / 2.0;
    match v.kind {
        Kind::Start => {
            let _ = write!(
                out,
                r#"<g class="start" data-entry="{label}"><rect x="{:.1}" y="{:.1}" width="{BOX_W}" height="{BOX_H}" rx="23"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{label}</text></g>"#,
                v.x,
                v.y,
                v.y + BOX_H / 2.0 + 5.0
            );
        }
        Kind::Terminal => {
            let _ = write!(
                out,
                r#"<g class="terminal" data-terminal="{label}"><rect x="{:.1}" y="{:.1}" width="{BOX_W}" height="{BOX_H}" rx="8"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="6" class="inner"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{label}</text></g>"#,
                v.x,
                v.y,
                v.x + 3.0,
                v.y + 3.0,
                BOX_W - 6.0,
                BOX_H - 6.0,
                v.y + BOX_H / 2.0 + 5.0
            );
        }
        Kind::Node => {
            let items = items.map(Vec::as_slice).unwrap_or_default();
            let class = if items.is_empty() {
                "node"
            } else {
                "node active"
            };
            let _ = write!(
                out,
                r#"<g class="{class}" data-node="{label}" data-items="{}"><rect x="{:.1}" y="{:.1}" width="{BOX_W}" height="{BOX_H}" rx="4"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="node-name">{label}</text>"#,
                esc(&items.join(" ")),
                v.x,
                v.y,
                v.y + if items.is_empty() {
                    BOX_H / 2.0 + 5.0
                } else {
                    19.0
                },
            );
            if !items.is_empty() {
                let shown = if items.len() > 2 {
                    format!("{}, {} +{}", items[0], items[1], items.len() - 2)
                } else {
                    items.join(", ")
                };
                let _ = write!(
                    out,
                    r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="occupant">▶ {}</text>"#,
                    v.y + 37.0,
                    esc(&shown)
                );
            }
            out.push_str("</g>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::compile::{compile, AssetRoot};

    fn execution() -> CompiledGraph {
        let plan = compile(&AssetRoot::Embedded, None)
            .plan
            .expect("stdlib compiles");
        plan.graphs_by_plane["execution"].clone()
    }

    #[test]
    fn every_stage_terminal_and_route_is_a_text_label() {
        let g = execution();
        let svg = plane_svg(&g, &BTreeMap::new());
        for n in &g.nodes {
            assert!(
                svg.contains(&format!(">{}</text>", n.node_id)),
                "{}",
                n.node_id
            );
        }
        for t in &g.terminal_states {
            assert!(svg.contains(&format!(r#"data-terminal="{}""#, t.terminal_state_id)));
        }
        for t in &g.transitions {
            assert!(svg.contains(&t.on_outcome), "{}", t.edge_id);
        }
        let th = &g.threshold_policies[0];
        assert!(svg.contains(&format!("{} after {}", th.on_outcome, th.threshold)));
        assert!(svg.contains(&th.counter_name), "counter named in a <title>");
        assert!(!svg.contains("node active"), "nothing is running");
    }

    #[test]
    fn the_items_in_a_node_are_listed_under_it() {
        let g = execution();
        let mut here = BTreeMap::new();
        here.insert("checker".to_string(), vec!["t-<1>".to_string()]);
        let svg = plane_svg(&g, &here);
        assert!(
            svg.contains(r#"<g class="node active" data-node="checker" data-items="t-&lt;1&gt;">"#)
        );
        assert!(svg.contains("▶ t-&lt;1&gt;</text>"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&#39;");
    }
}
