//! Cline, Roo Code and Kilo Code (VS Code extensions, "ui_messages" family; log-formats §6).
//!
//! Classic tasks: `<globalStorage>/<extension id>/tasks/<taskId>/ui_messages.json`, one JSON
//! array rewritten in place (some Roo forks append `ui_messages.jsonl` instead). Usage is in
//! `say: "api_req_started"` rows whose `text` is a JSON string
//! `{tokensIn, tokensOut, cacheWrites, cacheReads, cost, apiProtocol?, cancelReason?}`; the row is
//! written as a placeholder at request start and filled in when the stream ends, so rows without
//! counts are skipped and every re-read upserts the same `(task, ts)` key (last wins). Cline's
//! `subagent_usage` rows (same payload) are counted too. Cline's `deleted_api_reqs` aggregates
//! replace rows that were already seen under their own keys: counting them would count those
//! requests twice, so they are skipped.
//!
//! What `tokensIn` means differs by vendor and date:
//! - Cline: the uncached remainder, except providers that pass OpenAI `prompt_tokens` (cache
//!   included) through: for those the cache is split back out.
//! - Roo Code >= 3.29.5 (2025-11-01) / Kilo Code >= 4.119.0 (2025-11-12): the whole prompt,
//!   input + cache writes + cache reads, for every provider.
//! - Roo / Kilo before that: Anthropic-protocol requests recorded the remainder, others the total.
//!   `tokensIn` below `cacheReads + cacheWrites` can only be the remainder.
//!
//! `cost` is the extension's own figure (USD) and becomes `reported_cost_usd`, 0 included: the
//! extensions write 0 for free models, and that is what the request cost. Only a row without a
//! `cost` field is priced from tokwatch's price table.
//!
//! Cline >= 4.1 (SDK) writes `sessions/<id>/<id>.messages.json` instead: assistant messages with
//! `metrics {inputTokens (cache included), outputTokens, cacheReadTokens, cacheWriteTokens, cost}`.
//!
//! Each usage row of a classic task also gets its context split ([`cline_ctx`],
//! `docs/composition.md`) from the task's `api_conversation_history.json` (read-only, by byte
//! spans); the same walk gives Roo/Kilo's `<model>` stamps. The jsonl variant splits each row
//! from the lines before it (state in [`FileState::scratch`]); SDK sessions are split from
//! their own messages file and compaction sidecar ([`cline_ctx::SdkHistory`]). A
//! `subagent_usage` row has no split (an aggregate; the subagents' conversations are not in
//! the task).

use super::cline_ctx::{self, History, SdkHistory};
use super::common::{self, sub0};
use super::context::{id_key, CLAUDE};
use super::{FileState, Format, ParseError, Parser, WholeReport};
use crate::event::{Merge, Tokens, UsageEvent};
use serde_json::Value;
use std::path::Path;

/// The VS Code extensions that share Cline's task format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Cline.
    Cline,
    /// Roo Code.
    Roo,
    /// Kilo Code.
    Kilo,
}

impl Flavor {
    /// Every flavor.
    pub const ALL: [Flavor; 3] = [Flavor::Cline, Flavor::Roo, Flavor::Kilo];

    /// Tool id.
    pub fn tool(self) -> &'static str {
        match self {
            Flavor::Cline => "cline",
            Flavor::Roo => "roo-code",
            Flavor::Kilo => "kilo-code",
        }
    }

    /// The extension's id (its storage folder under `globalStorage`).
    pub fn extension_id(self) -> &'static str {
        match self {
            Flavor::Cline => "saoudrizwan.claude-dev",
            Flavor::Roo => "rooveterinaryinc.roo-cline",
            Flavor::Kilo => "kilocode.kilo-code",
        }
    }

    /// Release after which `tokensIn` always holds the whole prompt (Roo-Code#8954).
    fn total_input_since_ms(self) -> Option<i64> {
        match self {
            Flavor::Cline => None,
            Flavor::Roo => Some(1_761_955_200_000), // 2025-11-01, Roo Code 3.29.5
            Flavor::Kilo => Some(1_762_905_600_000), // 2025-11-12, Kilo Code 4.119.0
        }
    }
}

