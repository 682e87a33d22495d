//! Codex rollouts (`~/.codex/sessions/**/*.jsonl`, `archived_sessions/`).
//!
//! Usage is a cumulative counter: `event_msg` / `token_count` events carry the session's running
//! `total_token_usage`. Codex re-emits the same event several times, so each file counts the
//! change of the total and skips events whose total did not move. Forks and sub-agents replay the
//! parent's events (same cumulative vectors) before their own work: every counted event is keyed
//! by its lineage (the root of the fork or sub-agent chain, found from the ancestors'
//! `session_meta` lines at the start of the replay, else the session itself) and its
//! cumulative and last-call vectors, so a replayed copy, a copied file or the same file under
//! `archived_sessions/` collapses onto the original (the parent's own record, else the earliest
//! copy).

use super::codex_ctx::History;
use super::{FileState, Format, ParseError, Parser};
use crate::event::{parse_ts_ms, Merge, Tokens, UsageEvent};
use serde::Deserialize;
use std::borrow::Cow;
use std::path::Path;

/// Codex rollout files.
pub struct CodexParser;

/// The session a rollout's `session_meta` was forked or spawned from, if any.
fn parent_of(meta: &serde_json::Value) -> Option<String> {
    s(meta, &["forked_from_id"]).or_else(|| {
        s(
            meta,
            &["source", "subagent", "thread_spawn", "parent_thread_id"],
        )
    })
}

/// Tool id.
pub const TOOL: &str = "codex";

#[derive(Deserialize)]
struct Line {
    timestamp: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    payload: Option<serde_json::Value>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Usage {
    #[serde(default)]
    input_tokens: i64,
    #[serde(default)]
    cached_input_tokens: i64,
    #[serde(default)]
    cache_write_input_tokens: i64,
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    reasoning_output_tokens: i64,
    #[serde(default)]
    total_tokens: i64,
}

impl Usage {
    fn array(&self) -> [i64; 6] {
        [
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_input_tokens,
            self.output_tokens,
            self.reasoning_output_tokens,
            self.total_tokens,
        ]
    }
    fn vec(&self) -> Vec<i64> {
        self.array().to_vec()
    }
    fn from_vec(v: &[i64]) -> Usage {
        let g = |i: usize| v.get(i).copied().unwrap_or(0);
        Usage {
            input_tokens: g(0),
            cached_input_tokens: g(1),
            cache_write_input_tokens: g(2),
            output_tokens: g(3),
            reasoning_output_tokens: g(4),
            total_tokens: g(5),
        }
    }
    /// Field-wise change, clamped at zero (interleaved lineages can make a counter go down).
    fn minus(&self, o: &Usage) -> Usage {
        Usage {
            input_tokens: (self.input_tokens - o.input_tokens).max(0),
            cached_input_tokens: (self.cached_input_tokens - o.cached_input_tokens).max(0),
            cache_write_input_tokens: (self.cache_write_input_tokens - o.cache_write_input_tokens)
                .max(0),
            output_tokens: (self.output_tokens - o.output_tokens).max(0),
            reasoning_output_tokens: (self.reasoning_output_tokens - o.reasoning_output_tokens)
                .max(0),
            total_tokens: (self.total_tokens - o.total_tokens).max(0),
        }
    }
    /// OpenAI-style (input includes cached and cache-write) to disjoint buckets.
    fn tokens(&self) -> Tokens {
        let cached = self.cached_input_tokens.min(self.input_tokens).max(0);
        let cw = self
            .cache_write_input_tokens
            .min(self.input_tokens - cached)
            .max(0);
        Tokens {
            input: (self.input_tokens - cached - cw).max(0),
            cache_write_5m: cw,
            cache_write_1h: 0,
            cache_read: cached,
            output: self.output_tokens.max(0),
            reasoning: self.reasoning_output_tokens.max(0),
        }
    }
}

fn s(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|x| !x.is_empty()).map(str::to_string)
}

/// Finders for the kinds of line that carry what this parser reads, built once.
fn interesting() -> &'static [memchr::memmem::Finder<'static>; 4] {
    static F: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 4]> =
        std::sync::OnceLock::new();
    F.get_or_init(|| {
        [
            b"\"token_count\"".as_slice(),
            b"\"turn_context\"",
            b"\"session_meta\"",
            b"\"thread_settings_applied\"",
        ]
        .map(memchr::memmem::Finder::new)
    })
}

/// A line's `type` and its payload's `type` when it starts the way Codex writes every line,
/// `{"timestamp":"…","type":"…","payload":{"type":"…"` (the payload's only when it follows at
/// once); `None` for any other shape, which the caller then reads the slow way.
fn quick_kind(line: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let rest = line.strip_prefix(b"{\"timestamp\":\"")?;
    let end = memchr::memchr(b'"', &rest[..rest.len().min(64)])?;
    let rest = rest[end..].strip_prefix(b"\",\"type\":\"")?;
    let end = memchr::memchr(b'"', &rest[..rest.len().min(64)])?;
    let (ty, rest) = rest.split_at(end);
    if ty.contains(&b'\\') {
        return None;
    }
    let sub = rest
        .strip_prefix(b"\",\"payload\":{\"type\":\"")
        .and_then(|r| {
            let end = memchr::memchr(b'"', &r[..r.len().min(64)])?;
            Some(&r[..end]).filter(|t| !t.contains(&b'\\'))
        });
    Some((ty, sub))
}

