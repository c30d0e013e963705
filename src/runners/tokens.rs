//! Token usage from Codex `--json` event streams.
//!
//! Only `token_count` events count (bare, or wrapped as the `payload` of an
//! `event_msg`): their `info.total_token_usage`, else `info.last_token_usage`,
//! must carry integer `input_tokens` and `output_tokens`; `cached_input_tokens`
//! defaults to 0, thinking tokens come from the first present key among
//! `reasoning_output_tokens`, `thinking_tokens`, `reasoning_tokens`, and
//! `total_tokens` defaults to input + output. Of all candidates the one with
//! the largest total wins (later ones win ties).
//!
//! Current Codex (`exec --json`) prints no `token_count` events: its usage
//! is in `turn.completed` events (`usage {input_tokens, cached_input_tokens,
//! output_tokens, reasoning_output_tokens}`, one per turn), summed over the
//! turns. A stream that has `token_count` events is read from those alone,
//! so the same tokens are never counted twice.

use std::io::{self, BufRead};
use std::path::Path;

use serde_json::{Map, Value};

use super::TokenUsage;

/// Best usage in an events file; `None` when the file is missing or has none.
pub fn from_events_file(path: &Path) -> Option<TokenUsage> {
    let file = crate::workspace::safe_fs::open_regular(path, None).ok()?;
    from_events_reader(io::BufReader::new(file))
}

/// Best usage in a stream of JSON lines.
pub fn from_events_reader<R: BufRead>(mut reader: R) -> Option<TokenUsage> {
    let mut tally = Tally::default();
    let mut buf = Vec::new();
    loop {
        match super::marker::read_bounded_line(
            &mut reader,
            &mut buf,
            super::marker::MAX_SCANNED_LINE_BYTES,
        ) {
            Ok(None) | Err(_) => break,
            Ok(Some(false)) => continue,
            Ok(Some(true)) => {}
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            continue;
        };
        tally.line(line);
    }
    tally.usage()
}

/// The usage of a stream fed one event at a time (as the runner reads the
/// agent's output while it runs): the best `token_count` candidate, else
/// the sum of the `turn.completed` usages.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    best: Option<TokenUsage>,
    turns: Option<TokenUsage>,
}

impl Tally {
    /// Feed one line (valid UTF-8; anything but a JSON object is ignored).
    pub fn line(&mut self, line: &str) {
        let line = line.trim();
        if !line.starts_with('{') {
            return;
        }
        if let Ok(value) = serde_json::from_str::<Value>(line) {
            self.event(&value);
        }
    }

    /// Feed one parsed event line.
    pub fn event(&mut self, event: &Value) {
        if let Some(candidate) = from_event(event) {
            if self
                .best
                .is_none_or(|b| candidate.total_tokens >= b.total_tokens)
            {
                self.best = Some(candidate);
            }
        } else if let Some(turn) = turn_usage_of(event) {
            let t = self.turns.get_or_insert_with(TokenUsage::default);
            t.input_tokens = t.input_tokens.saturating_add(turn.input_tokens);
            t.cached_input_tokens = t
                .cached_input_tokens
                .saturating_add(turn.cached_input_tokens);
            t.output_tokens = t.output_tokens.saturating_add(turn.output_tokens);
            t.thinking_tokens = t.thinking_tokens.saturating_add(turn.thinking_tokens);
            t.total_tokens = t.total_tokens.saturating_add(turn.total_tokens);
        }
    }

    /// The usage so far.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.best.or(self.turns)
    }
}

/// The usage of one `turn.completed` event line, if it is one.
pub fn turn_usage(line: &str) -> Option<TokenUsage> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    turn_usage_of(&serde_json::from_str(line).ok()?)
}

fn turn_usage_of(value: &Value) -> Option<TokenUsage> {
    if value.get("type").and_then(Value::as_str) != Some("turn.completed") {
        return None;
    }
    from_usage(value.get("usage")?.as_object()?)
}

/// Usage carried by one event line, if any.
pub fn from_line(line: &str) -> Option<TokenUsage> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    from_event(&value)
}

fn from_event(event: &Value) -> Option<TokenUsage> {
    let obj = event.as_object()?;
    let kind = obj.get("type").and_then(Value::as_str);
    if kind == Some("event_msg") {
        if let Some(inner @ Value::Object(_)) = obj.get("payload") {
            return from_event(inner);
        }
    }
    if kind != Some("token_count") {
        return None;
    }
    let info = obj.get("info")?.as_object()?;
    let usage = match info.get("total_token_usage") {
        Some(Value::Object(m)) => m,
        _ => info.get("last_token_usage")?.as_object()?,
    };
    from_usage(usage)
}

