//! Context composition of Cline, Roo Code and Kilo Code tasks (`docs/composition.md`,
//! "Cline, Roo Code, Kilo Code").
//!
//! A task's `api_conversation_history.json` is the conversation the extension sends the model
//! (Anthropic-style messages: `text`, `image`, `tool_use`, `tool_result`, `thinking` blocks;
//! Roo's newer `{version: 2, messages}` file has AI SDK parts: `tool-call`, `tool-result`,
//! `reasoning`, and `role: "tool"` messages). It is read read-only, walked by byte spans (no
//! text is decoded or kept), and measured per message into a [`Tally`]. Each usage row of
//! `ui_messages.json` is then matched to the part of that history its API call was sent
//! ([`History::splits`]):
//!
//! - **Cline**: every ui row carries `conversationHistoryIndex`, the index of the last history
//!   message when the row was written. `api_req_started` is written just before the request's
//!   user message is added, so the request was sent messages `0 ..= index + 1`, minus the
//!   `conversationHistoryDeletedRange` (inclusive) in force: the one of the ui row after it
//!   (rows written while the request streams carry the range its truncation set).
//! - **Roo Code / Kilo Code**: history messages carry `ts`; the request at row time `t` was
//!   sent every message before the first answer written at or after `t` (an assistant message
//!   or a standalone reasoning item), and none written at or after the next request's row.
//!   Condensing and sliding-window truncation are non-destructive: hidden messages carry
//!   `condenseParent` / `truncationParent`, the summary (`isSummary`, `condenseId`) or marker
//!   (`isTruncationMarker`, `truncationId`) is inserted. Which requests they apply to comes from
//!   the `condense_context` / `sliding_window_truncation` ui rows: from the first request whose
//!   answer was written after that row.
//! - Without either, the i-th request is sent the messages before the i-th assistant message.
//!
//! Kinds: user text (environment details included: the extension appends them to the user's
//! message), assistant text, thinking (`thinking`, `redacted_thinking`, `reasoning` blocks,
//! `reasoning_content`; a signature or encrypted reasoning is not counted), tool calls (native
//! blocks, and the XML tool tag that ends an assistant text in the older protocol), tool
//! results per tool name (`tool_result` by `tool_use_id`; the older `[name for '…'] Result:`
//! text blocks and the blocks after them), images, and summaries (Roo's `isSummary` message,
//! Cline's `summarize_task` / `condense` call).

use super::common;
use super::context::{id_key, is_tool_name, json, Names, Tally};
use crate::event::CtxKind;
use crate::tailer::PreHashed;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
    Tool,
    /// A standalone reasoning item (Roo, OpenAI reasoning): part of the answer it precedes.
    Reasoning,
    Other,
}

/// One history message, as sizes.
#[derive(Debug, Default)]
struct Msg {
    role: Option<Role>,
    ts: Option<i64>,
    tally: Tally,
    summary: bool,
    marker: bool,
    /// `condenseId` of a summary / `truncationId` of a marker.
    own_id: Option<i64>,
    /// `condenseParent` / `truncationParent`.
    parents: [Option<i64>; 2],
    /// Cline SDK: `metadata.displayOnly` (shown, never sent).
    display_only: bool,
}

impl Msg {
    /// A message that stands in for others (not part of a request's own turn).
    fn inserted(&self) -> bool {
        self.summary || self.marker
    }
    fn answer(&self) -> bool {
        !self.inserted() && matches!(self.role, Some(Role::Assistant | Role::Reasoning))
    }
}

/// A task's conversation history, as sizes.
#[derive(Debug, Default)]
pub struct History {
    msgs: Vec<Msg>,
    /// Tool names of the task.
    pub names: Names,
    /// `<model>` stamps in user messages (Roo/Kilo environment details): (ts, model), by ts.
    pub env_models: Vec<(i64, String)>,
}

