//! Context composition of Codex requests (`docs/composition.md`).
//!
//! Codex sends the model its history of `response_item`s, in the order the rollout writes
//! them: messages (user, developer, assistant), reasoning, tool calls and their outputs. A
//! call's response items (reasoning, assistant text, tool calls) are written before the call's
//! `token_count` event, its tool outputs after it: the input of a call is the history as it
//! stood at the first output item of its response (or, for a call that wrote none, at its
//! `token_count`). Two rules change the history besides appending:
//!
//! - reasoning is sent again only within a tool loop: a new user message drops all of it
//!   (`docs/composition-calibration.md`, "Codex reasoning");
//! - a `compacted` line replaces it: by its `replacement_history` (kept messages and an
//!   encrypted `compaction` summary item), or, in rollouts of older versions that write only
//!   the summary `message`, by the user and developer messages kept so far plus that summary.
//!
//! Forks and sub-agents replay their parent's rollout first: the replayed lines are followed
//! the same way, so the fork's own calls see the whole history. Sizes only, never text: an
//! item counts as the raw span of its `payload` object (images inside it count apart).

use super::context::{id_key, is_tool_name, json, Names, Tally, CODEX};
use crate::event::{Ctx, CtxKind};
use crate::tailer::PreHashed;
use std::collections::HashMap;

/// A legacy compaction keeps at most this many bytes of user messages (Codex keeps about 20k
/// tokens of them; 3.5 bytes per token).
const KEPT_USER_BYTES: u64 = 70_000;

/// One rollout's history, as sizes.
#[derive(Default)]
pub struct History {
    /// What the model was sent before the response being written (all of it when none is).
    hist: Tally,
    /// The items written since the response began (its output, and any tool output written
    /// before its `token_count`): history again once the response's call is counted.
    pending: Tally,
    /// A response is being written.
    open: bool,
    /// call_id hash -> tool name id.
    calls: HashMap<i64, u16, PreHashed>,
    names: Names,
    /// The last tool name looked up and its id (most calls repeat the previous tool).
    last: Option<(Vec<u8>, u16)>,
}

/// What one item is, as far as the history goes.
#[derive(Clone, Copy)]
enum Item {
    /// A part of the model's response (reasoning, text, a tool call).
    Output(CtxKind),
    /// Sent to the model: a user message (`true`: drops reasoning) or anything else.
    Input(CtxKind, bool),
    /// A tool's output, of this tool.
    Result(u16),
    /// Not sent (ghost snapshots and unknown items).
    None,
}

/// An item's kind, bytes (images taken out) and images.
struct Measured(Item, u64, u64);

impl Measured {
    fn add_to(&self, t: &mut Tally) {
        let Measured(it, len, images) = *self;
        match it {
            Item::Output(k) | Item::Input(k, _) => t.add(k, len),
            Item::Result(tool) => t.add_tool(tool, len),
            Item::None => return,
        }
        t.images += images;
    }
}

impl History {
    /// A `response_item` line whose payload object spans `b[ps..pe]`.
    pub fn item(&mut self, b: &[u8], ps: usize, pe: usize) {
        let Some(m) = self.measure(b, ps, pe) else {
            return;
        };
        match m.0 {
            Item::None => return,
            Item::Output(_) => self.open = true,
            Item::Input(_, true) => {
                // A new turn: a response left without a token_count (an aborted turn) is
                // over, and the reasoning of the earlier turns is not sent again.
                self.close();
                self.hist.bytes[CtxKind::Thinking.index()] = 0;
            }
            _ => {}
        }
        m.add_to(if self.open {
            &mut self.pending
        } else {
            &mut self.hist
        });
    }

    /// The response being written is over: its items join the history.
    fn close(&mut self) {
        if self.open {
            self.hist.merge(&self.pending);
            self.pending.bytes = [0; 8];
            self.pending.tools.clear();
            self.pending.images = 0;
            self.open = false;
        }
    }

    /// A `compacted` line whose payload object spans `b[ps..pe]`: the history is replaced.
    pub fn compacted(&mut self, b: &[u8], ps: usize, pe: usize) {
        let mut repl: Option<(usize, usize)> = None;
        let mut msg: Option<(usize, usize)> = None;
        let _ = json::fields(&b[..pe], ps, &mut |k, s, e| match k {
            b"replacement_history" if b[s] == b'[' => repl = Some((s, e)),
            b"message" => msg = Some((s, e)),
            _ => {}
        });
        self.close();
        let mut h = Tally::default();
        if let Some((s, _)) = repl {
            let _ = json::elements_at(&b[..pe], s, &mut |s| {
                let e = json::value(b, s)?;
                if b[s] == b'{' {
                    if let Some(m) = self.measure(b, s, e) {
                        m.add_to(&mut h);
                    }
                }
                Some(e)
            });
        } else {
            // Older rollouts: Codex rebuilds the history from its initial context, the user
            // messages (about 20k tokens of them) and the summary.
            let (u, sy) = (CtxKind::User.index(), CtxKind::System.index());
            h.bytes[sy] = self.hist.bytes[sy];
            h.bytes[u] = self.hist.bytes[u].min(KEPT_USER_BYTES);
            h.images = self.hist.images;
            if let Some((s, e)) = msg {
                h.add(CtxKind::Summary, (e - s) as u64);
            }
        }
        self.hist = h;
    }

