//! Context composition of Claude Code requests (`docs/composition.md`).
//!
//! Claude Code builds a request's input by following the `parentUuid` chain from the request's
//! first line back to the root: every line with a `uuid` is a node, user and assistant lines
//! carry content. A compaction starts a new root (`compact_boundary` has no parent) whose first
//! message is the summary (`isCompactSummary`). Subagents write their own files, each its own
//! chain. The graph holds sizes only (bytes per kind of content), never text.

use super::context::{id_key as key, json, Names, Tally, CLAUDE};
use crate::event::{Ctx, CtxKind};
use crate::tailer::PreHashed;
use std::collections::HashMap;

const ROOT: u32 = u32::MAX;
const UNKNOWN: u32 = u32::MAX - 1;
const NONE: u32 = u32::MAX;

struct Node {
    parent: u32,
    /// Hash of the assistant message id (0 for other lines): the lines of one response.
    msg: i64,
    /// What the line adds to the context: an index into `Graph::tallies` (`NONE` for most
    /// lines: links without content).
    own: u32,
}

/// One file's conversation graph.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Node>,
    /// The tallies of the nodes with content, in one allocation.
    tallies: Vec<Tally>,
    by_uuid: HashMap<i64, u32, PreHashed>,
    /// The uuid key of the last node (`by_uuid` maps it to the last node).
    last_key: i64,
    /// Whether room was made for the file's lines ([`Graph::size_for`]).
    sized: bool,
    /// tool_use id hash -> tool name id.
    tools: HashMap<i64, u16, PreHashed>,
    names: Names,
    /// The tool results of the last line noted.
    results: Results,
    /// Assistant message id hash -> its first line: a response's lines all have the input of
    /// its first (tool results of parallel calls are written between them).
    first: HashMap<i64, u32, PreHashed>,
    /// The context of the last request's first node: a linear chain reuses it.
    cache: Option<(u32, Tally)>,
    /// The last split made: (first node, input total, split).
    composed: Option<(u32, i64, Option<Ctx>)>,
}

/// What a walk learned about whether a line can carry usage.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Nothing sure (not walked to the end, or a `progress` line): search the line.
    #[default]
    Unknown,
    /// It cannot: no message (a link line), or a top-level type that is not `assistant`.
    NoUsage,
    /// A whole assistant line: [`Spans::usage`] is its `message.usage`, if it has one.
    Assistant,
}

/// Spans (start, end) of the top-level fields a usage line is read for, found by the same walk
/// that measures its content ([`Graph::note`]). A field seen twice makes the walk fail, as the
/// typed parse would.
#[derive(Debug, Default, Clone, Copy)]
pub struct Spans {
    /// Whether the line can carry usage.
    pub seen: Seen,
    /// `type`
    pub ty: Option<(usize, usize)>,
    /// `timestamp`
    pub timestamp: Option<(usize, usize)>,
    /// `sessionId`
    pub session_id: Option<(usize, usize)>,
    /// `requestId`
    pub request_id: Option<(usize, usize)>,
    /// `uuid`
    pub uuid: Option<(usize, usize)>,
    /// `cwd`
    pub cwd: Option<(usize, usize)>,
    /// `gitBranch`
    pub git_branch: Option<(usize, usize)>,
    /// `isSidechain`
    pub is_sidechain: Option<(usize, usize)>,
    /// `costUSD`
    pub cost_usd: Option<(usize, usize)>,
    /// `message` (the whole value: it may be something else than an object).
    pub message: Option<(usize, usize)>,
    /// `message.id`
    pub msg_id: Option<(usize, usize)>,
    /// `message.model`
    pub model: Option<(usize, usize)>,
    /// `message.usage`
    pub usage: Option<(usize, usize)>,
    /// The end of the line's object.
    pub end: usize,
    /// Whether the walk read the line's top level and its message's content, so that
    /// [`Graph::results`] is all the line's `tool_result` blocks (a user line's walk stops
    /// after `uuid`, but its message comes before it).
    pub walked: bool,
}

/// The `tool_result` blocks of the last line's message content (a user line's: the outcome
/// of the tool calls before it), for the failed-tool-call signal: their number and, for each
/// one with `is_error: true`, the span of its `content` (`None` when it has none).
#[derive(Debug, Default)]
pub struct Results {
    /// Blocks of `type` `tool_result`.
    pub count: u32,
    /// The content spans of those marked `is_error: true`.
    pub errors: Vec<Option<(usize, usize)>>,
}

/// Records a span once; a second one is a duplicate field (`None`: the walk fails).
fn once(slot: &mut Option<(usize, usize)>, s: usize, e: usize) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some((s, e));
    Some(())
}

/// Bytes per line of a Claude Code transcript, about (1,555 in the real sample): a file's
/// graph is sized from its length.
const BYTES_PER_LINE: u64 = 1024;

