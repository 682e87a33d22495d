//! The `gemini-chain` composer (`docs/composition.md`, "Qwen Code"; `docs/parsers.md`,
//! `[context]`): context composition for line logs whose records form a chain by a parent id
//! and carry their message as a Gemini `Content` (`{role, parts: [...]}`). Qwen Code writes
//! its chats so; a parser spec names the composer in its `[context]` section.
//!
//! A request is a record the spec turns into an event; its input is the content of the
//! records on its chain before it (its parent, the parent's parent, ... up to a root), so a
//! rewound or forked branch does not count. A compression checkpoint (a record holding the
//! compressed history the model sees from then on) ends the walk: its history stands for
//! everything before it. The chain lives in the file's in-memory state
//! ([`crate::tailer::Scratch`]), rebuilt from the file's start when a read resumes without
//! it, so a resumed read splits like a whole read.
//!
//! Sizes only, never text: a part counts as the raw span of its JSON value in the line
//! (a `thoughtSignature` is not counted, an image counts as one image).

use super::context::{
    id_key as key, is_tool_name, json, Names, Ratios, Tally, CLAUDE, CODEX, QWEN,
};
use crate::event::{Composition, CtxKind};
use crate::tailer::PreHashed;
use std::collections::HashMap;

const ROOT: u32 = u32::MAX;
const UNKNOWN: u32 = u32::MAX - 1;
const NONE: u32 = u32::MAX;

/// The composers a spec may name.
pub const COMPOSERS: &[&str] = &["gemini-chain"];

/// A compiled `[context]` section: the field paths (keys, walked from the record) and ratios.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// `[id, parent, message, compressed]`, each a list of keys.
    paths: [Vec<Vec<u8>>; 4],
    ratios: &'static Ratios,
}

const ID: usize = 0;
const PARENT: usize = 1;
const MESSAGE: usize = 2;
const COMPRESSED: usize = 3;

impl ChainConfig {
    /// A config from the spec's paths (plain dotted keys; `None`: Qwen Code's names) and ratio
    /// set name. `Err((field, message))` names what is wrong.
    pub fn new(
        id: Option<&str>,
        parent: Option<&str>,
        message: Option<&str>,
        compressed: Option<&str>,
        ratios: Option<&str>,
    ) -> Result<ChainConfig, (&'static str, String)> {
        fn keys(field: &'static str, p: &str) -> Result<Vec<Vec<u8>>, (&'static str, String)> {
            let segs: Vec<Vec<u8>> = p.split('.').map(|s| s.as_bytes().to_vec()).collect();
            let plain = |s: &Vec<u8>| {
                !s.is_empty()
                    && s.iter()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
            };
            if segs.iter().all(plain) {
                Ok(segs)
            } else {
                Err((
                    field,
                    format!("`{p}`: a composer path is dotted plain keys (`systemPayload.x`)"),
                ))
            }
        }
        let ratios = match ratios.unwrap_or("qwen") {
            "qwen" => &QWEN,
            "claude" => &CLAUDE,
            "codex" => &CODEX,
            r => {
                return Err((
                    "context.ratios",
                    format!("unknown ratios `{r}`: expected qwen, claude or codex"),
                ))
            }
        };
        Ok(ChainConfig {
            paths: [
                keys("context.id", id.unwrap_or("uuid"))?,
                keys("context.parent", parent.unwrap_or("parentUuid"))?,
                keys("context.message", message.unwrap_or("message"))?,
                keys(
                    "context.compressed",
                    compressed.unwrap_or("systemPayload.compressedHistory"),
                )?,
            ],
            ratios,
        })
    }
}

struct Node {
    parent: u32,
    /// Index into `Chain::tallies` (`NONE`: the record adds nothing).
    own: u32,
    /// A compression checkpoint: its content stands for everything before it.
    reset: bool,
}

/// One file's chain of records, as sizes.
#[derive(Default)]
pub struct Chain {
    nodes: Vec<Node>,
    tallies: Vec<Tally>,
    by_id: HashMap<i64, u32, PreHashed>,
    /// functionCall id hash -> tool name id.
    calls: HashMap<i64, u16, PreHashed>,
    names: Names,
    /// The context from the last request's parent up: a linear chain reuses it.
    cache: Option<(u32, Tally)>,
}

