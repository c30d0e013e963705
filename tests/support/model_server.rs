//! A scripted model for the real agent CLIs (`tests/real_agents.rs`): one
//! loopback HTTP server on an ephemeral port that speaks, streaming, the
//! Anthropic Messages API (`POST /v1/messages`, `HEAD /` answered), OpenAI
//! chat completions (`POST /v1/chat/completions`, `include_usage`) and the
//! OpenAI Responses API (`POST /v1/responses`: `response.output_item.done`
//! per item, then `response.completed`). Std threads and `std::net` only.
//!
//! What it answers is scripted per stage (the `Stage: NAME` line of the
//! millrace prompt in the conversation) and per turn (the number of tool
//! results already in the conversation): plain text, a shell command, a
//! file write, an HTTP error, a stream cut before completion, a 429 rate
//! limit with a reset time. Anything unscripted answers with the stage's
//! first legal marker (`### TOKEN`, read from the prompt). Every answer
//! reports the usage numbers set for it, and every request is recorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// Which wire format a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Anthropic,
    Chat,
    Responses,
    Other,
}

/// One answer of the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The stage's first legal marker, after a line of text.
    Happy,
    /// Exactly this text.
    Text(String),
    /// A shell-command tool call.
    Shell(String),
    /// A file-write tool call (Codex has no write tool: a shell `printf`).
    Write { path: String, content: String },
    /// An HTTP error status with a JSON error body.
    Status(u16),
    /// A 200 stream that ends before its completion event.
    Cut,
    /// HTTP 429 whose message says the limit resets in `reset_seconds`.
    RateLimit { reset_seconds: u64 },
}

/// A scripted answer: for `stage` at `turn`, `uses` times (then unscripted).
#[derive(Debug, Clone)]
pub struct Rule {
    pub stage: String,
    pub turn: usize,
    pub action: Action,
    pub uses: u32,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub api: Api,
    pub stage: Option<String>,
    pub turn: usize,
    pub action: Option<Action>,
    /// The usage this answer reported (input, output).
    pub usage: (u64, u64),
    pub body: Value,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    requests: Vec<Recorded>,
    /// (input, output) tokens reported per answer.
    usage: (u64, u64),
    served: u64,
}

