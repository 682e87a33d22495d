//! Context composition of Gemini CLI chats (`docs/composition.md`, "Gemini CLI").
//!
//! A chat file holds the conversation as message records (`user`, `gemini`, and notices that
//! are not sent: `info`, `error`, `warning`), each re-written under its id as it grows; a
//! request is one `gemini` record with `tokens`, and its input is the conversation before it:
//!
//! - `user` content (a string or Gemini parts; `displayContent` is the screen's copy): user text,
//!   images, and tool results it carries as `functionResponse` parts (counted once per call id:
//!   not again when the call's record already holds its result);
//! - `gemini` content (its text; thought parts are not sent back), and per `toolCalls` element
//!   the call (`name` + `args`) and its `result` (the `functionResponse` parts the model got,
//!   under the tool's name; `resultDisplay` is the screen's);
//! - thinking: the `tokens.thoughts` of the model's messages since the last user message with
//!   text. Gemini CLI keeps the thought signatures within a tool loop and strips them at every
//!   new prompt, and the API bills the reasoning they carry as input (measured on the real
//!   sample: `docs/composition-calibration.md`, "Gemini CLI"). Counted in tokens, not bytes.
//!
//! `$rewindTo` drops that message and everything after it from the conversation (not from the
//! bill); a `$set.messages` snapshot replaces the conversation by its list (newer builds write
//! the history so after a compression: a user message holding `<state_snapshot>` is the
//! summary). A request's context is fixed the first time it is seen with tokens: a later copy
//! of its record (a masked tool output synced back, a snapshot) keeps the split it had.
//!
//! Sizes only, never text: a part counts as the raw span of its JSON value in the line.

use super::context::{id_key, is_tool_name, json, Names, Tally, GEMINI};
use super::gemini_parts::{self, PartKind};
use crate::event::{Composition, CtxKind};
use crate::tailer::PreHashed;
use std::collections::{HashMap, HashSet};

/// One message of the conversation, as sizes.
#[derive(Debug, Clone, Default)]
struct Msg {
    key: i64,
    /// What it adds to a later request's input (tool results of its own calls included).
    tally: Tally,
    /// Its `toolCalls` ids: their results are in `tally`.
    calls: Vec<i64>,
    /// `functionResponse` parts of a user message: (call id, tool, bytes), counted unless the
    /// call's own record carries its result.
    responses: Vec<(Option<i64>, u16, u64)>,
    /// A user message with text: a new prompt, the earlier thinking drops out.
    prompt: bool,
    /// A model message's thinking tokens (`tokens.thoughts`).
    thoughts: u64,
}

/// The sums over the first `len` messages (extended as requests come; reset when a message
/// inside it changes).
#[derive(Default)]
struct Prefix {
    len: usize,
    tally: Tally,
    calls: HashSet<i64, PreHashed>,
    thoughts: u64,
}

/// One chat file's conversation, as sizes.
#[derive(Default)]
pub struct Conversation {
    msgs: Vec<Msg>,
    /// Message id hash -> position in `msgs`.
    pos: HashMap<i64, usize, PreHashed>,
    /// Request id hash -> the context it was first seen with.
    seen: HashMap<i64, Tally, PreHashed>,
    names: Names,
    prefix: Prefix,
}

/// The integer at `b[s..e]`, if it is one.
fn int(b: &[u8], s: usize, e: usize) -> Option<u64> {
    std::str::from_utf8(&b[s..e]).ok()?.parse().ok()
}

impl Conversation {
    fn tool(&mut self, name: Option<&[u8]>) -> u16 {
        match name {
            Some(n) if is_tool_name(n) => self.names.id(&String::from_utf8_lossy(n)),
            _ => self.names.id("unknown tool"),
        }
    }

