//! Read-side queries: grouped reports over the 15-minute rollup, in any time zone.

use super::Store;
use chrono::{Datelike, NaiveDate, TimeZone};
use rusqlite::types::Value;
use rusqlite::OptionalExtension;
use serde::Serialize;

/// Bucket width of the rollup table.
pub const BUCKET_MS: i64 = 900_000;

/// What a report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Local calendar day.
    Day,
    /// ISO week.
    Week,
    /// Calendar month.
    Month,
    /// Session.
    Session,
    /// Repository.
    Repo,
    /// Repository and branch.
    Branch,
    /// Model.
    Model,
    /// Tool.
    Tool,
    /// The machine that recorded the usage (`docs/sync-and-export.md`).
    Machine,
}

/// The time zone reports bucket days in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// The machine's time zone.
    Local,
    /// UTC.
    Utc,
    /// An IANA time zone.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// `local`, `utc` or an IANA name; an error says which forms are accepted.
    pub fn parse(s: &str) -> Result<Zone, String> {
        match s {
            "local" => Ok(Zone::Local),
            "utc" | "UTC" | "Z" => Ok(Zone::Utc),
            _ => s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
                format!("unknown time zone {s:?}: use an IANA name such as Europe/Berlin, or `utc`, or `local`")
            }),
        }
    }
    /// The zone's IANA name (`local` when it cannot be found).
    pub fn name(&self) -> String {
        match self {
            Zone::Local => iana_local().unwrap_or_else(|| "local".into()),
            Zone::Utc => "UTC".into(),
            Zone::Named(t) => t.name().into(),
        }
    }
    /// Local calendar date of an instant.
    pub fn date(&self, ms: i64) -> NaiveDate {
        let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        match self {
            Zone::Local => utc.with_timezone(&chrono::Local).date_naive(),
            Zone::Utc => utc.date_naive(),
            Zone::Named(t) => utc.with_timezone(t).date_naive(),
        }
    }
    /// Local wall-clock text of an instant.
    pub fn datetime(&self, ms: i64) -> String {
        let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let f = "%Y-%m-%d %H:%M";
        match self {
            Zone::Local => utc.with_timezone(&chrono::Local).format(f).to_string(),
            Zone::Utc => utc.format(f).to_string(),
            Zone::Named(t) => utc.with_timezone(t).format(f).to_string(),
        }
    }
    /// The instant a local date starts.
    pub fn start_of(&self, d: NaiveDate) -> i64 {
        let naive = d.and_hms_opt(0, 0, 0).unwrap();
        let pick = |r: chrono::LocalResult<i64>| match r {
            chrono::LocalResult::Single(v) => v,
            chrono::LocalResult::Ambiguous(a, _) => a,
            chrono::LocalResult::None => naive.and_utc().timestamp_millis(),
        };
        match self {
            Zone::Local => pick(
                chrono::Local
                    .from_local_datetime(&naive)
                    .map(|t| t.timestamp_millis()),
            ),
            Zone::Utc => naive.and_utc().timestamp_millis(),
            Zone::Named(t) => pick(t.from_local_datetime(&naive).map(|x| x.timestamp_millis())),
        }
    }
    /// Today's date in this zone.
    pub fn today(&self) -> NaiveDate {
        self.date(super::now_ms())
    }
}

fn iana_local() -> Option<String> {
    std::env::var("TZ")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_link("/etc/localtime").ok().and_then(|p| {
                let s = p.to_string_lossy().into_owned();
                s.split_once("zoneinfo/").map(|(_, z)| z.to_string())
            })
        })
}

/// Which usage a report covers.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Inclusive lower bound, ms.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound, ms.
    pub until_ms: Option<i64>,
    /// Workspace key, display name, or root path.
    pub repo: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this session.
    pub session: Option<String>,
    /// Only usage recorded on this machine (its id, or the id without its 6-digit suffix).
    pub machine: Option<String>,
}

