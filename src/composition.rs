//! Views of context composition over one session (`docs/composition.md`): the split summed and
//! averaged per kind of content, what each kind cost, and the requests where the context grew
//! most and what made it grow. Pure functions over a stored [`SessionLog`]; every figure here is
//! an estimate and says so.

pub use crate::event::{AvgPart, CtxAverage, CtxSums};
use crate::event::{Composition, CtxKind, Tokens, UsageEvent};
use crate::pricing::Pricer;
use crate::store::dashboard::{SessionLog, SessionRequest};
use serde::Serialize;
use std::collections::BTreeMap;

/// One kind of content (a tool result per tool) over a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Category {
    /// The kind (`tool_result`, ...).
    pub kind: CtxKind,
    /// The tool, for tool results.
    pub tool: Option<String>,
    /// "tool result of Read".
    pub label: String,
    /// Tokens summed over the requests with a split (a cached tool result counts on every
    /// request that read it again).
    pub tokens: i64,
    /// Average tokens per request with a split.
    pub avg_tokens: f64,
    /// Its share of the requests' input cost (input price of each request applied to its
    /// tokens); `None` when some of those requests have no computed price.
    pub cost_usd: Option<f64>,
}

/// A request where the context grew (or shrank) most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    /// Index of the request in the session's request list.
    pub index: usize,
    /// Its time, ms.
    pub ts_ms: i64,
    /// Input total minus the previous request's on the same chain.
    pub delta: i64,
    /// The parts that changed most: (label, tokens), largest change first.
    pub by: Vec<(String, i64)>,
}

/// A session's composition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionComposition {
    /// Always true: sizes are estimated from text lengths.
    pub estimated: bool,
    /// Requests with a split (a Copilot CLI record counts as the requests it stands for).
    pub requests_with: usize,
    /// Requests without one (a tool whose log holds no messages, or a chain that starts in
    /// another file).
    pub requests_without: usize,
    /// Kinds of content, most tokens first.
    pub categories: Vec<Category>,
    /// The input cost of the requests with a split (each request's price without its
    /// output): what the categories' `cost_usd` share out; `None` when some of them have no
    /// computed price.
    pub input_cost_usd: Option<f64>,
    /// The requests where the context grew most (at most 5), then those where it dropped most
    /// (a compaction; at most 3).
    pub growth: Vec<Growth>,
}

type Key = (CtxKind, Option<String>);

fn parts(c: &Composition) -> BTreeMap<Key, i64> {
    let mut m = BTreeMap::new();
    for p in &c.parts {
        *m.entry((p.kind, p.tool.clone())).or_insert(0) += p.tokens;
    }
    m
}

/// Sums, averages, costs and growth of a session's requests. `prompt_cost` gives a request's
/// cost without its output (its input priced), `None` when unknown.
pub fn summarize(
    log: &SessionLog,
    prompt_cost: &dyn Fn(&SessionRequest) -> Option<f64>,
) -> SessionComposition {
    let mut sums: BTreeMap<Key, (i64, f64, bool)> = BTreeMap::new();
    // Requests, not rows: a Copilot CLI record stands for its block's requests.
    let mut with = 0usize;
    let mut all = 0usize;
    let mut input_cost = Some(0.0);
    for r in &log.requests {
        let n = r.requests.max(1) as usize;
        all += n;
        let Some(c) = &r.ctx else { continue };
        with += n;
        let total = r.prompt_total().max(1) as f64;
        let cost = prompt_cost(r);
        input_cost = input_cost.zip(cost).map(|(a, b)| a + b);
        for (k, n) in parts(c) {
            let e = sums.entry(k).or_insert((0, 0.0, true));
            e.0 += n;
            match cost {
                Some(c) => e.1 += c * n as f64 / total,
                None => e.2 = false,
            }
        }
    }
    let mut categories: Vec<Category> = sums
        .into_iter()
        .map(|(k, (tokens, cost, priced))| Category {
            label: k.0.label_with(k.1.as_deref()),
            kind: k.0,
            tool: k.1,
            tokens,
            avg_tokens: tokens as f64 / with.max(1) as f64,
            cost_usd: priced.then_some(cost),
        })
        .collect();
    categories.sort_by(|a, b| b.tokens.cmp(&a.tokens).then(a.label.cmp(&b.label)));
    // Growth along each chain: the session's own requests, and each subagent's apart is not
    // known from the stored rows, so only the main chain is compared.
    let mut steps: Vec<Growth> = Vec::new();
    let mut prev: Option<(i64, BTreeMap<Key, i64>)> = None;
    for (i, r) in log.requests.iter().enumerate() {
        if r.sidechain {
            continue;
        }
        let Some(c) = &r.ctx else { continue };
        let now = parts(c);
        let total = r.prompt_total();
        if let Some((pt, pp)) = &prev {
            let keys: std::collections::BTreeSet<&Key> = now.keys().chain(pp.keys()).collect();
            let mut by: Vec<(String, i64)> = keys
                .into_iter()
                .map(|k| {
                    let d = now.get(k).copied().unwrap_or(0) - pp.get(k).copied().unwrap_or(0);
                    (k.0.label_with(k.1.as_deref()), d)
                })
                .filter(|(_, d)| *d != 0)
                .collect();
            by.sort_by_key(|(_, d)| std::cmp::Reverse(d.abs()));
            by.truncate(3);
            steps.push(Growth {
                index: i,
                ts_ms: r.ts_ms,
                delta: total - pt,
                by,
            });
        }
        prev = Some((total, now));
    }
    let mut up: Vec<Growth> = steps.iter().filter(|g| g.delta > 0).cloned().collect();
    up.sort_by_key(|g| std::cmp::Reverse(g.delta));
    up.truncate(5);
    let mut down: Vec<Growth> = steps.into_iter().filter(|g| g.delta < 0).collect();
    down.sort_by_key(|g| g.delta);
    down.truncate(3);
    up.extend(down);
    SessionComposition {
        estimated: true,
        requests_with: with,
        requests_without: all - with,
        categories,
        input_cost_usd: input_cost.filter(|_| with > 0),
        growth: up,
    }
}

