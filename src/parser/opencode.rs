//! OpenCode (sst/opencode) and Kilo CLI, its fork (log-formats §4).
//!
//! Two kinds of source per data directory:
//! - [`OpenCodeDb`] ([`Format::Sqlite`]): `opencode.db` and channel databases `opencode-*.db`
//!   (Kilo: `kilo.db`, `kilo-*.db`). A database holds one or two generations of tables:
//!   v1 `message`/`part` (+ `session`), and since OpenCode 2.x `session_message` (+ `session_v2`
//!   or `session`). v2 already contains the migrated v1 rows with their ids, so exactly one
//!   generation is read per database: `session_message` when it has any row, else `message`.
//! - [`OpenCodeLegacy`] ([`Format::WholeFile`]): the JSON storage of older versions,
//!   `storage/message/<sessionID>/<messageID>.json`, rewritten in place while a message streams.
//!
//! Semantics:
//! - One event per assistant message, keyed `<tool>:<message id>` so the database and the JSON
//!   copy of a message are the same request. Database events are [`Merge::LastWins`]; JSON
//!   events are [`Merge::KeepMax`], so the database copy wins over the JSON copy whichever is read
//!   first (the JSON copy replaces a stored one only if it holds strictly more output, i.e. the
//!   stored one was an unfinished snapshot).
//! - `tokens.input` is exclusive of cache; `cache.write` -> 5-minute bucket, `cache.read` -> read.
//! - `tokens.reasoning` is disjoint from `tokens.output` (OpenCode bills it again at the output
//!   rate): output = output + reasoning, reasoning = reasoning.
//! - When a message's own tokens are all zero, its `step-finish` parts are summed (v1 and JSON);
//!   so they are when the message's tokens are only its last step's (`last_step_only`).
//! - OpenCode's own `cost` (USD) becomes `reported_cost_usd` when > 0 (0 is what subscription
//!   providers record; then tokwatch prices the tokens).
//! - v2 forks copy the parent's history into the fork with new ids and the parent's `seq`:
//!   rows of a forked session at or before its `fork_boundary` are skipped (ccusage #1780).
//! - cwd: the message's `path.cwd`, else the session's `directory`.
//!
//! Incremental reads: see [`RowidTail`]. New rows are found by rowid; messages still streaming
//! (no `time.completed`) are re-checked by id until they complete.

use super::context::Names;
use super::opencode_ctx::{self as ctx, Conv, Head, Own, Session};
use super::sqlite_ro::{self, bytes_of, int_of, query_err, text_of, RoDb, RowidTail};
use super::{FileState, Format, ParseError, Parser, WholeReport};
use crate::event::{Merge, Tokens, UsageEvent};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// OpenCode or its fork Kilo CLI: same formats, different names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenCode.
    OpenCode,
    /// Kilo CLI, OpenCode's fork.
    Kilo,
}

impl Flavor {
    /// Tool id.
    pub fn tool(self) -> &'static str {
        match self {
            Flavor::OpenCode => "opencode",
            Flavor::Kilo => "kilo-cli",
        }
    }
    /// Database file stem: `opencode.db`, `opencode-canary.db`.
    pub fn db_stem(self) -> &'static str {
        match self {
            Flavor::OpenCode => "opencode",
            Flavor::Kilo => "kilo",
        }
    }
}

/// Rows fetched per statement: keeps every read statement short.
const PAGE: i64 = 500;
/// Pending (still streaming) messages older than this, relative to the newest update seen,
/// are given up on (a crashed run never completes its message).
const PENDING_MAX_AGE_MS: i64 = 6 * 3600 * 1000;
const PENDING_MAX: usize = 2000;

/// The SQLite database of OpenCode 1.2 and later.
pub struct OpenCodeDb {
    /// OpenCode or Kilo CLI.
    pub flavor: Flavor,
}

/// The JSON message files of older OpenCode versions.
pub struct OpenCodeLegacy {
    /// OpenCode or Kilo CLI.
    pub flavor: Flavor,
}

/// Usage fields of one message, from its JSON.
#[derive(Debug, Default, Clone)]
struct MsgUsage {
    role: Option<String>,
    created_ms: Option<i64>,
    completed: bool,
    model: Option<String>,
    provider: Option<String>,
    cwd: Option<String>,
    tokens: Tokens,
    cost: f64,
}

