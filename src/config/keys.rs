//! Every key of the config file with its default: the table `docs/config.md` is tested against
//! (`tests/config.rs`), and the list the nearest known key of a misspelt one is chosen from.
//!
//! A path is dotted; `[]` stands for an entry of an array of tables (`budgets[].usd`) and `*`
//! for a name the user chooses (`prices.*.input`, `export.otlp.headers.*`).

/// One key of the config file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    /// Dotted path: `budget.daily_usd`, `budgets[].usd`, `prices.*.input`.
    pub path: &'static str,
    /// Its TOML type as the docs state it (`float`, `string`, `bool`, `[float]`, ...).
    pub kind: &'static str,
    /// The default, as the docs state it (`none` = not set; nothing happens).
    pub default: &'static str,
}

const fn k(path: &'static str, kind: &'static str, default: &'static str) -> Key {
    Key {
        path,
        kind,
        default,
    }
}

/// Every key tokwatch reads from `config.toml`.
pub const KEYS: &[Key] = &[
    k("budget.daily_usd", "float", "none"),
    k("budget.weekly_usd", "float", "none"),
    k("budget.monthly_usd", "float", "none"),
    k("budget.near", "float", "0.85"),
    k("budget.thresholds", "[float]", "[0.85, 0.95, 1.0]"),
    k("budget.week_start", "string", "monday"),
    k("budget.tz", "string", "local"),
    k("budgets[].id", "string", "from period and scope"),
    k("budgets[].usd", "float", "required"),
    k("budgets[].period", "string", "required"),
    k("budgets[].repo", "string", "none"),
    k("budgets[].tool", "string", "none"),
    k("budgets[].model", "string", "none"),
    k("budgets[].provider", "string", "none"),
    k("budgets[].thresholds", "[float]", "budget.thresholds"),
    k("budgets[].hard", "bool", "false"),
    k("alerts.on_alert", "string", "none"),
    k("alerts.desktop", "bool", "true"),
    k("alerts.burn_usd_per_hour", "float", "20"),
    k("alerts.burn_minutes", "integer", "10"),
    k("alerts.loop_minutes", "integer", "10"),
    k("alerts.loop_min_requests", "integer", "6"),
    k("alerts.loop_size_tolerance", "float", "0.005"),
    k("alerts.loop_max_output", "integer", "400"),
    k("alerts.loop_same_errors", "integer", "3"),
    k("alerts.fallback", "bool", "true"),
    k("alerts.plan_thresholds", "[float]", "[0.85, 0.95]"),
    k("alerts.forecast", "bool", "true"),
    k("guard.session_usd", "float", "none"),
    k("prices.*.input", "float", "required"),
    k("prices.*.output", "float", "required"),
    k("prices.*.cache_read", "float", "input × 0.1"),
    k("prices.*.cache_write_5m", "float", "input × 1.25"),
    k("prices.*.cache_write_1h", "float", "input × 2"),
    k("machine.id", "string", "<hostname>-<6 hex digits>"),
    k("sync.dir", "string", "none"),
    k("export.prometheus.enabled", "bool", "true"),
    k("export.prometheus.listen", "string", "127.0.0.1:9464"),
    k("export.prometheus.repo", "string", "off"),
    k("export.prometheus.branch", "string", "off"),
    k("export.prometheus.hash_salt", "string", "\"\""),
    k("export.prometheus.all_machines", "bool", "false"),
    k("export.otlp.enabled", "bool", "true"),
    k("export.otlp.endpoint", "string", "http://localhost:4318"),
    k("export.otlp.logs_endpoint", "string", "<endpoint>/v1/logs"),
    k(
        "export.otlp.metrics_endpoint",
        "string",
        "<endpoint>/v1/metrics",
    ),
    k("export.otlp.headers.*", "string", "none"),
    k("export.otlp.protocol", "string", "http/protobuf"),
    k("export.otlp.timeout_secs", "float", "10"),
    k("export.otlp.resource.*", "string", "none"),
    k("export.otlp.metrics_interval_secs", "float", "60"),
    k("export.otlp.repo", "string", "off"),
    k("export.otlp.branch", "string", "off"),
    k("export.otlp.hash_salt", "string", "\"\""),
    k("daemon.auto_start", "bool", "true"),
    k(
        "aider.project_dirs",
        "[string]",
        "[\"~/src\", \"~/code\", \"~/projects\", \"~/dev\", \"~/repos\"]",
    ),
    k("aider.depth", "integer", "3"),
    k("dashboard.enabled", "bool", "true"),
    k("dashboard.port", "integer", "none"),
    k("dashboard.address", "string", "127.0.0.1"),
    k("storage.keep_events_days", "integer", "0"),
];

/// The key pattern a concrete path matches (`budgets.2.usd` -> `budgets[].usd`,
/// `prices.my-model.input` -> `prices.*.input`), `None` when it is no known key.
pub fn pattern_of(segs: &[String]) -> Option<&'static Key> {
    KEYS.iter().find(|k| matches(k.path, segs))
}

fn pattern_segs(p: &str) -> Vec<&str> {
    let mut v = Vec::new();
    for part in p.split('.') {
        match part.strip_suffix("[]") {
            Some(name) => {
                v.push(name);
                v.push("[]");
            }
            None => v.push(part),
        }
    }
    v
}

fn seg_matches(pat: &str, seg: &str) -> bool {
    match pat {
        "*" => true,
        "[]" => seg.parse::<usize>().is_ok(),
        p => p == seg,
    }
}

fn matches(pattern: &str, segs: &[String]) -> bool {
    let p = pattern_segs(pattern);
    p.len() == segs.len() && p.iter().zip(segs).all(|(p, s)| seg_matches(p, s))
}

/// The known key nearest to the unknown `segs`: among the keys of the same table first (a typo
/// of a sibling), else among all keys by their last part; written as the user would write it
/// at that place (`budget.daily_usd`).
pub fn nearest(segs: &[String]) -> Option<String> {
    let last = segs.last()?;
    let parent = &segs[..segs.len() - 1];
    let mut best: Option<(usize, String)> = None;
    fn consider(best: &mut Option<(usize, String)>, dist: usize, name: String) {
        if best.as_ref().is_none_or(|(d, _)| dist < *d) {
            *best = Some((dist, name));
        }
    }
    for k in KEYS {
        let p = pattern_segs(k.path);
        let (kparent, klast) = p.split_at(p.len() - 1);
        if kparent.len() == parent.len()
            && kparent.iter().zip(parent).all(|(p, s)| seg_matches(p, s))
        {
            let mut full: Vec<String> = parent.to_vec();
            full.push(klast[0].to_string());
            // `daily` for `daily_usd`: a shortened sibling is the nearest.
            let d = if klast[0].starts_with(last.as_str()) || last.starts_with(klast[0]) {
                1
            } else {
                strsim::damerau_levenshtein(last, klast[0])
            };
            consider(&mut best, d, full.join("."));
        }
    }
    if let Some((d, _)) = &best {
        if *d <= last.len().div_ceil(2) {
            return best.map(|(_, n)| n);
        }
    }
    // Not a sibling's typo: the same name at another place (`daily_usd` at the top level).
    best = None;
    for k in KEYS {
        let p = pattern_segs(k.path);
        let klast = p[p.len() - 1];
        if klast == "*" {
            continue;
        }
        consider(
            &mut best,
            strsim::damerau_levenshtein(last, klast),
            k.path.to_string(),
        );
    }
    best.map(|(_, n)| n)
}