/// The Cline SDK's compaction sidecar (`<id>.compaction.json`): the messages that replace the
/// first `count` messages of the session when a request is built, written at `at` (ms).
#[derive(Debug, Default)]
struct Compacted {
    msgs: Vec<Msg>,
    count: usize,
    at: i64,
}

/// A Cline SDK session (`<id>.messages.json`, indented) and its compaction sidecar, as sizes.
#[derive(Debug, Default)]
pub struct SdkHistory {
    msgs: Vec<Msg>,
    compacted: Option<Compacted>,
    /// Tool names of the session.
    pub names: Names,
}

impl SdkHistory {
    /// Reads the bytes of a session's messages file and, when there is one, of its
    /// compaction sidecar (`{source_message_count, updated_at, messages}`; a sidecar that
    /// is not that is ignored). `None` when the messages file is not a messages file.
    pub fn read(b: &[u8], sidecar: Option<&[u8]>) -> Option<SdkHistory> {
        let mut w = Walker {
            b,
            calls: HashMap::default(),
            names: Names::default(),
            pretty: true,
            sdk: true,
            capped: Vec::new(),
        };
        let (msgs, _) = read_msgs(&mut w)?;
        let compacted = sidecar.and_then(|c| {
            let (mut count, mut at) = (None, None);
            let i = json::ws(c, 0);
            if c.get(i) != Some(&b'{') {
                return None;
            }
            json::fields_at(c, i, &mut |k, s| {
                let e = json::value(c, s)?;
                match k {
                    b"source_message_count" => {
                        count = std::str::from_utf8(&c[s..e]).ok()?.parse::<usize>().ok()
                    }
                    b"updated_at" => at = ts_at(c, s, e),
                    _ => {}
                }
                Some(json::Step::Took(e))
            })?;
            let mut cw = Walker {
                b: c,
                calls: std::mem::take(&mut w.calls),
                names: std::mem::take(&mut w.names),
                pretty: true,
                sdk: true,
                capped: std::mem::take(&mut w.capped),
            };
            let got = read_msgs(&mut cw);
            w.names = cw.names;
            let (cmsgs, _) = got?;
            Some(Compacted {
                msgs: cmsgs,
                count: count?,
                at: at?,
            })
        });
        Some(SdkHistory {
            msgs,
            compacted,
            names: w.names,
        })
    }

    /// How many messages the file holds.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// True when the file holds no messages.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// The conversation each request was sent, for requests given as (the index of the
    /// assistant message it answered with, that message's `ts`), in file order: every message
    /// before the answer that is not display-only; when the sidecar's compaction covers them
    /// (the answer comes after its `count` messages and was written after it), the compacted
    /// messages and the messages after the first `count`.
    pub fn splits(&self, reqs: &[(usize, i64)]) -> Vec<Option<Tally>> {
        let sent = |m: &Msg| !m.display_only;
        let mut out = Vec::with_capacity(reqs.len());
        // (accumulated, messages merged up to) of the plain and the compacted view.
        let (mut plain, mut plain_at) = (Tally::default(), 0usize);
        let mut comp: Option<(Tally, usize)> = None;
        for &(i, ts) in reqs {
            let i = i.min(self.msgs.len());
            let t = match &self.compacted {
                Some(c) if i >= c.count && ts >= c.at => {
                    let (acc, at) = comp.get_or_insert_with(|| {
                        let mut t = Tally::default();
                        for m in c.msgs.iter().filter(|m| sent(m)) {
                            t.merge(&m.tally);
                        }
                        (t, c.count)
                    });
                    for m in self.msgs[(*at).min(i)..i].iter().filter(|m| sent(m)) {
                        acc.merge(&m.tally);
                    }
                    *at = (*at).max(i);
                    acc.clone()
                }
                _ => {
                    if i < plain_at {
                        plain = Tally::default();
                        plain_at = 0;
                    }
                    for m in self.msgs[plain_at..i].iter().filter(|m| sent(m)) {
                        plain.merge(&m.tally);
                    }
                    plain_at = i;
                    plain.clone()
                }
            };
            out.push((!t.is_empty()).then_some(t));
        }
        out
    }
}

