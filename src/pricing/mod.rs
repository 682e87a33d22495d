//! Prices for usage events: genai-prices data offline, user overrides on top.
//!
//! # Where prices come from
//!
//! Rates, long-context tiers and date-conditional prices come from the data bundled in the
//! `genai-prices` crate (pydantic/genai-prices, MIT). Nothing is ever fetched: the crate makes no
//! network requests and we never load a remote feed. User overrides ([`PriceOverride`], from
//! `config.toml`) win over the data.
//!
//! # Cost of one event
//!
//! Token buckets of a [`UsageEvent`] are disjoint, so the cost is
//!
//! ```text
//! input·in + cache_read·cr + cache_write_5m·cw5 + cache_write_1h·cw1h + output·out
//! ```
//!
//! at USD per million tokens, plus a per-request fee where the data has one (none for the big
//! providers). genai-prices' own `input_tokens` is the *total* input (cache reads and writes
//! included), so when we ask the crate anything we pass `input_tokens = Tokens::prompt_total()`
//! and the cache buckets as its sub-units.
//!
//! A rate the data does not give for a bucket falls back the way the crate does: to the parent
//! unit's rate (e.g. OpenAI models without a cache-write price bill cache writes as input, models
//! without a 1h price bill 1h writes at the generic cache-write rate). Never to $0.
//!
//! Long-context tiers are a cliff decided per request: when the request's prompt total
//! (`input + cache writes + cache reads`) is above a tier's threshold, *every* bucket of that
//! request is billed at the tier's rates. An event that stands for several requests
//! (`requests > 1`) is judged by its average prompt per request. Date-conditional prices are
//! chosen by the event's timestamp (`timestamp_ms`, UTC). An event with a negative token count
//! (a parser bug) is left unpriced.
//!
//! # Speed / service tier
//!
//! `UsageEvent.speed` selects a genai-prices price variant: `fast`, `priority` and `flex` as
//! `service_tier`, `batch` as `processing`. Where the data has no fast variant (Anthropic fast
//! mode, billed ×2–×6, is not in genai-prices 0.2) the provider's documented multiplier
//! ([`FAST_MULTIPLIERS`]) is applied to the standard rate and the cost is marked estimated; a
//! model without a known multiplier is unpriced rather than under-priced. [`PriceInfo`] lists the
//! variants the data does have.
//!
//! # Model names
//!
//! Names are resolved deterministically before the crate's matcher sees them (see
//! [`normalize_model`]): provider/router prefixes (`anthropic/`, `openrouter/openai/`,
//! `us.anthropic.`), `@default`/`@2025…` suffixes, `[1m]`, `(high)`, effort suffixes (`-high`,
//! `-thinking`, `-fast`, …), Bedrock `-v1:0`, trailing dates and `4.5`↔`4-5`. Every match the crate
//! returns is then checked so that it never crosses family or version (`claude-opus-4-7` never
//! prices as 4-6, `gpt-5.3-codex` never as a `mini`): version numbers must be equal and size words
//! (`mini`, `nano`, `pro`, `lite`, `flash`, `haiku`, `sonnet`, `opus`, …) must agree. A name that
//! does not resolve, and `<synthetic>`, is unpriced: cost `None`, never $0.
//!
//! # Speed of `price`
//!
//! The crate's matcher and calculator cost a few µs per call. [`Pricer`] resolves each
//! (model, provider) once, then recovers the effective per-bucket rates of that model for each
//! UTC day (prices only change at midnight UTC) by asking the crate a handful of probe questions,
//! and caches them. After warm-up a call is a hash lookup and five multiplications. Models whose
//! prices depend on the time of day (DeepSeek off-peak) are detected and priced by the crate per
//! event instead. The test `matches_crate_directly` checks the cached path against the crate.

use crate::event::{CostSource, Tokens, UsageEvent};
use genai_prices::{Calculator, PriceCalculation, PriceRequest, Usage, UsageKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// User price override from the config file, in USD per million tokens.
/// `[prices."model-name"]` in `config.toml`.
///
/// The key is matched against event models after the same normalisation as the price data
/// ([`normalize_model`]), so `claude-opus-4.6`, `anthropic/claude-opus-4-6` and
/// `claude-opus-4-6[1m]` all hit an override keyed `claude-opus-4-6`.
///
/// Missing cache rates default to the usual provider ratios:
/// `cache_read = input × 0.1`, `cache_write_5m = input × 1.25`, `cache_write_1h = input × 2`.
/// An override with a negative or non-finite rate is ignored (see [`Pricer::warnings`]).
/// Overrides are flat: no long-context tier, no date conditions, no speed multiplier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: Option<f64>,
    #[serde(default)]
    pub cache_write_5m: Option<f64>,
    #[serde(default)]
    pub cache_write_1h: Option<f64>,
}

/// The price of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    /// `None` when unpriced: never a made-up $0.
    pub cost_usd: Option<f64>,
    pub source: CostSource,
    /// The price entry the model resolved to: `<provider>/<model id>` for the bundled data
    /// (e.g. `anthropic/claude-opus-4-6`) or `override/<config key>` for a user override.
    pub price_key: Option<String>,
}

/// Rates of one price entry, USD per million tokens. These are the *effective* rates tokwatch
/// charges for each of our disjoint buckets (a bucket without its own price in the data shows the
/// rate it falls back to).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    /// A fee per request in USD, when the data has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_request_usd: Option<f64>,
}

/// A long-context tier: when a request's prompt total is above `above_prompt_tokens`, the whole
/// request is billed at `rates`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierInfo {
    pub above_prompt_tokens: u64,
    pub rates: Rates,
}

/// Prices in force over a range of UTC days (`from`/`until` inclusive, `YYYY-MM-DD`; `None` means
/// open-ended).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricePeriod {
    pub from: Option<String>,
    pub until: Option<String>,
    pub rates: Rates,
    pub tiers: Vec<TierInfo>,
}

/// Prices for a `speed` value that differ from the standard ones on the `as_of` day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantInfo {
    pub speed: String,
    pub rates: Rates,
    pub tiers: Vec<TierInfo>,
}

/// How a model name found its price entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    /// The name as given matched the data.
    Exact,
    /// The name matched after [`normalize_model`] (prefix, suffix, date or separator changes).
    Normalized,
    /// A user override from the config.
    Override,
}

/// Everything tokwatch knows about the price of one model: backs `tokwatch prices MODEL`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceInfo {
    /// The model name asked about.
    pub query: String,
    /// The provider hint given with it.
    pub query_provider: Option<String>,
    pub resolution: ResolutionKind,
    /// The name handed to the data's matcher (after normalisation), or the override key.
    pub matched_as: String,
    pub provider_id: String,
    pub provider_name: Option<String>,
    pub model_id: String,
    pub model_name: Option<String>,
    pub context_window: Option<u64>,
    /// Same as [`Priced::price_key`].
    pub price_key: String,
    /// The UTC day `rates`, `tiers` and `variants` are for.
    pub as_of: String,
    pub rates: Rates,
    pub tiers: Vec<TierInfo>,
    /// Price history found in the data (date-conditional prices), oldest first. One entry when
    /// prices never changed.
    pub periods: Vec<PricePeriod>,
    pub variants: Vec<VariantInfo>,
    /// Override fields that were filled with defaults.
    pub defaulted: Vec<String>,
    pub notes: Vec<String>,
    pub data_source: String,
}

/// Speed / service tier context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ctx {
    Standard,
    Fast,
    Priority,
    Flex,
    Batch,
}