/// Providers whose classic Cline records keep OpenAI `prompt_tokens` (cache included).
const CLINE_INCLUSIVE_PROVIDERS: &[&str] = &[
    "openai",
    "litellm",
    "doubao",
    "fireworks",
    "hicap",
    "lmstudio",
    "qwen",
    "xai",
    "zai",
];

/// Classic task files (`ui_messages.json`, or `.jsonl` when `jsonl`).
pub struct ClineTaskParser {
    /// Which extension.
    pub flavor: Flavor,
    /// The JSONL variant of the task file.
    pub jsonl: bool,
}

/// Side information about a task, read from sibling files (never prompt text is kept).
#[derive(Default)]
struct TaskInfo {
    cwd: Option<String>,
    /// Cline `task_metadata.json` `model_usage`: (ts, model, provider), sorted by ts.
    model_usage: Vec<(i64, String, Option<String>)>,
    /// Roo/Kilo: `<model>` stamps in the environment details of `api_conversation_history.json`.
    env_models: Vec<(i64, String)>,
}

fn read_json(path: &Path) -> Option<Value> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl TaskInfo {
    /// `hist`: the task's conversation history, when it was read (its `<model>` stamps).
    fn load(
        flavor: Flavor,
        ui_path: &Path,
        task: &str,
        hist: Option<&History>,
        need_env_models: bool,
    ) -> TaskInfo {
        let mut info = TaskInfo::default();
        let Some(dir) = ui_path.parent() else {
            return info;
        };
        if let Some(h) = read_json(&dir.join("history_item.json")) {
            info.cwd = common::text(&h, "workspace")
                .or_else(|| common::text(&h, "cwdOnTaskInitialization"));
        }
        if info.cwd.is_none() {
            // <storage>/tasks/<id>/ui_messages.json -> <storage>/state/taskHistory.json
            if let Some(storage) = dir.parent().and_then(Path::parent) {
                if let Some(Value::Array(items)) =
                    read_json(&storage.join("state").join("taskHistory.json"))
                {
                    info.cwd = items
                        .iter()
                        .find(|i| common::text(i, "id").as_deref() == Some(task))
                        .and_then(|i| {
                            common::text(i, "cwdOnTaskInitialization")
                                .or_else(|| common::text(i, "workspace"))
                        });
                }
            }
        }
        if flavor == Flavor::Cline {
            if let Some(m) = read_json(&dir.join("task_metadata.json")) {
                if let Some(arr) = m.get("model_usage").and_then(Value::as_array) {
                    for u in arr {
                        if let (Some(ts), Some(model)) = (
                            u.get("ts").and_then(common::timestamp),
                            common::text(u, "model_id"),
                        ) {
                            info.model_usage.push((
                                ts,
                                model,
                                common::text(u, "model_provider_id"),
                            ));
                        }
                    }
                    info.model_usage.sort_by_key(|x| x.0);
                }
            }
        } else if need_env_models {
            info.env_models = hist.map(|h| h.env_models.clone()).unwrap_or_default();
        }
        info
    }
}

/// Usage numbers of one `api_req_started`-like row, before semantics are applied.
struct Row {
    ts: i64,
    tokens_in: i64,
    tokens_out: i64,
    cache_writes: i64,
    cache_reads: i64,
    cost: Option<f64>,
    protocol: Option<String>,
    model: Option<String>,
    provider: Option<String>,
}

