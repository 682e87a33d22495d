//! The dashboard's JSON API (`docs/dashboard.md`, "The JSON API"): every figure a page shows, in
//! the shapes of the CLI's `--json` (`Report` is `report --json`'s object). Each answer is built
//! from store queries on a read-only connection; the store owns every SQL statement.

use crate::status::{self, Settings};
use crate::store::dashboard::SessionRequest;
use crate::store::query::{Filter, GroupBy, Report, Zone, NO_REPOSITORY};
use crate::store::Store;
use chrono::NaiveDate;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// An answer that is not a 200: its HTTP status and the text the page shows.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// What the page shows in place of the figures (`{"error": ...}`).
    pub message: String,
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    /// A database error: logged in full, shown as [`crate::format::DB_ERROR`], never as `$0`.
    fn from(e: anyhow::Error) -> ApiError {
        crate::daemon::log(&format!("dashboard: {e:#}"));
        ApiError {
            status: 500,
            message: crate::format::DB_ERROR.into(),
        }
    }
}

/// A query string, decoded (`+` is a space; the last of repeated keys wins).
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        m.insert(dec(k), dec(v));
    }
    m
}

/// What the handlers need besides the store.
pub struct Ctx<'a> {
    /// Budgets and the zone and week start of periods.
    pub settings: &'a Settings,
    /// The daemon's alert pause as it is now (written to the database on its next refresh).
    pub paused: bool,
    /// Now, ms.
    pub now_ms: i64,
    /// Prices (the input cost of each kind of content in `/api/session`).
    pub pricer: &'a crate::pricing::Pricer,
}

type Q = HashMap<String, String>;

fn day(q: &Q, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| ApiError::bad(format!("{name} must be a day as YYYY-MM-DD, not {s:?}"))),
    }
}

fn next(d: NaiveDate) -> NaiveDate {
    d + chrono::Days::new(1)
}

/// `since`/`until` (inclusive days) as a filter in `zone`.
fn range(q: &Q, zone: Zone) -> Result<Filter, ApiError> {
    Ok(Filter {
        since_ms: day(q, "since")?.map(|d| zone.start_of(d)),
        until_ms: day(q, "until")?.map(|d| zone.start_of(next(d))),
        ..Filter::default()
    })
}

fn value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| anyhow::Error::from(e).into())
}

/// Answers `GET /api/NAME?q`.
pub fn get(store: &Store, cx: &Ctx, name: &str, q: &Q) -> Result<Value, ApiError> {
    let zone = cx.settings.zone;
    match name {
        "status" => status_json(store, cx),
        "report" => {
            let by = q.get("by").map(String::as_str).unwrap_or("day");
            let by = <GroupBy as clap::ValueEnum>::from_str(by, true).map_err(|_| {
                ApiError::bad(format!(
                    "unknown grouping {by:?}: use day, week, month, session, repo, branch, model, tool or provider"
                ))
            })?;
            let zone = match q.get("tz").filter(|s| !s.is_empty()) {
                Some(t) => Zone::parse(t).map_err(ApiError::bad)?,
                None => zone,
            };
            let mut f = range(q, zone)?;
            f.repo = q.get("repo").filter(|s| !s.is_empty()).cloned();
            f.tool = q.get("tool").filter(|s| !s.is_empty()).cloned();
            let mut r = store.report(by, &f, zone)?;
            store.session_details(&f, &mut r)?;
            // As `report session --json`: each session row's average split (estimated).
            store.session_ctx_averages(&f, &mut r)?;
            value(&r)
        }
        "repos" => repos(store, zone, q),
        "workspace" => {
            let repo = q
                .get("repo")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::bad("repo is required: /api/workspace?repo=owner/name"))?;
            let mut f = range(q, zone)?;
            f.repo = Some(repo.clone());
            let days = store.report(GroupBy::Day, &f, zone)?;
            let branches = store.report(GroupBy::Branch, &f, zone)?;
            let mut sessions = store.report(GroupBy::Session, &f, zone)?;
            store.session_details(&f, &mut sessions)?;
            sessions
                .rows
                .sort_by_key(|r| std::cmp::Reverse(r.last_request_ms));
            Ok(json!({"repo": repo, "days": days, "branches": branches, "sessions": sessions}))
        }
        "session" => session(store, cx, q),
        "treemap" => treemap(store, zone, q),
        _ => Err(ApiError {
            status: 404,
            message: format!("no such endpoint: /api/{name}"),
        }),
    }
}

