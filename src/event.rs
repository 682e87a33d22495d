//! The normalized usage record every parser produces and every later stage consumes.
//!
//! Token buckets are *disjoint*: a token is in exactly one of `input`, `cache_write_5m`,
//! `cache_write_1h`, `cache_read`, `output`. `reasoning` is informational and is already
//! contained in `output` (parsers for tools that report thoughts separately add them to
//! `output` and also record them here).

use serde::{Deserialize, Serialize};

/// Disjoint token buckets of one request (or one delta of a cumulative counter).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Uncached input tokens.
    pub input: i64,
    /// Cache writes with the 5-minute TTL (or a tool's only kind of cache write).
    pub cache_write_5m: i64,
    /// Cache writes with the 1-hour TTL.
    pub cache_write_1h: i64,
    /// Cache reads (hits).
    pub cache_read: i64,
    /// Output tokens, reasoning included.
    pub output: i64,
    /// Reasoning/thinking tokens, a subset of `output` (informational only).
    pub reasoning: i64,
}

impl Tokens {
    /// All billable tokens (reasoning is inside output, so not added again).
    /// Saturating: a corrupt record's counts (up to `i64::MAX`, skipped later as out of
    /// range) must not overflow while it is looked at.
    pub fn total(&self) -> i64 {
        self.prompt_total().saturating_add(self.output)
    }
    /// Everything the model read for this request: decides long-context tiers.
    pub fn prompt_total(&self) -> i64 {
        self.input
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
            .saturating_add(self.cache_read)
    }
    /// True when no token at all is counted.
    pub fn is_zero(&self) -> bool {
        self.total() == 0 && self.reasoning == 0
    }
    /// Adds another request's buckets to these.
    pub fn add(&mut self, o: &Tokens) {
        self.input += o.input;
        self.cache_write_5m += o.cache_write_5m;
        self.cache_write_1h += o.cache_write_1h;
        self.cache_read += o.cache_read;
        self.output += o.output;
        self.reasoning += o.reasoning;
    }
}

/// How the store treats two events that share a dedup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Merge {
    /// Keep the record with the largest output (tie: largest total). Streaming snapshots.
    KeepMax,
    /// The newest record replaces the stored one (rewritten files, re-appended messages).
    LastWins,
    /// The first record stays (replayed copies of history).
    FirstWins,
    /// Copies of history replayed by several sessions (Codex forks and sub-agents): the copy
    /// with the earliest time stays (ties: the smaller session id), so the session that
    /// replayed it first owns it, whatever order the files are read in.
    Earliest,
    /// A running estimate (Copilot CLI before its shutdown metrics): a newer estimate replaces
    /// an older one, but never the settled record that replaced the estimates (all zero: the
    /// exact figures are counted under their own keys).
    Estimate,
}

impl Merge {
    /// The rule of [`Merge::as_i64`]'s number (`events.rule`); `None` for a row that keeps none.
    pub fn from_i64(n: i64) -> Option<Merge> {
        Some(match n {
            0 => Merge::KeepMax,
            1 => Merge::LastWins,
            2 => Merge::FirstWins,
            3 => Merge::Earliest,
            4 => Merge::Estimate,
            _ => return None,
        })
    }

    /// The one merge rule: does a `new` copy of a request replace the `old` one? (The store and
    /// the in-batch merge both ask this; a last-wins copy equal to the stored one is simply
    /// not written again.)
    pub fn replaces(self, old: &Tokens, new: &Tokens) -> bool {
        match self {
            Merge::LastWins => true,
            Merge::FirstWins | Merge::Earliest => false,
            Merge::Estimate => !old.is_zero(),
            Merge::KeepMax => {
                new.output > old.output
                    || (new.output == old.output && new.prompt_total() > old.prompt_total())
            }
        }
    }

    /// [`Merge::replaces`] for rules that also look at when and in which session each copy
    /// was recorded (`at` = (time ms, session id)): [`Merge::Earliest`] keeps the earlier copy;
    /// [`Merge::KeepMax`] keeps the larger one and, between copies of equal size, the earlier
    /// (so which copy is kept never depends on the order files are read in: a subagent's
    /// request is in its own file and in its parent's progress lines, with other times);
    /// every other rule decides on the tokens alone.
    pub fn replaces_at(
        self,
        old: &Tokens,
        old_at: (i64, &str),
        new: &Tokens,
        new_at: (i64, &str),
    ) -> bool {
        match self {
            Merge::Earliest => new_at < old_at,
            Merge::KeepMax => {
                let size = |t: &Tokens| (t.output, t.prompt_total());
                size(new) > size(old) || (size(new) == size(old) && new_at < old_at)
            }
            _ => self.replaces(old, new),
        }
    }

