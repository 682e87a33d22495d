//! Raw-event retention: requests older than `[storage] keep_events_days` leave `events` for a
//! compact identity row in `pruned` (`schema_v6.sql`), so every later copy of them (a resumed
//! session's copied lines, a fork's replayed history, a file read again from the start, a
//! bigger streaming snapshot) still merges exactly, and the rollup, which reports read, is
//! never touched. What is lost is the per-request detail of pruned days: the session page's
//! timeline, `export`, `whatif`, re-pricing and the exact first/last time of a session
//! (`docs/design.md`, "Retention").

use super::{Row, Store, ROW_COLS};
use crate::dedup;
use rusqlite::{params, Connection, OptionalExtension};

/// Requests moved per transaction: each commit stays short, so a daemon writing beside a
/// `tokwatch prune` never waits long.
const CHUNK: i64 = 20_000;

/// The `meta` key of the latest prune's cutoff (ms): requests before it may be pruned.
const BEFORE: &str = "pruned_before_ms";
/// The `meta` key of this machine's highest change number among pruned requests: numbering
/// goes on above it even when every stored request of this machine was pruned.
const MAX_REV: &str = "pruned_max_rev";

/// What a prune did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneStats {
    /// Requests older than the cutoff still stored in full before the prune.
    pub older: u64,
    /// Of those, the requests moved to identity rows.
    pub pruned: u64,
    /// Of those, the requests kept in full because a turned-on exporter (sync file, OTLP) has
    /// not sent them yet.
    pub held_for_exporters: u64,
    /// The cutoff, ms: requests before it were pruned.
    pub before_ms: i64,
}

/// (tool, repository, branch, model, session, provider, machine): a `pruned_cells` row.
type CellKey = (String, i64, String, String, String, String, i64);

/// The stored-row columns of a pruned request, in [`ROW_COLS`]' order.
const PRUNED_COLS: &str = "p.key_hash, p.ts, c.tool, c.workspace_id, c.branch, c.model, \
    c.session, p.input, p.cw5, p.cw1h, p.cr, p.output, p.reasoning, p.requests, p.cost, \
    p.cost_source, c.provider, c.machine_id, p.rev";

/// Whether any request is pruned (the writer looks in `pruned` only then).
pub(super) fn any(tx: &Connection) -> anyhow::Result<bool> {
    Ok(tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM pruned)")?
        .query_row([], |r| r.get(0))?)
}

/// The pruned request with identity `h`, as the stored row it was.
pub(super) fn lookup(tx: &Connection, h: i64) -> anyhow::Result<Option<Row>> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {PRUNED_COLS} FROM pruned p JOIN pruned_cells c ON c.id = p.cell
             WHERE p.key_hash = ?1"
        ))?
        .query_row([h], Row::read)
        .optional()?)
}

/// Forgets the identity row of `h` (a copy that replaces it is stored in full again).
pub(super) fn forget(tx: &Connection, h: i64) -> anyhow::Result<()> {
    tx.prepare_cached("DELETE FROM pruned WHERE key_hash = ?1")?
        .execute([h])?;
    Ok(())
}

/// Records a newer change number of the same copy (as `export::set_rev` does for `events`).
pub(super) fn set_rev(tx: &Connection, h: i64, rev: i64) -> anyhow::Result<()> {
    tx.prepare_cached("UPDATE pruned SET rev = ?2 WHERE key_hash = ?1")?
        .execute(params![h, rev])?;
    Ok(())
}

/// The stored form of a message id: a hash of the tool and the id.
pub(super) fn msg_hash(tool: &str, msg_id: &str) -> i64 {
    dedup::key_hash(tool, msg_id)
}

/// Whether a main-chain copy of message `msg_id` of `tool` was pruned.
pub(super) fn main_pruned(tx: &Connection, tool: &str, msg_id: &str) -> anyhow::Result<bool> {
    Ok(tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM pruned WHERE msg = ?1 AND side = 0)")?
        .query_row([msg_hash(tool, msg_id)], |r| r.get(0))?)
}

