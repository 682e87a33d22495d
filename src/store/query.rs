//! Read-side queries: grouped reports over the 15-minute rollup, in any time zone.

use super::Store;
use chrono::{Datelike, NaiveDate, TimeZone};
use rusqlite::types::Value;
use rusqlite::OptionalExtension;
use serde::Serialize;

/// Bucket width of the rollup table.
pub const BUCKET_MS: i64 = 900_000;
/// Bucket width of the `rollup_hour` table.
pub const HOUR_MS: i64 = 3_600_000;
/// Bucket width of the `rollup_day` table (a UTC day).
pub const DAY_MS: i64 = 86_400_000;
/// Width of a `rollup_span` cell: 64 UTC days.
pub const SPAN_MS: i64 = 64 * DAY_MS;
/// The UTC offsets, in quarter-hours, whose local days `rollup_time` keeps: every offset of
/// the time zone database in use today, standard and summer (-12:00 ... +14:00, with -9:30,
/// -3:30, -2:30, +3:30, +4:30, +5:30, +5:45, +6:30, +8:45, +9:30, +10:30, +12:45, +13:45;
/// `store::timeline`'s tests check every zone). A zone at another offset (a historic one)
/// reads its days as hours and quarter-hours, just as exactly. `schema_v9.sql` lists the same.
pub const OFFSETS: [i64; 40] = [
    -48, -44, -40, -38, -36, -32, -28, -24, -20, -16, -14, -12, -10, -8, -4, 0, 4, 8, 12, 14, 16,
    18, 20, 22, 23, 24, 26, 28, 32, 35, 36, 38, 40, 42, 44, 48, 51, 52, 55, 56,
];

/// Which rollup a query reads: the 15-minute one (with sessions), the hourly or the daily one
/// (without).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Layer {
    /// `rollup`.
    Quarter,
    /// `rollup_hour`.
    Hour,
    /// `rollup_day`.
    Day,
    /// `rollup_span` (64 UTC days; only for reports that do not group by time).
    Span,
}