/// A token count: absent or null is 0; a number is taken (fractions rounded); anything else
/// (a string, an object, a negative count) makes the record malformed.
fn count(v: Option<&Value>, what: &str) -> Result<i64, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => {
            let x = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.round() as i64)
            });
            match x {
                Some(x) if x >= 0 => Ok(x),
                _ => Err(ParseError(format!("{what} is not a token count"))),
            }
        }
        Some(_) => Err(ParseError(format!("{what} has the wrong type"))),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

fn ms_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_i64()
        .or_else(|| cur.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// `tokens` object -> disjoint buckets (reasoning added to output, see module notes).
fn tokens_of(t: Option<&Value>) -> Result<Tokens, ParseError> {
    let Some(t) = t.filter(|t| !t.is_null()) else {
        return Ok(Tokens::default());
    };
    if !t.is_object() {
        return Err(ParseError("tokens has the wrong type".into()));
    }
    let cache = t.get("cache").filter(|c| !c.is_null());
    if cache.is_some_and(|c| !c.is_object()) {
        return Err(ParseError("tokens.cache has the wrong type".into()));
    }
    let output = count(t.get("output"), "tokens.output")?;
    let reasoning = count(t.get("reasoning"), "tokens.reasoning")?;
    Ok(Tokens {
        input: count(t.get("input"), "tokens.input")?,
        cache_write_5m: count(cache.and_then(|c| c.get("write")), "tokens.cache.write")?,
        cache_write_1h: 0,
        cache_read: count(cache.and_then(|c| c.get("read")), "tokens.cache.read")?,
        output: output + reasoning,
        reasoning,
    })
}

fn cost_of(v: Option<&Value>) -> Result<f64, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(0.0),
        Some(Value::Number(n)) => Ok(n.as_f64().filter(|f| f.is_finite()).unwrap_or(0.0)),
        Some(_) => Err(ParseError("cost has the wrong type".into())),
    }
}

/// Reads the usage fields of a message (v1 `message.data`, v2 `session_message.data`, or a
/// legacy JSON file). Only metadata is looked at.
fn msg_usage(v: &Value) -> Result<MsgUsage, ParseError> {
    if !v.is_object() {
        return Err(ParseError("message data is not an object".into()));
    }
    let model_obj = v.get("model").filter(|m| m.is_object());
    let model = str_at(v, &["modelID"])
        .or_else(|| model_obj.and_then(|m| str_at(m, &["modelID"])))
        .or_else(|| model_obj.and_then(|m| str_at(m, &["id"])))
        .or_else(|| {
            v.get("model")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_string);
    let provider = str_at(v, &["providerID"])
        .or_else(|| model_obj.and_then(|m| str_at(m, &["providerID"])))
        .map(str::to_string);
    Ok(MsgUsage {
        role: str_at(v, &["role"]).map(str::to_string),
        created_ms: ms_at(v, &["time", "created"]),
        completed: ms_at(v, &["time", "completed"]).is_some(),
        model,
        provider,
        cwd: str_at(v, &["path", "cwd"]).map(str::to_string),
        tokens: tokens_of(v.get("tokens"))?,
        cost: cost_of(v.get("cost"))?,
    })
}

/// Adds one `step-finish` part's usage (tokens and cost) to `acc` and returns its tokens;
/// other parts are ignored (`None`).
pub(crate) fn add_step_finish(
    part: &Value,
    acc: &mut (Tokens, f64),
) -> Result<Option<Tokens>, ParseError> {
    if part.get("type").and_then(Value::as_str) != Some("step-finish") {
        return Ok(None);
    }
    let t = tokens_of(part.get("tokens"))?;
    acc.0.add(&t);
    acc.1 += cost_of(part.get("cost"))?;
    Ok(Some(t))
}

/// Whether a message's own tokens are only its last step's: OpenCode versions that run several
/// model calls (steps) in one assistant message overwrite the message's `tokens` at each
/// `step-finish` while its `cost` adds up. Several steps, every part read, the last step's
/// tokens equal to the message's and their sum different: the message's usage is the sum.
/// (A version that adds the steps up has message tokens equal to the sum: unchanged.)
fn last_step_only(tokens: &Tokens, own: &ctx::Own) -> bool {
    own.finishes > 1 && own.bad == 0 && own.last == Some(*tokens) && own.usage.0 != *tokens
}

fn make_event(
    tool: &str,
    merge: Merge,
    id: &str,
    session: Option<&str>,
    row_ts: Option<i64>,
    u: &MsgUsage,
    dir: Option<String>,
) -> UsageEvent {
    let ts = u.created_ms.or(row_ts).unwrap_or(0);
    let mut e = UsageEvent::new(tool, format!("{tool}:{id}"), merge, ts);
    e.model = u.model.clone();
    e.provider = u.provider.clone();
    e.tokens = u.tokens;
    e.session_id = session.map(str::to_string);
    e.cwd = u.cwd.clone().or(dir);
    e.reported_cost_usd = (u.cost > 0.0).then_some(u.cost);
    e
}

// ------------------------------------------------------------------------------------------
// Database
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gen {
    V1,
    V2,
}

impl Gen {
    fn name(self) -> &'static str {
        match self {
            Gen::V1 => "v1",
            Gen::V2 => "v2",
        }
    }
    fn table(self) -> &'static str {
        match self {
            Gen::V1 => "message",
            Gen::V2 => "session_message",
        }
    }
}

