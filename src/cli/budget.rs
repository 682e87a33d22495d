//! `tokwatch budget set|list|rm` and `tokwatch alerts`.

use super::output::bold;
use crate::app::App;
use crate::format::{usd, usd_marked};
use crate::status::budgets::{check_limit, check_thresholds, Settings};
use crate::status::{budget_status, BudgetState, BudgetStatus};
use crate::store::budget::{BudgetDef, BudgetScope, BudgetSource, Period};
use crate::store::query::Zone;
use crate::store::{now_ms, Store};
use anyhow::bail;
use clap::{Args, Subcommand};
use serde::Serialize;

/// Which budget: a period and at most one scope.
#[derive(Debug, Clone, Args, Default)]
#[command(group(clap::ArgGroup::new("which_period").args(["daily", "weekly", "monthly", "period"])))]
#[command(group(clap::ArgGroup::new("which_scope").args(["repo", "tool", "model", "provider"])))]
pub struct Which {
    /// Per day.
    #[arg(long)]
    pub daily: bool,
    /// Per week (from `[budget] week_start`, Monday by default).
    #[arg(long)]
    pub weekly: bool,
    /// Per calendar month.
    #[arg(long)]
    pub monthly: bool,
    /// The period by name: day, week or month.
    #[arg(long, value_name = "PERIOD")]
    pub period: Option<String>,
    /// Only this repository (owner/name as `tokwatch repos` shows it, remote, or root path).
    #[arg(long)]
    pub repo: Option<String>,
    /// Only this tool (claude-code, codex, ...).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only models whose name contains this text (claude, opus, gpt-5).
    #[arg(long)]
    pub model: Option<String>,
    /// Only this provider (anthropic, openai, google, ...).
    #[arg(long)]
    pub provider: Option<String>,
}

impl Which {
    fn period(&self) -> anyhow::Result<Option<Period>> {
        Ok(if self.daily {
            Some(Period::Day)
        } else if self.weekly {
            Some(Period::Week)
        } else if self.monthly {
            Some(Period::Month)
        } else if let Some(p) = &self.period {
            match Period::parse(p) {
                Some(p) => Some(p),
                None => bail!("--period {p:?} is not day, week or month"),
            }
        } else {
            None
        })
    }
    fn scope(&self) -> BudgetScope {
        if let Some(r) = &self.repo {
            BudgetScope::Repo(r.clone())
        } else if let Some(t) = &self.tool {
            BudgetScope::Tool(t.clone())
        } else if let Some(m) = &self.model {
            BudgetScope::Model(m.clone())
        } else if let Some(p) = &self.provider {
            BudgetScope::Provider(p.to_ascii_lowercase())
        } else {
            BudgetScope::All
        }
    }
}

/// What `budget` does.
#[derive(Debug, Subcommand)]
pub enum BudgetCmd {
    /// Set a budget: `tokwatch budget set 50 --weekly --repo owner/app`. Setting one with the
    /// same period and scope (or id) again replaces it.
    Set {
        /// The limit in USD.
        amount: f64,
        /// Period and scope.
        #[command(flatten)]
        which: Which,
        /// Alert at these fractions of the limit, comma-separated (default 0.85,0.95,1).
        #[arg(long, value_delimiter = ',', value_name = "FRACTIONS")]
        thresholds: Option<Vec<f64>>,
        /// A hard cap: `tokwatch guard` (when installed) stops Claude Code while it is used up.
        #[arg(long)]
        hard: bool,
        /// Its id (default: from period and scope, e.g. weekly-repo:owner/app).
        #[arg(long)]
        id: Option<String>,
    },
    /// Every budget with what is spent, its state and the forecast for the end of its period.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a budget set with `budget set`, by id or by period and scope.
    Rm {
        /// The budget's id (as `budget list` shows it).
        id: Option<String>,
        /// Or its period and scope.
        #[command(flatten)]
        which: Which,
    },
}

/// A budget as `budget list --json` prints it: the status fields plus where it is defined.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    status: &'a BudgetStatus,
    hard: bool,
    source: BudgetSource,
    start_ms: i64,
    end_ms: i64,
}