/// One usage row, as the split needs it.
#[derive(Debug, Clone, Default)]
pub struct Req {
    /// The row's `ts`.
    pub ts: i64,
    /// The next usage row's `ts`.
    pub next_ts: Option<i64>,
    /// Cline's `conversationHistoryIndex` of the row.
    pub index: Option<i64>,
    /// The `conversationHistoryDeletedRange` in force for the request.
    pub deleted: Option<(i64, i64)>,
    /// Its place among the task's requests.
    pub ordinal: usize,
}

/// A context event of the ui rows: a condense (summary) or a sliding-window truncation.
#[derive(Debug, Clone)]
pub struct Event {
    /// When the ui row was written.
    pub ts: i64,
    /// True for a truncation, false for a condense.
    pub truncation: bool,
    /// `condenseId` / `truncationId` hash, when the row has it.
    pub id: Option<i64>,
}

/// The ids of Cline's and Roo's tools whose call carries a summary of the conversation.
fn summary_tool(name: &[u8]) -> bool {
    matches!(name, b"summarize_task" | b"condense")
}

/// `[name for '…'] Result:` / `[name] Result:` (a tool result in the older text protocol):
/// the tool name.
fn result_label(t: &[u8]) -> Option<&[u8]> {
    let rest = t.strip_prefix(b"[")?;
    let head = &rest[..rest.len().min(400)];
    memchr::memmem::find(head, b"] Result:")?;
    let end = head.iter().position(|c| matches!(c, b' ' | b']'))?;
    Some(&rest[..end])
}

/// The XML tool call that ends an assistant text of the older protocol: (start, end, name)
/// of `<name>…</name>` with at most a short note after it. `<thinking>` is not a tool.
fn xml_tool(t: &[u8]) -> Option<(usize, usize, &[u8])> {
    let mut from = 0;
    while let Some(p) = memchr::memchr(b'<', &t[from..]) {
        let s = from + p;
        from = s + 1;
        let name_end = s + 1 + t[s + 1..].iter().take(65).position(|c| *c == b'>')?;
        let name = &t[s + 1..name_end];
        if name.is_empty()
            || name == b"thinking"
            || !name.iter().all(|c| c.is_ascii_lowercase() || *c == b'_')
        {
            continue;
        }
        let mut close = Vec::with_capacity(name.len() + 3);
        close.extend_from_slice(b"</");
        close.extend_from_slice(name);
        close.push(b'>');
        if let Some(c) = memchr::memmem::rfind(&t[name_end..], &close) {
            let end = name_end + c + close.len();
            if t.len() - end <= 200 {
                return Some((s, end, name));
            }
        }
    }
    None
}

/// The last `<model>…</model>` of a raw JSON string's contents.
fn model_tag(raw: &[u8]) -> Option<String> {
    let start = memchr::memmem::rfind(raw, b"<model>")? + b"<model>".len();
    let end = start + memchr::memmem::find(&raw[start..], b"</model>")?;
    let inner = &raw[start..end];
    let text = if inner.contains(&b'\\') {
        let mut q = Vec::with_capacity(inner.len() + 2);
        q.push(b'"');
        q.extend_from_slice(inner);
        q.push(b'"');
        serde_json::from_slice::<String>(&q).ok()?
    } else {
        String::from_utf8(inner.to_vec()).ok()?
    };
    let m = text.trim();
    (!m.is_empty() && m.len() <= 200 && !m.contains('\n')).then(|| m.to_string())
}

/// A number or string value's timestamp (ms).
fn ts_at(b: &[u8], s: usize, e: usize) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(&b[s..e]).ok()?;
    common::timestamp(&v)
}