/// Takes the pruned sidechain records of message `msg_id` of `tool` out (a main-chain copy
/// arrived): returns them, for the rollup to subtract.
pub(super) fn take_side(tx: &Connection, tool: &str, msg_id: &str) -> anyhow::Result<Vec<Row>> {
    let m = msg_hash(tool, msg_id);
    let rows: Vec<Row> = tx
        .prepare_cached(&format!(
            "SELECT {PRUNED_COLS} FROM pruned p JOIN pruned_cells c ON c.id = p.cell
             WHERE p.msg = ?1 AND p.side = 1"
        ))?
        .query_map([m], Row::read)?
        .collect::<Result<_, _>>()?;
    if !rows.is_empty() {
        tx.prepare_cached("DELETE FROM pruned WHERE msg = ?1 AND side = 1")?
            .execute([m])?;
    }
    Ok(rows)
}

/// This machine's highest change number, pruned requests included.
pub(super) fn max_local_rev(tx: &Connection) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "SELECT max(coalesce((SELECT max(rev) FROM events WHERE machine_id = 0), 0),
                    coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1), 0))",
    )?
    .query_row([MAX_REV], |r| r.get(0))
}

impl Store {
    /// Moves the requests recorded before `before_ms` from `events` to identity rows, in
    /// transactions of `CHUNK` requests. A request of this machine that an exporter turned
    /// on (its ledger named in `ledgers`) has not sent yet stays in full until it is sent.
    /// `dry`: only counts. The rollup is not touched: every total stays the same.
    pub fn prune(
        &self,
        before_ms: i64,
        ledgers: &[String],
        dry: bool,
    ) -> anyhow::Result<PruneStats> {
        // The lowest mark among the exporters that are on (one without a ledger yet has sent
        // nothing): this machine's requests above it are kept.
        let mut hold = i64::MAX;
        for l in ledgers {
            let rev: Option<i64> = self
                .conn
                .prepare_cached("SELECT rev FROM sent_ledger WHERE exporter = ?1")?
                .query_row([l], |r| r.get(0))
                .optional()?;
            hold = hold.min(rev.unwrap_or(0));
        }
        let (older, held): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(machine_id = 0 AND coalesce(rev, 0) > ?2), 0)
             FROM events WHERE ts < ?1",
            params![before_ms, hold],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut stats = PruneStats {
            older: older as u64,
            pruned: (older - held) as u64,
            held_for_exporters: held as u64,
            before_ms,
        };
        if dry || stats.pruned == 0 {
            return Ok(stats);
        }
        let mut moved = 0u64;
        let mut last_id = i64::MIN;
        loop {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            let r = self.prune_chunk(&mut last_id, before_ms, hold);
            match r {
                Ok(_) => self.conn.execute_batch("COMMIT")?,
                Err(_) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
            }
            let n = r?;
            moved += n as u64;
            if n < CHUNK {
                break;
            }
        }
        stats.pruned = moved;
        Ok(stats)
    }

    fn prune_chunk(&self, last_id: &mut i64, before_ms: i64, hold: i64) -> anyhow::Result<i64> {
        let tx = &self.conn;
        {
            let mut n = 0i64;
            let mut max_rev = 0i64;
            {
                let mut pick = tx.prepare_cached(&format!(
                    "SELECT {ROW_COLS}, id, msg_id, sidechain FROM events
                     WHERE id > ?1 AND ts < ?2 AND (machine_id != 0 OR coalesce(rev, 0) <= ?3)
                     ORDER BY id LIMIT ?4"
                ))?;
                let mut cell_id = tx.prepare_cached(
                    "SELECT id FROM pruned_cells WHERE tool = ?1 AND workspace_id = ?2
                       AND branch = ?3 AND model = ?4 AND session = ?5 AND provider = ?6
                       AND machine_id = ?7",
                )?;
                let mut new_cell = tx.prepare_cached(
                    "INSERT INTO pruned_cells(tool, workspace_id, branch, model, session,
                        provider, machine_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                let mut put = tx.prepare_cached(
                    "INSERT INTO pruned(key_hash, cell, ts, input, cw5, cw1h, cr, output,
                        reasoning, requests, cost, cost_source, rev, msg, side)
                     VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?;
                let mut del = tx.prepare_cached("DELETE FROM events WHERE id = ?1")?;
                let mut cells: std::collections::HashMap<CellKey, i64> = Default::default();
                let mut q = pick.query(params![*last_id, before_ms, hold, CHUNK])?;
                while let Some(r) = q.next()? {
                    let row = Row::read(r)?;
                    let id: i64 = r.get(19)?;
                    let msg_id: Option<String> = r.get(20)?;
                    let side: i64 = r.get(21)?;
                    *last_id = id;
                    n += 1;
                    let key = (
                        row.tool.clone(),
                        row.workspace_id,
                        row.branch.clone(),
                        row.model.clone(),
                        row.session.clone(),
                        row.provider.clone(),
                        row.machine_id,
                    );
                    let cell = match cells.get(&key) {
                        Some(c) => *c,
                        None => {
                            let p = params![key.0, key.1, key.2, key.3, key.4, key.5, key.6];
                            let c = match cell_id.query_row(p, |r| r.get(0)).optional()? {
                                Some(c) => c,
                                None => {
                                    new_cell.execute(p)?;
                                    tx.last_insert_rowid()
                                }
                            };
                            cells.insert(key, c);
                            c
                        }
                    };
                    if row.machine_id == 0 {
                        max_rev = max_rev.max(row.rev);
                    }
                    put.execute(params![
                        row.key_hash,
                        cell,
                        row.ts,
                        row.input,
                        row.cw5,
                        row.cw1h,
                        row.cr,
                        row.output,
                        row.reasoning,
                        row.requests,
                        row.cost,
                        row.cost_source,
                        row.rev,
                        msg_id.as_deref().map(|m| msg_hash(&row.tool, m)),
                        side,
                    ])?;
                    del.execute([id])?;
                }
            }
            if n > 0 {
                let upd = |k: &str, v: i64| {
                    tx.execute(
                        "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE
                         SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                        params![k, v.to_string()],
                    )
                };
                upd(MAX_REV, max_rev)?;
                upd(BEFORE, before_ms)?;
            }
            Ok(n)
        }
    }

    /// Rebuilds the file without its free pages (SQLite VACUUM): the space a prune freed goes
    /// back to the disk. Needs the database to itself for as long as it copies.
    pub fn vacuum(&self) -> anyhow::Result<()> {
        self.conn.execute_batch("VACUUM")?;
        Ok(())
    }

    /// The cutoff of the latest prune (ms): requests before it may be pruned. `None` when
    /// nothing was ever pruned.
    pub fn pruned_before(&self) -> anyhow::Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
            .query_row([BEFORE], |r| r.get(0))
            .optional()?)
    }

    /// How many requests are pruned (identity rows only).
    pub fn pruned_requests(&self) -> anyhow::Result<i64> {
        // A database of a schema before retention has none.
        Ok(self
            .conn
            .query_row("SELECT coalesce(sum(requests), 0) FROM pruned", [], |r| {
                r.get(0)
            })
            .unwrap_or(0))
    }

    /// Requests of `session` in the rollup but no longer stored in full (pruned).
    pub fn session_pruned_requests(&self, session: &str) -> anyhow::Result<i64> {
        if self.pruned_before()?.is_none() {
            return Ok(0);
        }
        let (rolled, full): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT coalesce(sum(requests), 0) FROM rollup WHERE session = ?1),
                    (SELECT coalesce(sum(requests), 0) FROM events WHERE session = ?1)",
            [session],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((rolled - full).max(0))
    }

    /// Requests in `[since, until)` (ms) that are in the totals but pruned: the per-request
    /// views (export, whatif) say so rather than show smaller figures. 0 when nothing before
    /// `since` could be pruned.
    pub fn pruned_in(&self, since_ms: Option<i64>, until_ms: Option<i64>) -> anyhow::Result<i64> {
        let Some(before) = self.pruned_before()? else {
            return Ok(0);
        };
        if since_ms.is_some_and(|s| s >= before) {
            return Ok(0);
        }
        Ok(self.conn.query_row(
            "SELECT count(*) FROM pruned WHERE ts >= ?1 AND ts < ?2",
            params![since_ms.unwrap_or(i64::MIN), until_ms.unwrap_or(i64::MAX)],
            |r| r.get(0),
        )?)
    }
}
