//! The user's config file: `<config dir>/config.toml` (`~/.config/tokwatch/config.toml` on
//! Linux; `$TOKWATCH_CONFIG_DIR` overrides the directory).
//!
//! ```toml
//! [budget]
//! daily_usd = 20.0      # the all-tools budgets "daily", "weekly", "monthly"
//! weekly_usd = 100.0
//! thresholds = [0.85, 0.95, 1.0]   # alert at these fractions (every budget's default)
//! week_start = "monday" # weeks start on this day
//! tz = "Europe/Berlin"  # days, weeks and months of budgets (default: the machine's zone)
//!
//! [[budgets]]           # scoped budgets (also `tokwatch budget set`)
//! usd = 50.0
//! period = "week"       # day | week | month
//! repo = "owner/app"    # or tool = "codex", model = "opus", provider = "anthropic"
//! hard = true           # a cap `tokwatch guard` enforces in Claude Code
//!
//! [alerts]              # docs/budgets.md lists every key
//! on_alert = "notify-send tokwatch \"$TOKWATCH_ALERT_MESSAGE\""
//!
//! [guard]
//! session_usd = 10.0    # one Claude Code session may cost this much
//!
//! [dashboard]           # docs/dashboard.md
//! port = 8377           # default: a free port chosen once and remembered
//!
//! [storage]
//! keep_events_days = 90 # older requests keep only what dedup needs (totals stay exact)
//!
//! [prices."my-local-model"]   # USD per million tokens; wins over the bundled price data
//! input = 0.5
//! output = 1.5
//! cache_read = 0.05
//! ```

pub mod check;
pub mod exporters;
pub mod keys;

use crate::env::Env;
use crate::pricing::PriceOverride;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `near` fraction when the config sets none: the first of [`DEFAULT_THRESHOLDS`].
pub const DEFAULT_NEAR: f64 = 0.85;

/// The fractions of a budget at which alerts fire when the config names none.
pub const DEFAULT_THRESHOLDS: [f64; 3] = [0.85, 0.95, 1.0];

/// `[budget]`: the all-tools budgets (`daily_usd` = the budget "daily", and so on), the default
/// thresholds of every budget, and how periods are counted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Budget {
    /// USD per day, every tool: the budget "daily".
    pub daily_usd: Option<f64>,
    /// USD per week, every tool: the budget "weekly".
    pub weekly_usd: Option<f64>,
    /// USD per month, every tool: the budget "monthly".
    pub monthly_usd: Option<f64>,
    /// Kept from earlier versions: the first threshold of the `[budget]` budgets ("near" from
    /// this fraction on, 0 < near <= 1). `thresholds` wins when both are set.
    pub near: Option<f64>,
    /// Alert thresholds, fractions of the limit (default `[0.85, 0.95, 1.0]`), for every budget
    /// that names none of its own.
    pub thresholds: Option<Vec<f64>>,
    /// The day weeks start on (`monday` .. `sunday`; default `monday`).
    pub week_start: Option<String>,
    /// Time zone of budget days, weeks and months: an IANA name, `utc` or `local` (default).
    pub tz: Option<String>,
}

impl Budget {
    /// The `near` fraction in use: the first threshold below 100% of the `[budget]` budgets.
    pub fn near_fraction(&self) -> f64 {
        self.legacy_thresholds()
            .into_iter()
            .find(|t| *t < 1.0)
            .unwrap_or(1.0)
    }

    /// Thresholds of the `[budget]` budgets: `thresholds`, else the defaults with `near` in
    /// place of the first one (and only the defaults above it).
    pub fn legacy_thresholds(&self) -> Vec<f64> {
        if let Some(t) = &self.thresholds {
            return t.clone();
        }
        match self.near.filter(|n| *n > 0.0 && *n <= 1.0) {
            Some(n) => std::iter::once(n)
                .chain(DEFAULT_THRESHOLDS[1..].iter().copied().filter(|d| *d > n))
                .collect(),
            None => DEFAULT_THRESHOLDS.to_vec(),
        }
    }
}

