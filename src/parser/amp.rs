//! Amp (Sourcegraph): `${XDG_DATA_HOME:-~/.local/share}/amp/threads/T-*.json`, one JSON document
//! per thread, rewritten in place (log-formats §11).
//!
//! Two schemas: older threads keep `usageLedger.events[]` (`{id, timestamp, model, tokens:{input,
//! output, total}, toMessageId}`, cache breakdown in `messages[toMessageId].usage`); current ones
//! put `usage {model, timestamp, inputTokens, outputTokens, cacheCreationInputTokens,
//! cacheReadInputTokens, totalTokens}` on assistant messages. A thread is read one way only:
//! ledger events when there are any, else message usage — never both. Input is exclusive of
//! cache (Anthropic style). `credits` are Amp's billing unit, not dollars: not a cost. When only
//! a total is logged it is counted as output and the event is marked estimated.

use super::common::{self};
use super::{FileState, Format, ParseError, Parser, WholeReport};
use crate::event::{Merge, Tokens, UsageEvent};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Tool id.
pub const TOOL: &str = "amp";

/// Amp's thread documents.
pub struct AmpParser;

fn msg_id(m: &Value) -> Option<String> {
    m.get("messageId").and_then(common::scalar_string)
}

fn tokens(input: i64, output: i64, cw: i64, cr: i64, total: i64) -> (Tokens, bool) {
    let mut t = Tokens {
        input,
        cache_write_5m: cw,
        cache_write_1h: 0,
        cache_read: cr,
        output,
        reasoning: 0,
    };
    let mut estimated = false;
    if t.total() == 0 && total > 0 {
        t.output = total;
        estimated = true;
    }
    (t, estimated)
}

fn ledger_event(
    ev: &Value,
    thread: &str,
    cache: &HashMap<String, (i64, i64)>,
) -> Result<Option<UsageEvent>, ParseError> {
    let t = ev.get("tokens").unwrap_or(&Value::Null);
    let (cw, cr) = ev
        .get("toMessageId")
        .and_then(common::scalar_string)
        .and_then(|id| cache.get(&id).copied())
        .unwrap_or((0, 0));
    let (tk, estimated) = tokens(
        common::count_at(t, "input", "tokens.input")?,
        common::count_at(t, "output", "tokens.output")?,
        cw,
        cr,
        common::count_at(t, "total", "tokens.total")?,
    );
    if tk.is_zero() {
        return Ok(None);
    }
    let id = common::text(ev, "id").ok_or_else(|| ParseError("ledger event has no `id`".into()))?;
    let ts = ev
        .get("timestamp")
        .and_then(common::timestamp)
        .ok_or_else(|| ParseError("ledger event has no valid `timestamp`".into()))?;
    let mut e = common::event(
        TOOL,
        format!("{TOOL}:{thread}:ledger:{id}"),
        Merge::LastWins,
        ts,
        tk,
    );
    e.estimated = estimated;
    e.model = common::text(ev, "model");
    e.session_id = Some(thread.to_string());
    Ok(Some(e))
}

fn message_event(m: &Value, i: usize, thread: &str) -> Result<Option<UsageEvent>, ParseError> {
    if m.get("role").and_then(Value::as_str) != Some("assistant") {
        return Ok(None);
    }
    let Some(u) = m.get("usage").filter(|u| !u.is_null()) else {
        return Ok(None);
    };
    if !u.is_object() {
        return Err(ParseError("`usage` is not an object".into()));
    }
    let (tk, estimated) = tokens(
        common::count_at(u, "inputTokens", "usage.inputTokens")?,
        common::count_at(u, "outputTokens", "usage.outputTokens")?,
        common::count_at(
            u,
            "cacheCreationInputTokens",
            "usage.cacheCreationInputTokens",
        )?,
        common::count_at(u, "cacheReadInputTokens", "usage.cacheReadInputTokens")?,
        common::count_at(u, "totalTokens", "usage.totalTokens")?,
    );
    if tk.is_zero() {
        return Ok(None);
    }
    let ts = u
        .get("timestamp")
        .or_else(|| m.get("timestamp"))
        .and_then(common::timestamp)
        .ok_or_else(|| ParseError("message usage has no valid `timestamp`".into()))?;
    let id = msg_id(m).unwrap_or_else(|| format!("#{i}"));
    let mut e = common::event(
        TOOL,
        format!("{TOOL}:{thread}:msg:{id}"),
        Merge::LastWins,
        ts,
        tk,
    );
    e.estimated = estimated;
    e.model = common::text(u, "model").or_else(|| common::text(m, "model"));
    e.session_id = Some(thread.to_string());
    e.msg_id = msg_id(m);
    Ok(Some(e))
}

impl Parser for AmpParser {
    fn tool(&self) -> &str {
        TOOL
    }

    fn format(&self) -> Format {
        Format::WholeFile
    }

    fn parse_whole(
        &self,
        path: &Path,
        _state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        let mut report = WholeReport::default();
        let Some(doc) = common::read_json_doc(path, &mut report)? else {
            return Ok(report);
        };
        if !doc.is_object() {
            report.bad("thread is not a JSON object");
            return Ok(report);
        }
        let thread = common::text(&doc, "id")
            .or_else(|| common::file_stem(path))
            .unwrap_or_else(|| "unknown".into());
        let empty = Vec::new();
        let messages = doc
            .get("messages")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let ledger = doc
            .get("usageLedger")
            .and_then(|l| l.get("events"))
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        match ledger {
            Some(events) => {
                let mut cache = HashMap::new();
                for m in messages {
                    if let (Some(id), Some(u)) = (msg_id(m), m.get("usage")) {
                        let cw = common::count_at(
                            u,
                            "cacheCreationInputTokens",
                            "usage.cacheCreationInputTokens",
                        );
                        let cr = common::count_at(
                            u,
                            "cacheReadInputTokens",
                            "usage.cacheReadInputTokens",
                        );
                        if let (Ok(cw), Ok(cr)) = (cw, cr) {
                            cache.insert(id, (cw, cr));
                        }
                    }
                }
                for ev in events {
                    match ledger_event(ev, &thread, &cache) {
                        Ok(Some(e)) => out.push(e),
                        Ok(None) => {}
                        Err(e) => report.bad(e.0),
                    }
                }
            }
            None => {
                for (i, m) in messages.iter().enumerate() {
                    match message_event(m, i, &thread) {
                        Ok(Some(e)) => out.push(e),
                        Ok(None) => {}
                        Err(e) => report.bad(e.0),
                    }
                }
            }
        }
        Ok(report)
    }
}