/// Walks one message's content; `calls` maps tool-use ids to names across the task.
struct Walker<'a> {
    b: &'a [u8],
    calls: HashMap<i64, u16, PreHashed>,
    names: Names,
    /// The file is indented (`JSON.stringify(v, null, 2)`, the Cline SDK's files): spans are
    /// measured without their layout whitespace, as if written compactly.
    pretty: bool,
    /// Cline SDK: the tools whose results the SDK truncates when sending ([`SDK_CAPPED`]).
    sdk: bool,
    /// Tool ids of [`SDK_CAPPED`] tools.
    capped: Vec<u16>,
}

/// The Cline SDK's message builder middle-truncates each text of these tools' results to
/// 50,000 characters when it builds a request (its `TARGET_TOOL_NAMES`, names lowercased).
const SDK_CAPPED: [&str; 10] = [
    "read",
    "read_files",
    "search",
    "search_codebase",
    "bash",
    "run_commands",
    "editor",
    "apply_patch",
    "fetch_web_content",
    "skills",
];

/// The most a capped SDK tool result is counted with: 50,000 characters and the
/// `...[truncated N chars]...` marker (about 40 bytes), as raw bytes.
const SDK_CAP_BYTES: u64 = 50_040;

/// Layout whitespace of an indented JSON span: every newline with the indentation after it
/// (a literal newline is never inside a JSON string), and the space of `"key": ` that
/// `JSON.stringify(v, null, 2)` writes after each key that starts a line.
fn layout_ws(b: &[u8], s: usize, e: usize) -> u64 {
    let mut n = 0usize;
    let mut i = s;
    while let Some(p) = memchr::memchr(b'\n', &b[i..e]) {
        let nl = i + p;
        let mut j = nl + 1;
        while j < e && matches!(b[j], b' ' | b'\t' | b'\r') {
            j += 1;
        }
        n += j - nl;
        if j < e && b[j] == b'"' {
            if let Some(k) = json::string(b, j) {
                if k + 1 < e && b[k] == b':' && b[k + 1] == b' ' {
                    n += 1;
                }
            }
        }
        i = j;
    }
    n as u64
}

