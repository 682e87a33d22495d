//! Claude Code transcripts (`~/.claude/projects/**/*.jsonl`, subagents included).
//!
//! Usage lives only on `type:"assistant"` lines, in `message.usage`. One API response is written
//! as several lines (one per content block) carrying copies of the usage snapshot; the last has
//! the final output count. Events are keyed by (`message.id`, `requestId`) across all files and
//! merged keep-max, so streaming copies and resumed/forked sessions count once.
//!
//! `progress` lines with `data.type` = `agent_progress` (Claude Code 2.1) embed a subagent's
//! request under `data.message`, the same request its own `subagents/agent-*.jsonl` file holds.
//! They are read with the same key (`message.id`, `requestId`) as that file's lines, so a request
//! seen in both places is one row (keep-max: the subagent file's final copy wins) and one seen
//! only in `progress` (older versions, or the subagent file gone) is counted too.

use super::claude_ctx::{Graph, Results, Seen, Spans};
use super::{FileState, Format, ParseError, Parser};
use crate::event::{parse_ts_ms, Merge, Tokens, UsageEvent};
use serde::Deserialize;
use std::borrow::Cow;
use std::path::Path;

/// Claude Code's JSONL transcripts.
pub struct ClaudeParser;

/// Tool id.
pub const TOOL: &str = "claude-code";

// Borrowed where the log text allows (strings without escapes): no allocation per field.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cwd: Option<Cow<'a, str>>,
    #[serde(rename = "gitBranch", borrow)]
    git_branch: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain")]
    is_sidechain: Option<bool>,
    #[serde(rename = "costUSD")]
    cost_usd: Option<f64>,
    #[serde(borrow)]
    message: Option<Message<'a>>,
}

/// A `progress` line: only its embedded subagent record is read.
#[derive(Deserialize)]
struct ProgressLine<'a> {
    #[serde(borrow)]
    data: Option<ProgressData<'a>>,
}

#[derive(Deserialize)]
struct ProgressData<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Line<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    usage: Option<Usage<'a>>,
}

#[derive(Deserialize, Default)]
struct Usage<'a> {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
    cache_read_input_tokens: Option<i64>,
    cache_creation: Option<CacheCreation>,
    #[serde(borrow)]
    speed: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_tier: Option<Cow<'a, str>>,
    iterations: Option<Vec<Iteration>>,
}

#[derive(Deserialize, Default)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<i64>,
    ephemeral_1h_input_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct Iteration {
    #[serde(rename = "type")]
    ty: Option<String>,
    model: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
    cache_read_input_tokens: Option<i64>,
    cache_creation: Option<CacheCreation>,
}

/// Disjoint buckets from Anthropic-style usage (input excludes cache). A `cache_creation` split
/// that sums to less than the total puts the remainder at the 5-minute rate.
fn tokens(
    input: Option<i64>,
    output: Option<i64>,
    cw_total: Option<i64>,
    cr: Option<i64>,
    split: Option<&CacheCreation>,
) -> Tokens {
    let cw_total = cw_total.unwrap_or(0).max(0);
    let (mut cw5, cw1h) = match split {
        Some(c) => (
            c.ephemeral_5m_input_tokens.unwrap_or(0).max(0),
            c.ephemeral_1h_input_tokens.unwrap_or(0).max(0),
        ),
        None => (cw_total, 0),
    };
    if cw5 + cw1h < cw_total {
        cw5 += cw_total - cw5 - cw1h;
    }
    Tokens {
        input: input.unwrap_or(0).max(0),
        cache_write_5m: cw5,
        cache_write_1h: cw1h,
        cache_read: cr.unwrap_or(0).max(0),
        output: output.unwrap_or(0).max(0),
        reasoning: 0,
    }
}

// Failed tool calls (for the loop signal): a user line's `tool_result` blocks with
// `is_error: true`. Only a hash of the error's JSON is kept, never its text; it waits in the file
// state until the next request, which every copy of that request then carries.
const ERR_PENDING: &str = "tool_error_pending";
const ERR_REQ: &str = "tool_error_req";
const ERR_HASH: &str = "tool_error_hash";