    /// The stored form of the rule.
    pub fn as_i64(self) -> i64 {
        match self {
            Merge::KeepMax => 0,
            Merge::LastWins => 1,
            Merge::FirstWins => 2,
            Merge::Earliest => 3,
            Merge::Estimate => 4,
        }
    }
}

/// Where a cost figure comes from. Stored with every event; reports say which kinds a total holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// Computed by tokwatch from tokens and a known price.
    Computed,
    /// Reported by the tool itself in its log.
    Reported,
    /// Computed from tokens that are themselves estimates (rounded, or request counts only).
    Estimated,
    /// No price known: tokens are kept, cost is absent (never shown as $0).
    Unpriced,
}

impl CostSource {
    /// The stored form.
    pub fn as_i64(self) -> i64 {
        match self {
            CostSource::Computed => 0,
            CostSource::Reported => 1,
            CostSource::Estimated => 2,
            CostSource::Unpriced => 3,
        }
    }
    /// From the stored form (unknown values read as unpriced).
    pub fn from_i64(v: i64) -> Self {
        match v {
            0 => CostSource::Computed,
            1 => CostSource::Reported,
            2 => CostSource::Estimated,
            _ => CostSource::Unpriced,
        }
    }
}

/// One request's usage as a parser saw it. Carries metadata only: never prompt, response or
/// tool text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// Tool id, e.g. `claude-code`, `codex`.
    pub tool: String,
    /// Unique per request within the tool: events with the same key are the same request.
    pub dedup_key: String,
    /// What the store does when another copy of this request arrives.
    pub merge: Merge,
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    /// Model name as the tool logged it (`None` when the log has none).
    pub model: Option<String>,
    /// Provider named by the log, when it names one (helps price resolution).
    pub provider: Option<String>,
    /// Token counts, in disjoint buckets.
    pub tokens: Tokens,
    /// Number of API requests this record stands for (1 for per-request logs).
    pub requests: i64,
    /// The tool's session id.
    pub session_id: Option<String>,
    /// Working directory of the session, as logged.
    pub cwd: Option<String>,
    /// Git branch, as logged.
    pub branch: Option<String>,
    /// Repository the log itself names (remote URL or `owner/name`), used when `cwd` is gone.
    pub repo_hint: Option<String>,
    /// A cost in USD the tool itself recorded for this request.
    pub reported_cost_usd: Option<f64>,
    /// True when the token numbers are estimates (rounded figures, request counts only).
    pub estimated: bool,
    /// Claude Code: the record came from a sidechain; a non-sidechain copy with the same
    /// `msg_id` wins over it.
    pub sidechain: bool,
    /// Message id, for the sidechain-replay rule.
    pub msg_id: Option<String>,
    /// Pricing modifier as logged (`fast`, `priority`, `batch`, `flex`).
    pub speed: Option<String>,
    /// Set for a request read from an export file (another machine's, or an earlier export):
    /// how it was stored where it was recorded, kept as it is rather than attributed and priced
    /// again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Box<Recorded>>,
    /// The request came right after a failed tool call: a 64-bit hash of the error (never its
    /// text), so that identical errors in a row can be told apart from different ones (the
    /// loop signal). `None` when the log shows no failed tool call before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_error: Option<u64>,
    /// What the request's input was made of (estimates adding up to its input total), for the
    /// tools whose logs hold the messages; `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Ctx>,
}

/// A request as an export file carries it (`docs/sync-and-export.md`): its stored identity,
/// the machine that recorded it, and the figures it was stored with there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// The stored identity: `dedup::key_hash(tool, dedup key)`, the same on every machine.
    pub key_hash: i64,
    /// The id of the machine that recorded it.
    pub machine: String,
    /// That machine's change number of this request: of two copies from one machine, the
    /// higher is the newer.
    pub rev: i64,
    /// Its repository's identity (remote URL key, or root path without a remote).
    pub repo_key: Option<String>,
    /// Its repository's display name.
    pub repo_name: Option<String>,
    /// Its repository's normalized remote.
    pub repo_remote: Option<String>,
    /// Its cost in USD; `None` = unpriced.
    pub cost_usd: Option<f64>,
    /// Where the cost comes from.
    pub cost_source: CostSource,
    /// The price entry used.
    pub price_key: Option<String>,
}

impl UsageEvent {
    /// An event with the given identity and everything else empty.
    pub fn new(tool: &str, dedup_key: String, merge: Merge, timestamp_ms: i64) -> Self {
        UsageEvent {
            tool: tool.to_string(),
            dedup_key,
            merge,
            timestamp_ms,
            model: None,
            provider: None,
            tokens: Tokens::default(),
            requests: 1,
            session_id: None,
            cwd: None,
            branch: None,
            repo_hint: None,
            reported_cost_usd: None,
            estimated: false,
            sidechain: false,
            msg_id: None,
            speed: None,
            recorded: None,
            tool_error: None,
            ctx: None,
        }
    }
}

