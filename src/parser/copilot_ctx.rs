//! Context composition of GitHub Copilot CLI sessions (`docs/composition.md`, "Copilot CLI").
//!
//! Copilot CLI's `events.jsonl` holds the conversation (the system message, user messages as
//! sent, the assistant's messages with their reasoning and tool requests, and what each tool
//! returned to the model), but its tokens only as per-session counters in `session.shutdown`:
//! no request has an input total of its own. So the split is per shutdown record (one per
//! model and block of a session): the contexts of the block's requests (one per
//! `assistant.message`, each seeing the conversation as it stood before it) are summed, and
//! that sum is scaled to the record's exact input total. It answers "what was the input of
//! these requests made of", not "what did each request hold".
//!
//! Sizes only, never text: a part counts as the raw span of its JSON value in the line.

use super::context::{id_key, is_tool_name, json, Names, Tally, CLAUDE};
use crate::event::{Composition, CtxKind, UsageEvent};
use crate::tailer::{PreHashed, Scratch};
use std::collections::HashMap;

/// One session file's conversation, as sizes.
#[derive(Default)]
pub struct Conversation {
    /// Bytes of the latest system message (each interaction writes it again: it replaces the
    /// previous one, it is not added to the history).
    system: u64,
    /// The messages every later request is sent.
    hist: Tally,
    /// toolCallId hash -> tool name id.
    calls: HashMap<i64, u16, PreHashed>,
    names: Names,
    /// The requests of the current block (since its `session.start`/`session.resume`): per
    /// model as logged, their contexts summed.
    sent: Vec<(Option<String>, Tally)>,
}

/// Where the `data` object of an event line starts. The shape Copilot writes,
/// `{"type":"…","data":{…`, is read by its first bytes; any other is walked up to `data`.
fn data(b: &[u8]) -> Option<usize> {
    if let Some(rest) = b.strip_prefix(b"{\"type\":\"") {
        let q = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[q] == b'"' && rest[q + 1..].starts_with(b",\"data\":{") {
            return Some(b.len() - rest.len() + q + 9);
        }
    }
    let mut d = None;
    json::fields_at(b, json::ws(b, 0), &mut |k, s| {
        if k == b"data" && b.get(s) == Some(&b'{') {
            d = Some(s);
            return Some(json::Step::Stop);
        }
        Some(json::Step::Skip)
    })?;
    d
}

/// The event types the conversation is built from.
pub fn wants(ty: &str) -> bool {
    matches!(
        ty,
        "system.message"
            | "user.message"
            | "assistant.message"
            | "tool.execution_start"
            | "tool.execution_complete"
            | "session.compaction_complete"
            | "session.start"
            | "session.resume"
    )
}

impl Conversation {
    /// An event line of type `ty` (already read as JSON by the parser); `model` is the model
    /// in use.
    pub fn line(&mut self, ty: &str, b: &[u8], model: Option<&str>) {
        if matches!(ty, "session.start" | "session.resume") {
            self.sent.clear();
            return;
        }
        let Some(ds) = data(b) else {
            return;
        };
        match ty {
            "system.message" => {
                let _ = json::fields(b, ds, &mut |k, s, e| {
                    if k == b"content" {
                        self.system = (e - s) as u64;
                    }
                });
            }
            "user.message" => self.user(b, ds),
            "assistant.message" => self.assistant(b, ds, model),
            "tool.execution_start" => {
                let (mut id, mut name) = (None, None);
                let _ = json::fields(b, ds, &mut |k, s, e| match k {
                    b"toolCallId" => id = json::str_at(b, s, e),
                    b"toolName" => name = json::str_at(b, s, e),
                    _ => {}
                });
                if let (Some(id), Some(name)) = (id, name) {
                    let n = self.tool(name);
                    self.calls.entry(id_key(id)).or_insert(n);
                }
            }
            "tool.execution_complete" => self.result(b, ds),
            _ => self.compacted(b, ds),
        }
    }

    /// A user message as sent (`transformedContent`: the typed text with the context Copilot
    /// adds), and its attachments.
    fn user(&mut self, b: &[u8], ds: usize) {
        let (mut sent, mut typed, mut attached) = (None, 0u64, 0u64);
        let _ = json::fields(b, ds, &mut |k, s, e| match k {
            b"transformedContent" => sent = Some((e - s) as u64),
            b"content" => typed = (e - s) as u64,
            b"attachments" if b[s] == b'[' => {
                let _ = json::elements(b, s, &mut |_, _| attached += 1);
            }
            _ => {}
        });
        self.hist.add(CtxKind::User, sent.unwrap_or(typed));
        self.hist.images += attached;
    }

