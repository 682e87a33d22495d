//! The queries of the dashboard's pages that reports do not already answer: one session's
//! requests in time order, session details for the workspace page (exact first and last request,
//! models, branch), the treemap's cells and the per-repository daily trend. Each reads the
//! rollup over the range (bucket-indexed) or one session's requests (`events_session`), never
//! a pass over every stored request.

use super::query::{
    session_row_where, where_clause, Filter, GroupBy, Layer, Report, Zone, BUCKET_MS, NO_REPOSITORY,
};
use super::Store;
use serde::Serialize;
use std::collections::HashMap;

/// One stored request of a session, as the session page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRequest {
    /// Time, ms.
    pub ts_ms: i64,
    /// Model as logged.
    pub model: Option<String>,
    /// Uncached input tokens.
    pub input: i64,
    /// Cache writes, 5-minute TTL.
    pub cache_write_5m: i64,
    /// Cache writes, 1-hour TTL.
    pub cache_write_1h: i64,
    /// Cache reads.
    pub cache_read: i64,
    /// Output tokens (reasoning included).
    pub output: i64,
    /// Reasoning tokens (inside output).
    pub reasoning: i64,
    /// Cost, `None` = unpriced (never 0 for an unknown price).
    pub cost_usd: Option<f64>,
    /// `computed`, `reported`, `estimated` or `unpriced`.
    pub cost_source: &'static str,
    /// A sidechain (subagent) request: its model is not the session's own.
    #[serde(skip)]
    pub sidechain: bool,
    /// What its input was made of (estimates adding up to its input total), when known.
    pub ctx: Option<crate::event::Composition>,
    /// How many API requests the row stands for: 1 for nearly every tool; a Copilot CLI
    /// record holds a session block's requests (its tokens and split are theirs added up).
    pub requests: i64,
}

impl SessionRequest {
    /// Its token buckets.
    pub fn tokens(&self) -> crate::event::Tokens {
        crate::event::Tokens {
            input: self.input,
            cache_write_5m: self.cache_write_5m,
            cache_write_1h: self.cache_write_1h,
            cache_read: self.cache_read,
            output: self.output,
            reasoning: self.reasoning,
        }
    }
    /// Everything the model read: uncached input, cache writes and reads.
    pub fn prompt_total(&self) -> i64 {
        self.tokens().prompt_total()
    }
}

/// A session's identity and requests.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionLog {
    /// Tool id.
    pub tool: String,
    /// Repository display name (`None` outside any repository).
    pub repo: Option<String>,
    /// Branch of its latest request that logged one.
    pub branch: Option<String>,
    /// Every request, oldest first.
    pub requests: Vec<SessionRequest>,
}

/// One treemap leaf: a (repository, session, model) with its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct TreemapCell {
    /// Repository display name, or `(no repository)`.
    pub repo: String,
    /// Session id, or `(no session)`.
    pub session: String,
    /// Tool of the session.
    pub tool: String,
    /// Model, or `(unknown)`.
    pub model: String,
    /// Cost of the priced usage.
    pub cost_usd: f64,
    /// Usage without a known price is in the cell.
    pub has_unpriced: bool,
}

fn source_name(s: i64) -> &'static str {
    match s {
        0 => "computed",
        1 => "reported",
        2 => "estimated",
        _ => "unpriced",
    }
}

fn or(v: String, none: &str) -> String {
    if v.is_empty() {
        none.to_string()
    } else {
        v
    }
}

