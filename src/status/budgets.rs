//! Which budgets there are (config.toml and `tokwatch budget set`), how their periods are
//! counted, and which usage each one counts.

use crate::config::{BudgetEntry, Config, DEFAULT_THRESHOLDS};
use crate::store::budget::{
    parse_weekday, BudgetDef, BudgetScope, BudgetSource, Period, ScopeQuery,
};
use crate::store::query::Zone;
use crate::store::Store;
use anyhow::bail;
use chrono::Weekday;

/// How budgets are counted: the zone and week start of their periods, the budgets of the
/// config file, and the default thresholds.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Days, weeks and months are counted in this zone.
    pub zone: Zone,
    /// Weeks start on this day.
    pub week_start: Weekday,
    /// Budgets of `config.toml`.
    pub config_budgets: Vec<BudgetDef>,
    /// Thresholds of budgets that name none.
    pub default_thresholds: Vec<f64>,
    /// `[guard] session_usd`.
    pub guard_session_usd: Option<f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            zone: Zone::Local,
            week_start: Weekday::Mon,
            config_budgets: Vec::new(),
            default_thresholds: DEFAULT_THRESHOLDS.to_vec(),
            guard_session_usd: None,
        }
    }
}

/// Thresholds as given, checked (each a fraction above 0) and sorted.
pub fn check_thresholds(t: &[f64]) -> Result<Vec<f64>, String> {
    if t.is_empty() {
        return Err("a budget needs at least one threshold (1.0 = the limit itself)".into());
    }
    let mut v = Vec::new();
    for x in t {
        if !x.is_finite() || *x <= 0.0 || *x > 10.0 {
            return Err(format!(
                "threshold {x} is not a fraction of the limit: use numbers such as 0.85 (85%) or 1.0 (the limit)"
            ));
        }
        v.push(*x);
    }
    v.sort_by(f64::total_cmp);
    v.dedup();
    Ok(v)
}

/// A limit in USD, checked.
pub fn check_limit(usd: f64) -> Result<f64, String> {
    if !usd.is_finite() || usd < 0.0 {
        return Err(format!(
            "the budget limit {usd} is not an amount in USD (use 0 or more)"
        ));
    }
    Ok(usd)
}

