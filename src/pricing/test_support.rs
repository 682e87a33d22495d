//! Helpers shared by the pricing unit tests.

use super::cost::{days_from_civil, MS_PER_DAY};
use super::Pricer;
use crate::event::{Merge, Tokens, UsageEvent};
use std::collections::BTreeMap;

pub(super) fn ms(y: i64, m: i64, d: i64) -> i64 {
    days_from_civil(y, m, d) * MS_PER_DAY + 12 * 3_600_000
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
