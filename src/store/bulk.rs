//! A first load: written without the two indexes on random keys, merged at its end.
//!
//! Into an empty database a catch-up drops `events_key` (the uniqueness of a request's
//! identity) and `events_msg_main` (main-chain message ids). Both are keyed by hashes, so each
//! insert lands on a random page of each; past a few hundred thousand requests they outgrow the
//! writer's page cache and nearly every insert read a page back and wrote one out (at 10 GB
//! of Claude Code logs, 4.8M of 6.9M `pwrite64` and 4.2M of 6.2M `pread64`: docs/benchmarks.md,
//! "A first load without the random indexes").
//!
//! Without them the batch writer cannot find a copy of a request that an earlier group stored,
//! nor a main-chain copy of a message an earlier group stored: it stores such copies as they
//! come (copies within a group are still merged as they come, by row id: `Written`), and every
//! row keeps its copy's merge rule (`events.rule`). [`Store::finish_bulk`] then, in one
//! transaction, reading the table in page order for each step and deleting nothing from an
//! index on random keys (both are built last):
//! 1. deletes every sidechain row whose message has a main-chain row of the same tool: what
//!    the writer does whichever copy comes first (a sidechain row stored before its main-chain
//!    copy was already deleted as that copy came: `events_msg_side` stays in step);
//! 2. applies the merge rules among the rows that share a key, in the order they were stored
//!    (row id = arrival order), as the writer would have applied them one copy at a time,
//!    keeping the winner and deleting the others;
//! 3. builds `events_msg_main` and `events_key` (unique), one sort each, so every later write
//!    is checked by them again;
//! 4. takes each deleted row out of the rollups.
//!
//! A load cut off (kill -9) leaves `events_key` missing: [`Store::open_writer`] finishes it
//! before anything else is written. Until then the rollups may count a copy twice (while a
//! daemon's first catch-up runs, `status` says "catching up"); the end result is the one the
//! row by row writer gives, row for row and cell for cell (tests/bulk_load.rs).

use super::{export, Connection, Rollup, Row, Store, ROW_COLS};
use crate::event::Merge;
use rusqlite::params;

/// The indexes a first load goes without (the definitions of schema version 10).
const MSG_MAIN: &str = "CREATE INDEX IF NOT EXISTS events_msg_main ON events(msg_id)
    WHERE sidechain = 0 AND msg_id IS NOT NULL";
const KEY: &str = "CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events(key_hash)";

impl Store {
    /// Whether `events_key` is missing: a first load is written or was cut off.
    pub(super) fn key_index_missing(conn: &Connection) -> anyhow::Result<bool> {
        Ok(conn.query_row(
            "SELECT NOT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'events_key')",
            [],
            |r| r.get(0),
        )?)
    }

    /// Starts a first load (the caller has checked that `events` is empty): drops the two
    /// indexes and, with them, the checks they make. Nothing when `pruned` holds rows (their
    /// merges read the stored rows).
    pub(super) fn start_bulk(&mut self) -> anyhow::Result<()> {
        let pruned: bool = self
            .conn
            .query_row("SELECT EXISTS(SELECT 1 FROM pruned)", [], |r| r.get(0))?;
        if pruned {
            return Ok(());
        }
        self.conn.execute_batch(
            "BEGIN IMMEDIATE; DROP INDEX IF EXISTS events_key;
             DROP INDEX IF EXISTS events_msg_main; COMMIT;",
        )?;
        self.bulk = true;
        Ok(())
    }

    /// Ends a first load (or one a kill cut off): merges the copies it stored apart and builds
    /// the indexes it went without, in a transaction of its own. An open catch-up group is
    /// committed first (a group boundary like any other: each file's checkpoint commits with
    /// its rows) and a new one begun after, so the end-of-load sorts can spill to a temporary
    /// file (SQLite cannot change that inside a transaction). Returns how many rows it
    /// deleted (copies that lost); nothing to do when no first load is open.
    pub fn finish_bulk(&mut self) -> anyhow::Result<u64> {
        if !self.bulk && !Store::key_index_missing(&self.conn)? {
            return Ok(0);
        }
        let regroup = self.group.is_some();
        if regroup {
            self.commit()?;
        }
        // The keys that have copies stay in a temporary table of their own (8 MB of cache).
        let removed = self.sorting(|conn| {
            conn.execute_batch("PRAGMA temp.cache_size = -8000; BEGIN IMMEDIATE")?;
            let done = (|| -> anyhow::Result<u64> {
                let mut roll = Rollup::default();
                let n = reconcile(conn, &mut roll)?;
                roll.write(conn)?;
                conn.execute_batch("COMMIT")?;
                Ok(n)
            })();
            if done.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            done
        })?;
        self.bulk = false;
        if regroup {
            self.begin()?;
        }
        Ok(removed)
    }
}

/// A stored row as the end-of-load merge reads it.
struct Copy {
    row: Row,
    id: i64,
    rule: Option<Merge>,
    ctx: bool,
}