/// A request's input priced alone (its price without output and reasoning), for the share of
/// each kind of content in [`summarize`]; `None` when its stored cost is not one tokwatch
/// computed (reported by the tool, estimated or unpriced).
pub fn prompt_cost(pricer: &Pricer, r: &SessionRequest) -> Option<f64> {
    if r.cost_source != "computed" {
        return None;
    }
    let mut ev = UsageEvent::new("", String::new(), crate::event::Merge::KeepMax, r.ts_ms);
    ev.model = r.model.clone();
    ev.tokens = Tokens {
        output: 0,
        reasoning: 0,
        ..r.tokens()
    };
    pricer.price(&ev).cost_usd
}

/// A short name of a part for a table cell: `system`, `Read` (a tool result), `calls`.
pub fn short_name(kind: CtxKind, tool: Option<&str>) -> String {
    match (kind, tool) {
        (CtxKind::ToolResult, Some(t)) => t.to_string(),
        (CtxKind::ToolResult, None) => "results".into(),
        (CtxKind::System, _) => "system".into(),
        (CtxKind::User, _) => "user".into(),
        (CtxKind::Assistant, _) => "assistant".into(),
        (CtxKind::Thinking, _) => "thinking".into(),
        (CtxKind::ToolCall, _) => "calls".into(),
        (CtxKind::Image, _) => "images".into(),
        (CtxKind::Summary, _) => "summary".into(),
    }
}

/// "~ system 41% · Read 22% · calls 12%": the largest `n` parts of an average split as shares
/// of its total (the `~` marks the estimate).
pub fn average_words(a: &CtxAverage, n: usize) -> String {
    let total: f64 = a.parts.iter().map(|p| p.avg_tokens).sum();
    if total <= 0.0 {
        return "-".into();
    }
    let words: Vec<String> = a
        .parts
        .iter()
        .take(n)
        .map(|p| {
            format!(
                "{} {:.0}%",
                short_name(p.kind, p.tool.as_deref()),
                p.avg_tokens * 100.0 / total
            )
        })
        .collect();
    format!("~ {}", words.join(" · "))
}

/// "tool result of Read: +38k tokens" for the largest part of a change.
pub fn growth_words(g: &Growth) -> String {
    let parts: Vec<String> =
        g.by.iter()
            .filter(|(_, d)| d.signum() == g.delta.signum())
            .take(2)
            .map(|(l, d)| format!("{l}: {} tokens", signed_k(*d)))
            .collect();
    if parts.is_empty() {
        "(no single part)".into()
    } else {
        parts.join(", ")
    }
}

/// +38k, -1.2k, +512.
pub fn signed_k(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "+" };
    format!("{sign}{}", short(v.abs()))
}

/// 38k, 1.2k, 512, 1.1M.
pub fn short(v: i64) -> String {
    let a = v.abs() as f64;
    if a >= 1e6 {
        format!("{:.1}M", v as f64 / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v as f64 / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v as f64 / 1e3)
    } else {
        v.to_string()
    }
}