impl Parser for CodexParser {
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
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let kind = quick_kind(line);
        // The history items (context composition), found by their kind.
        let item = match kind {
            // With a payload type, `","payload":` follows the line's type at once.
            Some((t @ (b"response_item" | b"compacted"), sub)) => Some((
                t == b"compacted",
                sub.map(|_| {
                    t.as_ptr() as usize - line.as_ptr() as usize
                        + t.len()
                        + br#"","payload":"#.len()
                }),
            )),
            Some(_) => None,
            None => history_kind(line).map(|c| (c, None)),
        };
        if let Some((compacted, payload)) = item {
            state
                .scratch
                .with(|h: &mut History| h.line(line, compacted, payload));
        }
        let quick = kind == Some((b"event_msg".as_slice(), Some(b"token_count".as_slice())));
        let skip = match kind {
            // The shape Codex writes: the line's kind is known from its first bytes, so the
            // bulk of a rollout (response items, agent messages) is not scanned at all.
            Some((b"session_meta" | b"turn_context", _)) => false,
            Some((b"event_msg", Some(t))) => {
                t != b"token_count".as_slice() && t != b"thread_settings_applied".as_slice()
            }
            Some((b"event_msg", None)) => false,
            Some(_) => true,
            // Another shape (fields in another order): look for the kinds anywhere.
            None => !interesting().iter().any(|f| f.find(line).is_some()),
        };
        if let Some(tc) = quick.then(|| quick_token_count(line)).flatten() {
            // A token_count event in the exact shape Codex writes, read by hand (the same
            // answer as the typed read below, which reads every other shape).
            return match tc {
                QuickCount::NoInfo => Ok(()),
                QuickCount::Info { ts, total, last } => {
                    on_token_count(state, path, Some(ts), total, last, None, out)
                }
            };
        }
        if skip {
            return if super::claude::looks_like_object(line) {
                Ok(())
            } else {
                Err(ParseError(
                    "not a JSON object (torn or corrupted line)".into(),
                ))
            };
        }
        if kind == Some((b"turn_context".as_slice(), None)) {
            // A turn's model and directory in the exact shape Codex writes, read by hand (one
            // line per turn; serde's typed read cost ~10,000 instructions a line).
            if let Some((model, cwd)) = quick_turn_context(line) {
                let own = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_string);
                on_turn_context(state, own(model), own(cwd));
                return Ok(());
            }
        }
        // The typed read borrows every string it keeps from the line and skips the rest
        // (instructions, rate limits) without building a tree. A line it cannot read (a field
        // of an unexpected type, a duplicated key) is read again the general way, which gives
        // the same answer for every line the typed read accepts and the old answer (or error)
        // for the rest.
        match serde_json::from_slice::<FastLine>(line) {
            Ok(l) => apply_fast(l, path, state, out),
            Err(_) => parse_general(line, path, state, out),
        }
    }
}

/// For a line of another shape: `Some(compacted)` when it may be a history item (the item
/// reader checks its type).
fn history_kind(line: &[u8]) -> Option<bool> {
    static F: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 2]> =
        std::sync::OnceLock::new();
    let f = F.get_or_init(|| {
        [b"\"response_item\"".as_slice(), b"\"compacted\""].map(memchr::memmem::Finder::new)
    });
    if f[0].find(line).is_some() {
        Some(false)
    } else {
        f[1].find(line).map(|_| true)
    }
}

/// A `token_count` line read by [`quick_token_count`].
#[derive(Debug, PartialEq)]
enum QuickCount<'a> {
    /// `"info":null` (a rate-limit heartbeat).
    NoInfo,
    /// Its timestamp and usage vectors.
    Info {
        ts: &'a str,
        total: Option<Usage>,
        last: Option<Usage>,
    },
}

/// Reads a `token_count` line of exactly the shape Codex writes, by hand:
/// `{"timestamp":"…","type":"event_msg","payload":{"type":"token_count","info":INFO` then
/// optionally `,"rate_limits":VALUE`, then `}}` and the end of the line, where INFO is `null`
/// or an object of `total_token_usage` / `last_token_usage` (each `null` or an object of the
/// six known integer counters) and `model_context_window` (an integer or `null`), each at most
/// once, no whitespace. `VALUE` is checked to be JSON. Anything else (another order, a
/// `model`, escapes, whitespace, a float, a duplicate key) is `None`: the caller then reads the
/// line with serde, so this never decides anything serde would decide differently.
fn quick_token_count(line: &[u8]) -> Option<QuickCount<'_>> {
    let rest = line.strip_prefix(b"{\"timestamp\":\"")?;
    let end = memchr::memchr(b'"', &rest[..rest.len().min(64)])?;
    let ts = &rest[..end];
    if !ts
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'-' | b'+'))
    {
        return None;
    }
    let ts = std::str::from_utf8(ts).ok()?;
    let mut r = Cursor(rest[end..].strip_prefix(
        b"\",\"type\":\"event_msg\",\"payload\":{\"type\":\"token_count\",\"info\":".as_slice(),
    )?);
    let out = if r.eat(b"null") {
        QuickCount::NoInfo
    } else {
        r.expect(b'{')?;
        let (mut total, mut last, mut window) = (None, None, false);
        if !r.eat(b"}") {
            loop {
                if r.eat(b"\"total_token_usage\":") && total.is_none() {
                    total = Some(r.usage()?);
                } else if r.eat(b"\"last_token_usage\":") && last.is_none() {
                    last = Some(r.usage()?);
                } else if r.eat(b"\"model_context_window\":") && !window {
                    window = true;
                    if !r.eat(b"null") {
                        r.int()?;
                    }
                } else {
                    return None;
                }
                if r.eat(b"}") {
                    break;
                }
                r.expect(b',')?;
            }
        }
        QuickCount::Info {
            ts,
            total: total.flatten(),
            last: last.flatten(),
        }
    };
    if r.eat(b",\"rate_limits\":") {
        // Checked to be one JSON value: a corrupt one makes the line malformed, as serde says.
        // Codex repeats the same rate limits line after line (78 % of the real sample's
        // token counts): bytes checked once need no second look.
        RATE_LIMITS_SEEN.with_borrow_mut(|seen| {
            let known = !seen.is_empty() && r.0.len() == seen.len() + 2 && r.0.starts_with(seen);
            if known {
                r.0 = &r.0[seen.len()..];
            } else {
                let before = r.0;
                r.skip_value(0)?;
                seen.clear();
                seen.extend_from_slice(&before[..before.len() - r.0.len()]);
            }
            Some(())
        })?;
    }
    (r.0 == b"}}").then_some(out)
}

