//! Prices for usage events: genai-prices data offline, user overrides on top.
//! (Stub interface: the implementation lands in its own change.)

use crate::event::{CostSource, UsageEvent};
use serde::{Deserialize, Serialize};

/// User price override from the config file, in USD per million tokens.
/// `[prices."model-name"]` in `config.toml`.
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
    /// The price entry the model resolved to (e.g. `anthropic:claude-opus-4-6`), if any.
    pub price_key: Option<String>,
}

pub struct Pricer {
    overrides: std::collections::BTreeMap<String, PriceOverride>,
}

impl Pricer {
    pub fn new(overrides: std::collections::BTreeMap<String, PriceOverride>) -> Pricer {
        Pricer { overrides }
    }

    pub fn price(&self, ev: &UsageEvent) -> Priced {
        let _ = &self.overrides;
        if let Some(c) = ev.reported_cost_usd {
            return Priced {
                cost_usd: Some(c),
                source: CostSource::Reported,
                price_key: None,
            };
        }
        Priced {
            cost_usd: None,
            source: CostSource::Unpriced,
            price_key: None,
        }
    }
}
