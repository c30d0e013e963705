//! `millrace lsp` driven over stdio with JSON-RPC, as an editor drives it:
//! initialize, open a file, receive `publishDiagnostics` (codes, ranges,
//! help), hover, definition, completion, document symbols, formatting,
//! shutdown.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

mod support;
use support::cli::assert_has;

struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications read while waiting for a response.
    notes: Vec<Value>,
}

/// Guard against a hung server only; nothing here asserts speed.
const HANG: Duration = Duration::from_secs(120);

impl Client {
    /// Start the server; shipped files it opens for the editor go under `cache`.
    fn start(cache: &std::path::Path) -> Client {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("millrace"))
            .arg("lsp")
            .env("XDG_CACHE_HOME", cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        let mut c = Client {
            child,
            stdin,
            rx,
            next_id: 1,
            notes: vec![],
        };
        let init = c.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");
        assert_eq!(init["capabilities"]["documentFormattingProvider"], true);
        c.notify("initialized", json!({}));
        c
    }

    fn send(&mut self, v: Value) {
        let body = v.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The whole response (`result` or `error`).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self.rx.recv_timeout(HANG).expect("the server answered");
            if msg["id"] == json!(id) {
                return msg;
            }
            self.notes.push(msg);
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let resp = self.call(method, params);
        assert!(resp.get("error").is_none(), "{resp}");
        resp["result"].clone()
    }

    fn diagnostics_for(&mut self, uri: &str) -> Value {
        if let Some(i) = self.notes.iter().position(|n| {
            n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri
        }) {
            return self.notes.remove(i)["params"]["diagnostics"].clone();
        }
        loop {
            let msg = self
                .rx
                .recv_timeout(HANG)
                .expect("diagnostics were published");
            if msg["method"] == "textDocument/publishDiagnostics" && msg["params"]["uri"] == uri {
                return msg["params"]["diagnostics"].clone();
            }
            self.notes.push(msg);
        }
    }

    fn open(&mut self, uri: &str, text: &str) -> Value {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "mill", "version": 1, "text": text}}),
        );
        self.diagnostics_for(uri)
    }

    fn at(uri: &str, line: u32, character: u32) -> Value {
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
    }

    /// The labels completion offers at `line`:`character` of `uri`.
    fn completion_labels(&mut self, uri: &str, line: u32, character: u32) -> Vec<String> {
        let items = self.request("textDocument/completion", Client::at(uri, line, character));
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    }

    fn shutdown(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

const TYPO: &str = "import \"std/stages/execution.mill\"\nloop demo.typo on execution {\n  nodes buidler, checker\n  entry task -> checker\n  checker CHECKER_PASS -> terminal done\n          FIX_NEEDED   -> terminal failed\n          BLOCKED      -> terminal failed\n  terminal done success\n  terminal failed blocked\n}\n";

const GOOD: &str = "import \"std/stages/execution.mill\"\n\nloop demo.small on execution {\n  nodes builder, checker\n  entry task -> builder\n  builder BUILDER_COMPLETE -> checker\n          BLOCKED          -> terminal failed\n  checker CHECKER_PASS     -> terminal done\n          FIX_NEEDED       -> builder\n          BLOCKED          -> terminal failed\n  terminal done success\n  terminal failed blocked\n  threshold demo.fix.limit {\n    counter fix_cycle_count\n    on FIX_NEEDED from checker\n    after 2 -> terminal failed\n  }\n}\n";

fn uri_in(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let p = dir.join(name);
    (p.clone(), format!("file://{}", p.display()))
}

#[test]
fn an_unknown_stage_is_published_with_its_code_range_and_help() {
    let dir = tempfile::tempdir().unwrap();
    // The file on disk is empty: the server checks the editor's text.
    let (path, uri) = uri_in(dir.path(), "typo.mill");
    std::fs::write(&path, "").unwrap();
    let mut c = Client::start(dir.path());
    let diags = c.open(&uri, TYPO);
    let d = diags
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "mill::unknown-stage")
        .unwrap_or_else(|| panic!("{diags}"));
    assert_eq!(
        d["range"],
        json!({"start": {"line": 2, "character": 8}, "end": {"line": 2, "character": 15}})
    );
    assert_eq!(d["severity"], 1);
    assert!(d["message"]
        .as_str()
        .unwrap()
        .contains("unknown stage kind `buidler`"));
    assert!(d["message"]
        .as_str()
        .unwrap()
        .contains("help: did you mean `builder`?"));
    // Fixing the typo clears it.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": TYPO.replace("buidler, ", "")}]}),
    );
    let diags = c.diagnostics_for(&uri);
    assert!(
        !diags
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "mill::unknown-stage"),
        "{diags}"
    );
    c.shutdown();
}

