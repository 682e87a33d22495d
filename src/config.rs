//! The user's config file: `<config dir>/config.toml` (`~/.config/tokwatch/config.toml` on
//! Linux; `$TOKWATCH_CONFIG_DIR` overrides the directory).
//!
//! ```toml
//! [budget]
//! daily_usd = 20.0      # tray gauge and alerts
//! weekly_usd = 100.0
//! near = 0.8            # "near" the budget from this fraction on
//!
//! [prices."my-local-model"]   # USD per million tokens; wins over the bundled price data
//! input = 0.5
//! output = 1.5
//! cache_read = 0.05
//! ```

pub mod exporters;

use crate::env::Env;
use crate::pricing::PriceOverride;
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `near` fraction when the config sets none.
pub const DEFAULT_NEAR: f64 = 0.8;

/// `[budget]`: the spend the tray gauge and the alerts measure against.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// USD per local day.
    pub daily_usd: Option<f64>,
    /// USD per week.
    pub weekly_usd: Option<f64>,
    /// USD per month.
    pub monthly_usd: Option<f64>,
    /// "Near" the budget from this fraction on (0 < near <= 1; default 0.8).
    pub near: Option<f64>,
}

impl Budget {
    /// The `near` fraction in use.
    pub fn near_fraction(&self) -> f64 {
        self.near
            .filter(|n| *n > 0.0 && *n <= 1.0)
            .unwrap_or(DEFAULT_NEAR)
    }
}

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[budget]`.
    #[serde(default)]
    pub budget: Budget,
    /// `[prices."model"]`: user prices, USD per million tokens.
    #[serde(default)]
    pub prices: BTreeMap<String, PriceOverride>,
    /// `[machine]`: this machine's id in export and sync files.
    #[serde(default)]
    pub machine: exporters::MachineConfig,
    /// `[sync]`: merge machines through a synced folder.
    #[serde(default)]
    pub sync: exporters::SyncConfig,
    /// `[export.prometheus]`, `[export.otlp]`.
    #[serde(default)]
    pub export: exporters::ExportConfig,
}

impl Config {
    /// Loads the config file of `env`; a missing file is an empty config, a bad one a clear
    /// error.
    pub fn load(env: &Env) -> anyhow::Result<Config> {
        let path: PathBuf = env.config_file();
        match std::fs::read_to_string(&path) {
            Ok(s) => toml::from_str(&s).with_context(|| {
                format!(
                    "the config file {} is not valid: fix the line named above, or move the file aside",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}
