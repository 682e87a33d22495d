//! Re-pricing stored usage when the prices change (`tokwatch reprice`, and automatically when
//! the writer opens with prices other than the ones last applied): the user's overrides in
//! `config.toml`, the bundled price data, or tokwatch's own price resolution.
//!
//! One transaction: every request recorded on this machine whose cost was not reported by the
//! tool is priced again, in both directions (an unpriced model that gained a price is priced; a
//! removed override falls back to the data, or to unpriced), and the rollup moves with it. The
//! fingerprint of the prices and the time they were applied are stored with it (`meta`), so
//! reports can say when prices were last applied and `doctor` can see stale ones; a reader sees
//! the old prices or the new, never a mix. Inside it the requests are read, priced and written
//! [`REPRICE_CHUNK`] at a time in row-id order, each chunk's rollup cells moved with it, so
//! memory stays bounded whatever the history's size (holding every changed row first took
//! 5.9 GB at 10M requests).
//!
//! Requests stored before schema v5 do not know their logged speed (price variant): they are
//! priced again only where the price entry itself changes (a new or removed override, a model
//! that gained or lost a price), at the standard speed and marked *estimated*; where the entry
//! stays, their stored cost stays.

use super::{Rollup, Row, Store, ROW_COLS};
use crate::event::{CostSource, Tokens, UsageEvent};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// `meta` key of the fingerprint of the prices last applied.
const FINGERPRINT: &str = "prices_fingerprint";
/// `meta` key of when they were applied (epoch ms).
const APPLIED_MS: &str = "prices_applied_ms";

/// A cost as the pricer gives it: amount (`None` = unpriced), its source and the price entry.
pub type Price = (Option<f64>, CostSource, Option<String>);

/// What one re-pricing did.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct RepriceStats {
    /// Requests looked at (this machine's, cost not reported by the tool).
    pub requests: u64,
    /// Requests whose cost, source or price entry changed.
    pub changed: u64,
    /// Of those, unpriced before and priced now.
    pub newly_priced: u64,
    /// Of those, priced before and unpriced now.
    pub now_unpriced: u64,
    /// Total cost of the changed requests before, USD (their priced part).
    pub cost_before_usd: f64,
    /// The same requests' total cost now, USD.
    pub cost_after_usd: f64,
    /// Requests pruned (`[storage] keep_events_days`): their tokens are no longer stored one
    /// by one, so they keep the cost they were stored with.
    pub pruned_kept: u64,
}

/// The prices last applied to the stored usage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PricesApplied {
    /// Fingerprint of the prices (overrides, bundled data, tokwatch's version).
    pub fingerprint: String,
    /// When, epoch ms.
    pub at_ms: i64,
}

impl Store {
    /// The prices last applied to the stored usage; `None` on a database that never had them
    /// recorded (older tokwatch, or nothing stored yet).
    pub fn prices_applied(&self) -> anyhow::Result<Option<PricesApplied>> {
        let get = |k: &str| -> anyhow::Result<Option<String>> {
            Ok(self
                .conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .optional()?)
        };
        let (Some(f), Some(at)) = (get(FINGERPRINT)?, get(APPLIED_MS)?) else {
            return Ok(None);
        };
        Ok(Some(PricesApplied {
            fingerprint: f,
            at_ms: at.parse().unwrap_or(0),
        }))
    }

    /// Prices every request recorded here again with `price` (which gets each as a
    /// [`UsageEvent`] with its tool, model, provider, time, tokens, requests, speed and
    /// estimated flag), in one transaction, [`REPRICE_CHUNK`] requests at a time, and records
    /// `fingerprint` as applied now.
    pub fn reprice(
        &mut self,
        fingerprint: &str,
        price: &mut dyn FnMut(&UsageEvent) -> Price,
    ) -> anyhow::Result<RepriceStats> {
        self.reprice_in_chunks(fingerprint, price, REPRICE_CHUNK)
    }

