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
//! (`FAST_MULTIPLIERS` in `cost.rs`) is applied to the standard rate and the cost is marked estimated; a
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
//!
//! # Where each part lives
//!
//! - `mod.rs`: the public API: [`Pricer`] (the resolution cache and [`Pricer::price`]), the
//!   result types ([`Priced`], [`PriceInfo`], [`Rates`], …) and [`PriceOverride`].
//! - `data.rs`: the bundled genai-prices data (parsed on a background thread) and the user
//!   overrides (validation, default cache rates, lookup).
//! - `names.rs`: [`normalize_model`], the candidate spellings of a name and the family/version
//!   check every match must pass.
//! - `cost.rs`: the cost formula above: bucket rates, long-context tiers, per-day schedules
//!   recovered from the data, speed variants and fast-mode multipliers.
//! - `describe.rs`: builds a [`PriceInfo`] (today's rates, price history, variants, notes).
//! - `render.rs`: the text of `tokwatch prices MODEL` ([`render_price_info`]).
//! - `test_support.rs`: helpers shared by the unit tests, which sit next to what they test.

mod cost;
mod data;
mod describe;
mod names;
mod render;
#[cfg(test)]
mod test_support;

// Public paths that predate the split: `tokwatch::pricing::normalize_model`, `…::render_price_info`.
pub use names::normalize_model;
pub use render::render_price_info;

use crate::event::{CostSource, UsageEvent};
use chrono::Utc;
use cost::DataEntry;
use data::Overrides;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

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
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (reasoning included).
    pub output: f64,
    /// Cache reads; default `input × 0.1`.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Cache writes with the 5-minute TTL; default `input × 1.25`.
    #[serde(default)]
    pub cache_write_5m: Option<f64>,
    /// Cache writes with the 1-hour TTL; default `input × 2`.
    #[serde(default)]
    pub cache_write_1h: Option<f64>,
}

/// The price of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    /// `None` when unpriced: never a made-up $0.
    pub cost_usd: Option<f64>,
    /// Where the figure comes from: computed, reported by the tool, estimated, or none.
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
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache reads.
    pub cache_read: f64,
    /// Cache writes, 5-minute TTL.
    pub cache_write_5m: f64,
    /// Cache writes, 1-hour TTL.
    pub cache_write_1h: f64,
    /// A fee per request in USD, when the data has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_request_usd: Option<f64>,
}

/// A long-context tier: when a request's prompt total is above `above_prompt_tokens`, the whole
/// request is billed at `rates`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierInfo {
    /// The tier applies to requests whose prompt total is above this many tokens.
    pub above_prompt_tokens: u64,
    /// The rates of the whole request in this tier.
    pub rates: Rates,
}