impl Walker<'_> {
    /// The size of the span `s..e` as sent (compact).
    fn len(&self, s: usize, e: usize) -> u64 {
        let raw = (e - s) as u64;
        if self.pretty && self.b[s] != b'"' {
            raw - layout_ws(self.b, s, e)
        } else {
            raw
        }
    }

    fn tool(&mut self, name: &[u8]) -> u16 {
        if !is_tool_name(name) {
            return self.names.id("unknown tool");
        }
        let name = String::from_utf8_lossy(name);
        let id = self.names.id(&name);
        if self.sdk
            && !self.capped.contains(&id)
            && SDK_CAPPED.iter().any(|c| c.eq_ignore_ascii_case(&name))
        {
            self.capped.push(id);
        }
        id
    }

    /// The content at `s` (a string or an array of blocks) of a message of `role` into `own`;
    /// returns its end and the last `<model>` of its text.
    fn content(
        &mut self,
        s: usize,
        role: Role,
        summary: bool,
        own: &mut Tally,
    ) -> Option<(usize, Option<String>)> {
        let b = self.b;
        let mut model = None;
        // The tool whose older-protocol result the following text blocks belong to.
        let mut run: Option<u16> = None;
        if b[s] == b'"' {
            let e = json::string(b, s)?;
            let raw = &b[s + 1..e - 1];
            self.text(raw, (e - s) as u64, role, summary, &mut run, own);
            if role == Role::User {
                model = model_tag(raw);
            }
            return Some((e, model));
        }
        if b[s] != b'[' {
            let e = json::value(b, s)?;
            return Some((e, None));
        }
        let e = json::elements_at(b, s, &mut |bs| {
            if b[bs] != b'{' {
                let be = json::value(b, bs)?;
                own.add(
                    if summary {
                        CtxKind::Summary
                    } else {
                        text_kind(role)
                    },
                    self.len(bs, be),
                );
                return Some(be);
            }
            let mut ty: &[u8] = b"";
            let (mut id, mut name, mut use_id, mut text) = (None, None, None, None);
            let (mut skip, mut media, mut images) = (0u64, 0u64, 0u64);
            let pretty = self.pretty;
            let len_of = |s: usize, e: usize| {
                let raw = (e - s) as u64;
                if pretty && b[s] != b'"' {
                    raw - layout_ws(b, s, e)
                } else {
                    raw
                }
            };
            let be = json::fields_at(b, bs, &mut |k, s| {
                let e = match k {
                    b"content" if b.get(s) == Some(&b'[') => json::elements_at(b, s, &mut |s| {
                        let e = json::value(b, s)?;
                        // An image a tool returned counts as an image, not as its bytes.
                        let head = &b[s..e.min(s + 40)];
                        if head.windows(7).any(|w| w == b"\"image\"")
                            || head.windows(10).any(|w| w == b"\"document\"")
                        {
                            images += 1;
                            media += len_of(s, e);
                        }
                        Some(e)
                    })?,
                    _ => json::value(b, s)?,
                };
                match k {
                    b"type" => ty = json::str_at(b, s, e).unwrap_or(b""),
                    b"id" | b"toolCallId" if id.is_none() || k == b"toolCallId" => {
                        id = json::str_at(b, s, e)
                    }
                    b"name" | b"toolName" => name = json::str_at(b, s, e),
                    b"tool_use_id" => use_id = json::str_at(b, s, e),
                    b"text" => text = json::str_at(b, s, e),
                    // Signatures and encrypted reasoning are not sent as tokens of text.
                    b"signature" | b"encrypted_content" | b"providerOptions" => {
                        skip += len_of(s, e)
                    }
                    _ => {}
                }
                Some(json::Step::Took(e))
            })?;
            let len = self.len(bs, be).saturating_sub(skip);
            own.images += images;
            match ty {
                b"text" => {
                    let raw = text.unwrap_or(b"");
                    self.text(raw, len, role, summary, &mut run, own);
                    if role == Role::User {
                        if let Some(m) = model_tag(raw) {
                            model = Some(m);
                        }
                    }
                    return Some(be);
                }
                b"image" | b"document" | b"file" | b"image_url" => own.images += 1,
                b"thinking" | b"redacted_thinking" | b"reasoning" => {
                    own.add(CtxKind::Thinking, len)
                }
                b"tool_use" | b"tool-call" | b"server_tool_use" => {
                    let kind = if name.is_some_and(summary_tool) {
                        CtxKind::Summary
                    } else {
                        CtxKind::ToolCall
                    };
                    own.add(kind, len);
                    if let (Some(id), Some(name)) = (id, name) {
                        let n = self.tool(name);
                        self.calls.insert(id_key(id), n);
                    }
                }
                b"tool_result" | b"tool-result" => {
                    let called = use_id
                        .or(if ty == b"tool-result" { id } else { None })
                        .and_then(|u| self.calls.get(&id_key(u)).copied());
                    let tool = match (called, name) {
                        (Some(t), _) => t,
                        (None, Some(n)) => self.tool(n),
                        (None, None) => self.names.id("unknown tool"),
                    };
                    let mut len = len.saturating_sub(media);
                    if self.capped.contains(&tool) {
                        len = len.min(SDK_CAP_BYTES);
                    }
                    own.add_tool(tool, len);
                }
                _ => own.add(
                    if summary {
                        CtxKind::Summary
                    } else {
                        text_kind(role)
                    },
                    len,
                ),
            }
            run = None;
            Some(be)
        })?;
        Some((e, model))
    }

    /// One text of `len` bytes (raw contents `raw`).
    fn text(
        &mut self,
        raw: &[u8],
        len: u64,
        role: Role,
        summary: bool,
        run: &mut Option<u16>,
        own: &mut Tally,
    ) {
        if summary {
            own.add(CtxKind::Summary, len);
            return;
        }
        match role {
            Role::Assistant => match xml_tool(raw) {
                Some((s, e, name)) => {
                    let call = ((e - s) as u64).min(len);
                    let kind = if summary_tool(name) {
                        CtxKind::Summary
                    } else {
                        CtxKind::ToolCall
                    };
                    own.add(kind, call);
                    own.add(CtxKind::Assistant, len - call);
                }
                None => own.add(CtxKind::Assistant, len),
            },
            Role::User | Role::Tool => {
                if raw.starts_with(b"<environment_details>") {
                    *run = None;
                    own.add(CtxKind::User, len);
                } else if let Some(name) = result_label(raw) {
                    let t = self.tool(name);
                    *run = Some(t);
                    own.add_tool(t, len);
                } else if let Some(t) = *run {
                    own.add_tool(t, len);
                } else {
                    own.add(CtxKind::User, len);
                }
            }
            Role::Reasoning => own.add(CtxKind::Thinking, len),
            Role::Other => own.add(CtxKind::User, len),
        }
    }
}

