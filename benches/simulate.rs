//! Simulated transitions per second (`cargo bench --bench simulate`): the
//! shipped loops' scenario files run by the simulator, and the exhaustive
//! exploration of every shipped loop entry, repeated for about two seconds
//! each. Every transition is a real `surface::check` + `router::route` call.
//! The target is at least 100,000 transitions per second. Last measured
//! (release, 2-core machine shared with other builds): scenarios 821,307/s,
//! exhaustive 431,137/s.

use millrace::plan::compile::{compile, AssetRoot};
use millrace::runtime::{scenario, simulate};
use std::time::{Duration, Instant};

fn main() {
    let mut files = Vec::new();
    for (path, bytes) in millrace::assets::all() {
        if path.ends_with(".scenarios.toml") {
            let f = scenario::parse(std::str::from_utf8(bytes).unwrap()).unwrap();
            let plan = compile(&AssetRoot::Embedded, Some(&f.mode)).plan.unwrap();
            let graph = plan
                .graphs_by_plane
                .values()
                .find(|g| g.loop_id == f.loop_id)
                .unwrap()
                .clone();
            files.push((graph, f));
        }
    }
    let budget = Duration::from_secs(2);

    let (mut transitions, start) = (0u64, Instant::now());
    while start.elapsed() < budget {
        for (graph, f) in &files {
            for s in &f.scenarios {
                let entry = s.entry.clone().unwrap_or_default();
                let r = simulate::run(graph, &entry, &s.outcomes).unwrap();
                transitions += r.steps.len() as u64;
            }
        }
    }
    report("scenarios", transitions, start.elapsed());

    let (mut transitions, start) = (0u64, Instant::now());
    while start.elapsed() < budget {
        for (graph, _) in &files {
            for entry in simulate::entries(graph) {
                transitions += simulate::explore(graph, &entry).unwrap().transitions;
            }
        }
    }
    report("exhaustive", transitions, start.elapsed());
}

fn report(what: &str, transitions: u64, elapsed: Duration) {
    let rate = transitions as f64 / elapsed.as_secs_f64();
    println!(
        "{what}: {transitions} transitions in {:.2}s = {:.0} transitions/s ({})",
        elapsed.as_secs_f64(),
        rate,
        if rate >= 100_000.0 {
            "meets 100,000/s"
        } else {
            "BELOW 100,000/s"
        }
    );
}