#[test]
fn hover_definition_completion_symbols_and_formatting() {
    let dir = tempfile::tempdir().unwrap();
    let (path, uri) = uri_in(dir.path(), "small.mill");
    std::fs::write(&path, GOOD).unwrap();
    let mut c = Client::start(&dir.path().join("cache"));
    let diags = c.open(&uri, GOOD);
    assert_eq!(diags, json!([]), "{diags}");

    // Hover a node: its stage kind's outcomes and classes.
    let h = c.request("textDocument/hover", Client::at(&uri, 3, 9));
    let text = h["contents"]["value"].as_str().unwrap();
    assert_has(
        text,
        &["stage kind `builder`", "`BUILDER_COMPLETE`: success"],
    );
    // Hover the loop id: its worst-case bound.
    let h = c.request("textDocument/hover", Client::at(&uri, 2, 8));
    let text = h["contents"]["value"].as_str().unwrap();
    assert!(text.contains("worst case: at most"), "{text}");
    // Hover a counter: the threshold's meaning.
    let h = c.request("textDocument/hover", Client::at(&uri, 13, 14));
    let text = h["contents"]["value"].as_str().unwrap();
    assert_has(
        text,
        &[
            "counter `fix_cycle_count` counts `FIX_NEEDED` from checker",
            "after that it goes to terminal failed",
        ],
    );

    // Definition of a node name in a route: its declaration in `nodes`.
    let loc = c.request("textDocument/definition", Client::at(&uri, 5, 31));
    assert_eq!(loc["uri"], uri.as_str());
    assert_eq!(loc["range"]["start"]["line"], 3, "{loc}");
    // Definition of the import: the shipped stage kinds file.
    let loc = c.request("textDocument/definition", Client::at(&uri, 0, 12));
    let target = loc["uri"].as_str().unwrap();
    let cache = format!("file://{}/millrace/", dir.path().join("cache").display());
    assert!(target.starts_with(&cache), "{loc}");
    assert!(target.ends_with("/stdlib/stages/execution.mill"), "{loc}");
    let on_disk = std::fs::read_to_string(target.strip_prefix("file://").unwrap()).unwrap();
    assert!(on_disk.contains("stage builder"), "{on_disk}");

    // Completion on a route line of `checker`: its outcomes.
    let labels = c.completion_labels(&uri, 7, 10);
    let has = |l: &str| labels.iter().any(|x| x == l);
    assert!(has("CHECKER_PASS"), "{labels:?}");
    assert!(has("FIX_NEEDED"), "{labels:?}");
    assert!(!has("BUILDER_COMPLETE"), "{labels:?}");
    // After `->`: nodes and `terminal`.
    let labels = c.completion_labels(&uri, 5, 30);
    let has = |l: &str| labels.iter().any(|x| x == l);
    assert!(has("checker") && has("terminal"), "{labels:?}");

    // Symbols: the loop with its nodes, terminals and threshold.
    let syms = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    assert_eq!(syms[0]["name"], "demo.small", "{syms}");
    let children: Vec<&str> = syms[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        children,
        ["builder", "checker", "done", "failed", "demo.fix.limit"]
    );

    // Formatting goes through the formatter `millrace fmt` uses.
    let messy = GOOD.replace("  nodes builder, checker", "  nodes    builder,checker");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": messy}]}),
    );
    c.diagnostics_for(&uri);
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let expected = millrace::language::format::format(&messy).unwrap();
    assert_eq!(edits[0]["newText"], expected.as_str());
    assert_ne!(expected, messy);
    // A file that does not parse is not formatted: an error, not an edit.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": "loop {"}]}),
    );
    let diags = c.diagnostics_for(&uri);
    assert_eq!(diags[0]["code"], "mill::syntax", "{diags}");
    let resp = c.call(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not parse"),
        "{resp}"
    );
    c.shutdown();
}