#[derive(Deserialize)]
struct UserLine {
    #[serde(rename = "type")]
    ty: Option<String>,
    message: Option<UserMessage>,
}

#[derive(Deserialize)]
struct UserMessage {
    content: Option<serde_json::Value>,
}

/// Remembers (as a hash) the failed tool calls of a user line, or forgets earlier ones when
/// its tool calls succeeded. Only lines with an error are parsed (tool results can be large).
fn note_tool_results(line: &[u8], state: &mut FileState) {
    let f = finders();
    let has_error = f.is_error.find(line).is_some() || f.is_error_spaced.find(line).is_some();
    if !has_error {
        if f.type_user.find(line).is_some() {
            state.extra.remove(ERR_PENDING);
        }
        return;
    }
    let Ok(l) = serde_json::from_slice::<UserLine>(line) else {
        return;
    };
    if l.ty.as_deref() != Some("user") {
        return;
    }
    let Some(serde_json::Value::Array(blocks)) = l.message.and_then(|m| m.content) else {
        return;
    };
    let mut hashes: Vec<u64> = Vec::new();
    let mut results = 0;
    for b in &blocks {
        if b.get("type").and_then(|t| t.as_str()) != Some("tool_result") {
            continue;
        }
        results += 1;
        if b.get("is_error").and_then(|e| e.as_bool()) == Some(true) {
            let body = b.get("content").map(|c| c.to_string()).unwrap_or_default();
            hashes.push(crate::dedup::key_hash("tool_error", &body) as u64);
        }
    }
    if results == 0 {
        return;
    }
    if hashes.is_empty() {
        state.extra.remove(ERR_PENDING);
        return;
    }
    pending_error(hashes, state);
}

/// The failed tool calls of a user line, from the spans the walk found (`Graph::note`): the
/// same hashes [`note_tool_results`] makes, without parsing the whole line (whose
/// `toolUseResult` holds a copy of every output). Only an error's `content` is parsed. False
/// when one of them does not parse (the whole line is then read as before).
fn walked_tool_results(line: &[u8], r: &Results, state: &mut FileState) -> bool {
    if r.errors.is_empty() {
        state.extra.remove(ERR_PENDING);
        return true;
    }
    let mut hashes: Vec<u64> = Vec::with_capacity(r.errors.len());
    for span in &r.errors {
        let body = match span {
            None => String::new(),
            Some((s, e)) => match serde_json::from_slice::<serde_json::Value>(&line[*s..*e]) {
                Ok(v) => v.to_string(),
                Err(_) => return false,
            },
        };
        hashes.push(crate::dedup::key_hash("tool_error", &body) as u64);
    }
    pending_error(hashes, state);
    true
}

/// The top-level `type` of a walked line.
fn line_type<'a>(b: &'a [u8], sp: &Spans) -> Option<&'a [u8]> {
    let (s, e) = sp.ty?;
    super::context::json::str_at(b, s, e)
}

/// Remembers the hashes of a line's failed tool calls until the next request.
fn pending_error(mut hashes: Vec<u64>, state: &mut FileState) {
    hashes.sort_unstable();
    let joined: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
    let h = crate::dedup::key_hash("tool_errors", &joined.join(",")) as u64;
    state.extra.insert(ERR_PENDING.into(), h.into());
}

/// The error hash the request `key` follows: a pending one is given to it (and to every later
/// copy of the same request).
fn take_tool_error(state: &mut FileState, key: &str) -> Option<u64> {
    if let Some(p) = state.extra.remove(ERR_PENDING) {
        state.extra.insert(ERR_REQ.into(), key.into());
        state.extra.insert(ERR_HASH.into(), p);
    }
    match state.extra.get(ERR_REQ) {
        Some(serde_json::Value::String(k)) if k == key => {
            state.extra.get(ERR_HASH).and_then(|h| h.as_u64())
        }
        _ => None,
    }
}