/// Runs `budget ...`.
pub fn run(app: &App, cmd: &BudgetCmd) -> anyhow::Result<i32> {
    let config = app.config()?;
    let settings = Settings::from_config(&config).map_err(|e| {
        e.context(format!(
            "fix the budget settings in {}",
            app.env.config_file().display()
        ))
    })?;
    match cmd {
        BudgetCmd::Set {
            amount,
            which,
            thresholds,
            hard,
            id,
        } => {
            let Some(period) = which.period()? else {
                bail!(
                    "say which period: --daily, --weekly or --monthly (or --period day|week|month)"
                )
            };
            let scope = which.scope();
            let limit_usd = check_limit(*amount).map_err(anyhow::Error::msg)?;
            let thresholds = thresholds
                .as_deref()
                .map(check_thresholds)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let def = BudgetDef {
                id: id
                    .clone()
                    .unwrap_or_else(|| BudgetDef::default_id(period, &scope)),
                period,
                scope: scope.clone(),
                limit_usd,
                thresholds,
                hard: *hard,
                source: BudgetSource::Set,
            };
            let store = Store::open_writer(&app.db)?;
            store.set_budget(&def)?;
            crate::status::plan::poke(&app.db, "budgets-changed");
            let t = settings.thresholds(&def);
            let pct: Vec<String> = t.iter().map(|x| format!("{:.0}%", x * 100.0)).collect();
            println!(
                "Budget {} set: {} per {} for {} (alerts at {}){}.",
                def.id,
                usd(def.limit_usd),
                def.period.as_str(),
                def.scope.describe(),
                pct.join(", "),
                if def.hard {
                    "; a hard cap for `tokwatch guard`"
                } else {
                    ""
                }
            );
            if settings.config_budgets.iter().any(|c| c.id == def.id) {
                println!(
                    "It replaces the budget {} of {}.",
                    def.id,
                    app.env.config_file().display()
                );
            }
            if let BudgetScope::Repo(r) = &scope {
                if !store.repo_known(r)? {
                    println!("No usage of a repository {r:?} is recorded yet; it counts once there is. `tokwatch repos` lists the names tokwatch knows.");
                }
            }
            if def.hard && !crate::cli::guard::installed_anywhere(app) {
                println!("`tokwatch guard install` makes Claude Code stop at hard caps.");
            }
            Ok(super::EXIT_OK)
        }
        BudgetCmd::Rm { id, which } => {
            let id = match (id, which.period()?) {
                (Some(id), _) => id.clone(),
                (None, Some(p)) => BudgetDef::default_id(p, &which.scope()),
                (None, None) => bail!("say which budget: its id (see `tokwatch budget list`), or --daily/--weekly/--monthly with its scope"),
            };
            let store = Store::open_writer(&app.db)?;
            if store.remove_budget(&id)? {
                crate::status::plan::poke(&app.db, "budgets-changed");
                println!("Budget {id} removed.");
                if settings.config_budgets.iter().any(|c| c.id == id) {
                    println!(
                        "The budget {id} of {} applies again.",
                        app.env.config_file().display()
                    );
                }
                Ok(super::EXIT_OK)
            } else if settings.config_budgets.iter().any(|c| c.id == id) {
                bail!(
                    "the budget {id} is defined in {}: remove it there",
                    app.env.config_file().display()
                )
            } else {
                bail!("there is no budget {id:?}: `tokwatch budget list` shows their ids")
            }
        }
        BudgetCmd::List { json } => list(app, &settings, *json),
    }
}

/// `monday` .. `sunday`.
pub fn weekday_name(d: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match d {
        Mon => "monday",
        Tue => "tuesday",
        Wed => "wednesday",
        Thu => "thursday",
        Fri => "friday",
        Sat => "saturday",
        Sun => "sunday",
    }
}

fn percent(f: f64) -> String {
    if f.is_finite() {
        format!("{}%", (f * 100.0 + 1e-9).floor() as u64)
    } else {
        "∞".into()
    }
}

