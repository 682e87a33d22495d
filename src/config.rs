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

use crate::pricing::PriceOverride;
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub daily_usd: Option<f64>,
    pub weekly_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
    pub near: Option<f64>,
}

impl Budget {
    pub fn near_fraction(&self) -> f64 {
        self.near.filter(|n| *n > 0.0 && *n <= 1.0).unwrap_or(0.8)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub budget: Budget,
    #[serde(default)]
    pub prices: BTreeMap<String, PriceOverride>,
}

/// The configuration directory (holds `config.toml` and user parser specs in `parsers/`).
pub fn config_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("TOKWATCH_CONFIG_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(p);
    }
    directories::ProjectDirs::from("", "", "tokwatch")
        .map(|d| d.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".tokwatch"))
}

impl Config {
    /// Loads the config file; a missing file is an empty config, a bad one a clear error.
    pub fn load() -> anyhow::Result<Config> {
        let path = config_dir().join("config.toml");
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
