//! `tokwatch report ... --as MODEL`: the same tokens priced at another model's rates, row by
//! row, so routing work to a cheaper (or better) model can be weighed. And the forecast footer
//! of reports that reach up to now.

use crate::event::{Merge, UsageEvent};
use crate::format::usd;
use crate::pricing::Pricer;
use crate::status::forecast::{forecast, Forecast};
use crate::store::budget::{Period, ScopeQuery};
use crate::store::query::{Filter, GroupBy, Report, Zone};
use crate::store::whatif::EventRow;
use crate::store::Store;
use anyhow::bail;
use chrono::Datelike;
use serde::Serialize;
use std::collections::HashMap;

/// One row priced both ways.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AsRow {
    /// The report row's key.
    pub key: String,
    /// What it cost (priced usage only, as in the report).
    pub cost_usd: f64,
    /// The row holds unpriced usage (its cost is a lower bound).
    pub has_unpriced: bool,
    /// The same tokens at the other model's rates.
    pub as_cost_usd: f64,
}

/// The "what it would have cost" part of a report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AsReport {
    /// The model priced at.
    pub model: String,
    /// Its price entry.
    pub price_key: String,
    /// Totals: what it cost, and what it would have cost.
    pub totals: AsRow,
    /// Per report row, in the report's order.
    pub rows: Vec<AsRow>,
}

fn key_of(by: GroupBy, e: &EventRow, zone: Zone) -> String {
    let none = |v: &Option<String>, d: &str| match v.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => d.to_string(),
    };
    match by {
        GroupBy::Day => zone.date(e.ts_ms).format("%Y-%m-%d").to_string(),
        GroupBy::Week => {
            let w = zone.date(e.ts_ms).iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        GroupBy::Month => zone.date(e.ts_ms).format("%Y-%m").to_string(),
        GroupBy::Session => none(&e.session, "(no session)"),
        GroupBy::Repo => none(&e.repo, "(no repository)"),
        GroupBy::Branch => format!(
            "{}@{}",
            none(&e.repo, "(no repository)"),
            none(&e.branch, "(no branch)")
        ),
        GroupBy::Model => none(&e.model, "(unknown)"),
        GroupBy::Tool => e.tool.clone(),
        GroupBy::Provider => none(&e.provider, "(unknown)"),
        GroupBy::Machine => none(&e.machine, "(this machine)"),
    }
}

/// Prices every request of the report's range at `model`'s rates (per request, so long-context
/// tiers and the price in force on each request's day apply).
pub fn as_report(
    store: &Store,
    pricer: &Pricer,
    by: GroupBy,
    filter: &Filter,
    zone: Zone,
    report: &Report,
    model: &str,
) -> anyhow::Result<AsReport> {
    let Some(info) = pricer.describe(model, None) else {
        bail!("no price is known for {model:?}: `tokwatch prices {model}` explains; a price can be set under [prices.\"{model}\"] in the config");
    };
    // Pruned requests have no tokens of their own any more: pricing the range without them
    // would show a smaller what-if than the real figure it is compared with.
    let pruned = store.pruned_in(filter.since_ms, filter.until_ms)?;
    if pruned > 0 {
        let before = store.pruned_before()?.unwrap_or_default();
        bail!(
            "{} of this range (before {}) were pruned ([storage] keep_events_days): their totals are kept but not their tokens one by one, so they cannot be priced again; choose a range from {} on (`--since`)",
            crate::format::count(pruned, "request", "requests"),
            zone.datetime(before),
            zone.datetime(before)
        );
    }
    let mut sums: HashMap<String, f64> = HashMap::new();
    let mut total = 0.0;
    store.for_each_event(filter, &mut |e| {
        let mut ev = UsageEvent::new("whatif", String::new(), Merge::LastWins, e.ts_ms);
        ev.model = Some(model.to_string());
        ev.tokens = e.tokens;
        ev.requests = e.requests;
        let c = pricer.price(&ev).cost_usd.unwrap_or(0.0);
        *sums.entry(key_of(by, e, zone)).or_default() += c;
        total += c;
    })?;
    let round = |v: f64| (v * 1e6).round() / 1e6;
    let rows = report
        .rows
        .iter()
        .map(|r| AsRow {
            key: r.key.clone(),
            cost_usd: r.sums.cost_usd,
            has_unpriced: r.sums.has_unpriced,
            as_cost_usd: round(sums.get(&r.key).copied().unwrap_or(0.0)),
        })
        .collect();
    Ok(AsReport {
        model: model.to_string(),
        price_key: info.price_key,
        totals: AsRow {
            key: "(total)".into(),
            cost_usd: report.totals.cost_usd,
            has_unpriced: report.totals.has_unpriced,
            as_cost_usd: round(total),
        },
        rows,
    })
}