/// Token and cost sums. `has_unpriced` means `cost_usd` is a lower bound.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sums {
    /// Requests.
    pub requests: i64,
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
    /// Cost of the priced requests, USD.
    pub cost_usd: f64,
    /// Unpriced requests are included: the cost is a lower bound.
    pub has_unpriced: bool,
    /// Requests without a known price.
    pub unpriced_requests: i64,
    /// Requests whose tokens are estimates.
    pub estimated_requests: i64,
    /// Requests priced with the cost the tool reported.
    pub reported_requests: i64,
}

impl Sums {
    /// Every billable token.
    pub fn total_tokens(&self) -> i64 {
        self.input + self.cache_write_5m + self.cache_write_1h + self.cache_read + self.output
    }
    fn add(&mut self, o: &Sums) {
        self.requests += o.requests;
        self.input += o.input;
        self.cache_write_5m += o.cache_write_5m;
        self.cache_write_1h += o.cache_write_1h;
        self.cache_read += o.cache_read;
        self.output += o.output;
        self.reasoning += o.reasoning;
        self.cost_usd += o.cost_usd;
        self.unpriced_requests += o.unpriced_requests;
        self.estimated_requests += o.estimated_requests;
        self.reported_requests += o.reported_requests;
        self.has_unpriced = self.unpriced_requests > 0;
    }
    fn from_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Sums> {
        let unpriced: i64 = r.get(at + 8)?;
        Ok(Sums {
            requests: r.get(at)?,
            input: r.get(at + 1)?,
            cache_write_5m: r.get(at + 2)?,
            cache_write_1h: r.get(at + 3)?,
            cache_read: r.get(at + 4)?,
            output: r.get(at + 5)?,
            reasoning: r.get(at + 6)?,
            cost_usd: r.get(at + 7)?,
            has_unpriced: unpriced > 0,
            unpriced_requests: unpriced,
            estimated_requests: r.get(at + 9)?,
            reported_requests: r.get(at + 10)?,
        })
    }
    /// Cost rounded to a millionth of a dollar (removes float noise from running sums).
    fn tidy(&mut self) {
        self.cost_usd = (self.cost_usd * 1e6).round() / 1e6;
        if self.cost_usd == 0.0 {
            self.cost_usd = 0.0; // no "-0"
        }
    }
}

const SUMS: &str =
    "sum(r.requests), sum(r.input), sum(r.cw5), sum(r.cw1h), sum(r.cr), sum(r.output), \
    sum(r.reasoning), sum(r.cost), sum(r.unpriced), sum(r.estimated), sum(r.reported)";

/// One row of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What the row groups (a day, a repository, a model, ...).
    pub key: String,
    /// Its sums.
    #[serde(flatten)]
    pub sums: Sums,
    /// Repository (session and branch rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Tool (session rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Local time of its first usage (session rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// Local time of its last usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Its last usage, ms (for sorting).
    #[serde(skip)]
    pub last_ms: i64,
}

/// A model without a known price, with what it used.
#[derive(Debug, Clone, Serialize)]
pub struct UnpricedModel {
    /// Model name.
    pub model: String,
    /// Its requests.
    pub requests: i64,
    /// Its tokens.
    pub tokens: i64,
}

/// A grouped report, as `report --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What it groups by.
    pub group: GroupBy,
    /// The time zone days are counted in.
    pub tz: String,
    /// Sums over every row.
    pub totals: Sums,
    /// The rows.
    pub rows: Vec<Row>,
    /// Models without a known price in the covered usage (their tokens are in the totals,
    /// their cost is not).
    pub unpriced_models: Vec<UnpricedModel>,
}