/// Spans of the config's paths in the object at `at` (`depth`: how many keys are behind).
/// Stops at the top level once the id, the parent and a message or checkpoint are found.
fn spans(
    b: &[u8],
    at: usize,
    depth: usize,
    paths: &[Vec<Vec<u8>>; 4],
    out: &mut [Option<(usize, usize)>; 4],
) -> Option<usize> {
    json::fields_at(b, at, &mut |k, s| {
        let mut ends = false;
        let mut deeper = false;
        for (i, p) in paths.iter().enumerate() {
            if out[i].is_none() && p.get(depth).is_some_and(|seg| seg.as_slice() == k) {
                if p.len() == depth + 1 {
                    ends = true;
                } else {
                    deeper = true;
                }
            }
        }
        if !ends && !deeper {
            return Some(json::Step::Skip);
        }
        let e = if deeper && b.get(s) == Some(&b'{') {
            let e = spans(b, s, depth + 1, paths, out)?;
            if e == 0 {
                json::value(b, s)?
            } else {
                e
            }
        } else {
            json::value(b, s)?
        };
        if ends {
            for (i, p) in paths.iter().enumerate() {
                if out[i].is_none() && p.len() == depth + 1 && p[depth].as_slice() == k {
                    out[i] = Some((s, e));
                }
            }
        }
        let done = out[ID].is_some()
            && out[PARENT].is_some()
            && (out[MESSAGE].is_some() || out[COMPRESSED].is_some());
        Some(if depth == 0 && done {
            json::Step::Stop
        } else {
            json::Step::Took(e)
        })
    })
}

impl Chain {
    /// Adds a record (a whole JSONL line) to the chain; returns its node (`None` when it has
    /// no id, or is not valid JSON where walked).
    pub fn note(&mut self, line: &[u8], cfg: &ChainConfig) -> Option<u32> {
        let b = line;
        let mut at: [Option<(usize, usize)>; 4] = [None; 4];
        spans(b, json::ws(b, 0), 0, &cfg.paths, &mut at)?;
        let (is, ie) = at[ID]?;
        let id = json::str_at(b, is, ie)?;
        let parent = match at[PARENT] {
            Some((s, e)) => json::str_at(b, s, e),
            None => None,
        };
        let mut own = Tally::default();
        let mut reset = false;
        if let Some((s, _)) = at[MESSAGE] {
            if b[s] == b'{' {
                self.content(b, s, false, &mut own)?;
            }
        }
        if let Some((s, _)) = at[COMPRESSED] {
            if b[s] == b'[' {
                reset = true;
                let mut summary = true;
                json::elements_at(b, s, &mut |cs| {
                    if b[cs] != b'{' {
                        return json::value(b, cs);
                    }
                    let (e, user) = self.content(b, cs, summary, &mut own)?;
                    summary &= !user;
                    Some(e)
                })?;
            }
        }
        self.insert(parent, id, own, reset)
    }

    /// Measures one `Content` at `s` into `own`. Its text parts are the user's or the model's
    /// by its role, or the summary when `summary` and the role is not the model's. Returns
    /// its end and whether it was a user's.
    fn content(
        &mut self,
        b: &[u8],
        s: usize,
        summary: bool,
        own: &mut Tally,
    ) -> Option<(usize, bool)> {
        let mut role: &[u8] = b"";
        let mut text = 0u64;
        let (calls, names) = (&mut self.calls, &mut self.names);
        let e = json::fields_at(b, s, &mut |k, s| {
            let e = match k {
                b"role" => {
                    let e = json::value(b, s)?;
                    role = json::str_at(b, s, e).unwrap_or(b"");
                    e
                }
                b"parts" if b.get(s) == Some(&b'[') => {
                    json::elements_at(b, s, &mut |ps| part(b, ps, calls, names, own, &mut text))?
                }
                _ => return Some(json::Step::Skip),
            };
            Some(json::Step::Took(e))
        })?;
        let model = role == b"model";
        let kind = if model {
            CtxKind::Assistant
        } else if summary {
            CtxKind::Summary
        } else {
            CtxKind::User
        };
        own.add(kind, text);
        Some((e, !model))
    }

    fn insert(&mut self, parent: Option<&[u8]>, id: &[u8], own: Tally, reset: bool) -> Option<u32> {
        let parent = match parent {
            None => ROOT,
            Some(p) => *self.by_id.get(&key(p)).unwrap_or(&UNKNOWN),
        };
        let idx = self.nodes.len() as u32;
        if idx >= UNKNOWN {
            return None;
        }
        let own = if own.is_empty() || self.tallies.len() >= NONE as usize {
            NONE
        } else {
            self.tallies.push(own);
            self.tallies.len() as u32 - 1
        };
        self.nodes.push(Node { parent, own, reset });
        // A record written again (same id) replaces the earlier copy for later records.
        self.by_id.insert(key(id), idx);
        Some(idx)
    }