fn list(app: &App, settings: &Settings, json: bool) -> anyhow::Result<i32> {
    let store = match Store::open_reader(&app.db) {
        Ok(s) => Some(s),
        Err(e)
            if matches!(
                e.downcast_ref::<crate::store::StoreError>(),
                Some(crate::store::StoreError::Missing(_))
            ) =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let now = now_ms();
    let mut rows = Vec::new();
    if let Some(store) = &store {
        for b in settings.budgets(store)? {
            rows.push(budget_status(store, settings, &b, now, true)?);
        }
    } else {
        // No database yet: the config's budgets, nothing spent.
        for b in &settings.config_budgets {
            let (start, end) = settings.bounds(b.period, now);
            let thresholds = settings.thresholds(b);
            rows.push(BudgetStatus {
                id: b.id.clone(),
                period: b.period,
                scope: b.scope.clone(),
                limit_usd: b.limit_usd,
                spent_usd: 0.0,
                has_unpriced: false,
                fraction: 0.0,
                state: BudgetState::of(
                    0.0,
                    Some(b.limit_usd),
                    crate::status::budgets::near_of(&thresholds),
                ),
                thresholds,
                forecast: None,
                hard: b.hard,
                source: b.source,
                start_ms: start,
                end_ms: end,
            });
        }
    }
    if json {
        let listed: Vec<Listed> = rows
            .iter()
            .map(|s| Listed {
                status: s,
                hard: s.hard,
                source: s.source,
                start_ms: s.start_ms,
                end_ms: s.end_ms,
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "tz": settings.zone.name(),
                "week_start": weekday_name(settings.week_start),
                "budgets": listed,
            }))?
        );
        return Ok(super::EXIT_OK);
    }
    if rows.is_empty() {
        println!("No budgets set. `tokwatch budget set 20 --daily` sets one; `tokwatch budget set 50 --weekly --repo owner/app` one for a repository.");
        return Ok(super::EXIT_OK);
    }
    let header = [
        "id",
        "period",
        "scope",
        "limit",
        "spent",
        "used",
        "state",
        "forecast (low–high)",
        "alerts at",
        "cap",
        "from",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for s in &rows {
        let state = match s.state {
            BudgetState::Near => "near",
            BudgetState::Over => "over",
            _ => "under",
        };
        let fc = s
            .forecast
            .map(|f| {
                format!(
                    "{} ({}–{})",
                    usd(f.mid_usd),
                    usd(f.low_usd),
                    usd(f.high_usd)
                )
            })
            .unwrap_or_else(|| "-".into());
        let t: Vec<String> = s
            .thresholds
            .iter()
            .map(|x| format!("{:.0}%", x * 100.0))
            .collect();
        table.push(vec![
            s.id.clone(),
            s.period.as_str().into(),
            s.scope.to_string(),
            usd(s.limit_usd),
            usd_marked(s.spent_usd, s.has_unpriced),
            percent(s.fraction),
            state.into(),
            fc,
            t.join(" "),
            if s.hard { "hard".into() } else { "-".into() },
            match s.source {
                BudgetSource::Config => "config".into(),
                BudgetSource::Set => "set".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (n, r) in table.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if (3..=5).contains(&i) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        let line = line.join("  ").trim_end().to_string();
        println!("{}", if n == 0 { bold(&line) } else { line });
    }
    println!(
        "Periods in {} (weeks from {}); forecasts at the recent rate (docs/budgets.md).",
        settings.zone.name(),
        weekday_name(settings.week_start)
    );
    if store.is_none() {
        println!("No database yet: nothing counted. `tokwatch scan` reads your logs.");
    }
    Ok(super::EXIT_OK)
}

/// `tokwatch alerts`: every alert that fired, newest first.
pub fn alerts(app: &App, since: Option<&str>, json: bool) -> anyhow::Result<i32> {
    let since_ms = since
        .map(|s| super::parse_when(s, Zone::Local, false))
        .transpose()?
        .unwrap_or(i64::MIN);
    let store = Store::open_reader(&app.db)?;
    let list = store.alerts(since_ms)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(super::EXIT_OK);
    }
    if list.is_empty() {
        println!("No alerts so far. `tokwatch budget list` shows the budgets they watch.");
        return Ok(super::EXIT_OK);
    }
    for a in &list {
        println!(
            "{}  {:<9} {:<10} {}",
            Zone::Local.datetime(a.ts_ms),
            crate::alerts::kind_label(&a.kind),
            a.delivery,
            a.message
        );
    }
    if store.alerts_paused()? {
        println!("Alerts are paused (the tray's \"Pause alerts\").");
    }
    Ok(super::EXIT_OK)
}
