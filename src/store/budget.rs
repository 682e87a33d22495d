//! Budgets, the alerts that fired, their settings, the plan-limit snapshot and the guard's
//! allowed sessions (schema v2); and the spend queries budgets, forecasts and the guard ask.
//!
//! The kinds of budgets ([`Period`], [`BudgetScope`], [`BudgetDef`]) live here because they are
//! stored; what they mean (state, forecast, which alerts fire) lives in `status` and `alerts`.

use super::query::{Cost, Zone, BUCKET_MS};
use super::{now_ms, Store};
use chrono::{Datelike, NaiveDate, Weekday};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// The length of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A calendar day.
    Day,
    /// A week from the configured first day.
    Week,
    /// A calendar month.
    Month,
}

impl Period {
    /// All periods, shortest first.
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    /// `day`/`daily`, `week`/`weekly`, `month`/`monthly`.
    pub fn parse(s: &str) -> Option<Period> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" | "today" => Some(Period::Day),
            "week" | "weekly" => Some(Period::Week),
            "month" | "monthly" => Some(Period::Month),
            _ => None,
        }
    }
    /// `day`, `week`, `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
    /// `daily`, `weekly`, `monthly`.
    pub fn adjective(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Week => "weekly",
            Period::Month => "monthly",
        }
    }
    /// `today`, `this week`, `this month`.
    pub fn this(self) -> &'static str {
        match self {
            Period::Day => "today",
            Period::Week => "this week",
            Period::Month => "this month",
        }
    }
    /// The first local date of the period holding `date`.
    pub fn first_day(self, date: NaiveDate, week_start: Weekday) -> NaiveDate {
        match self {
            Period::Day => date,
            Period::Week => {
                let back = (7 + date.weekday().num_days_from_monday()
                    - week_start.num_days_from_monday())
                    % 7;
                date - chrono::Days::new(back as u64)
            }
            Period::Month => date.with_day(1).unwrap_or(date),
        }
    }
    /// The first local date after the period that starts on `first`.
    pub fn next_first_day(self, first: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => first + chrono::Days::new(1),
            Period::Week => first + chrono::Days::new(7),
            Period::Month => first + chrono::Months::new(1),
        }
    }
    /// `[start, end)` of the period holding `at_ms`, in `zone` (DST days are 23 or 25 hours).
    pub fn bounds(self, zone: Zone, week_start: Weekday, at_ms: i64) -> (i64, i64) {
        let first = self.first_day(zone.date(at_ms), week_start);
        (
            zone.start_of(first),
            zone.start_of(self.next_first_day(first)),
        )
    }
}

/// What a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetScope {
    /// Every tool.
    All,
    /// One repository (its name, key or root, as reports accept).
    Repo(String),
    /// One tool.
    Tool(String),
    /// Models whose name contains this text (case-insensitive): `claude`, `opus`, `gpt-5`.
    Model(String),
    /// One provider (`anthropic`, `openai`, `google`, ...).
    Provider(String),
}

impl BudgetScope {
    /// `all`, `repo:owner/app`, `tool:codex`, `model:claude`, `provider:anthropic`.
    pub fn parse(s: &str) -> Result<BudgetScope, String> {
        let s = s.trim();
        if s == "all" || s.is_empty() {
            return Ok(BudgetScope::All);
        }
        let (kind, v) = s.split_once(':').ok_or_else(|| {
            format!("unknown budget scope {s:?}: use all, repo:NAME, tool:ID, model:TEXT or provider:ID")
        })?;
        let v = v.trim().to_string();
        if v.is_empty() {
            return Err(format!(
                "the budget scope {s:?} names nothing after the colon"
            ));
        }
        match kind {
            "repo" => Ok(BudgetScope::Repo(v)),
            "tool" => Ok(BudgetScope::Tool(v)),
            "model" => Ok(BudgetScope::Model(v)),
            "provider" => Ok(BudgetScope::Provider(v.to_ascii_lowercase())),
            _ => Err(format!(
                "unknown budget scope {s:?}: use all, repo:NAME, tool:ID, model:TEXT or provider:ID"
            )),
        }
    }
    /// How people read it: `every tool`, `owner/app`, `codex`, `models matching opus`.
    pub fn describe(&self) -> String {
        match self {
            BudgetScope::All => "every tool".into(),
            BudgetScope::Repo(r) => r.clone(),
            BudgetScope::Tool(t) => t.clone(),
            BudgetScope::Model(m) => format!("models matching {m}"),
            BudgetScope::Provider(p) => p.clone(),
        }
    }
}