    /// [`Store::reprice`], `chunk` requests at a time.
    fn reprice_in_chunks(
        &mut self,
        fingerprint: &str,
        price: &mut dyn FnMut(&UsageEvent) -> Price,
        chunk: usize,
    ) -> anyhow::Result<RepriceStats> {
        let mut stats = RepriceStats::default();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The last row id read, and this machine's highest change number so far.
        let mut after = i64::MIN;
        let mut rev = super::prune::max_local_rev(&tx)?;
        loop {
            // (row id, old row, new price) of every request of this chunk that changes; the
            // rows are read first and written after, so the read never sees its own updates.
            let mut changes: Vec<(i64, Row, Price)> = Vec::new();
            let mut read = 0usize;
            {
                // In row-id order, not by an index the updates move (`events_rev`).
                let mut st = tx.prepare_cached(&format!(
                    "SELECT {ROW_COLS}, price_key, speed, est, id FROM events NOT INDEXED
                     WHERE id > ?2 AND machine_id = 0 AND cost_source != ?1
                     ORDER BY id LIMIT ?3"
                ))?;
                let mut q =
                    st.query(params![CostSource::Reported.as_i64(), after, chunk as i64])?;
                while let Some(r) = q.next()? {
                    read += 1;
                    after = r.get(22)?;
                    let row = Row::read(r)?;
                    let old_key: Option<String> = r.get(19)?;
                    let speed: Option<String> = r.get(20)?;
                    let est: i64 = r.get(21)?;
                    stats.requests += 1;
                    let legacy = speed.as_deref() == Some("?");
                    let mut ev = UsageEvent::new(
                        &row.tool,
                        String::new(),
                        crate::event::Merge::LastWins,
                        row.ts,
                    );
                    ev.model = Some(row.model.clone()).filter(|m| !m.is_empty());
                    ev.provider = Some(row.provider.clone()).filter(|p| !p.is_empty());
                    ev.tokens = Tokens {
                        input: row.input,
                        cache_write_5m: row.cw5,
                        cache_write_1h: row.cw1h,
                        cache_read: row.cr,
                        output: row.output,
                        reasoning: row.reasoning,
                    };
                    ev.requests = row.requests;
                    ev.speed = if legacy { None } else { speed };
                    ev.estimated = est != 0;
                    let (mut cost, mut source, key) = price(&ev);
                    if legacy {
                        if key == old_key && row.cost.is_some() {
                            continue; // same entry: the stored cost knew the speed
                        }
                        if source == CostSource::Computed {
                            source = CostSource::Estimated;
                        }
                    }
                    if source == CostSource::Unpriced {
                        cost = None;
                    }
                    let same_cost = match (cost, row.cost) {
                        (Some(a), Some(b)) => {
                            (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
                        }
                        (None, None) => true,
                        _ => false,
                    };
                    if same_cost && source.as_i64() == row.cost_source && key == old_key {
                        continue;
                    }
                    changes.push((after, row, (cost, source, key)));
                }
            }
            let mut roll = Rollup::default();
            {
                let mut up = tx.prepare_cached(
                    "UPDATE events SET cost = ?2, cost_source = ?3, price_key = ?4, rev = ?5
                     WHERE id = ?1",
                )?;
                for (id, old, (cost, source, key)) in changes {
                    stats.changed += 1;
                    match (old.cost, cost) {
                        (None, Some(_)) => stats.newly_priced += 1,
                        (Some(_), None) => stats.now_unpriced += 1,
                        _ => {}
                    }
                    stats.cost_before_usd += old.cost.unwrap_or(0.0);
                    stats.cost_after_usd += cost.unwrap_or(0.0);
                    // A changed figure is a new state of the request: exporters send it again.
                    rev += 1;
                    up.execute(params![id, cost, source.as_i64(), key, rev])?;
                    let mut new = old.clone();
                    new.cost = cost;
                    new.cost_source = source.as_i64();
                    new.rev = rev;
                    roll.add(&old, -1);
                    roll.add(&new, 1);
                }
            }
            roll.write(&tx)?;
            if read < chunk {
                break;
            }
        }
        stats.pruned_kept = tx
            .query_row(
                "SELECT count(*) FROM pruned p JOIN pruned_cells c ON c.id = p.cell
                 WHERE c.machine_id = 0 AND p.cost_source != ?1",
                [CostSource::Reported.as_i64()],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0) as u64;
        let now = super::now_ms();
        {
            let mut meta = tx.prepare(
                "INSERT INTO meta(key, value) VALUES(?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            meta.execute(params![FINGERPRINT, fingerprint])?;
            meta.execute(params![APPLIED_MS, now.to_string()])?;
        }
        tx.commit()?;
        Ok(stats)
    }
}

/// Requests a re-pricing reads, prices and writes at a time (at most ~10 MB of changed rows
/// held).
pub const REPRICE_CHUNK: usize = 20_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Merge;
    use crate::store::{ReadCounts, StoredEvent};
    use crate::tailer::Checkpoint;

    /// A store of `n` requests over two models and three sessions, in batches of 7.
    fn filled(dir: &std::path::Path, n: usize) -> Store {
        let mut st = Store::open_writer(&dir.join("t.db")).unwrap();
        let evs: Vec<StoredEvent> = (0..n)
            .map(|k| {
                let mut ev = UsageEvent::new(
                    "codex",
                    format!("s{}:t{k}", k % 3),
                    Merge::LastWins,
                    1_790_000_000_000 + k as i64 * 61_000,
                );
                ev.model = Some(if k % 2 == 0 { "m-even" } else { "m-odd" }.into());
                ev.session_id = Some(format!("s{}", k % 3));
                ev.tokens.input = 1_000 + k as i64;
                ev.tokens.output = 10 + k as i64;
                ev.speed = Some("standard".into());
                StoredEvent {
                    ev,
                    workspace_id: None,
                    workspace_name: None,
                    cost_usd: Some(0.001 * k as f64),
                    cost_source: CostSource::Computed,
                    price_key: Some("old".into()),
                    updated: false,
                }
            })
            .collect();
        for (i, b) in evs.chunks(7).enumerate() {
            st.commit_batch(
                &format!("/f{i}"),
                "codex",
                &Checkpoint::default(),
                &ReadCounts::default(),
                b,
            )
            .unwrap();
        }
        st
    }

    /// New prices: `m-even` at a rate per token, `m-odd` unpriced.
    fn new_price(ev: &UsageEvent) -> Price {
        match ev.model.as_deref() {
            Some("m-even") => (
                Some(ev.tokens.input as f64 * 1e-6 + ev.tokens.output as f64 * 1e-5),
                CostSource::Computed,
                Some("new".into()),
            ),
            _ => (None, CostSource::Unpriced, None),
        }
    }

    /// Every stored row and rollup cell, for comparing two databases.
    fn contents(st: &Store) -> Vec<String> {
        let mut out = Vec::new();
        for q in [
            "SELECT key_hash, cost, cost_source, price_key, rev FROM events ORDER BY key_hash",
            "SELECT bucket, session, model, requests, unpriced, cost FROM rollup
             ORDER BY bucket, session, model",
            "SELECT hour, model, requests, unpriced, cost_nano FROM rollup_hour ORDER BY hour, model",
            "SELECT day, model, requests, unpriced, cost_nano FROM rollup_day ORDER BY day, model",
            "SELECT unit, off, t, requests, unpriced, cost_nano FROM rollup_time
             ORDER BY unit, off, t",
        ] {
            let mut s = st.conn.prepare(q).unwrap();
            let n = s.column_count();
            let rows = s
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            // Float sums differ in their last bits with the order of additions
                            // (`rollup.cost`; the billionths columns are exact).
                            r.get_ref(i).map(|v| match v {
                                rusqlite::types::ValueRef::Real(f) => {
                                    format!("{:.12}", (f * 1e12).round() / 1e12 + 0.0)
                                }
                                v => format!("{v:?}"),
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| v.join("|"))
                })
                .unwrap();
            out.extend(rows.map(Result::unwrap));
        }
        out
    }