/// `Ok(None)`: not a usage row, or a placeholder not filled in yet.
fn usage_row(m: &Value) -> Result<Option<Row>, ParseError> {
    if !m.is_object() {
        return Err(ParseError("message is not a JSON object".into()));
    }
    if m.get("type").and_then(Value::as_str) != Some("say") {
        return Ok(None);
    }
    match m.get("say").and_then(Value::as_str) {
        Some("api_req_started") | Some("subagent_usage") => {}
        _ => return Ok(None),
    }
    if m.get("partial").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let Some(text) = m.get("text").and_then(Value::as_str) else {
        return Ok(None);
    };
    let info: Value = serde_json::from_str(text)
        .map_err(|_| ParseError("`text` of an api_req_started row is not valid JSON".into()))?;
    if !info.is_object() {
        return Err(ParseError(
            "`text` of an api_req_started row is not an object".into(),
        ));
    }
    let has = |k: &str| info.get(k).is_some_and(|v| !v.is_null());
    if !(has("tokensIn") || has("tokensOut") || has("cacheWrites") || has("cacheReads")) {
        return Ok(None);
    }
    let ts = m
        .get("ts")
        .and_then(common::timestamp)
        .ok_or_else(|| ParseError("message has no valid `ts`".into()))?;
    let mi = m.get("modelInfo");
    Ok(Some(Row {
        ts,
        tokens_in: common::count_at(&info, "tokensIn", "tokensIn")?,
        tokens_out: common::count_at(&info, "tokensOut", "tokensOut")?,
        cache_writes: common::count_at(&info, "cacheWrites", "cacheWrites")?,
        cache_reads: common::count_at(&info, "cacheReads", "cacheReads")?,
        cost: common::money(info.get("cost"), "cost")?,
        protocol: common::text(&info, "apiProtocol").or_else(|| common::text(m, "apiProtocol")),
        model: mi.and_then(|x| common::text(x, "modelId")),
        provider: mi.and_then(|x| common::text(x, "providerId")),
    }))
}

impl ClineTaskParser {
    fn tool(&self) -> &'static str {
        self.flavor.tool()
    }

    /// Uncached input from `tokensIn` (see the module docs).
    fn uncached(&self, r: &Row, provider: Option<&str>) -> i64 {
        let cache = r.cache_reads + r.cache_writes;
        if r.tokens_in < cache {
            return r.tokens_in;
        }
        let inclusive = match self.flavor.total_input_since_ms() {
            None => provider.is_some_and(|p| CLINE_INCLUSIVE_PROVIDERS.contains(&p)),
            Some(since) => {
                let old_remainder = r.ts < since && r.protocol.as_deref() == Some("anthropic");
                !old_remainder
            }
        };
        if inclusive {
            sub0(r.tokens_in, cache)
        } else {
            r.tokens_in
        }
    }

    fn event(
        &self,
        r: Row,
        task: &str,
        model: Option<String>,
        provider: Option<String>,
        cwd: Option<String>,
    ) -> Option<UsageEvent> {
        let tokens = Tokens {
            input: self.uncached(&r, provider.as_deref()),
            cache_write_5m: r.cache_writes,
            cache_write_1h: 0,
            cache_read: r.cache_reads,
            output: r.tokens_out,
            reasoning: 0,
        };
        if tokens.is_zero() {
            return None;
        }
        let tool = self.tool();
        let mut e = common::event(
            tool,
            format!("{tool}:{task}:{}", r.ts),
            Merge::LastWins,
            r.ts,
            tokens,
        );
        e.reported_cost_usd = r.cost.filter(|c| *c >= 0.0);
        e.model = model;
        e.provider = provider;
        e.session_id = Some(task.to_string());
        e.cwd = cwd;
        Some(e)
    }
}

/// A ui row's `say`.
fn say(m: &Value) -> Option<&str> {
    m.get("say").and_then(Value::as_str)
}

/// A condense (`condense_context`) or sliding-window truncation (`sliding_window_truncation`)
/// ui row of Roo / Kilo: when the context changed, and the id of its summary or marker.
fn ctx_event(m: &Value) -> Option<cline_ctx::Event> {
    if m.get("type").and_then(Value::as_str) != Some("say")
        || m.get("partial").and_then(Value::as_bool) == Some(true)
    {
        return None;
    }
    let (truncation, field, id) = match say(m)? {
        "condense_context" => (false, "contextCondense", "condenseId"),
        "sliding_window_truncation" => (true, "contextTruncation", "truncationId"),
        _ => return None,
    };
    Some(cline_ctx::Event {
        ts: m.get("ts").and_then(common::timestamp)?,
        truncation,
        id: m
            .get(field)
            .and_then(|c| c.get(id))
            .and_then(Value::as_str)
            .map(|s| id_key(s.as_bytes())),
    })
}

/// A ui row's `conversationHistoryDeletedRange` (Cline: `[start, end]`, inclusive).
fn deleted_range(m: &Value) -> Option<(i64, i64)> {
    match m
        .get("conversationHistoryDeletedRange")?
        .as_array()?
        .as_slice()
    {
        [s, e] => Some((s.as_i64()?, e.as_i64()?)),
        _ => None,
    }
}