fn text_kind(role: Role) -> CtxKind {
    match role {
        Role::Assistant => CtxKind::Assistant,
        Role::Reasoning => CtxKind::Thinking,
        _ => CtxKind::User,
    }
}

impl History {
    /// Reads the bytes of an `api_conversation_history.json` (an array of messages, or Roo's
    /// `{"version": 2, "messages": [...]}`); `None` when they are not that.
    pub fn read(b: &[u8]) -> Option<History> {
        let mut w = Walker {
            b,
            calls: HashMap::default(),
            names: Names::default(),
            pretty: false,
            sdk: false,
            capped: Vec::new(),
        };
        let (msgs, env_models) = read_msgs(&mut w)?;
        Some(History {
            msgs,
            names: w.names,
            env_models,
        })
    }
}

/// The messages of a history file read by `w`, and its `<model>` stamps by time. Every
/// element of the array is a message (a non-object one empty), so indices are the file's.
#[allow(clippy::type_complexity)]
fn read_msgs(w: &mut Walker) -> Option<(Vec<Msg>, Vec<(i64, String)>)> {
    let b = w.b;
    {
        let i = json::ws(b, 0);
        let arr = match b.get(i)? {
            b'[' => i,
            b'{' => {
                let mut at = None;
                json::fields_at(b, i, &mut |k, s| {
                    if k == b"messages" && b.get(s) == Some(&b'[') {
                        at = Some(s);
                        return Some(json::Step::Stop);
                    }
                    Some(json::Step::Skip)
                })?;
                at?
            }
            _ => return None,
        };
        let mut msgs = Vec::new();
        let mut env_models = Vec::new();
        json::elements_at(b, arr, &mut |s| {
            if b[s] != b'{' {
                msgs.push(Msg::default());
                return json::value(b, s);
            }
            let (m, e, model) = message(w, s)?;
            if let (Some(Role::User), Some(ts), Some(model)) = (m.role, m.ts, model) {
                env_models.push((ts, model));
            }
            msgs.push(m);
            Some(e)
        })?;
        env_models.sort_by_key(|x| x.0);
        Some((msgs, env_models))
    }
}