fn from_usage(usage: &Map<String, Value>) -> Option<TokenUsage> {
    let input = int_field(usage, &["input_tokens"])??;
    let output = int_field(usage, &["output_tokens"])??;
    let cached = int_field(usage, &["cached_input_tokens"])
        .flatten()
        .unwrap_or(0);
    let thinking = int_field(
        usage,
        &[
            "reasoning_output_tokens",
            "thinking_tokens",
            "reasoning_tokens",
        ],
    )
    .flatten()
    .unwrap_or(0);
    let total = int_field(usage, &["total_tokens"])
        .flatten()
        .unwrap_or(input.saturating_add(output));
    Some(TokenUsage {
        input_tokens: input,
        cached_input_tokens: cached,
        output_tokens: output,
        thinking_tokens: thinking,
        total_tokens: total,
    })
}

/// The first key present (and not null) decides: `Some(Some(n))` for a
/// non-negative integer (or integral float), `Some(None)` for any other
/// value; `None` when no key is present.
fn int_field(map: &Map<String, Value>, keys: &[&str]) -> Option<Option<u64>> {
    let value = keys
        .iter()
        .filter_map(|k| map.get(*k))
        .find(|v| !v.is_null())?;
    Some(match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(i: u64, c: u64, o: u64, t: u64, total: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: i,
            cached_input_tokens: c,
            output_tokens: o,
            thinking_tokens: t,
            total_tokens: total,
        }
    }

    #[test]
    fn token_count_events() {
        let events = concat!(
            "not json\n",
            "{\"type\":\"token_count\",\"info\":{\"last_token_usage\":{\"input_tokens\":10,\"output_tokens\":5}}}\n",
            "{\"type\":\"event_msg\",\"payload\":{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":1200,\"cached_input_tokens\":300,\"output_tokens\":45,\"reasoning_output_tokens\":20,\"total_tokens\":1245}}}}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":99999,\"output_tokens\":1}}\n",
            "### BUILDER_COMPLETE\n",
        );
        assert_eq!(
            from_events_reader(events.as_bytes()),
            Some(usage(1200, 300, 45, 20, 1245))
        );
    }

    #[test]
    fn defaults_and_ties() {
        let a = "{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":3,\"output_tokens\":4,\"thinking_tokens\":2}}}";
        assert_eq!(from_line(a), Some(usage(3, 0, 4, 2, 7)));
        let b = "{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":5,\"output_tokens\":2,\"cached_input_tokens\":1}}}";
        let both = format!("{a}\n{b}\n");
        assert_eq!(
            from_events_reader(both.as_bytes()),
            Some(usage(5, 1, 2, 0, 7))
        );
        // Missing output tokens: not a candidate.
        assert_eq!(
            from_line(
                "{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":3}}}"
            ),
            None
        );
        // A non-integer total falls back to in + out.
        assert_eq!(
            from_line("{\"type\":\"token_count\",\"info\":{\"last_token_usage\":{\"input_tokens\":3,\"output_tokens\":1.0,\"total_tokens\":\"x\"}}}"),
            Some(usage(3, 0, 1, 0, 4))
        );
        assert_eq!(from_events_reader("".as_bytes()), None);
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let max = u64::MAX;
        let line = format!("{{\"type\":\"turn.completed\",\"usage\":{{\"input_tokens\":{max},\"output_tokens\":{max}}}}}\n");
        let events = format!("{line}{line}");
        assert_eq!(
            from_events_reader(events.as_bytes()),
            Some(usage(max, 0, max, 0, max))
        );
    }

    #[test]
    fn a_tally_fed_line_by_line_agrees_with_the_file_reader() {
        let events = concat!(
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":100,\"output_tokens\":20}}\n",
            "not json\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":50,\"output_tokens\":10}}\n",
        );
        let mut tally = Tally::default();
        for line in events.lines() {
            tally.line(line);
        }
        assert_eq!(tally.usage(), from_events_reader(events.as_bytes()));
        assert_eq!(tally.usage(), Some(usage(150, 0, 30, 0, 180)));
    }

    #[test]
    fn turn_completed_usage_is_summed_when_there_is_no_token_count() {
        let events = concat!(
            "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":100,\"cached_input_tokens\":40,\"output_tokens\":20,\"reasoning_output_tokens\":5}}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":50,\"cached_input_tokens\":0,\"output_tokens\":10}}\n",
        );
        assert_eq!(
            from_events_reader(events.as_bytes()),
            Some(usage(150, 40, 30, 5, 180))
        );
    }
}