impl Ctx {
    fn parse(s: Option<&str>) -> Ctx {
        match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("fast") => Ctx::Fast,
            Some("priority") => Ctx::Priority,
            Some("flex") => Ctx::Flex,
            Some("batch") => Ctx::Batch,
            _ => Ctx::Standard,
        }
    }
    fn pair(self) -> Option<(&'static str, &'static str)> {
        match self {
            Ctx::Standard => None,
            Ctx::Fast => Some(("service_tier", "fast")),
            Ctx::Priority => Some(("service_tier", "priority")),
            Ctx::Flex => Some(("service_tier", "flex")),
            Ctx::Batch => Some(("processing", "batch")),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Ctx::Standard => "standard",
            Ctx::Fast => "fast",
            Ctx::Priority => "priority",
            Ctx::Flex => "flex",
            Ctx::Batch => "batch",
        }
    }
}

/// Fast-mode billing multipliers for models whose fast mode the price data does not carry
/// (`../shared/docs/pricing-notes.md`: Anthropic bills Opus 4.6/4.7 fast mode at 6x and 4.8/5 at
/// 2x; OpenAI's fast tier is 2x to 2.5x), keyed by the resolved model id.
const FAST_MULTIPLIERS: &[(&str, f64)] = &[
    ("claude-opus-4-6", 6.0),
    ("claude-opus-4-7", 6.0),
    ("claude-opus-4-8", 2.0),
    ("claude-opus-5", 2.0),
    ("gpt-5.5", 2.5),
    ("gpt-5.4", 2.0),
    ("gpt-5.3-codex", 2.0),
];

fn fast_multiplier(model_id: &str) -> Option<f64> {
    FAST_MULTIPLIERS
        .iter()
        .find(|(m, _)| *m == model_id)
        .map(|(_, f)| *f)
}

/// Effective rates of our five buckets, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BucketRates {
    input: f64,
    cache_read: f64,
    cache_write_5m: f64,
    cache_write_1h: f64,
    output: f64,
}

impl BucketRates {
    /// Cost of `t` at these rates, without any per-request fee.
    fn cost(&self, t: &Tokens) -> f64 {
        (t.input as f64 * self.input
            + t.cache_read as f64 * self.cache_read
            + t.cache_write_5m as f64 * self.cache_write_5m
            + t.cache_write_1h as f64 * self.cache_write_1h
            + t.output as f64 * self.output)
            / 1e6
    }
    fn to_rates(self, per_request: f64) -> Rates {
        Rates {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write_5m: self.cache_write_5m,
            cache_write_1h: self.cache_write_1h,
            per_request_usd: (per_request != 0.0).then_some(per_request),
        }
    }
}

/// Rates of one entry on one UTC day for one speed context.
#[derive(Debug, Clone, PartialEq)]
struct Schedule {
    base: BucketRates,
    /// Sorted by threshold: tier `(t, r)` applies when the prompt total is above `t`.
    tiers: Vec<(u64, BucketRates)>,
    per_request: f64,
}

impl Schedule {
    fn rates_for(&self, prompt_per_request: f64) -> &BucketRates {
        self.tiers
            .iter()
            .rev()
            .find(|(t, _)| prompt_per_request > *t as f64)
            .map_or(&self.base, |(_, r)| r)
    }
    fn cost(&self, t: &Tokens, requests: i64) -> f64 {
        let n = requests.max(1);
        let prompt = t.prompt_total() as f64 / n as f64;
        self.rates_for(prompt).cost(t) + self.per_request * n as f64
    }
    fn tier_infos(&self) -> Vec<TierInfo> {
        self.tiers
            .iter()
            .map(|(t, r)| TierInfo {
                above_prompt_tokens: *t,
                rates: r.to_rates(self.per_request),
            })
            .collect()
    }
}

/// A resolved entry of the bundled data.
struct DataEntry {
    /// The name given to the crate (one of the normalisation candidates).
    name: String,
    /// The provider the crate selected; passing it back reproduces the same match.
    provider_id: String,
    model_id: String,
    price_key: String,
    kind: ResolutionKind,
    /// The name carried a `-fast` suffix.
    implied_fast: bool,
    /// Prices depend on the time of day: price every event through the crate.
    time_of_day: Option<bool>,
    schedules: HashMap<(i64, Ctx), Option<Schedule>>,
}

struct OverrideEntry {
    key: String,
    rates: BucketRates,
    defaulted: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Resolved {
    Unpriced,
    Override(usize),
    Data(usize),
}

struct Inner {
    /// model as logged -> [(provider hint, resolution)]
    by_model: HashMap<String, Vec<(Option<String>, Resolved)>>,
    entries: Vec<DataEntry>,
}

/// Prices [`UsageEvent`]s. Cheap after warm-up; `Send + Sync` (the cache sits behind a mutex).
pub struct Pricer {
    overrides: Vec<OverrideEntry>,
    /// override key, lowercased -> index
    override_exact: HashMap<String, usize>,
    /// canonical name -> index
    override_canon: HashMap<String, usize>,
    warnings: Vec<String>,
    inner: Mutex<Inner>,
}

const MS_PER_DAY: i64 = 86_400_000;
/// Upper end of the search for long-context thresholds, in prompt tokens.
const TIER_SEARCH_MAX: u64 = 100_000_000;

impl Pricer {
    pub fn new(overrides: BTreeMap<String, PriceOverride>) -> Pricer {
        let mut list = Vec::new();
        let mut exact = HashMap::new();
        let mut canon = HashMap::new();
        let mut warnings = Vec::new();
        for (key, o) in overrides {
            let given = [
                Some(o.input),
                Some(o.output),
                o.cache_read,
                o.cache_write_5m,
                o.cache_write_1h,
            ];
            if given.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
                warnings.push(format!(
                    "price override for {key:?} ignored: rates must be finite and not negative"
                ));
                continue;
            }
            let mut defaulted = Vec::new();
            let mut pick = |v: Option<f64>, name: &str, factor: f64| {
                v.unwrap_or_else(|| {
                    defaulted.push(format!("{name} = input × {factor}"));
                    o.input * factor
                })
            };
            let rates = BucketRates {
                input: o.input,
                output: o.output,
                cache_read: pick(o.cache_read, "cache_read", 0.1),
                cache_write_5m: pick(o.cache_write_5m, "cache_write_5m", 1.25),
                cache_write_1h: pick(o.cache_write_1h, "cache_write_1h", 2.0),
            };
            let idx = list.len();
            exact.entry(key.trim().to_ascii_lowercase()).or_insert(idx);
            canon.entry(canonical_name(&key)).or_insert(idx);
            list.push(OverrideEntry {
                key,
                rates,
                defaulted,
            });
        }
        // Loading the bundled price data takes tens of milliseconds; do it beside the log
        // readers instead of before them (the first price lookup waits for it if need be).
        let _ = std::thread::Builder::new()
            .name("tokwatch-prices".into())
            .spawn(|| {
                let _ = Calculator::bundled();
                // The parse's temporaries sit in this thread's own malloc arena: give them back.
                #[cfg(all(target_os = "linux", target_env = "gnu"))]
                unsafe {
                    libc::malloc_trim(0);
                }
            });
        Pricer {
            overrides: list,
            override_exact: exact,
            override_canon: canon,
            warnings,
            inner: Mutex::new(Inner {
                by_model: HashMap::new(),
                entries: Vec::new(),
            }),
        }
    }

