//! `millrace web` over HTTP on an ephemeral loopback port: the page, the
//! JSON endpoints the page uses, an SSE event pushed after a state change,
//! the loopback/token rule, and a workspace left byte-identical.

mod web_support;

use web_support::{get, millrace, run_ok, tree, Events, Web, Ws};

mod support;
use support::cli::assert_has;

#[test]
fn serves_the_page_and_its_embedded_assets() {
    let ws = Ws::new(0);
    let web = Web::start(&[ws.path()], &[]);
    let page = get(&web.addr, "/", &[]);
    assert_eq!(page.status, 200);
    assert!(page.headers.contains("content-type: text/html"));
    assert!(page.body.contains("<title>millrace dashboard</title>"));
    assert!(page.body.contains(r#"data-view="both""#));
    assert!(page.body.contains(r#"src="assets/app.js""#));
    // No asset comes from elsewhere.
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));
    assert!(get(&web.addr, "/detail", &[])
        .body
        .contains(r#"data-view="detail""#));
    assert!(get(&web.addr, "/flow", &[])
        .body
        .contains(r#"data-view="flow""#));
    let js = get(&web.addr, "/assets/app.js", &[]);
    assert_eq!(js.status, 200);
    assert!(js.headers.contains("content-type: text/javascript"));
    assert!(js.body.contains("new EventSource"));
    let css = get(&web.addr, "/assets/app.css", &[]);
    assert!(css.headers.contains("content-type: text/css"));
    assert_eq!(get(&web.addr, "/nope", &[]).status, 404);
}

#[test]
fn api_state_reports_status_queues_and_the_plan_drawn_as_svg() {
    let ws = Ws::new(0);
    ws.add_task();
    run_ok(&["pause", "--workspace", ws.path()]);
    let web = Web::start(&[ws.path()], &[]);
    let r = get(&web.addr, "/api/state", &[]);
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: application/json"));
    let doc = r.json();
    let w = &doc["workspaces"][0];
    assert_eq!(w["error"], serde_json::Value::Null);
    assert_eq!(w["status"]["paused"], true);
    assert_eq!(w["status"]["pause_sources"][0], "operator");
    assert_eq!(w["status"]["execution_queue_depth"], 1);
    let queued = w["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["kind"] == "task" && q["state"] == "queue")
        .unwrap();
    assert_eq!(queued["count"], 1);
    assert_eq!(queued["items"][0], "t-001");
    // No plan is persisted yet: the graph is compiled in memory for display.
    assert_eq!(w["plan"]["persisted"], false);
    let planes = w["plan"]["planes"].as_array().unwrap();
    let exec = planes.iter().find(|p| p["plane"] == "execution").unwrap();
    let svg = exec["svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    for node in ["builder", "checker", "updater"] {
        assert!(svg.contains(&format!(r#"data-node="{node}""#)), "{node}");
        assert!(svg.contains(&format!(">{node}</text>")), "{node} label");
    }
    assert!(svg.contains(r#"class="terminal""#));
    assert!(svg.contains(r#"class="edge threshold""#), "threshold edge");
    assert!(svg.contains(">BUILDER_COMPLETE</text>"), "route label");
    // After a compile, the persisted plan is the one drawn.
    run_ok(&["compile", "validate", "--workspace", ws.path()]);
    let doc = get(&web.addr, "/api/state", &[]).json();
    assert_eq!(doc["workspaces"][0]["plan"]["persisted"], true);
    assert_eq!(
        doc["workspaces"][0]["status"]["compiled_plan_currentness"],
        "current"
    );
}

#[test]
fn serves_several_workspaces_and_reports_an_unreadable_one_in_place() {
    let a = Ws::new(0);
    let b = Ws::new(0);
    let web = Web::start(&[a.path(), b.path()], &[]);
    // Break b's snapshot after start: the page must say so, not fail.
    std::fs::write(
        b.root.join("millrace-agents/state/runtime_snapshot.json"),
        "{not json",
    )
    .unwrap();
    let doc = get(&web.addr, "/api/state", &[]).json();
    let list = doc["workspaces"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["error"], serde_json::Value::Null);
    let err = list[1]["error"].as_str().unwrap();
    assert!(err.contains("runtime_snapshot.json"), "{err}");
}

#[test]
fn an_event_is_pushed_after_a_state_change() {
    let ws = Ws::new(0);
    let web = Web::start(&[ws.path()], &[]);
    let mut events = Events::open(&web.addr, "/events");
    let first = events.next_state();
    assert_eq!(first["workspaces"][0]["status"]["paused"], false);
    run_ok(&["pause", "--workspace", ws.path()]);
    let doc = events.until(20, |d| d["workspaces"][0]["status"]["paused"] == true);
    assert!(doc["version"].as_u64().unwrap() > first["version"].as_u64().unwrap());
    ws.add_task();
    events.until(20, |d| {
        d["workspaces"][0]["status"]["execution_queue_depth"] == 1
    });
}

#[test]
fn a_runs_trace_names_the_mill_rule_behind_each_step() {
    let ws = Ws::new(0);
    ws.add_task();
    ws.run_until_idle();
    let web = Web::start(&[ws.path()], &[]);
    let doc = get(&web.addr, "/api/state", &[]).json();
    let w = &doc["workspaces"][0];
    let run = &w["recent_runs"][0];
    assert_eq!(run["work_item_id"], "t-001");
    assert_eq!(run["last_stage"], "updater");
    assert_eq!(run["last_result"], "UPDATE_COMPLETE");
    assert_eq!(run["active"], false);
    let transitions = w["transitions"].as_array().unwrap();
    assert!(transitions
        .iter()
        .any(|t| t["node_id"] == "builder" && t["next"]["id"] == "checker"));
    let id = run["run_id"].as_str().unwrap();
    let trace = get(&web.addr, &format!("/api/workspaces/0/runs/{id}"), &[]).json();
    let edges = trace["edges"].as_array().unwrap();
    assert!(!edges.is_empty());
    for e in edges {
        let file = e["decided_by"]["file"].as_str().unwrap();
        assert!(file.ends_with(".mill"), "{file}");
        assert!(e["decided_by"]["line"].as_u64().unwrap() > 0);
    }
    assert_eq!(
        get(&web.addr, "/api/workspaces/0/runs/run-ffff", &[]).status,
        404
    );
    for escape in ["..", "..%2F..%2Fstate", "%2Fetc%2Fpasswd"] {
        let path = format!("/api/workspaces/0/runs/{escape}");
        assert_eq!(get(&web.addr, &path, &[]).status, 404, "{path}");
    }
    assert_eq!(
        get(&web.addr, &format!("/api/workspaces/7/runs/{id}"), &[]).status,
        404
    );
}

#[test]
fn a_non_loopback_bind_needs_a_token() {
    let ws = Ws::new(0);
    let out = millrace()
        .args(["web", "--workspace", ws.path(), "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(&err, &["not a loopback address", "--token"]);
    let bad = millrace()
        .args(["web", "--workspace", ws.path(), "--bind", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    // With a token, every request must carry it.
    let web = Web::start(&[ws.path()], &["--bind", "0.0.0.0:0", "--token", "s3cret"]);
    assert_eq!(get(&web.addr, "/", &[]).status, 401);
    assert_eq!(get(&web.addr, "/api/state", &[]).status, 401);
    assert_eq!(get(&web.addr, "/events", &[]).status, 401);
    assert_eq!(get(&web.addr, "/api/state?token=wrong", &[]).status, 401);
    assert_eq!(get(&web.addr, "/api/state?token=s3cret", &[]).status, 200);
    let auth = [("Authorization", "Bearer s3cret")];
    assert_eq!(get(&web.addr, "/api/state", &auth).status, 200);
    assert_eq!(
        get(&web.addr, "/", &[("X-Millrace-Token", "s3cret")]).status,
        200
    );
}

#[test]
fn an_uninitialized_workspace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = millrace()
        .args([
            "web",
            "--workspace",
            dir.path().to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("init"));
}

#[test]
fn serving_writes_nothing_in_the_workspace_and_takes_no_lock() {
    let ws = Ws::new(0);
    ws.add_task();
    ws.run_until_idle();
    let before = tree(&ws.root);
    let web = Web::start(&[ws.path()], &[]);
    let doc = get(&web.addr, "/api/state", &[]).json();
    let run = doc["workspaces"][0]["recent_runs"][0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in ["/", "/detail", "/flow", "/assets/app.js", "/api/state"] {
        assert_eq!(get(&web.addr, path, &[]).status, 200, "{path}");
    }
    assert_eq!(
        get(&web.addr, &format!("/api/workspaces/0/runs/{run}"), &[]).status,
        200
    );
    let mut events = Events::open(&web.addr, "/events");
    events.next_state();
    // Let the watcher poll a few times while the stream is open.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(!ws
        .root
        .join("millrace-agents/state/runtime_daemon.lock.json")
        .exists());
    drop(events);
    drop(web);
    assert_eq!(before, tree(&ws.root), "the workspace changed");
}