    /// Chunks of 3 requests give the same rows, rollup cells and figures as one chunk; a
    /// re-pricing cut off after some chunks leaves every request and cell as it was and the
    /// prices not recorded as applied, and the next one does the whole of it.
    #[test]
    fn chunks_give_what_one_chunk_gives_and_a_cut_off_one_changes_nothing() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let n = 40;
        let mut one = filled(a.path(), n);
        let whole = one.reprice_in_chunks("fp", &mut new_price, 1_000).unwrap();
        let mut chunked = filled(b.path(), n);
        let parts = chunked.reprice_in_chunks("fp", &mut new_price, 3).unwrap();
        assert_eq!(whole.requests, n as u64);
        assert_eq!(whole.changed, n as u64);
        assert_eq!(whole.now_unpriced, n as u64 / 2);
        assert_eq!(parts, whole);
        assert_eq!(contents(&chunked), contents(&one));
        assert_eq!(chunked.prices_applied().unwrap().unwrap().fingerprint, "fp");

        // Cut off in its fifth chunk of 3: `price` fails the 13th request.
        let mut cut = filled(c.path(), n);
        let before = contents(&cut);
        let mut calls = 0;
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cut.reprice_in_chunks(
                "fp",
                &mut |ev| {
                    calls += 1;
                    assert!(calls <= 12, "cut off");
                    new_price(ev)
                },
                3,
            )
        }));
        assert!(failed.is_err());
        assert_eq!(cut.prices_applied().unwrap(), None);
        assert_eq!(contents(&cut), before, "four chunks done, none committed");
        let again = cut.reprice_in_chunks("fp", &mut new_price, 3).unwrap();
        assert_eq!(again, whole);
        assert_eq!(contents(&cut), contents(&one));
    }
}
