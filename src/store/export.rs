//! Beyond one machine (`docs/sync-and-export.md`): which machine recorded each request, its
//! change numbers, the rule when two machines recorded the same request, the rows `export`
//! writes, and the exporters' sent-ledgers.
//!
//! - `machines` row 0 is this machine; the others are created as their records arrive.
//! - Each insert or change of a request recorded here takes this machine's next change number
//!   (`events.rev`); a request read from an export file keeps the number its machine gave it.
//!   Exporters send this machine's requests above their ledger's mark, so nothing imported is
//!   sent on again (no echo), and of two copies from one machine the higher number is the newer.
//! - Two machines' copies of one request (both read the same log): `cross_replaces`, an
//!   order-free rule (keep-max on tokens, then fixed tie-breaks), so databases merged in any
//!   order hold the same figures.

use super::query::{Filter, Sums};
use super::{now_ms, Row, Store};
use crate::event::CostSource;
use crate::export_format::{key_text, valid_machine_id, Record, VERSION};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use std::cmp::Reverse;
use std::collections::HashMap;

/// Machine rows by id text, looked up (or created) once per batch.
#[derive(Default)]
pub(super) struct MachineIds(HashMap<String, i64>);

impl MachineIds {
    /// The row of machine `name` (0 when it is this machine's id).
    pub(super) fn id(&mut self, tx: &Connection, name: &str) -> anyhow::Result<i64> {
        if let Some(i) = self.0.get(name) {
            return Ok(*i);
        }
        tx.prepare_cached("INSERT INTO machines(name) VALUES(?1) ON CONFLICT(name) DO NOTHING")?
            .execute([name])?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM machines WHERE name = ?1")?
            .query_row([name], |r| r.get(0))?;
        self.0.insert(name.to_string(), id);
        Ok(id)
    }
}

/// Records a higher change number of an unchanged request (a later line of its machine's file
/// that repeats it), so an older line read afterwards cannot replace it.
pub(super) fn set_rev(tx: &Connection, key_hash: i64, rev: i64) -> anyhow::Result<()> {
    tx.prepare_cached("UPDATE events SET rev = ?2 WHERE key_hash = ?1")?
        .execute(params![key_hash, rev])?;
    Ok(())
}

impl Row {
    /// Every stored figure and label equal (machine and change number aside).
    pub(super) fn same_as(&self, o: &Row) -> bool {
        self.values() == o.values()
            && self.tool == o.tool
            && self.workspace_id == o.workspace_id
            && self.branch == o.branch
            && self.model == o.model
            && self.session == o.session
            && self.provider == o.provider
    }
}

/// Two machines recorded the same request: does `new` replace `old`? The larger copy wins
/// (output, then the prompt, then each bucket, requests, cost), then fixed tie-breaks on the
/// labels (the earlier time, then the smaller model, provider, session, branch, repository
/// key); a copy equal in everything stays with the machine that was stored first. The same
/// copy wins whichever arrives first, so merges in any order agree.
pub(super) fn cross_replaces(tx: &Connection, old: &Row, new: &Row) -> anyhow::Result<bool> {
    if old.same_as(new) {
        return Ok(false);
    }
    let ws_key = |id: i64| -> anyhow::Result<String> {
        if id == 0 {
            return Ok(String::new());
        }
        Ok(tx
            .prepare_cached("SELECT key FROM workspaces WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .unwrap_or_default())
    };
    let key = |r: &Row, ws: String| {
        (
            (
                r.output,
                r.input + r.cw5 + r.cw1h + r.cr,
                r.input,
                r.cw5,
                r.cw1h,
                r.cr,
                r.reasoning,
                r.requests,
            ),
            (
                r.cost.is_some(),
                r.cost.map(|c| c.max(0.0).to_bits()).unwrap_or(0),
                Reverse(r.cost_source),
            ),
            Reverse((
                r.ts,
                r.model.clone(),
                r.provider.clone(),
                r.session.clone(),
                r.branch.clone(),
                ws,
                r.tool.clone(),
            )),
        )
    };
    let ko = key(old, ws_key(old.workspace_id)?);
    let kn = key(new, ws_key(new.workspace_id)?);
    Ok(kn > ko)
}

/// An exporter's ledger: how far it got.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Ledger {
    /// Its name (`sync:<file>`, `otlp:<endpoint>`).
    pub exporter: String,
    /// Every request of this machine with a change number up to this was written/acknowledged.
    pub rev: i64,
    /// Records written/acknowledged so far.
    pub sent: i64,
    /// When it was first turned on, ms.
    pub started_ms: i64,
    /// Its last success, ms.
    pub last_ok_ms: Option<i64>,
    /// Its last failure (cleared by the next success).
    pub last_error: Option<String>,
    /// When that failure happened, ms.
    pub last_error_ms: Option<i64>,
}

/// What an exporter still has to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    /// Requests (new or changed) not yet sent.
    pub records: i64,
    /// The time of the oldest of them, ms.
    pub oldest_ms: Option<i64>,
}