    /// The split of the request recorded as `node` for its input total: the content on its
    /// chain before it. `None` when the chain reaches a record this file does not hold, or
    /// for a zero total.
    pub fn compose(&mut self, node: u32, total: i64, cfg: &ChainConfig) -> Option<Composition> {
        let start = self.nodes.get(node as usize)?.parent;
        let mut cur = start;
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
                    let n = self.nodes.get(p as usize)?;
                    if let Some(own) = self.tallies.get(n.own as usize) {
                        acc.merge(own);
                    }
                    if n.reset {
                        break;
                    }
                    cur = n.parent;
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
        acc.compose(&self.names, cfg.ratios, total)
    }
}

/// Measures one part at `ps` (a `text`, `thought`, `functionCall`, `functionResponse`,
/// `inlineData`/`fileData` part) into `own`; text goes to `text` (its kind depends on the
/// role). Returns the part's end.
fn part(
    b: &[u8],
    ps: usize,
    calls: &mut HashMap<i64, u16, PreHashed>,
    names: &mut Names,
    own: &mut Tally,
    text: &mut u64,
) -> Option<usize> {
    #[derive(PartialEq)]
    enum Kind {
        Text,
        Call,
        Response,
        Media,
    }
    if b[ps] != b'{' {
        let e = json::value(b, ps)?;
        *text += (e - ps) as u64;
        return Some(e);
    }
    let mut kind = Kind::Text;
    let mut thought = false;
    let mut skip = 0usize;
    let (mut id, mut name) = (None, None);
    let (mut images, mut media) = (0u64, 0usize);
    let pe = json::fields_at(b, ps, &mut |k, s| {
        let obj = b.get(s) == Some(&b'{');
        let e = match k {
            b"functionCall" | b"functionResponse" if obj => {
                kind = if k == b"functionCall" {
                    Kind::Call
                } else {
                    Kind::Response
                };
                json::fields_at(b, s, &mut |k, s| {
                    let e = match k {
                        b"id" | b"name" => {
                            let e = json::value(b, s)?;
                            let v = json::str_at(b, s, e);
                            if k == b"id" {
                                id = v;
                            } else {
                                name = v;
                            }
                            e
                        }
                        // Media a tool returned (a picture read) count as images.
                        b"parts" if b.get(s) == Some(&b'[') => json::elements_at(b, s, &mut |s| {
                            let e = json::value(b, s)?;
                            let head = &b[s..e.min(s + 40)];
                            if memchr::memmem::find(head, b"\"inlineData\"").is_some()
                                || memchr::memmem::find(head, b"\"fileData\"").is_some()
                            {
                                images += 1;
                                media += e - s;
                            }
                            Some(e)
                        })?,
                        _ => return Some(json::Step::Skip),
                    };
                    Some(json::Step::Took(e))
                })?
            }
            b"inlineData" | b"fileData" => {
                kind = Kind::Media;
                json::value(b, s)?
            }
            b"thought" => {
                let e = json::value(b, s)?;
                thought = &b[s..e] == b"true";
                e
            }
            // Not sent as tokens (as Claude's thinking signature is not).
            b"thoughtSignature" => {
                let e = json::value(b, s)?;
                skip += e - s;
                e
            }
            _ => return Some(json::Step::Skip),
        };
        Some(json::Step::Took(e))
    })?;
    let len = (pe - ps).saturating_sub(skip) as u64;
    let tool = |names: &mut Names, n: Option<&[u8]>| match n {
        Some(n) if is_tool_name(n) => names.id(&String::from_utf8_lossy(n)),
        _ => names.id("unknown tool"),
    };
    match kind {
        Kind::Call => {
            own.add(CtxKind::ToolCall, len);
            if let Some(i) = id {
                let t = tool(names, name);
                calls.insert(key(i), t);
            }
        }
        Kind::Response => {
            // Matched to its call by id; else the response's own name.
            let t = match id.and_then(|i| calls.get(&key(i)).copied()) {
                Some(t) => t,
                None => tool(names, name),
            };
            own.add_tool(t, len.saturating_sub(media as u64));
            own.images += images;
        }
        Kind::Media => own.images += 1,
        Kind::Text if thought => own.add(CtxKind::Thinking, len),
        Kind::Text => *text += len,
    }
    Some(pe)
}