    fn calc(&self) -> &'static Calculator {
        Calculator::bundled()
    }

    /// Problems with the configuration (ignored overrides). Never contains log text.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn price(&self, ev: &UsageEvent) -> Priced {
        let reported = ev.reported_cost_usd.filter(|c| c.is_finite());
        let Some(model) = ev.model.as_deref() else {
            return match reported {
                Some(c) => Priced {
                    cost_usd: Some(c),
                    source: CostSource::Reported,
                    price_key: None,
                },
                None => unpriced(),
            };
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let res = self.resolve_cached(&mut inner, model, ev.provider.as_deref());
        let t = &ev.tokens;
        // Counts are never negative; if a parser bug made one so, do not guess a price.
        let sane = [
            t.input,
            t.cache_read,
            t.cache_write_5m,
            t.cache_write_1h,
            t.output,
        ]
        .iter()
        .all(|v| *v >= 0);
        let res = if sane || reported.is_some() {
            res
        } else {
            Resolved::Unpriced
        };
        // `approx`: the figure leans on a multiplier of ours, not on the price data.
        let (key, cost, approx) = match res {
            Resolved::Unpriced => (None, None, false),
            Resolved::Override(i) => {
                let o = &self.overrides[i];
                (
                    Some(format!("override/{}", o.key)),
                    Some(o.rates.cost(&ev.tokens)),
                    false,
                )
            }
            Resolved::Data(i) => {
                let cost = if reported.is_some() {
                    None
                } else {
                    self.data_cost(&mut inner.entries[i], ev)
                };
                (
                    Some(inner.entries[i].price_key.clone()),
                    cost.map(|c| c.0),
                    cost.is_some_and(|c| c.1),
                )
            }
        };
        drop(inner);
        if let Some(c) = reported {
            return Priced {
                cost_usd: Some(c),
                source: CostSource::Reported,
                price_key: key,
            };
        }
        match cost {
            Some(c) => Priced {
                cost_usd: Some(c),
                source: if ev.estimated || approx {
                    CostSource::Estimated
                } else {
                    CostSource::Computed
                },
                price_key: key,
            },
            None => unpriced(),
        }
    }

    /// What tokwatch would charge for `model` today (UTC), and why. `None` when unpriced.
    pub fn describe(&self, model: &str, provider: Option<&str>) -> Option<PriceInfo> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.describe_at(model, provider, now_ms)
    }

    /// [`Pricer::describe`] for the UTC day containing `at_ms` (epoch milliseconds).
    pub fn describe_at(
        &self,
        model: &str,
        provider: Option<&str>,
        at_ms: i64,
    ) -> Option<PriceInfo> {
        let day = at_ms.div_euclid(MS_PER_DAY);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match self.resolve_cached(&mut inner, model, provider) {
            Resolved::Unpriced => None,
            Resolved::Override(i) => {
                let o = &self.overrides[i];
                let rates = o.rates.to_rates(0.0);
                Some(PriceInfo {
                    query: model.to_string(),
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
                })
            }
            Resolved::Data(i) => {
                let e = &inner.entries[i];
                Some(self.describe_entry(e, model, provider, day))
            }
        }
    }

    fn describe_entry(
        &self,
        e: &DataEntry,
        query: &str,
        provider: Option<&str>,
        day: i64,
    ) -> PriceInfo {
        let (provider_name, model_name, context_window) = self.catalog_info(e);
        let current = self
            .schedule(e, day, Ctx::Standard)
            .unwrap_or_else(|| Schedule {
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
        let periods = self.periods(e, day);
        let mut variants = Vec::new();
        for ctx in [Ctx::Fast, Ctx::Priority, Ctx::Flex, Ctx::Batch] {
            if let Some(s) = self.schedule(e, day, ctx) {
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
                "no separate cache-read price in the data: cache reads are billed as input"
                    .to_string(),
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
        if self.time_of_day_sensitive(e, day) {
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

    fn catalog_info(&self, e: &DataEntry) -> (Option<String>, Option<String>, Option<u64>) {
        let Ok(Some(p)) = self.calc().find_provider(Some(&e.provider_id), None) else {
            return (None, None, None);
        };
        let m = p.models().find(|m| m.id() == e.model_id);
        (
            Some(p.name().to_string()),
            m.and_then(|m| m.name().map(str::to_string)),
            m.and_then(|m| m.context_window()),
        )
    }

    /// Date-conditional price history, found by scanning UTC days from 2022 to two years past
    /// `day` and comparing a fingerprint of the rates (two crate calls per day). Changes of a
    /// middle tier that leave the base and top rates alone would not be seen.
    fn periods(&self, e: &DataEntry, day: i64) -> Vec<PricePeriod> {
        let start = days_from_civil(2022, 1, 1);
        let end = day + 730;
        let fp = |d: i64| {
            let ts = day_start(d);
            (
                self.fingerprint(e, ts, Ctx::Standard, 1),
                self.fingerprint(e, ts, Ctx::Standard, TIER_SEARCH_MAX),
            )
        };
        let mut starts = vec![start];
        let mut prev = fp(start);
        for d in start + 1..=end {
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
            let Some(sched) = self.schedule(e, s, Ctx::Standard) else {
                continue;
            };
            out.push(PricePeriod {
                from: (k > 0).then(|| day_string(s)),
                until: starts.get(k + 1).map(|n| day_string(n - 1)),
                rates: sched.base.to_rates(sched.per_request),
                tiers: sched.tier_infos(),
            });
        }
        out
    }

    // ---- resolution ------------------------------------------------------------------------

    fn resolve_cached(&self, inner: &mut Inner, model: &str, provider: Option<&str>) -> Resolved {
        if let Some(list) = inner.by_model.get(model) {
            if let Some((_, r)) = list.iter().find(|(p, _)| p.as_deref() == provider) {
                return *r;
            }
        }
        let r = self.resolve(inner, model, provider);
        inner
            .by_model
            .entry(model.to_string())
            .or_default()
            .push((provider.map(str::to_string), r));
        r
    }

    fn resolve(&self, inner: &mut Inner, model: &str, provider: Option<&str>) -> Resolved {
        let lower = model.trim().to_ascii_lowercase();
        if lower.is_empty() || lower.starts_with('<') {
            // `<synthetic>` and other placeholders.
            return Resolved::Unpriced;
        }
        if let Some(&i) = self.override_exact.get(&lower) {
            return Resolved::Override(i);
        }
        if let Some(&i) = self.override_canon.get(&canonical_name(&lower)) {
            return Resolved::Override(i);
        }
        let (cands, implied_fast) = candidates(&lower);
        let hint = provider
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .filter(|p| matches!(self.calc().find_provider(Some(p), None), Ok(Some(_))));
        let empty = Usage::new();
        let mut attempts: Vec<(usize, Option<&str>)> = Vec::new();
        if let Some(h) = hint.as_deref() {
            attempts.extend((0..cands.len()).map(|i| (i, Some(h))));
        }
        attempts.extend((0..cands.len()).map(|i| (i, None)));
        for (ci, prov) in attempts {
            let name = &cands[ci];
            let mut req = PriceRequest::new(name, &empty);
            if let Some(p) = prov {
                req = req.with_provider_id(p);
            }
            let Ok(found) = self.calc().calculate(&req) else {
                continue;
            };
            if !same_model_family(name, &found.model_id) {
                continue;
            }
            let idx = inner.entries.len();
            inner.entries.push(DataEntry {
                name: name.clone(),
                price_key: format!("{}/{}", found.provider_id, found.model_id),
                provider_id: found.provider_id,
                model_id: found.model_id,
                kind: if ci == 0 {
                    ResolutionKind::Exact
                } else {
                    ResolutionKind::Normalized
                },
                implied_fast,
                time_of_day: None,
                schedules: HashMap::new(),
            });
            return Resolved::Data(idx);
        }
        Resolved::Unpriced
    }

    // ---- pricing through the crate ---------------------------------------------------------

    /// The event's cost from the price data, and whether it is an estimate (a fast-mode
    /// multiplier of ours applied to the standard rate). `None`: unpriced.
    fn data_cost(&self, e: &mut DataEntry, ev: &UsageEvent) -> Option<(f64, bool)> {
        let mut ctx = Ctx::parse(ev.speed.as_deref());
        if ctx == Ctx::Standard && e.implied_fast && ev.speed.is_none() {
            ctx = Ctx::Fast;
        }
        let day = ev.timestamp_ms.div_euclid(MS_PER_DAY);
        // Fast mode the data does not price (Anthropic's): the provider's documented multiplier
        // on the standard rate, marked estimated; with no known multiplier, unpriced rather
        // than a standard-rate figure that would be several times too low.
        let mut factor = 1.0;
        if ctx == Ctx::Fast && !self.has_variant(e, day, Ctx::Fast) {
            factor = fast_multiplier(&e.model_id)?;
            ctx = Ctx::Standard;
        }
        let approx = factor != 1.0;
        if e.time_of_day.is_none() {
            e.time_of_day = Some(self.time_of_day_sensitive(e, day));
        }
        if e.time_of_day == Some(true) {
            return self.direct_cost(e, ev, ctx).map(|c| (c * factor, approx));
        }
        self.cached_schedule(e, day, ctx)
            .as_ref()
            .map(|s| (s.cost(&ev.tokens, ev.requests) * factor, approx))
    }

    /// `schedule`, remembered per (day, speed) in the entry.
    fn cached_schedule<'e>(
        &self,
        e: &'e mut DataEntry,
        day: i64,
        ctx: Ctx,
    ) -> &'e Option<Schedule> {
        if !e.schedules.contains_key(&(day, ctx)) {
            let s = self.schedule(e, day, ctx);
            e.schedules.insert((day, ctx), s);
        }
        &e.schedules[&(day, ctx)]
    }

    /// True when the data prices `ctx` differently from the standard rate on `day`.
    fn has_variant(&self, e: &mut DataEntry, day: i64, ctx: Ctx) -> bool {
        let Some(v) = self.cached_schedule(e, day, ctx).clone() else {
            return false;
        };
        match self.cached_schedule(e, day, Ctx::Standard) {
            Some(std) => !schedules_close(&v, std),
            None => true,
        }
    }

    /// Slow path: one crate calculation for the event (time-of-day priced models).
    fn direct_cost(&self, e: &DataEntry, ev: &UsageEvent, ctx: Ctx) -> Option<f64> {
        let t = &ev.tokens;
        let n = ev.requests.max(1) as f64;
        // Per request, so the tier is judged on one request's prompt.
        let usage = usage_of(
            t.prompt_total() as f64 / n,
            t.cache_read as f64 / n,
            t.cache_write_5m as f64 / n,
            t.cache_write_1h as f64 / n,
            t.output as f64 / n,
        );
        let ts = ms_to_time(ev.timestamp_ms);
        self.call(e, ts, ctx, &usage).map(|p| p.total_price * n)
    }

    fn call(
        &self,
        e: &DataEntry,
        ts: SystemTime,
        ctx: Ctx,
        usage: &Usage,
    ) -> Option<PriceCalculation> {
        let mut req = PriceRequest::new(&e.name, usage)
            .with_provider_id(&e.provider_id)
            .with_timestamp(ts);
        if let Some((k, v)) = ctx.pair() {
            req = req.with_price_context(k, v);
        }
        match self.calc().calculate(&req) {
            Ok(p) => Some(p),
            // A variant the data cannot combine: standard price, as the crate does for unknown
            // contexts.
            Err(_) if ctx != Ctx::Standard => self.call(e, ts, Ctx::Standard, usage),
            Err(_) => None,
        }
    }

    /// Total price per prompt token of a fixed mix of all buckets at prompt total `x`, net of
    /// any per-request fee. Changes whenever any rate at that size changes.
    fn fingerprint(&self, e: &DataEntry, ts: SystemTime, ctx: Ctx, x: u64) -> Option<f64> {
        let x = x as f64;
        let u = usage_of(x, 0.11 * x, 0.13 * x, 0.17 * x, 0.07 * x);
        let p = self.call(e, ts, ctx, &u)?;
        Some((p.input_price + p.output_price) / x)
    }

    /// Effective per-bucket rates at prompt total `x` (four crate calls).
    fn rates_at(
        &self,
        e: &DataEntry,
        ts: SystemTime,
        ctx: Ctx,
        x: u64,
    ) -> Option<(BucketRates, f64)> {
        let xf = x as f64;
        let p1 = self.call(e, ts, ctx, &usage_of(xf, 0.0, 0.0, 0.0, 1e6))?;
        let p2 = self.call(e, ts, ctx, &usage_of(xf, xf, 0.0, 0.0, 0.0))?;
        let p3 = self.call(e, ts, ctx, &usage_of(xf, 0.0, xf, 0.0, 0.0))?;
        let p4 = self.call(e, ts, ctx, &usage_of(xf, 0.0, 0.0, xf, 0.0))?;
        let per_mtok = |price: f64| round_rate(price * 1e6 / xf);
        let per_request = p1.total_price - p1.input_price - p1.output_price;
        Some((
            BucketRates {
                input: per_mtok(p1.input_price),
                output: round_rate(p1.output_price),
                cache_read: per_mtok(p2.input_price),
                cache_write_5m: per_mtok(p3.input_price),
                cache_write_1h: per_mtok(p4.input_price),
            },
            (per_request * 1e12).round() / 1e12,
        ))
    }

    /// The rates of entry `e` on UTC day `day`, with every long-context tier.
    fn schedule(&self, e: &DataEntry, day: i64, ctx: Ctx) -> Option<Schedule> {
        let ts = day_start(day);
        let (base, per_request) = self.rates_at(e, ts, ctx, 1)?;
        let lo = self.fingerprint(e, ts, ctx, 1)?;
        let hi = self.fingerprint(e, ts, ctx, TIER_SEARCH_MAX)?;
        let mut thresholds = Vec::new();
        self.find_thresholds(e, ts, ctx, (1, lo), (TIER_SEARCH_MAX, hi), &mut thresholds);
        thresholds.sort_unstable();
        let mut tiers = Vec::new();
        for t in thresholds {
            let (r, _) = self.rates_at(e, ts, ctx, t + 1)?;
            tiers.push((t, r));
        }
        Some(Schedule {
            base,
            tiers,
            per_request,
        })
    }

    /// Bisects prompt sizes for the points where the rates change. A threshold `t` means the
    /// tier applies to prompts above `t` tokens.
    fn find_thresholds(
        &self,
        e: &DataEntry,
        ts: SystemTime,
        ctx: Ctx,
        (lo, flo): (u64, f64),
        (hi, fhi): (u64, f64),
        out: &mut Vec<u64>,
    ) {
        if close(flo, fhi) {
            return;
        }
        if hi - lo <= 1 {
            out.push(lo);
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let Some(fmid) = self.fingerprint(e, ts, ctx, mid) else {
            return;
        };
        self.find_thresholds(e, ts, ctx, (lo, flo), (mid, fmid), out);
        self.find_thresholds(e, ts, ctx, (mid, fmid), (hi, fhi), out);
    }

    /// Whether the entry's prices differ across the hours of `day` (sampled every 30 minutes).
    fn time_of_day_sensitive(&self, e: &DataEntry, day: i64) -> bool {
        let base = day * MS_PER_DAY;
        let first = self.fingerprint(e, ms_to_time(base + 15 * 60_000), Ctx::Standard, 1000);
        (1..48).any(|k| {
            let at = base + 15 * 60_000 + k * 30 * 60_000;
            let f = self.fingerprint(e, ms_to_time(at), Ctx::Standard, 1000);
            match (first, f) {
                (Some(a), Some(b)) => !close(a, b),
                (a, b) => a.is_some() != b.is_some(),
            }
        })
    }
}

/// Human-readable text for `tokwatch prices MODEL`.
pub fn render_price_info(info: &PriceInfo) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let kind = match info.resolution {
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
        let _ = writeln!(s, "  context:      {} tokens", group(cw));
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
            group(t.above_prompt_tokens),
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
                    group(t.above_prompt_tokens),
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
                group(t.above_prompt_tokens),
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

fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn group(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---- model-name normalisation ------------------------------------------------------------------

/// Suffixes naming an effort level or mode rather than a model. Stripped only for the families
/// that use them (Claude, GPT/o-series, Gemini), so e.g. `mistral-medium` keeps its name.
const EFFORT_SUFFIXES: [&str; 8] = [
    "-xhigh",
    "-high",
    "-medium",
    "-low",
    "-minimal",
    "-thinking",
    "-reasoning",
    "-fast",
];

/// Words that tell model sizes or families apart: a match must agree on every one of them.
const SIZE_WORDS: [&str; 13] = [
    "mini", "nano", "pro", "lite", "flash", "haiku", "sonnet", "opus", "spark", "fable", "mythos",
    "micro", "ultra",
];

fn known_family(s: &str) -> bool {
    let b = s.as_bytes();
    s.starts_with("claude")
        || s.starts_with("gpt-")
        || s.starts_with("gemini")
        || s.starts_with("codex")
        || (b.len() > 1 && b[0] == b'o' && b[1].is_ascii_digit())
}

/// Strips wrappers that are not part of the model name: router/provider prefixes, Bedrock region
/// and version decorations, `@…`, `[…]`, `(…)`, `:thinking` and effort suffixes. Returns the name
/// and whether a `-fast` suffix was seen. The date and separators are kept.
fn strip_wrappers(lower: &str) -> (String, bool) {
    let mut s = lower.trim().to_string();
    let mut fast = false;
    // Provider and router prefixes (`anthropic/`, `openrouter/openai/`, `vertex_ai/`, …).
    if let Some(i) = s.rfind('/') {
        s = s[i + 1..].to_string();
    }
    loop {
        let before = s.clone();
        // `[1m]`, `(high)`.
        for (open, close) in [('[', ']'), ('(', ')')] {
            if s.ends_with(close) {
                if let Some(i) = s.rfind(open) {
                    s.truncate(i);
                }
            }
        }
        s = s.trim().trim_end_matches(['-', '_', ' ']).to_string();
        // Vertex `@default`, `@20250929`.
        if let Some(i) = s.find('@') {
            s.truncate(i);
        }
        if let Some(rest) = s.strip_suffix(":thinking") {
            s = rest.to_string();
        }
        // Bedrock `-v1:0`, `:0`.
        if let Some(i) = s.rfind("-v") {
            let tail = &s[i + 2..];
            let (v, colon) = tail.split_once(':').unwrap_or((tail, "0"));
            if !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_digit())
                && colon.bytes().all(|b| b.is_ascii_digit())
                && tail.contains(':')
            {
                s.truncate(i);
            }
        }
        if let Some((head, tail)) = s.rsplit_once(':') {
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                s = head.to_string();
            }
        }
        // Bedrock cross-region inference profiles: `us.anthropic.`, `global.anthropic.`, `anthropic.`.
        if let Some(i) = s.find("anthropic.") {
            let head = &s[..i];
            if head.is_empty()
                || (head.ends_with('.')
                    && head[..head.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'-'))
            {
                s = s[i + "anthropic.".len()..].to_string();
            }
        }
        if known_family(&s) {
            for suf in EFFORT_SUFFIXES {
                if let Some(rest) = s.strip_suffix(suf) {
                    if suf == "-fast" {
                        fast = true;
                    }
                    s = rest.to_string();
                }
            }
        }
        if s == before {
            break;
        }
    }
    (s, fast)
}

/// Removes a trailing `-YYYYMMDD` or `-YYYY-MM-DD`.
fn strip_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let n = b.len();
    if n > 9 && b[n - 9] == b'-' && digits(n - 8..n) && b[n - 8] == b'2' {
        return Some(s[..n - 9].to_string());
    }
    if n > 11
        && b[n - 11] == b'-'
        && digits(n - 10..n - 6)
        && b[n - 6] == b'-'
        && digits(n - 5..n - 3)
        && b[n - 3] == b'-'
        && digits(n - 2..n)
    {
        return Some(s[..n - 11].to_string());
    }
    None
}

/// `4.5` -> `4-5` (a dot between digits).
fn dots_to_dashes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c == '.'
            && i > 0
            && i + 1 < b.len()
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
        {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// `4-5` -> `4.5` where both sides are single digits (`gemini-2-5-pro` -> `gemini-2.5-pro`).
fn dashes_to_dots(s: &str) -> String {
    let b = s.as_bytes();
    let digit = |i: usize| i < b.len() && b[i].is_ascii_digit();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        let single_before = i > 0 && digit(i - 1) && !(i > 1 && digit(i - 2));
        let single_after = digit(i + 1) && !digit(i + 2);
        if c == '-' && single_before && single_after {
            out.push('.');
        } else {
            out.push(c);
        }
    }
    out
}

/// Cursor-style `claude-4.5-sonnet-thinking` -> `claude-sonnet-4.5-thinking`.
fn claude_reorder(s: &str) -> Option<String> {
    let rest = s.strip_prefix("claude-")?;
    let vlen = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
        .count();
    if vlen == 0 {
        return None;
    }
    let version = rest[..vlen].trim_end_matches('-');
    let after = &rest[version.len()..];
    let after = after.strip_prefix('-')?;
    for fam in ["opus", "sonnet", "haiku"] {
        if let Some(tail) = after.strip_prefix(fam) {
            if tail.is_empty() || tail.starts_with('-') {
                return Some(format!("claude-{fam}-{version}{tail}"));
            }
        }
    }
    None
}

/// The deterministic normal form of a model name: lowercase, wrappers stripped (router and
/// provider prefixes, Bedrock decorations, `@…`, `[…]`, effort suffixes), trailing date removed, `claude-4.5-sonnet` reordered and version dots
/// turned into dashes. `anthropic/claude-opus-4.6[1m]` -> `claude-opus-4-6`. Used to match
/// overrides; the data is matched with the less destructive forms first (dates can name distinct
/// snapshots).
pub fn normalize_model(name: &str) -> String {
    canonical_name(name)
}

fn canonical_name(name: &str) -> String {
    let (s, _) = strip_wrappers(&name.trim().to_ascii_lowercase());
    let s = strip_date(&s).unwrap_or(s);
    let s = claude_reorder(&s).unwrap_or(s);
    dots_to_dashes(&s)
}

/// Names to try against the data, most faithful first. The first is the name as logged
/// (lowercased).
fn candidates(lower: &str) -> (Vec<String>, bool) {
    let (clean, fast) = strip_wrappers(lower);
    let mut base = vec![lower.to_string(), clean.clone()];
    if let Some(d) = strip_date(&clean) {
        base.push(d);
    }
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    for b in &base {
        push(b.clone());
    }
    for b in &base[1..] {
        let r = claude_reorder(b);
        for v in [Some(b.clone()), r].into_iter().flatten() {
            push(v.clone());
            push(dots_to_dashes(&v));
            push(dashes_to_dots(&v));
        }
    }
    (out, fast)
}

/// Version tokens of a name (tokens holding a digit), with dates and snapshot numbers removed and
/// trailing `0`s trimmed: `claude-sonnet-4-20250514` -> `[4]`, `gpt-5.3-codex` -> `[5, 3]`,
/// `gemini-2.5-flash-preview-09-2025` -> `[2, 5]`, `gpt-4o` -> `[4o]`.
fn version_tokens(s: &str) -> Vec<String> {
    let toks: Vec<&str> = s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let is_num = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if !t.bytes().any(|b| b.is_ascii_digit()) {
            i += 1;
            continue;
        }
        if is_num(t) {
            let next_num = |k: usize, max: usize| {
                toks.get(i + k)
                    .is_some_and(|n| is_num(n) && !n.is_empty() && n.len() <= max)
            };
            // YYYY-MM-DD
            if t.len() == 4
                && (t.starts_with("19") || t.starts_with("20"))
                && next_num(1, 2)
                && next_num(2, 2)
            {
                i += 3;
                continue;
            }
            // YYYYMMDD, MMDD, YYYY snapshots.
            if t.len() >= 4 {
                i += 1;
                continue;
            }
            // MM-DD, MM-YYYY
            if t.len() == 2
                && toks
                    .get(i + 1)
                    .is_some_and(|n| is_num(n) && (n.len() == 2 || n.len() == 4))
            {
                i += 2;
                continue;
            }
            // Zero-padded day or month.
            if t.len() == 2 && t.starts_with('0') {
                i += 1;
                continue;
            }
        }
        out.push(t.to_string());
        i += 1;
    }
    while out.last().is_some_and(|t| t == "0") {
        out.pop();
    }
    out
}

/// Whether the data's `model_id` is the same family and version as the name we asked for. Guards
/// against prefix matches such as `claude-opus-4-60` -> `claude-opus-4-6` or a `-mini` landing on
/// the full model.
fn same_model_family(query: &str, model_id: &str) -> bool {
    let q = query.to_ascii_lowercase();
    let m = model_id.to_ascii_lowercase();
    let qv = version_tokens(&q);
    if !qv.is_empty() && qv != version_tokens(&m) {
        return false;
    }
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| SIZE_WORDS.contains(w))
            .map(str::to_string)
            .collect()
    };
    let (mut qw, mut mw) = (words(&q), words(&m));
    qw.sort();
    qw.dedup();
    mw.sort();
    mw.dedup();
    qw == mw
}