/// `[[budgets]]`: one budget with a scope (at most one of `repo`, `tool`, `model`,
/// `provider`; none = every tool).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct BudgetEntry {
    /// Its id (default: made from period and scope, e.g. `weekly-repo:owner/app`).
    pub id: Option<String>,
    /// The limit in USD.
    pub usd: f64,
    /// `day`, `week` or `month` (`daily`, `weekly`, `monthly` too).
    pub period: String,
    /// Only this repository (`owner/name`, remote, or root path).
    pub repo: Option<String>,
    /// Only this tool (`claude-code`, `codex`, ...).
    pub tool: Option<String>,
    /// Only models whose name contains this (`opus`, `claude`, `gpt-5`).
    pub model: Option<String>,
    /// Only this provider (`anthropic`, `openai`, `google`, ...).
    pub provider: Option<String>,
    /// Alert thresholds of this budget (default: `[budget] thresholds`).
    pub thresholds: Option<Vec<f64>>,
    /// A hard cap: `tokwatch guard` stops Claude Code while it is used up.
    #[serde(default)]
    pub hard: bool,
}

/// `[alerts]`: where alerts go and when the early signals speak.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AlertsConfig {
    /// A shell command run for each alert, with the alert in `TOKWATCH_ALERT_*` variables and
    /// as JSON on stdin.
    pub on_alert: Option<String>,
    /// Desktop notifications (default true).
    pub desktop: Option<bool>,
    /// Burn-rate alert: a session spending more than this per hour (default 20; 0 = off).
    pub burn_usd_per_hour: Option<f64>,
    /// Minutes the burn rate is measured over (default 10).
    pub burn_minutes: Option<u32>,
    /// Loop alert: requests within this many minutes are looked at (default 10).
    pub loop_minutes: Option<u32>,
    /// Loop alert: at least this many requests in the window (default 6).
    pub loop_min_requests: Option<u32>,
    /// Loop alert: their context sizes differ by at most this fraction (default 0.005).
    pub loop_size_tolerance: Option<f64>,
    /// Loop alert: none of them wrote more than this many output tokens (default 400).
    pub loop_max_output: Option<i64>,
    /// Loop alert: this many requests in a row after the same tool error (default 3; 0 = off).
    pub loop_same_errors: Option<u32>,
    /// Fallback alert when a session's model changes (default true).
    pub fallback: Option<bool>,
    /// Plan-limit thresholds, fractions of a window (default `[0.85, 0.95]`).
    pub plan_thresholds: Option<Vec<f64>>,
    /// Forecast alert when the projection crosses a budget before it is reached (default true).
    pub forecast: Option<bool>,
}

/// `[guard]`: caps of `tokwatch guard` beyond the hard budgets.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct GuardConfig {
    /// One Claude Code session may cost at most this much.
    pub session_usd: Option<f64>,
}

/// `[dashboard]`: the local web dashboard the daemon serves (`docs/dashboard.md`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Serve it (default true).
    pub enabled: Option<bool>,
    /// Its port (default: a free port chosen once and remembered beside the database).
    pub port: Option<u16>,
    /// The address it listens on (default `127.0.0.1`: loopback only).
    pub address: Option<String>,
}

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// `[[budgets]]`: scoped budgets.
    #[serde(default)]
    pub budgets: Vec<BudgetEntry>,
    /// `[alerts]`.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// `[guard]`.
    #[serde(default)]
    pub guard: GuardConfig,
    /// `[aider]`: where to look for Aider's per-repository history files.
    #[serde(default)]
    pub aider: AiderConfig,
    /// `[dashboard]`.
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// `[daemon]`.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// `[storage]`.
    #[serde(default)]
    pub storage: StorageConfig,
}

/// `[storage]`: how long raw events are kept (`docs/config.md`, `tokwatch prune`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Requests older than this many days keep only their identity and numbers (every total
    /// stays exact; the per-request detail of those days is gone). 0 or unset = keep forever.
    pub keep_events_days: Option<u32>,
}