/// Steps 1-3 of the module's list, in the open transaction `tx`; each deleted row is taken out
/// of `roll`. Returns how many rows were deleted. Every step reads the table once in the order
/// of its pages, and nothing is deleted from an index on random keys: both are built last.
fn reconcile(tx: &Connection, roll: &mut Rollup) -> anyhow::Result<u64> {
    // 1. Sidechain replays of a message stored on the main chain: the main-chain rows, in
    // table order, each look their message up among the (few) sidechain rows.
    let sidechain: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM events WHERE sidechain = 1 AND msg_id IS NOT NULL)",
        [],
        |r| r.get(0),
    )?;
    let mut gone: Vec<i64> = if !sidechain {
        Vec::new()
    } else {
        let mut q = tx.prepare(
            "SELECT s.id FROM events m JOIN events s INDEXED BY events_msg_side
               ON s.msg_id = m.msg_id AND s.sidechain = 1 AND s.tool = m.tool
             WHERE m.sidechain = 0 AND m.msg_id IS NOT NULL",
        )?;
        let ids = q.query_map([], |r| r.get(0))?;
        ids.collect::<Result<_, _>>()?
    };
    gone.sort_unstable();
    gone.dedup();
    {
        let mut row = tx.prepare(&format!("SELECT {ROW_COLS} FROM events WHERE id = ?1"))?;
        for id in &gone {
            roll.add(&row.query_row([id], Row::read)?, -1);
        }
    }
    delete(tx, &gone)?;
    let mut removed = gone.len() as u64;
    // 2. Copies of one request: the rule of each later copy decides against the one kept so
    // far, as `write_batch` decides against the stored row. The keys that have copies go to a
    // table of their own first (one sort of the keys), so that reading their rows is one pass.
    tx.execute_batch(
        "DROP TABLE IF EXISTS temp.bulk_copies;
         CREATE TEMP TABLE bulk_copies(key_hash INTEGER PRIMARY KEY);
         INSERT INTO bulk_copies
             SELECT key_hash FROM events GROUP BY key_hash HAVING count(*) > 1;",
    )?;
    let mut lose: Vec<i64> = Vec::new();
    let mut ctx_moves: Vec<(i64, i64)> = Vec::new();
    {
        let mut q = tx.prepare(&format!(
            "SELECT {ROW_COLS}, id, rule, ctx IS NOT NULL FROM events
             WHERE key_hash IN (SELECT key_hash FROM temp.bulk_copies)
             ORDER BY key_hash, id"
        ))?;
        let mut rows = q.query([])?;
        // The copy kept so far for the current key, and the row whose context split it has.
        let mut kept: Option<(Copy, Option<i64>)> = None;
        let settle = |kept: Option<(Copy, Option<i64>)>, moves: &mut Vec<(i64, i64)>| {
            if let Some((k, Some(c))) = kept {
                if c != k.id {
                    moves.push((k.id, c));
                }
            }
        };
        while let Some(r) = rows.next()? {
            let c = Copy {
                row: Row::read(r)?,
                id: r.get(19)?,
                rule: r.get::<_, Option<i64>>(20)?.and_then(Merge::from_i64),
                ctx: r.get(21)?,
            };
            let (old, mut ctx_from) = match kept.take() {
                Some((k, from)) if k.row.key_hash == c.row.key_hash => (k, from),
                other => {
                    settle(other, &mut ctx_moves);
                    let from = c.ctx.then_some(c.id);
                    kept = Some((c, from));
                    continue;
                }
            };
            let replace = {
                let (old, new) = (&old.row, &c.row);
                if old.machine_id != new.machine_id {
                    export::cross_replaces(tx, old, new)?
                } else if new.machine_id != 0 {
                    new.rev > old.rev && !old.same_as(new)
                } else {
                    // A row of an older schema keeps no rule: the stored copy stays.
                    old.values() != new.values()
                        && c.rule.is_some_and(|rule| {
                            rule.replaces_at(
                                &old.tokens(),
                                (old.ts, &old.session),
                                &new.tokens(),
                                (new.ts, &new.session),
                            )
                        })
                }
            };
            let (keep, loser) = if replace {
                if c.ctx {
                    ctx_from = Some(c.id);
                }
                (c, old)
            } else {
                if c.ctx && ctx_from.is_none() {
                    ctx_from = Some(c.id);
                }
                (old, c)
            };
            roll.add(&loser.row, -1);
            lose.push(loser.id);
            kept = Some((keep, ctx_from));
        }
        settle(kept, &mut ctx_moves);
    }
    tx.execute_batch("DROP TABLE temp.bulk_copies")?;
    {
        let mut mv = tx.prepare(
            "UPDATE events SET ctx = (SELECT ctx FROM events WHERE id = ?2) WHERE id = ?1",
        )?;
        for (to, from) in &ctx_moves {
            mv.execute(params![to, from])?;
        }
    }
    lose.sort_unstable();
    delete(tx, &lose)?;
    removed += lose.len() as u64;
    // 3. Both indexes, one sort each: every later write is checked by them again.
    tx.execute_batch(MSG_MAIN)?;
    tx.execute_batch(KEY)?;
    Ok(removed)
}

/// Deletes the rows `ids` (ascending: the table's pages in order).
fn delete(tx: &Connection, ids: &[i64]) -> anyhow::Result<()> {
    let mut del = tx.prepare("DELETE FROM events WHERE id = ?1")?;
    for id in ids {
        del.execute([id])?;
    }
    Ok(())
}