impl std::fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetScope::All => f.write_str("all"),
            BudgetScope::Repo(v) => write!(f, "repo:{v}"),
            BudgetScope::Tool(v) => write!(f, "tool:{v}"),
            BudgetScope::Model(v) => write!(f, "model:{v}"),
            BudgetScope::Provider(v) => write!(f, "provider:{v}"),
        }
    }
}

impl Serialize for BudgetScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a budget is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetSource {
    /// `config.toml`.
    Config,
    /// `tokwatch budget set` (or the dashboard): a row of the `budgets` table.
    Set,
}

/// One budget: a limit over a period for a scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetDef {
    /// Its id (`daily`, `weekly-repo:owner/app`, or the one given).
    pub id: String,
    /// Day, week or month.
    pub period: Period,
    /// What it counts.
    pub scope: BudgetScope,
    /// The limit, USD.
    pub limit_usd: f64,
    /// Its own thresholds (`None` = the default).
    pub thresholds: Option<Vec<f64>>,
    /// A hard cap for `tokwatch guard`.
    pub hard: bool,
    /// Where it is defined.
    pub source: BudgetSource,
}

impl BudgetDef {
    /// The id a budget gets when none is given: `daily` for every tool, else
    /// `weekly-repo:owner/app`.
    pub fn default_id(period: Period, scope: &BudgetScope) -> String {
        match scope {
            BudgetScope::All => period.adjective().to_string(),
            s => format!("{}-{s}", period.adjective()),
        }
    }
}

/// An alert to record (and, when it is new, to say).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewAlert {
    /// Its identity: an alert with a key already stored never fires again.
    pub key: String,
    /// `threshold`, `forecast`, `burn`, `loop`, `fallback`, `plan`.
    pub kind: String,
    /// The budget (threshold, forecast alerts).
    pub budget_id: Option<String>,
    /// Start of the budget's period.
    pub period_start_ms: Option<i64>,
    /// The threshold crossed (a fraction).
    pub threshold: Option<f64>,
    /// The limit (USD; for plan alerts, 100).
    pub limit_usd: Option<f64>,
    /// What was spent (USD; for plan alerts, the used percentage).
    pub spent_usd: Option<f64>,
    /// The session (signals).
    pub session: Option<String>,
    /// What is said.
    pub message: String,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    /// Row id.
    pub id: i64,
    /// When it fired, ms.
    pub ts_ms: i64,
    /// Its kind.
    pub kind: String,
    /// Its identity.
    pub key: String,
    /// The budget.
    pub budget_id: Option<String>,
    /// Start of the budget's period.
    pub period_start_ms: Option<i64>,
    /// The threshold crossed.
    pub threshold: Option<f64>,
    /// The limit.
    pub limit_usd: Option<f64>,
    /// What was spent.
    pub spent_usd: Option<f64>,
    /// The session.
    pub session: Option<String>,
    /// What was said.
    pub message: String,
    /// `sent` (notified), `paused` (alerts were paused), `superseded` (a higher threshold of the
    /// same budget was said at the same moment), `off` (no desktop notification or command set).
    pub delivery: String,
}

/// The latest plan-limit figure of one window (Claude Code's `rate_limits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanLimit {
    /// `five_hour`, `seven_day`, or another window Claude Code names.
    pub name: String,
    /// Percentage of the window used, 0..100.
    pub used_pct: f64,
    /// When the window resets, ms.
    pub resets_at_ms: Option<i64>,
    /// When the snapshot was taken, ms.
    pub captured_ms: i64,
}

