//! The config sections of what goes beyond this machine (`docs/sync-and-export.md`). Nothing
//! leaves the machine unless one of them is turned on.
//!
//! ```toml
//! [machine]
//! id = "laptop"                      # default: <hostname>-<6 hex digits>, set once
//!
//! [sync]
//! dir = "~/Sync/tokwatch"            # a folder Syncthing, Dropbox, iCloud Drive... keeps in step
//!
//! [export.prometheus]
//! listen = "127.0.0.1:9464"          # /metrics; loopback unless set otherwise
//! repo = "off"                       # label repositories: off | hash | name
//! branch = "off"                     # label branches: off | hash | name
//!
//! [export.otlp]
//! endpoint = "http://localhost:4318" # else OTEL_EXPORTER_OTLP_ENDPOINT
//! headers = { authorization = "Bearer ..." }
//! resource = { "user.name" = "ana", "host.name" = "laptop" }
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[machine]`: this machine's id in export and sync files.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MachineConfig {
    /// The id (a file name: letters, digits, `.`, `_`, `-`). Default: `<hostname>-<6 hex>`,
    /// chosen once and kept in the database.
    pub id: Option<String>,
}

/// `[sync]`: merge this person's machines through a folder they already keep in step.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SyncConfig {
    /// The folder (`~` is this home). The daemon appends this machine's requests to
    /// `<dir>/<machine id>.jsonl` and reads the other machines' files there.
    pub dir: Option<String>,
}

/// How a repository or branch appears in exported labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelMode {
    /// Not at all (the default: bounded cardinality, nothing named).
    #[default]
    Off,
    /// As a 12-hex-digit hash (of `hash_salt` and the name): series per repository, no names.
    Hash,
    /// By name (the repository key, e.g. `github.com/owner/repo`; the branch as logged).
    Name,
}

/// `[export.prometheus]`: an OpenMetrics `/metrics` endpoint on the daemon.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PrometheusConfig {
    /// `false` turns it off with the section kept.
    pub enabled: Option<bool>,
    /// Address to listen on (default `127.0.0.1:9464`: this machine only).
    pub listen: Option<String>,
    /// The `repo` label.
    #[serde(default)]
    pub repo: LabelMode,
    /// The `branch` label.
    #[serde(default)]
    pub branch: LabelMode,
    /// Mixed into hashed labels (the same on every machine of a team, so hashes match).
    #[serde(default)]
    pub hash_salt: String,
    /// Count every machine's requests this database holds (label `machine`), not only this
    /// machine's. Off by default: a team scraping every machine would count merged ones twice.
    #[serde(default)]
    pub all_machines: bool,
}

/// `[export.otlp]`: push each request as an OTLP log record, and cumulative counters, to an
/// OpenTelemetry collector over OTLP/HTTP (protobuf).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct OtlpConfig {
    /// `false` turns it off with the section kept.
    pub enabled: Option<bool>,
    /// Base URL (`/v1/logs` and `/v1/metrics` are added); else `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// else `http://localhost:4318`.
    pub endpoint: Option<String>,
    /// Full URL for logs; else `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`.
    pub logs_endpoint: Option<String>,
    /// Full URL for metrics; else `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
    pub metrics_endpoint: Option<String>,
    /// Request headers (added to `OTEL_EXPORTER_OTLP_HEADERS`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `http/protobuf` (the only one); else `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub protocol: Option<String>,
    /// Seconds per request before it counts as failed; else `OTEL_EXPORTER_OTLP_TIMEOUT` (ms).
    pub timeout_secs: Option<f64>,
    /// Resource attributes (added to `OTEL_RESOURCE_ATTRIBUTES`), e.g. `user.name`.
    #[serde(default)]
    pub resource: BTreeMap<String, String>,
    /// Seconds between pushes of the counters; else `OTEL_METRIC_EXPORT_INTERVAL` (ms), 60 s.
    pub metrics_interval_secs: Option<f64>,
    /// The repository attribute.
    #[serde(default)]
    pub repo: LabelMode,
    /// The branch attribute.
    #[serde(default)]
    pub branch: LabelMode,
    /// Mixed into hashed attributes.
    #[serde(default)]
    pub hash_salt: String,
}

/// `[export]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExportConfig {
    /// `[export.prometheus]`.
    pub prometheus: Option<PrometheusConfig>,
    /// `[export.otlp]`.
    pub otlp: Option<OtlpConfig>,
}

impl SyncConfig {
    /// The folder, with `~` expanded against `home`.
    pub fn dir(&self, home: &std::path::Path) -> Option<PathBuf> {
        let d = self.dir.as_deref()?.trim();
        if d.is_empty() {
            return None;
        }
        Some(match d.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None if d == "~" => home.to_path_buf(),
            None => PathBuf::from(d),
        })
    }
}

impl ExportConfig {
    /// The Prometheus section, when it is on.
    pub fn prometheus_on(&self) -> Option<&PrometheusConfig> {
        self.prometheus
            .as_ref()
            .filter(|p| p.enabled != Some(false))
    }
    /// The OTLP section, when it is on.
    pub fn otlp_on(&self) -> Option<&OtlpConfig> {
        self.otlp.as_ref().filter(|p| p.enabled != Some(false))
    }
}

/// A label value under `mode`: `None` when off.
pub fn label(mode: LabelMode, salt: &str, value: &str) -> Option<String> {
    match mode {
        LabelMode::Off => None,
        LabelMode::Name => Some(value.to_string()),
        LabelMode::Hash if value.is_empty() => Some(String::new()),
        LabelMode::Hash => {
            // FNV-1a written out here: `config` may use only `env` and `pricing`
            // (docs/design.md), and the tailer's FNV-1a sits in a layer above.
            let mut h: u64 = 0xcbf29ce484222325;
            for b in salt.bytes().chain([0u8]).chain(value.bytes()) {
                h ^= b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
            Some(format!("{:012x}", h >> 16))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hashed label names the same series on every version: the value is pinned.
    #[test]
    fn a_hashed_label_is_stable() {
        assert_eq!(
            label(LabelMode::Hash, "s1", "my-repo/é").as_deref(),
            Some("1e9c28946223")
        );
        assert_eq!(label(LabelMode::Hash, "s1", "").as_deref(), Some(""));
        assert_eq!(label(LabelMode::Off, "s1", "x"), None);
    }
}