/// Parse an RFC 3339 / ISO-8601 timestamp into epoch milliseconds.
pub fn parse_ts_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// The largest token count one record may carry (a trillion: far beyond any context window or
/// session). Larger, or negative, is a malformed record: totals never overflow.
pub const MAX_TOKENS: i64 = 1_000_000_000_000;

impl UsageEvent {
    /// Every token count and the request count lie in `0..=MAX_TOKENS`.
    pub fn counts_in_range(&self) -> bool {
        let t = &self.tokens;
        [
            t.input,
            t.cache_write_5m,
            t.cache_write_1h,
            t.cache_read,
            t.output,
            t.reasoning,
            self.requests,
        ]
        .iter()
        .all(|v| (0..=MAX_TOKENS).contains(v))
    }
}

/// A kind of content in a request's input (context composition, `docs/composition.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtxKind {
    /// System prompt and tool definitions: what the log does not show (the request's input
    /// total minus everything accounted for), plus instructions the log does show.
    System,
    /// The user's messages.
    User,
    /// The model's earlier text answers.
    Assistant,
    /// The model's earlier thinking that is sent again (within the current tool-use loop).
    Thinking,
    /// The model's tool calls (name and arguments).
    ToolCall,
    /// What tools returned, per tool name.
    ToolResult,
    /// Images and attached documents.
    Image,
    /// A compaction summary, standing for the history it replaced.
    Summary,
}

impl CtxKind {
    /// Every kind, in display order.
    pub const ALL: [CtxKind; 8] = [
        CtxKind::System,
        CtxKind::User,
        CtxKind::Assistant,
        CtxKind::Thinking,
        CtxKind::ToolCall,
        CtxKind::ToolResult,
        CtxKind::Image,
        CtxKind::Summary,
    ];
    /// Index in [`CtxKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
    /// One-letter stored code.
    pub fn code(self) -> char {
        match self {
            CtxKind::System => 's',
            CtxKind::User => 'u',
            CtxKind::Assistant => 'a',
            CtxKind::Thinking => 'k',
            CtxKind::ToolCall => 'c',
            CtxKind::ToolResult => 'r',
            CtxKind::Image => 'i',
            CtxKind::Summary => 'm',
        }
    }
    /// From the stored code.
    pub fn from_code(c: char) -> Option<CtxKind> {
        CtxKind::ALL.into_iter().find(|k| k.code() == c)
    }
    /// The name used in JSON (`tool_result`).
    pub fn name(self) -> &'static str {
        match self {
            CtxKind::System => "system",
            CtxKind::User => "user",
            CtxKind::Assistant => "assistant",
            CtxKind::Thinking => "thinking",
            CtxKind::ToolCall => "tool_call",
            CtxKind::ToolResult => "tool_result",
            CtxKind::Image => "image",
            CtxKind::Summary => "summary",
        }
    }
    /// Words for people for a part of this kind: "tool result of Read", "user messages".
    pub fn label_with(self, tool: Option<&str>) -> String {
        match (self, tool) {
            (CtxKind::ToolResult, Some(t)) => format!("tool result of {t}"),
            (k, _) => k.label().to_string(),
        }
    }
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            CtxKind::System => "system prompt and tools",
            CtxKind::User => "user messages",
            CtxKind::Assistant => "assistant text",
            CtxKind::Thinking => "thinking",
            CtxKind::ToolCall => "tool calls",
            CtxKind::ToolResult => "tool results",
            CtxKind::Image => "images and attachments",
            CtxKind::Summary => "compaction summary",
        }
    }
}

/// One part of a request's input: a kind of content (a tool result per tool name) and its
/// estimated tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtxPart {
    /// The kind of content.
    pub kind: CtxKind,
    /// The tool, for tool results (`Read`, `Bash`, `mcp__github__get_issue`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Estimated tokens; the parts of a request add up to its exact input total.
    pub tokens: i64,
}

impl CtxPart {
    /// "tool result of Read", "user messages".
    pub fn label(&self) -> String {
        self.kind.label_with(self.tool.as_deref())
    }
}

/// What one request's input was made of: estimates, scaled so that they add up to the
/// request's exact input total (uncached input, cache writes and cache reads). Numbers and tool
/// names only, never text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Composition {
    /// The parts with tokens, in [`CtxKind::ALL`] order (tool results by tool name).
    pub parts: Vec<CtxPart>,
}

impl Composition {
    /// The sum of the parts (the request's input total).
    pub fn total(&self) -> i64 {
        self.parts.iter().map(|p| p.tokens).sum()
    }