impl Layer {
    /// Table, its time column, and the width of one of its buckets.
    fn parts(self) -> (&'static str, &'static str, i64) {
        match self {
            Layer::Quarter => ("rollup", "bucket", BUCKET_MS),
            Layer::Hour => ("rollup_hour", "hour", HOUR_MS),
            Layer::Day => ("rollup_day", "day", DAY_MS),
            Layer::Span => ("rollup_span", "span", SPAN_MS),
        }
    }
    /// `f`'s range cut into pieces each answered exactly by one layer, coarsest first: with
    /// `spans`, the whole 64-day spans from `rollup_span` and the whole UTC days at either
    /// edge from the daily layer (else all whole UTC days from it), the whole hours at either edge from the hourly one,
    /// what is left from the 15-minute one. `None` when no whole UTC day is inside the range
    /// (then one layer reads it all, [`Layer::for_filter`]).
    fn pieces(f: &Filter, spans: bool) -> Option<Vec<(Layer, Filter)>> {
        let up = |v: i64, unit: i64| (v + unit - 1).div_euclid(unit) * unit;
        let down = |v: i64, unit: i64| v.div_euclid(unit) * unit;
        let (s, u) = (f.since_ms, f.until_ms);
        let (ds, du) = (s.map(|s| up(s, DAY_MS)), u.map(|u| down(u, DAY_MS)));
        if let (Some(a), Some(b)) = (ds, du) {
            if a >= b {
                return None;
            }
        }
        let piece = |layer, since_ms, until_ms| {
            (
                layer,
                Filter {
                    since_ms,
                    until_ms,
                    ..f.clone()
                },
            )
        };
        let (ss, su) = (ds.map(|d| up(d, SPAN_MS)), du.map(|d| down(d, SPAN_MS)));
        let mut out = match (ss, su) {
            (Some(a), Some(b)) if a >= b => vec![piece(Layer::Day, ds, du)],
            _ if spans => {
                let mut v = vec![piece(Layer::Span, ss, su)];
                if let (Some(d), Some(s)) = (ds, ss) {
                    v.push(piece(Layer::Day, Some(d), Some(s)));
                }
                if let (Some(u), Some(d)) = (su, du) {
                    v.push(piece(Layer::Day, Some(u), Some(d)));
                }
                v
            }
            _ => vec![piece(Layer::Day, ds, du)],
        };
        if let (Some(s), Some(ds)) = (s, ds) {
            let hs = up(s, HOUR_MS);
            out.push(piece(Layer::Hour, Some(hs), Some(ds)));
            out.push(piece(Layer::Quarter, Some(s), Some(hs)));
        }
        if let (Some(u), Some(du)) = (u, du) {
            let hu = down(u, HOUR_MS);
            out.push(piece(Layer::Hour, Some(du), Some(hu)));
            out.push(piece(Layer::Quarter, Some(hu), Some(u)));
        }
        out.retain(|(_, p)| match (p.since_ms, p.until_ms) {
            (Some(a), Some(b)) => a < b,
            _ => true,
        });
        Some(out)
    }
    /// Whether `f` filters by nothing but time: the time-only layer (`rollup_time`) answers it.
    pub(crate) fn time_only(f: &Filter) -> bool {
        f.tool.is_none() && f.repo.is_none() && f.session.is_none() && f.machine.is_none()
    }
    /// The coarsest layer that answers `f` exactly when grouped by `group` (sessions need the
    /// 15-minute layer; so do bounds that are not whole hours).
    fn for_filter(f: &Filter, group: Option<GroupBy>) -> Layer {
        let whole = |v: Option<i64>| v.is_none_or(|ms| ms.rem_euclid(HOUR_MS) == 0);
        if group == Some(GroupBy::Session)
            || f.session.is_some()
            || !whole(f.since_ms)
            || !whole(f.until_ms)
        {
            Layer::Quarter
        } else {
            Layer::Hour
        }
    }
}

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
    /// Provider (anthropic, openai, google, ...).
    Provider,
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
    /// The zone's offset from UTC at an instant, ms (local time minus UTC).
    pub fn offset_ms(&self, ms: i64) -> i64 {
        use chrono::Offset;
        let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let secs = match self {
            Zone::Local => utc
                .with_timezone(&chrono::Local)
                .offset()
                .fix()
                .local_minus_utc(),
            Zone::Utc => 0,
            Zone::Named(t) => utc.with_timezone(t).offset().fix().local_minus_utc(),
        };
        secs as i64 * 1000
    }
    /// Local wall-clock text of an instant.
    pub fn datetime(&self, ms: i64) -> String {
        self.format(ms, "%Y-%m-%d %H:%M")
    }
    /// Date and time to the second in this zone (a session's first and last request).
    pub fn datetime_secs(&self, ms: i64) -> String {
        self.format(ms, "%Y-%m-%d %H:%M:%S")
    }
    fn format(&self, ms: i64, f: &str) -> String {
        let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
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
/// [`SUMS`] over `rollup_hour`, whose costs are integer billionths of a dollar.
const HOUR_SUMS: &str =
    "sum(r.requests), sum(r.input), sum(r.cw5), sum(r.cw1h), sum(r.cr), sum(r.output), \
    sum(r.reasoning), sum(r.cost_nano) * 1e-9, sum(r.unpriced), sum(r.estimated), \
    sum(r.reported)";

impl Layer {
    fn sums(self) -> &'static str {
        match self {
            Layer::Quarter => SUMS,
            Layer::Hour | Layer::Day | Layer::Span => HOUR_SUMS,
        }
    }
    /// One cell's figures in the order of [`Layer::sums`].
    fn cells(self) -> &'static str {
        match self {
            Layer::Quarter => {
                "r.requests, r.input, r.cw5, r.cw1h, r.cr, r.output, r.reasoning, \
                 coalesce(r.cost, 0.0), r.unpriced, r.estimated, r.reported"
            }
            Layer::Hour | Layer::Day | Layer::Span => {
                "r.requests, r.input, r.cw5, r.cw1h, r.cr, r.output, r.reasoning, \
                 r.cost_nano * 1e-9, r.unpriced, r.estimated, r.reported"
            }
        }
    }
}

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
    /// Local time of its first request, to the second (session rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// Local time of its last request (session rows: to the second).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Its last usage, ms (for sorting).
    #[serde(skip)]
    pub last_ms: i64,
    /// Time of its first request in the range, ms (session rows, with [`Store::session_details`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ms: Option<i64>,
    /// Time of its last request in the range, ms (session rows, with [`Store::session_details`]).
    #[serde(rename = "last_ms", skip_serializing_if = "Option::is_none")]
    pub last_request_ms: Option<i64>,
    /// Models it used, first used first (session rows, with [`Store::session_details`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Branch of its latest usage, `null` when none was logged (session rows, with
    /// [`Store::session_details`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<Option<String>>,
    /// Its average context split per request (estimated), `null` when no request of it has
    /// one (session rows, with [`Store::session_ctx_averages`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx_avg: Option<Option<crate::event::CtxAverage>>,
}

impl Row {
    /// A row with only its key and sums.
    pub(crate) fn new(key: String, sums: Sums) -> Row {
        Row {
            key,
            sums,
            repo: None,
            tool: None,
            first_seen: None,
            last_seen: None,
            last_ms: 0,
            first_ms: None,
            last_request_ms: None,
            models: None,
            branch: None,
            ctx_avg: None,
        }
    }
}

