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
//!
//! Each request also gets its context split (`amp_ctx`, `docs/composition.md`, "Amp"): the
//! thread's messages before the assistant message it answered, measured by one more walk of
//! the document's bytes. An estimated event (only a total logged) has no known input total:
//! no split.

use super::amp_ctx::Thread;
use super::common::{self};
use super::context::CLAUDE;
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
        let bytes = common::read_file(path)?;
        let doc: Value = match serde_json::from_slice(&bytes) {
            Ok(d) => d,
            Err(e) => {
                report.bad(ParseError::from(e).0);
                return Ok(report);
            }
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
        // The events, and the index of the message each one's request answered.
        let mut found: Vec<UsageEvent> = Vec::new();
        let mut at: Vec<Option<usize>> = Vec::new();
        match ledger {
            Some(events) => {
                let mut cache = HashMap::new();
                let mut index = HashMap::new();
                for (i, m) in messages.iter().enumerate() {
                    let Some(id) = msg_id(m) else { continue };
                    index.entry(id.clone()).or_insert(i);
                    if let Some(u) = m.get("usage") {
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
                        Ok(Some(e)) => {
                            // The message the event's request answered (else no split).
                            let to = ev
                                .get("toMessageId")
                                .and_then(common::scalar_string)
                                .and_then(|id| index.get(&id).copied());
                            at.push(to);
                            found.push(e);
                        }
                        Ok(None) => {}
                        Err(e) => report.bad(e.0),
                    }
                }
            }
            None => {
                for (i, m) in messages.iter().enumerate() {
                    match message_event(m, i, &thread) {
                        Ok(Some(e)) => {
                            at.push(Some(i));
                            found.push(e);
                        }
                        Ok(None) => {}
                        Err(e) => report.bad(e.0),
                    }
                }
            }
        }
        split(&bytes, messages.len(), &mut found, &at);
        out.append(&mut found);
        Ok(report)
    }
}

/// Sets each event's context split (`amp_ctx`): the messages before the one at `at[k]`.
/// Estimated events (only a total logged) have no known input total and get none; nor does a
/// thread whose byte walk does not see the messages serde saw.
fn split(bytes: &[u8], n: usize, events: &mut [UsageEvent], at: &[Option<usize>]) {
    let wanted: Vec<usize> = events
        .iter()
        .zip(at)
        .filter(|(e, _)| !e.estimated)
        .filter_map(|(_, a)| *a)
        .collect();
    if wanted.is_empty() {
        return;
    }
    let Some(t) = Thread::read(bytes).filter(|t| t.len() == n) else {
        return;
    };
    let mut tallies = t.before(&wanted).into_iter();
    for (e, a) in events.iter_mut().zip(at) {
        if e.estimated || a.is_none() {
            continue;
        }
        if let Some(Some(tally)) = tallies.next() {
            // Claude's ratios for every model (assumed: docs/composition-calibration.md, "Amp").
            e.ctx = tally.compose_ctx(&t.names, &CLAUDE, e.tokens.prompt_total());
        }
    }
}