/// Where a forked v2 session's own rows begin.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Boundary {
    /// Rows with `seq <= n` are copies of the parent's history.
    Seq(i64),
    /// The boundary message cannot be found: rows created before the fork itself are copies.
    Time(i64),
}

#[derive(Debug, Clone, Default)]
struct SessionInfo {
    dir: Option<String>,
    fork: Option<Boundary>,
}

/// A message read as history: its order, id, type (v2) and data.
type HistRow = (ctx::Order, String, Option<String>, Option<Vec<u8>>);

/// One row of `message` / `session_message` as read.
struct Row {
    rowid: i64,
    id: String,
    session: Option<String>,
    kind: Option<String>,
    seq: Option<i64>,
    created: Option<i64>,
    updated: i64,
    data: Option<Vec<u8>>,
}

impl Row {
    /// Changes when the row does (its update time, or its content within one clock tick).
    fn version(&self) -> i64 {
        sqlite_ro::fnv(self.data.as_deref().unwrap_or_default()) ^ self.updated
    }
}

struct Reader<'a> {
    db: &'a RoDb,
    tool: &'static str,
    gen: Gen,
    /// `seq` column of `session_message` (`NULL` when the table has none).
    seq_col: &'static str,
    /// Session table (v1 `session`; v2 `session_v2`, or `session` where it kept its name) and
    /// which of the optional columns it has.
    session_table: Option<(String, HashSet<String>)>,
    has_part: bool,
    sessions: HashMap<String, SessionInfo>,
    report: WholeReport,
    /// The conversations, as sizes (context composition).
    conv: Conv,
}