fn named_costs(r: &Report) -> Value {
    Value::Array(
        r.rows
            .iter()
            .map(|x| json!({"key": x.key, "cost_usd": x.sums.cost_usd, "has_unpriced": x.sums.has_unpriced}))
            .collect(),
    )
}

fn status_json(store: &Store, cx: &Ctx) -> Result<Value, ApiError> {
    let st = status::compute(store, cx.settings, cx.now_ms)?;
    let today = Filter {
        since_ms: Some(st.periods.day.start_ms),
        ..Filter::default()
    };
    let zone = cx.settings.zone;
    let by = |g| store.report(g, &today, zone);
    let active: Vec<Value> = st
        .active_sessions
        .iter()
        .map(|s| {
            json!({"session": s.session, "tool": s.tool,
                   "repo": if s.repo == NO_REPOSITORY { None } else { Some(&s.repo) },
                   "branch": s.branch, "cost_usd": s.cost_usd,
                   "usd_per_hour": s.usd_per_hour, "last_ms": s.last_ms})
        })
        .collect();
    Ok(json!({
        "now_ms": st.now_ms,
        "tz": st.tz,
        "periods": value(&st.periods)?,
        "budgets": value(&st.budgets)?,
        "alerts_paused": cx.paused,
        "active_sessions": active,
        "by_tool_today": named_costs(&by(GroupBy::Tool)?),
        "by_provider_today": named_costs(&by(GroupBy::Provider)?),
        "by_model_today": named_costs(&by(GroupBy::Model)?),
    }))
}

fn repos(store: &Store, zone: Zone, q: &Q) -> Result<Value, ApiError> {
    let until = day(q, "until")?.unwrap_or_else(|| zone.today());
    let since = day(q, "since")?.unwrap_or(until - chrono::Days::new(29));
    let (since, until) = if since > until {
        (until, since)
    } else {
        (since, until)
    };
    let days = (until - since).num_days() + 1;
    let cur = Filter {
        since_ms: Some(zone.start_of(since)),
        until_ms: Some(zone.start_of(next(until))),
        ..Filter::default()
    };
    let prev = Filter {
        since_ms: Some(zone.start_of(since - chrono::Days::new(days as u64))),
        until_ms: Some(zone.start_of(since)),
        ..Filter::default()
    };
    let current = store.report(GroupBy::Repo, &cur, zone)?;
    let previous = store.report(GroupBy::Repo, &prev, zone)?;
    let mut trend: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (repo, d, cost) in store.repo_daily_costs(&cur, zone)? {
        trend
            .entry(repo)
            .or_default()
            .push(json!({"day": d, "cost_usd": cost}));
    }
    Ok(json!({"current": current, "previous": previous, "trend": trend}))
}

