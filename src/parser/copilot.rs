//! GitHub Copilot CLI: `~/.copilot/session-state/<sessionId>/events.jsonl` (older builds:
//! `session-state/<sessionId>.jsonl`).
//!
//! Tokens exist only in `session.shutdown` events, as `modelMetrics.<model>.usage` counters that
//! are cumulative for the session so far (log-formats §7). A resumed session appends another
//! start…shutdown block whose metrics continue from the previous total, and blocks can be
//! written twice. Per (session, model) only the increase over the largest earlier snapshot is
//! counted, field by field; the counters live in the file's checkpointed state.
//!
//! `inputTokens` includes `cacheReadTokens` and `cacheWriteTokens`; `reasoningTokens` is inside
//! `outputTokens`. `requests.cost` counts premium requests, not dollars: not a cost.
//!
//! Live estimate: until a block's `session.shutdown` arrives, its `assistant.message` events'
//! `outputTokens` add up to one *estimated* event per block (`copilot-cli:<session>:live:<n>`,
//! output only, one request per message, re-emitted as it grows). The shutdown settles it: the
//! same key is written again with nothing in it, and the exact metrics count under their own
//! keys, so the estimate is replaced exactly (a later copy of the estimate never undoes that,
//! [`Merge::Estimate`]). `session.usage_checkpoint` carries premium requests only, no tokens.
//!
//! Each shutdown record carries the context split of its block's requests, summed
//! ([`copilot_ctx`], `docs/composition.md`): the log has no per-request input total.

/// `counters` slot of the running estimate: [output, messages, block number].
const LIVE: &str = "\u{1f}live";

use super::common::{self, sub0};
use super::copilot_ctx::{self, Conversation};
use super::{FileState, Format, ParseError, Parser};
use crate::event::{Merge, Tokens, UsageEvent};
use serde_json::Value;
use std::path::Path;

/// Tool id.
pub const TOOL: &str = "copilot-cli";

/// GitHub Copilot CLI's session event logs.
pub struct CopilotParser;

/// Index of each raw counter in the per-(session, model) state vector.
const IN: usize = 0;
const CR: usize = 1;
const CW: usize = 2;
const OUT: usize = 3;
const RS: usize = 4;
const REQ: usize = 5;
/// Number of increases emitted so far (numbers the dedup keys).
const SEQ: usize = 6;

fn session_of(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "events.jsonl") {
        common::parent_name(path)
    } else {
        common::file_stem(path)
    }
    .unwrap_or_else(|| "unknown".into())
}

fn context(data: &Value, st: &mut FileState) {
    if let Some(s) = common::text(data, "sessionId") {
        st.session_id = Some(s);
    }
    let Some(ctx) = data.get("context") else {
        return;
    };
    if let Some(c) = common::text(ctx, "cwd").or_else(|| common::text(ctx, "gitRoot")) {
        st.cwd = Some(c);
    }
    if let Some(b) = common::text(ctx, "branch") {
        st.branch = Some(b);
    }
    if let Some(r) = common::text(ctx, "repository") {
        st.repo = Some(match common::text(ctx, "repositoryHost") {
            Some(h) if !r.contains('/') || !r.starts_with(&h) => format!("{h}/{r}"),
            _ => r,
        });
    }
}

impl Parser for CopilotParser {
    fn tool(&self) -> &str {
        TOOL
    }

    fn format(&self) -> Format {
        Format::Lines
    }

    fn keeps_context(&self) -> bool {
        true
    }