/// The substrings lines are searched for, built once (a `memmem::find` call builds its
/// searcher each time).
struct Finders {
    is_error: memchr::memmem::Finder<'static>,
    is_error_spaced: memchr::memmem::Finder<'static>,
    type_user: memchr::memmem::Finder<'static>,
    usage: memchr::memmem::Finder<'static>,
    tool_result: memchr::memmem::Finder<'static>,
}

fn finders() -> &'static Finders {
    static F: std::sync::OnceLock<Finders> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let f = |n: &'static str| memchr::memmem::Finder::new(n.as_bytes());
        Finders {
            is_error: f("\"is_error\":true"),
            is_error_spaced: f("\"is_error\": true"),
            type_user: f("\"type\":\"user\""),
            usage: f("\"usage\""),
            tool_result: f("\"tool_result\""),
        }
    })
}

/// The typed line from the spans one walk found (`Graph::note`), for a whole assistant line
/// whose fields all have the types the typed parse expects; `None` sends the line to that
/// parse (progress lines, anything unusual), which reads it or says what is wrong.
fn from_spans<'a>(b: &'a [u8], sp: &Spans) -> Option<Line<'a>> {
    if sp.end == 0 || super::context::json::ws(b, sp.end) != b.len() {
        return None;
    }
    let ty = text(b, sp.ty)?;
    if ty.as_deref() != Some("assistant") {
        return None;
    }
    let null = |s: (usize, usize)| &b[s.0..s.1] == b"null";
    let is_sidechain = match sp.is_sidechain.map(|s| &b[s.0..s.1]) {
        None | Some(b"null") => None,
        Some(b"true") => Some(true),
        Some(b"false") => Some(false),
        Some(_) => return None,
    };
    let cost_usd = match sp.cost_usd {
        None => None,
        Some(s) => serde_json::from_slice::<Option<f64>>(&b[s.0..s.1]).ok()?,
    };
    let message = match sp.message {
        None => None,
        Some(s) if null(s) => None,
        Some(s) if b[s.0] == b'{' => Some(Message {
            id: text(b, sp.msg_id)?,
            model: text(b, sp.model)?,
            usage: match sp.usage {
                None => None,
                Some(s) => serde_json::from_slice::<Option<Usage>>(&b[s.0..s.1]).ok()?,
            },
        }),
        Some(_) => return None,
    };
    Some(Line {
        ty,
        timestamp: text(b, sp.timestamp)?,
        session_id: text(b, sp.session_id)?,
        request_id: text(b, sp.request_id)?,
        uuid: text(b, sp.uuid)?,
        cwd: text(b, sp.cwd)?,
        git_branch: text(b, sp.git_branch)?,
        is_sidechain,
        cost_usd,
        message,
    })
}

/// A string field's value as the typed parse reads it (`Some(None)` when absent or null);
/// `None` when it is not a string (the typed parse then says so).
fn text(b: &[u8], span: Option<(usize, usize)>) -> Option<Option<Cow<'_, str>>> {
    let Some((s, e)) = span else {
        return Some(None);
    };
    let v = &b[s..e];
    if v == b"null" {
        return Some(None);
    }
    let inner = super::context::json::str_at(b, s, e)?;
    // (A fold without early exit: the compiler checks many bytes at a time.)
    if inner
        .iter()
        .fold(false, |a, c| a | (*c == b'\\') | (*c < 0x20))
    {
        // Escapes are decoded (and control characters refused) by serde.
        return serde_json::from_slice::<String>(v)
            .ok()
            .map(|s| Some(Cow::Owned(s)));
    }
    std::str::from_utf8(inner)
        .ok()
        .map(|s| Some(Cow::Borrowed(s)))
}

/// True when the bytes look like one whole JSON object (cheap check for lines we do not parse).
pub fn looks_like_object(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    t.first() == Some(&b'{') && t.last() == Some(&b'}')
}

impl Parser for ClaudeParser {
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
        // The file's graph is taken out of the state for the line (one lock of the scratch
        // per line, not one per use).
        let mut scratch = std::mem::take(&mut state.scratch);
        let r = scratch.with(|g: &mut Graph| read_line(g, line, path, state, out));
        state.scratch = scratch;
        r
    }
}