impl History {
    /// The conversation each request was sent (`None`: nothing of it is in the history), for
    /// requests in row order and the task's context events. `by_index`: Cline's
    /// `conversationHistoryIndex` places a request. `untimed`: a summary or marker no event
    /// tells about applies from the request whose history holds it (a whole task file);
    /// otherwise it does not apply (the jsonl variant, read line by line: its events are
    /// those of the lines before the request, so what applies does not depend on how far the
    /// history has grown when the line is read).
    pub fn splits(
        &self,
        reqs: &[Req],
        events: &[Event],
        by_index: bool,
        untimed: bool,
    ) -> Vec<Option<Tally>> {
        let n = self.msgs.len();
        // When each summary / marker took effect (ms), or None: from the request whose history
        // holds it (no ui row says when). Ordered by time for the generation count.
        let mut when: HashMap<i64, (usize, Option<i64>), PreHashed> = HashMap::default();
        for truncation in [false, true] {
            let mut named: HashMap<i64, i64, PreHashed> = HashMap::default();
            let mut unnamed = Vec::new();
            for ev in events.iter().filter(|e| e.truncation == truncation) {
                match ev.id {
                    Some(id) => {
                        named.insert(id, ev.ts);
                    }
                    None => unnamed.push(ev.ts),
                }
            }
            let mut unnamed = unnamed.into_iter();
            for (j, m) in self.msgs.iter().enumerate() {
                let Some(id) = m.own_id.filter(|_| m.marker == truncation && m.inserted()) else {
                    continue;
                };
                let t = named.get(&id).copied().or_else(|| unnamed.next());
                if t.is_some() || untimed {
                    when.insert(id, (j, t));
                }
            }
        }
        let mut timed: Vec<i64> = when.values().filter_map(|w| w.1).collect();
        timed.sort_unstable();
        let mut untimed: Vec<usize> = when
            .values()
            .filter(|w| w.1.is_none())
            .map(|w| w.0)
            .collect();
        untimed.sort_unstable();
        let any_ts = self.msgs.iter().any(|m| m.ts.is_some());
        let answers: Vec<usize> = (0..n).filter(|j| self.msgs[*j].answer()).collect();

        let mut out = Vec::with_capacity(reqs.len());
        let mut acc = Tally::default();
        // The previous request's (generation, cut): a request whose generation is the same
        // and whose cut is not shorter only adds the messages since.
        let mut prev: Option<(Generation, usize)> = None;
        for r in reqs {
            let cut = match r.index.filter(|_| by_index) {
                Some(c) => (c + 2).clamp(0, n as i64) as usize,
                None if any_ts => self
                    .msgs
                    .iter()
                    .position(|m| {
                        !m.inserted()
                            && m.ts.is_some_and(|t| {
                                (m.answer() && t >= r.ts) || r.next_ts.is_some_and(|x| t >= x)
                            })
                    })
                    .unwrap_or(n),
                None => answers.get(r.ordinal).copied().unwrap_or(n),
            };
            let end = match self.msgs.get(cut) {
                Some(m) => m.ts.or(r.next_ts).unwrap_or(i64::MAX),
                None => r.next_ts.unwrap_or(i64::MAX),
            };
            let deleted = r.deleted.filter(|_| by_index);
            let gen = (
                deleted,
                timed.partition_point(|t| *t < end),
                untimed.partition_point(|p| *p < cut),
            );
            let active = |id: &Option<i64>| {
                id.and_then(|id| when.get(&id))
                    .is_some_and(|(p, t)| match t {
                        Some(t) => *t < end,
                        None => *p < cut,
                    })
            };
            let visible = |j: usize| {
                let m = &self.msgs[j];
                if deleted.is_some_and(|(s, e)| (s..=e).contains(&(j as i64))) {
                    return false;
                }
                if m.inserted() && m.own_id.is_some() && !active(&m.own_id) {
                    return false;
                }
                !m.parents.iter().any(active)
            };
            let from = match prev {
                Some((g, c)) if g == gen && c <= cut => c,
                _ => {
                    acc = Tally::default();
                    0
                }
            };
            for j in from..cut {
                if visible(j) {
                    acc.merge(&self.msgs[j].tally);
                }
            }
            prev = Some((gen, cut));
            out.push((!acc.is_empty()).then(|| acc.clone()));
        }
        out
    }
}

/// What decides which messages of a prefix are visible: the deleted range, how many timed
/// summaries / markers are in effect, how many untimed ones.
type Generation = (Option<(i64, i64)>, usize, usize);