    fn parse_line(
        &self,
        line: &[u8],
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<(), ParseError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let v: Value = serde_json::from_slice(line)?;
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ParseError("event has no `type`".into()))?;
        let data = v.get("data").unwrap_or(&Value::Null);
        if copilot_ctx::wants(ty) {
            let model = state.model.as_deref();
            state
                .scratch
                .with(|c: &mut Conversation| c.line(ty, line, model));
        }
        match ty {
            "session.start" | "session.resume" => {
                context(data, state);
                Ok(())
            }
            "session.model_change" => {
                if let Some(m) = common::text(data, "newModel") {
                    state.model = Some(m);
                }
                Ok(())
            }
            "assistant.message" => {
                let out_tokens = common::count_at(data, "outputTokens", "outputTokens")?;
                if out_tokens == 0 {
                    return Ok(());
                }
                let ts = v
                    .get("timestamp")
                    .and_then(common::timestamp)
                    .ok_or_else(|| ParseError("message event has no valid `timestamp`".into()))?;
                let session = state.session_id.clone().unwrap_or_else(|| session_of(path));
                let slot = state
                    .counters
                    .entry(LIVE.into())
                    .or_insert_with(|| vec![0; 3]);
                slot.resize(3, 0);
                slot[0] += out_tokens;
                slot[1] += 1;
                let tokens = Tokens {
                    output: slot[0],
                    ..Tokens::default()
                };
                let mut e = common::event(
                    TOOL,
                    format!("{TOOL}:{session}:live:{}", slot[2]),
                    Merge::Estimate,
                    ts,
                    tokens,
                );
                e.requests = slot[1];
                e.estimated = true;
                e.model = state.model.clone();
                e.session_id = Some(session);
                e.cwd = state.cwd.clone();
                e.branch = state.branch.clone();
                e.repo_hint = state.repo.clone();
                out.push(e);
                Ok(())
            }
            "session.shutdown" => {
                let ts = v
                    .get("timestamp")
                    .and_then(common::timestamp)
                    .ok_or_else(|| ParseError("shutdown event has no valid `timestamp`".into()))?;
                let Some(metrics) = data.get("modelMetrics").filter(|m| !m.is_null()) else {
                    return Ok(());
                };
                let metrics = metrics
                    .as_object()
                    .ok_or_else(|| ParseError("`modelMetrics` is not an object".into()))?;
                // Read every model first: a bad one rejects the whole line, state untouched.
                let mut snaps = Vec::new();
                for (model, m) in metrics {
                    let u = m.get("usage").unwrap_or(&Value::Null);
                    let raw = [
                        common::count_at(u, "inputTokens", "usage.inputTokens")?,
                        common::count_at(u, "cacheReadTokens", "usage.cacheReadTokens")?,
                        common::count_at(u, "cacheWriteTokens", "usage.cacheWriteTokens")?,
                        common::count_at(u, "outputTokens", "usage.outputTokens")?,
                        common::count_at(u, "reasoningTokens", "usage.reasoningTokens")?,
                        common::count(
                            m.get("requests").and_then(|r| r.get("count")),
                            "requests.count",
                        )?,
                    ];
                    snaps.push((model.clone(), raw));
                }
                let session = state.session_id.clone().unwrap_or_else(|| session_of(path));
                // Settle this block's live estimate: the metrics below are the exact figures.
                let live = state
                    .counters
                    .entry(LIVE.into())
                    .or_insert_with(|| vec![0; 3]);
                live.resize(3, 0);
                if live[1] > 0 {
                    let mut e = common::event(
                        TOOL,
                        format!("{TOOL}:{session}:live:{}", live[2]),
                        Merge::LastWins,
                        ts,
                        Tokens::default(),
                    );
                    e.requests = 0;
                    e.session_id = Some(session.clone());
                    out.push(e);
                }
                live[0] = 0;
                live[1] = 0;
                live[2] += 1;
                let first = out.len();
                for (model, raw) in snaps {
                    let slot = state
                        .counters
                        .entry(format!("{session}\u{1f}{model}"))
                        .or_insert_with(|| vec![0; 7]);
                    slot.resize(7, 0);
                    let mut d = [0i64; 6];
                    for i in 0..6 {
                        if raw[i] > slot[i] {
                            d[i] = raw[i] - slot[i];
                            slot[i] = raw[i];
                        }
                    }
                    if d.iter().all(|x| *x == 0) {
                        continue; // a repeated or older snapshot
                    }
                    slot[SEQ] += 1;
                    let seq = slot[SEQ];
                    let tokens = Tokens {
                        input: sub0(d[IN], d[CR] + d[CW]),
                        cache_write_5m: d[CW],
                        cache_write_1h: 0,
                        cache_read: d[CR],
                        output: d[OUT],
                        reasoning: d[RS],
                    };
                    let mut e = common::event(
                        TOOL,
                        format!("{TOOL}:{session}:{model}:{seq}"),
                        Merge::FirstWins,
                        ts,
                        tokens,
                    );
                    e.requests = d[REQ];
                    e.model = Some(model);
                    e.session_id = Some(session.clone());
                    e.cwd = state.cwd.clone();
                    e.branch = state.branch.clone();
                    e.repo_hint = state.repo.clone();
                    out.push(e);
                }
                copilot_ctx::settle(&mut state.scratch, &mut out[first..]);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
