//! What `tokwatch prices MODEL` knows about one model, as data ([`PriceInfo`]): today's rates
//! and tiers, the price history, the speed variants and notes on how buckets fall back.

use super::cost::{
    close, day_string, fast_multiplier, midnight, schedules_close, BucketRates, Ctx, DataEntry,
    Schedule, TIER_SEARCH_MAX,
};
use super::data::{catalog_info, data_source, OverrideEntry};
use super::{PriceInfo, PricePeriod, ResolutionKind, VariantInfo};
use chrono::{Days, NaiveDate};

/// A user override on UTC day `day`: flat rates, nothing else.
pub(super) fn override_info(
    o: &OverrideEntry,
    query: &str,
    provider: Option<&str>,
    day: NaiveDate,
) -> PriceInfo {
    let rates = o.rates.to_rates(0.0);
    PriceInfo {
        query: query.to_string(),
        query_provider: provider.map(str::to_string),
        resolution: ResolutionKind::Override,
        matched_as: o.key.clone(),
        provider_id: "override".to_string(),
        provider_name: None,
        model_id: o.key.clone(),
        model_name: None,
        context_window: None,
        price_key: format!("override/{}", o.key),
        as_of: day_string(day),
        rates,
        tiers: Vec::new(),
        periods: vec![PricePeriod {
            from: None,
            until: None,
            rates,
            tiers: Vec::new(),
        }],
        variants: Vec::new(),
        defaulted: o.defaulted.clone(),
        notes: vec![
            "user override: flat rates, no long-context tier, no date conditions, \
             no speed multiplier"
                .to_string(),
        ],
        data_source: "price override in config.toml".to_string(),
    }
}

/// An entry of the bundled data on UTC day `day`.
pub(super) fn entry_info(
    e: &DataEntry,
    query: &str,
    provider: Option<&str>,
    day: NaiveDate,
) -> PriceInfo {
    let (provider_name, model_name, context_window) = catalog_info(&e.provider_id, &e.model_id);
    let current = e.schedule(day, Ctx::Standard).unwrap_or_else(|| Schedule {
        base: BucketRates {
            input: f64::NAN,
            cache_read: f64::NAN,
            cache_write_5m: f64::NAN,
            cache_write_1h: f64::NAN,
            output: f64::NAN,
        },
        tiers: Vec::new(),
        per_request: 0.0,
    });
    let periods = periods(e, day);
    let mut variants = Vec::new();
    for ctx in [Ctx::Fast, Ctx::Priority, Ctx::Flex, Ctx::Batch] {
        if let Some(s) = e.schedule(day, ctx) {
            if !schedules_close(&s, &current) {
                variants.push(VariantInfo {
                    speed: ctx.name().to_string(),
                    rates: s.base.to_rates(s.per_request),
                    tiers: s.tier_infos(),
                });
            }
        }
    }
    let mut notes = Vec::new();
    let b = &current.base;
    if close(b.cache_write_5m, b.input) {
        notes.push(
            "no separate cache-write price in the data: cache writes are billed as input"
                .to_string(),
        );
    } else if close(b.cache_write_1h, b.cache_write_5m) {
        notes.push(
            "no separate 1h cache-write price in the data: billed at the cache-write rate"
                .to_string(),
        );
    }
    if close(b.cache_read, b.input) {
        notes.push(
            "no separate cache-read price in the data: cache reads are billed as input".to_string(),
        );
    }
    if !variants.iter().any(|v| v.speed == "fast") {
        notes.push(match fast_multiplier(&e.model_id) {
            Some(m) => format!(
                "no fast-mode price in the data: events with speed \"fast\" are estimated \
                 at {m}x the standard rate (the provider's fast-mode billing)"
            ),
            None => "no fast-mode price in the data and no known multiplier: events with \
                     speed \"fast\" are left unpriced"
                .to_string(),
        });
    }
    if e.time_of_day_sensitive(day) {
        notes.push(format!(
            "prices depend on the time of day (UTC); rates shown are for {} 00:00 UTC",
            day_string(day)
        ));
    }
    if e.implied_fast {
        notes.push("the name carries a -fast suffix: priced as speed \"fast\"".to_string());
    }
    PriceInfo {
        query: query.to_string(),
        query_provider: provider.map(str::to_string),
        resolution: e.kind,
        matched_as: e.name.clone(),
        provider_id: e.provider_id.clone(),
        provider_name,
        model_id: e.model_id.clone(),
        model_name,
        context_window,
        price_key: e.price_key.clone(),
        as_of: day_string(day),
        rates: current.base.to_rates(current.per_request),
        tiers: current.tier_infos(),
        periods,
        variants,
        defaulted: Vec::new(),
        notes,
        data_source: data_source(),
    }
}