/// One message object at `s`: its sizes, end and `<model>` stamp.
fn message(w: &mut Walker, s: usize) -> Option<(Msg, usize, Option<String>)> {
    let b = w.b;
    let mut m = Msg::default();
    let mut content = None;
    let mut model = None;
    let mut own = Tally::default();
    let (mut is_summary, mut is_marker) = (false, false);
    let (mut condense_id, mut truncation_id) = (None, None);
    let mut standalone = false;
    let e = json::fields_at(b, s, &mut |k, s| {
        let e = match k {
            // The content is measured in the walk when the role is known (it comes first
            // in what the extensions write), else after it.
            b"content" => match m.role {
                Some(role) => {
                    let (e, md) = w.content(s, role, is_summary, &mut own)?;
                    model = md;
                    e
                }
                None => {
                    let e = json::value(b, s)?;
                    content = Some(s);
                    e
                }
            },
            _ => json::value(b, s)?,
        };
        let str_at = || json::str_at(b, s, e);
        match k {
            b"role" => {
                m.role = Some(match str_at() {
                    Some(b"user") => Role::User,
                    Some(b"assistant") => Role::Assistant,
                    Some(b"tool") => Role::Tool,
                    _ => Role::Other,
                })
            }
            b"type" => standalone = str_at() == Some(b"reasoning"),
            b"ts" => m.ts = ts_at(b, s, e),
            b"isSummary" => is_summary = &b[s..e] == b"true",
            b"isTruncationMarker" => is_marker = &b[s..e] == b"true",
            b"condenseId" => condense_id = str_at().map(id_key),
            b"truncationId" => truncation_id = str_at().map(id_key),
            b"condenseParent" => m.parents[0] = str_at().map(id_key),
            b"truncationParent" => m.parents[1] = str_at().map(id_key),
            // DeepSeek / OpenRouter reasoning kept beside the content, sent back with it.
            b"reasoning_content" | b"reasoning_details" => own.add(CtxKind::Thinking, w.len(s, e)),
            // A standalone reasoning item's summary (its encrypted content is not counted).
            b"summary" if b[s] == b'[' => own.add(CtxKind::Thinking, w.len(s, e)),
            b"metadata" if b[s] == b'{' => {
                json::fields_at(b, s, &mut |k, v| {
                    let ve = json::value(b, v)?;
                    if k == b"displayOnly" && &b[v..ve] == b"true" {
                        m.display_only = true;
                    }
                    Some(json::Step::Took(ve))
                })?;
            }
            _ => {}
        }
        Some(json::Step::Took(e))
    })?;
    if m.role.is_none() && standalone {
        m.role = Some(Role::Reasoning);
    }
    if let Some(cs) = content {
        let role = m.role.unwrap_or(Role::Other);
        let (_, md) = w.content(cs, role, is_summary, &mut own)?;
        model = md;
    } else if is_summary && m.role.is_some() {
        // The content was measured before `isSummary` was read: it is the summary.
        let moved: u64 = own.bytes[CtxKind::Assistant.index()] + own.bytes[CtxKind::User.index()];
        own.bytes[CtxKind::Assistant.index()] = 0;
        own.bytes[CtxKind::User.index()] = 0;
        own.add(CtxKind::Summary, moved);
    }
    m.summary = is_summary;
    m.marker = is_marker;
    m.own_id = if is_summary {
        condense_id
    } else if is_marker {
        truncation_id
    } else {
        None
    };
    m.tally = own;
    Some((m, e, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_tool_tags_and_result_labels() {
        let t = b"I will read it.\\n<read_file>\\n<path>src/a.rs</path>\\n</read_file>";
        let (s, e, name) = xml_tool(t).unwrap();
        assert_eq!(name, b"read_file");
        assert_eq!(
            &t[s..e],
            &b"<read_file>\\n<path>src/a.rs</path>\\n</read_file>"[..]
        );
        assert!(xml_tool(b"<thinking>x</thinking> plain text").is_none());
        assert_eq!(
            result_label(b"[read_file for 'src/a.rs'] Result:"),
            Some(&b"read_file"[..])
        );
        assert_eq!(
            result_label(b"[attempt_completion] Result:"),
            Some(&b"attempt_completion"[..])
        );
        assert_eq!(result_label(b"[not a label"), None);
        assert_eq!(
            model_tag(b"<environment_details>\\n<model>claude-sonnet-4-5</model>\\n</environment_details>"),
            Some("claude-sonnet-4-5".into())
        );
    }
}