fn session(store: &Store, cx: &Ctx, q: &Q) -> Result<Value, ApiError> {
    let id = q.get("id").map(String::as_str).unwrap_or("");
    let not_found = || ApiError {
        status: 404,
        message: format!("no such session: {id}"),
    };
    if id.is_empty() {
        return Err(not_found());
    }
    // Requests older than `[storage] keep_events_days` are in the rollup only: the page
    // says how many rather than show a shorter session.
    let pruned = store.session_pruned_requests(id)?;
    let log = match store.session_log(id)? {
        Some(l) => l,
        None if pruned > 0 => crate::store::dashboard::SessionLog {
            tool: String::new(),
            repo: None,
            branch: None,
            requests: Vec::new(),
        },
        None => return Err(not_found()),
    };
    let pruned = match store.pruned_before()? {
        Some(before) if pruned > 0 => json!({"requests": pruned, "before_ms": before}),
        _ => Value::Null,
    };
    // Model changes of the session's own requests (a subagent's model is not a fallback).
    let mut changes = Vec::new();
    let mut last: Option<&str> = None;
    for r in log.requests.iter().filter(|r| !r.sidechain) {
        if let Some(m) = r.model.as_deref() {
            if let Some(l) = last.filter(|l| *l != m) {
                changes.push(json!({"ts_ms": r.ts_ms, "from": l, "to": m}));
            }
            last = Some(m);
        }
    }
    let mut alerts: Vec<Value> = store
        .alerts_of_session(id)?
        .into_iter()
        .map(|a| json!({"ts_ms": a.ts_ms, "kind": a.kind, "message": a.message}))
        .collect();
    alerts.reverse(); // oldest first, as the timeline reads
    let totals = store.sums(&Filter {
        session: Some(id.to_string()),
        ..Filter::default()
    })?;
    let requests: Vec<&SessionRequest> = log.requests.iter().collect();
    // What each kind of content cost (estimated), as `tokwatch session` computes it.
    let composition =
        crate::composition::summarize(&log, &|r| crate::composition::prompt_cost(cx.pricer, r));
    Ok(json!({
        "session": id,
        "tool": log.tool,
        "repo": log.repo,
        "branch": log.branch,
        "requests": requests,
        "model_changes": changes,
        "alerts": alerts,
        "totals": totals,
        "pruned": pruned,
        "composition": composition,
    }))
}

fn round(c: f64) -> f64 {
    let r = (c * 1e6).round() / 1e6;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

fn treemap(store: &Store, zone: Zone, q: &Q) -> Result<Value, ApiError> {
    let f = range(q, zone)?;
    // repository -> session -> (tool, models)
    type Session = (String, Vec<(String, f64, bool)>);
    let mut repos: HashMap<String, HashMap<String, Session>> = HashMap::new();
    for c in store.treemap_cells(&f)? {
        let s = repos
            .entry(c.repo)
            .or_default()
            .entry(c.session)
            .or_insert_with(|| (c.tool.clone(), Vec::new()));
        s.1.push((c.model, c.cost_usd, c.has_unpriced));
    }
    let by_cost = |a: &Value, b: &Value| {
        b["cost_usd"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&a["cost_usd"].as_f64().unwrap_or(0.0))
            .then_with(|| a["name"].as_str().cmp(&b["name"].as_str()))
    };
    let (mut total, mut total_unpriced) = (0.0, false);
    let mut children = Vec::new();
    for (repo, sessions) in repos {
        let (mut rc, mut ru) = (0.0, false);
        let mut sc = Vec::new();
        for (sid, (tool, models)) in sessions {
            let (mut cost, mut unpriced) = (0.0, false);
            let mut mc: Vec<Value> = models
                .into_iter()
                .map(|(m, c, u)| {
                    cost += c;
                    unpriced |= u;
                    json!({"name": m, "cost_usd": round(c), "has_unpriced": u})
                })
                .collect();
            mc.sort_by(by_cost);
            rc += cost;
            ru |= unpriced;
            sc.push(json!({"name": sid, "tool": tool, "cost_usd": round(cost),
                           "has_unpriced": unpriced, "children": mc}));
        }
        sc.sort_by(by_cost);
        total += rc;
        total_unpriced |= ru;
        children
            .push(json!({"name": repo, "cost_usd": round(rc), "has_unpriced": ru, "children": sc}));
    }
    children.sort_by(by_cost);
    Ok(json!({"cost_usd": round(total), "has_unpriced": total_unpriced, "children": children}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        let q = parse_query(Some("repo=acme%2Fapi&since=2025-06-01&x=a+b&empty"));
        assert_eq!(q["repo"], "acme/api");
        assert_eq!(q["since"], "2025-06-01");
        assert_eq!(q["x"], "a b");
        assert_eq!(q["empty"], "");
        assert!(parse_query(None).is_empty());
    }

    #[test]
    fn a_bad_day_is_a_400_that_says_the_form() {
        let q = parse_query(Some("since=June"));
        let e = range(&q, Zone::Utc).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);
    }
}