    /// An assistant message: first the request it answers (the conversation so far), then its
    /// text, reasoning and tool requests join the conversation.
    fn assistant(&mut self, b: &[u8], ds: usize, model: Option<&str>) {
        let mut ctx = self.hist.clone();
        ctx.add(CtxKind::System, self.system);
        match self.sent.iter_mut().find(|s| s.0.as_deref() == model) {
            Some(s) => s.1.merge(&ctx),
            None => self.sent.push((model.map(str::to_string), ctx)),
        }
        let _ = json::fields_at(b, ds, &mut |k, s| {
            let e = match k {
                b"toolRequests" if b.get(s) == Some(&b'[') => {
                    json::elements_at(b, s, &mut |s| self.tool_request(b, s))?
                }
                _ => json::value(b, s)?,
            };
            match k {
                b"content" => self.hist.add(CtxKind::Assistant, (e - s) as u64),
                // The reasoning's text; `reasoningOpaque` (its signature or encrypted form)
                // is not counted, as Claude's thinking signature is not.
                b"reasoningText" => self.hist.add(CtxKind::Thinking, (e - s) as u64),
                _ => {}
            }
            Some(json::Step::Took(e))
        });
    }

    /// One tool request: its name and arguments are the call; its id names the result.
    fn tool_request(&mut self, b: &[u8], s: usize) -> Option<usize> {
        if b.get(s) != Some(&b'{') {
            return json::value(b, s);
        }
        let (mut id, mut name, mut len) = (None, None, 0u64);
        let e = json::fields(b, s, &mut |k, s, e| match k {
            b"toolCallId" => id = json::str_at(b, s, e),
            b"name" => {
                name = json::str_at(b, s, e);
                len += (e - s) as u64;
            }
            b"arguments" => len += (e - s) as u64,
            _ => {}
        })?;
        self.hist.add(CtxKind::ToolCall, len);
        if let (Some(id), Some(name)) = (id, name) {
            let n = self.tool(name);
            self.calls.insert(id_key(id), n);
        }
        Some(e)
    }

    /// A tool's result as the model gets it (`result.content`; `detailedContent` is for the
    /// screen), or its error.
    fn result(&mut self, b: &[u8], ds: usize) {
        use json::Step;
        let (mut id, mut content, mut error) = (None, None, 0u64);
        // Stopped once the id and the content are read: the screen's copy (`detailedContent`)
        // and the telemetry after them are not walked.
        let _ = json::fields_at(b, ds, &mut |k, s| {
            let e = match k {
                b"toolCallId" => {
                    let e = json::value(b, s)?;
                    id = json::str_at(b, s, e);
                    e
                }
                b"result" if b.get(s) == Some(&b'{') => json::fields_at(b, s, &mut |k, s| {
                    if k != b"content" {
                        return Some(Step::Skip);
                    }
                    content = Some((json::value(b, s)? - s) as u64);
                    Some(Step::Stop)
                })?,
                b"error" => {
                    let e = json::value(b, s)?;
                    error = (e - s) as u64;
                    e
                }
                _ => return Some(Step::Skip),
            };
            Some(if id.is_some() && content.is_some() {
                Step::Stop
            } else if e == 0 {
                // The result's walk stopped at its content: the rest of it is skipped.
                Step::Skip
            } else {
                Step::Took(e)
            })
        });
        let tool = id
            .and_then(|i| self.calls.get(&id_key(i)).copied())
            .unwrap_or_else(|| self.names.id("unknown tool"));
        self.hist.add_tool(tool, content.unwrap_or(error));
    }

    /// A successful compaction: its summary stands for the conversation before it.
    fn compacted(&mut self, b: &[u8], ds: usize) {
        let (mut ok, mut summary) = (false, 0u64);
        let _ = json::fields(b, ds, &mut |k, s, e| match k {
            b"success" => ok = &b[s..e] == b"true",
            b"summaryContent" => summary = (e - s) as u64,
            _ => {}
        });
        if ok {
            self.hist = Tally::default();
            self.hist.add(CtxKind::Summary, summary);
        }
    }

    fn tool(&mut self, name: &[u8]) -> u16 {
        if is_tool_name(name) {
            self.names.id(&String::from_utf8_lossy(name))
        } else {
            self.names.id("unknown tool")
        }
    }

    /// The split of one shutdown record of `model` whose input total is `total`: the contexts
    /// of the block's requests of that model (of every request when `only`: the record is the
    /// block's only one), scaled to the total.
    fn compose(&self, model: &str, only: bool, total: i64) -> Option<Composition> {
        let mut t = Tally::default();
        for (m, c) in &self.sent {
            if only || m.as_deref() == Some(model) {
                t.merge(c);
            }
        }
        if t.is_empty() {
            return None;
        }
        t.compose(&self.names, &CLAUDE, total)
    }
}

/// A `session.shutdown` wrote `records` (its exact figures per model): each gets the split of
/// the block's requests of its model, and the block is over.
pub fn settle(scratch: &mut Scratch, records: &mut [UsageEvent]) {
    scratch.with(|c: &mut Conversation| {
        let only = records.len() == 1;
        for e in records.iter_mut() {
            let Some(model) = e.model.as_deref() else {
                continue;
            };
            e.ctx = c
                .compose(model, only, e.tokens.prompt_total())
                .map(crate::event::Ctx::from);
        }
        c.sent.clear();
    });
}