    /// The composition of the call a counted `token_count` event stands for, for its input
    /// total: the history before its response. The response then joins the history.
    pub fn compose(&mut self, total: i64) -> Option<Ctx> {
        let c = self.hist.compose_ctx(&self.names, &CODEX, total);
        self.close();
        c
    }

    /// [`History::measure`] of the items Codex writes most, in the field order it writes
    /// them (`{"type":"reasoning",…`, `{"type":"message","role":"…",…` without an image,
    /// `{"type":"function_call_output","call_id":"…","output":"…`): read by their first bytes.
    /// `None` for anything else, which the walk reads.
    fn quick(&mut self, b: &[u8], ps: usize) -> Option<Measured> {
        let len = (b.len() - ps) as u64;
        let (ty, rest) = quoted(b.get(ps..)?.strip_prefix(b"{\"type\":\"")?)?;
        match ty {
            b"reasoning" => Some(Measured(Item::Output(CtxKind::Thinking), len, 0)),
            b"message" => {
                let (role, rest) = quoted(rest.strip_prefix(b",\"role\":\"")?)?;
                if image_finder().find(rest).is_some() {
                    return None;
                }
                let it = match role {
                    b"assistant" => Item::Output(CtxKind::Assistant),
                    b"user" => Item::Input(CtxKind::User, true),
                    _ => Item::Input(CtxKind::System, false),
                };
                Some(Measured(it, len, 0))
            }
            b"function_call_output" | b"custom_tool_call_output" | b"local_shell_call_output" => {
                let (call, rest) = quoted(rest.strip_prefix(b",\"call_id\":\"")?)?;
                rest.strip_prefix(b",\"output\":\"")?;
                let tool = self
                    .calls
                    .get(&id_key(call))
                    .copied()
                    .unwrap_or_else(|| self.names.id("unknown tool"));
                Some(Measured(Item::Result(tool), len, 0))
            }
            _ => None,
        }
    }

    /// The id of a tool name.
    fn tool(&mut self, name: &[u8]) -> u16 {
        if let Some((n, id)) = &self.last {
            if n == name {
                return *id;
            }
        }
        let id = if is_tool_name(name) {
            self.names.id(&String::from_utf8_lossy(name))
        } else {
            self.names.id("unknown tool")
        };
        self.last = Some((name.to_vec(), id));
        id
    }

    /// The item whose payload spans `b[ps..pe]`; `None` when it is not an object.
    fn measure(&mut self, b: &[u8], ps: usize, pe: usize) -> Option<Measured> {
        let b = &b[..pe];
        if let Some(m) = self.quick(b, ps) {
            return Some(m);
        }
        let mut ty: &[u8] = b"";
        let mut role: &[u8] = b"";
        let mut name: Option<&[u8]> = None;
        let mut call: Option<&[u8]> = None;
        // Bytes of images inside the item (taken out of its size), and how many.
        let (mut media, mut images) = (0usize, 0u64);
        // One walk over the item, stopped as soon as the rest is not needed: large strings
        // (tool outputs, encrypted reasoning, patches) are never scanned.
        json::fields_at(b, ps, &mut |k, s| {
            use json::Step;
            match k {
                b"type" | b"role" | b"name" | b"call_id" => {
                    let e = json::value(b, s)?;
                    let v = json::str_at(b, s, e).unwrap_or(b"");
                    match k {
                        b"type" => ty = v,
                        b"role" => role = v,
                        b"name" => name = Some(v),
                        _ => call = Some(v),
                    }
                    Some(Step::Took(e))
                }
                // Message content or a tool output made of content items: images in it (only
                // looked for when the rest of the line names one).
                b"content" | b"output" if b.get(s) == Some(&b'[') => {
                    if image_finder().find(&b[s..]).is_none() {
                        return Some(if enough(ty, role, call, name) {
                            Step::Stop
                        } else {
                            Step::Skip
                        });
                    }
                    let e = json::elements_at(b, s, &mut |s| {
                        let e = json::value(b, s)?;
                        let head = &b[s..e.min(s + 48)];
                        if head.windows(13).any(|w| w == b"\"input_image\"") {
                            images += 1;
                            media += e - s;
                        }
                        Some(e)
                    })?;
                    Some(Step::Took(e))
                }
                _ => Some(if enough(ty, role, call, name) {
                    Step::Stop
                } else {
                    Step::Skip
                }),
            }
        })?;
        let len = (pe - ps).saturating_sub(media) as u64;
        let it = match ty {
            b"message" => match role {
                b"assistant" => Item::Output(CtxKind::Assistant),
                b"user" => Item::Input(CtxKind::User, true),
                _ => Item::Input(CtxKind::System, false),
            },
            b"reasoning" => Item::Output(CtxKind::Thinking),
            b"function_call" | b"custom_tool_call" | b"local_shell_call" => {
                if let Some(c) = call {
                    let id = self.tool(match name {
                        Some(n) if !n.is_empty() => n,
                        _ => b"local_shell",
                    });
                    self.calls.insert(id_key(c), id);
                }
                Item::Output(CtxKind::ToolCall)
            }
            b"web_search_call" | b"image_generation_call" => Item::Output(CtxKind::ToolCall),
            b"function_call_output" | b"custom_tool_call_output" | b"local_shell_call_output" => {
                let tool = call
                    .and_then(|c| self.calls.get(&id_key(c)).copied())
                    .unwrap_or_else(|| self.names.id("unknown tool"));
                Item::Result(tool)
            }
            b"compaction" | b"compaction_summary" => Item::Input(CtxKind::Summary, false),
            _ => Item::None,
        };
        Some(Measured(it, len, images))
    }
}