impl Graph {
    /// Makes room, once, for the lines of a file of `len` bytes (nodes and the uuid map grow
    /// by doubling otherwise, rehashing every uuid each time).
    pub fn size_for(&mut self, len: u64) {
        if std::mem::replace(&mut self.sized, true) {
            return;
        }
        let n = (len / BYTES_PER_LINE).min(1 << 20) as usize;
        self.nodes.reserve(n);
        self.by_uuid.reserve(n);
    }

    /// The `tool_result` blocks of the last line given to [`Graph::note`] (meaningful when
    /// its [`Spans::walked`] is set).
    pub fn results(&self) -> &Results {
        &self.results
    }

    /// Whether [`Graph::size_for`] was called.
    pub fn sized(&self) -> bool {
        self.sized
    }

    /// Adds a line to the graph (lines without a `uuid` are not part of it: a line is given
    /// whole, with or without one). Returns its node. The spans of the fields a usage line is
    /// read for are recorded in `sp` by the same walk, and whether the line can carry usage
    /// at all (so the parser need not search it); an assistant line is walked to its end.
    /// `None` also when the line is not valid JSON where walked, or has a field twice.
    pub fn note(&mut self, line: &[u8], sp: &mut Spans) -> Option<u32> {
        use json::Step;
        let b = line;
        self.results.count = 0;
        self.results.errors.clear();
        if let Some(node) = self.link(b) {
            // No message: no tool results either.
            sp.seen = Seen::NoUsage;
            sp.walked = true;
            return node;
        }
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
        let mut tail = false;
        let (tools, names, results) = (&mut self.tools, &mut self.names, &mut self.results);
        // One walk over the line: the message's content blocks are measured where they are
        // read. Claude Code writes `uuid` after `message` and before the large `toolUseResult`
        // (a copy of the tool's output that is not sent to the model): the walk of a user line
        // stops there.
        let end = json::fields_at(b, start, &mut |k, s| {
            match k {
                b"type" | b"uuid" | b"parentUuid" => {
                    let e = json::value(b, s)?;
                    let v = json::str_at(b, s, e);
                    match k {
                        b"type" => {
                            ty = v.unwrap_or(b"");
                            once(&mut sp.ty, s, e)?;
                        }
                        b"uuid" => {
                            uuid = v;
                            once(&mut sp.uuid, s, e)?;
                        }
                        _ => {
                            parent = v;
                            parent_seen = true;
                        }
                    }
                    if uuid.is_some() && parent_seen && !matches!(ty, b"" | b"assistant") && message
                    {
                        return Some(Step::Stop);
                    }
                    Some(Step::Took(e))
                }
                b"isCompactSummary" => {
                    let e = json::value(b, s)?;
                    summary = &b[s..e] == b"true";
                    Some(Step::Took(e))
                }
                b"message" => {
                    let e = if b[s] == b'{' {
                        message = true;
                        json::fields_at(b, s, &mut |k, s| match k {
                            b"id" | b"role" | b"model" | b"usage" => {
                                let e = json::value(b, s)?;
                                let v = json::str_at(b, s, e);
                                match k {
                                    b"id" => {
                                        msg_id = v;
                                        once(&mut sp.msg_id, s, e)?;
                                    }
                                    b"model" => once(&mut sp.model, s, e)?,
                                    b"usage" => once(&mut sp.usage, s, e)?,
                                    _ => role = v.unwrap_or(b""),
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
                                    b, s, kind, tools, names, results, &mut own,
                                )?))
                            }
                            _ => Some(Step::Skip),
                        })?
                    } else {
                        json::value(b, s)?
                    };
                    once(&mut sp.message, s, e)?;
                    Some(Step::Took(e))
                }
                _ if !matches!(ty, b"" | b"user" | b"assistant") && matches!(b[s], b'{' | b'[') => {
                    // Lines without content (progress, system, ...) are nodes of the chain
                    // only: their large payloads (a progress line's `data`) are not walked;
                    // `uuid` is read from the end of the line, where Claude Code writes it.
                    tail = true;
                    Some(Step::Stop)
                }
                _ => {
                    let slot = match k {
                        b"timestamp" => &mut sp.timestamp,
                        b"sessionId" => &mut sp.session_id,
                        b"requestId" => &mut sp.request_id,
                        b"cwd" => &mut sp.cwd,
                        b"gitBranch" => &mut sp.git_branch,
                        b"isSidechain" => &mut sp.is_sidechain,
                        b"costUSD" => &mut sp.cost_usd,
                        _ => return Some(Step::Skip),
                    };
                    let e = json::value(b, s)?;
                    once(slot, s, e)?;
                    Some(Step::Took(e))
                }
            }
        })?;
        sp.end = end;
        sp.walked = true;
        sp.seen = match ty {
            b"assistant" if end > 0 => Seen::Assistant,
            b"" | b"assistant" | b"progress" => Seen::Unknown,
            _ => Seen::NoUsage,
        };
        if tail && uuid.is_none() {
            uuid = match last_uuid(b) {
                Tail::None => None,
                Tail::Found(u) => Some(u),
                Tail::Nested => top_level(b, start, b"uuid"),
            };
        }
        let uuid = uuid?;
        let user = ty == b"user";
        let mut msg = 0;
        if !(user || ty == b"assistant") {
            own = Tally::default();
        } else if !user {
            msg = msg_id.map(key).unwrap_or(0);
        } else if summary {
            let u = CtxKind::User.index();
            own.bytes[CtxKind::Summary.index()] += own.bytes[u];
            own.bytes[u] = 0;
        }
        self.insert(parent, uuid, msg, own)
    }

    /// A line without a message (progress, hook, system lines: most lines of a session) is a
    /// link of the chain only. Claude Code writes `parentUuid` first and `uuid` among the last
    /// fields: both are read there and nothing in between is walked. `None` when the line is
    /// not laid out so (it is then walked).
    fn link(&mut self, b: &[u8]) -> Option<Option<u32>> {
        static MESSAGE: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
            std::sync::OnceLock::new();
        let m = MESSAGE.get_or_init(|| memchr::memmem::Finder::new(b"\"message\""));
        const FIRST: &[u8] = b"{\"parentUuid\":";
        let start = json::ws(b, 0);
        if !b[start..].starts_with(FIRST) || m.find(b).is_some() {
            return None;
        }
        let s = json::ws(b, start + FIRST.len());
        let e = json::value(b, s)?;
        let parent = match &b[s..e] {
            b"null" => None,
            _ => Some(json::str_at(b, s, e)?),
        };
        match last_uuid(b) {
            Tail::Found(uuid) => Some(self.insert(parent, uuid, 0, Tally::default())),
            Tail::None => Some(None),
            Tail::Nested => None,
        }
    }

    fn insert(&mut self, parent: Option<&[u8]>, uuid: &[u8], msg: i64, own: Tally) -> Option<u32> {
        let parent = match parent {
            None => ROOT,
            Some(p) => match key(p) {
                // Most lines follow the line before them.
                k if self.nodes.last().is_some_and(|_| k == self.last_key) => {
                    self.nodes.len() as u32 - 1
                }
                k => *self.by_uuid.get(&k).unwrap_or(&UNKNOWN),
            },
        };
        let idx = self.nodes.len() as u32;
        if idx >= UNKNOWN {
            return None;
        }
        if msg != 0 {
            self.first.entry(msg).or_insert(idx);
        }
        let own = if own.is_empty() || self.tallies.len() >= NONE as usize {
            NONE
        } else {
            self.tallies.push(own);
            self.tallies.len() as u32 - 1
        };
        self.nodes.push(Node { parent, msg, own });
        self.last_key = key(uuid);
        self.by_uuid.insert(self.last_key, idx);
        Some(idx)
    }

    /// The composition of the request whose (first seen) line is `node`, for an input total:
    /// the content on its chain before the response began. `None` when the chain reaches a line
    /// this file does not hold.
    pub fn compose(&mut self, node: u32, total: i64) -> Option<Ctx> {
        let msg = self.nodes.get(node as usize)?.msg;
        let first = match self.first.get(&msg) {
            Some(f) if msg != 0 => *f,
            _ => node,
        };
        // The lines of one response usually repeat its usage: one split for all of them.
        if let Some((f, t, c)) = &self.composed {
            if (*f, *t) == (first, total) {
                return c.clone();
            }
        }
        let c = match self.context(first, msg) {
            Some(true) => self
                .cache
                .as_ref()
                .and_then(|(_, t)| t.compose_ctx(&self.names, &CLAUDE, total)),
            Some(false) => Tally::default().compose_ctx(&self.names, &CLAUDE, total),
            None => None,
        };
        self.composed = Some((first, total, c.clone()));
        c
    }

    /// Sums the content on the chain before `first` into `cache` (`Some(true)`), or finds
    /// the chain empty (`Some(false)`: the request starts at a root), or broken (`None`).
    fn context(&mut self, first: u32, msg: i64) -> Option<bool> {
        let mut cur = self.nodes.get(first as usize)?.parent;
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
                    if let Some(own) = self.tallies.get(node.own as usize) {
                        acc.merge(own);
                    }
                    cur = node.parent;
                    steps += 1;
                    if steps > self.nodes.len() {
                        return None; // a cycle: not a conversation
                    }
                }
            }
        }
        if start == ROOT {
            return Some(false);
        }
        self.cache = Some((start, acc));
        Some(true)
    }
}