impl Reader<'_> {
    fn row_sql(&self, filter: &str) -> String {
        match self.gen {
            Gen::V1 => format!(
                "SELECT rowid, id, session_id, NULL, NULL, time_created, time_updated, data \
                 FROM message WHERE {filter}"
            ),
            // Only assistant rows' JSON is loaded.
            Gen::V2 => format!(
                "SELECT rowid, id, session_id, type, {}, time_created, time_updated, \
                 CASE WHEN type = 'assistant' THEN data END \
                 FROM session_message WHERE {filter}",
                self.seq_col
            ),
        }
    }

    fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            rowid: r.get(0)?,
            id: text_of(r.get_ref(1)?).unwrap_or_default(),
            session: text_of(r.get_ref(2)?),
            kind: text_of(r.get_ref(3)?),
            seq: int_of(r.get_ref(4)?),
            created: int_of(r.get_ref(5)?),
            updated: int_of(r.get_ref(6)?).unwrap_or(0),
            data: bytes_of(r.get_ref(7)?),
        })
    }

    /// Rows with `rowid > after`, one page.
    fn page(&self, after: i64) -> Result<Vec<Row>, ParseError> {
        let sql = self.row_sql("rowid > ?1 ORDER BY rowid LIMIT ?2");
        let mut st = self
            .db
            .conn
            .prepare_cached(&sql)
            .map_err(|e| query_err("messages", &e))?;
        let rows = st
            .query_map(rusqlite::params![after, PAGE], Self::read_row)
            .map_err(|e| query_err("messages", &e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| query_err("messages", &e))
    }

    fn by_id(&self, id: &str) -> Result<Option<Row>, ParseError> {
        let sql = self.row_sql("id = ?1");
        let mut st = self
            .db
            .conn
            .prepare_cached(&sql)
            .map_err(|e| query_err("messages", &e))?;
        let mut rows = st
            .query_map([id], Self::read_row)
            .map_err(|e| query_err("messages", &e))?;
        rows.next()
            .transpose()
            .map_err(|e| query_err("messages", &e))
    }

    fn session(&mut self, id: &str) -> SessionInfo {
        if let Some(s) = self.sessions.get(id) {
            return s.clone();
        }
        let info = self.load_session(id).unwrap_or_default();
        self.sessions.insert(id.to_string(), info.clone());
        info
    }

    fn load_session(&self, id: &str) -> Option<SessionInfo> {
        let (table, cols) = self.session_table.as_ref()?;
        let col = |c: &str| {
            if cols.contains(c) {
                c.to_string()
            } else {
                "NULL".into()
            }
        };
        let sql = format!(
            "SELECT {}, {}, {}, {} FROM \"{}\" WHERE id = ?1",
            col("directory"),
            col("fork_session_id"),
            col("fork_boundary"),
            col("time_created"),
            table
        );
        let (dir, fork_of, boundary, created) = self
            .db
            .conn
            .query_row(&sql, [id], |r| {
                Ok((
                    text_of(r.get_ref(0)?),
                    text_of(r.get_ref(1)?),
                    text_of(r.get_ref(2)?),
                    int_of(r.get_ref(3)?),
                ))
            })
            .ok()?;
        let mut info = SessionInfo {
            dir: dir.filter(|d| !d.is_empty()),
            fork: None,
        };
        if self.gen == Gen::V2 && fork_of.is_some_and(|f| !f.is_empty()) {
            let by_msg = boundary.as_deref().and_then(|b| {
                self.db
                    .conn
                    .query_row("SELECT seq FROM session_message WHERE id = ?1", [b], |r| {
                        Ok(int_of(r.get_ref(0)?))
                    })
                    .ok()
                    .flatten()
            });
            info.fork = by_msg
                .or_else(|| boundary.as_deref().and_then(|b| b.trim().parse().ok()))
                .map(Boundary::Seq)
                .or(created.map(Boundary::Time));
        }
        Some(info)
    }

    /// The parts of a v1 message, measured (each part's `data` is read here once; a message
    /// still streaming is read again when it changes).
    /// Malformed parts are counted when `report` (the message's own read; not when it is read
    /// as history).
    fn own(&mut self, msg_id: &str, head: &Head, report: bool) -> Result<Own, ParseError> {
        let mut own = Own::default();
        if !self.has_part {
            return Ok(own);
        }
        let mut st = self
            .db
            .conn
            .prepare_cached("SELECT data FROM part WHERE message_id = ?1 ORDER BY id")
            .map_err(|e| query_err("parts", &e))?;
        let mut rows = st.query([msg_id]).map_err(|e| query_err("parts", &e))?;
        while let Some(r) = rows.next().map_err(|e| query_err("parts", &e))? {
            let v = r.get_ref(0).map_err(|e| query_err("parts", &e))?;
            match v {
                rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                    own.part(b, head, &mut self.conv.names)
                }
                _ => own.bad += 1,
            }
        }
        for _ in 0..std::mem::take(&mut own.bad) {
            if report {
                self.report.bad("part of a message: not a part object");
            }
        }
        Ok(own)
    }

    /// Brings the history of `session` up to (not including) the message at `upto`: the
    /// messages after the last one already counted are read by the session's index, once.
    fn settle(&mut self, session: &str, upto: &ctx::Order) -> Result<(), ParseError> {
        let lo = self
            .conv
            .sessions
            .get(session)
            .and_then(|s| s.upto.clone())
            .unwrap_or((i64::MIN, String::new()));
        if lo >= *upto {
            return Ok(());
        }
        // (order, id, type, data)
        let rows: Vec<HistRow> = {
            let sql = match self.gen {
                Gen::V1 => "SELECT time_created, id, NULL, data FROM message \
                     WHERE session_id = ?1 \
                     AND (time_created > ?2 OR (time_created = ?2 AND id > ?3)) \
                     AND (time_created < ?4 OR (time_created = ?4 AND id < ?5)) \
                     ORDER BY time_created, id"
                    .to_string(),
                Gen::V2 => format!(
                    "SELECT {0}, id, type, data FROM session_message \
                     WHERE session_id = ?1 AND {0} > ?2 AND {0} < ?3 ORDER BY {0}",
                    self.seq_col
                ),
            };
            let mut st = self
                .db
                .conn
                .prepare_cached(&sql)
                .map_err(|e| query_err("messages", &e))?;
            let v1 = rusqlite::params![session, lo.0, lo.1, upto.0, upto.1];
            let v2 = rusqlite::params![session, lo.0, upto.0];
            let rows = st
                .query_map(if self.gen == Gen::V1 { v1 } else { v2 }, |r| {
                    Ok((
                        int_of(r.get_ref(0)?).unwrap_or(0),
                        text_of(r.get_ref(1)?).unwrap_or_default(),
                        text_of(r.get_ref(2)?),
                        bytes_of(r.get_ref(3)?),
                    ))
                })
                .map_err(|e| query_err("messages", &e))?;
            let mut out = Vec::new();
            for r in rows {
                let (o, id, ty, data) = r.map_err(|e| query_err("messages", &e))?;
                let key = match self.gen {
                    Gen::V1 => id.clone(),
                    Gen::V2 => String::new(),
                };
                out.push(((o, key), id, ty, data));
            }
            out
        };
        for (o, id, ty, data) in rows {
            let Some(data) = data else { continue };
            let msg = match self.gen {
                Gen::V2 => ctx::v2_row(ty.as_deref().unwrap_or(""), &data, &mut self.conv.names),
                Gen::V1 => {
                    let Ok(v) = serde_json::from_slice::<Value>(&data) else {
                        continue; // counted as malformed where the row itself is read
                    };
                    let head = Head::of(&v);
                    let own = self.own(&id, &head, false)?;
                    own.into_msg(&head, head.parent.as_deref())
                }
            };
            self.conv
                .sessions
                .entry(session.to_string())
                .or_default()
                .add(o, &id, msg);
        }
        Ok(())
    }

    /// Turns a row into an event (or nothing). Returns whether the row may still change
    /// (an assistant message without a completion time).
    fn process(&mut self, row: &Row, out: &mut Vec<UsageEvent>) -> Result<bool, ParseError> {
        if self.gen == Gen::V2 && row.kind.as_deref() != Some("assistant") {
            return Ok(false);
        }
        let Some(data) = &row.data else {
            self.report.bad("message without data");
            return Ok(false);
        };
        let (u, head) = match serde_json::from_slice::<Value>(data)
            .map_err(ParseError::from)
            .and_then(|v| Ok((msg_usage(&v)?, Head::of(&v))))
        {
            Ok(u) => u,
            Err(e) => {
                self.report.bad(format!("message: {e}"));
                return Ok(false);
            }
        };
        if self.gen == Gen::V1 && u.role.as_deref() != Some("assistant") {
            return Ok(false);
        }
        let mut u = u;
        let sess = match row.session.as_deref() {
            Some(s) => self.session(s),
            None => SessionInfo::default(),
        };
        if let Some(b) = sess.fork {
            let copied = match b {
                Boundary::Seq(n) => row.seq.is_some_and(|s| s <= n),
                Boundary::Time(t) => row.created.is_some_and(|c| c < t),
            };
            if copied {
                return Ok(false);
            }
        }
        // The message's own parts (v1): its step-finish usage and its sizes.
        let own = match self.gen {
            Gen::V1 => self.own(&row.id, &head, true)?,
            Gen::V2 => Own::default(),
        };
        let summed = (u.tokens.is_zero() || last_step_only(&u.tokens, &own)) && self.gen == Gen::V1;
        if summed {
            u.tokens = own.usage.0;
            if u.cost <= 0.0 {
                u.cost = own.usage.1;
            }
        }
        let pending = !u.completed;
        if u.tokens.is_zero() {
            // Nothing used yet (streaming) or nothing billed (aborted before a response).
            return Ok(pending);
        }
        let mut e = make_event(
            self.tool,
            Merge::LastWins,
            &row.id,
            row.session.as_deref(),
            row.created,
            &u,
            sess.dir,
        );
        let order = match self.gen {
            Gen::V1 => row.created.map(|c| (c, row.id.clone())),
            Gen::V2 => row.seq.map(|s| (s, String::new())),
        };
        if let (Some(session), Some(order)) = (row.session.as_deref(), order) {
            self.settle(session, &order)?;
            let hist = self
                .conv
                .sessions
                .get(session)
                .map(|s| s.before(&order))
                .unwrap_or_default();
            let msg = match self.gen {
                Gen::V1 => None,
                Gen::V2 => Some(ctx::v2_row("assistant", data, &mut self.conv.names)),
            };
            let r = ctx::ratios(e.model.as_deref(), e.provider.as_deref());
            e.ctx = self
                .conv
                .compose(&hist, &own, summed, r, e.tokens.prompt_total())
                .map(crate::event::Ctx::from);
            if !pending {
                let msg = msg.unwrap_or_else(|| own.into_msg(&head, head.parent.as_deref()));
                self.conv
                    .sessions
                    .entry(session.to_string())
                    .or_default()
                    .add(order, &row.id, msg);
            }
        }
        out.push(e);
        Ok(pending)
    }
}