// ---- small helpers -----------------------------------------------------------------------------

fn unpriced() -> Priced {
    Priced {
        cost_usd: None,
        source: CostSource::Unpriced,
        price_key: None,
    }
}

/// genai-prices usage for one request. `input_tokens` is the crate's *total* input: it includes
/// cache reads and writes, which are then carved out as sub-units.
fn usage_of(input_total: f64, cr: f64, cw5: f64, cw1h: f64, out: f64) -> Usage {
    Usage::from([
        (UsageKey::INPUT_TOKENS, input_total.max(cr + cw5 + cw1h)),
        (UsageKey::CACHE_READ_TOKENS, cr),
        (UsageKey::CACHE_WRITE_TOKENS, cw5 + cw1h),
        (UsageKey::CACHE_WRITE_5M_TOKENS, cw5),
        (UsageKey::CACHE_WRITE_1H_TOKENS, cw1h),
        (UsageKey::OUTPUT_TOKENS, out),
    ])
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-15
}

fn rates_close(a: &BucketRates, b: &BucketRates) -> bool {
    close(a.input, b.input)
        && close(a.output, b.output)
        && close(a.cache_read, b.cache_read)
        && close(a.cache_write_5m, b.cache_write_5m)
        && close(a.cache_write_1h, b.cache_write_1h)
}

