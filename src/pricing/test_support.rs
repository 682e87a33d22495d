//! Helpers shared by the pricing unit tests.

use super::cost::instant;
use super::Pricer;
use crate::event::{Merge, Tokens, UsageEvent};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::time::SystemTime;

pub(super) const MS_PER_DAY: i64 = 86_400_000;

/// Noon UTC on the given day, in epoch milliseconds.
pub(super) fn ms(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|day| day.and_hms_opt(12, 0, 0))
        .expect("a valid date")
        .and_utc()
        .timestamp_millis()
}

/// What the price data is asked with for an event at `ms`.
pub(super) fn ms_to_time(ms: i64) -> SystemTime {
    instant(ms).into()
}

pub(super) fn ev(model: &str, ts: i64, t: Tokens) -> UsageEvent {
    let mut e = UsageEvent::new("test", "k".into(), Merge::KeepMax, ts);
    e.model = Some(model.to_string());
    e.tokens = t;
    e
}

pub(super) fn toks(input: i64, cw5: i64, cw1h: i64, cr: i64, out: i64) -> Tokens {
    Tokens {
        input,
        cache_write_5m: cw5,
        cache_write_1h: cw1h,
        cache_read: cr,
        output: out,
        reasoning: 0,
    }
}

pub(super) fn pricer() -> Pricer {
    Pricer::new(BTreeMap::new())
}

pub(super) fn cost(p: &Pricer, e: &UsageEvent) -> f64 {
    p.price(e).cost_usd.expect("priced")
}

pub(super) fn key(p: &Pricer, model: &str) -> Option<String> {
    p.price(&ev(model, ms(2026, 6, 1), toks(1, 0, 0, 0, 1)))
        .price_key
}

/// Splits per-model totals into `n` requests (remainders go to the first).
pub(super) fn split(total: Tokens, n: i64) -> Vec<Tokens> {
    let part = |v: i64, i: i64| v / n + if i == 0 { v % n } else { 0 };
    (0..n)
        .map(|i| {
            toks(
                part(total.input, i),
                part(total.cache_write_5m, i),
                part(total.cache_write_1h, i),
                part(total.cache_read, i),
                part(total.output, i),
            )
        })
        .collect()
}