impl Parser for OpenCodeDb {
    fn tool(&self) -> &str {
        self.flavor.tool()
    }
    fn format(&self) -> Format {
        Format::Sqlite
    }

    fn parse_whole(
        &self,
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        let db = sqlite_ro::open_ro(path)?;
        let has_v2 = db.table_exists("session_message");
        let has_v1 = db.table_exists("message");
        let v2_rows = has_v2
            && db
                .conn
                .query_row("SELECT 1 FROM session_message LIMIT 1", [], |_| Ok(()))
                .is_ok();
        let gen = if v2_rows || (has_v2 && !has_v1) {
            Gen::V2
        } else if has_v1 {
            Gen::V1
        } else {
            let mut report = WholeReport::default();
            let any_table = db
                .conn
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1",
                    [],
                    |_| Ok(()),
                )
                .is_ok();
            // A brand-new database (no tables yet) is simply empty.
            if any_table {
                report.bad("no message table (unknown schema)");
            }
            return Ok(report);
        };
        if state.extra.get("gen").and_then(Value::as_str) != Some(gen.name()) {
            sqlite_ro::reset_watermarks(state);
            state
                .extra
                .insert("gen".into(), Value::String(gen.name().into()));
        }
        let session_table = match gen {
            Gen::V2 if db.table_exists("session_v2") => Some("session_v2"),
            _ if db.table_exists("session") => Some("session"),
            _ => None,
        }
        .map(|t| (t.to_string(), db.columns(t)));
        let mut rd = Reader {
            db: &db,
            tool: self.flavor.tool(),
            gen,
            seq_col: if gen == Gen::V2 && db.columns("session_message").contains("seq") {
                "seq"
            } else {
                "NULL"
            },
            session_table,
            has_part: gen == Gen::V1 && db.table_exists("part"),
            sessions: HashMap::new(),
            report: WholeReport::default(),
            conv: Conv::default(),
        };
        let table = gen.table();
        let mut tail = RowidTail::load(state, table);
        let key_sql = format!("SELECT id FROM {table} WHERE rowid = ?1");
        let incremental = tail
            .anchor_holds(&db.conn, &key_sql)
            .map_err(|e| query_err("messages", &e))?;
        if !incremental {
            tail = RowidTail::default();
        }
        // The conversations kept in memory hold exactly what was read up to the checkpoint's
        // row: any other state (a restart, a rolled-back batch, a full re-read) starts empty
        // and each session's history is read again, once, when its next request comes.
        let at = tail.rowid.map_or(u64::MAX, |r| r as u64);
        let conv = state.scratch.with(|c: &mut Conv| std::mem::take(c));
        if state.scratch.at() == Some(at) {
            rd.conv = conv;
        }
        let mut newest = 0i64;
        let mut done: HashSet<String> = HashSet::new();
        // Rows still in flight last time: re-read by id.
        let pending: Vec<(String, (i64, i64))> =
            std::mem::take(&mut tail.pending).into_iter().collect();
        for (id, seen) in pending {
            let Some(row) = rd.by_id(&id)? else { continue };
            newest = newest.max(row.updated);
            done.insert(id.clone());
            if row.version() == seen.1 {
                tail.pending.insert(id, seen); // unchanged, still in flight
                continue;
            }
            if rd.process(&row, out)? {
                tail.pending
                    .insert(row.id.clone(), (row.updated, row.version()));
            }
        }
        // New rows.
        let mut after = tail.rowid.unwrap_or(i64::MIN);
        loop {
            let rows = rd.page(after)?;
            let n = rows.len() as i64;
            for row in rows {
                after = row.rowid;
                tail.advance(row.rowid, &row.id);
                newest = newest.max(row.updated);
                if row.id.is_empty() || !done.insert(row.id.clone()) {
                    continue;
                }
                if rd.process(&row, out)? {
                    tail.pending
                        .insert(row.id.clone(), (row.updated, row.version()));
                }
            }
            if n < PAGE {
                break;
            }
        }
        // Messages that never complete (a crashed run) are dropped after a while.
        tail.trim_pending(newest.saturating_sub(PENDING_MAX_AGE_MS), PENDING_MAX);
        tail.save(state, table);
        let conv = std::mem::take(&mut rd.conv);
        let report = rd.report;
        state.scratch.with(|c: &mut Conv| *c = conv);
        state
            .scratch
            .set_at(tail.rowid.map_or(u64::MAX, |r| r as u64));
        Ok(report)
    }
}