fn entry_def(e: &BudgetEntry) -> Result<BudgetDef, String> {
    let period = Period::parse(&e.period)
        .ok_or_else(|| format!("budget period {:?} is not day, week or month", e.period))?;
    let scopes: Vec<BudgetScope> = [
        e.repo.clone().map(BudgetScope::Repo),
        e.tool.clone().map(BudgetScope::Tool),
        e.model.clone().map(BudgetScope::Model),
        e.provider
            .clone()
            .map(|p| BudgetScope::Provider(p.to_ascii_lowercase())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if scopes.len() > 1 {
        return Err(
            "a budget counts one thing: give at most one of repo, tool, model, provider".into(),
        );
    }
    let scope = scopes.into_iter().next().unwrap_or(BudgetScope::All);
    let thresholds = e.thresholds.as_deref().map(check_thresholds).transpose()?;
    Ok(BudgetDef {
        id: e
            .id
            .clone()
            .unwrap_or_else(|| BudgetDef::default_id(period, &scope)),
        period,
        scope,
        limit_usd: check_limit(e.usd)?,
        thresholds,
        hard: e.hard,
        source: BudgetSource::Config,
    })
}

impl Settings {
    /// The settings a config file describes; a mistake in it is an error that names the key.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Settings> {
        let b = &cfg.budget;
        let zone = match b.tz.as_deref() {
            None => Zone::Local,
            Some(z) => Zone::parse(z).map_err(|e| anyhow::anyhow!("[budget] tz: {e}"))?,
        };
        let week_start = match b.week_start.as_deref() {
            None => Weekday::Mon,
            Some(w) => match parse_weekday(w) {
                Some(d) => d,
                None => bail!("[budget] week_start = {w:?} is not a day: use monday .. sunday"),
            },
        };
        let default_thresholds = match &b.thresholds {
            Some(t) => {
                check_thresholds(t).map_err(|e| anyhow::anyhow!("[budget] thresholds: {e}"))?
            }
            None => DEFAULT_THRESHOLDS.to_vec(),
        };
        let legacy = check_thresholds(&b.legacy_thresholds())
            .map_err(|e| anyhow::anyhow!("[budget] near: {e}"))?;
        let mut config_budgets = Vec::new();
        for (period, usd) in [
            (Period::Day, b.daily_usd),
            (Period::Week, b.weekly_usd),
            (Period::Month, b.monthly_usd),
        ] {
            let Some(usd) = usd else { continue };
            let limit_usd = check_limit(usd)
                .map_err(|e| anyhow::anyhow!("[budget] {}_usd: {e}", period.adjective()))?;
            config_budgets.push(BudgetDef {
                id: period.adjective().to_string(),
                period,
                scope: BudgetScope::All,
                limit_usd,
                thresholds: (legacy != default_thresholds).then(|| legacy.clone()),
                hard: false,
                source: BudgetSource::Config,
            });
        }
        for (i, e) in cfg.budgets.iter().enumerate() {
            let d =
                entry_def(e).map_err(|m| anyhow::anyhow!("[[budgets]] entry {}: {m}", i + 1))?;
            if config_budgets.iter().any(|c: &BudgetDef| c.id == d.id) {
                bail!(
                    "[[budgets]] entry {}: the id {:?} is used twice; give one of them `id = \"...\"`",
                    i + 1,
                    d.id
                );
            }
            config_budgets.push(d);
        }
        if let Some(t) = &cfg.alerts.plan_thresholds {
            check_thresholds(t).map_err(|e| anyhow::anyhow!("[alerts] plan_thresholds: {e}"))?;
        }
        if let Some(s) = cfg.guard.session_usd {
            check_limit(s).map_err(|e| anyhow::anyhow!("[guard] session_usd: {e}"))?;
        }
        Ok(Settings {
            zone,
            week_start,
            config_budgets,
            default_thresholds,
            guard_session_usd: cfg.guard.session_usd,
        })
    }

    /// Every budget: the config's, with the stored ones (`tokwatch budget set`) added and
    /// winning over a config budget of the same id. Budgets of every tool come first, then by
    /// period and id.
    pub fn budgets(&self, store: &Store) -> anyhow::Result<Vec<BudgetDef>> {
        let mut all = self.config_budgets.clone();
        for b in store.budgets()? {
            match all.iter_mut().find(|c| c.id == b.id) {
                Some(c) => *c = b,
                None => all.push(b),
            }
        }
        all.sort_by(|a, b| {
            (a.scope != BudgetScope::All)
                .cmp(&(b.scope != BudgetScope::All))
                .then(a.period.cmp(&b.period))
                .then(a.id.cmp(&b.id))
        });
        Ok(all)
    }

    /// The thresholds a budget fires at.
    pub fn thresholds(&self, b: &BudgetDef) -> Vec<f64> {
        b.thresholds
            .clone()
            .unwrap_or_else(|| self.default_thresholds.clone())
    }

    /// `[start, end)` of the period of `p` holding `at_ms`.
    pub fn bounds(&self, p: Period, at_ms: i64) -> (i64, i64) {
        p.bounds(self.zone, self.week_start, at_ms)
    }
}

/// The "near" fraction of a list of thresholds: the first below 100% (1.0 when none is).
pub fn near_of(thresholds: &[f64]) -> f64 {
    thresholds.iter().copied().find(|t| *t < 1.0).unwrap_or(1.0)
}

/// The provider of a model, from its name: `anthropic/...` prefixes first, else the family
/// (`claude` → anthropic, `gpt`/`o3`/`codex` → openai, `gemini` → google, ...). `None` when
/// the name says nothing (local models, aliases).
pub fn provider_of(model: &str) -> Option<&'static str> {
    let m = model.trim().to_ascii_lowercase();
    const PREFIXES: [(&str, &str); 10] = [
        ("anthropic/", "anthropic"),
        ("openai/", "openai"),
        ("google/", "google"),
        ("gemini/", "google"),
        ("vertex_ai/", "google"),
        ("x-ai/", "x-ai"),
        ("xai/", "x-ai"),
        ("deepseek/", "deepseek"),
        ("mistral/", "mistral"),
        ("bedrock/anthropic", "anthropic"),
    ];
    for (p, id) in PREFIXES {
        if m.starts_with(p) {
            return Some(id);
        }
    }
    let name = m.rsplit('/').next().unwrap_or(&m);
    let name = name.strip_prefix("anthropic.").unwrap_or(name);
    const FAMILIES: [(&str, &str); 16] = [
        ("claude", "anthropic"),
        ("gpt", "openai"),
        ("chatgpt", "openai"),
        ("codex", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o4", "openai"),
        ("gemini", "google"),
        ("gemma", "google"),
        ("grok", "x-ai"),
        ("deepseek", "deepseek"),
        ("mistral", "mistral"),
        ("codestral", "mistral"),
        ("devstral", "mistral"),
        ("qwen", "alibaba"),
        ("kimi", "moonshotai"),
    ];
    FAMILIES
        .iter()
        .find(|(f, _)| name.starts_with(f))
        .map(|(_, p)| *p)
        // Cloud ids such as `us.anthropic.claude-sonnet-4-5-v1:0`.
        .or_else(|| name.contains("claude").then_some("anthropic"))
}

/// Whether a model's usage counts for a model or provider scope (other scopes count every
/// model).
pub fn model_in_scope(scope: &BudgetScope, model: &str) -> bool {
    match scope {
        BudgetScope::Model(m) => model.to_ascii_lowercase().contains(&m.to_ascii_lowercase()),
        BudgetScope::Provider(p) => provider_of(model) == Some(p.as_str()),
        _ => true,
    }
}

/// Runs `f` with the spend query of a scope.
pub fn with_query<R>(scope: &BudgetScope, f: impl FnOnce(&ScopeQuery) -> R) -> R {
    let pred = |m: &str| model_in_scope(scope, m);
    let q = ScopeQuery {
        tool: match scope {
            BudgetScope::Tool(t) => Some(t.as_str()),
            _ => None,
        },
        repo: match scope {
            BudgetScope::Repo(r) => Some(r.as_str()),
            _ => None,
        },
        model: match scope {
            BudgetScope::Model(_) | BudgetScope::Provider(_) => Some(&pred),
            _ => None,
        },
    };
    f(&q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_from_model_names() {
        assert_eq!(provider_of("claude-opus-4-6"), Some("anthropic"));
        assert_eq!(
            provider_of("anthropic/claude-sonnet-4-5"),
            Some("anthropic")
        );
        assert_eq!(
            provider_of("us.anthropic.claude-sonnet-4-5-v1:0"),
            Some("anthropic")
        );
        assert_eq!(provider_of("gpt-5.3-codex"), Some("openai"));
        assert_eq!(provider_of("o3-mini"), Some("openai"));
        assert_eq!(provider_of("gemini-2.5-pro"), Some("google"));
        assert_eq!(provider_of("qwen2.5-coder:32b"), Some("alibaba"));
        assert_eq!(provider_of("my-local-model"), None);
        assert!(model_in_scope(
            &BudgetScope::Model("Opus".into()),
            "claude-opus-4-6"
        ));
        assert!(!model_in_scope(
            &BudgetScope::Provider("openai".into()),
            "claude-opus-4-6"
        ));
    }

    #[test]
    fn config_budgets_and_their_mistakes() {
        let cfg: Config = toml::from_str(
            r#"
            [budget]
            daily_usd = 10.0
            near = 0.5
            week_start = "sunday"
            tz = "Europe/Berlin"
            [[budgets]]
            usd = 50
            period = "weekly"
            repo = "owner/app"
            hard = true
            [[budgets]]
            usd = 2
            period = "day"
            tool = "codex"
            thresholds = [1.0, 0.5]
            "#,
        )
        .unwrap();
        let s = Settings::from_config(&cfg).unwrap();
        assert_eq!(s.week_start, Weekday::Sun);
        let ids: Vec<&str> = s.config_budgets.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["daily", "weekly-repo:owner/app", "daily-tool:codex"]);
        assert_eq!(s.thresholds(&s.config_budgets[0]), vec![0.5, 0.95, 1.0]);
        assert_eq!(s.thresholds(&s.config_budgets[1]), vec![0.85, 0.95, 1.0]);
        assert_eq!(s.thresholds(&s.config_budgets[2]), vec![0.5, 1.0]);
        assert!(s.config_budgets[1].hard);

        let bad = |t: &str| {
            format!(
                "{:#}",
                Settings::from_config(&toml::from_str::<Config>(t).unwrap()).unwrap_err()
            )
        };
        assert!(bad("[budget]\nweek_start = \"someday\"").contains("monday .. sunday"));
        assert!(bad("[budget]\ntz = \"Mars/Olympus\"").contains("IANA"));
        assert!(bad("[[budgets]]\nusd = 1\nperiod = \"year\"").contains("day, week or month"));
        assert!(
            bad("[[budgets]]\nusd = 1\nperiod = \"day\"\nrepo = \"a\"\ntool = \"b\"")
                .contains("at most one")
        );
        assert!(bad("[[budgets]]\nusd = -1\nperiod = \"day\"").contains("0 or more"));
        assert!(bad("[budget]\nthresholds = [85]").contains("fraction"));
    }
}