impl ClineTaskParser {
    /// The conversation each usage row's request was sent, as sizes (`cline_ctx`): main
    /// requests only (a subagent's aggregate has its own conversation, not in this file).
    fn splits(
        &self,
        hist: &History,
        msgs: &[Value],
        rows: &[Row],
        at: &[(usize, bool)],
        events: &[cline_ctx::Event],
    ) -> Vec<Option<super::context::Tally>> {
        let main: Vec<usize> = (0..rows.len()).filter(|k| at[*k].1).collect();
        let reqs: Vec<cline_ctx::Req> = main
            .iter()
            .enumerate()
            .map(|(n, &k)| {
                let ui = at[k].0;
                cline_ctx::Req {
                    ts: rows[k].ts,
                    next_ts: main.get(n + 1).map(|&j| rows[j].ts),
                    index: msgs[ui]
                        .get("conversationHistoryIndex")
                        .and_then(Value::as_i64),
                    // Rows written while the request streams carry the range its truncation
                    // set; the request's own row has the range from before it.
                    deleted: deleted_range(msgs.get(ui + 1).unwrap_or(&msgs[ui])),
                    ordinal: n,
                }
            })
            .collect();
        let found = hist.splits(&reqs, events, self.flavor == Flavor::Cline, true);
        let mut out = vec![None; rows.len()];
        for (k, t) in main.into_iter().zip(found) {
            out[k] = t;
        }
        out
    }
}

/// What the `ui_messages.jsonl` variant keeps between lines for the context split (in
/// [`FileState::scratch`], rebuilt from the file's start when a read resumes without it): the
/// condense / truncation rows seen, the requests seen (their `ts`, for the ordinal), and the
/// task's history as last read, with the length and mtime it was read at.
#[derive(Default)]
struct JsonlCtx {
    events: Vec<cline_ctx::Event>,
    reqs: Vec<i64>,
    hist: Option<(u64, Option<std::time::SystemTime>, History)>,
}

impl JsonlCtx {
    /// The task's history, read again (read-only) only when its length or mtime changed.
    fn history(&mut self, ui: &Path) -> Option<&History> {
        let path = ui.parent()?.join("api_conversation_history.json");
        let Ok(meta) = std::fs::metadata(&path) else {
            self.hist = None;
            return None;
        };
        let stamp = (meta.len(), meta.modified().ok());
        if self.hist.as_ref().map(|h| (h.0, h.1)) != Some(stamp) {
            self.hist = std::fs::read(&path)
                .ok()
                .and_then(|b| History::read(&b))
                .map(|h| (stamp.0, stamp.1, h));
        }
        self.hist.as_ref().map(|h| &h.2)
    }
}

impl Parser for ClineTaskParser {
    fn tool(&self) -> &str {
        self.flavor.tool()
    }

    fn keeps_context(&self) -> bool {
        self.jsonl
    }

    fn format(&self) -> Format {
        if self.jsonl {
            Format::Lines
        } else {
            Format::WholeFile
        }
    }

    fn parse_line(
        &self,
        line: &[u8],
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<(), ParseError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let m: Value = serde_json::from_slice(line)?;
        let Some(r) = usage_row(&m)? else {
            if let Some(ev) = ctx_event(&m) {
                state.scratch.with(|c: &mut JsonlCtx| c.events.push(ev));
            }
            return Ok(());
        };
        let task = common::parent_name(path).unwrap_or_else(|| "unknown".into());
        if state.cwd.is_none() && !state.extra.contains_key("info") {
            state.extra.insert("info".into(), Value::Bool(true));
            state.cwd = TaskInfo::load(self.flavor, path, &task, None, false).cwd;
        }
        let (model, provider) = (r.model.clone(), r.provider.clone());
        let main = say(&m) == Some("api_req_started");
        let ts = r.ts;
        if let Some(mut e) = self.event(r, &task, model, provider, state.cwd.clone()) {
            if main {
                // The split from what this line and the lines before it say: the next row's
                // `ts` and `conversationHistoryDeletedRange` are not known yet, in a whole read
                // as in a resumed one.
                let by_index = self.flavor == Flavor::Cline;
                let total = e.tokens.prompt_total();
                e.ctx = state.scratch.with(|c: &mut JsonlCtx| {
                    let ordinal = match c.reqs.iter().position(|t| *t == ts) {
                        Some(n) => n,
                        None => {
                            c.reqs.push(ts);
                            c.reqs.len() - 1
                        }
                    };
                    let req = cline_ctx::Req {
                        ts,
                        next_ts: None,
                        index: m.get("conversationHistoryIndex").and_then(Value::as_i64),
                        deleted: deleted_range(&m),
                        ordinal,
                    };
                    let events = std::mem::take(&mut c.events);
                    let got = c.history(path).and_then(|h| {
                        let t = h.splits(&[req], &events, by_index, false).pop()??;
                        t.compose_ctx(&h.names, &CLAUDE, total)
                    });
                    c.events = events;
                    got
                });
            }
            out.push(e);
        }
        Ok(())
    }