// ------------------------------------------------------------------------------------------
// Legacy JSON storage
// ------------------------------------------------------------------------------------------

/// Largest legacy message file read (they are a few hundred bytes; a huge one is not ours).
const MAX_JSON: u64 = 16 << 20;

fn read_bytes(path: &Path) -> Result<Vec<u8>, ParseError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ParseError(format!("cannot read the file: {}", e.kind())))?;
    if meta.len() > MAX_JSON {
        return Err(ParseError("file too large for a message".into()));
    }
    std::fs::read(path).map_err(|e| ParseError(format!("cannot read the file: {}", e.kind())))
}

fn read_json(path: &Path) -> Result<Value, ParseError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ParseError(format!("cannot read the file: {}", e.kind())))?;
    if meta.len() > MAX_JSON {
        return Err(ParseError("file too large for a message".into()));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ParseError(format!("cannot read the file: {}", e.kind())))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// `<root>/storage/message/<session>/<message>.json` -> `<root>/storage`.
fn storage_root(path: &Path) -> Option<PathBuf> {
    let session_dir = path.parent()?;
    let message_dir = session_dir.parent()?;
    if message_dir.file_name()? != "message" {
        return None;
    }
    Some(message_dir.parent()?.to_path_buf())
}

impl OpenCodeLegacy {
    fn session_dir(storage: &Path, session: &str) -> Option<String> {
        // storage/session/<projectID>/<sessionID>.json; few project directories.
        let rd = std::fs::read_dir(storage.join("session")).ok()?;
        for e in rd.flatten() {
            let f = e.path().join(format!("{session}.json"));
            if f.is_file() {
                let v = read_json(&f).ok()?;
                return str_at(&v, &["directory"]).map(str::to_string);
            }
        }
        None
    }