/// Which usage a spend query covers. `model` filters after the query (model families and
/// providers are matched on the model name; see `status::budgets`).
#[derive(Clone, Copy, Default)]
pub struct ScopeQuery<'a> {
    /// Only this tool.
    pub tool: Option<&'a str>,
    /// Only this repository (key, name or root).
    pub repo: Option<&'a str>,
    /// Only models for which this holds.
    pub model: Option<&'a dyn Fn(&str) -> bool>,
}

/// Setting keys of `alert_settings`.
const PAUSED: &str = "alerts_paused";

fn bucket(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS)
}

impl ScopeQuery<'_> {
    /// No tool, repository or model: all usage (the time-only layer answers it).
    fn everything(&self) -> bool {
        self.tool.is_none() && self.repo.is_none() && self.model.is_none()
    }
    fn sql(&self, args: &mut Vec<rusqlite::types::Value>) -> String {
        use rusqlite::types::Value;
        let mut w = String::new();
        if let Some(t) = self.tool {
            args.push(Value::Text(t.to_string()));
            w.push_str(&format!(" AND r.tool = ?{}", args.len()));
        }
        if let Some(r) = self.repo {
            args.push(Value::Text(r.to_string()));
            let n = args.len();
            w.push_str(&format!(
                " AND r.workspace_id IN (SELECT id FROM workspaces WHERE key = ?{n} OR name = ?{n} OR root = ?{n})"
            ));
        }
        w
    }
}