/// `a`, `b` and `c` in one string of exactly their length.
fn join3(a: &str, b: &str, c: &str) -> String {
    let mut s = String::with_capacity(a.len() + b.len() + c.len());
    s.push_str(a);
    s.push_str(b);
    s.push_str(c);
    s
}

/// [`ClaudeParser::parse_line`] with the file's conversation graph.
fn read_line(
    g: &mut Graph,
    line: &[u8],
    path: &Path,
    state: &mut FileState,
    out: &mut Vec<UsageEvent>,
) -> Result<(), ParseError> {
    // Every line of the conversation is a node of the file's graph (context composition).
    // A usage line's fields are found by the same walk, which also tells most lines
    // without usage (links, user lines) from the rest.
    if !g.sized() {
        g.size_for(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    }
    let mut spans = Spans::default();
    let node = g.note(line, &mut spans);
    let usage = match spans.seen {
        Seen::NoUsage => false,
        Seen::Assistant => spans.usage.is_some(),
        Seen::Unknown => finders().usage.find(line).is_some(),
    };
    // Most bytes are content lines without usage: skip them without a full parse.
    if !usage {
        if !looks_like_object(line) {
            return Err(ParseError(
                "not a JSON object (torn or corrupted line)".into(),
            ));
        }
        if !spans.walked {
            if finders().tool_result.find(line).is_some() {
                note_tool_results(line, state);
            }
        } else if g.results().count > 0
            && line_type(line, &spans) == Some(&b"user"[..])
            && !walked_tool_results(line, g.results(), state)
        {
            note_tool_results(line, state);
        }
        return Ok(());
    }
    let mut l: Line = match from_spans(line, &spans) {
        Some(l) => l,
        None => serde_json::from_slice(line)?,
    };
    let from_progress = l.ty.as_deref() == Some("progress");
    if from_progress {
        // The subagent's record, with the parent line's context where it has none.
        let p: ProgressLine = serde_json::from_slice(line)?;
        let Some(data) = p.data else { return Ok(()) };
        if data.ty.as_deref() != Some("agent_progress") {
            return Ok(());
        }
        let Some(mut inner) = data.message else {
            return Ok(());
        };
        inner.timestamp = inner.timestamp.or(l.timestamp.take());
        inner.session_id = inner.session_id.or(l.session_id.take());
        inner.cwd = inner.cwd.or(l.cwd.take());
        inner.git_branch = inner.git_branch.or(l.git_branch.take());
        l = inner;
    }
    if l.ty.as_deref() != Some("assistant") {
        return Ok(());
    }
    let Some(msg) = l.message else { return Ok(()) };
    let Some(usage) = msg.usage else {
        return Ok(());
    };
    let model = msg.model.filter(|m| !m.is_empty());
    if model.as_deref() == Some("<synthetic>") {
        return Ok(());
    }
    let ts = l
        .timestamp
        .as_deref()
        .and_then(parse_ts_ms)
        .ok_or_else(|| ParseError("assistant line without a valid timestamp".into()))?;
    let session: Option<String> = match l.session_id.filter(|s| !s.is_empty()) {
        Some(s) => Some(s.into_owned()),
        None => path.file_stem().map(|s| s.to_string_lossy().into_owned()),
    };
    let req = l.request_id.filter(|s| !s.is_empty());
    let msg_id = msg.id.filter(|s| !s.is_empty());
    // Joined by hand: `format!` was 5 % of a parse worker's samples on usage-dense logs.
    let key = match (&msg_id, &req) {
        (Some(m), Some(r)) => join3(m, ":", r),
        // Gateways without requestId: message id, scoped to the session.
        (Some(m), None) => join3(m, "@", session.as_deref().unwrap_or("")),
        (None, _) => match &l.uuid {
            Some(u) => join3("uuid", ":", u),
            None => return Err(ParseError("assistant line without any id".into())),
        },
    };
    let t = tokens(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_creation_input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation.as_ref(),
    );
    let speed = usage
        .speed
        .filter(|s| s != "standard")
        .or(usage.service_tier.filter(|s| s != "standard"))
        .map(Cow::into_owned);
    let advisor_key = usage.iterations.as_ref().map(|_| key.clone());
    // A failed tool call of the parent precedes the parent's next request, not this one.
    let tool_error = if from_progress {
        None
    } else {
        take_tool_error(state, &key)
    };
    let mut ev = UsageEvent::new(TOOL, key, Merge::KeepMax, ts);
    ev.tool_error = tool_error;
    ev.model = model.map(Cow::into_owned);
    ev.provider = Some("anthropic".into());
    ev.tokens = t;
    ev.session_id = session;
    ev.cwd = l.cwd.filter(|s| !s.is_empty()).map(Cow::into_owned);
    ev.branch = l
        .git_branch
        .filter(|s| !s.is_empty() && s != "HEAD")
        .map(Cow::into_owned);
    ev.reported_cost_usd = l.cost_usd.filter(|c| *c > 0.0);
    // A subagent's request is a sidechain in its own file; the embedded copy is the same.
    ev.sidechain = from_progress || l.is_sidechain.unwrap_or(false);
    ev.msg_id = msg_id.map(Cow::into_owned);
    ev.speed = speed;
    // The embedded copy of a subagent's request has no chain here (its own file has).
    if let (false, Some(n)) = (from_progress, node) {
        let total = ev.tokens.prompt_total();
        ev.ctx = g.compose(n, total);
    }
    // Advisor calls ride in `iterations` and are not part of the top-level usage.
    if let (Some(iters), Some(key)) = (usage.iterations, advisor_key) {
        for (i, it) in iters.iter().enumerate() {
            if it.ty.as_deref() != Some("advisor_message") {
                continue;
            }
            let mut a = UsageEvent::new(TOOL, format!("{key}:advisor:{i}"), Merge::KeepMax, ts);
            a.model = it.model.clone().or_else(|| ev.model.clone());
            a.provider = ev.provider.clone();
            a.tokens = tokens(
                it.input_tokens,
                it.output_tokens,
                it.cache_creation_input_tokens,
                it.cache_read_input_tokens,
                it.cache_creation.as_ref(),
            );
            a.session_id = ev.session_id.clone();
            a.cwd = ev.cwd.clone();
            a.branch = ev.branch.clone();
            out.push(a);
        }
    }
    if ev.tokens.is_zero() && ev.reported_cost_usd.is_none() {
        return Ok(());
    }
    out.push(ev);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field the parser reads, as text, from a typed line.
    fn view(l: &Line) -> String {
        let m = l.message.as_ref();
        let u = m.and_then(|m| m.usage.as_ref());
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} | {:?} {:?} | {:?}",
            l.ty,
            l.timestamp,
            l.session_id,
            l.request_id,
            l.uuid,
            l.cwd,
            l.git_branch,
            l.is_sidechain,
            l.cost_usd,
            m.map(|m| &m.id),
            m.map(|m| &m.model),
            u.map(|u| (
                u.input_tokens,
                u.output_tokens,
                u.cache_creation_input_tokens,
                u.cache_read_input_tokens,
                u.cache_creation
                    .as_ref()
                    .map(|c| (c.ephemeral_5m_input_tokens, c.ephemeral_1h_input_tokens)),
                &u.speed,
                &u.service_tier,
                u.iterations.as_ref().map(|i| i.len()),
            )),
        )
    }

    /// The line built from the walk's spans, or `None` when the walk sends it to serde.
    fn walked(line: &[u8]) -> Option<String> {
        let mut sp = Spans::default();
        Graph::default().note(line, &mut sp);
        from_spans(line, &sp).map(|l| view(&l))
    }

    fn typed(line: &[u8]) -> Option<String> {
        serde_json::from_slice::<Line>(line).ok().map(|l| view(&l))
    }

    #[test]
    fn the_walk_reads_every_assistant_line_of_the_samples_as_serde_does() {
        let mut n = 0;
        for f in sample_files() {
            for line in std::fs::read(&f).unwrap().split(|b| *b == b'\n') {
                if let Some(w) = walked(line) {
                    assert_eq!(Some(&w), typed(line).as_ref(), "{}", f.display());
                    n += 1;
                }
            }
        }
        assert!(n > 300, "{n} assistant lines read by the walk");
    }

    /// Every `.jsonl` file of the Claude Code samples.
    fn sample_files() -> Vec<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/claude-code");
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "jsonl") {
                    files.push(p);
                }
            }
        }
        files
    }

    #[test]
    fn failed_tool_calls_found_by_the_walk_hash_as_the_whole_line_parse_does() {
        // Each user line with tool results, read both ways from the same state (one with a
        // pending error, to see it cleared or replaced): the states must be equal.
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for f in sample_files() {
            for l in std::fs::read(&f).unwrap().split(|b| *b == b'\n') {
                lines.push(l.to_vec());
            }
        }
        // Errors with content of every shape: a string with escapes, blocks, none at all.
        for c in [
            r#""content":"Error: \"x\"\n\u00e9","#,
            r#""content":[{"type":"text","text":"Exit 1"}],"#,
            "",
        ] {
            lines.push(format!(r#"{{"parentUuid":"a","type":"user","message":{{"role":"user","content":[{{"type":"tool_result",{c}"is_error":true,"tool_use_id":"t1"}},{{"type":"tool_result","content":"ok","tool_use_id":"t2"}}]}},"uuid":"b","timestamp":"2026-01-01T00:00:00Z"}}"#).into_bytes());
        }
        let (mut compared, mut errors) = (0, 0);
        for l in &lines {
            let mut g = Graph::default();
            let mut sp = Spans::default();
            g.note(l, &mut sp);
            if !sp.walked || g.results().count == 0 || line_type(l, &sp) != Some(b"user") {
                continue;
            }
            let mut a = FileState::default();
            a.extra.insert(ERR_PENDING.into(), 7u64.into());
            let mut b = a.clone();
            note_tool_results(l, &mut a);
            assert!(walked_tool_results(l, g.results(), &mut b));
            assert_eq!(a.extra, b.extra, "{}", String::from_utf8_lossy(l));
            compared += 1;
            errors += usize::from(!g.results().errors.is_empty());
        }
        assert!(
            compared > 100 && errors >= 10,
            "{compared} lines, {errors} with errors"
        );
    }

    #[test]
    fn the_walk_decodes_escapes_and_leaves_what_serde_refuses_to_serde() {
        let base = r#"{"parentUuid":null,"cwd":"CWD","sessionId":"s","message":{"id":"m","model":"claude-opus-4-6","usage":{"input_tokens":3,"output_tokens":5}},"requestId":"r","type":"assistant","uuid":"u","timestamp":"2026-02-11T21:24:23.335Z"}"#;
        let with = |cwd: &str| base.replace("CWD", cwd);
        // Escapes are decoded as serde decodes them.
        for cwd in [
            r"C:\\Users\\dev",
            r"/home/\u00e9t\u00e9",
            r"tab\there",
            "plain",
        ] {
            let l = with(cwd);
            let w = walked(l.as_bytes());
            assert!(w.is_some(), "{l}");
            assert_eq!(w, typed(l.as_bytes()), "{l}");
        }
        // What serde refuses is not read by the walk either: a field twice, a string field that
        // is not a string, a raw control character, trailing bytes.
        let twice = base.replace(r#""requestId":"r","#, r#""requestId":"r","requestId":"q","#);
        let number = base.replace(r#""sessionId":"s""#, r#""sessionId":7"#);
        let control = with("a\u{1}b");
        let trailing = format!("{base} x");
        for l in [twice, number, control, trailing] {
            assert_eq!(walked(l.as_bytes()), None, "{l}");
            assert_eq!(typed(l.as_bytes()), None, "{l}");
        }
        // Nulls read as absent, as serde reads them.
        let nulls = base.replace(
            r#""cwd":"CWD""#,
            r#""cwd":null,"costUSD":null,"isSidechain":null"#,
        );
        assert_eq!(walked(nulls.as_bytes()), typed(nulls.as_bytes()));
        assert!(walked(nulls.as_bytes()).is_some());
    }
}