fn where_clause(f: &Filter, args: &mut Vec<Value>) -> String {
    let mut w = vec!["1".to_string()];
    if let Some(s) = f.since_ms {
        args.push(Value::Integer(s.div_euclid(BUCKET_MS)));
        w.push(format!("r.bucket >= ?{}", args.len()));
    }
    if let Some(u) = f.until_ms {
        args.push(Value::Integer((u + BUCKET_MS - 1).div_euclid(BUCKET_MS)));
        w.push(format!("r.bucket < ?{}", args.len()));
    }
    if let Some(t) = &f.tool {
        args.push(Value::Text(t.clone()));
        w.push(format!("r.tool = ?{}", args.len()));
    }
    if let Some(s) = &f.session {
        args.push(Value::Text(s.clone()));
        w.push(format!("r.session = ?{}", args.len()));
    }
    if let Some(repo) = &f.repo {
        args.push(Value::Text(repo.clone()));
        let n = args.len();
        w.push(format!(
            "r.workspace_id IN (SELECT id FROM workspaces WHERE key = ?{n} OR name = ?{n} OR root = ?{n})"
        ));
    }
    if let Some(m) = &f.machine {
        args.push(Value::Text(m.clone()));
        w.push(format!(
            "r.machine_id IN (SELECT id FROM machines WHERE {})",
            super::export::machine_match(args.len())
        ));
    }
    w.join(" AND ")
}