impl Store {
    /// Stored session ids that start with `prefix` (at most `limit`).
    pub fn sessions_with_prefix(&self, prefix: &str, limit: i64) -> anyhow::Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT DISTINCT session FROM events
             WHERE session >= ?1 AND session < ?1 || char(1114111) LIMIT ?2",
        )?;
        let rows = st.query_map(rusqlite::params![prefix, limit], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One session's requests in time order; `None` when no request of it is stored.
    pub fn session_log(&self, session: &str) -> anyhow::Result<Option<SessionLog>> {
        let mut st = self.conn.prepare_cached(
            "SELECT e.ts, e.model, e.input, e.cw5, e.cw1h, e.cr, e.output, e.reasoning, e.cost,
                    e.cost_source, e.sidechain, e.tool, w.name, e.branch, e.ctx, e.requests
             FROM events e LEFT JOIN workspaces w ON w.id = e.workspace_id
             WHERE e.session = ?1 ORDER BY e.ts, e.id",
        )?;
        let mut rows = st.query([session])?;
        let mut log: Option<SessionLog> = None;
        while let Some(r) = rows.next()? {
            let req = SessionRequest {
                ts_ms: r.get(0)?,
                model: r.get::<_, Option<String>>(1)?.filter(|m| !m.is_empty()),
                input: r.get(2)?,
                cache_write_5m: r.get(3)?,
                cache_write_1h: r.get(4)?,
                cache_read: r.get(5)?,
                output: r.get(6)?,
                reasoning: r.get(7)?,
                cost_usd: r.get(8)?,
                cost_source: source_name(r.get(9)?),
                sidechain: r.get::<_, i64>(10)? != 0,
                ctx: None,
                requests: r.get(15)?,
            };
            // A settled estimate (Copilot CLI's live figure, replaced by the shutdown's exact
            // records) stays stored as an empty row: it is no request.
            if req.requests == 0 && req.tokens().is_zero() && req.cost_usd.unwrap_or(0.0) == 0.0 {
                continue;
            }
            let mut req = req;
            // A stored split that no longer adds up (a later copy changed the input) is not
            // shown: the figures would not be the request's.
            req.ctx = r
                .get::<_, Option<String>>(14)?
                .and_then(|c| crate::event::Composition::decode(&c))
                .filter(|c| c.total() == req.prompt_total());
            let branch: Option<String> = r.get::<_, Option<String>>(13)?.filter(|b| !b.is_empty());
            let l = log.get_or_insert_with(|| SessionLog {
                tool: String::new(),
                repo: None,
                branch: None,
                requests: Vec::new(),
            });
            if l.requests.is_empty() {
                l.tool = r.get(11)?;
            }
            if let Some(name) = r.get::<_, Option<String>>(12)? {
                l.repo = Some(name);
            }
            if branch.is_some() {
                l.branch = branch;
            }
            l.requests.push(req);
        }
        Ok(log)
    }

    /// Fills the session rows of a `GroupBy::Session` report made with `f`: its models (first
    /// used first) and the branch of its latest usage. (The exact first and last request,
    /// `first_ms`/`last_ms`, the report itself holds.)
    pub fn session_details(&self, f: &Filter, report: &mut Report) -> anyhow::Result<()> {
        if report.group != GroupBy::Session || report.rows.is_empty() {
            return Ok(());
        }
        // Models and branches from the rollup over the range: one pass.
        let mut args = Vec::new();
        let wh = where_clause(f, &mut args, Layer::Quarter);
        let sql = format!(
            "SELECT r.session, r.model, r.branch, min(r.bucket), max(r.bucket)
             FROM rollup r WHERE {wh} AND r.requests != 0 GROUP BY r.session, r.model, r.branch"
        );
        let mut st = self.conn.prepare(&sql)?;
        type Seen = (Vec<(i64, String)>, Option<(i64, String)>);
        let mut by: HashMap<String, Seen> = HashMap::new();
        let mut q = st.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(r) = q.next()? {
            let s: String = r.get(0)?;
            let model: String = r.get(1)?;
            let branch: String = r.get(2)?;
            let (first, last): (i64, i64) = (r.get(3)?, r.get(4)?);
            let e = by.entry(or(s, "(no session)")).or_default();
            if !model.is_empty() {
                match e.0.iter_mut().find(|(_, m)| *m == model) {
                    Some(x) => x.0 = x.0.min(first),
                    None => e.0.push((first, model)),
                }
            }
            if !branch.is_empty() && e.1.as_ref().is_none_or(|(b, _)| last > *b) {
                e.1 = Some((last, branch));
            }
        }
        for row in &mut report.rows {
            let (mut models, branch) = by.remove(&row.key).unwrap_or_default();
            models.sort();
            row.models = Some(models.into_iter().map(|(_, m)| m).collect());
            row.branch = Some(branch.map(|(_, b)| b));
            // The exact first and last request are the report's own (`Store::report` looks
            // them up once, under the same filter as the row's sums).
        }
        Ok(())
    }

    /// Fills `ctx_avg` of the session rows of a `GroupBy::Session` report made with `f`: the
    /// average context split per request over the row's requests that have one (`null` when
    /// none has). Reads every request of each listed session (an index range of
    /// `events_session` per row, then each request's row for its split), so a report of every
    /// session over all history reads the whole table: ~230 ms of `report session` at 1M
    /// requests (2,000 sessions), 3.6 s at 10M (docs/benchmarks.md, fifteenth session).
    pub fn session_ctx_averages(&self, f: &Filter, report: &mut Report) -> anyhow::Result<()> {
        if report.group != GroupBy::Session {
            return Ok(());
        }
        let (mut w, mut args) = session_row_where(f);
        w.push("e.ctx IS NOT NULL".into());
        let sql = format!(
            "SELECT e.ctx, e.input, e.cw5, e.cw1h, e.cr FROM events e WHERE {}",
            w.join(" AND ")
        );
        let mut st = self.conn.prepare(&sql)?;
        for row in &mut report.rows {
            if row.key == "(no session)" {
                row.ctx_avg = Some(None);
                continue;
            }
            args[0] = rusqlite::types::Value::Text(row.key.clone());
            args[1] = rusqlite::types::Value::Text(row.tool.clone().unwrap_or_default());
            let mut sums = crate::event::CtxSums::default();
            let mut q = st.query(rusqlite::params_from_iter(args.iter()))?;
            while let Some(r) = q.next()? {
                let total: i64 = r.get::<_, i64>(1)?
                    + r.get::<_, i64>(2)?
                    + r.get::<_, i64>(3)?
                    + r.get::<_, i64>(4)?;
                // As the session view: a split that no longer adds up to its request's input
                // total is not the request's and is left out.
                if let Some(c) = r
                    .get_ref(0)?
                    .as_str_or_null()?
                    .and_then(crate::event::Composition::decode)
                    .filter(|c| c.total() == total)
                {
                    sums.add(&c);
                }
            }
            row.ctx_avg = Some(sums.average());
        }
        Ok(())
    }

    /// The treemap's leaves over `f`: cost per (repository, session, model).
    pub fn treemap_cells(&self, f: &Filter) -> anyhow::Result<Vec<TreemapCell>> {
        let mut args = Vec::new();
        let wh = where_clause(f, &mut args, Layer::Quarter);
        let sql = format!(
            "SELECT coalesce(w.name, ''), r.session, max(r.tool), r.model, total(r.cost),
                    total(r.unpriced)
             FROM rollup r LEFT JOIN workspaces w ON w.id = r.workspace_id
             WHERE {wh} GROUP BY r.workspace_id, r.session, r.model HAVING sum(r.requests) != 0"
        );
        let mut st = self.conn.prepare(&sql)?;
        let v = st
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(TreemapCell {
                    repo: or(r.get(0)?, NO_REPOSITORY),
                    session: or(r.get(1)?, "(no session)"),
                    tool: r.get(2)?,
                    model: or(r.get(3)?, "(unknown)"),
                    cost_usd: r.get(4)?,
                    has_unpriced: r.get::<_, f64>(5)? > 0.0,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Cost per repository and local day over `f` (days without usage left out), by the
    /// repository keys of `report repo`.
    pub fn repo_daily_costs(
        &self,
        f: &Filter,
        zone: Zone,
    ) -> anyhow::Result<Vec<(String, String, f64)>> {
        let mut args = Vec::new();
        let wh = where_clause(f, &mut args, Layer::Quarter);
        let sql = format!(
            "SELECT coalesce(w.name, ''), r.bucket, total(r.cost)
             FROM rollup r LEFT JOIN workspaces w ON w.id = r.workspace_id
             WHERE {wh} GROUP BY r.workspace_id, r.bucket"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut sums: HashMap<(String, String), f64> = HashMap::new();
        let mut q = st.query(rusqlite::params_from_iter(args.iter()))?;
        // Buckets of one day are consecutive: the day is computed once per run of them.
        let mut last_day: Option<(i64, i64, String)> = None;
        while let Some(r) = q.next()? {
            let repo = or(r.get(0)?, NO_REPOSITORY);
            let b: i64 = r.get(1)?;
            let cost: f64 = r.get(2)?;
            let day = match &last_day {
                Some((from, to, d)) if b >= *from && b < *to => d.clone(),
                _ => {
                    let d = zone.date(b * BUCKET_MS);
                    let from = zone.start_of(d).div_euclid(BUCKET_MS);
                    let to = zone
                        .start_of(d + chrono::Days::new(1))
                        .div_euclid(BUCKET_MS);
                    let s = d.format("%Y-%m-%d").to_string();
                    last_day = Some((from, to, s.clone()));
                    s
                }
            };
            *sums.entry((repo, day)).or_default() += cost;
        }
        let mut v: Vec<(String, String, f64)> = sums
            .into_iter()
            .map(|((r, d), c)| (r, d, (c * 1e6).round() / 1e6))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(v)
    }

    /// A signature of what the overview's budget section shows (stored budgets and the alert
    /// pause): it changes when a budget is set or removed, or alerts are paused or resumed.
    pub fn settings_signature(&self) -> anyhow::Result<String> {
        let b = self.budgets()?;
        let p = self.alerts_paused()?;
        Ok(format!("{p}:{b:?}"))
    }
}