/// Where a line's top-level `uuid` is, read from the line's end.
enum Tail<'a> {
    /// The line has no `"uuid":"` at all.
    None,
    /// The last one is inside a nested value: the line must be walked.
    Nested,
    /// The top-level `uuid`.
    Found(&'a [u8]),
}

/// The top-level `uuid` of a line when it is the last `"uuid":"` of the line: it is top-level
/// exactly when the fields from it on end the line's object (inside a nested object the walk
/// ends at that object's brace, before the line's end; inside a string the quotes would be
/// escaped).
fn last_uuid(b: &[u8]) -> Tail<'_> {
    static KEY: std::sync::OnceLock<memchr::memmem::FinderRev<'static>> =
        std::sync::OnceLock::new();
    if let Some(u) = uuid_near_end(b) {
        return Tail::Found(u);
    }
    let k = KEY.get_or_init(|| memchr::memmem::FinderRev::new(b"\"uuid\":\""));
    let Some(p) = k.rfind(b) else {
        return Tail::None;
    };
    let mut uuid = None;
    let end = json::fields_from(b, p, &mut |key, s| {
        let e = json::value(b, s)?;
        if key == b"uuid" && uuid.is_none() {
            uuid = json::str_at(b, s, e);
        }
        Some(json::Step::Took(e))
    });
    match (end, uuid) {
        (Some(end), Some(u)) if end > 0 && json::ws(b, end) == b.len() => Tail::Found(u),
        _ => Tail::Nested,
    }
}

