//! Context composition of OpenCode and Kilo CLI sessions (`docs/composition.md`, "OpenCode and
//! Kilo CLI").
//!
//! A request is one assistant message with tokens; its input is the session's messages before
//! it, in OpenCode's order, as OpenCode turns them into the model request:
//! - v1 database and legacy JSON (`MessageV2.toModelMessages`): a user message's text parts
//!   (synthetic ones included, `ignored` ones not), its file parts other than `text/plain` and
//!   directories (as attachments), a `compaction` part as its fixed question, a `subtask` part as
//!   its fixed sentence; an assistant message's text, reasoning, and tool parts (the tool's name
//!   and `state.input` as the call; `state.output` of a completed call, `state.error` of a failed
//!   one, a fixed "interrupted" line for a pending or running one as the result). Step, patch,
//!   snapshot, agent and retry parts are not sent. An assistant message with an error is left out
//!   (an aborted one with content is kept).
//! - v2 `session_message` (the `toLLMMessages` of OpenCode 2.x): a row per message with its
//!   content inline: user text and attached files, synthetic/skill/shell rows as user text,
//!   system rows, assistant `content` items (text, reasoning, tool calls with their results).
//! - Compaction. v1: once an assistant message with `summary: true` finishes without an error,
//!   the history before its parent user message (the one with the `compaction` part) drops out,
//!   except the messages from the part's `tail_start_id` on (OpenCode's `filterCompacted`). v2:
//!   history starts at the latest completed `compaction` row. The summary counts as kind summary.
//! - Steps (v1, legacy): one assistant message can hold several model calls, each opened by a
//!   `step-start` part. The message's own tokens are its last call's (OpenCode overwrites them at
//!   each step): that call saw the history plus the message's own parts before its step. When the
//!   parser sums the `step-finish` parts instead (the message's own tokens are zero), the split is
//!   the sum of every step's context, as the total is the sum of every step's input.
//! - Not followed: OpenCode's `prune`, which later marks old tool outputs `time.compacted` in
//!   place (the model then gets a placeholder). The parser reads a part once, so it cannot see
//!   that change, and counting it only on a full re-read would make the two reads differ: pruned
//!   outputs keep counting as tool results.
//!
//! Sizes only, never text: a part counts as the raw span of its JSON field (`text`, `input`,
//! `output`, ...), measured with [`json`] on the bytes the parser read.

use super::context::{id_key, is_tool_name, json, Names, Ratios, Tally, CLAUDE, CODEX};
use crate::event::{Composition, CtxKind, Tokens};
use serde_json::Value;
use std::collections::HashMap;

/// Where a message sits in its session: `(time_created, id)` (v1, legacy) or `(seq, "")` (v2).
pub type Order = (i64, String);

// The fixed texts OpenCode sends in place of some parts (their lengths count).
const COMPACTION_QUESTION: u64 = "What did we do so far?".len() as u64;
const SUBTASK_LINE: u64 = "The following tool was executed by the user".len() as u64;
const INTERRUPTED: u64 = "[Tool execution was interrupted]".len() as u64;

/// The bytes-per-token ratios of a model: Claude models' for Anthropic models, Codex's (o200k)
/// for OpenAI's, Claude's for the rest (assumed: no real sample; `docs/composition-calibration.md`).
pub fn ratios(model: Option<&str>, provider: Option<&str>) -> &'static Ratios {
    let m = model.unwrap_or("").to_ascii_lowercase();
    if m.contains("claude") {
        return &CLAUDE;
    }
    let openai = m.starts_with("gpt")
        || m.contains("/gpt")
        || m.contains("codex")
        || m.starts_with("o1")
        || m.starts_with("o3")
        || m.starts_with("o4")
        || provider.is_some_and(|p| p == "openai");
    if openai {
        &CODEX
    } else {
        &CLAUDE
    }
}

/// One message as it counts in later requests.
#[derive(Debug, Clone)]
struct Entry {
    order: Order,
    id: i64,
    tally: Tally,
    /// A user message with a `compaction` part: `Some(tail_start_id)`.
    compaction: Option<Option<i64>>,
}

/// What joining the history does besides adding a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cut {
    /// Nothing.
    #[default]
    None,
    /// v1: a finished summary answering user message `parent`.
    Summary {
        /// The id key of the user message with the `compaction` part.
        parent: i64,
    },
    /// v2: a completed compaction row: everything before it drops out.
    Checkpoint,
}

/// One session's history, as sizes.
#[derive(Debug, Default)]
pub struct Session {
    entries: Vec<Entry>,
    /// Sum of `entries`.
    sum: Tally,
    /// Every message of the session up to here (inclusive) is in `entries` or counts nothing.
    pub upto: Option<Order>,
}