/// A machine and how many of its requests are stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MachineCount {
    /// Its id.
    pub id: String,
    /// It is this machine.
    pub this_machine: bool,
    /// Its requests stored here.
    pub requests: i64,
}

/// One series of the metrics exporters: sums per label set, all time.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// Tool id.
    pub tool: String,
    /// Model ('' when none was logged).
    pub model: String,
    /// Provider ('' when none was logged).
    pub provider: String,
    /// Repository key (when asked for; '' = none).
    pub repo: String,
    /// Branch (when asked for; '' = none).
    pub branch: String,
    /// The machine's id (`None` for this machine before a writer named it).
    pub machine: Option<String>,
    /// Its sums.
    pub sums: Sums,
}

fn ledger_row(r: &rusqlite::Row) -> rusqlite::Result<Ledger> {
    Ok(Ledger {
        exporter: r.get(0)?,
        rev: r.get(1)?,
        sent: r.get(2)?,
        started_ms: r.get(3)?,
        last_ok_ms: r.get(4)?,
        last_error: r.get(5)?,
        last_error_ms: r.get(6)?,
    })
}

const LEDGER_COLS: &str = "exporter, rev, sent, started_ms, last_ok_ms, last_error, last_error_ms";

/// `<hostname>` as a machine id part: letters, digits, `.`, `_`, `-`, at most 40 of them.
pub fn id_part(host: &str) -> String {
    let s: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let s = s.trim_start_matches(['.', '-']).to_string();
    if s.is_empty() {
        "machine".into()
    } else {
        s
    }
}