/// Reads a `turn_context` line of exactly the shape Codex writes, by hand:
/// `{"timestamp":"…","type":"turn_context","payload":{FIELDS}}` with no whitespace, giving its
/// `model` and `cwd` (each a string without escapes, at most once). Any other field is stepped
/// over as [`Cursor::skip_value`] does; a field the typed read gives a meaning to (`type`,
/// `git`, …), a `null` or non-string model or directory, an escape anywhere, a duplicate: `None`,
/// and the caller reads the line with serde, so this never decides anything serde would decide
/// differently.
fn quick_turn_context(line: &[u8]) -> Option<(Option<&str>, Option<&str>)> {
    let rest = line.strip_prefix(b"{\"timestamp\":\"")?;
    let end = memchr::memchr(b'"', &rest[..rest.len().min(64)])?;
    if !rest[..end]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'-' | b'+'))
    {
        return None;
    }
    let mut r =
        Cursor(rest[end..].strip_prefix(b"\",\"type\":\"turn_context\",\"payload\":{".as_slice())?);
    // A plain string at the cursor, stepped over; its bytes without the quotes.
    fn plain<'a>(r: &mut Cursor<'a>) -> Option<&'a [u8]> {
        let start = r.0;
        if start.first() != Some(&b'"') {
            return None;
        }
        r.skip_value(0)?;
        Some(&start[1..start.len() - r.0.len() - 1])
    }
    let (mut model, mut cwd) = (None, None);
    if !r.eat(b"}") {
        loop {
            let key = plain(&mut r)?;
            r.expect(b':')?;
            match key {
                b"model" | b"cwd" => {
                    let slot = if key == b"model" {
                        &mut model
                    } else {
                        &mut cwd
                    };
                    if slot.is_some() {
                        return None;
                    }
                    *slot = Some(std::str::from_utf8(plain(&mut r)?).ok()?);
                }
                b"type" | b"id" | b"session_id" | b"forked_from_id" | b"source" | b"git"
                | b"thread_settings" | b"info" => return None,
                _ => r.skip_value(0)?,
            }
            if r.eat(b"}") {
                break;
            }
            r.expect(b',')?;
        }
    }
    (r.0 == b"}").then_some((model, cwd))
}

thread_local! {
    /// The last rate limits value [`Cursor::skip_value`] stepped over on this thread (a pure
    /// check of bytes, so it holds for any line of any file).
    static RATE_LIMITS_SEEN: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A position in a line being read by [`quick_token_count`].
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn eat(&mut self, s: &[u8]) -> bool {
        match self.0.strip_prefix(s) {
            Some(r) => {
                self.0 = r;
                true
            }
            None => false,
        }
    }
    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(&[b]).then_some(())
    }
    /// An integer as JSON writes it (no leading zeros, no fraction or exponent) that fits an
    /// i64, followed by `,` or `}`.
    fn int(&mut self) -> Option<i64> {
        let neg = self.eat(b"-");
        // One pass: at most 19 digits fit a u64 whatever they are.
        let mut v: u64 = 0;
        let mut n = 0;
        while let Some(&d) = self.0.get(n) {
            if !d.is_ascii_digit() {
                break;
            }
            if n == 19 {
                return None;
            }
            v = v * 10 + (d - b'0') as u64;
            n += 1;
        }
        if n == 0 || (n > 1 && self.0[0] == b'0') || !matches!(self.0.get(n), Some(b',' | b'}')) {
            return None;
        }
        let v = i64::try_from(v).ok()?;
        self.0 = &self.0[n..];
        Some(if neg { -v } else { v })
    }
    /// Steps over one JSON value without whitespace or escapes, nested at most 16 deep (what
    /// Codex writes as rate limits); `None` for anything else, valid JSON or not (the caller
    /// then lets serde decide). Like serde's skipping of a field it does not read, the bytes
    /// of a string are not checked to be UTF-8.
    fn skip_value(&mut self, depth: u8) -> Option<()> {
        let (open, close) = match self.0.first()? {
            b'"' => {
                let end = memchr::memchr2(b'"', b'\\', &self.0[1..])?;
                if self.0[1 + end] != b'"' || has_control(&self.0[1..1 + end]) {
                    return None;
                }
                self.0 = &self.0[2 + end..];
                return Some(());
            }
            b'{' => (b'{', b'}'),
            b'[' => (b'[', b']'),
            b't' => return self.eat(b"true").then_some(()),
            b'f' => return self.eat(b"false").then_some(()),
            b'n' => return self.eat(b"null").then_some(()),
            _ => return self.number(),
        };
        if depth >= 16 {
            return None;
        }
        self.expect(open)?;
        if self.eat(&[close]) {
            return Some(());
        }
        loop {
            if open == b'{' {
                if self.0.first() != Some(&b'"') {
                    return None;
                }
                self.skip_value(depth + 1)?;
                self.expect(b':')?;
            }
            self.skip_value(depth + 1)?;
            if self.eat(&[close]) {
                return Some(());
            }
            self.expect(b',')?;
        }
    }
    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let b = self.0;
        let digits = |i: usize| {
            b[i.min(b.len())..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let mut i = usize::from(b.first() == Some(&b'-'));
        let n = digits(i);
        if n == 0 || (n > 1 && b[i] == b'0') {
            return None;
        }
        i += n;
        if b.get(i) == Some(&b'.') {
            let n = digits(i + 1);
            if n == 0 {
                return None;
            }
            i += 1 + n;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let n = digits(i);
            if n == 0 {
                return None;
            }
            i += n;
        }
        self.0 = &b[i..];
        Some(())
    }
    /// `null` or an object of the known counters, each at most once.
    fn usage(&mut self) -> Option<Option<Usage>> {
        if self.eat(b"null") {
            return Some(None);
        }
        self.expect(b'{')?;
        let mut u = Usage::default();
        if self.eat(b"}") {
            return Some(Some(u));
        }
        let mut seen = 0u8;
        loop {
            // Told apart by the letter after the quote (one comparison of the name each).
            let (bit, field) = match self.0.get(1) {
                Some(b'i') if self.eat(b"\"input_tokens\":") => (0, &mut u.input_tokens),
                Some(b'c') if self.eat(b"\"cached_input_tokens\":") => {
                    (1, &mut u.cached_input_tokens)
                }
                Some(b'c') if self.eat(b"\"cache_write_input_tokens\":") => {
                    (2, &mut u.cache_write_input_tokens)
                }
                Some(b'o') if self.eat(b"\"output_tokens\":") => (3, &mut u.output_tokens),
                Some(b'r') if self.eat(b"\"reasoning_output_tokens\":") => {
                    (4, &mut u.reasoning_output_tokens)
                }
                Some(b't') if self.eat(b"\"total_tokens\":") => (5, &mut u.total_tokens),
                _ => return None,
            };
            if seen & (1 << bit) != 0 {
                return None;
            }
            seen |= 1 << bit;
            *field = self.int()?;
            if self.eat(b"}") {
                return Some(Some(u));
            }
            self.expect(b',')?;
        }
    }
}

