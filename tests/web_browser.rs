//! The dashboard in a real browser: headless Chromium (Debian's `chromium`,
//! installed by `.ci/run`) loads the page against a workspace whose daemon
//! runs the slow scripted fake, and we check through the DevTools protocol
//! (over `--remote-debugging-pipe`) that the graph renders as SVG with text
//! labels and that a stage change reaches the page without a reload.
//!
//! Without Chromium the test prints why it is skipped, except under CI
//! (`CI` set), where it fails. With `MILLRACE_WEB_SCREENSHOTS=<dir>` it
//! also saves `dashboard-overview.png`, `dashboard-detail.png` and
//! `dashboard-flow.png` there (the pictures in `docs/`).

mod web_support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use web_support::{sigterm, Web, Ws};

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_string)
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A browser driven over the DevTools pipe (fd 3 in, fd 4 out, messages
/// separated by NUL bytes).
struct Browser {
    child: Child,
    to: std::fs::File,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(bin: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (browser_in, our_out) = pipe();
        let (our_in, browser_out) = pipe();
        let (bin_fd, bout_fd) = (
            std::os::fd::AsRawFd::as_raw_fd(&browser_in),
            std::os::fd::AsRawFd::as_raw_fd(&browser_out),
        );
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1440,1000",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(move || {
                // Move both ends above 4 first: either may already be 3 or 4.
                let a = libc::fcntl(bin_fd, libc::F_DUPFD, 10);
                let b = libc::fcntl(bout_fd, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(browser_in);
        drop(browser_out);
        let (tx, rx) = mpsc::channel();
        let mut reader = std::fs::File::from(our_in);
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice(&msg[..msg.len() - 1]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Browser {
            child,
            to: std::fs::File::from(our_out),
            from: rx,
            next_id: 0,
            session: None,
            _profile: profile,
        }
    }

    /// Send one command and wait for its answer (events are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        loop {
            let v = self
                .from
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no answer from chromium to {method}"));
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Open `url` in a new tab and attach to it.
    fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({"url": url}));
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        self.session = Some(attached["sessionId"].as_str().unwrap().to_string());
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Poll a JavaScript expression until it is `true` (at most `secs`).
    fn wait_until(&mut self, what: &str, secs: u64, expr: &str) {
        let start = std::time::Instant::now();
        while self.eval(expr) != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}; page state: {}",
                self.eval("JSON.stringify(document.body.dataset)")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self, path: &std::path::Path) {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        std::fs::write(path, base64(r["data"].as_str().unwrap())).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64(text: &str) -> Vec<u8> {
    let table: HashMap<u8, u32> =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as u32))
            .collect();
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| table.contains_key(c)) {
        acc = (acc << 6) | table[&c];
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn the_page_draws_the_graph_and_follows_a_running_daemon_live() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required under CI (.ci/run installs it)"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium, or run .ci/run)");
        return;
    };
    let ws = Ws::new(2);
    ws.script("checker FIX_NEEDED\n");
    ws.add_task();
    let web = Web::start(&[ws.path()], &[]);
    let mut browser = Browser::launch(&bin);
    browser.open(&web.url("/"));
    browser.wait_until(
        "the first state event",
        60,
        "Number(document.body.dataset.updates) > 0",
    );
    // The graph: one SVG per plane, nodes and terminals as text.
    let graph = browser.eval(
        "JSON.stringify({svgs: document.querySelectorAll('svg.flow-graph').length, \
         nodes: [...document.querySelectorAll('.flow-plane[data-plane=execution] g.node text.node-name')].map(t => t.textContent), \
         terminals: document.querySelectorAll('.flow-plane[data-plane=execution] g.terminal').length, \
         edges: document.querySelectorAll('.flow-plane[data-plane=execution] g.edge').length, \
         title: document.querySelector('svg.flow-graph title').textContent})",
    );
    let graph: Value = serde_json::from_str(graph.as_str().unwrap()).unwrap();
    assert!(graph["svgs"].as_u64().unwrap() >= 2, "{graph}");
    let nodes: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for n in ["builder", "checker", "updater"] {
        assert!(nodes.contains(&n), "{n} missing from {nodes:?}");
    }
    assert!(graph["terminals"].as_u64().unwrap() >= 1, "{graph}");
    assert!(graph["edges"].as_u64().unwrap() >= 3, "{graph}");
    // The page was loaded once; mark it so a reload would show.
    browser.eval("window.__loaded_once = 'yes'");

    let mut daemon = ws.spawn_daemon();
    // Whichever stage the page sees running first (builder, unless the
    // machine is slow enough to miss it), then the next one, live.
    browser.wait_until(
        "a running stage on the page",
        60,
        "!!document.body.dataset.activeStages",
    );
    let first = browser.eval("document.body.dataset.activeStages");
    let first = first.as_str().unwrap().to_string();
    assert!(
        ["builder", "checker", "fixer", "doublechecker", "updater"].contains(&first.as_str()),
        "{first}"
    );
    assert_eq!(
        browser.eval(&format!(
            "!!document.querySelector('.flow-plane[data-plane=execution] g.node.active[data-node={first}]')"
        )),
        json!(true),
        "the running stage is highlighted in the graph"
    );
    if let Some(dir) = std::env::var_os("MILLRACE_WEB_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        browser.screenshot(&dir.join("dashboard-overview.png"));
    }
    browser.wait_until(
        "the next stage, pushed without a reload",
        60,
        &format!(
            "(s => !!s && s !== '{first}' && \
              document.body.dataset.stageHistory.includes('{first} ' + s) && \
              !!document.querySelector(`.flow-plane[data-plane=execution] g.node.active[data-node=${{s}}]`) && \
              !!document.querySelector(`.active-run[data-stage=${{s}}]`))(document.body.dataset.activeStages)"
        ),
    );
    assert_eq!(browser.eval("window.__loaded_once"), json!("yes"));
    assert_eq!(
        browser.eval("performance.getEntriesByType('navigation').length"),
        json!(1)
    );
    if let Some(dir) = std::env::var_os("MILLRACE_WEB_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        // Flow: the fix cycle the script asks for, caught mid-transition.
        browser.open(&web.url("/flow"));
        browser.wait_until(
            "the fixer stage",
            60,
            "!!document.querySelector('.flow-plane[data-plane=execution] g.node.active[data-node=fixer]') && \
             !!document.querySelector('g.edge.taken')",
        );
        browser.screenshot(&dir.join("dashboard-flow.png"));
        // Detail: the finished run and its trace.
        browser.open(&web.url("/detail"));
        browser.wait_until(
            "the run to end",
            120,
            "Number(document.body.dataset.updates) > 0 && !document.querySelector('.active-run') && \
             !!document.querySelector('.trace-link')",
        );
        browser.eval("document.querySelector('.trace-link').click()");
        browser.wait_until(
            "the run's trace",
            60,
            "document.querySelectorAll('#trace-body .mill-source').length >= 4",
        );
        browser.screenshot(&dir.join("dashboard-detail.png"));
    }
    sigterm(&daemon);
    let _ = daemon.wait();
}