impl StorageConfig {
    /// The retention in days, `None` = keep every request in full.
    pub fn keep_days(&self) -> Option<u32> {
        self.keep_events_days.filter(|d| *d > 0)
    }
}

/// `[daemon]`: how the live daemon is started.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct DaemonConfig {
    /// Commands that show figures (`statusline`, `report`, `repos`, `watch`) start the daemon
    /// in the background when none runs (default true).
    pub auto_start: Option<bool>,
}

/// `[aider]`: Aider writes `.aider.chat.history.md` in the root of the repository it runs in.
/// tokwatch looks in the root of every repository it knows from any tool's usage, and in these
/// project directories down to `depth` levels.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AiderConfig {
    /// Directories holding repositories (`~/` allowed); default `~/src`, `~/code`,
    /// `~/projects`, `~/dev`, `~/repos`. An empty list turns the search off.
    pub project_dirs: Option<Vec<String>>,
    /// How many directory levels below a project directory a repository may sit (default 3:
    /// `~/src/github.com/owner/repo`).
    pub depth: Option<usize>,
}

impl AiderConfig {
    /// The default project directories, below the home directory.
    pub const DEFAULT_DIRS: &'static [&'static str] = &["src", "code", "projects", "dev", "repos"];
    /// The default depth.
    pub const DEFAULT_DEPTH: usize = 3;

    /// The project directories to search, `~/` expanded.
    pub fn dirs(&self, home: &std::path::Path) -> Vec<PathBuf> {
        match &self.project_dirs {
            None => Self::DEFAULT_DIRS.iter().map(|d| home.join(d)).collect(),
            Some(v) => v
                .iter()
                .map(|d| d.trim())
                .filter(|d| !d.is_empty())
                .map(|d| match d.strip_prefix("~/") {
                    Some(rest) => home.join(rest),
                    None if d == "~" => home.to_path_buf(),
                    None => PathBuf::from(d),
                })
                .collect(),
        }
    }

    /// The search depth.
    pub fn depth(&self) -> usize {
        self.depth.unwrap_or(Self::DEFAULT_DEPTH).min(8)
    }
}

impl Config {
    /// Loads the config file of `env`; a missing file is an empty config, a bad one an error
    /// naming the line and key of each problem. Warnings (unknown keys) are left out: see
    /// [`Config::check`].
    pub fn load(env: &Env) -> anyhow::Result<Config> {
        Self::check(env, None).1.into_result(&env.config_file())
    }

    /// Reads the config file of `env` with every problem found; `tools` are the tool names
    /// budgets may name. Also returns the file's text (`None` when there is no file).
    pub fn check(env: &Env, tools: Option<&[String]>) -> (Option<String>, check::Checked) {
        let path: PathBuf = env.config_file();
        match std::fs::read_to_string(&path) {
            Ok(s) => {
                let c = check::check_text(&s, tools);
                (Some(s), c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                None,
                check::Checked {
                    config: Some(Config::default()),
                    problems: Vec::new(),
                },
            ),
            Err(e) => (
                None,
                check::Checked {
                    config: None,
                    problems: vec![check::Problem {
                        error: true,
                        line: None,
                        key: None,
                        message: format!("cannot read it: {e}"),
                    }],
                },
            ),
        }
    }
}

impl check::Checked {
    /// The config, or an error naming `path` and every error in it.
    pub fn into_result(self, path: &std::path::Path) -> anyhow::Result<Config> {
        match self.config {
            Some(c) => Ok(c),
            None => {
                let errs: Vec<String> = self.errors().map(|p| format!("  {p}")).collect();
                anyhow::bail!(
                    "the config file {} cannot be used:\n{}\nfix it (`tokwatch config check` checks it again), or move it aside",
                    path.display(),
                    errs.join("\n")
                )
            }
        }
    }
}