/// What a line of the shape the typed read accepts holds.
#[derive(Deserialize)]
struct FastLine<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Option<FastPayload<'a>>,
}

/// Every payload field any interesting kind of line is read for; the rest is skipped.
#[derive(Deserialize)]
struct FastPayload<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    forked_from_id: Option<Cow<'a, str>>,
    /// A string (`"cli"`) or an object (a sub-agent's parent): read only when needed.
    #[serde(borrow)]
    source: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    cwd: Option<Cow<'a, str>>,
    #[serde(borrow)]
    git: Option<FastGit<'a>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    thread_settings: Option<FastSettings<'a>>,
    #[serde(borrow)]
    info: Option<FastInfo<'a>>,
}

#[derive(Deserialize)]
struct FastGit<'a> {
    #[serde(borrow)]
    branch: Option<Cow<'a, str>>,
    #[serde(borrow)]
    repository_url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FastSettings<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_tier: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FastInfo<'a> {
    total_token_usage: Option<Usage>,
    last_token_usage: Option<Usage>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
}

/// A non-empty string, owned (what [`s`] gives for a field of the general read).
fn owned(v: &Option<Cow<'_, str>>) -> Option<String> {
    v.as_deref().filter(|x| !x.is_empty()).map(str::to_string)
}

impl FastPayload<'_> {
    /// [`parent_of`] of the same payload.
    fn parent(&self) -> Option<String> {
        owned(&self.forked_from_id).or_else(|| {
            let raw = self.source?.get();
            if !raw.starts_with('{') {
                return None;
            }
            let v: serde_json::Value = serde_json::from_str(raw).ok()?;
            s(&v, &["subagent", "thread_spawn", "parent_thread_id"])
        })
    }
    fn id(&self) -> Option<String> {
        owned(&self.id).or_else(|| owned(&self.session_id))
    }
}

fn apply_fast(
    l: FastLine<'_>,
    path: &Path,
    state: &mut FileState,
    out: &mut Vec<UsageEvent>,
) -> Result<(), ParseError> {
    let Some(p) = l.payload else { return Ok(()) };
    match l.ty.as_deref() {
        Some("session_meta") => {
            on_session_meta(
                state,
                p.id(),
                || p.parent(),
                || {
                    (
                        owned(&p.cwd),
                        p.git.as_ref().and_then(|g| owned(&g.branch)),
                        p.git.as_ref().and_then(|g| owned(&g.repository_url)),
                    )
                },
            );
        }
        Some("turn_context") => on_turn_context(state, owned(&p.model), owned(&p.cwd)),
        Some("event_msg") => match p.ty.as_deref() {
            Some("thread_settings_applied") => {
                let t = p.thread_settings.as_ref();
                on_thread_settings(
                    state,
                    t.and_then(|t| owned(&t.model)),
                    t.and_then(|t| owned(&t.service_tier)),
                );
            }
            Some("token_count") => {
                let Some(info) = p.info else { return Ok(()) };
                on_token_count(
                    state,
                    path,
                    l.timestamp.as_deref(),
                    info.total_token_usage,
                    info.last_token_usage,
                    owned(&info.model),
                    out,
                )?;
            }
            _ => {}
        },
        _ => {}
    }
    Ok(())
}

/// The general read: any JSON object, as a tree.
fn parse_general(
    line: &[u8],
    path: &Path,
    state: &mut FileState,
    out: &mut Vec<UsageEvent>,
) -> Result<(), ParseError> {
    let l: Line = serde_json::from_slice(line)?;
    let Some(p) = l.payload else { return Ok(()) };
    match l.ty.as_deref() {
        Some("session_meta") => {
            let id = s(&p, &["id"]).or_else(|| s(&p, &["session_id"]));
            on_session_meta(
                state,
                id,
                || parent_of(&p),
                || {
                    (
                        s(&p, &["cwd"]),
                        s(&p, &["git", "branch"]),
                        s(&p, &["git", "repository_url"]),
                    )
                },
            );
        }
        Some("turn_context") => on_turn_context(state, s(&p, &["model"]), s(&p, &["cwd"])),
        Some("event_msg") => match p.get("type").and_then(|t| t.as_str()) {
            Some("thread_settings_applied") => on_thread_settings(
                state,
                s(&p, &["thread_settings", "model"]),
                s(&p, &["thread_settings", "service_tier"]),
            ),
            Some("token_count") => {
                let Some(info) = p.get("info").filter(|i| !i.is_null()) else {
                    return Ok(());
                };
                let total: Option<Usage> = info
                    .get("total_token_usage")
                    .filter(|v| !v.is_null())
                    .map(|v| serde_json::from_value(v.clone()))
                    .transpose()?;
                let last: Option<Usage> = info
                    .get("last_token_usage")
                    .filter(|v| !v.is_null())
                    .map(|v| serde_json::from_value(v.clone()))
                    .transpose()?;
                on_token_count(
                    state,
                    path,
                    l.timestamp.as_deref(),
                    total,
                    last,
                    s(info, &["model"]),
                    out,
                )?;
            }
            _ => {}
        },
        _ => {}
    }
    Ok(())
}

