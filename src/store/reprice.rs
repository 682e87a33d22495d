//! Re-pricing stored usage when the prices change (`tokwatch reprice`, and automatically when
//! the writer opens with prices other than the ones last applied): the user's overrides in
//! `config.toml`, the bundled price data, or tokwatch's own price resolution.
//!
//! One transaction: every request recorded on this machine whose cost was not reported by the
//! tool is priced again, in both directions (an unpriced model that gained a price is priced; a
//! removed override falls back to the data, or to unpriced), and the rollup moves with it. The
//! fingerprint of the prices and the time they were applied are stored with it (`meta`), so
//! reports can say when prices were last applied and `doctor` can see stale ones.
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
    /// estimated flag), in one transaction, and records `fingerprint` as applied now.
    pub fn reprice(
        &mut self,
        fingerprint: &str,
        price: &mut dyn FnMut(&UsageEvent) -> Price,
    ) -> anyhow::Result<RepriceStats> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stats = RepriceStats::default();
        // (old row, new price) of every request that changes; the rows are read first and
        // written after, so the scan never sees its own updates.
        let mut changes: Vec<(Row, Price)> = Vec::new();
        {
            let mut st = tx.prepare(&format!(
                "SELECT {ROW_COLS}, price_key, speed, est FROM events
                 WHERE machine_id = 0 AND cost_source != ?1"
            ))?;
            let mut q = st.query([CostSource::Reported.as_i64()])?;
            while let Some(r) = q.next()? {
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
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
                    (None, None) => true,
                    _ => false,
                };
                if same_cost && source.as_i64() == row.cost_source && key == old_key {
                    continue;
                }
                changes.push((row, (cost, source, key)));
            }
        }
        let mut roll = Rollup::default();
        let mut rev: i64 = super::prune::max_local_rev(&tx)?;
        stats.pruned_kept = tx
            .query_row(
                "SELECT count(*) FROM pruned p JOIN pruned_cells c ON c.id = p.cell
                 WHERE c.machine_id = 0 AND p.cost_source != ?1",
                [CostSource::Reported.as_i64()],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0) as u64;
        {
            let mut up = tx.prepare(
                "UPDATE events SET cost = ?2, cost_source = ?3, price_key = ?4, rev = ?5
                 WHERE key_hash = ?1",
            )?;
            for (old, (cost, source, key)) in changes {
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
                up.execute(params![old.key_hash, cost, source.as_i64(), key, rev])?;
                let mut new = old.clone();
                new.cost = cost;
                new.cost_source = source.as_i64();
                new.rev = rev;
                roll.add(&old, -1);
                roll.add(&new, 1);
            }
        }
        roll.write(&tx)?;
        let now = super::now_ms();
        let mut meta = tx.prepare(
            "INSERT INTO meta(key, value) VALUES(?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?;
        meta.execute(params![FINGERPRINT, fingerprint])?;
        meta.execute(params![APPLIED_MS, now.to_string()])?;
        drop(meta);
        tx.commit()?;
        Ok(stats)
    }
}