impl Store {
    /// Whether the budget tables exist (a database a newer tokwatch has not migrated yet has
    /// none: then there are no stored budgets or alerts).
    fn has_budget_tables(&self) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alerts')",
            )?
            .query_row([], |r| r.get(0))?)
    }

    /// Budgets set with `tokwatch budget set`, by id.
    pub fn budgets(&self) -> anyhow::Result<Vec<BudgetDef>> {
        if !self.has_budget_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare_cached(
            "SELECT id, period, scope, limit_usd, thresholds, hard FROM budgets ORDER BY id",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, f64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for (id, period, scope, limit_usd, thresholds, hard) in rows {
            // A row this version cannot read (written by a newer one) is left out, not guessed.
            let (Some(period), Ok(scope)) = (Period::parse(&period), BudgetScope::parse(&scope))
            else {
                continue;
            };
            out.push(BudgetDef {
                id,
                period,
                scope,
                limit_usd,
                thresholds: thresholds.and_then(|t| serde_json::from_str(&t).ok()),
                hard,
                source: BudgetSource::Set,
            });
        }
        Ok(out)
    }

    /// Stores a budget (replacing one with the same id).
    pub fn set_budget(&self, b: &BudgetDef) -> anyhow::Result<()> {
        let thresholds = b
            .thresholds
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        self.conn
            .prepare_cached(
                "INSERT INTO budgets(id, period, scope, limit_usd, thresholds, hard, updated_ms)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET period = excluded.period, scope = excluded.scope,
                   limit_usd = excluded.limit_usd, thresholds = excluded.thresholds,
                   hard = excluded.hard, updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                b.id,
                b.period.as_str(),
                b.scope.to_string(),
                b.limit_usd,
                thresholds,
                b.hard,
                now_ms()
            ])?;
        Ok(())
    }

    /// Removes a stored budget; false when there was none with that id.
    pub fn remove_budget(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM budgets WHERE id = ?1")?
            .execute([id])?
            > 0)
    }

    /// Records an alert unless one with its key is stored: `Some(row id)` when it is new (then
    /// it is to be said), `None` when it fired before.
    pub fn record_alert(&self, a: &NewAlert, ts_ms: i64) -> anyhow::Result<Option<i64>> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO alerts(key, ts_ms, kind, budget_id, period_start_ms,
                    threshold, limit_usd, spent_usd, session, message, delivery)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'off')",
            )?
            .execute(params![
                a.key,
                ts_ms,
                a.kind,
                a.budget_id,
                a.period_start_ms,
                a.threshold,
                a.limit_usd,
                a.spent_usd,
                a.session,
                a.message
            ])?;
        Ok((n == 1).then(|| self.conn.last_insert_rowid()))
    }

    /// Records how an alert was delivered (`sent`, `paused`, `superseded`, `off`).
    pub fn set_alert_delivery(&self, id: i64, delivery: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("UPDATE alerts SET delivery = ?2 WHERE id = ?1")?
            .execute(params![id, delivery])?;
        Ok(())
    }

    /// Stored alerts from `since_ms` on, newest first.
    pub fn alerts(&self, since_ms: i64) -> anyhow::Result<Vec<AlertRecord>> {
        self.alerts_where("ts_ms >= ?1", rusqlite::types::Value::Integer(since_ms))
    }

    /// The alerts of one session, newest first.
    pub fn alerts_of_session(&self, session: &str) -> anyhow::Result<Vec<AlertRecord>> {
        self.alerts_where(
            "session = ?1",
            rusqlite::types::Value::Text(session.to_string()),
        )
    }

    fn alerts_where(
        &self,
        wh: &str,
        arg: rusqlite::types::Value,
    ) -> anyhow::Result<Vec<AlertRecord>> {
        if !self.has_budget_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT id, ts_ms, kind, key, budget_id, period_start_ms, threshold, limit_usd,
                    spent_usd, session, message, delivery
             FROM alerts WHERE {wh} ORDER BY ts_ms DESC, id DESC"
        ))?;
        let v = st
            .query_map([arg], |r| {
                Ok(AlertRecord {
                    id: r.get(0)?,
                    ts_ms: r.get(1)?,
                    kind: r.get(2)?,
                    key: r.get(3)?,
                    budget_id: r.get(4)?,
                    period_start_ms: r.get(5)?,
                    threshold: r.get(6)?,
                    limit_usd: r.get(7)?,
                    spent_usd: r.get(8)?,
                    session: r.get(9)?,
                    message: r.get(10)?,
                    delivery: r.get(11)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// A stored setting.
    pub fn alert_setting(&self, key: &str) -> anyhow::Result<Option<String>> {
        if !self.has_budget_tables()? {
            return Ok(None);
        }
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM alert_settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Stores a setting (`None` removes it).
    pub fn set_alert_setting(&self, key: &str, value: Option<&str>) -> anyhow::Result<()> {
        match value {
            Some(v) => self
                .conn
                .prepare_cached(
                    "INSERT INTO alert_settings(key, value) VALUES(?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )?
                .execute([key, v])?,
            None => self
                .conn
                .prepare_cached("DELETE FROM alert_settings WHERE key = ?1")?
                .execute([key])?,
        };
        Ok(())
    }

    /// Whether alerts are paused (the tray's "Pause alerts", kept across restarts).
    pub fn alerts_paused(&self) -> anyhow::Result<bool> {
        Ok(self.alert_setting(PAUSED)?.as_deref() == Some("1"))
    }

    /// Pauses or resumes alerts.
    pub fn set_alerts_paused(&self, paused: bool) -> anyhow::Result<()> {
        self.set_alert_setting(PAUSED, Some(if paused { "1" } else { "0" }))
    }

    /// Stores the latest plan-limit figures (one row per window).
    pub fn save_plan_limits(&self, limits: &[PlanLimit]) -> anyhow::Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO plan_limits(name, used_pct, resets_at_ms, captured_ms) VALUES(?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET used_pct = excluded.used_pct,
               resets_at_ms = excluded.resets_at_ms, captured_ms = excluded.captured_ms
             WHERE excluded.captured_ms >= plan_limits.captured_ms",
        )?;
        for l in limits {
            st.execute(params![l.name, l.used_pct, l.resets_at_ms, l.captured_ms])?;
        }
        Ok(())
    }

    /// The stored plan-limit figures.
    pub fn plan_limits(&self) -> anyhow::Result<Vec<PlanLimit>> {
        if !self.has_budget_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare_cached(
            "SELECT name, used_pct, resets_at_ms, captured_ms FROM plan_limits ORDER BY name",
        )?;
        let v = st
            .query_map([], |r| {
                Ok(PlanLimit {
                    name: r.get(0)?,
                    used_pct: r.get(1)?,
                    resets_at_ms: r.get(2)?,
                    captured_ms: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Lets `session` go on past the guard's caps.
    pub fn guard_allow(&self, session: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO guard_allow(session, ts_ms) VALUES(?1, ?2)
                 ON CONFLICT(session) DO UPDATE SET ts_ms = excluded.ts_ms",
            )?
            .execute(params![session, now_ms()])?;
        Ok(())
    }

    /// Whether `tokwatch guard allow` let `session` go on.
    pub fn guard_allowed(&self, session: &str) -> anyhow::Result<bool> {
        if !self.has_budget_tables()? {
            return Ok(false);
        }
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM guard_allow WHERE session = ?1)")?
            .query_row([session], |r| r.get(0))?)
    }

    /// The cost of a scope over `[from_ms, to_ms)` (15-minute buckets).
    pub fn scope_cost(&self, q: &ScopeQuery, from_ms: i64, to_ms: i64) -> anyhow::Result<Cost> {
        if q.everything() && self.has_time_layer()? {
            return self.time_cost(from_ms, to_ms);
        }
        let mut args = vec![
            rusqlite::types::Value::Integer(bucket(from_ms)),
            rusqlite::types::Value::Integer(bucket(to_ms + BUCKET_MS - 1)),
        ];
        let wh = q.sql(&mut args);
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT r.model, total(r.cost), total(r.unpriced) FROM rollup r
             WHERE r.bucket >= ?1 AND r.bucket < ?2{wh} GROUP BY r.model"
        ))?;
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        let mut c = Cost::default();
        while let Some(r) = rows.next()? {
            let model: String = r.get(0)?;
            if q.model.is_some_and(|m| !m(&model)) {
                continue;
            }
            c.usd += r.get::<_, f64>(1)?;
            c.has_unpriced |= r.get::<_, f64>(2)? > 0.0;
        }
        c.usd = (c.usd * 1e6).round() / 1e6;
        Ok(c)
    }

    /// Cost per 15-minute bucket of a scope over buckets `[from_bucket, to_bucket]`, buckets
    /// without spend left out.
    pub fn scope_bucket_costs(
        &self,
        q: &ScopeQuery,
        from_bucket: i64,
        to_bucket: i64,
    ) -> anyhow::Result<Vec<(i64, f64)>> {
        if q.everything() && self.has_time_layer()? {
            return self.time_bucket_costs(from_bucket, to_bucket);
        }
        let mut args = vec![
            rusqlite::types::Value::Integer(from_bucket),
            rusqlite::types::Value::Integer(to_bucket),
        ];
        let wh = q.sql(&mut args);
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT r.bucket, r.model, total(r.cost) FROM rollup r
             WHERE r.bucket >= ?1 AND r.bucket <= ?2{wh} GROUP BY r.bucket, r.model ORDER BY r.bucket"
        ))?;
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out: Vec<(i64, f64)> = Vec::new();
        while let Some(r) = rows.next()? {
            let model: String = r.get(1)?;
            if q.model.is_some_and(|m| !m(&model)) {
                continue;
            }
            let (b, c): (i64, f64) = (r.get(0)?, r.get(2)?);
            match out.last_mut() {
                Some(last) if last.0 == b => last.1 += c,
                _ => out.push((b, c)),
            }
        }
        Ok(out)
    }

    /// Whether a repository with this key, name or root is stored.
    pub fn repo_known(&self, repo: &str) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM workspaces WHERE key = ?1 OR name = ?1 OR root = ?1)",
            )?
            .query_row([repo], |r| r.get(0))?)
    }

    /// The model of a session's latest usage.
    pub fn session_last_model(&self, session: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT model FROM rollup WHERE session = ?1 AND model != ''
                 ORDER BY bucket DESC, requests DESC LIMIT 1",
            )?
            .query_row([session], |r| r.get(0))
            .optional()?)
    }

    /// The models a session used: (model, requests, first bucket), first used first.
    pub fn session_models(&self, session: &str) -> anyhow::Result<Vec<(String, i64, i64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT model, sum(requests), min(bucket) FROM rollup WHERE session = ?1 AND model != ''
             GROUP BY model ORDER BY 3, 2 DESC",
        )?;
        let v = st
            .query_map([session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// The session of `tool` with the latest usage, and that usage's bucket start.
    pub fn latest_session(&self, tool: &str) -> anyhow::Result<Option<(String, i64)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT session, bucket FROM rollup WHERE tool = ?1 AND session != ''
                 ORDER BY bucket DESC LIMIT 1",
            )?
            .query_row([tool], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? * BUCKET_MS)))
            .optional()?)
    }

    /// Sessions from `since_ms` on that fired a fallback alert: (session, message).
    pub fn fallback_sessions(&self, since_ms: i64) -> anyhow::Result<Vec<(String, String)>> {
        if !self.has_budget_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare_cached(
            "SELECT session, message FROM alerts WHERE kind = 'fallback' AND ts_ms >= ?1
             AND session IS NOT NULL ORDER BY ts_ms",
        )?;
        let v = st
            .query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }
}