fn change(a: f64, b: f64) -> String {
    let d = b - a;
    let sign = if d < 0.0 { "-" } else { "+" };
    if a > 0.0 {
        format!(
            "{sign}{} ({sign}{:.0}%)",
            usd(d.abs()),
            (d.abs() / a) * 100.0
        )
    } else {
        format!("{sign}{}", usd(d.abs()))
    }
}

/// The "what it would have cost" table.
pub fn as_text(a: &AsReport, key_title: &str) -> String {
    let head = [
        key_title.to_string(),
        "cost".into(),
        format!("as {}", a.model),
        "difference".into(),
    ];
    let mut rows: Vec<[String; 4]> = vec![head];
    for r in a.rows.iter().chain(std::iter::once(&a.totals)) {
        rows.push([
            r.key.clone(),
            crate::format::usd_marked(r.cost_usd, r.has_unpriced),
            usd(r.as_cost_usd),
            change(r.cost_usd, r.as_cost_usd),
        ]);
    }
    let w: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "What it would have cost as {} ({}), the same tokens at its rates:\n",
        a.model, a.price_key
    );
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(w[i] - c.chars().count());
                if i == 0 {
                    format!("{c}{pad}")
                } else {
                    format!("{pad}{c}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if a.totals.has_unpriced {
        out.push_str("Costs marked + leave out usage without a known price; the other model's figure prices every token.\n");
    }
    out
}

/// End-of-day, -week and -month forecasts of the report's scope (its `--repo`/`--tool`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportForecast {
    /// Today.
    pub day: Forecast,
    /// This week.
    pub week: Forecast,
    /// This month.
    pub month: Forecast,
}

/// The forecasts for the report's filter, in its zone (weeks from `week_start`).
pub fn report_forecast(
    store: &Store,
    filter: &Filter,
    zone: Zone,
    week_start: chrono::Weekday,
    now_ms: i64,
) -> anyhow::Result<ReportForecast> {
    let q = ScopeQuery {
        tool: filter.tool.as_deref(),
        repo: filter.repo.as_deref(),
        model: None,
    };
    let one = |p: Period| -> anyhow::Result<Forecast> {
        let (start, end) = p.bounds(zone, week_start, now_ms);
        let spent = store.scope_cost(&q, start, end)?;
        forecast(store, &q, p, spent.usd, now_ms, end)
    };
    Ok(ReportForecast {
        day: one(Period::Day)?,
        week: one(Period::Week)?,
        month: one(Period::Month)?,
    })
}

/// `Forecast at the recent rate: today $8.10 ($6.00–$10.20) · this week ... · this month ...`.
pub fn forecast_text(f: &ReportForecast) -> String {
    let one = |name: &str, x: &Forecast| {
        format!(
            "{name} {} ({}–{})",
            usd(x.mid_usd),
            usd(x.low_usd),
            usd(x.high_usd)
        )
    };
    format!(
        "Forecast at the recent rate: {} · {} · {}\n",
        one("today", &f.day),
        one("this week", &f.week),
        one("this month", &f.month)
    )
}