    /// Tokens of one kind (all tools for tool results).
    pub fn of(&self, kind: CtxKind) -> i64 {
        self.parts
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.tokens)
            .sum()
    }

    /// The stored form: `s=1200;u=40;r.Read=3000` (tool names have `;` and `=` replaced).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(self.parts.len() * 16);
        for p in &self.parts {
            push_part(&mut s, p.kind, p.tool.as_deref(), p.tokens);
        }
        s
    }

    /// From the stored form; `None` when it is not one.
    pub fn decode(s: &str) -> Option<Composition> {
        let mut parts = Vec::new();
        for item in s.split(';').filter(|i| !i.is_empty()) {
            let (head, n) = item.rsplit_once('=')?;
            let mut chars = head.chars();
            let kind = CtxKind::from_code(chars.next()?)?;
            let rest = chars.as_str();
            let tool = match rest.strip_prefix('.') {
                Some(t) => Some(t.to_string()),
                None if rest.is_empty() => None,
                None => return None,
            };
            parts.push(CtxPart {
                kind,
                tool,
                tokens: n.parse().ok()?,
            });
        }
        Some(Composition { parts })
    }
}

/// Appends one part to a stored split ([`Composition::encode`]): the parsers write the stored
/// form of a split directly, so it is made in one place.
pub fn push_part(s: &mut String, kind: CtxKind, tool: Option<&str>, tokens: i64) {
    if !s.is_empty() {
        s.push(';');
    }
    s.push(kind.code());
    if let Some(t) = tool {
        s.push('.');
        if t.contains([';', '=']) {
            s.extend(
                t.chars()
                    .map(|c| if c == ';' || c == '=' { '_' } else { c }),
            );
        } else {
            s.push_str(t);
        }
    }
    s.push('=');
    push_int(s, tokens);
}

/// A request's split as an event carries it: the stored form ([`Composition::encode`]),
/// shared. The lines of one response carry the same split, the store writes it as it is, and
/// dropping it is one free; [`Ctx::composition`] gives the parts. In JSON it is the
/// [`Composition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx(std::sync::Arc<str>);

impl Ctx {
    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The parts.
    pub fn composition(&self) -> Composition {
        Composition::decode(&self.0).unwrap_or_default()
    }
    /// From a stored form made by [`push_part`] (not checked).
    pub fn from_encoded(s: String) -> Ctx {
        Ctx(s.into())
    }
}

impl From<Composition> for Ctx {
    fn from(c: Composition) -> Ctx {
        Ctx(c.encode().into())
    }
}

impl Serialize for Ctx {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.composition().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ctx {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ctx, D::Error> {
        Composition::deserialize(d).map(Ctx::from)
    }
}

/// Appends an integer in decimal (as `{}` formats it), without the formatting machinery:
/// one per part of every stored split.
fn push_int(s: &mut String, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        s.push('-');
    }
    s.push_str(std::str::from_utf8(&buf[i..]).expect("digits"));
}

/// One kind of content in a [`CtxAverage`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvgPart {
    /// The kind (`tool_result`, ...).
    pub kind: CtxKind,
    /// The tool, for tool results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Its tokens summed over the requests with a split, divided by their number.
    pub avg_tokens: f64,
}

/// The average context split per request of a session (a `report session` row): over the
/// requests that have a split only (`docs/composition.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtxAverage {
    /// Always true: the splits are estimates.
    pub estimated: bool,
    /// Requests with a split (the average is over these).
    pub requests_with: i64,
    /// The kinds, most tokens first.
    pub parts: Vec<AvgPart>,
}

/// Sums the splits of requests, for a [`CtxAverage`].
#[derive(Debug, Default, Clone)]
pub struct CtxSums {
    requests: i64,
    sums: std::collections::BTreeMap<(CtxKind, Option<String>), i64>,
}

impl CtxSums {
    /// Adds a request's split.
    pub fn add(&mut self, c: &Composition) {
        self.requests += 1;
        for p in &c.parts {
            *self.sums.entry((p.kind, p.tool.clone())).or_insert(0) += p.tokens;
        }
    }
    /// The average per request; `None` when no split was added.
    pub fn average(&self) -> Option<CtxAverage> {
        if self.requests == 0 {
            return None;
        }
        let mut parts: Vec<AvgPart> = self
            .sums
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((kind, tool), n)| AvgPart {
                kind: *kind,
                tool: tool.clone(),
                avg_tokens: *n as f64 / self.requests as f64,
            })
            .collect();
        parts.sort_by(|a, b| {
            b.avg_tokens
                .total_cmp(&a.avg_tokens)
                .then(a.kind.cmp(&b.kind))
                .then(a.tool.cmp(&b.tool))
        });
        Some(CtxAverage {
            estimated: true,
            requests_with: self.requests,
            parts,
        })
    }
}