/// A `session_meta` line: its id, its parent (asked only for the first and for an ancestor
/// that is the current scope) and its cwd, branch and repository (asked only for the first).
fn on_session_meta(
    state: &mut FileState,
    id: Option<String>,
    parent: impl FnOnce() -> Option<String>,
    place: impl FnOnce() -> (Option<String>, Option<String>, Option<String>),
) {
    // Only the first session_meta describes this file; later ones are ancestors, replayed at
    // the start of the copied history. An ancestor that is itself a fork moves the dedup scope
    // up to its own parent, so every copy of a request is keyed under the lineage's root
    // however deep the fork (keyed by the direct parent, a fork of a fork counted its
    // grandparent's requests again).
    if state.extra.contains_key("meta") {
        let scope = state.extra.get("scope").and_then(|v| v.as_str());
        if id.is_some() && id.as_deref() == scope && !state.counters.contains_key("total") {
            if let Some(up) = parent() {
                state.extra.insert("scope".into(), up.into());
            }
        }
        return;
    }
    state.extra.insert("meta".into(), true.into());
    state.session_id = id;
    (state.cwd, state.branch, state.repo) = place();
    // Dedup scope: a fork or sub-agent replays its parent's events first, so its counted
    // events are keyed in the parent's scope; everything else in its own.
    let scope = parent().or_else(|| state.session_id.clone());
    if let Some(sc) = scope {
        state.extra.insert("scope".into(), sc.into());
    }
}

fn on_turn_context(state: &mut FileState, model: Option<String>, cwd: Option<String>) {
    if let Some(m) = model {
        state.model = Some(m);
    }
    if let Some(c) = cwd {
        state.cwd = Some(c);
    }
}

fn on_thread_settings(state: &mut FileState, model: Option<String>, tier: Option<String>) {
    if let Some(m) = model {
        state.model = Some(m);
    }
    match tier {
        Some(t) => {
            state.extra.insert("tier".into(), t.into());
        }
        None => {
            state.extra.remove("tier");
        }
    }
}

/// A `token_count` event with `info`: counts the change of the running total (or, without
/// one, the last call's usage).
fn on_token_count(
    state: &mut FileState,
    path: &Path,
    timestamp: Option<&str>,
    total: Option<Usage>,
    last: Option<Usage>,
    info_model: Option<String>,
    out: &mut Vec<UsageEvent>,
) -> Result<(), ParseError> {
    let ts = timestamp
        .and_then(parse_ts_ms)
        .ok_or_else(|| ParseError("token_count without a valid timestamp".into()))?;
    let (delta, key) = match total {
        Some(t) => {
            let prev = state
                .counters
                .get("total")
                .map(|v| Usage::from_vec(v))
                .unwrap_or_default();
            if t == prev {
                return Ok(()); // re-emitted event
            }
            match state.counters.get_mut("total") {
                Some(v) => {
                    v.clear();
                    v.extend_from_slice(&t.array());
                }
                None => {
                    state.counters.insert("total".into(), t.vec());
                }
            }
            let l = last.unwrap_or_default();
            let mut key = String::with_capacity(160);
            match state.extra.get("scope").and_then(|v| v.as_str()) {
                Some(sc) => key.push_str(sc),
                None => key.push_str(&session_from_name(path).unwrap_or_default()),
            }
            key.push_str(":t");
            push_joined(&mut key, &t.array());
            key.push_str(":l");
            push_joined(&mut key, &l.array());
            (t.minus(&prev), key)
        }
        None => match last {
            Some(l) => {
                let mut key = state.session_id.clone().unwrap_or_default();
                key.push(':');
                push_int(&mut key, ts);
                key.push_str(":l");
                push_joined(&mut key, &l.array());
                (l, key)
            }
            None => return Ok(()),
        },
    };
    let tokens = delta.tokens();
    // Every new call takes its response's input from the history, counted or not.
    let total = tokens.prompt_total();
    let ctx = state.scratch.with(|h: &mut History| h.compose(total));
    if tokens.is_zero() {
        return Ok(());
    }
    // A fork's or sub-agent's file holds copies of its parent's requests: the parent's own
    // record wins, whichever file is read first (it is last-wins, and a copy is never earlier
    // than the original). Among forks replaying the same history with the parent gone, the
    // earliest copy wins: the replay is stamped with the fork's start, so the fork that
    // started first owns the shared prefix, with its times, in any reading order.
    let scope = state.extra.get("scope").and_then(|v| v.as_str());
    let original = scope.is_none() || scope == state.session_id.as_deref();
    let merge = if original {
        Merge::LastWins
    } else {
        Merge::Earliest
    };
    let mut ev = UsageEvent::new(TOOL, key, merge, ts);
    ev.model = info_model.or_else(|| state.model.clone());
    ev.provider = Some("openai".into());
    ev.tokens = tokens;
    ev.ctx = ctx;
    ev.session_id = state.session_id.clone().or_else(|| session_from_name(path));
    ev.cwd = state.cwd.clone();
    ev.branch = state.branch.clone();
    ev.repo_hint = state.repo.clone();
    ev.speed = state
        .extra
        .get("tier")
        .and_then(|v| v.as_str())
        .filter(|t| *t == "priority" || *t == "flex")
        .map(str::to_string);
    out.push(ev);
    Ok(())
}

/// `v` joined by commas (`1,0,2`): the counter vectors in a dedup key.
fn push_joined(key: &mut String, v: &[i64]) {
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        push_int(key, *x);
    }
}

/// `x` in decimal, as `to_string` writes it (without the formatting machinery: `itoa` writes
/// two digits a step and skips the UTF-8 check of the digits, which made this loop 9 % of a
/// Codex parse worker).
fn push_int(key: &mut String, x: i64) {
    key.push_str(itoa::Buffer::new().format(x));
}

/// The uuid at the end of `rollout-<date>-<uuid>.jsonl`.
fn session_from_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_string_lossy();
    (stem.len() >= 36).then(|| stem[stem.len() - 36..].to_string())
}

