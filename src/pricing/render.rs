//! The text of `tokwatch prices MODEL` ([`render_price_info`]).

use super::{PriceInfo, Rates, ResolutionKind};
use crate::format;

/// Human-readable text for `tokwatch prices MODEL`.
pub fn render_price_info(info: &PriceInfo) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    // A `-fast` name is the model's fast mode (priced as speed "fast"), not the name as such.
    let fast = info.query.to_ascii_lowercase().ends_with("-fast");
    let kind = match info.resolution {
        ResolutionKind::Exact | ResolutionKind::Normalized if fast => {
            "fast mode of this model, priced as speed \"fast\""
        }
        ResolutionKind::Exact => "exact match",
        ResolutionKind::Normalized => "matched after normalising the name",
        ResolutionKind::Override => "user override",
    };
    let _ = writeln!(s, "{}  ->  {}  ({kind})", info.query, info.price_key);
    if info.matched_as != info.query {
        let _ = writeln!(s, "  matched as:   {}", info.matched_as);
    }
    if let Some(p) = &info.query_provider {
        let _ = writeln!(s, "  provider hint: {p}");
    }
    let provider = match &info.provider_name {
        Some(n) => format!("{n} ({})", info.provider_id),
        None => info.provider_id.clone(),
    };
    let _ = writeln!(s, "  provider:     {provider}");
    let model = match &info.model_name {
        Some(n) => format!("{} ({n})", info.model_id),
        None => info.model_id.clone(),
    };
    let _ = writeln!(s, "  model:        {model}");
    if let Some(cw) = info.context_window {
        let _ = writeln!(s, "  context:      {} tokens", count(cw));
    }
    let _ = writeln!(s, "  rates on {} (USD per million tokens):", info.as_of);
    let _ = writeln!(s, "    {}", rates_line(&info.rates));
    if info.tiers.is_empty() {
        let _ = writeln!(s, "  long context: no tier");
    }
    for t in &info.tiers {
        let _ = writeln!(
            s,
            "  long context: whole request above {} prompt tokens:\n    {}",
            count(t.above_prompt_tokens),
            rates_line(&t.rates)
        );
    }
    if info.periods.len() > 1 {
        let _ = writeln!(s, "  price history:");
        for p in &info.periods {
            let span = match (&p.from, &p.until) {
                (None, Some(u)) => format!("until {u}"),
                (Some(f), Some(u)) => format!("{f} to {u}"),
                (Some(f), None) => format!("from {f}"),
                (None, None) => "always".to_string(),
            };
            let _ = writeln!(s, "    {span}: {}", rates_line(&p.rates));
            for t in &p.tiers {
                let _ = writeln!(
                    s,
                    "      above {} prompt tokens: {}",
                    count(t.above_prompt_tokens),
                    rates_line(&t.rates)
                );
            }
        }
    }
    for v in &info.variants {
        let _ = writeln!(s, "  speed {}: {}", v.speed, rates_line(&v.rates));
        for t in &v.tiers {
            let _ = writeln!(
                s,
                "      above {} prompt tokens: {}",
                count(t.above_prompt_tokens),
                rates_line(&t.rates)
            );
        }
    }
    for d in &info.defaulted {
        let _ = writeln!(s, "  default:      {d}");
    }
    for n in &info.notes {
        let _ = writeln!(s, "  note:         {n}");
    }
    let _ = writeln!(s, "  source:       {}", info.data_source);
    s
}

/// The five rates on one line, and the per-request fee if there is one.
fn rates_line(r: &Rates) -> String {
    let mut s = format!(
        "input {}  output {}  cache read {}  cache write 5m {}  cache write 1h {}",
        num(r.input),
        num(r.output),
        num(r.cache_read),
        num(r.cache_write_5m),
        num(r.cache_write_1h)
    );
    if let Some(f) = r.per_request_usd {
        s.push_str(&format!("  per request ${}", num(f)));
    }
    s
}

/// A rate with up to six decimals and no trailing zeros: `3`, `0.175`.
fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A token count with thousands separators, `1,234,567` ([`format::int`]). Counts here are far
/// below `i64::MAX`; one above it is still grouped, not wrapped.
fn count(n: u64) -> String {
    match i64::try_from(n) {
        Ok(v) => format::int(v),
        Err(_) => format!("{},{:03}", format::int((n / 1000) as i64), n % 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text as the grouping helper this module had before [`format::int`].
    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (200_000, "200,000"),
            (272_000, "272,000"),
            (1_048_576, "1,048,576"),
            (100_000_000, "100,000,000"),
            (i64::MAX as u64, "9,223,372,036,854,775,807"),
            (i64::MAX as u64 + 1, "9,223,372,036,854,775,808"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(count(n), want);
        }
    }
}