    fn parse_whole(
        &self,
        path: &Path,
        _state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        let mut report = WholeReport::default();
        let Some(doc) = common::read_json_doc(path, &mut report)? else {
            return Ok(report);
        };
        let Some(msgs) = doc.as_array() else {
            report.bad("ui_messages.json is not a JSON array");
            return Ok(report);
        };
        let task = common::parent_name(path).unwrap_or_else(|| "unknown".into());
        let mut rows = Vec::new();
        // Per row: its place in the ui array, and whether it is a main request (not a
        // subagent's aggregate).
        let mut at = Vec::new();
        let mut events = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            match usage_row(m) {
                Ok(Some(r)) => {
                    rows.push(r);
                    at.push((i, say(m) == Some("api_req_started")));
                }
                Ok(None) => events.extend(ctx_event(m)),
                Err(e) => report.bad(e.0),
            }
        }
        if rows.is_empty() {
            return Ok(report);
        }
        // The conversation as sent (read-only): the context split, and Roo/Kilo's model stamps.
        let hist = path.parent().and_then(|d| {
            let b = std::fs::read(d.join("api_conversation_history.json")).ok()?;
            History::read(&b)
        });
        let need_models = rows.iter().any(|r| r.model.is_none());
        let info = TaskInfo::load(self.flavor, path, &task, hist.as_ref(), need_models);
        let splits = hist
            .as_ref()
            .map(|h| self.splits(h, msgs, &rows, &at, &events))
            .unwrap_or_default();
        let next_ts: Vec<i64> = rows
            .iter()
            .skip(1)
            .map(|r| r.ts)
            .chain(std::iter::once(i64::MAX))
            .collect();
        for (k, (r, next)) in rows.into_iter().zip(next_ts).enumerate() {
            let (mut model, mut provider) = (r.model.clone(), r.provider.clone());
            if model.is_none() {
                if let Some((_, m, p)) = info.model_usage.iter().rev().find(|(t, _, _)| *t <= r.ts)
                {
                    model = Some(m.clone());
                    provider = provider.or_else(|| p.clone());
                } else if let Some((_, m)) = info.env_models.iter().rev().find(|(t, _)| *t < next) {
                    // The prompt of a request is stamped around its start: the model is the last
                    // one stamped before the next request.
                    model = Some(m.clone());
                }
            }
            if let Some(mut e) = self.event(r, &task, model, provider, info.cwd.clone()) {
                if let (Some(Some(t)), Some(h)) = (splits.get(k), hist.as_ref()) {
                    e.ctx = t.compose_ctx(&h.names, &CLAUDE, e.tokens.prompt_total());
                }
                out.push(e);
            }
        }
        Ok(report)
    }
}

/// Cline >= 4.1 SDK sessions: `sessions/<id>/<id>.messages.json` (a subagent's:
/// `<root id>/<agentId>.messages.json`).
pub struct ClineSdkParser;

impl Parser for ClineSdkParser {
    fn tool(&self) -> &str {
        "cline"
    }

    fn format(&self) -> Format {
        Format::WholeFile
    }