/// Date-conditional price history, found by scanning UTC days from 2022 to two years past
/// `day` and comparing a fingerprint of the rates (two crate calls per day). Changes of a
/// middle tier that leave the base and top rates alone would not be seen.
fn periods(e: &DataEntry, day: NaiveDate) -> Vec<PricePeriod> {
    let start = NaiveDate::from_ymd_opt(2022, 1, 1).expect("a valid date");
    let end = day
        .checked_add_days(Days::new(730))
        .unwrap_or(NaiveDate::MAX);
    let fp = |d: NaiveDate| {
        let ts = midnight(d);
        (
            e.fingerprint(ts, Ctx::Standard, 1),
            e.fingerprint(ts, Ctx::Standard, TIER_SEARCH_MAX),
        )
    };
    let mut starts = vec![start];
    let mut prev = fp(start);
    for d in start.iter_days().skip(1).take_while(|d| *d <= end) {
        let cur = fp(d);
        let same = match (prev, cur) {
            ((Some(a), Some(b)), (Some(c), Some(d))) => close(a, c) && close(b, d),
            (a, b) => a == b,
        };
        if !same {
            starts.push(d);
        }
        prev = cur;
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let Some(sched) = e.schedule(s, Ctx::Standard) else {
            continue;
        };
        out.push(PricePeriod {
            from: (k > 0).then(|| day_string(s)),
            until: starts.get(k + 1).map(|n| day_string(*n - Days::new(1))),
            rates: sched.base.to_rates(sched.per_request),
            tiers: sched.tier_infos(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::pricing::render_price_info;
    use crate::pricing::test_support::*;

    #[test]
    fn describe_reports_tiers_and_history() {
        let p = pricer();
        let info = p
            .describe_at("claude-opus-4-6", Some("anthropic"), ms(2026, 2, 1))
            .unwrap();
        assert_eq!(info.price_key, "anthropic/claude-opus-4-6");
        assert_eq!(info.rates.input, 5.0);
        assert_eq!(info.rates.cache_write_1h, 10.0);
        assert_eq!(info.tiers.len(), 1);
        assert_eq!(info.tiers[0].above_prompt_tokens, 200_000);
        assert_eq!(info.tiers[0].rates.output, 37.5);
        let last = info.periods.last().unwrap();
        assert_eq!(last.from.as_deref(), Some("2026-03-13"));
        assert!(last.tiers.is_empty());
        assert_eq!(
            info.periods[info.periods.len() - 2].until.as_deref(),
            Some("2026-03-12")
        );
        let text = render_price_info(&info);
        assert!(text.contains("anthropic/claude-opus-4-6"), "{text}");
        assert!(text.contains("above 200,000 prompt tokens"), "{text}");
        assert!(text.contains("from 2026-03-13"), "{text}");
        assert!(
            info.data_source.starts_with("genai-prices 0."),
            "{}",
            info.data_source
        );
        serde_json::to_string(&info).unwrap();

        let g = p
            .describe_at("gpt-5.3-codex", None, ms(2026, 6, 1))
            .unwrap();
        assert_eq!(
            (g.rates.input, g.rates.cache_read, g.rates.output),
            (1.75, 0.175, 14.0)
        );
        assert!(g
            .notes
            .iter()
            .any(|n| n.contains("cache writes are billed as input")));
    }
}
