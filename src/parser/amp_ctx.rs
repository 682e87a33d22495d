//! Context composition of Amp threads (`docs/composition.md`, "Amp").
//!
//! A thread document's `messages[]` is the conversation Amp sends the model, in Anthropic-style
//! content blocks (`text`, `thinking`, `tool_use`, `tool_result` with `toolUseID` and a `run`,
//! `image`). It is walked once more by byte spans (no text is decoded or kept) and measured per
//! message into a [`Tally`]; a request made for the assistant message at index `i` was sent
//! messages `0 .. i` ([`Thread::before`]).
//!
//! Kinds: user text (an `info` message's blocks too, except its summary), assistant text,
//! thinking (`thinking`, `redacted_thinking`; a `signature` is not counted), tool calls
//! (`tool_use`), tool results per tool name (`tool_result` by `toolUseID` / `tool_use_id`; a
//! `run.progress` beside a `run.result` is what the UI showed, not counted; an image inside is
//! an image), images, and summaries (an `info` message's `summary` block: a compaction, the
//! messages before it are no longer sent).

use super::context::{id_key, is_tool_name, json, Names, Tally};
use crate::event::CtxKind;
use crate::tailer::PreHashed;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
    Info,
    Other,
}

/// One message, as sizes.
#[derive(Debug, Default)]
struct Msg {
    tally: Tally,
    /// It holds a summary: the messages before it are replaced by it.
    compaction: bool,
}

/// A thread's messages, as sizes.
#[derive(Debug, Default)]
pub struct Thread {
    msgs: Vec<Msg>,
    /// Tool names of the thread.
    pub names: Names,
}

/// Walks the messages; `calls` maps tool-use ids to names across the thread.
struct Walker<'a> {
    b: &'a [u8],
    calls: HashMap<i64, u16, PreHashed>,
    names: Names,
}

fn text_kind(role: Role) -> CtxKind {
    match role {
        Role::Assistant => CtxKind::Assistant,
        _ => CtxKind::User,
    }
}

/// Walks the array at `s` (a tool result's content or `run.result`): images and documents in
/// it are counted in `images`, their bytes in `media`. Returns its end.
fn media_array(b: &[u8], s: usize, images: &mut u64, media: &mut usize) -> Option<usize> {
    json::elements_at(b, s, &mut |s| {
        let e = json::value(b, s)?;
        let head = &b[s..e.min(s + 40)];
        if memchr::memmem::find(head, b"\"image\"").is_some()
            || memchr::memmem::find(head, b"\"document\"").is_some()
        {
            *images += 1;
            *media += e - s;
        }
        Some(e)
    })
}

impl Walker<'_> {
    fn tool(&mut self, name: &[u8]) -> u16 {
        if is_tool_name(name) {
            self.names.id(&String::from_utf8_lossy(name))
        } else {
            self.names.id("unknown tool")
        }
    }

    /// One message object at `s`: its sizes and end.
    fn message(&mut self, s: usize) -> Option<(Msg, usize)> {
        let b = self.b;
        let mut m = Msg::default();
        let mut role = None;
        let mut content = None;
        let e = json::fields_at(b, s, &mut |k, vs| {
            let e = match (k, role) {
                // Measured in the walk when the role came first (as Amp writes it), else after.
                (b"content", Some(r)) => self.content(vs, r, &mut m)?,
                (b"content", None) => {
                    content = Some(vs);
                    json::value(b, vs)?
                }
                _ => json::value(b, vs)?,
            };
            if k == b"role" {
                role = Some(match json::str_at(b, vs, e) {
                    Some(b"user") => Role::User,
                    Some(b"assistant") => Role::Assistant,
                    Some(b"info") => Role::Info,
                    _ => Role::Other,
                });
            }
            Some(json::Step::Took(e))
        })?;
        if let Some(cs) = content {
            self.content(cs, role.unwrap_or(Role::Other), &mut m)?;
        }
        Some((m, e))
    }

    /// A message's content at `s` (a string or an array of blocks); returns its end.
    fn content(&mut self, s: usize, role: Role, m: &mut Msg) -> Option<usize> {
        let b = self.b;
        match b.get(s)? {
            b'"' => {
                let e = json::string(b, s)?;
                m.tally.add(text_kind(role), (e - s) as u64);
                Some(e)
            }
            b'[' => json::elements_at(b, s, &mut |bs| self.block(bs, role, m)),
            _ => json::value(b, s),
        }
    }

    /// One content block at `bs`; returns its end.
    fn block(&mut self, bs: usize, role: Role, m: &mut Msg) -> Option<usize> {
        let b = self.b;
        if b.get(bs) != Some(&b'{') {
            let be = json::value(b, bs)?;
            m.tally.add(text_kind(role), (be - bs) as u64);
            return Some(be);
        }
        let mut ty: &[u8] = b"";
        let (mut id, mut name, mut use_id) = (None, None, None);
        let (mut skip, mut media, mut images) = (0usize, 0usize, 0u64);
        let (mut progress, mut result) = (0usize, false);
        let be = json::fields_at(b, bs, &mut |k, s| {
            let e = match k {
                b"content" if b.get(s) == Some(&b'[') => {
                    media_array(b, s, &mut images, &mut media)?
                }
                b"run" if b.get(s) == Some(&b'{') => json::fields_at(b, s, &mut |rk, rs| {
                    let re = match rk {
                        b"result" if b.get(rs) == Some(&b'[') => {
                            media_array(b, rs, &mut images, &mut media)?
                        }
                        _ => json::value(b, rs)?,
                    };
                    match rk {
                        b"result" => result = true,
                        b"progress" => progress = re - rs,
                        _ => {}
                    }
                    Some(json::Step::Took(re))
                })?,
                _ => json::value(b, s)?,
            };
            match k {
                b"type" => ty = json::str_at(b, s, e).unwrap_or(b""),
                b"id" => id = json::str_at(b, s, e),
                b"name" => name = json::str_at(b, s, e),
                b"toolUseID" | b"tool_use_id" => use_id = json::str_at(b, s, e),
                // A thinking block's signature is not sent as tokens of text.
                b"signature" => skip += e - s,
                _ => {}
            }
            Some(json::Step::Took(e))
        })?;
        if result {
            skip += progress;
        }
        let len = (be - bs).saturating_sub(skip) as u64;
        m.tally.images += images;
        match ty {
            b"text" => m.tally.add(text_kind(role), len),
            b"thinking" | b"redacted_thinking" | b"reasoning" => {
                m.tally.add(CtxKind::Thinking, len)
            }
            b"tool_use" | b"server_tool_use" => {
                m.tally.add(CtxKind::ToolCall, len);
                if let (Some(id), Some(name)) = (id, name) {
                    let n = self.tool(name);
                    self.calls.insert(id_key(id), n);
                }
            }
            b"tool_result" => {
                let tool = match use_id.and_then(|u| self.calls.get(&id_key(u)).copied()) {
                    Some(t) => t,
                    None => self.names.id("unknown tool"),
                };
                m.tally.add_tool(tool, len.saturating_sub(media as u64));
            }
            b"image" | b"document" | b"file" => m.tally.images += 1,
            b"summary" => {
                m.tally.add(CtxKind::Summary, len);
                m.compaction = true;
            }
            _ => m.tally.add(text_kind(role), len),
        }
        Some(be)
    }
}