impl Store {
    /// This machine's id, set once: `configured` when the config names one, else the stored
    /// one, else `<hostname>-<6 random hex digits>` (the digits keep two machines with the same
    /// hostname apart). Fails on an id that is not a valid file name, or that another machine's
    /// imported requests already carry.
    pub fn ensure_local_machine(
        &self,
        configured: Option<&str>,
        hostname: &str,
    ) -> anyhow::Result<String> {
        let cur = self.local_machine()?;
        let want = match (configured, &cur) {
            (Some(c), _) => {
                if !valid_machine_id(c) {
                    anyhow::bail!(
                        "[machine] id = {c:?} in the config cannot be used: a machine id is 1 to 64 letters, digits, '.', '_' or '-' (it names this machine's file in the sync folder)"
                    );
                }
                c.to_string()
            }
            (None, Some(c)) => return Ok(c.clone()),
            (None, None) => {
                let hex: String =
                    self.conn
                        .query_row("SELECT lower(hex(randomblob(3)))", [], |r| r.get(0))?;
                format!("{}-{hex}", id_part(hostname))
            }
        };
        if cur.as_deref() == Some(want.as_str()) {
            return Ok(want);
        }
        let taken: bool = self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM machines WHERE name = ?1 AND id != 0)",
            [&want],
            |r| r.get(0),
        )?;
        if taken {
            anyhow::bail!(
                "the machine id {want:?} is already the id of another machine whose requests this database holds (from its export or sync file): set another [machine] id in the config"
            );
        }
        self.conn.execute(
            "INSERT INTO machines(id, name) VALUES(0, ?1) ON CONFLICT(id) DO UPDATE SET name = excluded.name",
            [&want],
        )?;
        Ok(want)
    }

    /// This machine's id, once a writer has set it.
    pub fn local_machine(&self) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT name FROM machines WHERE id = 0", [], |r| r.get(0))
            .optional()?)
    }

    /// Every machine whose requests are stored, with how many: this machine first.
    pub fn machines(&self) -> anyhow::Result<Vec<MachineCount>> {
        let mut st = self.conn.prepare(
            "SELECT coalesce(m.name, '(this machine)'), r.machine_id = 0, total(r.requests)
             FROM rollup r LEFT JOIN machines m ON m.id = r.machine_id
             GROUP BY r.machine_id ORDER BY r.machine_id != 0, 1",
        )?;
        let v = st
            .query_map([], |r| {
                Ok(MachineCount {
                    id: r.get(0)?,
                    this_machine: r.get(1)?,
                    requests: r.get::<_, f64>(2)? as i64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// The workspace with identity `key` (a request read from an export file), created when
    /// this machine does not know it; a known one keeps its local name and root.
    pub fn import_workspace(
        &self,
        key: &str,
        name: Option<&str>,
        remote: Option<&str>,
    ) -> anyhow::Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO workspaces(key, name, root, remote) VALUES(?1, ?2, NULL, ?3)
                 ON CONFLICT(key) DO NOTHING",
            )?
            .execute(params![key, name.unwrap_or(key), remote])?;
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM workspaces WHERE key = ?1")?
            .query_row([key], |r| r.get(0))?)
    }

    /// Streams stored requests as export records to `each`: those `f` selects, or (with
    /// `after`) this machine's own requests with a change number above it, in change order, at
    /// most `limit`. Returns how many were handed over.
    pub fn export_records(
        &self,
        f: &Filter,
        after: Option<i64>,
        limit: Option<i64>,
        each: &mut dyn FnMut(Record) -> anyhow::Result<()>,
    ) -> anyhow::Result<u64> {
        let mut args: Vec<Value> = Vec::new();
        let mut w = vec!["1".to_string()];
        if let Some(a) = after {
            args.push(Value::Integer(a));
            w.push(format!("e.machine_id = 0 AND e.rev > ?{}", args.len()));
        }
        if let Some(s) = f.since_ms {
            args.push(Value::Integer(s));
            w.push(format!("e.ts >= ?{}", args.len()));
        }
        if let Some(u) = f.until_ms {
            args.push(Value::Integer(u));
            w.push(format!("e.ts < ?{}", args.len()));
        }
        if let Some(t) = &f.tool {
            args.push(Value::Text(t.clone()));
            w.push(format!("e.tool = ?{}", args.len()));
        }
        if let Some(s) = &f.session {
            args.push(Value::Text(s.clone()));
            w.push(format!("e.session = ?{}", args.len()));
        }
        if let Some(repo) = &f.repo {
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
                machine_match(args.len())
            ));
        }
        let order = if after.is_some() {
            "ORDER BY e.machine_id, e.rev"
        } else {
            ""
        };
        let lim = match limit {
            Some(l) => format!("LIMIT {}", l.max(0)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT coalesce(m.name, ''), coalesce(e.rev, 0), e.key_hash, e.tool, e.ts, e.model,
                    e.provider, e.session, w.key, w.name, w.remote, e.branch, e.input, e.cw5,
                    e.cw1h, e.cr, e.output, e.reasoning, e.requests, e.cost, e.cost_source,
                    e.price_key, e.msg_id, e.sidechain, e.ctx
             FROM events e LEFT JOIN machines m ON m.id = e.machine_id
                  LEFT JOIN workspaces w ON w.id = e.workspace_id
             WHERE {} {order} {lim}",
            w.join(" AND ")
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut q = st.query(rusqlite::params_from_iter(args.iter()))?;
        let mut n = 0u64;
        while let Some(r) = q.next()? {
            let ts: i64 = r.get(4)?;
            let cost_source = CostSource::from_i64(r.get(20)?);
            let cost: Option<f64> = r.get(19)?;
            let rec = Record {
                v: VERSION,
                machine: r.get(0)?,
                rev: r.get(1)?,
                key: key_text(r.get(2)?),
                tool: r.get(3)?,
                ts,
                time: chrono::DateTime::from_timestamp_millis(ts)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default(),
                model: r.get(5)?,
                provider: r.get(6)?,
                session: r.get(7)?,
                repo: r.get(8)?,
                repo_name: r.get(9)?,
                repo_remote: r.get(10)?,
                branch: r.get(11)?,
                input: r.get(12)?,
                cache_write_5m: r.get(13)?,
                cache_write_1h: r.get(14)?,
                cache_read: r.get(15)?,
                output: r.get(16)?,
                reasoning: r.get(17)?,
                requests: r.get(18)?,
                // Unpriced is no cost at all, whatever a stored row says.
                cost_usd: if cost_source == CostSource::Unpriced {
                    None
                } else {
                    cost
                },
                cost_source: if cost.is_none() {
                    CostSource::Unpriced
                } else {
                    cost_source
                },
                price_key: r.get(21)?,
                msg_id: r.get(22)?,
                sidechain: r.get::<_, i64>(23)? != 0,
                ctx: r.get(24)?,
            };
            each(rec)?;
            n += 1;
        }
        Ok(n)
    }

    /// The ledger of `exporter`, created at 0 (nothing sent) the first time (writer only).
    pub fn ledger(&self, exporter: &str) -> anyhow::Result<Ledger> {
        self.conn
            .prepare_cached(
                "INSERT INTO sent_ledger(exporter, started_ms) VALUES(?1, ?2)
                 ON CONFLICT(exporter) DO NOTHING",
            )?
            .execute(params![exporter, now_ms()])?;
        Ok(self.ledger_read(exporter)?.unwrap_or_default())
    }

    /// The ledger of `exporter`, if it ever ran.
    pub fn ledger_read(&self, exporter: &str) -> anyhow::Result<Option<Ledger>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {LEDGER_COLS} FROM sent_ledger WHERE exporter = ?1"
            ))?
            .query_row([exporter], ledger_row)
            .optional()?)
    }

    /// Every exporter's ledger.
    pub fn ledgers(&self) -> anyhow::Result<Vec<Ledger>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {LEDGER_COLS} FROM sent_ledger ORDER BY exporter"
        ))?;
        let v = st.query_map([], ledger_row)?.collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Moves `exporter`'s mark to `rev` after `records` more were written or acknowledged
    /// (never backwards), and clears its last error.
    pub fn ledger_advance(&self, exporter: &str, rev: i64, records: i64) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE sent_ledger SET rev = max(rev, ?2), sent = sent + ?3, last_ok_ms = ?4,
                    last_error = NULL, last_error_ms = NULL
                 WHERE exporter = ?1",
            )?
            .execute(params![exporter, rev, records, now_ms()])?;
        Ok(())
    }

    /// Records why `exporter` could not send (shown by `doctor`/`status`).
    pub fn ledger_error(&self, exporter: &str, err: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE sent_ledger SET last_error = ?2, last_error_ms = ?3 WHERE exporter = ?1",
            )?
            .execute(params![exporter, err, now_ms()])?;
        Ok(())
    }

    /// This machine's requests with a change number above `after`: how many, and the oldest.
    pub fn backlog(&self, after: i64) -> anyhow::Result<Backlog> {
        Ok(self.conn.query_row(
            "SELECT count(*), min(ts) FROM events WHERE machine_id = 0 AND rev > ?1",
            [after],
            |r| {
                Ok(Backlog {
                    records: r.get(0)?,
                    oldest_ms: r.get(1)?,
                })
            },
        )?)
    }

    /// This machine's highest change number.
    pub fn last_rev(&self) -> anyhow::Result<i64> {
        Ok(super::prune::max_local_rev(&self.conn)?)
    }

    /// All-time sums of this machine's requests (`all_machines`: every machine's) per tool,
    /// model and provider, and per repository key and branch when asked: what the metrics
    /// exporters count.
    pub fn metric_totals(
        &self,
        by_repo: bool,
        by_branch: bool,
        all_machines: bool,
    ) -> anyhow::Result<Vec<MetricRow>> {
        let repo = if by_repo { "coalesce(w.key, '')" } else { "''" };
        let branch = if by_branch { "r.branch" } else { "''" };
        let wh = if all_machines {
            "1"
        } else {
            "r.machine_id = 0"
        };
        let sql = format!(
            "SELECT r.tool, r.model, r.provider, {repo}, {branch},
                    total(r.requests), total(r.input), total(r.cw5), total(r.cw1h), total(r.cr),
                    total(r.output), total(r.reasoning), total(r.cost), total(r.unpriced),
                    total(r.estimated), total(r.reported), max(m.name)
             FROM rollup r LEFT JOIN workspaces w ON w.id = r.workspace_id
                  LEFT JOIN machines m ON m.id = r.machine_id
             WHERE {wh} GROUP BY 1, 2, 3, 4, 5, r.machine_id ORDER BY 1, 2, 3, 4, 5, r.machine_id"
        );
        let mut st = self.conn.prepare(&sql)?;
        let v = st
            .query_map([], |r| {
                let g = |i: usize| -> rusqlite::Result<i64> { Ok(r.get::<_, f64>(i)? as i64) };
                let unpriced = g(13)?;
                Ok(MetricRow {
                    tool: r.get(0)?,
                    model: r.get(1)?,
                    provider: r.get(2)?,
                    repo: r.get(3)?,
                    branch: r.get(4)?,
                    machine: r.get(16)?,
                    sums: Sums {
                        requests: g(5)?,
                        input: g(6)?,
                        cache_write_5m: g(7)?,
                        cache_write_1h: g(8)?,
                        cache_read: g(9)?,
                        output: g(10)?,
                        reasoning: g(11)?,
                        cost_usd: r.get(12)?,
                        has_unpriced: unpriced > 0,
                        unpriced_requests: unpriced,
                        estimated_requests: g(14)?,
                        reported_requests: g(15)?,
                    },
                })
            })?
            .filter(|r| !matches!(r, Ok(m) if m.sums.requests == 0 && m.sums.total_tokens() == 0))
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// SQLite's count of commits by other connections: changes when the data may have.
    pub fn data_version(&self) -> anyhow::Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }
}

/// SQL that matches a `machines` row against `--machine` (parameter `?n`): its id, or the id
/// without the 6-digit suffix a default id carries (`laptop` for `laptop-3fa9c2`).
pub fn machine_match(n: usize) -> String {
    format!(
        "name = ?{n} OR (length(name) = length(?{n}) + 7 AND substr(name, 1, length(?{n}) + 1) = ?{n} || '-')"
    )
}