impl Store {
    /// A grouped report.
    pub fn report(&self, group: GroupBy, f: &Filter, zone: Zone) -> anyhow::Result<Report> {
        let mut args = Vec::new();
        let wh = where_clause(f, &mut args);
        let (cols, gb) = match group {
            GroupBy::Day | GroupBy::Week | GroupBy::Month => ("r.bucket", "r.bucket"),
            GroupBy::Session => (
                "r.session, r.tool, max(w.name), min(r.bucket), max(r.bucket)",
                "r.session, r.tool",
            ),
            GroupBy::Repo => (
                "coalesce(w.name, ''), w.key, max(r.bucket)",
                "r.workspace_id",
            ),
            GroupBy::Branch => (
                "coalesce(w.name, ''), r.branch, max(r.bucket)",
                "r.workspace_id, r.branch",
            ),
            GroupBy::Model => ("r.model, max(r.bucket)", "r.model"),
            GroupBy::Tool => ("r.tool, max(r.bucket)", "r.tool"),
            GroupBy::Machine => (
                "coalesce(m.name, '(this machine)'), max(r.bucket)",
                "r.machine_id",
            ),
        };
        // Key columns before the sums (commas inside coalesce(...) are not separators).
        let ncols = match group {
            GroupBy::Day | GroupBy::Week | GroupBy::Month => 1,
            GroupBy::Session => 5,
            GroupBy::Repo | GroupBy::Branch => 3,
            GroupBy::Model | GroupBy::Tool | GroupBy::Machine => 2,
        };
        // Machine names only where the report shows them.
        let machines = if group == GroupBy::Machine {
            "LEFT JOIN machines m ON m.id = r.machine_id"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {cols}, {SUMS} FROM rollup r LEFT JOIN workspaces w ON w.id = r.workspace_id
             {machines} WHERE {wh} GROUP BY {gb} HAVING sum(r.requests) != 0"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows: Vec<Row> = Vec::new();
        let mut by_key: std::collections::HashMap<String, usize> = Default::default();
        let mut q = st.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(r) = q.next()? {
            let sums = Sums::from_row(r, ncols)?;
            let mut row = Row {
                key: String::new(),
                sums,
                repo: None,
                tool: None,
                first_seen: None,
                last_seen: None,
                last_ms: 0,
            };
            match group {
                GroupBy::Day | GroupBy::Week | GroupBy::Month => {
                    let b: i64 = r.get(0)?;
                    let d = zone.date(b * BUCKET_MS);
                    row.key = match group {
                        GroupBy::Day => d.format("%Y-%m-%d").to_string(),
                        GroupBy::Week => {
                            let w = d.iso_week();
                            format!("{}-W{:02}", w.year(), w.week())
                        }
                        _ => d.format("%Y-%m").to_string(),
                    };
                    row.last_ms = b * BUCKET_MS;
                }
                GroupBy::Session => {
                    let s: String = r.get(0)?;
                    row.key = if s.is_empty() {
                        "(no session)".into()
                    } else {
                        s
                    };
                    row.tool = Some(r.get(1)?);
                    row.repo = r.get::<_, Option<String>>(2)?;
                    let (a, b): (i64, i64) = (r.get(3)?, r.get(4)?);
                    row.first_seen = Some(zone.datetime(a * BUCKET_MS));
                    row.last_seen = Some(zone.datetime(b * BUCKET_MS));
                    row.last_ms = b * BUCKET_MS;
                }
                GroupBy::Repo => {
                    let n: String = r.get(0)?;
                    row.key = if n.is_empty() {
                        "(no repository)".into()
                    } else {
                        n
                    };
                    row.repo = r.get::<_, Option<String>>(1)?;
                    let b: i64 = r.get(2)?;
                    row.last_seen = Some(zone.datetime(b * BUCKET_MS));
                    row.last_ms = b * BUCKET_MS;
                }
                GroupBy::Branch => {
                    let n: String = r.get(0)?;
                    let br: String = r.get(1)?;
                    let n = if n.is_empty() {
                        "(no repository)".to_string()
                    } else {
                        n
                    };
                    let br = if br.is_empty() {
                        "(no branch)".to_string()
                    } else {
                        br
                    };
                    row.key = format!("{n}@{br}");
                    row.repo = Some(n);
                    row.last_ms = r.get::<_, i64>(2)? * BUCKET_MS;
                }
                GroupBy::Model | GroupBy::Tool | GroupBy::Machine => {
                    let n: String = r.get(0)?;
                    row.key = if n.is_empty() { "(unknown)".into() } else { n };
                    row.last_ms = r.get::<_, i64>(1)? * BUCKET_MS;
                }
            }
            match by_key.get(&row.key) {
                Some(&i) => {
                    let s = row.sums.clone();
                    rows[i].sums.add(&s);
                    rows[i].last_ms = rows[i].last_ms.max(row.last_ms);
                }
                None => {
                    by_key.insert(row.key.clone(), rows.len());
                    rows.push(row);
                }
            }
        }
        let mut totals = Sums::default();
        for r in &mut rows {
            totals.add(&r.sums);
            r.sums.tidy();
        }
        totals.tidy();
        match group {
            GroupBy::Day | GroupBy::Week | GroupBy::Month => rows.sort_by(|a, b| a.key.cmp(&b.key)),
            _ => rows.sort_by(|a, b| {
                b.sums
                    .cost_usd
                    .total_cmp(&a.sums.cost_usd)
                    .then(b.sums.total_tokens().cmp(&a.sums.total_tokens()))
                    .then(a.key.cmp(&b.key))
            }),
        }
        let unpriced_models = self.unpriced_models(f)?;
        Ok(Report {
            group,
            tz: zone.name(),
            totals,
            rows,
            unpriced_models,
        })
    }

    /// Models without a known price in the covered usage.
    pub fn unpriced_models(&self, f: &Filter) -> anyhow::Result<Vec<UnpricedModel>> {
        let mut args = Vec::new();
        let wh = where_clause(f, &mut args);
        let sql = format!(
            "SELECT r.model, sum(r.unpriced), sum(r.input + r.cw5 + r.cw1h + r.cr + r.output)
             FROM rollup r WHERE {wh} AND r.unpriced > 0 GROUP BY r.model ORDER BY 3 DESC"
        );
        let mut st = self.conn.prepare(&sql)?;
        let v = st
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                let m: String = r.get(0)?;
                Ok(UnpricedModel {
                    model: if m.is_empty() {
                        "(no model logged)".into()
                    } else {
                        m
                    },
                    requests: r.get(1)?,
                    tokens: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Sums over a filter (one row).
    pub fn sums(&self, f: &Filter) -> anyhow::Result<Sums> {
        let mut args = Vec::new();
        let wh = where_clause(f, &mut args);
        let sql = format!(
            "SELECT {} FROM rollup r WHERE {wh}",
            SUMS.replace("sum(", "total(")
        );
        let mut s = self
            .conn
            .query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| {
                // total() returns floats; convert.
                let g = |i: usize| -> rusqlite::Result<i64> { Ok(r.get::<_, f64>(i)? as i64) };
                let unpriced = g(8)?;
                Ok(Sums {
                    requests: g(0)?,
                    input: g(1)?,
                    cache_write_5m: g(2)?,
                    cache_write_1h: g(3)?,
                    cache_read: g(4)?,
                    output: g(5)?,
                    reasoning: g(6)?,
                    cost_usd: r.get(7)?,
                    has_unpriced: unpriced > 0,
                    unpriced_requests: unpriced,
                    estimated_requests: g(9)?,
                    reported_requests: g(10)?,
                })
            })?;
        s.tidy();
        Ok(s)
    }
}

/// Which slice of the rollup a live figure covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everything from this instant on.
    Since(i64),
    /// One session, all time.
    Session(&'a str),
    /// One session, from this instant on.
    SessionSince(&'a str, i64),
    /// One workspace, from this instant on.
    WorkspaceSince(i64, i64),
}

/// A live cost figure: the sum of priced usage, and whether unpriced usage is in the slice (then
/// the figure is a lower bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// USD of the priced usage.
    pub usd: f64,
    /// True when the slice holds usage without a known price.
    pub has_unpriced: bool,
}

/// A name with its cost (a tool, a repository), for the live views' short lists.
pub type NamedCost = (String, f64);

/// A session with usage since some instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveSession {
    /// Session id.
    pub session: String,
    /// Tool id.
    pub tool: String,
    /// Repository display name, or `(no repository)`.
    pub repo: String,
    /// The branch of its latest usage (`None` when none was logged).
    pub branch: Option<String>,
    /// Start of the 15-minute bucket of its latest usage.
    pub last_ms: i64,
}

/// Per-tool read health for `doctor`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolFiles {
    /// Files of this tool with a row.
    pub files: i64,
    /// Malformed records skipped in them.
    pub malformed: i64,
    /// Time of the newest event read from them.
    pub last_event_ms: Option<i64>,
    /// One malformed-record example.
    pub malformed_example: Option<String>,
    /// Files that could not be read.
    pub unreadable: i64,
    /// One of them, with the reason.
    pub unreadable_example: Option<String>,
    /// Requests stored for the tool.
    pub requests: i64,
    /// Models of the tool without a known price.
    pub unpriced_models: Vec<String>,
}

fn bucket(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS)
}