fn schedules_close(a: &Schedule, b: &Schedule) -> bool {
    rates_close(&a.base, &b.base)
        && close(a.per_request, b.per_request)
        && a.tiers.len() == b.tiers.len()
        && a.tiers
            .iter()
            .zip(&b.tiers)
            .all(|((ta, ra), (tb, rb))| ta == tb && rates_close(ra, rb))
}

/// Rates recovered from probe prices carry float noise; the data has at most a few decimals.
fn round_rate(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

fn ms_to_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn day_start(day: i64) -> SystemTime {
    ms_to_time(day * MS_PER_DAY)
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn day_string(day: i64) -> String {
    match chrono::DateTime::from_timestamp(day * 86_400, 0) {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => day.to_string(),
    }
}

/// `genai-prices <version> (bundled data, offline)`, the version read from our Cargo.lock.
fn data_source() -> String {
    let lock = include_str!("../Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"genai-prices\""))
        .and_then(|p| p.lines().find_map(|l| l.trim().strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "?".to_string());
    format!("genai-prices {version} (data bundled with the crate, offline)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Merge;

    fn ms(y: i64, m: i64, d: i64) -> i64 {
        days_from_civil(y, m, d) * MS_PER_DAY + 12 * 3_600_000
    }

    fn ev(model: &str, ts: i64, t: Tokens) -> UsageEvent {
        let mut e = UsageEvent::new("test", "k".into(), Merge::KeepMax, ts);
        e.model = Some(model.to_string());
        e.tokens = t;
        e
    }

    fn toks(input: i64, cw5: i64, cw1h: i64, cr: i64, out: i64) -> Tokens {
        Tokens {
            input,
            cache_write_5m: cw5,
            cache_write_1h: cw1h,
            cache_read: cr,
            output: out,
            reasoning: 0,
        }
    }

    fn pricer() -> Pricer {
        Pricer::new(BTreeMap::new())
    }

    fn cost(p: &Pricer, e: &UsageEvent) -> f64 {
        p.price(e).cost_usd.expect("priced")
    }

    fn key(p: &Pricer, model: &str) -> Option<String> {
        p.price(&ev(model, ms(2026, 6, 1), toks(1, 0, 0, 0, 1)))
            .price_key
    }

    /// Splits per-model totals into `n` requests (remainders go to the first).
    fn split(total: Tokens, n: i64) -> Vec<Tokens> {
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

    /// EXPECTED.md: claude-opus-4-6 $11.9623, claude-sonnet-4-5 $0.2634 (all writes 1h).
    ///
    /// The sample is from February 2026, when genai-prices still has a >200k long-context tier
    /// for opus-4-6 (removed 2026-03-13). Tiers are per request, so one aggregate event of 15.3M
    /// prompt tokens would (rightly) be billed at the tier rate. The sample's 156 real requests
    /// are each below 200k, so we split the per-model totals into 100 requests of ~153k prompt
    /// tokens: flat rates apply and the sum equals the flat-rate total of the aggregate.
    #[test]
    fn claude_sample_matches_expected() {
        let p = pricer();
        let ts = ms(2026, 2, 20);
        let opus = toks(183, 0, 351_961, 14_938_375, 38_905);
        let sonnet = toks(15, 0, 42_176, 34_159, 3);
        let mut opus_sum = 0.0;
        for t in split(opus, 100) {
            assert!(t.prompt_total() < 200_000);
            let pr = p.price(&ev("claude-opus-4-6", ts, t));
            assert_eq!(pr.source, CostSource::Computed);
            assert_eq!(pr.price_key.as_deref(), Some("anthropic/claude-opus-4-6"));
            opus_sum += pr.cost_usd.unwrap();
        }
        let mut sonnet_sum = 0.0;
        for t in split(sonnet, 5) {
            let pr = p.price(&ev("claude-sonnet-4-5-20250929", ts, t));
            assert_eq!(pr.price_key.as_deref(), Some("anthropic/claude-sonnet-4-5"));
            sonnet_sum += pr.cost_usd.unwrap();
        }
        assert!((opus_sum - 11.9623).abs() < 0.00005, "{opus_sum}");
        assert!((sonnet_sum - 0.2634).abs() < 0.00005, "{sonnet_sum}");
        assert!((opus_sum + sonnet_sum - 12.2257).abs() < 0.00005);

        // The same tokens as one request: above 200k in February (tier: 10/37.5/20/1),
        // flat after 2026-03-13.
        let agg_feb = cost(&p, &ev("claude-opus-4-6", ts, opus));
        let want_tier =
            (183.0 * 10.0 + 38_905.0 * 37.5 + 351_961.0 * 20.0 + 14_938_375.0 * 1.0) / 1e6;
        assert!(
            (agg_feb - want_tier).abs() < 1e-9,
            "{agg_feb} vs {want_tier}"
        );
        let agg_apr = cost(&p, &ev("claude-opus-4-6", ms(2026, 4, 1), opus));
        assert!((agg_apr - 11.9623375).abs() < 1e-9, "{agg_apr}");
    }

    #[test]
    fn one_hour_and_five_minute_writes_differ() {
        let p = pricer();
        let ts = ms(2026, 6, 1);
        let m5 = cost(&p, &ev("claude-opus-4-6", ts, toks(0, 100_000, 0, 0, 0)));
        let h1 = cost(&p, &ev("claude-opus-4-6", ts, toks(0, 0, 100_000, 0, 0)));
        assert!((m5 - 0.625).abs() < 1e-12, "{m5}");
        assert!((h1 - 1.0).abs() < 1e-12, "{h1}");
    }

    #[test]
    fn codex_cached_tokens_at_cache_read_rate() {
        let p = pricer();
        // Codex: input 100k of which 90k cached -> our buckets: 10k uncached, 90k cache read.
        let e = ev(
            "gpt-5.3-codex",
            ms(2026, 3, 1),
            toks(10_000, 0, 0, 90_000, 5_000),
        );
        let pr = p.price(&e);
        assert_eq!(pr.price_key.as_deref(), Some("openai/gpt-5.3-codex"));
        let want = (10_000.0 * 1.75 + 90_000.0 * 0.175 + 5_000.0 * 14.0) / 1e6;
        assert!((pr.cost_usd.unwrap() - want).abs() < 1e-12);
    }

    #[test]
    fn gpt_5_4_long_context_cliff() {
        let p = pricer();
        let ts = ms(2026, 6, 1);
        // Exactly 272k prompt tokens: base rates.
        let at = cost(&p, &ev("gpt-5.4", ts, toks(22_000, 0, 0, 250_000, 1_000)));
        let want_at = (22_000.0 * 2.5 + 250_000.0 * 0.25 + 1_000.0 * 15.0) / 1e6;
        assert!((at - want_at).abs() < 1e-12, "{at}");
        // 300k: the whole request at the tier rates (5 / cache read 0.5 / 22.5).
        let over = cost(&p, &ev("gpt-5.4", ts, toks(50_000, 0, 0, 250_000, 1_000)));
        let want_over = (50_000.0 * 5.0 + 250_000.0 * 0.5 + 1_000.0 * 22.5) / 1e6;
        assert!((over - want_over).abs() < 1e-12, "{over}");
        // Two requests of 150k each in one event: judged per request, base rates.
        let mut two = ev("gpt-5.4", ts, toks(50_000, 0, 0, 250_000, 1_000));
        two.requests = 2;
        let want_two = (50_000.0 * 2.5 + 250_000.0 * 0.25 + 1_000.0 * 15.0) / 1e6;
        assert!((cost(&p, &two) - want_two).abs() < 1e-12);
    }

    #[test]
    fn unknown_models_are_unpriced() {
        let p = pricer();
        for m in [
            "<synthetic>",
            "totally-new-model",
            "claude-opus-4-9",
            "claude-opus-4-60",
            "gpt-5.3-codex-mini",
            "claude-sonnet-4-5-mini",
            "gpt-7",
            "",
        ] {
            let pr = p.price(&ev(m, ms(2026, 6, 1), toks(100, 0, 0, 0, 100)));
            assert_eq!(
                pr,
                Priced {
                    cost_usd: None,
                    source: CostSource::Unpriced,
                    price_key: None
                },
                "{m}"
            );
        }
        let neg = p.price(&ev("claude-opus-4-6", ms(2026, 6, 1), toks(-5, 0, 0, 0, 1)));
        assert_eq!(neg.source, CostSource::Unpriced);
        let mut none = ev("x", ms(2026, 6, 1), toks(1, 0, 0, 0, 1));
        none.model = None;
        assert_eq!(p.price(&none).source, CostSource::Unpriced);
        assert!(p.describe("<synthetic>", None).is_none());
    }

    #[test]
    fn override_wins_and_defaults_cache_rates() {
        let mut o = BTreeMap::new();
        o.insert(
            "claude-opus-4-6".to_string(),
            PriceOverride {
                input: 2.0,
                output: 10.0,
                cache_read: None,
                cache_write_5m: None,
                cache_write_1h: Some(3.0),
            },
        );
        o.insert(
            "bad-model".to_string(),
            PriceOverride {
                input: -1.0,
                output: 1.0,
                ..Default::default()
            },
        );
        let p = Pricer::new(o);
        assert_eq!(p.warnings().len(), 1);
        for name in [
            "claude-opus-4-6",
            "anthropic/claude-opus-4.6[1m]",
            "claude-opus-4-6@default",
        ] {
            let e = ev(
                name,
                ms(2026, 2, 1),
                toks(1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000),
            );
            let pr = p.price(&e);
            assert_eq!(
                pr.price_key.as_deref(),
                Some("override/claude-opus-4-6"),
                "{name}"
            );
            // 2 + 2.5 (5m = 1.25×) + 3 (given) + 0.2 (read = 0.1×) + 10
            assert!((pr.cost_usd.unwrap() - 17.7).abs() < 1e-12, "{name}");
        }
        // Other models still use the data.
        assert_eq!(
            p.price(&ev("claude-opus-4-7", ms(2026, 6, 1), toks(1, 0, 0, 0, 0)))
                .price_key
                .as_deref(),
            Some("anthropic/claude-opus-4-7")
        );
        let info = p
            .describe_at("claude-opus-4.6", None, ms(2026, 6, 1))
            .unwrap();
        assert_eq!(info.resolution, ResolutionKind::Override);
        assert_eq!(info.rates.cache_read, 0.2);
        assert_eq!(info.defaulted.len(), 2);
    }

    #[test]
    fn names_normalise_without_crossing_versions() {
        let p = pricer();
        let cases = [
            ("claude-opus-4-6", "anthropic/claude-opus-4-6"),
            ("anthropic/claude-opus-4-6", "anthropic/claude-opus-4-6"),
            (
                "us.anthropic.claude-opus-4-6-v1:0",
                "anthropic/claude-opus-4-6",
            ),
            (
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic/claude-sonnet-4-5",
            ),
            ("claude-opus-4-6@default", "anthropic/claude-opus-4-6"),
            ("claude-opus-4-6[1m]", "anthropic/claude-opus-4-6"),
            ("Claude-Opus-4.6", "anthropic/claude-opus-4-6"),
            ("claude-4.5-sonnet-thinking", "anthropic/claude-sonnet-4-5"),
            ("claude-opus-4-7", "anthropic/claude-opus-4-7"),
            ("claude-opus-4-5-20251101", "anthropic/claude-opus-4-5"),
            ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4-0"),
            ("gpt-5.3-codex", "openai/gpt-5.3-codex"),
            ("openai/gpt-5.3-codex", "openai/gpt-5.3-codex"),
            ("gpt-5.3-codex-high", "openai/gpt-5.3-codex"),
            ("gpt-5-3-codex", "openai/gpt-5.3-codex"),
            ("gpt-5.1-codex-max", "openai/gpt-5.1"),
            ("gpt-5.1-codex-mini", "openai/gpt-5.1-codex-mini"),
            ("gpt-5.4-2026-03-05", "openai/gpt-5.4"),
            ("gemini-2-5-pro", "google/gemini-2.5-pro"),
            (
                "gemini/gemini-3.1-pro-preview",
                "google/gemini-3.1-pro-preview",
            ),
            ("gemini-3-flash-preview", "google/gemini-3-flash-preview"),
        ];
        for (name, want) in cases {
            assert_eq!(key(&p, name).as_deref(), Some(want), "{name}");
        }
        // Never across versions or sizes, even where the crate's prefix rule would match.
        let u = Usage::new();
        let raw = Calculator::bundled()
            .calculate(&PriceRequest::new("claude-opus-4-60", &u))
            .unwrap();
        assert_eq!(
            raw.model_id, "claude-opus-4-6",
            "the crate alone would match it"
        );
        assert_eq!(key(&p, "claude-opus-4-60"), None);
        assert_eq!(key(&p, "claude-sonnet-4-5-mini"), None);
        assert_ne!(
            key(&p, "claude-opus-4-7").as_deref(),
            Some("anthropic/claude-opus-4-6")
        );
        assert!(!same_model_family("gpt-5.3-codex", "gpt-5.1-codex-mini"));
        assert!(!same_model_family("claude-opus-4-7", "claude-opus-4-6"));
        assert!(!same_model_family("claude-opus-4-6", "claude-opus-4-0"));
        assert!(!same_model_family("gpt-4o", "gpt-4"));
        assert!(same_model_family("gpt-4o-2024-11-20", "gpt-4o"));
        assert!(same_model_family(
            "gemini-2.5-flash-preview-09-2025",
            "gemini-2.5-flash"
        ));
        assert_eq!(
            normalize_model("anthropic/Claude-Opus-4.6[1m]"),
            "claude-opus-4-6"
        );
        assert_eq!(
            normalize_model("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            "claude-haiku-4-5"
        );
        // Kinds.
        let exact = p
            .describe_at("claude-opus-4-6", None, ms(2026, 6, 1))
            .unwrap();
        assert_eq!(exact.resolution, ResolutionKind::Exact);
        let norm = p
            .describe_at("anthropic/claude-opus-4-6", None, ms(2026, 6, 1))
            .unwrap();
        assert_eq!(norm.resolution, ResolutionKind::Normalized);
    }

    #[test]
    fn provider_hint_is_honoured() {
        let p = pricer();
        let mut e = ev("claude-opus-4.7", ms(2026, 6, 1), toks(1, 0, 0, 0, 1));
        e.provider = Some("github-copilot".into());
        assert_eq!(
            p.price(&e).price_key.as_deref(),
            Some("github-copilot/claude-opus-4.7")
        );
        // A provider the data does not know is ignored.
        e.provider = Some("some-proxy".into());
        assert_eq!(
            p.price(&e).price_key.as_deref(),
            Some("anthropic/claude-opus-4-7")
        );
    }

    #[test]
    fn reported_and_estimated_sources() {
        let p = pricer();
        let mut e = ev("claude-opus-4-6", ms(2026, 6, 1), toks(1000, 0, 0, 0, 1000));
        e.reported_cost_usd = Some(0.42);
        let pr = p.price(&e);
        assert_eq!(pr.source, CostSource::Reported);
        assert_eq!(pr.cost_usd, Some(0.42));
        assert_eq!(pr.price_key.as_deref(), Some("anthropic/claude-opus-4-6"));
        let mut u = ev("unknown-thing", ms(2026, 6, 1), toks(1, 0, 0, 0, 1));
        u.reported_cost_usd = Some(0.1);
        assert_eq!(
            p.price(&u),
            Priced {
                cost_usd: Some(0.1),
                source: CostSource::Reported,
                price_key: None
            }
        );
        let mut est = ev("claude-opus-4-6", ms(2026, 6, 1), toks(1000, 0, 0, 0, 1000));
        est.estimated = true;
        let pr = p.price(&est);
        assert_eq!(pr.source, CostSource::Estimated);
        assert!((pr.cost_usd.unwrap() - 0.03).abs() < 1e-12);
        let mut est_unknown = ev("nope-model", ms(2026, 6, 1), toks(1, 0, 0, 0, 1));
        est_unknown.estimated = true;
        assert_eq!(p.price(&est_unknown).source, CostSource::Unpriced);
    }

    #[test]
    fn dated_prices_follow_the_timestamp() {
        let p = pricer();
        // gpt-5.6-sol: 5/30 before 2026-08-21, 4/20 from then (pricing-notes §4).
        let before = cost(
            &p,
            &ev(
                "gpt-5.6-sol",
                ms(2026, 8, 20),
                toks(100_000, 0, 0, 0, 100_000),
            ),
        );
        let after = cost(
            &p,
            &ev(
                "gpt-5.6-sol",
                ms(2026, 8, 21),
                toks(100_000, 0, 0, 0, 100_000),
            ),
        );
        assert!((before - 3.5).abs() < 1e-9, "{before}");
        assert!((after - 2.4).abs() < 1e-9, "{after}");
    }

    /// The cached per-day rates give the same numbers as asking the crate for each request.
    #[test]
    fn matches_crate_directly() {
        let p = pricer();
        let calc = Calculator::bundled();
        let models = [
            ("claude-opus-4-6", "anthropic"),
            ("claude-sonnet-4-5", "anthropic"),
            ("claude-haiku-5-5", "anthropic"),
            ("gpt-5.4", "openai"),
            ("gpt-5.6-sol", "openai"),
            ("gpt-5.3-codex", "openai"),
            ("gemini-2.5-pro", "google"),
            ("deepseek-chat", "deepseek"),
        ];
        let days = [
            ms(2025, 12, 1),
            ms(2026, 3, 12),
            ms(2026, 3, 13),
            ms(2026, 9, 1),
        ];
        let mixes = [
            toks(1_000, 2_000, 3_000, 50_000, 800),
            toks(10_000, 0, 150_000, 120_000, 4_000),
            toks(300, 0, 0, 280_000, 100),
            toks(90_000, 0, 0, 0, 90_000),
        ];
        let mut checked = 0;
        for (m, prov) in models {
            for (di, d) in days.iter().enumerate() {
                for (k, t) in mixes.iter().enumerate() {
                    // Vary the hour so time-of-day prices are exercised.
                    let ts = d + (di as i64 * 7 + k as i64 * 5) * 3_600_000 % MS_PER_DAY;
                    let mut e = ev(m, ts, *t);
                    e.provider = Some(prov.to_string());
                    let ours = cost(&p, &e);
                    let u = usage_of(
                        t.prompt_total() as f64,
                        t.cache_read as f64,
                        t.cache_write_5m as f64,
                        t.cache_write_1h as f64,
                        t.output as f64,
                    );
                    let req = PriceRequest::new(m, &u)
                        .with_provider_id(prov)
                        .with_timestamp(ms_to_time(ts));
                    let theirs = calc.calculate(&req).unwrap().total_price;
                    assert!(
                        (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1e-9),
                        "{m} {ts} {t:?}: {ours} vs {theirs}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 8 * 4 * 4);
        // DeepSeek's off-peak prices were detected and priced per event through the crate.
        let inner = p.inner.lock().unwrap();
        let tod: Vec<&str> = inner
            .entries
            .iter()
            .filter(|e| e.time_of_day == Some(true))
            .map(|e| e.price_key.as_str())
            .collect();
        assert_eq!(tod, ["deepseek/deepseek-chat"]);
    }

    #[test]
    fn speed_selects_price_variants() {
        let p = pricer();
        let t = toks(100_000, 0, 0, 0, 10_000);
        let ts = ms(2026, 11, 1);
        let std = cost(&p, &ev("gpt-5.4", ts, t));
        let mut pri = ev("gpt-5.4", ts, t);
        pri.speed = Some("priority".into());
        let prio = cost(&p, &pri);
        assert!(prio > std * 1.5, "{prio} vs {std}");
        assert_eq!(p.price(&pri).source, CostSource::Computed);
        // Anthropic fast mode has no variant in the data: the documented multiplier on the
        // standard rate (Opus 4.6: 6x), marked estimated.
        let mut fast = ev("claude-opus-4-6", ts, t);
        let plain = cost(&p, &fast);
        fast.speed = Some("fast".into());
        let f = p.price(&fast);
        assert!(
            (f.cost_usd.unwrap() - 6.0 * plain).abs() < 1e-9,
            "{f:?} vs {plain}"
        );
        assert_eq!(f.source, CostSource::Estimated);
        // No variant and no known multiplier: unpriced, never the standard rate.
        let mut sonnet = ev("claude-sonnet-4-5", ts, t);
        assert!(p.price(&sonnet).cost_usd.is_some());
        sonnet.speed = Some("fast".into());
        let u = p.price(&sonnet);
        assert_eq!((u.cost_usd, u.source), (None, CostSource::Unpriced));
        let info = p.describe_at("claude-opus-4-6", None, ts).unwrap();
        assert!(
            info.notes.iter().any(|n| n.contains("estimated at 6x")),
            "{:?}",
            info.notes
        );
    }

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

    #[test]
    fn pricer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Pricer>();
    }
}