/// The key of the day, ISO week or month a local date is in.
pub(crate) fn period_key(group: GroupBy, d: NaiveDate) -> String {
    match group {
        GroupBy::Day => d.format("%Y-%m-%d").to_string(),
        GroupBy::Week => {
            let w = d.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        _ => d.format("%Y-%m").to_string(),
    }
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
    /// When the current prices were last applied to the stored usage (`tokwatch reprice`, or
    /// by itself when prices change), in the report's zone; `None` when never recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prices_applied: Option<String>,
}

/// The key of usage outside any repository in reports (and as a `--repo` filter).
pub const NO_REPOSITORY: &str = "(no repository)";

pub(crate) fn where_clause(f: &Filter, args: &mut Vec<Value>, layer: Layer) -> String {
    let (_, col, unit) = layer.parts();
    let mut w = vec!["1".to_string()];
    if let Some(s) = f.since_ms {
        args.push(Value::Integer(s.div_euclid(unit)));
        w.push(format!("r.{col} >= ?{}", args.len()));
    }
    if let Some(u) = f.until_ms {
        args.push(Value::Integer((u + unit - 1).div_euclid(unit)));
        w.push(format!("r.{col} < ?{}", args.len()));
    }
    if let Some(t) = &f.tool {
        args.push(Value::Text(t.clone()));
        w.push(format!("r.tool = ?{}", args.len()));
    }
    if let Some(s) = &f.session {
        debug_assert_eq!(
            layer,
            Layer::Quarter,
            "only the 15-minute layer has sessions"
        );
        args.push(Value::Text(s.clone()));
        w.push(format!("r.session = ?{}", args.len()));
    }
    if f.repo.as_deref() == Some(NO_REPOSITORY) {
        // The key reports give usage outside any repository.
        w.push("r.workspace_id = 0".into());
    } else if let Some(repo) = &f.repo {
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

/// The conditions on `events e` that select the requests of one session row of a
/// `GroupBy::Session` report made with `f` (`?1` the session, `?2` its tool; the two leading
/// `Null`s of the arguments are for them): the same buckets, repository and machine as the
/// row's sums, an index range of `events_session`.
pub(crate) fn session_row_where(f: &Filter) -> (Vec<String>, Vec<Value>) {
    let mut args: Vec<Value> = vec![Value::Null, Value::Null];
    let mut w = vec!["e.session = ?1".to_string(), "e.tool = ?2".to_string()];
    if let Some(s) = f.since_ms {
        args.push(Value::Integer(s.div_euclid(BUCKET_MS) * BUCKET_MS));
        w.push(format!("e.ts >= ?{}", args.len()));
    }
    if let Some(u) = f.until_ms {
        args.push(Value::Integer(
            (u + BUCKET_MS - 1).div_euclid(BUCKET_MS) * BUCKET_MS,
        ));
        w.push(format!("e.ts < ?{}", args.len()));
    }
    if f.repo.as_deref() == Some(NO_REPOSITORY) {
        w.push("coalesce(e.workspace_id, 0) = 0".into());
    } else if let Some(repo) = &f.repo {
        args.push(Value::Text(repo.clone()));
        let n = args.len();
        w.push(format!(
            "e.workspace_id IN (SELECT id FROM workspaces WHERE key = ?{n} OR name = ?{n} OR root = ?{n})"
        ));
    }
    if let Some(m) = &f.machine {
        args.push(Value::Text(m.clone()));
        w.push(format!(
            "e.machine_id IN (SELECT id FROM machines WHERE {})",
            super::export::machine_match(args.len())
        ));
    }
    (w, args)
}

impl Store {
    /// A grouped report. Reads the daily layer for the whole UTC days of the range and the
    /// finer layers for its edges where that answers exactly, else the hourly layer, else the
    /// 15-minute one (`schema_v4.sql`, `schema_v7.sql`); all give the same figures.
    pub fn report(&self, group: GroupBy, f: &Filter, zone: Zone) -> anyhow::Result<Report> {
        let by_time = matches!(group, GroupBy::Day | GroupBy::Week | GroupBy::Month);
        if by_time && Layer::time_only(f) && self.has_time_layer()? {
            return self.report_time(group, f, zone);
        }
        if group != GroupBy::Session && f.session.is_none() {
            if let Some(pieces) = Layer::pieces(f, !by_time) {
                // `None`: a UTC day that is not a local day of `zone`, grouped by time.
                if let Some(r) = self.report_in(&pieces, group, f, zone)? {
                    return Ok(r);
                }
            }
        }
        match Layer::for_filter(f, Some(group)) {
            Layer::Hour => match self.report_in(&[(Layer::Hour, f.clone())], group, f, zone)? {
                Some(r) => Ok(r),
                // A local midnight inside an hour (a zone not a whole number of hours from
                // UTC): the days need the 15-minute buckets.
                None => self.report_quarter(group, f, zone),
            },
            _ => self.report_quarter(group, f, zone),
        }
    }

    fn report_quarter(&self, group: GroupBy, f: &Filter, zone: Zone) -> anyhow::Result<Report> {
        Ok(self
            .report_in(&[(Layer::Quarter, f.clone())], group, f, zone)?
            .expect("15-minute buckets never straddle a local midnight"))
    }

    /// The report over `f` from the layers of `pieces` (each over its own part of `f`'s range,
    /// [`Layer::pieces`]); `None` when a bucket of the hourly or daily layer would fall into
    /// two local days, weeks or months of `zone`.
    fn report_in(
        &self,
        pieces: &[(Layer, Filter)],
        group: GroupBy,
        f: &Filter,
        zone: Zone,
    ) -> anyhow::Result<Option<Report>> {
        let mut rows: Vec<Row> = Vec::new();
        let mut by_key: std::collections::HashMap<String, usize> = Default::default();
        for (layer, pf) in pieces {
            if !self.collect(*layer, group, pf, zone, &mut rows, &mut by_key)? {
                return Ok(None);
            }
        }
        self.finish_report(group, f, zone, rows).map(Some)
    }

    /// Adds one layer's rows over `f` to `rows` (summed by key); false when a bucket would
    /// fall into two local days, weeks or months of `zone`.
    fn collect(
        &self,
        layer: Layer,
        group: GroupBy,
        f: &Filter,
        zone: Zone,
        rows: &mut Vec<Row>,
        by_key: &mut std::collections::HashMap<String, usize>,
    ) -> anyhow::Result<bool> {
        let (table, tcol, unit) = layer.parts();
        let mut args = Vec::new();
        let wh = where_clause(f, &mut args, layer);
        // Grouped by anything but time or session, the cells are read as they are and summed
        // here: SQLite would sort every cell by the group's key first, which costs more than
        // reading them (cells come in time order, so time groups stream).
        let by_cell = !matches!(
            group,
            GroupBy::Day | GroupBy::Week | GroupBy::Month | GroupBy::Session
        );
        let last = match (by_cell, layer) {
            (false, Layer::Quarter) => format!("max(r.bucket) * {BUCKET_MS}"),
            (false, _) => "max(r.last_ms)".to_string(),
            (true, Layer::Quarter) => format!("r.bucket * {BUCKET_MS}"),
            (true, _) => "r.last_ms".to_string(),
        };
        let (cols, gb) = match group {
            GroupBy::Day | GroupBy::Week | GroupBy::Month => {
                (format!("r.{tcol}"), format!("r.{tcol}"))
            }
            GroupBy::Session => (
                format!("r.session, r.tool, max(w.name), min(r.bucket), {last}"),
                // `+` keeps SQLite from walking the whole `rollup_session` index in session
                // order (a key lookup per row) instead of the range of buckets asked for: the
                // 30-day session report on a 1M-request database took 30 ms, 15 ms now.
                "+r.session, r.tool".to_string(),
            ),
            // Names from `names` below, once per repository rather than once per cell.
            GroupBy::Repo => (format!("r.workspace_id, {last}"), String::new()),
            GroupBy::Branch => (format!("r.workspace_id, r.branch, {last}"), String::new()),
            GroupBy::Model => (format!("r.model, {last}"), "r.model".to_string()),
            GroupBy::Tool => (format!("r.tool, {last}"), "r.tool".to_string()),
            GroupBy::Provider => (format!("r.provider, {last}"), "r.provider".to_string()),
            GroupBy::Machine => (
                format!("coalesce(m.name, '(this machine)'), {last}"),
                "r.machine_id".to_string(),
            ),
        };
        // Key columns before the sums (commas inside coalesce(...) are not separators).
        let ncols = match group {
            GroupBy::Day | GroupBy::Week | GroupBy::Month => 1,
            GroupBy::Session => 5,
            GroupBy::Repo => 2,
            GroupBy::Branch => 3,
            GroupBy::Model | GroupBy::Tool | GroupBy::Provider | GroupBy::Machine => 2,
        };
        // Machine names only where the report shows them.
        let machines = if group == GroupBy::Machine {
            "LEFT JOIN machines m ON m.id = r.machine_id"
        } else {
            ""
        };
        // Repository names only where the report shows them (a join per cell costs more than
        // the cell's sums).
        let workspaces = if group == GroupBy::Session {
            "LEFT JOIN workspaces w ON w.id = r.workspace_id"
        } else {
            ""
        };
        // Repository id -> (name, key).
        let mut names: std::collections::HashMap<i64, (String, Option<String>)> =
            Default::default();
        if matches!(group, GroupBy::Repo | GroupBy::Branch) {
            let mut st = self
                .conn
                .prepare_cached("SELECT id, coalesce(name, ''), key FROM workspaces")?;
            let mut q = st.query([])?;
            while let Some(r) = q.next()? {
                names.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
            }
        }
        let name_of =
            |id: i64| -> (String, Option<String>) { names.get(&id).cloned().unwrap_or_default() };
        let sql = if by_cell {
            format!(
                "SELECT {cols}, {sums} FROM {table} r {workspaces} {machines}
                 WHERE {wh} AND r.requests != 0",
                sums = layer.cells()
            )
        } else {
            format!(
                "SELECT {cols}, {sums} FROM {table} r {workspaces}
                 {machines} WHERE {wh} GROUP BY {gb} HAVING sum(r.requests) != 0",
                sums = layer.sums()
            )
        };
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut q = st.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(r) = q.next()? {
            let mut row = Row::new(String::new(), Sums::from_row(r, ncols)?);
            match group {
                GroupBy::Day | GroupBy::Week | GroupBy::Month => {
                    let b: i64 = r.get(0)?;
                    let key = |d: NaiveDate| period_key(group, d);
                    let d = zone.date(b * unit);
                    row.key = key(d);
                    let one = match layer {
                        Layer::Quarter => true,
                        Layer::Hour => key(zone.date(b * unit + unit - 1)) == row.key,
                        // The UTC day is exactly the local day (no offset, no change inside).
                        // Never asked for (spans are not read for time groups).
                        Layer::Span => false,
                        Layer::Day => {
                            zone.start_of(d) == b * unit
                                && d.succ_opt().map(|n| zone.start_of(n)) == Some(b * unit + unit)
                        }
                    };
                    if !one {
                        return Ok(false);
                    }
                    row.last_ms = b * unit;
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
                    row.last_seen = Some(zone.datetime(b));
                    row.last_ms = b;
                    // The bucket's start until the exact time is looked up.
                    row.first_ms = Some(a * BUCKET_MS);
                }
                GroupBy::Repo => {
                    let (n, key) = name_of(r.get(0)?);
                    row.key = if n.is_empty() {
                        "(no repository)".into()
                    } else {
                        n
                    };
                    row.repo = key;
                    // Its last_seen once all cells are in (finish_report).
                    row.last_ms = r.get(1)?;
                }
                GroupBy::Branch => {
                    let (n, _) = name_of(r.get(0)?);
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
                    row.last_ms = r.get::<_, i64>(2)?;
                }
                GroupBy::Model | GroupBy::Tool | GroupBy::Provider | GroupBy::Machine => {
                    let n: String = r.get(0)?;
                    row.key = if n.is_empty() { "(unknown)".into() } else { n };
                    row.last_ms = r.get::<_, i64>(1)?;
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
        Ok(true)
    }

    /// Totals, order, unpriced models and the prices' date of the collected rows.
    pub(crate) fn finish_report(
        &self,
        group: GroupBy,
        f: &Filter,
        zone: Zone,
        mut rows: Vec<Row>,
    ) -> anyhow::Result<Report> {
        if group == GroupBy::Session {
            self.exact_session_times(&mut rows, f, zone)?;
        }
        if group == GroupBy::Repo {
            for r in &mut rows {
                r.last_seen = Some(zone.datetime(r.last_ms));
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
        // Without unpriced requests in the range there is no unpriced model to list.
        let unpriced_models = if totals.unpriced_requests > 0 {
            self.unpriced_models(f)?
        } else {
            Vec::new()
        };
        // A database of an older schema has no such record: the report says nothing.
        let prices_applied = self
            .prices_applied()
            .ok()
            .flatten()
            .map(|p| zone.datetime(p.at_ms));
        Ok(Report {
            group,
            tz: zone.name(),
            totals,
            rows,
            unpriced_models,
            prices_applied,
        })
    }

    /// A session row's first and last request as recorded (to the second), not the 15-minute
    /// buckets the rollup keeps: one index range per session (`events_session`), over the same
    /// buckets, tool, repository and machine as the row's sums.
    fn exact_session_times(&self, rows: &mut [Row], f: &Filter, zone: Zone) -> anyhow::Result<()> {
        // Session and tool (each row is one of both) lead the index, so the first and the last
        // request are one seek each, not a walk over the session's requests.
        let (w, mut args) = session_row_where(f);
        let end = |dir: &str| {
            format!(
                "SELECT e.ts FROM events e WHERE {} ORDER BY e.ts {dir} LIMIT 1",
                w.join(" AND ")
            )
        };
        let mut first = self.conn.prepare(&end("ASC"))?;
        let mut last = self.conn.prepare(&end("DESC"))?;
        // Requests before the latest prune may be identity rows only: a session that has
        // usage in the rollup before it keeps the 15-minute bucket as its first time.
        let pruned_before = self.pruned_before()?;
        for row in rows.iter_mut() {
            let bucket_first = row.first_ms.take();
            if row.key == "(no session)" {
                continue;
            }
            args[0] = Value::Text(row.key.clone());
            args[1] = Value::Text(row.tool.clone().unwrap_or_default());
            let p = || rusqlite::params_from_iter(args.iter());
            let a: Option<i64> = first.query_row(p(), |r| r.get(0)).optional()?;
            let b: Option<i64> = last.query_row(p(), |r| r.get(0)).optional()?;
            let (a, b) = match (pruned_before, bucket_first) {
                (Some(cut), Some(f)) if f < cut && a.is_none_or(|a| a >= f + BUCKET_MS) => {
                    (Some(f), b.or(Some(row.last_ms)))
                }
                _ => (a, b),
            };
            if let (Some(a), Some(b)) = (a, b) {
                row.first_seen = Some(zone.datetime_secs(a));
                row.last_seen = Some(zone.datetime_secs(b));
                row.last_ms = b;
            }
            // Kept in ms too, for `session_details` (the JSON's first_ms/last_ms).
            (row.first_ms, row.last_request_ms) = (a, b);
        }
        Ok(())
    }

    /// Models without a known price in the covered usage.
    pub fn unpriced_models(&self, f: &Filter) -> anyhow::Result<Vec<UnpricedModel>> {
        let mut args = Vec::new();
        let layer = Layer::for_filter(f, None);
        let wh = where_clause(f, &mut args, layer);
        let table = layer.parts().0;
        let sql = format!(
            "SELECT r.model, sum(r.unpriced), sum(r.input + r.cw5 + r.cw1h + r.cr + r.output)
             FROM {table} r WHERE {wh} AND r.unpriced > 0 GROUP BY r.model ORDER BY 3 DESC"
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
        let layer = Layer::for_filter(f, None);
        let wh = where_clause(f, &mut args, layer);
        let table = layer.parts().0;
        let sql = format!(
            "SELECT {} FROM {table} r WHERE {wh}",
            layer.sums().replace("sum(", "total(")
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

    /// How many requests (pruned ones included) and how many files are stored.
    pub fn counts(&self) -> anyhow::Result<(i64, i64)> {
        let (events, files): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM files)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        // A database of a schema before retention has no `pruned` table.
        let pruned: i64 = self
            .conn
            .query_row("SELECT count(*) FROM pruned", [], |r| r.get(0))
            .unwrap_or(0);
        Ok((events + pruned, files))
    }

    /// Every tool whose usage is stored (imports from other machines included).
    pub fn stored_tools(&self) -> anyhow::Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT tool FROM rollup ORDER BY tool")?;
        let v = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(v)
    }

    /// What `doctor` says about one tool's files.
    pub fn tool_files(&self, tool: &str) -> anyhow::Result<ToolFiles> {
        let mut h = self.conn.query_row(
            "SELECT count(*) FILTER (WHERE NOT (read_error IS NOT NULL AND dev = 0 AND ino = 0 AND lines = 0)),
                    total(malformed), max(last_event_ms),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CostSource, Merge, UsageEvent};
    use crate::store::{ReadCounts, StoredEvent};
    use crate::tailer::Checkpoint;

    /// A small deterministic generator (no dependency for one test).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Random requests over two years (DST changes included), some re-recorded with other
    /// figures and another time (last-wins merges subtract from one cell and add to another),
    /// some unpriced or with a reported cost; stored through the real batch writer.
    fn filled_store(dir: &std::path::Path) -> Store {
        let mut store = Store::open_writer(&dir.join("t.db")).unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let start = 1_700_000_000_000i64; // 2023-11-14
        let mut batch = Vec::new();
        for i in 0..6000u64 {
            let id = if i % 7 == 3 { i - 1 } else { i };
            let ts = start + rng.next(2 * 365 * 86_400_000) as i64;
            let mut ev = UsageEvent::new("claude-code", format!("k{id}"), Merge::LastWins, ts);
            ev.model = Some(["opus", "sonnet", "haiku", ""][rng.next(4) as usize].into());
            ev.session_id = Some(format!("s{}", rng.next(40)));
            ev.branch = Some(["main", "dev"][rng.next(2) as usize].into());
            ev.tokens.input = rng.next(5000) as i64;
            ev.tokens.cache_read = rng.next(90_000) as i64;
            ev.tokens.output = rng.next(3000) as i64;
            let (cost, source) = match rng.next(10) {
                0 => (None, CostSource::Unpriced),
                1 => (Some(0.0), CostSource::Reported),
                _ => (Some(rng.next(100_000) as f64 / 1e4), CostSource::Computed),
            };
            batch.push(StoredEvent {
                ev,
                workspace_id: None,
                workspace_name: None,
                cost_usd: cost,
                cost_source: source,
                price_key: None,
                updated: false,
            });
            if batch.len() == 500 {
                let cp = Checkpoint::default();
                store
                    .commit_batch(
                        "/x.jsonl",
                        "claude-code",
                        &cp,
                        &ReadCounts::default(),
                        &batch,
                    )
                    .unwrap();
                batch.clear();
            }
        }
        store
    }

    fn hour_cells(store: &Store) -> Vec<(i64, String, i64, i64, i64)> {
        let mut st = store
            .conn
            .prepare(
                "SELECT hour, model || '/' || branch, requests, output, last_ms FROM rollup_hour
                 WHERE requests != 0 ORDER BY 1, 2",
            )
            .unwrap();
        st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    }

    /// Equal sums; costs to the rounding of a millionth of a dollar (sums of floats in
    /// another order may round the other way).
    fn same_sums(a: &Sums, b: &Sums) {
        assert!((a.cost_usd - b.cost_usd).abs() < 2.5e-6, "{a:?} {b:?}");
        let (mut a, mut b) = (a.clone(), b.clone());
        (a.cost_usd, b.cost_usd) = (0.0, 0.0);
        assert_eq!(a, b);
    }

    fn same(a: &Report, b: &Report) {
        same_sums(&a.totals, &b.totals);
        assert_eq!(a.rows.len(), b.rows.len());
        for (x, y) in a.rows.iter().zip(&b.rows) {
            assert_eq!((&x.key, &x.repo), (&y.key, &y.repo));
            same_sums(&x.sums, &y.sums);
        }
        let m = |r: &Report| {
            r.unpriced_models
                .iter()
                .map(|u| (u.model.clone(), u.requests, u.tokens))
                .collect::<Vec<_>>()
        };
        assert_eq!(m(a), m(b));
    }

    /// The hourly layer gives exactly the 15-minute layer's figures for every grouping, in
    /// whole-hour zones with DST; in zones whose midnight falls inside an hour it declines the
    /// day groupings (and `report` then reads the 15-minute layer).
    #[test]
    fn the_hourly_layer_answers_exactly_what_the_quarter_layer_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled_store(dir.path());
        let zones = [
            ("UTC", true),
            ("Europe/Berlin", true),
            ("America/New_York", true),
            ("Asia/Kolkata", false),
            ("Asia/Kathmandu", false),
            ("America/St_Johns", false),
        ];
        let groups = [
            GroupBy::Day,
            GroupBy::Week,
            GroupBy::Month,
            GroupBy::Repo,
            GroupBy::Branch,
            GroupBy::Model,
            GroupBy::Tool,
            GroupBy::Machine,
        ];
        for (name, whole_hours) in zones {
            let zone = Zone::parse(name).unwrap();
            for g in groups {
                let f = Filter::default();
                let q = store
                    .report_in(&[(Layer::Quarter, f.clone())], g, &f, zone)
                    .unwrap()
                    .unwrap();
                assert!(q.totals.requests > 5000, "{}", q.totals.requests);
                match store
                    .report_in(&[(Layer::Hour, f.clone())], g, &f, zone)
                    .unwrap()
                {
                    Some(h) => same(&h, &q),
                    None => assert!(
                        !whole_hours && matches!(g, GroupBy::Day | GroupBy::Week | GroupBy::Month),
                        "{name} {g:?} declined"
                    ),
                }
                same(&store.report(g, &f, zone).unwrap(), &q);
                // A range of whole local days.
                let since = zone.start_of(NaiveDate::from_ymd_opt(2024, 3, 30).unwrap());
                let until = zone.start_of(NaiveDate::from_ymd_opt(2024, 11, 4).unwrap());
                let f = Filter {
                    since_ms: Some(since),
                    until_ms: Some(until),
                    ..Filter::default()
                };
                assert_eq!(
                    Layer::for_filter(&f, Some(g)) == Layer::Hour,
                    whole_hours,
                    "{name}"
                );
                let q = store
                    .report_in(&[(Layer::Quarter, f.clone())], g, &f, zone)
                    .unwrap()
                    .unwrap();
                same(&store.report(g, &f, zone).unwrap(), &q);
                same_sums(&store.sums(&f).unwrap(), &q.totals);
            }
        }
    }

    /// The batch writer keeps the hourly layer equal to the stored events (through merges),
    /// and the migration builds the same cells from the events of an older database.
    #[test]
    fn the_hourly_layer_sums_to_the_quarter_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled_store(dir.path());
        let written = hour_cells(&store);
        // As a version-3 database: no hourly layer yet; the version 4 migration builds it.
        store.conn.execute_batch("DROP TABLE rollup_hour").unwrap();
        store
            .conn
            .execute_batch(include_str!("schema_v4.sql"))
            .unwrap();
        let migrated = hour_cells(&store);
        assert_eq!(written.len(), migrated.len());
        for (w, m) in written.iter().zip(&migrated) {
            assert_eq!((w.0, &w.1, w.2, w.3), (m.0, &m.1, m.2, m.3));
            // Built from the events, the latest time is exact; kept by the writer it may be
            // a re-recorded request's earlier time (>=).
            assert!(w.4 >= m.4, "{w:?} {m:?}");
        }
        let sums = |t: &str, cost: &str| -> (i64, i64, i64, f64) {
            store
                .conn
                .query_row(
                    &format!("SELECT sum(requests), sum(input), sum(cr), {cost} FROM {t}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap()
        };
        let (q, h) = (
            sums("rollup", "total(cost)"),
            sums("rollup_hour", "total(cost_nano) * 1e-9"),
        );
        assert_eq!((q.0, q.1, q.2), (h.0, h.1, h.2));
        assert!((q.3 - h.3).abs() < 1e-6);
        // Rebuilt the way the migration builds it: the same cells.
        let cells = |sql: &str| -> Vec<(i64, String, i64, i64, i64)> {
            let mut st = store.conn.prepare(sql).unwrap();
            st.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
        };
        let kept = cells(
            "SELECT hour, model || '/' || branch, requests, output, last_ms FROM rollup_hour
             WHERE requests != 0 ORDER BY 1, 2",
        );
        let built = cells(
            "SELECT ts / 3600000, coalesce(model, '') || '/' || coalesce(branch, ''),
                    sum(requests), sum(output), max(ts)
             FROM events GROUP BY 1, 2 ORDER BY 1, 2",
        );
        assert_eq!(kept.len(), built.len());
        for (k, b) in kept.iter().zip(&built) {
            assert_eq!((k.0, &k.1, k.2, k.3), (b.0, &b.1, b.2, b.3));
            // A re-recorded request may have left the cell; its latest time stays (>=).
            assert!(k.4 >= b.4, "{k:?} {b:?}");
        }
    }

    /// Reports over the daily layer with the finer layers at the edges give exactly the
    /// 15-minute layer's figures: every grouping, every kind of zone, ranges with edges at
    /// local midnights (whole hours, half hours, quarter hours), at odd instants, and ranges
    /// shorter than a day; and the daily layer is used wherever it can be.
    #[test]
    fn the_daily_layer_with_its_edges_answers_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled_store(dir.path());
        let groups = [
            GroupBy::Day,
            GroupBy::Week,
            GroupBy::Month,
            GroupBy::Repo,
            GroupBy::Branch,
            GroupBy::Model,
            GroupBy::Tool,
            GroupBy::Provider,
            GroupBy::Machine,
        ];
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        for name in [
            "UTC",
            "Europe/London",
            "America/New_York",
            "Asia/Kolkata",
            "Asia/Kathmandu",
        ] {
            let zone = Zone::parse(name).unwrap();
            let ranges = [
                (None, None),
                (
                    Some(zone.start_of(d(2024, 3, 30))),
                    Some(zone.start_of(d(2024, 11, 4))),
                ),
                (Some(zone.start_of(d(2024, 1, 1))), None),
                (None, Some(zone.start_of(d(2024, 6, 1)))),
                // Odd instants: every layer gets a piece.
                (Some(1_710_000_123_456), Some(1_730_000_654_321)),
                // Under a day: no daily piece.
                (
                    Some(zone.start_of(d(2024, 5, 5))),
                    Some(zone.start_of(d(2024, 5, 6))),
                ),
                (Some(1_710_000_123_456), Some(1_710_030_000_000)),
            ];
            for (since_ms, until_ms) in ranges {
                let f = Filter {
                    since_ms,
                    until_ms,
                    ..Filter::default()
                };
                for g in groups {
                    let q = store
                        .report_in(&[(Layer::Quarter, f.clone())], g, &f, zone)
                        .unwrap()
                        .unwrap();
                    same(&store.report(g, &f, zone).unwrap(), &q);
                    let by_time = matches!(g, GroupBy::Day | GroupBy::Week | GroupBy::Month);
                    let Some(p) = Layer::pieces(&f, !by_time) else {
                        assert!(since_ms.is_some() && until_ms.is_some());
                        continue;
                    };
                    // Spans only where the report does not group by time (and one fits).
                    assert!(
                        p[0].0 == Layer::Day || (!by_time && p[0].0 == Layer::Span),
                        "{p:?}"
                    );
                    match store.report_in(&p, g, &f, zone).unwrap() {
                        Some(r) => same(&r, &q),
                        // Grouped by time, the daily layer needs a zone whose days are UTC days.
                        None => assert!(
                            name != "UTC"
                                && matches!(g, GroupBy::Day | GroupBy::Week | GroupBy::Month),
                            "{name} {g:?} declined"
                        ),
                    }
                }
            }
        }
        // Against the stored requests themselves, not another layer.
        let f = Filter::default();
        let r = store.report(GroupBy::Model, &f, Zone::Utc).unwrap();
        let mut st = store
            .conn
            .prepare(
                "SELECT coalesce(nullif(model, ''), '(unknown)'), sum(requests), sum(input),
                        sum(output), sum(cr) FROM events GROUP BY 1",
            )
            .unwrap();
        let mut want: Vec<(String, i64, i64, i64, i64)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        want.sort();
        let mut got: Vec<(String, i64, i64, i64, i64)> = r
            .rows
            .iter()
            .map(|x| {
                let s = &x.sums;
                (x.key.clone(), s.requests, s.input, s.output, s.cache_read)
            })
            .collect();
        got.sort();
        assert_eq!(got, want);
        // All history: the span layer alone (grouped by time: the daily layer alone).
        assert_eq!(Layer::pieces(&f, true).unwrap().len(), 1);
        assert_eq!(Layer::pieces(&f, false).unwrap().len(), 1);
        // Whole UTC days: spans 19,008-19,072 and the days at either edge; by time one piece.
        let f = Filter {
            since_ms: Some(19_000 * DAY_MS),
            until_ms: Some(19_100 * DAY_MS),
            ..Filter::default()
        };
        let p = Layer::pieces(&f, true).unwrap();
        let span = |l, a: i64, b: i64| (l, Some(a * DAY_MS), Some(b * DAY_MS));
        assert_eq!(
            p.iter()
                .map(|(l, x)| (*l, x.since_ms, x.until_ms))
                .collect::<Vec<_>>(),
            [
                span(Layer::Span, 19_008, 19_072),
                span(Layer::Day, 19_000, 19_008),
                span(Layer::Day, 19_072, 19_100)
            ]
        );
        assert_eq!(Layer::pieces(&f, false).unwrap().len(), 1);
    }

    /// The batch writer keeps the daily layer equal to the hourly one summed by UTC day
    /// (through merges), and the migration builds the same cells from an older database.
    #[test]
    fn the_daily_layer_sums_to_the_hourly_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled_store(dir.path());
        let cells = |sql: &str| -> Vec<(i64, String, i64, i64, i64, i64, i64)> {
            let mut st = store.conn.prepare(sql).unwrap();
            st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
        };
        let days = "SELECT day, model || '/' || branch || '/' || tool, requests, input, output,
                           cost_nano, last_ms
                    FROM rollup_day WHERE requests != 0 ORDER BY 1, 2";
        let written = cells(days);
        let from_hours = cells(
            "SELECT hour / 24, model || '/' || branch || '/' || tool, sum(requests), sum(input),
                    sum(output), sum(cost_nano), max(last_ms)
             FROM rollup_hour GROUP BY 1, 2 HAVING sum(requests) != 0 ORDER BY 1, 2",
        );
        assert!(written.len() > 1000, "{}", written.len());
        assert_eq!(written, from_hours);
        // As a database before the daily layer: the migration builds the same cells.
        store.conn.execute_batch("DROP TABLE rollup_day").unwrap();
        store
            .conn
            .execute_batch(include_str!("schema_v7.sql"))
            .unwrap();
        assert_eq!(cells(days), written);
        // The 64-day spans: the writer's cells are the days summed by span, and so are the
        // migration's.
        let spans = "SELECT span, model || '/' || branch || '/' || tool, requests, input, output,
                            cost_nano, last_ms
                     FROM rollup_span WHERE requests != 0 ORDER BY 1, 2";
        let kept = cells(spans);
        let from_days = cells(
            "SELECT day / 64, model || '/' || branch || '/' || tool, sum(requests), sum(input),
                    sum(output), sum(cost_nano), max(last_ms)
             FROM rollup_day GROUP BY 1, 2 HAVING sum(requests) != 0 ORDER BY 1, 2",
        );
        assert!(kept.len() > 50, "{}", kept.len());
        assert_eq!(kept, from_days);
        store
            .conn
            .execute_batch("DROP TABLE rollup_span; DROP TABLE rollup_time;")
            .unwrap();
        store
            .conn
            .execute_batch(include_str!("schema_v9.sql"))
            .unwrap();
        assert_eq!(cells(spans), kept);
    }
}