/// Claude Code ends most lines with `"uuid":"…"}` or with `"uuid":"…","timestamp":"…"}`: a
/// few fields `"key":"value"` whose strings have no quote or backslash inside. Read backwards
/// over at most four such fields, the one named `uuid` is then the last `"uuid":"` of the line
/// (the fields after it hold no quote but their own) and the fields from it end the object:
/// what [`last_uuid`]'s walk finds, without searching the line. `None` when the tail is not
/// laid out so (the search decides).
fn uuid_near_end(b: &[u8]) -> Option<&[u8]> {
    let t = &b[..b.len() - b.iter().rev().take_while(|c| is_ws(**c)).count()];
    // `close` is the closing quote of the field's value.
    let mut close = t.strip_suffix(b"}")?.len().checked_sub(1)?;
    for _ in 0..4 {
        if t[close] != b'"' {
            return None;
        }
        let open = memchr::memrchr(b'"', &t[..close])?;
        let value = &t[open + 1..close];
        let key_close = open.checked_sub(2)?;
        if t[key_close] != b'"' || t[key_close + 1] != b':' {
            return None;
        }
        let key_open = memchr::memrchr(b'"', &t[..key_close])?;
        let key = &t[key_open + 1..key_close];
        if value.contains(&b'\\') || key.contains(&b'\\') {
            return None;
        }
        if key == b"uuid" {
            return Some(value);
        }
        if t[..key_open].last() != Some(&b',') {
            return None;
        }
        close = key_open.checked_sub(2)?;
    }
    None
}

/// JSON whitespace, as [`json::ws`] skips it.
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// A top-level string field of the object at `start`, every other field skipped.
fn top_level<'a>(b: &'a [u8], start: usize, want: &[u8]) -> Option<&'a [u8]> {
    let mut found = None;
    json::fields_at(b, start, &mut |k, s| {
        if k != want {
            return Some(json::Step::Skip);
        }
        let e = json::value(b, s)?;
        found = json::str_at(b, s, e);
        Some(json::Step::Stop)
    })?;
    found
}

/// Adds the sizes of one message's content (a string, or an array of blocks) at `s` to
/// `own`; returns the content's end.
fn content_sizes(
    b: &[u8],
    s: usize,
    text_kind: CtxKind,
    tools: &mut HashMap<i64, u16, PreHashed>,
    names: &mut Names,
    results: &mut Results,
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
        let mut is_error = false;
        let mut content = None;
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
                // The last of a field given twice, as a parse into a map keeps it.
                b"is_error" => is_error = &b[s..e] == b"true",
                b"content" => content = Some((s, e)),
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
                    tools.insert(key(id), n);
                }
            }
            b"image" | b"document" => own.images += 1,
            b"tool_result" | b"web_search_tool_result" | b"web_fetch_tool_result" => {
                if ty == b"tool_result" {
                    results.count += 1;
                    if is_error {
                        results.errors.push(content);
                    }
                }
                let len = len.saturating_sub(media as u64);
                let tool = use_id
                    .and_then(|u| tools.get(&key(u)).copied())
                    .unwrap_or_else(|| names.id("unknown tool"));
                own.add_tool(tool, len);
            }
            _ => own.add(text_kind, len),
        }
        Some(be)
    })
}
