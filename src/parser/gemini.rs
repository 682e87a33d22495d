//! Gemini CLI chats: `~/.gemini/tmp/<project>/chats/session-*.jsonl` (append-only records) and
//! legacy `session-*.json` (one document, rewritten in place).
//!
//! Rules (log-formats §3): a message id seen again replaces the earlier record (last wins);
//! `$set.messages` snapshots are upserted by id too; the legacy `.json` and the `.jsonl` a
//! resume migrates it into share (sessionId, message id) keys, so they count once. Tokens:
//! `input` includes `cached` (uncached = input - cached); `thoughts` are billed as output but are
//! not in `output` (output = output + thoughts, reasoning = thoughts); `tool` prompt tokens are
//! input. `$rewindTo` drops messages from the conversation, not from the bill.
//!
//! Each request (a `gemini` record with tokens) carries its context split (`gemini_ctx`,
//! `docs/composition.md`): the conversation is kept in the file's in-memory state.

use super::common::{self, sub0};
use super::gemini_ctx::Conversation;
use super::{FileState, Format, ParseError, Parser, WholeReport};
use crate::event::{Merge, Tokens, UsageEvent};
use serde_json::Value;
use std::path::Path;

/// Tool id.
pub const TOOL: &str = "gemini-cli";

/// Gemini CLI's chat files.
pub struct GeminiParser {
    /// Whole-file legacy `.json` (true) or JSONL (false).
    pub legacy: bool,
}

/// Disjoint buckets of one Gemini `tokens` object.
pub fn tokens_of(t: &Value) -> Result<Tokens, ParseError> {
    if !t.is_object() {
        return Err(ParseError("`tokens` is not an object".into()));
    }
    let input = common::count_at(t, "input", "tokens.input")?;
    let cached = common::count_at(t, "cached", "tokens.cached")?;
    let output = common::count_at(t, "output", "tokens.output")?;
    let thoughts = common::count_at(t, "thoughts", "tokens.thoughts")?;
    let tool = common::count_at(t, "tool", "tokens.tool")?;
    // Current builds report input including cached tokens. A cached count above the input can
    // only come from a build that reported them apart: then input is already uncached.
    let uncached = if cached <= input {
        sub0(input, cached)
    } else {
        input
    };
    Ok(Tokens {
        input: uncached + tool,
        cache_read: cached,
        output: output + thoughts,
        reasoning: thoughts,
        ..Tokens::default()
    })
}

/// The event for one message record, if it is a model response with token counts.
fn message_event(
    m: &Value,
    session: &str,
    st: &FileState,
) -> Result<Option<UsageEvent>, ParseError> {
    if m.get("type").and_then(Value::as_str) != Some("gemini") {
        return Ok(None);
    }
    let Some(t) = m.get("tokens").filter(|t| !t.is_null()) else {
        // Tokens arrive later: the record is written again with them.
        return Ok(None);
    };
    let id =
        common::text(m, "id").ok_or_else(|| ParseError("gemini message has no `id`".into()))?;
    let tokens = tokens_of(t)?;
    if tokens.is_zero() {
        return Ok(None);
    }
    let ts = m
        .get("timestamp")
        .and_then(common::timestamp)
        .ok_or_else(|| ParseError("gemini message has no valid `timestamp`".into()))?;
    let mut e = common::event(
        TOOL,
        format!("{TOOL}:{session}:{id}"),
        Merge::LastWins,
        ts,
        tokens,
    );
    e.model = common::text(m, "model");
    e.session_id = Some(session.to_string());
    e.cwd = st.cwd.clone();
    e.msg_id = Some(id);
    Ok(Some(e))
}

/// Each request's context split, from the conversation as it stands.
fn split(c: &mut Conversation, events: &mut [UsageEvent]) {
    for e in events {
        if let Some(id) = e.msg_id.as_deref() {
            e.ctx = c
                .request(id, e.tokens.prompt_total())
                .map(crate::event::Ctx::from);
        }
    }
}

/// First entry of a `directories` array: the workspace the session ran in.
fn first_dir(v: &Value) -> Option<String> {
    v.get("directories")?
        .as_array()?
        .iter()
        .find_map(|d| d.as_str().filter(|s| !s.is_empty()).map(str::to_string))
}