impl Session {
    /// The history a message at `o` is sent with.
    pub fn before(&self, o: &Order) -> Tally {
        match self.entries.last() {
            None => Tally::default(),
            Some(l) if l.order < *o => self.sum.clone(),
            Some(_) => {
                let mut t = Tally::default();
                for e in self.entries.iter().filter(|e| e.order < *o) {
                    t.merge(&e.tally);
                }
                t
            }
        }
    }

    /// Adds (or replaces) the message `id` at `o`, then applies its cut.
    pub fn add(&mut self, o: Order, id: &str, m: Msg) {
        let id = id_key(id.as_bytes());
        if let Some(i) = self.entries.iter().position(|e| e.id == id) {
            // Re-read (it was still streaming): its new sizes replace the old ones.
            self.entries[i].tally = m.tally;
            self.entries[i].compaction = m.compaction;
            self.resum();
        } else {
            let at = self.entries.partition_point(|e| e.order < o);
            self.sum.merge(&m.tally);
            self.entries.insert(
                at,
                Entry {
                    order: o.clone(),
                    id,
                    tally: m.tally,
                    compaction: m.compaction,
                },
            );
            match m.cut {
                Cut::None => {}
                Cut::Checkpoint => {
                    self.entries.drain(..at);
                    self.resum();
                }
                Cut::Summary { parent } => {
                    let Some(p) = self.entries[..at]
                        .iter()
                        .position(|e| e.id == parent && e.compaction.is_some())
                    else {
                        return;
                    };
                    let start = match self.entries[p].compaction.flatten() {
                        Some(tail) => self.entries[..p]
                            .iter()
                            .position(|e| e.id == tail)
                            .unwrap_or(p),
                        None => p,
                    };
                    self.entries.drain(..start);
                    self.resum();
                }
            }
        }
        if self.upto.as_ref().is_none_or(|u| *u < o) {
            self.upto = Some(o);
        }
    }

    fn resum(&mut self) {
        self.sum = Tally::default();
        for e in &self.entries {
            self.sum.merge(&e.tally);
        }
    }
}

/// A database's (or a legacy session's) conversations.
#[derive(Debug, Default)]
pub struct Conv {
    /// Per session id.
    pub sessions: HashMap<String, Session>,
    /// Tool names.
    pub names: Names,
}

impl Conv {
    /// The split of a request: `hist` (its history) plus, per call counted, the message's own
    /// parts before that call; scaled to `total`.
    pub fn compose(
        &self,
        hist: &Tally,
        own: &Own,
        summed: bool,
        r: &Ratios,
        total: i64,
    ) -> Option<Composition> {
        let mut t = Tally::default();
        if summed && own.finishes > 1 {
            for i in 0..own.finishes {
                t.merge(hist);
                if let Some(s) = own.steps.get(i) {
                    t.merge(s);
                }
            }
        } else {
            t.merge(hist);
            if let Some(s) = own.steps.last() {
                t.merge(s);
            }
        }
        if t.is_empty() {
            return None;
        }
        t.compose(&self.names, r, total)
    }
}

/// The message-level fields that decide what a message sends (v1, legacy).
#[derive(Debug, Default, Clone)]
pub struct Head {
    /// `role == "user"`.
    pub user: bool,
    /// `role == "assistant"`.
    pub assistant: bool,
    /// An assistant compaction summary (`summary: true`) that finished without an error.
    pub summary_done: bool,
    /// `error` is set; `aborted`: it is `MessageAbortedError`.
    pub error: bool,
    /// See `error`.
    pub aborted: bool,
    /// `parentID`.
    pub parent: Option<String>,
}

