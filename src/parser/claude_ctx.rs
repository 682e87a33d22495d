//! Context composition of Claude Code requests (`docs/composition.md`).
//!
//! Claude Code builds a request's input by following the `parentUuid` chain from the request's
//! first line back to the root: every line with a `uuid` is a node, user and assistant lines
//! carry content. A compaction starts a new root (`compact_boundary` has no parent) whose first
//! message is the summary (`isCompactSummary`). Subagents write their own files, each its own
//! chain. The graph holds sizes only (bytes per kind of content), never text.

use super::context::{json, Names, Tally, CLAUDE};
use crate::event::{Composition, CtxKind};
use crate::tailer::fnv1a;
use std::collections::HashMap;

const ROOT: u32 = u32::MAX;
const UNKNOWN: u32 = u32::MAX - 1;

struct Node {
    parent: u32,
    /// Hash of the assistant message id (0 for other lines): the lines of one response.
    msg: i64,
    own: Tally,
}

/// One file's conversation graph.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Node>,
    by_uuid: HashMap<i64, u32>,
    /// tool_use id hash -> tool name id.
    tools: HashMap<i64, u16>,
    names: Names,
    /// Assistant message id hash -> its first line: a response's lines all have the input of
    /// its first (tool results of parallel calls are written between them).
    first: HashMap<i64, u32>,
    /// The context of the last request's first node: a linear chain reuses it.
    cache: Option<(u32, Tally)>,
}

impl Graph {
    /// Adds a line to the graph (lines without a `uuid` are not part of it). Returns its node.
    pub fn note(&mut self, line: &[u8]) -> Option<u32> {
        use json::Step;
        let b = line;
        let start = json::ws(b, 0);
        let mut ty: &[u8] = b"";
        let mut uuid: Option<&[u8]> = None;
        let mut parent: Option<&[u8]> = None;
        let mut parent_seen = false;
        let mut summary = false;
        let mut message = false;
        let mut own = Tally::default();
        let mut msg_id: Option<&[u8]> = None;
        let mut role: &[u8] = b"";
        let (tools, names) = (&mut self.tools, &mut self.names);
        // One walk over the line: the message's content blocks are measured where they are
        // read. Claude Code writes `uuid` after `message` and before the large `toolUseResult`
        // (a copy of the tool's output that is not sent to the model): the walk stops there.
        json::fields_at(b, start, &mut |k, s| match k {
            b"type" | b"uuid" | b"parentUuid" => {
                let e = json::value(b, s)?;
                let v = json::str_at(b, s, e);
                match k {
                    b"type" => ty = v.unwrap_or(b""),
                    b"uuid" => uuid = v,
                    _ => {
                        parent = v;
                        parent_seen = true;
                    }
                }
                if uuid.is_some() && parent_seen && !ty.is_empty() && message {
                    return Some(Step::Stop);
                }
                Some(Step::Took(e))
            }
            b"isCompactSummary" => {
                let e = json::value(b, s)?;
                summary = &b[s..e] == b"true";
                Some(Step::Took(e))
            }
            b"message" if b[s] == b'{' => {
                message = true;
                let e = json::fields_at(b, s, &mut |k, s| match k {
                    b"id" | b"role" if b[s] == b'"' => {
                        let e = json::string(b, s)?;
                        if k == b"id" {
                            msg_id = json::str_at(b, s, e);
                        } else {
                            role = json::str_at(b, s, e).unwrap_or(b"");
                        }
                        Some(Step::Took(e))
                    }
                    b"content" => {
                        let kind = if role == b"assistant" {
                            CtxKind::Assistant
                        } else {
                            CtxKind::User
                        };
                        Some(Step::Took(content_sizes(
                            b, s, kind, tools, names, &mut own,
                        )?))
                    }
                    _ => Some(Step::Skip),
                })?;
                Some(Step::Took(e))
            }
            _ => Some(Step::Skip),
        })?;
        let uuid = uuid?;
        let parent = match parent {
            None => ROOT,
            Some(p) => *self.by_uuid.get(&fnv1a(p)).unwrap_or(&UNKNOWN),
        };
        let user = ty == b"user";
        let mut msg = 0;
        if !(user || ty == b"assistant") {
            own = Tally::default();
        } else if !user {
            msg = msg_id.map(fnv1a).unwrap_or(0);
        } else if summary {
            let u = CtxKind::User.index();
            own.bytes[CtxKind::Summary.index()] += own.bytes[u];
            own.bytes[u] = 0;
        }
        let idx = self.nodes.len() as u32;
        if idx >= UNKNOWN {
            return None;
        }
        if msg != 0 {
            self.first.entry(msg).or_insert(idx);
        }
        self.nodes.push(Node { parent, msg, own });
        self.by_uuid.insert(fnv1a(uuid), idx);
        Some(idx)
    }