pub struct ModelServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl ModelServer {
    /// Start serving on 127.0.0.1 (an ephemeral port), in a thread per
    /// connection, for the life of the test process.
    pub fn start() -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            usage: (1200, 80),
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        ModelServer { port, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answer `stage` at `turn` with `action`, `uses` times.
    pub fn rule(&self, stage: &str, turn: usize, action: Action, uses: u32) {
        self.state.lock().unwrap().rules.push(Rule {
            stage: stage.into(),
            turn,
            action,
            uses,
        });
    }

    /// The usage every answer reports from now on.
    pub fn set_usage(&self, input: u64, output: u64) {
        self.state.lock().unwrap().usage = (input, output);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Model calls (not `HEAD /` nor token counts) made for `stage`.
    pub fn calls_for(&self, stage: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.action.is_some() && r.stage.as_deref() == Some(stage))
            .collect()
    }
}

fn serve(stream: TcpStream, state: &Arc<Mutex<State>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    length = v.trim().parse().unwrap_or(0);
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let body = if chunked {
            read_chunked(&mut reader)?
        } else {
            let mut b = vec![0u8; length];
            reader.read_exact(&mut b)?;
            b
        };
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let keep_alive = answer(&mut out, state, &method, &path, body)?;
        if !keep_alive {
            return Ok(());
        }
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0u8; n + 2];
        reader.read_exact(&mut chunk)?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

/// Every string leaf of a JSON value.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn find_after<'a>(texts: &[&'a str], prefix: &str) -> Option<&'a str> {
    texts.iter().find_map(|t| {
        let at = t.find(prefix)?;
        let rest = &t[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

fn turn_of(api: Api, body: &Value) -> usize {
    let empty = vec![];
    match api {
        Api::Responses => body["input"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .count(),
        Api::Chat => body["messages"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter(|m| m["role"] == "tool")
            .count(),
        Api::Anthropic => body["messages"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(|m| m["content"].as_array())
            .flatten()
            .filter(|c| c["type"] == "tool_result")
            .count(),
        Api::Other => 0,
    }
}

/// Write the response; whether the connection may be reused.
fn answer(
    out: &mut TcpStream,
    state: &Arc<Mutex<State>>,
    method: &str,
    path: &str,
    body: Value,
) -> std::io::Result<bool> {
    let api = if path.contains("/messages") && !path.contains("count_tokens") {
        Api::Anthropic
    } else if path.contains("/chat/completions") {
        Api::Chat
    } else if path.contains("/responses") {
        Api::Responses
    } else {
        Api::Other
    };
    let mut texts = Vec::new();
    strings(&body, &mut texts);
    let stage = find_after(&texts, "\nStage: ").map(String::from);
    let marker = find_after(&texts, "Legal markers for this stage: `### ").map(String::from);
    let turn = turn_of(api, &body);
    let (action, usage, n) = {
        let mut s = state.lock().unwrap();
        let action = (method == "POST" && api != Api::Other).then(|| {
            let stage = stage.clone().unwrap_or_default();
            match s
                .rules
                .iter_mut()
                .find(|r| r.stage == stage && r.turn == turn && r.uses > 0)
            {
                Some(r) => {
                    r.uses -= 1;
                    r.action.clone()
                }
                None => Action::Happy,
            }
        });
        s.served += 1;
        let (n, usage) = (s.served, s.usage);
        s.requests.push(Recorded {
            method: method.into(),
            path: path.into(),
            api,
            stage: stage.clone(),
            turn,
            action: action.clone(),
            usage: if action.is_some() { usage } else { (0, 0) },
            body: body.clone(),
        });
        (action, usage, n)
    };
    let Some(action) = action else {
        // HEAD /, token counting, anything else: a small JSON answer.
        let text = if path.contains("count_tokens") {
            json!({"input_tokens": usage.0}).to_string()
        } else {
            "{}".to_string()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        out.write_all(head.as_bytes())?;
        if method != "HEAD" {
            out.write_all(text.as_bytes())?;
        }
        return Ok(true);
    };
    let happy = format!(
        "Stage finished by the scripted model.\n### {}",
        marker.as_deref().unwrap_or("BLOCKED")
    );
    match &action {
        Action::Status(code) => return error(out, api, *code, "scripted server error", None),
        Action::RateLimit { reset_seconds } => {
            return error(
                out,
                api,
                429,
                &format!("Rate limit reached. Please try again in {reset_seconds}s."),
                Some(*reset_seconds),
            )
        }
        _ => {}
    }
    let stream = body["stream"].as_bool().unwrap_or(api == Api::Responses);
    let events = match api {
        Api::Anthropic => anthropic(&action, &happy, usage, n, stream),
        Api::Chat => chat(&action, &happy, usage, n),
        Api::Responses => responses(&action, &happy, usage, n),
        Api::Other => unreachable!(),
    };
    if !stream && api == Api::Anthropic {
        let text = events.concat();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        out.write_all(head.as_bytes())?;
        out.write_all(text.as_bytes())?;
        return Ok(true);
    }
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
    )?;
    let cut = action == Action::Cut;
    let keep = if cut {
        1.min(events.len())
    } else {
        events.len()
    };
    for e in &events[..keep] {
        out.write_all(e.as_bytes())?;
        out.flush()?;
    }
    let _ = out.shutdown(std::net::Shutdown::Both);
    Ok(false)
}

fn error(
    out: &mut TcpStream,
    api: Api,
    code: u16,
    message: &str,
    reset: Option<u64>,
) -> std::io::Result<bool> {
    let body = match api {
        Api::Anthropic => json!({"type": "error", "error": {"type": if code == 429 {"rate_limit_error"} else {"api_error"}, "message": message}}),
        _ => json!({"error": {"message": message, "type": if code == 429 {"rate_limit_exceeded"} else {"server_error"}, "code": null}}),
    }
    .to_string();
    let reason = match code {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        401 => "Unauthorized",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(s) = reset {
        head.push_str(&format!("Retry-After: {s}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())?;
    let _ = out.shutdown(std::net::Shutdown::Both);
    Ok(false)
}

fn sse(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// (tool name, input) for a tool call in the Anthropic / Pi tool sets.
fn tool_call(action: &Action, bash: &str, write: &str, path_key: &str) -> Option<(String, Value)> {
    match action {
        Action::Shell(cmd) => Some((bash.into(), json!({"command": cmd}))),
        Action::Write { path, content } => {
            Some((write.into(), json!({path_key: path, "content": content})))
        }
        _ => None,
    }
}

fn text_of<'a>(action: &'a Action, happy: &'a str) -> &'a str {
    match action {
        Action::Text(t) => t,
        _ => happy,
    }
}

fn anthropic(action: &Action, happy: &str, usage: (u64, u64), n: u64, stream: bool) -> Vec<String> {
    let tool = tool_call(action, "Bash", "Write", "file_path");
    let (block, stop) = match &tool {
        Some((name, input)) => (
            json!({"type": "tool_use", "id": format!("toolu_{n}"), "name": name, "input": input}),
            "tool_use",
        ),
        None => (
            json!({"type": "text", "text": text_of(action, happy)}),
            "end_turn",
        ),
    };
    if !stream {
        return vec![
            json!({"id": format!("msg_{n}"), "type": "message", "role": "assistant",
            "model": "scripted", "content": [block], "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": usage.0, "output_tokens": usage.1}})
            .to_string(),
        ];
    }
    let start_block = match &tool {
        Some((name, _)) => {
            json!({"type": "tool_use", "id": format!("toolu_{n}"), "name": name, "input": {}})
        }
        None => json!({"type": "text", "text": ""}),
    };
    let delta = match &tool {
        Some((_, input)) => json!({"type": "input_json_delta", "partial_json": input.to_string()}),
        None => json!({"type": "text_delta", "text": text_of(action, happy)}),
    };
    vec![
        sse(
            "message_start",
            json!({"type": "message_start", "message": {"id": format!("msg_{n}"),
            "type": "message", "role": "assistant", "model": "scripted", "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": usage.0, "output_tokens": 1}}}),
        ),
        sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
        ),
        sse(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        sse(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        sse(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": usage.1}}),
        ),
        sse("message_stop", json!({"type": "message_stop"})),
    ]
}

fn chat(action: &Action, happy: &str, usage: (u64, u64), n: u64) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk", "created": 0,
                "model": "scripted", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let finish = match tool_call(action, "bash", "write", "path") {
        Some((name, input)) => {
            out.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": format!("call_{n}"), "type": "function",
                    "function": {"name": name, "arguments": input.to_string()}}]}),
                Value::Null,
            ));
            "tool_calls"
        }
        None => {
            out.push(chunk(
                json!({"content": text_of(action, happy)}),
                Value::Null,
            ));
            "stop"
        }
    };
    out.push(chunk(json!({}), json!(finish)));
    out.push(format!(
        "data: {}\n\n",
        json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk", "created": 0,
            "model": "scripted", "choices": [],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}})
    ));
    out.push("data: [DONE]\n\n".into());
    out
}

fn responses(action: &Action, happy: &str, usage: (u64, u64), n: u64) -> Vec<String> {
    let cmd = match action {
        Action::Shell(cmd) => Some(cmd.clone()),
        Action::Write { path, content } => Some(format!(
            "printf '%s' '{}' > '{}'",
            content.replace('\'', "'\\''"),
            path.replace('\'', "'\\''")
        )),
        _ => None,
    };
    let item = match cmd {
        Some(cmd) => {
            json!({"type": "function_call", "id": format!("fc_{n}"), "call_id": format!("call_{n}"),
            "name": "exec_command", "arguments": json!({"cmd": cmd}).to_string()})
        }
        None => json!({"type": "message", "role": "assistant", "id": format!("msg_{n}"),
            "content": [{"type": "output_text", "text": text_of(action, happy), "annotations": []}]}),
    };
    vec![
        sse(
            "response.created",
            json!({"type": "response.created", "response": {"id": format!("resp_{n}")}}),
        ),
        sse(
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        sse(
            "response.completed",
            json!({"type": "response.completed", "response": {"id": format!("resp_{n}"),
            "usage": {"input_tokens": usage.0, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage.1, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.0 + usage.1}}}),
        ),
    ]
}