    /// The parts of message `msg_id` (`storage/part/<msg_id>/*.json`, in id order), measured;
    /// `None` when the message has no part directory. Malformed parts are counted in `report`.
    fn parts(
        storage: &Path,
        msg_id: &str,
        head: &Head,
        names: &mut Names,
        report: Option<&mut WholeReport>,
    ) -> Option<Own> {
        let rd = std::fs::read_dir(storage.join("part").join(msg_id)).ok()?;
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut own = Own::default();
        for f in files {
            match read_bytes(&f) {
                Ok(b) => own.part(&b, head, names),
                Err(_) => own.bad += 1,
            }
        }
        if let Some(r) = report {
            for _ in 0..own.bad {
                r.bad("part of a message: not a part object");
            }
        }
        own.bad = 0;
        Some(own)
    }

    /// The history of a request at `me`: the messages of its session directory before it, with
    /// their parts. Legacy files are read one message at a time, so each request reads its
    /// session's earlier files again (the legacy store is what OpenCode versions before the
    /// database wrote; newer ones migrate it into `opencode.db`).
    fn history(storage: &Path, session_dir: &Path, me: &ctx::Order, names: &mut Names) -> Session {
        let mut msgs: Vec<(ctx::Order, String, Value)> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(session_dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_none_or(|x| x != "json") {
                    continue;
                }
                let Ok(v) = read_json(&p) else { continue };
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                let Some(id) = str_at(&v, &["id"]).map(str::to_string).or(stem) else {
                    continue;
                };
                let o = (ms_at(&v, &["time", "created"]).unwrap_or(0), id.clone());
                if o < *me {
                    msgs.push((o, id, v));
                }
            }
        }
        msgs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sess = Session::default();
        for (o, id, v) in msgs {
            let head = Head::of(&v);
            let own = Self::parts(storage, &id, &head, names, None).unwrap_or_default();
            sess.add(o, &id, own.into_msg(&head, head.parent.as_deref()));
        }
        sess
    }
}

