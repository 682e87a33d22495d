//! End-of-period spend projected from the recent rate, with a low/high band. The formula is in
//! `docs/budgets.md` ("Forecast"); in short:
//!
//! ```text
//! rate  = spend in the window / length of the window            (the recent rate)
//! s     = time-weighted standard deviation of the slot rates around `rate`
//! mid   = spent + rate × remaining
//! low   = spent + max(0, rate − s) × remaining
//! high  = spent + (rate + s) × remaining
//! ```
//!
//! The window is the last 12 quarter-hours for a day (one slot each) and the last 7 × 24 hours
//! for a week or a month (one slot per 24 hours); the newest slot ends now, so it is partial.

use crate::store::budget::{Period, ScopeQuery};
use crate::store::query::BUCKET_MS;
use crate::store::Store;
use serde::Serialize;

/// Projected spend at the end of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Forecast {
    /// Low end of the band.
    pub low_usd: f64,
    /// The projection at the recent rate.
    pub mid_usd: f64,
    /// High end of the band.
    pub high_usd: f64,
    /// The recent rate, USD per hour.
    #[serde(skip)]
    pub usd_per_hour: f64,
}

const HOUR_MS: f64 = 3_600_000.0;

/// Slots of the window: (15-minute buckets per slot, number of slots).
pub fn window(p: Period) -> (i64, usize) {
    match p {
        Period::Day => (1, 12),
        Period::Week | Period::Month => (96, 7),
    }
}

/// The projection for `spent` so far, at `now_ms`, of a period ending at `end_ms`, from the
/// window's slots `(length ms, cost USD)`.
pub fn project(spent: f64, now_ms: i64, end_ms: i64, slots: &[(i64, f64)]) -> Forecast {
    let remaining_h = (end_ms - now_ms).max(0) as f64 / HOUR_MS;
    let total_ms: i64 = slots.iter().map(|s| s.0.max(0)).sum();
    if total_ms <= 0 {
        return Forecast {
            low_usd: spent,
            mid_usd: spent,
            high_usd: spent,
            usd_per_hour: 0.0,
        };
    }
    let total_h = total_ms as f64 / HOUR_MS;
    let rate = slots.iter().map(|s| s.1).sum::<f64>() / total_h;
    let var = slots
        .iter()
        .filter(|s| s.0 > 0)
        .map(|(ms, c)| {
            let h = *ms as f64 / HOUR_MS;
            h * (c / h - rate).powi(2)
        })
        .sum::<f64>()
        / total_h;
    let sd = var.sqrt();
    let round = |v: f64| (v * 1e6).round() / 1e6;
    Forecast {
        low_usd: round(spent + (rate - sd).max(0.0) * remaining_h),
        mid_usd: round(spent + rate * remaining_h),
        high_usd: round(spent + (rate + sd) * remaining_h),
        usd_per_hour: rate,
    }
}

/// The window's slots for a period at `now_ms`, newest first: `(length ms, cost)`.
pub fn slots(
    store: &Store,
    q: &ScopeQuery,
    p: Period,
    now_ms: i64,
) -> anyhow::Result<Vec<(i64, f64)>> {
    let (per_slot, n) = window(p);
    let cur = now_ms.div_euclid(BUCKET_MS);
    let first = cur - per_slot * n as i64 + 1;
    let mut out: Vec<(i64, f64)> = (0..n)
        .map(|j| {
            let ms = if j == 0 {
                (per_slot - 1) * BUCKET_MS + (now_ms - cur * BUCKET_MS)
            } else {
                per_slot * BUCKET_MS
            };
            (ms, 0.0)
        })
        .collect();
    for (b, c) in store.scope_bucket_costs(q, first, cur)? {
        let j = ((cur - b) / per_slot) as usize;
        if let Some(s) = out.get_mut(j) {
            s.1 += c;
        }
    }
    Ok(out)
}

/// The forecast of a scope's spend for the period `p` that ends at `end_ms`.
pub fn forecast(
    store: &Store,
    q: &ScopeQuery,
    p: Period,
    spent: f64,
    now_ms: i64,
    end_ms: i64,
) -> anyhow::Result<Forecast> {
    Ok(project(spent, now_ms, end_ms, &slots(store, q, p, now_ms)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn steady_spend_has_no_band() {
        // $1 in each of four 1-hour slots: $1/h, no spread; 10 hours left on $5 spent.
        let slots = [(H, 1.0), (H, 1.0), (H, 1.0), (H, 1.0)];
        let f = project(5.0, 0, 10 * H, &slots);
        assert_eq!((f.low_usd, f.mid_usd, f.high_usd), (15.0, 15.0, 15.0));
        assert_eq!(f.usd_per_hour, 1.0);
    }

    #[test]
    fn uneven_spend_by_hand() {
        // Two 1-hour slots with $0 and $4: rate $2/h; deviations ±2 with equal weight: s = 2.
        // 3 hours left on $1 spent: mid 1 + 2×3 = 7, low 1 + 0×3 = 1, high 1 + 4×3 = 13.
        let f = project(1.0, 0, 3 * H, &[(H, 0.0), (H, 4.0)]);
        assert_eq!((f.low_usd, f.mid_usd, f.high_usd), (1.0, 7.0, 13.0));
        // A half-hour slot with $1 ($2/h) and a 1.5-hour slot with $0: rate 1/2 = $0.50/h;
        // variance (0.5 × 1.5² + 1.5 × 0.5²) / 2 = 0.75, s = 0.866...; 2 hours left on $0.
        let f = project(0.0, 0, 2 * H, &[(H / 2, 1.0), (3 * H / 2, 0.0)]);
        assert_eq!(f.mid_usd, 1.0);
        let s = 0.75f64.sqrt();
        assert!((f.high_usd - (0.5 + s) * 2.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.low_usd, 0.0);
    }

    #[test]
    fn nothing_recent_or_nothing_left() {
        let f = project(3.0, 0, 5 * H, &[(H, 0.0), (H, 0.0)]);
        assert_eq!((f.low_usd, f.mid_usd, f.high_usd), (3.0, 3.0, 3.0));
        let f = project(3.0, 5 * H, 5 * H, &[(H, 4.0)]);
        assert_eq!((f.low_usd, f.mid_usd, f.high_usd), (3.0, 3.0, 3.0));
        let f = project(3.0, 0, 5 * H, &[]);
        assert_eq!(f.mid_usd, 3.0);
    }
}