    fn parse_whole(
        &self,
        path: &Path,
        _state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        let mut report = WholeReport::default();
        let bytes = common::read_file(path)?;
        let doc: Value = match serde_json::from_slice(&bytes) {
            Ok(d) => d,
            Err(e) => {
                report.bad(ParseError::from(e).0);
                return Ok(report);
            }
        };
        let msgs = match &doc {
            Value::Array(a) => a,
            v => match v.get("messages").and_then(Value::as_array) {
                Some(a) => a,
                None => {
                    report.bad("session file has no `messages` array");
                    return Ok(report);
                }
            },
        };
        let session = common::parent_name(path).unwrap_or_else(|| "unknown".into());
        let stem = path
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_end_matches(".messages.json")
                    .to_string()
            })
            .unwrap_or_default();
        let agent = if stem == session {
            "main".to_string()
        } else {
            stem
        };
        let manifest = path
            .parent()
            .and_then(|d| read_json(&d.join(format!("{session}.json"))));
        let cwd = manifest.as_ref().and_then(|m| common::text(m, "cwd"));
        let manifest_model = manifest.as_ref().and_then(|m| common::text(m, "model"));
        let first = out.len();
        // The index and `ts` of the assistant message each event comes from.
        let mut at = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            match sdk_message(m, i, &session, &agent) {
                Ok(Some(mut e)) => {
                    e.cwd = cwd.clone();
                    if e.model.is_none() {
                        e.model = manifest_model.clone();
                    }
                    at.push((i, e.timestamp_ms));
                    out.push(e);
                }
                Ok(None) => {}
                Err(e) => report.bad(e.0),
            }
        }
        // The context split (`cline_ctx::SdkHistory`): the messages before each answer, as
        // sent; the session's compaction sidecar read-only, when it has one (the main
        // session's only: a subagent's file has none).
        if !at.is_empty() {
            let sidecar = (agent == "main")
                .then(|| path.parent())
                .flatten()
                .and_then(|d| std::fs::read(d.join(format!("{session}.compaction.json"))).ok());
            if let Some(h) = SdkHistory::read(&bytes, sidecar.as_deref()) {
                let splits = h.splits(&at);
                for (e, t) in out[first..].iter_mut().zip(splits) {
                    if let Some(t) = t {
                        e.ctx = t.compose_ctx(&h.names, &CLAUDE, e.tokens.prompt_total());
                    }
                }
            }
        }
        Ok(report)
    }
}

fn sdk_message(
    m: &Value,
    i: usize,
    session: &str,
    agent: &str,
) -> Result<Option<UsageEvent>, ParseError> {
    if m.get("role").and_then(Value::as_str) != Some("assistant") {
        return Ok(None);
    }
    if m.get("metadata")
        .and_then(|x| x.get("displayOnly"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Ok(None);
    }
    let Some(x) = m.get("metrics").filter(|x| !x.is_null()) else {
        return Ok(None);
    };
    let input = common::count_at(x, "inputTokens", "metrics.inputTokens")?;
    let cr = common::count_at(x, "cacheReadTokens", "metrics.cacheReadTokens")?;
    let cw = common::count_at(x, "cacheWriteTokens", "metrics.cacheWriteTokens")?;
    let tokens = Tokens {
        input: sub0(input, cr + cw),
        cache_write_5m: cw,
        cache_write_1h: 0,
        cache_read: cr,
        output: common::count_at(x, "outputTokens", "metrics.outputTokens")?,
        reasoning: 0,
    };
    if tokens.is_zero() {
        return Ok(None);
    }
    let ts = m
        .get("ts")
        .and_then(common::timestamp)
        .ok_or_else(|| ParseError("assistant message has no valid `ts`".into()))?;
    let id = common::text(m, "id").unwrap_or_else(|| format!("#{i}"));
    let mut e = common::event(
        "cline",
        format!("cline:{session}:{agent}:{id}"),
        Merge::LastWins,
        ts,
        tokens,
    );
    e.reported_cost_usd = common::money(x.get("cost"), "metrics.cost")?.filter(|c| *c >= 0.0);
    let mi = m.get("modelInfo");
    e.model = mi.and_then(|v| common::text(v, "id"));
    e.provider = mi.and_then(|v| common::text(v, "provider"));
    e.session_id = Some(session.to_string());
    e.msg_id = common::text(m, "id");
    Ok(Some(e))
}