impl Parser for OpenCodeLegacy {
    fn tool(&self) -> &str {
        self.flavor.tool()
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
        let v = match read_json(path) {
            Ok(v) => v,
            Err(e) if e.0.starts_with("cannot read") => return Err(e),
            Err(e) => {
                report.bad(format!("message file: {e}"));
                return Ok(report);
            }
        };
        let mut u = match msg_usage(&v) {
            Ok(u) => u,
            Err(e) => {
                report.bad(format!("message file: {e}"));
                return Ok(report);
            }
        };
        if u.role.as_deref() != Some("assistant") {
            return Ok(report);
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let Some(id) = str_at(&v, &["id"]).map(str::to_string).or(stem) else {
            report.bad("message file without an id");
            return Ok(report);
        };
        let session = str_at(&v, &["sessionID"]).map(str::to_string).or_else(|| {
            path.parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
        });
        let storage = storage_root(path);
        let head = Head::of(&v);
        let mut names = Names::default();
        let own = storage
            .as_deref()
            .and_then(|s| Self::parts(s, &id, &head, &mut names, Some(&mut report)));
        let summed =
            u.tokens.is_zero() || own.as_ref().is_some_and(|o| last_step_only(&u.tokens, o));
        if summed {
            if let Some(own) = &own {
                u.tokens = own.usage.0;
                if u.cost <= 0.0 {
                    u.cost = own.usage.1;
                }
            }
        }
        if u.tokens.is_zero() {
            return Ok(report);
        }
        let dir = match (&u.cwd, storage.as_deref(), session.as_deref()) {
            (None, Some(st), Some(s)) => Self::session_dir(st, s),
            _ => None,
        };
        let mut e = make_event(
            self.flavor.tool(),
            Merge::KeepMax,
            &id,
            session.as_deref(),
            None,
            &u,
            dir,
        );
        if let (Some(storage), Some(sdir)) = (storage.as_deref(), path.parent()) {
            let me = (u.created_ms.unwrap_or(0), id.clone());
            let sess = Self::history(storage, sdir, &me, &mut names);
            let conv = Conv {
                sessions: HashMap::new(),
                names,
            };
            let r = ctx::ratios(e.model.as_deref(), e.provider.as_deref());
            e.ctx = conv
                .compose(
                    &sess.before(&me),
                    &own.unwrap_or_default(),
                    summed,
                    r,
                    e.tokens.prompt_total(),
                )
                .map(crate::event::Ctx::from);
        }
        out.push(e);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_is_added_to_output() {
        let v: Value = serde_json::from_str(
            r#"{"role":"assistant","time":{"created":5,"completed":6},"modelID":"m","providerID":"p",
               "cost":0.5,"tokens":{"input":10,"output":20,"reasoning":7,"cache":{"read":3,"write":4}}}"#,
        )
        .unwrap();
        let u = msg_usage(&v).unwrap();
        assert_eq!(
            u.tokens,
            Tokens {
                input: 10,
                cache_write_5m: 4,
                cache_write_1h: 0,
                cache_read: 3,
                output: 27,
                reasoning: 7
            }
        );
        assert!(u.completed);
        assert_eq!(u.model.as_deref(), Some("m"));
        assert_eq!(u.provider.as_deref(), Some("p"));
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        for bad in [
            r#"{"role":"assistant","tokens":{"input":"ten"}}"#,
            r#"{"role":"assistant","tokens":[1,2]}"#,
            r#"{"role":"assistant","tokens":{"cache":5}}"#,
            r#"{"role":"assistant","tokens":{"output":-3}}"#,
            r#"{"role":"assistant","cost":"free"}"#,
            r#"[1,2,3]"#,
        ] {
            let v: Value = serde_json::from_str(bad).unwrap();
            assert!(msg_usage(&v).is_err(), "{bad}");
        }
    }

    #[test]
    fn v2_model_object() {
        let v: Value = serde_json::from_str(
            r#"{"model":{"id":"claude-x","providerID":"anthropic"},"tokens":{"input":1}}"#,
        )
        .unwrap();
        let u = msg_usage(&v).unwrap();
        assert_eq!(u.model.as_deref(), Some("claude-x"));
        assert_eq!(u.provider.as_deref(), Some("anthropic"));
    }
}