/// Whether `s` holds a byte below 0x20 (a control character, which JSON strings may not hold
/// raw), eight bytes at a time: a word of bytes `x` has one below 0x20 exactly when
/// `(x - 0x2020..) & !x & 0x8080..` is not zero; a hit is checked byte by byte.
fn has_control(s: &[u8]) -> bool {
    const LOW: u64 = 0x2020_2020_2020_2020;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        if x.wrapping_sub(LOW) & !x & HIGH != 0 && w.iter().any(|&b| b < 0x20) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2026-11-23T00:59:24.384Z";

    /// The word-at-a-time control-character check agrees with the byte loop on every length
    /// up to 40 and every position of one byte of each value (and with none).
    #[test]
    fn has_control_agrees_with_the_byte_loop() {
        for len in 0..40usize {
            let base: Vec<u8> = (0..len).map(|i| b' ' + (i as u8 % 90)).collect();
            assert!(!has_control(&base), "{len}");
            for pos in 0..len {
                for v in 0..=255u8 {
                    let mut s = base.clone();
                    s[pos] = v;
                    assert_eq!(
                        has_control(&s),
                        s.iter().any(|&b| b < 0x20),
                        "{len} {pos} {v}"
                    );
                }
            }
        }
    }

    fn tc(info: &str, tail: &str) -> String {
        format!(
            r#"{{"timestamp":"{TS}","type":"event_msg","payload":{{"type":"token_count","info":{info}{tail}}}}}"#
        )
    }

    /// Events and state after `lines`, each read the way `how` says: 0 = as `parse_line`
    /// does, 1 = the typed read only, 2 = the general read only.
    fn run(lines: &[String], how: u8) -> (Vec<Result<(), ParseError>>, Vec<UsageEvent>, FileState) {
        let path =
            Path::new("/x/rollout-2026-11-23T00-59-24-019a001f-0000-7000-801f-83789d989e2e.jsonl");
        let mut st = FileState::default();
        let mut out = Vec::new();
        let mut res = Vec::new();
        for l in lines {
            let b = l.as_bytes();
            res.push(match how {
                0 => CodexParser.parse_line(b, path, &mut st, &mut out),
                1 => match serde_json::from_slice::<FastLine>(b) {
                    Ok(x) => apply_fast(x, path, &mut st, &mut out),
                    Err(e) => Err(e.into()),
                },
                _ => parse_general(b, path, &mut st, &mut out),
            });
        }
        (res, out, st)
    }

    fn meta() -> String {
        format!(
            r#"{{"timestamp":"{TS}","type":"session_meta","payload":{{"id":"s1","cwd":"/w","source":"cli","git":{{"branch":"main","repository_url":"u"}},"base_instructions":{{"text":"long \"text\" é"}}}}}}"#
        )
    }

    #[test]
    fn every_read_gives_the_same_events() {
        let u = |i: i64, c: i64, o: i64| {
            format!(
                r#"{{"input_tokens":{i},"cached_input_tokens":{c},"output_tokens":{o},"reasoning_output_tokens":1,"total_tokens":{}}}"#,
                i + o
            )
        };
        let rl = r#","rate_limits":{"limit_id":"codex","limit_name":null,"primary":{"used_percent":4.0,"window_minutes":300,"resets_at":1771890497},"secondary":null}"#;
        let lines = vec![
            meta(),
            format!(
                r#"{{"timestamp":"{TS}","type":"turn_context","payload":{{"cwd":"/w/sub","model":"gpt-5.2-codex","sandbox_policy":{{"type":"x"}}}}}}"#
            ),
            tc("null", rl),
            tc(
                &format!(
                    r#"{{"total_token_usage":{},"last_token_usage":{},"model_context_window":258400}}"#,
                    u(100, 50, 10),
                    u(100, 50, 10)
                ),
                rl,
            ),
            // Re-emitted: nothing new.
            tc(
                &format!(
                    r#"{{"total_token_usage":{},"last_token_usage":{},"model_context_window":258400}}"#,
                    u(100, 50, 10),
                    u(100, 50, 10)
                ),
                rl,
            ),
            // Without rate limits, counters in another order, a null window.
            tc(
                &format!(
                    r#"{{"last_token_usage":{{"output_tokens":5,"input_tokens":20}},"total_token_usage":{},"model_context_window":null}}"#,
                    u(120, 50, 15)
                ),
                "",
            ),
            // A model in info (the typed read), whitespace (the typed read).
            tc(
                &format!(
                    r#"{{"total_token_usage":{},"model":"gpt-5.3-codex"}}"#,
                    u(200, 60, 20)
                ),
                rl,
            ),
            tc(
                &format!(r#"{{ "total_token_usage": {} }}"#, u(300, 60, 25)),
                rl,
            ),
            // Only a last call.
            tc(
                &format!(
                    r#"{{"total_token_usage":null,"last_token_usage":{}}}"#,
                    u(7, 0, 3)
                ),
                rl,
            ),
            tc("{}", rl),
            // A duplicated counter (the general read takes the last copy), a float (an error).
            tc(
                r#"{"total_token_usage":{"input_tokens":400,"input_tokens":401}}"#,
                rl,
            ),
            tc(r#"{"total_token_usage":{"input_tokens":400.0}}"#, rl),
            // Leading zero, huge number, corrupt rate limits: errors.
            tc(r#"{"total_token_usage":{"input_tokens":0400}}"#, rl),
            tc(
                r#"{"total_token_usage":{"input_tokens":99999999999999999999}}"#,
                rl,
            ),
            tc(
                &format!(r#"{{"total_token_usage":{}}}"#, u(500, 60, 30)),
                r#","rate_limits":{"primary":}"#,
            ),
            // Negative counters are read as they are (range checks come later).
            tc(
                r#"{"total_token_usage":{"input_tokens":-5,"output_tokens":600}}"#,
                rl,
            ),
            // A bad timestamp.
            tc(
                &format!(r#"{{"total_token_usage":{}}}"#, u(900, 60, 30)),
                rl,
            )
            .replace(TS, "yesterday"),
            // Unknown info key: the typed read skips it.
            tc(
                &format!(
                    r#"{{"total_token_usage":{},"extra":[1,2]}}"#,
                    u(1000, 60, 30)
                ),
                rl,
            ),
            format!(
                r#"{{"timestamp":"{TS}","type":"event_msg","payload":{{"type":"thread_settings_applied","thread_settings":{{"model":"gpt-5.1-codex-mini","service_tier":"priority"}}}}}}"#
            ),
            tc(
                &format!(r#"{{"total_token_usage":{}}}"#, u(1100, 60, 31)),
                rl,
            ),
        ];
        let (r0, e0, s0) = run(&lines, 0);
        let (_, e2, s2) = run(&lines, 2);
        let r2: Vec<bool> = run(&lines, 2).0.iter().map(|r| r.is_ok()).collect();
        assert_eq!(r0.iter().map(|r| r.is_ok()).collect::<Vec<_>>(), r2);
        assert_eq!(e0, e2);
        assert_eq!(s0, s2);
        // What was counted: 100, 20 (120), 80 (200), 100 (300), 7 (only a last call), 401 -
        // 300 (the duplicate's last copy), 0 (-5: output only), 1000 - (-5 clamped to 0) + 5,
        // 1100 - 1000 at the priority tier.
        let inputs: Vec<i64> = e0
            .iter()
            .map(|e| e.tokens.input + e.tokens.cache_read)
            .collect();
        assert_eq!(inputs, vec![100, 20, 80, 100, 7, 101, 0, 1005, 100]);
        assert_eq!(e0[0].model.as_deref(), Some("gpt-5.2-codex"));
        assert_eq!(e0[2].model.as_deref(), Some("gpt-5.3-codex"));
        assert_eq!(e0[8].speed.as_deref(), Some("priority"));
        assert_eq!(e0[7].speed, None);
        assert_eq!(e0[0].cwd.as_deref(), Some("/w/sub"));
        assert_eq!(e0[0].branch.as_deref(), Some("main"));
        assert_eq!(e0[0].dedup_key, "s1:t100,50,0,10,1,110:l100,50,0,10,1,110");
        // The lines the general read rejects are errors in every read.
        let bad: Vec<usize> = r0
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, vec![11, 12, 13, 14, 16]);
        // The typed read alone agrees wherever it reads a line.
        let (r1, _, _) = run(&lines, 1);
        assert!(r1[3].is_ok() && r1[6].is_ok() && r1[0].is_ok());
    }

    #[test]
    fn the_hand_read_takes_only_the_exact_shape() {
        let rl = r#","rate_limits":{"a":[1,{"b":null}]}"#;
        let full = r#"{"total_token_usage":{"input_tokens":10,"cached_input_tokens":2,"output_tokens":3,"reasoning_output_tokens":1,"total_tokens":13},"last_token_usage":null,"model_context_window":5}"#;
        match quick_token_count(tc(full, rl).as_bytes()) {
            Some(QuickCount::Info { ts, total, last }) => {
                assert_eq!(ts, TS);
                assert_eq!(total.map(|t| t.array()), Some([10, 2, 0, 3, 1, 13]));
                assert_eq!(last, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            quick_token_count(tc("null", rl).as_bytes()),
            Some(QuickCount::NoInfo)
        );
        for not in [
            tc(full, &format!("{rl},\"more\":1")),
            tc(full, " "),
            tc(
                r#"{"total_token_usage":{"input_tokens":1},"model":"m"}"#,
                rl,
            ),
            tc(r#"{"total_token_usage":{"input_tokens":1e3}}"#, rl),
            tc(
                r#"{"total_token_usage":{"input_tokens":1},"total_token_usage":{"input_tokens":2}}"#,
                rl,
            ),
            tc(r#"{"total_token_usage":{"new_counter":1}}"#, rl),
            tc(full, rl).replace(TS, "2026-11-23T00:59:24\\u002e384Z"),
            tc(full, r#","rate_limits":{"a":}"#),
        ] {
            assert_eq!(quick_token_count(not.as_bytes()), None, "{not}");
        }
    }

    #[test]
    fn the_hand_skip_accepts_only_what_serde_accepts() {
        for v in [
            r#"{"limit_id":"codex","limit_name":null,"primary":{"used_percent":4.0,"window_minutes":300,"resets_at":1771890497},"secondary":{"used_percent":1e-3,"x":[true,false,-0,[],{}]}}"#,
            r#""é""#,
            "0",
            "-12.5E+3",
            "[]",
        ] {
            let mut c = Cursor(v.as_bytes());
            assert_eq!(c.skip_value(0), Some(()), "{v}");
            assert!(c.0.is_empty(), "{v}");
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok(),
                "{v}"
            );
        }
        // Invalid JSON is never stepped over; valid JSON it does not take is left to serde.
        for (v, valid) in [
            ("01", false),
            ("1.", false),
            ("-", false),
            ("1e", false),
            ("{\"a\"}", false),
            ("{\"a\":1,}", false),
            ("[1,]", false),
            ("{1:2}", false),
            ("tru", false),
            ("\"a\u{1}\"", false),
            ("\"a\\\"b\"", true),
            ("{ }", true),
            ("[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]", true),
        ] {
            let mut c = Cursor(v.as_bytes());
            let whole = c.skip_value(0).is_some() && c.0.is_empty();
            assert!(!whole, "{v}");
            assert_eq!(
                serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok(),
                valid,
                "{v}"
            );
        }
    }

    #[test]
    fn the_hand_read_of_a_turn_gives_what_serde_gives() {
        let turn = |payload: &str| {
            format!(r#"{{"timestamp":"{TS}","type":"turn_context","payload":{payload}}}"#)
        };
        let plain = [
            r#"{"turn_id":"t","cwd":"/w/a","approval_policy":"on-request","sandbox_policy":{"type":"workspace-write","network_access":false},"model":"gpt-5.2-codex","effort":"medium","summary":"auto"}"#,
            r#"{"model":"m-é"}"#,
            r#"{"cwd":"","model":""}"#,
            r#"{}"#,
            r#"{"cwd":"/w/b","x":[1,2.5,{"y":null}]}"#,
        ];
        let other = [
            r#"{"model":null,"cwd":"/w"}"#,
            r#"{"model":"a","model":"b"}"#,
            r#"{"cwd":"/w\/x"}"#,
            r#"{"type":"turn","model":"m"}"#,
            r#"{"git":{"branch":"b"},"model":"m"}"#,
            r#"{"model":1}"#,
            r#"{"model":"m","x":{"a":}}"#,
            r#"{"model":"m" ,"cwd":"/w"}"#,
        ];
        for (p, quick) in plain
            .iter()
            .map(|p| (p, true))
            .chain(other.iter().map(|p| (p, false)))
        {
            let line = turn(p);
            assert_eq!(
                quick_turn_context(line.as_bytes()).is_some(),
                quick,
                "{line}"
            );
            let (r0, e0, s0) = run(std::slice::from_ref(&line), 0);
            let (r2, e2, s2) = run(std::slice::from_ref(&line), 2);
            assert_eq!(
                r0.iter().map(|r| r.is_ok()).collect::<Vec<_>>(),
                r2.iter().map(|r| r.is_ok()).collect::<Vec<_>>(),
                "{line}"
            );
            assert_eq!(e0, e2, "{line}");
            assert_eq!((s0.model, s0.cwd), (s2.model, s2.cwd), "{line}");
        }
        let (_, _, st) = run(&[turn(plain[0])], 0);
        assert_eq!(
            (st.model.as_deref(), st.cwd.as_deref()),
            (Some("gpt-5.2-codex"), Some("/w/a"))
        );
    }

    #[test]
    fn rate_limits_seen_before_are_the_only_ones_let_through_unchecked() {
        let full = r#"{"total_token_usage":{"input_tokens":1}}"#;
        let good = r#","rate_limits":{"primary":{"used_percent":4.0}}"#;
        // Same length as `good`, one byte broken.
        let bad = r#","rate_limits":{"primary":{"used_percent":4.0]}"#;
        let on_a_new_thread = std::thread::spawn(move || {
            let q = |tail: &str| quick_token_count(tc(full, tail).as_bytes()).is_some();
            [
                q(r#","rate_limits":"#),
                q(good),
                q(good),
                q(bad),
                q(r#","rate_limits":"#),
                q(good),
            ]
        });
        assert_eq!(
            on_a_new_thread.join().unwrap(),
            [false, true, true, false, false, true]
        );
    }

    /// A JSON value as Codex writes one (no whitespace, no escapes), nested `depth` deep at most.
    fn plain_json(depth: u32) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            (any::<i32>(), 0u32..999, -20i32..20).prop_map(|(a, b, e)| format!("{a}.{b}e{e}")),
            "[a-z_é]{0,40}".prop_map(|s| format!("\"{s}\"")),
        ];
        leaf.prop_recursive(depth, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(("[a-z]{0,20}", inner), 0..6).prop_map(|v| {
                    let f: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
                    format!("{{{}}}", f.join(","))
                }),
            ]
        })
    }

    /// The definition `Cursor::int` had before it became one pass: digits counted, then
    /// summed with overflow checks.
    fn int_two_pass(c: &mut Cursor) -> Option<i64> {
        let neg = c.eat(b"-");
        let n = c.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 19 || (n > 1 && c.0[0] == b'0') {
            return None;
        }
        if !matches!(c.0.get(n), Some(b',' | b'}')) {
            return None;
        }
        let mut v: i64 = 0;
        for &d in &c.0[..n] {
            v = v.checked_mul(10)?.checked_add((d - b'0') as i64)?;
        }
        c.0 = &c.0[n..];
        Some(if neg { -v } else { v })
    }

    proptest::proptest! {
        /// The one-pass integer read takes and gives what the two-pass one did: digits of
        /// any length, signs, leading zeros, what follows, the edges of i64.
        #[test]
        fn the_one_pass_int_reads_as_the_two_pass_did(
            digits in "-?[0-9]{0,21}",
            edge in proptest::sample::select(vec![
                String::new(), i64::MAX.to_string(), i64::MIN.to_string(),
                "9223372036854775808".into(), "18446744073709551615".into(), "0".into(), "00".into(),
            ]),
            tail in proptest::sample::select(vec!["", ",", "}", "x", "]", "1"]),
        ) {
            let text = format!("{edge}{digits}{tail}");
            let (mut a, mut b) = (Cursor(text.as_bytes()), Cursor(text.as_bytes()));
            proptest::prop_assert_eq!(a.int(), int_two_pass(&mut b));
            proptest::prop_assert_eq!(a.0, b.0);
        }

        /// Every value of the shape Codex writes is stepped over whole.
        #[test]
        fn the_hand_skip_steps_over_plain_json(v in plain_json(14)) {
            let mut c = Cursor(v.as_bytes());
            proptest::prop_assert_eq!(c.skip_value(0), Some(()));
            proptest::prop_assert!(c.0.is_empty());
        }

        /// Whatever it steps over (a plain value cut, spliced or with a byte changed) serde
        /// reads as exactly one value.
        #[test]
        fn what_the_hand_skip_steps_over_is_json(
            v in plain_json(17),
            at in 0usize..400,
            byte in proptest::prelude::any::<u8>(),
            cut in proptest::prelude::any::<bool>(),
        ) {
            let mut b = v.into_bytes();
            if !b.is_empty() {
                let at = at % b.len();
                if cut { b.truncate(at) } else { b[at] = byte }
            }
            let mut c = Cursor(&b);
            if c.skip_value(0).is_some() {
                let n = b.len() - c.0.len();
                proptest::prop_assert!(
                    serde_json::from_slice::<serde::de::IgnoredAny>(&b[..n]).is_ok(),
                    "{:?}", String::from_utf8_lossy(&b[..n])
                );
            }
        }
    }

    #[test]
    fn integers_are_written_as_to_string_writes_them() {
        for x in [0, 7, -7, 10, 1_000_000_000_000, i64::MAX, i64::MIN] {
            let mut s = String::new();
            push_int(&mut s, x);
            assert_eq!(s, x.to_string());
        }
    }
}