    /// Measures the message record at `b[s] == '{'`: its id hash and sizes. One walk: content
    /// and tool calls are measured where they are (Gemini CLI writes `id` and `type` first);
    /// a user record's walk stops after its content (`displayContent` is the screen's).
    fn measure(&mut self, b: &[u8], s: usize) -> Option<Msg> {
        use json::Step;
        let mut m = Msg::default();
        let (mut id, mut ty, mut late, mut done) = (None, None, None, false);
        let mut own_calls = Vec::new();
        json::fields_at(b, s, &mut |k, vs| {
            let ve = match k {
                b"id" | b"type" => {
                    let ve = json::value(b, vs)?;
                    let v = json::str_at(b, vs, ve);
                    if k == b"id" {
                        id = v;
                    } else {
                        ty = v;
                    }
                    ve
                }
                b"content" => match ty {
                    Some(b"user") => {
                        done = true;
                        self.user_content(b, vs, &mut m)?
                    }
                    Some(b"gemini") => self.model_content(b, vs, &mut m, &mut own_calls)?,
                    Some(_) => json::value(b, vs)?,
                    None => {
                        // The type comes later: measured after the walk.
                        late = Some(vs);
                        json::value(b, vs)?
                    }
                },
                b"toolCalls" if b.get(vs) == Some(&b'[') => {
                    json::elements_at(b, vs, &mut |s| self.tool_call(b, s, &mut m))?
                }
                b"tokens" if b.get(vs) == Some(&b'{') => json::fields(b, vs, &mut |k, s, e| {
                    if k == b"thoughts" {
                        m.thoughts = int(b, s, e).unwrap_or(0);
                    }
                })?,
                _ => return Some(Step::Skip),
            };
            Some(if done && id.is_some() {
                Step::Stop
            } else {
                Step::Took(ve)
            })
        })?;
        m.key = id_key(id?);
        match ty? {
            b"user" => {
                m.thoughts = 0;
                if let Some(cs) = late {
                    self.user_content(b, cs, &mut m);
                }
            }
            b"gemini" => {
                if let Some(cs) = late {
                    self.model_content(b, cs, &mut m, &mut own_calls);
                }
                // A call that is in the content and in `toolCalls` counts once.
                for (id, n) in own_calls {
                    if !id.is_some_and(|id| m.calls.contains(&id)) {
                        m.tally.add(CtxKind::ToolCall, n);
                    }
                }
            }
            // Notices (`info`, `error`, `warning`, …) are not sent: a place in the order only.
            _ => {
                let key = m.key;
                m = Msg {
                    key,
                    ..Msg::default()
                };
            }
        }
        Some(m)
    }

    /// A user message's content: its text (the summary, for the one a compression writes),
    /// images, and any tool results it carries. Returns the content's end.
    fn user_content(&mut self, b: &[u8], cs: usize, m: &mut Msg) -> Option<usize> {
        let mut text = 0u64;
        let end = gemini_parts::walk(b, cs, &mut |p| match p.kind {
            PartKind::Text if p.text > 2 => {
                text += p.bytes - p.signature;
                m.prompt = true;
            }
            PartKind::Text | PartKind::Thought => {}
            PartKind::Other => text += p.bytes,
            PartKind::Media => m.tally.images += 1,
            PartKind::Call | PartKind::Code => m.tally.add(CtxKind::ToolCall, p.bytes),
            PartKind::Response | PartKind::CodeResult => {
                let name = if p.kind == PartKind::CodeResult {
                    Some(&b"code_execution"[..])
                } else {
                    p.name
                };
                let tool = self.tool(name);
                m.responses.push((p.id.map(id_key), tool, p.bytes));
            }
        });
        let kind = match end {
            Some(e) if memchr::memmem::find(&b[cs..e], b"<state_snapshot>").is_some() => {
                CtxKind::Summary
            }
            _ => CtxKind::User,
        };
        m.tally.add(kind, text);
        end
    }

    /// A model message's content: its text and any calls written in it (thought parts are not
    /// sent back; signatures are not counted). Returns the content's end.
    fn model_content(
        &mut self,
        b: &[u8],
        cs: usize,
        m: &mut Msg,
        own_calls: &mut Vec<(Option<i64>, u64)>,
    ) -> Option<usize> {
        gemini_parts::walk(b, cs, &mut |p| match p.kind {
            PartKind::Text if p.text > 2 => m.tally.add(CtxKind::Assistant, p.bytes - p.signature),
            PartKind::Text | PartKind::Thought => {}
            PartKind::Other => m.tally.add(CtxKind::Assistant, p.bytes - p.signature),
            PartKind::Media => m.tally.images += 1,
            PartKind::Call => own_calls.push((p.id.map(id_key), p.bytes - p.signature)),
            PartKind::Code => m.tally.add(CtxKind::ToolCall, p.bytes - p.signature),
            PartKind::Response | PartKind::CodeResult => {
                let tool = self.tool(p.name);
                m.responses.push((p.id.map(id_key), tool, p.bytes));
            }
        })
    }