/// The string contents at the start of `b` up to its closing quote (none escaped), and what
/// follows the quote.
fn quoted(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr2(b'"', b'\\', b)?;
    (b[end] == b'"').then(|| (&b[..end], &b[end + 1..]))
}

/// True when an item's walk has read all it needs (its type, and a call's id and name): the
/// rest of it is only measured, not read.
fn enough(ty: &[u8], role: &[u8], call: Option<&[u8]>, name: Option<&[u8]>) -> bool {
    match ty {
        b"" => false,
        b"message" => !role.is_empty(),
        b"function_call" | b"custom_tool_call" => call.is_some() && name.is_some(),
        b"local_shell_call" => call.is_some(),
        t if t.ends_with(b"_output") => call.is_some(),
        _ => true,
    }
}

impl History {
    /// A `response_item` (or, `compacted` true, a `compacted`) line. `payload` is where its
    /// payload object starts when the caller knows it: the shape Codex writes,
    /// `{"timestamp":"…","type":"response_item","payload":{…}}`, is measured without walking
    /// to the payload's end (it ends where the line does); any other shape is walked whole.
    pub fn line(&mut self, line: &[u8], compacted: bool, payload: Option<usize>) {
        let b = line.trim_ascii_end();
        let quick = payload
            .filter(|p| b.get(*p) == Some(&b'{') && b.ends_with(b"}}"))
            .map(|p| (p, b.len() - 1));
        let span = quick.or_else(|| {
            let (mut ty, mut payload): (&[u8], _) = (b"", None);
            json::fields(b, json::ws(b, 0), &mut |k, s, e| match k {
                b"type" => ty = json::str_at(b, s, e).unwrap_or(b""),
                b"payload" if b[s] == b'{' => payload = Some((s, e)),
                _ => {}
            })?;
            let want: &[u8] = if compacted {
                b"compacted"
            } else {
                b"response_item"
            };
            payload.filter(|_| ty == want)
        });
        match span {
            Some((s, e)) if compacted => self.compacted(b, s, e),
            Some((s, e)) => self.item(b, s, e),
            None => {}
        }
    }
}

/// Finds `"input_image"` (built once).
fn image_finder() -> &'static memchr::memmem::Finder<'static> {
    static F: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();
    F.get_or_init(|| memchr::memmem::Finder::new(b"\"input_image\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any prefix of a history line, or of its payload, is read without a panic (a torn or
    /// corrupted line only loses its item).
    #[test]
    fn cut_lines_never_panic() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/codex-ctx/sessions/2026/03/01/",
            "rollout-2026-03-01T10-00-00-019c9000-0000-7000-8000-00000000c0de.jsonl"
        );
        let text = std::fs::read(path).unwrap();
        let mut h = History::default();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let cuts: Vec<usize> = (0..line.len().min(400))
                .chain(line.len().saturating_sub(400)..=line.len())
                .collect();
            for c in cuts {
                let mut l = line[..c].to_vec();
                h.line(&l, false, Some(58));
                h.line(&l, true, None);
                h.line(&l, false, None);
                l.extend_from_slice(b"}}");
                h.line(&l, false, Some(58));
                h.line(&l, true, Some(c));
            }
        }
        assert!(h.compose(1_000).is_some());
    }
}