/// Newer builds name project folders with a short id registered in `~/.gemini/projects.json`
/// (`{"projects": {"/abs/cwd": "name"}}`): map the folder back to its directory.
fn project_cwd(path: &Path) -> Option<String> {
    // <gemini>/tmp/<project>/chats/[<parent>/]<file>
    let mut dir = path.parent()?;
    while dir.file_name()? != "chats" {
        dir = dir.parent()?;
    }
    let project_dir = dir.parent()?;
    let project = project_dir.file_name()?.to_str()?;
    let gemini = project_dir.parent()?.parent()?;
    let bytes = std::fs::read(gemini.join("projects.json")).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("projects")?
        .as_object()?
        .iter()
        .find(|(_, name)| name.as_str() == Some(project))
        .map(|(cwd, _)| cwd.clone())
}

fn fallback_session(path: &Path) -> String {
    common::file_stem(path).unwrap_or_else(|| "unknown".into())
}

impl GeminiParser {
    fn resolve_cwd_once(&self, path: &Path, st: &mut FileState) {
        if st.cwd.is_none() && !st.extra.contains_key("cwd_looked_up") {
            st.extra.insert("cwd_looked_up".into(), Value::Bool(true));
            st.cwd = project_cwd(path);
        }
    }
}

impl Parser for GeminiParser {
    fn tool(&self) -> &str {
        TOOL
    }

    fn keeps_context(&self) -> bool {
        !self.legacy
    }

    fn format(&self) -> Format {
        if self.legacy {
            Format::WholeFile
        } else {
            Format::Lines
        }
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
        if !v.is_object() {
            return Err(ParseError("record is not a JSON object".into()));
        }
        self.resolve_cwd_once(path, state);
        if let Some(set) = v.get("$set") {
            if let Some(d) = first_dir(set) {
                state.cwd = Some(d);
            }
            let Some(msgs) = set.get("messages") else {
                return Ok(());
            };
            let msgs = msgs
                .as_array()
                .ok_or_else(|| ParseError("`$set.messages` is not an array".into()))?;
            let session = state
                .session_id
                .clone()
                .unwrap_or_else(|| fallback_session(path));
            // All or nothing for one line.
            let mut events = Vec::new();
            for m in msgs {
                if let Some(e) = message_event(m, &session, state)? {
                    events.push(e);
                }
            }
            state.scratch.with(|c: &mut Conversation| {
                c.snapshot(line);
                split(c, &mut events);
            });
            out.extend(events);
            return Ok(());
        }
        if let Some(r) = v.get("$rewindTo") {
            if let Some(id) = r.as_str() {
                state
                    .scratch
                    .with(|c: &mut Conversation| c.rewind(id.as_bytes()));
            }
            return Ok(());
        }
        if v.get("id").is_none() && v.get("type").is_none() {
            // Session metadata (first line).
            if let Some(s) = common::text(&v, "sessionId") {
                state.session_id = Some(s);
            }
            if let Some(d) = first_dir(&v) {
                state.cwd = Some(d);
            }
            return Ok(());
        }
        let session = state
            .session_id
            .clone()
            .unwrap_or_else(|| fallback_session(path));
        let e = message_event(&v, &session, state)?;
        state.scratch.with(|c: &mut Conversation| {
            c.message(line);
            let mut e: Vec<UsageEvent> = e.into_iter().collect();
            split(c, &mut e);
            out.extend(e);
        });
        Ok(())
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
        drop(bytes);
        let Some(msgs) = doc.get("messages").and_then(Value::as_array) else {
            report.bad("legacy session has no `messages` array");
            return Ok(report);
        };
        let session = common::text(&doc, "sessionId").unwrap_or_else(|| fallback_session(path));
        let mut st = FileState::default();
        if let Some(d) = first_dir(&doc) {
            st.cwd = Some(d);
        }
        self.resolve_cwd_once(path, &mut st);
        let first = out.len();
        for m in msgs {
            match message_event(m, &session, &st) {
                Ok(Some(e)) => out.push(e),
                Ok(None) => {}
                Err(e) => report.bad(e.0),
            }
        }
        // The conversation is measured on the messages written compactly, as the `.jsonl` a
        // resume migrates them into has them (the legacy file is indented): the same split.
        if out.len() > first {
            let compact = serde_json::to_vec(&doc["messages"]).unwrap_or_default();
            let mut c = Conversation::default();
            c.replace(&compact, 0);
            split(&mut c, &mut out[first..]);
        }
        Ok(report)
    }
}
