//! Aider: `.aider.chat.history.md` at the root of each repository it ran in (log-formats §9).
//!
//! Aider has no global log directory. Roots are single files: `.aider.chat.history.md` in every
//! directory listed in `$TOKWATCH_AIDER_DIRS` (the OS path-list separator: `:` on Unix, `;` on
//! Windows), the file `$AIDER_CHAT_HISTORY_FILE` names when it is absolute, and the one in `~`
//! (not searched recursively).
//!
//! After every LLM call aider prints `> Tokens: 12k sent, 3.1k cache write, 8.2k cache hit, 512
//! received. Cost: $0.02 message, $0.10 session.` (the cache parts only when non-zero; with both
//! present, `Cost:` goes on the next line). The numbers are humanized (`1.2k`, `12k`), so every
//! event is marked estimated. The time is the session's `# aider chat started at …` header (local
//! time, no per-message time exists); the model is the latest `Main model:` banner.
//!
//! `sent` is the prompt as the provider counted it, plus cache writes for Anthropic; depending on
//! the litellm version it includes cache reads or not. Uncached input is `sent - cache write -
//! cache hit`, or `sent - cache write` when that would go below zero.

use super::common::{self, sub0};
use super::{FileState, Format, ParseError, Parser};
use crate::event::{Merge, Tokens, UsageEvent};
use regex::Regex;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

/// Tool id.
pub const TOOL: &str = "aider";
/// The history file Aider writes in the directory it runs in.
pub const FILE_NAME: &str = ".aider.chat.history.md";

/// Aider's `.aider.chat.history.md`.
pub struct AiderParser;

struct Res {
    header: Regex,
    model: Regex,
    tokens: Regex,
    cost: Regex,
}

fn res() -> &'static Res {
    static R: OnceLock<Res> = OnceLock::new();
    R.get_or_init(|| Res {
        header: Regex::new(r"^# aider chat started at (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})").unwrap(),
        model: Regex::new(r"^> (?:Main model|Model|Models): (\S+)").unwrap(),
        tokens: Regex::new(
            r"^> Tokens: (?P<sent>\S+) sent(?:, (?P<cw>\S+) cache write)?(?:, (?P<ch>\S+) cache hit)?, (?P<recv>\S+) received\.(?:\s+Cost: \$(?P<cost>\S+) message)?",
        )
        .unwrap(),
        cost: Regex::new(r"^(?:> )?Cost: \$(?P<cost>\S+) message").unwrap(),
    })
}

fn local_ms(s: &str) -> Option<i64> {
    use chrono::TimeZone;
    let n = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()?;
    chrono::Local
        .from_local_datetime(&n)
        .earliest()
        .map(|d| d.timestamp_millis())
}

fn num(caps: &regex::Captures, name: &str) -> Result<i64, ParseError> {
    match caps.name(name) {
        None => Ok(0),
        Some(m) => common::humanized(m.as_str())
            .map(|(n, _)| n)
            .ok_or_else(|| ParseError(format!("`{name}` of a Tokens line is not a number"))),
    }
}

fn cost(s: &str) -> Result<f64, ParseError> {
    s.trim_end_matches(',')
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| ParseError("the message cost is not a number".into()))
}

impl Parser for AiderParser {
    fn tool(&self) -> &str {
        TOOL
    }

    fn format(&self) -> Format {
        Format::Lines
    }

    fn parse_line(
        &self,
        line: &[u8],
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<(), ParseError> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end();
        if text.is_empty() {
            return Ok(());
        }
        let r = res();
        // The event of the previous line, waiting for a `Cost:` continuation line.
        let pending = state.extra.remove("pending");
        if let Some(c) = r.header.captures(text) {
            let ts = local_ms(&c[1]).ok_or_else(|| ParseError("bad session start time".into()))?;
            state.session_id = Some(format!("aider-{ts}"));
            state.extra.insert("start".into(), Value::from(ts));
            state.extra.insert("n".into(), Value::from(0));
            state.model = None;
            return Ok(());
        }
        if let Some(c) = r.model.captures(text) {
            state.model = Some(c[1].trim_end_matches(',').to_string());
            return Ok(());
        }
        if let Some(c) = r.cost.captures(text) {
            if let Some(p) = pending {
                let mut e: UsageEvent = serde_json::from_value(p)
                    .map_err(|_| ParseError("bad pending aider event in state".into()))?;
                e.reported_cost_usd = Some(cost(&c["cost"])?).filter(|c| *c >= 0.0);
                out.push(e); // same key, last wins: now with its cost
            }
            return Ok(());
        }
        if !text.starts_with("> Tokens:") {
            return Ok(());
        }
        let c = r
            .tokens
            .captures(text)
            .ok_or_else(|| ParseError("unrecognized Tokens line".into()))?;
        let (sent, cw, ch, recv) = (
            num(&c, "sent")?,
            num(&c, "cw")?,
            num(&c, "ch")?,
            num(&c, "recv")?,
        );
        let msg_cost = match c.name("cost") {
            Some(m) => Some(cost(m.as_str())?),
            None => None,
        };
        let start = state
            .extra
            .get("start")
            .and_then(Value::as_i64)
            .ok_or_else(|| ParseError("Tokens line before any session header".into()))?;
        let n = state.extra.get("n").and_then(Value::as_i64).unwrap_or(0) + 1;
        state.extra.insert("n".into(), Value::from(n));
        let cache = cw + ch;
        let tokens = Tokens {
            input: if sent >= cache {
                sent - cache
            } else {
                sub0(sent, cw)
            },
            cache_write_5m: cw,
            cache_write_1h: 0,
            cache_read: ch,
            output: recv,
            reasoning: 0,
        };
        let mut e = common::event(
            TOOL,
            format!("{TOOL}:{}:{start}:{n}", path.display()),
            Merge::LastWins,
            start,
            tokens,
        );
        e.estimated = true;
        e.reported_cost_usd = msg_cost.filter(|c| *c >= 0.0);
        e.model = state.model.clone();
        e.provider = e
            .model
            .as_deref()
            .and_then(|m| m.split_once('/'))
            .map(|(p, _)| p.to_string());
        e.session_id = state.session_id.clone();
        e.cwd = path.parent().map(|d| d.to_string_lossy().into_owned());
        if msg_cost.is_none() {
            state.extra.insert(
                "pending".into(),
                serde_json::to_value(&e).map_err(|_| ParseError("cannot keep event".into()))?,
            );
        }
        out.push(e);
        Ok(())
    }
}