    /// The composition of the request whose (first seen) line is `node`, for an input total:
    /// the content on its chain before the response began. `None` when the chain reaches a line
    /// this file does not hold.
    pub fn compose(&mut self, node: u32, total: i64) -> Option<Composition> {
        let tally = self.context(node)?;
        tally.compose(&self.names, &CLAUDE, total)
    }

    fn context(&mut self, node: u32) -> Option<Tally> {
        let mut n = self.nodes.get(node as usize)?;
        let msg = n.msg;
        if let Some(f) = self.first.get(&msg).filter(|_| msg != 0) {
            n = self.nodes.get(*f as usize)?;
        }
        let mut cur = n.parent;
        // Earlier lines of the same response are its output, not its input.
        while let Some(p) = self.nodes.get(cur as usize) {
            if msg != 0 && p.msg == msg {
                cur = p.parent;
            } else {
                break;
            }
        }
        let start = cur;
        let mut acc = Tally::default();
        let mut steps = 0usize;
        loop {
            match cur {
                ROOT => break,
                UNKNOWN => return None,
                p => {
                    if let Some((c, t)) = &self.cache {
                        if *c == p {
                            acc.merge(t);
                            break;
                        }
                    }
                    let node = self.nodes.get(p as usize)?;
                    acc.merge(&node.own);
                    cur = node.parent;
                    steps += 1;
                    if steps > self.nodes.len() {
                        return None; // a cycle: not a conversation
                    }
                }
            }
        }
        if start != ROOT {
            self.cache = Some((start, acc.clone()));
        }
        Some(acc)
    }
}

/// Adds the sizes of one message's content (a string, or an array of blocks) at `s` to
/// `own`; returns the content's end.
fn content_sizes(
    b: &[u8],
    s: usize,
    text_kind: CtxKind,
    tools: &mut HashMap<i64, u16>,
    names: &mut Names,
    own: &mut Tally,
) -> Option<usize> {
    if b[s] == b'"' {
        let e = json::string(b, s)?;
        own.add(text_kind, (e - s) as u64);
        return Some(e);
    }
    json::elements_at(b, s, &mut |bs| {
        if b[bs] != b'{' {
            let be = json::value(b, bs)?;
            own.add(text_kind, (be - bs) as u64);
            return Some(be);
        }
        let mut ty: &[u8] = b"";
        let (mut id, mut name, mut use_id) = (None, None, None);
        let mut skip = 0usize;
        let mut media = 0usize;
        // One walk over the block: its end is where the walk ends.
        let be = json::fields_at(b, bs, &mut |k, s| {
            let e = match k {
                b"content" if b[s] == b'[' => json::elements_at(b, s, &mut |s| {
                    let e = json::value(b, s)?;
                    // Images a tool returned (a Read of a picture) count as images.
                    let head = &b[s..e.min(s + 40)];
                    if head.windows(7).any(|w| w == b"\"image\"")
                        || head.windows(10).any(|w| w == b"\"document\"")
                    {
                        own.images += 1;
                        media += e - s;
                    }
                    Some(e)
                })?,
                _ => json::value(b, s)?,
            };
            match k {
                b"type" => ty = json::str_at(b, s, e).unwrap_or(b""),
                b"id" => id = json::str_at(b, s, e),
                b"name" => name = json::str_at(b, s, e),
                b"tool_use_id" => use_id = json::str_at(b, s, e),
                // A thinking block's signature is not sent as tokens.
                b"signature" => skip += e - s,
                _ => {}
            }
            Some(json::Step::Took(e))
        })?;
        let len = (be - bs).saturating_sub(skip) as u64;
        match ty {
            b"text" => own.add(text_kind, len),
            b"thinking" | b"redacted_thinking" => own.add(CtxKind::Thinking, len),
            b"tool_use" | b"server_tool_use" => {
                own.add(CtxKind::ToolCall, len);
                if let (Some(id), Some(name)) = (id, name) {
                    let n = names.id(&String::from_utf8_lossy(name));
                    tools.insert(fnv1a(id), n);
                }
            }
            b"image" | b"document" => own.images += 1,
            b"tool_result" | b"web_search_tool_result" | b"web_fetch_tool_result" => {
                let len = len.saturating_sub(media as u64);
                let tool = use_id
                    .and_then(|u| tools.get(&fnv1a(u)).copied())
                    .unwrap_or_else(|| names.id("unknown tool"));
                own.add_tool(tool, len);
            }
            _ => own.add(text_kind, len),
        }
        Some(be)
    })
}