/// `monday` .. `sunday` (or `mon` .. `sun`).
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    s.trim().parse::<Weekday>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_zone_and_week_start() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        // 2025-03-30 is a Sunday with the DST change in Berlin (a 23-hour day).
        let at = berlin.start_of(NaiveDate::from_ymd_opt(2025, 3, 30).unwrap()) + 3_600_000 * 5;
        let (s, e) = Period::Day.bounds(berlin, Weekday::Mon, at);
        assert_eq!(e - s, 23 * 3_600_000);
        let (s, e) = Period::Week.bounds(berlin, Weekday::Mon, at);
        assert_eq!(
            berlin.date(s),
            NaiveDate::from_ymd_opt(2025, 3, 24).unwrap()
        );
        assert_eq!(
            berlin.date(e),
            NaiveDate::from_ymd_opt(2025, 3, 31).unwrap()
        );
        let (s, _) = Period::Week.bounds(berlin, Weekday::Sun, at);
        assert_eq!(
            berlin.date(s),
            NaiveDate::from_ymd_opt(2025, 3, 30).unwrap()
        );
        let (s, _) = Period::Week.bounds(berlin, Weekday::Tue, at);
        assert_eq!(
            berlin.date(s),
            NaiveDate::from_ymd_opt(2025, 3, 25).unwrap()
        );
        let (s, e) = Period::Month.bounds(berlin, Weekday::Mon, at);
        assert_eq!(berlin.date(s), NaiveDate::from_ymd_opt(2025, 3, 1).unwrap());
        assert_eq!(berlin.date(e), NaiveDate::from_ymd_opt(2025, 4, 1).unwrap());
    }

    #[test]
    fn scopes_round_trip() {
        for s in [
            "all",
            "repo:owner/app",
            "tool:codex",
            "model:claude",
            "provider:anthropic",
        ] {
            assert_eq!(BudgetScope::parse(s).unwrap().to_string(), s);
        }
        assert!(BudgetScope::parse("team:x").is_err());
        assert!(BudgetScope::parse("repo:").is_err());
        assert_eq!(
            BudgetDef::default_id(Period::Week, &BudgetScope::Repo("owner/app".into())),
            "weekly-repo:owner/app"
        );
        assert_eq!(
            BudgetDef::default_id(Period::Day, &BudgetScope::All),
            "daily"
        );
    }
}