    /// One `toolCalls` element at `b[s]`: `name` + `args` are the call, `result` (the parts
    /// sent back) the tool's result. Returns the element's end.
    fn tool_call(&mut self, b: &[u8], s: usize, m: &mut Msg) -> Option<usize> {
        use json::Step;
        if b.get(s) != Some(&b'{') {
            return json::value(b, s);
        }
        let (mut id, mut name, mut call, mut bytes, mut images) = (None, None, 0u64, 0u64, 0u64);
        let mut named = None;
        let e = json::fields_at(b, s, &mut |k, vs| {
            let ve = match k {
                b"id" | b"name" => {
                    let ve = json::value(b, vs)?;
                    if k == b"id" {
                        id = json::str_at(b, vs, ve);
                    } else {
                        name = json::str_at(b, vs, ve);
                        call += (ve - vs) as u64;
                    }
                    ve
                }
                b"args" => {
                    let ve = json::value(b, vs)?;
                    call += (ve - vs) as u64;
                    ve
                }
                b"result" => gemini_parts::walk(b, vs, &mut |p| {
                    if p.kind == PartKind::Media {
                        images += 1;
                        return;
                    }
                    bytes += p.bytes;
                    if named.is_none() && p.kind == PartKind::Response {
                        named = p.name;
                    }
                })?,
                _ => return Some(Step::Skip),
            };
            Some(Step::Took(ve))
        })?;
        m.tally.add(CtxKind::ToolCall, call);
        if let Some(id) = id {
            m.calls.push(id_key(id));
        }
        // The call's name; else the one its response gives.
        let name = name.filter(|n| is_tool_name(n)).or(named);
        let tool = self.tool(name);
        m.tally.images += images;
        if bytes > 0 {
            m.tally.add_tool(tool, bytes);
        }
        Some(e)
    }

    fn invalidate_from(&mut self, i: usize) {
        if i < self.prefix.len {
            self.prefix = Prefix::default();
        }
    }

    /// A message record line (the object at the line's start): added, or put in the place of
    /// its earlier copy.
    pub fn message(&mut self, b: &[u8]) {
        let Some(m) = self.measure(b, json::ws(b, 0)) else {
            return;
        };
        match self.pos.get(&m.key) {
            Some(&i) => {
                self.invalidate_from(i);
                self.msgs[i] = m;
            }
            None => {
                self.pos.insert(m.key, self.msgs.len());
                self.msgs.push(m);
            }
        }
    }

    /// `$rewindTo`: the message with that id and all after it leave the conversation (all of
    /// it when the id is unknown, as Gemini CLI reads it).
    pub fn rewind(&mut self, id: &[u8]) {
        let at = self.pos.get(&id_key(id)).copied().unwrap_or(0);
        for m in self.msgs.drain(at..) {
            self.pos.remove(&m.key);
        }
        self.invalidate_from(at);
    }

    /// A `$set` line with `messages`: the conversation is that list.
    pub fn snapshot(&mut self, b: &[u8]) {
        let mut at = None;
        let _ = json::fields(b, json::ws(b, 0), &mut |k, s, _| {
            if k == b"$set" && b[s] == b'{' {
                let _ = json::fields(b, s, &mut |k, s, _| {
                    if k == b"messages" && b[s] == b'[' {
                        at = Some(s);
                    }
                });
            }
        });
        if let Some(s) = at {
            self.replace(b, s);
        }
    }

    /// The conversation becomes the message array at `b[s] == '['`.
    pub fn replace(&mut self, b: &[u8], s: usize) {
        self.msgs.clear();
        self.pos.clear();
        self.prefix = Prefix::default();
        let _ = json::elements(b, s, &mut |s, _| {
            if b[s] != b'{' {
                return;
            }
            if let Some(m) = self.measure(b, s) {
                match self.pos.get(&m.key) {
                    Some(&i) => self.msgs[i] = m,
                    None => {
                        self.pos.insert(m.key, self.msgs.len());
                        self.msgs.push(m);
                    }
                }
            }
        });
    }

    /// The sizes of everything before message `i`.
    fn context_at(&mut self, i: usize) -> Tally {
        if self.prefix.len > i {
            self.prefix = Prefix::default();
        }
        let Conversation { msgs, prefix, .. } = self;
        for m in &msgs[prefix.len..i] {
            prefix.tally.merge(&m.tally);
            prefix.calls.extend(m.calls.iter().copied());
            for (id, tool, n) in &m.responses {
                if !id.is_some_and(|id| prefix.calls.contains(&id)) {
                    prefix.tally.add_tool(*tool, *n);
                }
            }
            if m.prompt {
                prefix.thoughts = 0;
            }
            prefix.thoughts += m.thoughts;
        }
        prefix.len = i;
        let mut t = prefix.tally.clone();
        t.add(CtxKind::Thinking, prefix.thoughts);
        t
    }

    /// The split of the request of message `id` (already recorded) whose input total is
    /// `total`: the context it was first seen with, or the conversation before it now.
    pub fn request(&mut self, id: &str, total: i64) -> Option<Composition> {
        let key = id_key(id.as_bytes());
        let t = match self.seen.get(&key) {
            Some(t) => t.clone(),
            None => {
                let i = *self.pos.get(&key)?;
                let t = self.context_at(i);
                self.seen.insert(key, t.clone());
                t
            }
        };
        t.compose(&self.names, &GEMINI, total)
    }
}