impl Head {
    /// From the message JSON (already decoded by the parser: it is metadata only).
    pub fn of(v: &Value) -> Head {
        let role = v.get("role").and_then(Value::as_str);
        let err = v.get("error").filter(|e| !e.is_null());
        let assistant = role == Some("assistant");
        Head {
            user: role == Some("user"),
            assistant,
            summary_done: assistant
                && v.get("summary").and_then(Value::as_bool) == Some(true)
                && v.get("finish").is_some_and(|f| !f.is_null())
                && err.is_none(),
            error: err.is_some(),
            aborted: err
                .and_then(|e| e.get("name"))
                .and_then(Value::as_str)
                .is_some_and(|n| n == "MessageAbortedError"),
            parent: v
                .get("parentID")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

/// One message's parts, measured (v1, legacy): what the message adds to later requests, the
/// message's own parts before each of its calls, and the `step-finish` usage.
#[derive(Debug, Default, Clone)]
pub struct Own {
    /// Everything the message sends.
    pub tally: Tally,
    /// Own tally at each `step-start` (none: one call, before any part).
    pub steps: Vec<Tally>,
    /// Number of `step-finish` parts, and their summed usage.
    pub finishes: usize,
    /// See `finishes`.
    pub usage: (Tokens, f64),
    /// The tokens of the last `step-finish` part.
    pub last: Option<Tokens>,
    /// A part other than `step-start` and `reasoning` (an aborted message with one is sent).
    content: bool,
    /// Any part at all.
    parts: usize,
    /// A `compaction` part: its `tail_start_id`.
    compaction: Option<Option<i64>>,
    /// Malformed parts.
    pub bad: u64,
}

/// A message ready to join a session's history.
#[derive(Debug, Default)]
pub struct Msg {
    tally: Tally,
    compaction: Option<Option<i64>>,
    cut: Cut,
}

impl Own {
    /// Measures one part's JSON (`part.data`, or a legacy part file). `head` is its message.
    pub fn part(&mut self, b: &[u8], head: &Head, names: &mut Names) {
        self.parts += 1;
        let (mut ty, mut text, mut ignored, mut mime, mut tool, mut state, mut tail) =
            (None, None, false, None, None, None, None);
        let ok = json::fields(b, json::ws(b, 0), &mut |k, s, e| match k {
            b"type" => ty = json::str_at(b, s, e),
            b"text" => text = Some((e - s) as u64),
            b"ignored" => ignored = &b[s..e] == b"true",
            b"mime" => mime = json::str_at(b, s, e),
            b"tool" => tool = json::str_at(b, s, e),
            b"state" => state = Some((s, e)),
            b"tail_start_id" => tail = json::str_at(b, s, e).map(id_key),
            _ => {}
        });
        if ok.is_none() {
            self.bad += 1;
            return;
        }
        let ty = ty.unwrap_or_default();
        if ty != b"step-start" && ty != b"reasoning" {
            self.content = true;
        }
        let t = &mut self.tally;
        match ty {
            b"text" if !ignored => {
                let kind = if head.summary_done {
                    CtxKind::Summary
                } else if head.user {
                    CtxKind::User
                } else {
                    CtxKind::Assistant
                };
                t.add(kind, text.unwrap_or(0));
            }
            b"reasoning" if head.assistant => t.add(CtxKind::Thinking, text.unwrap_or(0)),
            // Text files and directories were turned into text parts when attached.
            b"file"
                if head.user
                    && !matches!(mime, Some(b"text/plain" | b"application/x-directory")) =>
            {
                t.images += 1
            }
            b"compaction" if head.user => {
                t.add(CtxKind::User, COMPACTION_QUESTION);
                self.compaction = Some(tail);
            }
            b"subtask" if head.user => t.add(CtxKind::User, SUBTASK_LINE),
            b"tool" if head.assistant => {
                let name = tool.unwrap_or_default();
                let id = if is_tool_name(name) {
                    names.id(&String::from_utf8_lossy(name))
                } else {
                    names.id("unknown tool")
                };
                let (mut status, mut input, mut output, mut error, mut media) =
                    (None, 0u64, None, None, 0u64);
                if let Some((s, _)) = state {
                    let _ = json::fields(b, s, &mut |k, s, e| match k {
                        b"status" => status = json::str_at(b, s, e),
                        b"input" => input = (e - s) as u64,
                        b"output" => output = Some((e - s) as u64),
                        b"error" => error = Some((e - s) as u64),
                        b"attachments" if b[s] == b'[' => {
                            let _ = json::elements(b, s, &mut |_, _| media += 1);
                        }
                        _ => {}
                    });
                }
                t.add(CtxKind::ToolCall, name.len() as u64 + 2 + input);
                match status {
                    Some(b"completed") => {
                        t.add_tool(id, output.unwrap_or(0));
                        t.images += media;
                    }
                    Some(b"error") => t.add_tool(id, error.unwrap_or(0)),
                    _ => t.add_tool(id, INTERRUPTED),
                }
            }
            b"step-start" => self.steps.push(self.tally.clone()),
            b"step-finish" => {
                self.finishes += 1;
                match serde_json::from_slice::<Value>(b)
                    .map_err(super::ParseError::from)
                    .and_then(|v| super::opencode::add_step_finish(&v, &mut self.usage))
                {
                    Ok(t) => self.last = t.or(self.last),
                    Err(_) => self.bad += 1,
                }
            }
            _ => {}
        }
    }

    /// What the message adds to later requests (nothing for a failed assistant message or one
    /// without parts).
    pub fn into_msg(self, head: &Head, id_of_parent: Option<&str>) -> Msg {
        let sent = self.parts > 0 && !(head.error && !(head.aborted && self.content));
        Msg {
            tally: if sent { self.tally } else { Tally::default() },
            compaction: self.compaction,
            cut: match (head.summary_done, id_of_parent) {
                (true, Some(p)) => Cut::Summary {
                    parent: id_key(p.as_bytes()),
                },
                _ => Cut::None,
            },
        }
    }
}

/// Measures one v2 `session_message` row of type `ty` (its `data`): what it adds to later
/// requests.
pub fn v2_row(ty: &str, b: &[u8], names: &mut Names) -> Msg {
    let mut t = Tally::default();
    let mut cut = Cut::None;
    let s0 = json::ws(b, 0);
    match ty {
        "user" => {
            let _ = json::fields(b, s0, &mut |k, s, e| match k {
                b"text" => t.add(CtxKind::User, (e - s) as u64),
                b"files" if b[s] == b'[' => {
                    let _ = json::elements(b, s, &mut |s, _| v2_file(b, s, &mut t));
                }
                _ => {}
            });
        }
        "synthetic" | "skill" => {
            let _ = json::fields(b, s0, &mut |k, s, e| {
                if k == b"text" {
                    t.add(CtxKind::User, (e - s) as u64)
                }
            });
        }
        "system" => {
            let _ = json::fields(b, s0, &mut |k, s, e| {
                if k == b"text" {
                    t.add(CtxKind::System, (e - s) as u64)
                }
            });
        }
        "shell" => {
            let _ = json::fields(b, s0, &mut |k, s, e| match k {
                b"command" => t.add(CtxKind::User, (e - s) as u64),
                b"output" if b[s] == b'{' => {
                    let _ = json::fields(b, s, &mut |k, s, e| {
                        if k == b"output" {
                            t.add(CtxKind::User, (e - s) as u64)
                        }
                    });
                }
                _ => {}
            });
        }
        "assistant" => {
            let _ = json::fields(b, s0, &mut |k, s, _| {
                if k == b"content" && b[s] == b'[' {
                    let _ = json::elements(b, s, &mut |s, _| v2_item(b, s, &mut t, names));
                }
            });
        }
        "compaction" => {
            let (mut done, mut n) = (false, 0u64);
            let _ = json::fields(b, s0, &mut |k, s, e| match k {
                b"status" => done = json::str_at(b, s, e) == Some(b"completed"),
                b"summary" | b"recent" => n += (e - s) as u64,
                _ => {}
            });
            if done {
                t.add(CtxKind::Summary, n);
                cut = Cut::Checkpoint;
            }
        }
        _ => {}
    }
    Msg {
        tally: t,
        compaction: None,
        cut,
    }
}

/// A v2 attached file: text files and directories are sent as their (base64-decoded) text,
/// images as images, other files not at all.
fn v2_file(b: &[u8], s: usize, t: &mut Tally) {
    let (mut mime, mut data) = (None, 0u64);
    let _ = json::fields(b, s, &mut |k, s, e| match k {
        b"mime" => mime = json::str_at(b, s, e),
        b"data" => data = (e - s) as u64,
        _ => {}
    });
    match mime {
        Some(b"text/plain" | b"application/x-directory") => t.add(CtxKind::User, data / 4 * 3),
        Some(m) if m.starts_with(b"image/") => t.images += 1,
        _ => {}
    }
}

/// A v2 assistant `content` item.
fn v2_item(b: &[u8], s: usize, t: &mut Tally, names: &mut Names) {
    let (mut ty, mut text, mut name, mut input, mut state) = (None, 0u64, None, 0u64, None);
    let _ = json::fields(b, s, &mut |k, s, e| match k {
        b"type" => ty = json::str_at(b, s, e),
        b"text" => text = (e - s) as u64,
        b"name" => name = json::str_at(b, s, e),
        b"input" => input = (e - s) as u64,
        b"state" => state = Some(s),
        _ => {}
    });
    match ty {
        Some(b"text") => t.add(CtxKind::Assistant, text),
        Some(b"reasoning") => t.add(CtxKind::Thinking, text),
        Some(b"tool") => {
            let name = name.unwrap_or_default();
            let id = if is_tool_name(name) {
                names.id(&String::from_utf8_lossy(name))
            } else {
                names.id("unknown tool")
            };
            let (mut status, mut sin, mut res) = (None, 0u64, 0u64);
            if let Some(s) = state.filter(|s| b[*s] == b'{') {
                let _ = json::fields(b, s, &mut |k, s, e| match k {
                    b"status" => status = json::str_at(b, s, e),
                    b"input" => sin = (e - s) as u64,
                    b"content" | b"structured" | b"result" | b"error" => res += (e - s) as u64,
                    _ => {}
                });
            }
            t.add(CtxKind::ToolCall, name.len() as u64 + 2 + input.max(sin));
            if matches!(status, Some(b"completed" | b"error")) {
                t.add_tool(id, res);
            }
        }
        _ => {}
    }
}