/// Prices in force over a range of UTC days (`from`/`until` inclusive, `YYYY-MM-DD`; `None` means
/// open-ended).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricePeriod {
    /// First day (`YYYY-MM-DD`); `None` for the oldest period.
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`); `None` for the current period.
    pub until: Option<String>,
    /// Base rates in force over the period.
    pub rates: Rates,
    /// Long-context tiers in force over the period.
    pub tiers: Vec<TierInfo>,
}

/// Prices for a `speed` value that differ from the standard ones on the `as_of` day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantInfo {
    /// The `speed` value: `fast`, `priority`, `flex` or `batch`.
    pub speed: String,
    /// Base rates at that speed.
    pub rates: Rates,
    /// Long-context tiers at that speed.
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
    /// How the name found its entry.
    pub resolution: ResolutionKind,
    /// The name handed to the data's matcher (after normalisation), or the override key.
    pub matched_as: String,
    /// Provider id in the data (`anthropic`, `openai`, …), or `override`.
    pub provider_id: String,
    /// The provider's display name, from the data's catalogue.
    pub provider_name: Option<String>,
    /// Model id in the data, or the override key.
    pub model_id: String,
    /// The model's display name, from the data's catalogue.
    pub model_name: Option<String>,
    /// Context window in tokens, when the data gives one.
    pub context_window: Option<u64>,
    /// Same as [`Priced::price_key`].
    pub price_key: String,
    /// The UTC day `rates`, `tiers` and `variants` are for.
    pub as_of: String,
    /// Standard rates on `as_of`.
    pub rates: Rates,
    /// Long-context tiers on `as_of`, lowest threshold first.
    pub tiers: Vec<TierInfo>,
    /// Price history found in the data (date-conditional prices), oldest first. One entry when
    /// prices never changed.
    pub periods: Vec<PricePeriod>,
    /// Speeds the data prices differently from the standard rates on `as_of`.
    pub variants: Vec<VariantInfo>,
    /// Override fields that were filled with defaults.
    pub defaulted: Vec<String>,
    /// How buckets without their own price, fast mode and the like are billed.
    pub notes: Vec<String>,
    /// Where the prices come from (genai-prices version, or the config file).
    pub data_source: String,
}

/// What a (model, provider hint) pair resolved to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resolved {
    Unpriced,
    /// Index into the overrides.
    Override(usize),
    /// Index into [`Inner::entries`].
    Data(usize),
}

/// The resolution cache behind [`Pricer`]'s mutex.
struct Inner {
    /// model as logged -> [(provider hint, resolution)]
    by_model: HashMap<String, Vec<(Option<String>, Resolved)>, foldhash::fast::RandomState>,
    entries: Vec<DataEntry>,
}

/// Prices [`UsageEvent`]s. Cheap after warm-up; `Send + Sync` (the cache sits behind a mutex).
pub struct Pricer {
    overrides: Overrides,
    inner: Mutex<Inner>,
    fingerprint: String,
}

impl Pricer {
    /// A pricer with the user's overrides. The bundled data is parsed when first needed: at the
    /// first price asked, or beside other work after [`Pricer::prefetch`] (a re-run that finds
    /// nothing new never parses it).
    pub fn new(overrides: BTreeMap<String, PriceOverride>) -> Pricer {
        let fingerprint = fingerprint(&overrides);
        let overrides = Overrides::new(overrides);
        Pricer {
            fingerprint,
            overrides,
            inner: Mutex::new(Inner {
                by_model: HashMap::default(),
                entries: Vec::new(),
            }),
        }
    }

    /// Starts parsing the bundled price data on a thread of its own (once per process), so that
    /// it is ready when the first event is priced: called when there are logs to read.
    pub fn prefetch(&self) {
        data::load_in_background();
    }

    /// What these prices are: a hash of the overrides, the bundled data's version and
    /// tokwatch's version (its name resolution prices too). Stored usage priced with another
    /// fingerprint is re-priced (`store::reprice`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Problems with the configuration (ignored overrides). Never contains log text.
    pub fn warnings(&self) -> &[String] {
        self.overrides.warnings()
    }

    /// The cost of one event: a cost the tool reported wins, then an override, then the data.
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
                let o = self.overrides.get(i);
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
                    inner.entries[i].cost(ev)
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
        // A clock set before 1970 reads as the epoch, as it always has.
        let now_ms = Utc::now().timestamp_millis().max(0);
        self.describe_at(model, provider, now_ms)
    }

    /// [`Pricer::describe`] for the UTC day containing `at_ms` (epoch milliseconds).
    pub fn describe_at(
        &self,
        model: &str,
        provider: Option<&str>,
        at_ms: i64,
    ) -> Option<PriceInfo> {
        let day = cost::utc_day(at_ms);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match self.resolve_cached(&mut inner, model, provider) {
            Resolved::Unpriced => None,
            Resolved::Override(i) => Some(describe::override_info(
                self.overrides.get(i),
                model,
                provider,
                day,
            )),
            Resolved::Data(i) => Some(describe::entry_info(
                &inner.entries[i],
                model,
                provider,
                day,
            )),
        }
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
        if let Some(i) = self.overrides.find(&lower) {
            return Resolved::Override(i);
        }
        match names::find_in_data(&lower, provider) {
            Some(e) => {
                inner.entries.push(e);
                Resolved::Data(inner.entries.len() - 1)
            }
            None => Resolved::Unpriced,
        }
    }
}

/// No price: cost `None`, never $0.
fn unpriced() -> Priced {
    Priced {
        cost_usd: None,
        source: CostSource::Unpriced,
        price_key: None,
    }
}

/// [`Pricer::fingerprint`] of a set of overrides with the bundled data (FNV-1a, 64 bits, hex).
pub fn fingerprint(overrides: &BTreeMap<String, PriceOverride>) -> String {
    let text = format!(
        "{}|tokwatch {}|{}",
        data::data_source(),
        env!("CARGO_PKG_VERSION"),
        serde_json::to_string(overrides).unwrap_or_default()
    );
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::test_support::*;

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
    fn pricer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Pricer>();
    }
}
