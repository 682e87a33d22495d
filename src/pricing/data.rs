//! Where prices come from: the genai-prices data bundled in the crate (its outline parsed once, on
//! a thread of its own; a provider's models and each regular expression when first needed) and the
//! user's overrides from `config.toml`.

use super::cost::BucketRates;
use super::names::canonical_name;
use super::PriceOverride;
use genai_prices::Calculator;
use std::collections::{BTreeMap, HashMap};

/// The bundled price data. The first call parses its outline (~17 M instructions; before
/// `vendor/genai-prices` decoded lazily it parsed everything and compiled 115 regular
/// expressions: ~225 M); a provider's models are decoded when first read and each regular
/// expression compiled when first matched, so a scan of Claude Code logs decodes Anthropic's
/// models only. Later calls, and calls made while [`load_in_background`] is parsing it, share that
/// one parse.
pub(super) fn calculator() -> &'static Calculator {
    Calculator::bundled()
}

/// Starts parsing the bundled price data beside the log readers instead of before them (the
/// first price lookup waits for it if need be).
pub(super) fn load_in_background() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("tokwatch-prices".into())
            .spawn(|| {
                let _ = calculator();
                release_freed_heap();
            });
    });
}

/// Gives the heap pages freed after the parse back to the system. The parse's temporaries sit
/// in the loading thread's own malloc arena, interleaved with the data that stays, and glibc by
/// itself only returns free memory at the top of an arena. Measured with genai-prices 0.2.1:
/// the headless daemon (`tokwatch run --no-tray`, idle) holds 29.6 MB RSS without this call and
/// 19.9 MB with it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_heap() {
    // SAFETY: `malloc_trim` has no preconditions. It takes the allocator's own arena locks, so
    // it may run while other threads allocate, and it only releases pages that hold no live
    // allocation (returning them with `madvise`/`sbrk`); no pointer we hold is moved or freed.
    // Rust allocates through this same glibc malloc (tokwatch sets no global allocator), so
    // every freed page is one glibc owns.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Elsewhere there is no `malloc_trim`; the allocator keeps what it keeps.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_heap() {}

/// Provider and model display names and the context window, from the data's catalogue.
pub(super) fn catalog_info(
    provider_id: &str,
    model_id: &str,
) -> (Option<String>, Option<String>, Option<u64>) {
    let Ok(Some(p)) = calculator().find_provider(Some(provider_id), None) else {
        return (None, None, None);
    };
    let m = p.models().find(|m| m.id() == model_id);
    (
        Some(p.name().to_string()),
        m.and_then(|m| m.name().map(str::to_string)),
        m.and_then(|m| m.context_window()),
    )
}

/// `genai-prices <version> (bundled data, offline)`, the version read from our Cargo.lock.
pub(super) fn data_source() -> String {
    let lock = include_str!("../../Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"genai-prices\""))
        .and_then(|p| p.lines().find_map(|l| l.trim().strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "?".to_string());
    format!("genai-prices {version} (data bundled with the crate, offline)")
}

/// One usable override: its config key and its five rates, defaults filled in.
pub(super) struct OverrideEntry {
    /// The key as written in `config.toml`.
    pub(super) key: String,
    /// Rates of the five buckets, USD per million tokens.
    pub(super) rates: BucketRates,
    /// The rates that were filled with defaults, e.g. `cache_read = input × 0.1`.
    pub(super) defaulted: Vec<String>,
}

/// The user's price overrides, looked up by exact key or by normal form.
pub(super) struct Overrides {
    list: Vec<OverrideEntry>,
    /// override key, lowercased -> index
    exact: HashMap<String, usize>,
    /// canonical name -> index
    canon: HashMap<String, usize>,
    warnings: Vec<String>,
}

impl Overrides {
    /// Checks the overrides from the config and fills in missing cache rates.
    pub(super) fn new(overrides: BTreeMap<String, PriceOverride>) -> Overrides {
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
        Overrides {
            list,
            exact,
            canon,
            warnings,
        }
    }

    /// The override for a model name (lowercased): by exact key first, then by normal form.
    pub(super) fn find(&self, lower: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(lower) {
            return Some(i);
        }
        self.canon.get(&canonical_name(lower)).copied()
    }

    /// The override [`Overrides::find`] returned.
    pub(super) fn get(&self, i: usize) -> &OverrideEntry {
        &self.list[i]
    }

    /// Overrides that were ignored, and why.
    pub(super) fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::test_support::*;
    use crate::pricing::{Pricer, ResolutionKind};
    use genai_prices::{PriceRequest, Usage, UsageKey};

    /// The bundled data as the crate embeds it (vendor/genai-prices, patched to decode it lazily).
    const BUNDLED: &[u8] = include_bytes!("../../vendor/genai-prices/data/prices.json");

    /// The lazily decoded bundled data answers every question exactly as the same data decoded
    /// and compiled all at once: every model of every provider, asked by its id with and without
    /// the provider, at dates around the data's changes. `from_json` also checks that all of the
    /// data (every regular expression included) is valid, so the lazy decode cannot fail later.
    #[test]
    fn lazy_bundled_data_prices_as_the_eager_decode() {
        let eager = Calculator::from_json(BUNDLED).expect("the bundled data is valid");
        let lazy = calculator();
        let usage = Usage::from([
            (UsageKey::INPUT_TOKENS, 250_000.0),
            (UsageKey::CACHE_READ_TOKENS, 30_000.0),
            (UsageKey::CACHE_WRITE_TOKENS, 20_000.0),
            (UsageKey::OUTPUT_TOKENS, 7_000.0),
        ]);
        let times = [ms(2024, 6, 1), ms(2025, 12, 1), ms(2026, 9, 1)];
        let answer = |c: &Calculator, req: &PriceRequest| match c.calculate(req) {
            Ok(p) => format!(
                "{} {} {:?} {:?} {:?} {:?}",
                p.provider_id, p.model_id, p.input_price, p.output_price, p.total_price, p.warnings
            ),
            Err(e) => format!("error {e}"),
        };
        let mut asked = 0;
        for provider in eager.providers() {
            for model in provider.models() {
                for t in times {
                    for prov in [Some(provider.id()), None] {
                        let mut req =
                            PriceRequest::new(model.id(), &usage).with_timestamp(ms_to_time(t));
                        if let Some(p) = prov {
                            req = req.with_provider_id(p);
                        }
                        assert_eq!(answer(lazy, &req), answer(&eager, &req), "{}", model.id());
                        asked += 1;
                    }
                }
            }
            assert_eq!(
                catalog_info(provider.id(), "x").0.as_deref(),
                Some(provider.name())
            );
        }
        assert!(asked > 10_000, "{asked} questions");
        // Provider selection by API URL (regular expressions tokwatch never asks for).
        for url in [
            "https://api.anthropic.com/v1",
            "https://api.openai.com/v1",
            "nowhere",
        ] {
            let req = PriceRequest::new("gpt-5", &usage).with_provider_api_url(url);
            assert_eq!(answer(lazy, &req), answer(&eager, &req), "{url}");
        }
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
}
