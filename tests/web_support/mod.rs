//! Shared helpers for the dashboard tests: a workspace (optionally running
//! the slow scripted fake Codex), `millrace web` on an ephemeral loopback
//! port, and a minimal HTTP/1.1 client over `std::net` (GET, and reading
//! server-sent events).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

pub fn millrace() -> Command {
    Command::cargo_bin("millrace").unwrap()
}

pub fn run_ok(args: &[&str]) -> String {
    let out = millrace().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "millrace {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Ws {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub script: PathBuf,
}

impl Ws {
    /// An initialized workspace whose Codex runner is the scripted fake,
    /// each call delayed by `delay` seconds (`slow_codex.sh`).
    pub fn new(delay: u32) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        run_ok(&["init", "--workspace", root.to_str().unwrap()]);
        let script = dir.path().join("script.txt");
        std::fs::write(&script, "").unwrap();
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/slow_codex.sh");
        let config = root.join("millrace-agents/millrace.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!(
            "command = {:?}\nargs = []\n\n[runners.codex.env]\nFAKE_SCRIPT = {:?}\nFAKE_DELAY = \"{delay}\"\n",
            fake.display().to_string(),
            script.display().to_string()
        ));
        std::fs::write(&config, text).unwrap();
        Ws {
            _dir: dir,
            root,
            script,
        }
    }

    /// Script the fake's answers (`<stage> <TOKEN> ...` lines).
    pub fn script(&self, text: &str) {
        std::fs::write(&self.script, text).unwrap();
    }

    pub fn path(&self) -> &str {
        self.root.to_str().unwrap()
    }

    pub fn add_task(&self) {
        let task = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench/task.json");
        run_ok(&[
            "add-task",
            task.to_str().unwrap(),
            "--workspace",
            self.path(),
        ]);
    }

    /// `run daemon --workspace <ws> --monitor basic`, as arguments.
    fn daemon_args(&self) -> [&str; 6] {
        [
            "run",
            "daemon",
            "--workspace",
            self.path(),
            "--monitor",
            "basic",
        ]
    }

    /// `run daemon --monitor basic --until-idle`, which must succeed.
    pub fn run_until_idle(&self) {
        run_ok(&[&self.daemon_args()[..], &["--until-idle"]].concat());
    }

    pub fn spawn_daemon(&self) -> Child {
        millrace()
            .args(self.daemon_args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

/// `millrace web` on a free loopback port; killed when dropped.
pub struct Web {
    pub child: Child,
    pub addr: String,
}

impl Web {
    pub fn start(workspaces: &[&str], extra: &[&str]) -> Web {
        let mut args = vec!["web"];
        for w in workspaces {
            args.extend(["--workspace", w]);
        }
        if !extra.contains(&"--bind") {
            args.extend(["--bind", "127.0.0.1:0"]);
        }
        args.extend(extra);
        let mut child = millrace()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|a| a.rsplit(':').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Web {
            child,
            addr: format!("127.0.0.1:{port}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn request(addr: &str, path: &str, headers: &[(&str, &str)]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
}

/// GET `path` and read the whole response.
pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = request(addr, path, headers);
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = head.to_ascii_lowercase();
    let body = if headers.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

/// An open `GET /events` stream.
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    pub fn open(addr: &str, path: &str) -> Events {
        let s = request(addr, path, &[("Accept", "text/event-stream")]);
        let mut reader = BufReader::new(s);
        // Skip the status line and headers.
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Events { reader }
    }

    /// The next `state` event's data (chunk sizes and keep-alive comments
    /// skipped); panics when none comes within a minute.
    pub fn next_state(&mut self) -> serde_json::Value {
        let start = Instant::now();
        let mut event = String::new();
        let mut data = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "event stream ended");
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no state event within a minute"
            );
            let l = line.trim_end_matches(['\r', '\n']);
            if let Some(e) = l
                .strip_prefix("event: ")
                .or_else(|| l.strip_prefix("event:"))
            {
                event = e.to_string();
            } else if let Some(d) = l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")) {
                data.push_str(d);
            } else if l.is_empty() && event == "state" && !data.is_empty() {
                return serde_json::from_str(&data).unwrap();
            }
        }
    }

    /// Read `state` events until one satisfies `cond` (at most `limit`).
    pub fn until(
        &mut self,
        limit: usize,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        for _ in 0..limit {
            let doc = self.next_state();
            if cond(&doc) {
                return doc;
            }
        }
        panic!("no state event satisfied the condition in {limit} events");
    }
}

/// Poll `cond` every 50 ms; panic with `what` after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file and directory under `root` with its contents, for comparing
/// a tree before and after.
pub fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

pub fn sigterm(child: &Child) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}