impl Thread {
    /// Reads the bytes of a thread document (an object with `messages[]`); `None` when they are
    /// not that.
    pub fn read(b: &[u8]) -> Option<Thread> {
        let i = json::ws(b, 0);
        let mut at = None;
        json::fields_at(b, i, &mut |k, s| {
            if k == b"messages" && b.get(s) == Some(&b'[') {
                at = Some(s);
                return Some(json::Step::Stop);
            }
            Some(json::Step::Skip)
        })?;
        let mut w = Walker {
            b,
            calls: HashMap::default(),
            names: Names::default(),
        };
        let mut msgs = Vec::new();
        json::elements_at(b, at?, &mut |s| {
            if b.get(s) != Some(&b'{') {
                msgs.push(Msg::default());
                return json::value(b, s);
            }
            let (m, e) = w.message(s)?;
            msgs.push(m);
            Some(e)
        })?;
        Some(Thread {
            msgs,
            names: w.names,
        })
    }

    /// How many messages the thread has.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// True when the thread has no messages.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// For each message index of `ats`, what a request answered by that message was sent: the
    /// messages before it, from the last compaction before it on (`None`: nothing measured).
    /// One pass over the messages, whatever the order of `ats`.
    pub fn before(&self, ats: &[usize]) -> Vec<Option<Tally>> {
        let mut order: Vec<usize> = (0..ats.len()).collect();
        order.sort_by_key(|k| ats[*k]);
        let mut out = vec![None; ats.len()];
        let mut acc = Tally::default();
        let mut j = 0;
        for k in order {
            let at = ats[k].min(self.msgs.len());
            while j < at {
                let m = &self.msgs[j];
                if m.compaction {
                    acc = Tally::default();
                }
                acc.merge(&m.tally);
                j += 1;
            }
            out[k] = (!acc.is_empty()).then(|| acc.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_blocks_by_kind() {
        let doc = br#"{"id":"T-1","messages":[
{"role":"user","content":[{"type":"text","text":"hello"},{"type":"image","source":{"type":"base64","data":"AAAA"}}]},
{"content":[{"type":"thinking","thinking":"hmm","signature":"SIG"},{"type":"tool_use","id":"t1","name":"Read","input":{}}],"role":"assistant"},
{"role":"user","content":[{"type":"tool_result","toolUseID":"t1","run":{"status":"done","result":"data","progress":"xx"}}]},
{"role":"info","content":[{"type":"summary","summary":{"type":"message","summary":"s"}}]},
{"role":"assistant","content":"ok"}],"v":3}"#;
        let t = Thread::read(doc).unwrap();
        assert_eq!(t.len(), 5);
        let r = t.before(&[4, 3, 0]);
        let three = r[1].as_ref().unwrap();
        assert_eq!(three.bytes[CtxKind::User.index()], 30);
        assert_eq!(three.images, 1);
        // `"signature":"SIG"`'s value span is 5 bytes.
        let thinking = r#"{"type":"thinking","thinking":"hmm","signature":"SIG"}"#.len() - 5;
        assert_eq!(three.bytes[CtxKind::Thinking.index()], thinking as u64);
        let result = r#"{"type":"tool_result","toolUseID":"t1","run":{"status":"done","result":"data","progress":"xx"}}"#.len() - 4;
        assert_eq!(three.tools, vec![(0, result as u64)]);
        assert_eq!(t.names.name(0), "Read");
        // After the summary only the summary is sent.
        let four = r[0].as_ref().unwrap();
        assert_eq!(four.bytes[CtxKind::User.index()], 0);
        assert!(four.bytes[CtxKind::Summary.index()] > 0);
        assert!(r[2].is_none());
        // Torn documents are no thread, never a panic.
        for cut in 0..doc.len() {
            let _ = Thread::read(&doc[..cut]);
        }
    }
}