impl Store {
    /// The cost of a scope; an error is an error, never `$0`.
    pub fn cost(&self, scope: Scope) -> anyhow::Result<Cost> {
        let row = |r: &rusqlite::Row| {
            Ok(Cost {
                usd: r.get::<_, f64>(0)?,
                has_unpriced: r.get::<_, f64>(1)? > 0.0,
            })
        };
        let sel = "SELECT total(cost), total(unpriced) FROM rollup WHERE";
        let c = &self.conn;
        Ok(match scope {
            Scope::Since(ms) => c
                .prepare_cached(&format!("{sel} bucket >= ?1"))?
                .query_row([bucket(ms)], row)?,
            Scope::Session(s) => c
                .prepare_cached(&format!("{sel} session = ?1"))?
                .query_row([s], row)?,
            Scope::SessionSince(s, ms) => c
                .prepare_cached(&format!("{sel} session = ?1 AND bucket >= ?2"))?
                .query_row(rusqlite::params![s, bucket(ms)], row)?,
            Scope::WorkspaceSince(ws, ms) => c
                .prepare_cached(&format!("{sel} workspace_id = ?1 AND bucket >= ?2"))?
                .query_row([ws, bucket(ms)], row)?,
        })
    }

    /// Cost per tool from `since_ms` on, costliest first.
    pub fn cost_by_tool_since(&self, since_ms: i64) -> anyhow::Result<Vec<NamedCost>> {
        let mut st = self.conn.prepare_cached(
            "SELECT tool, total(cost) FROM rollup WHERE bucket >= ?1 GROUP BY tool ORDER BY 2 DESC",
        )?;
        let v = st
            .query_map([bucket(since_ms)], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// The `limit` costliest repositories from `since_ms` on.
    pub fn top_repos_since(&self, since_ms: i64, limit: i64) -> anyhow::Result<Vec<NamedCost>> {
        let mut st = self.conn.prepare_cached(
            "SELECT coalesce(w.name, '(no repository)'), total(r.cost) FROM rollup r
             LEFT JOIN workspaces w ON w.id = r.workspace_id
             WHERE r.bucket >= ?1 GROUP BY r.workspace_id ORDER BY 2 DESC LIMIT ?2",
        )?;
        let v = st
            .query_map([bucket(since_ms), limit], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Sessions with usage from `since_ms` on.
    pub fn active_sessions(&self, since_ms: i64) -> anyhow::Result<Vec<ActiveSession>> {
        let mut st = self.conn.prepare_cached(
            "SELECT r.session, max(r.tool), coalesce(max(w.name), '(no repository)'),
                    (SELECT nullif(r2.branch, '') FROM rollup r2 WHERE r2.session = r.session
                     ORDER BY r2.bucket DESC LIMIT 1),
                    max(r.bucket)
             FROM rollup r LEFT JOIN workspaces w ON w.id = r.workspace_id
             WHERE r.bucket >= ?1 AND r.session != '' GROUP BY r.session",
        )?;
        let v = st
            .query_map([bucket(since_ms)], |r| {
                Ok(ActiveSession {
                    session: r.get(0)?,
                    tool: r.get(1)?,
                    repo: r.get(2)?,
                    branch: r.get(3)?,
                    last_ms: r.get::<_, i64>(4)? * BUCKET_MS,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Whether any usage of session `id` is stored.
    pub fn has_session(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM rollup WHERE session = ?1)")?
            .query_row([id], |r| r.get(0))?)
    }

    /// The id of the workspace with `key`, if one is stored.
    pub fn workspace_by_key(&self, key: &str) -> anyhow::Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM workspaces WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Time of the newest event read from any file (ms since the epoch).
    pub fn last_event_ms(&self) -> anyhow::Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT max(last_event_ms) FROM files", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .filter(|v| *v > 0))
    }

    /// How many requests and how many files are stored.
    pub fn counts(&self) -> anyhow::Result<(i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM files)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// What `doctor` says about one tool's files.
    pub fn tool_files(&self, tool: &str) -> anyhow::Result<ToolFiles> {
        let mut h = self.conn.query_row(
            "SELECT count(*), total(malformed), max(last_event_ms),
                    (SELECT first_error FROM files WHERE tool = ?1 AND first_error IS NOT NULL LIMIT 1),
                    (SELECT count(*) FROM files WHERE tool = ?1 AND read_error IS NOT NULL),
                    (SELECT path || ': ' || read_error FROM files WHERE tool = ?1 AND read_error IS NOT NULL LIMIT 1)
             FROM files WHERE tool = ?1",
            [tool],
            |r| {
                Ok(ToolFiles {
                    files: r.get(0)?,
                    malformed: r.get::<_, f64>(1)? as i64,
                    last_event_ms: r.get::<_, Option<i64>>(2)?.filter(|v| *v > 0),
                    malformed_example: r.get(3)?,
                    unreadable: r.get(4)?,
                    unreadable_example: r.get(5)?,
                    ..ToolFiles::default()
                })
            },
        )?;
        h.requests = self.conn.query_row(
            "SELECT total(requests) FROM rollup WHERE tool = ?1",
            [tool],
            |r| r.get::<_, f64>(0),
        )? as i64;
        let mut q = self.conn.prepare(
            "SELECT model FROM rollup WHERE tool = ?1 AND unpriced > 0 GROUP BY model ORDER BY sum(unpriced) DESC",
        )?;
        h.unpriced_models = q
            .query_map([tool], |r| r.get::<_, String>(0))?
            .map(|m| {
                m.map(|m| {
                    if m.is_empty() {
                        "(no model logged)".into()
                    } else {
                        m
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(h)
    }
}
