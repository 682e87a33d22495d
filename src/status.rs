//! The live figures every view shows (tray, statusline, `watch`, alerts, the dashboard):
//! today's, this week's and this month's spend with their forecasts, every budget with its
//! state, the burn rate, active sessions, the session signals and the plan limits. One type,
//! computed in one place from a few small store queries over the periods' buckets.
//!
//! A query that fails is an error here and in every view, never a `$0.00`.

pub mod budgets;
pub mod forecast;
pub mod plan;

use crate::store::budget::{BudgetDef, BudgetScope, BudgetSource, Period, PlanLimit};
use crate::store::query::{Scope, Zone, BUCKET_MS};
use crate::store::Store;
pub use budgets::Settings;
pub use forecast::Forecast;
use serde::Serialize;

/// An active session and what it has cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionNow {
    /// Session id.
    pub session: String,
    /// Repository display name (`(no repository)` when none).
    pub repo: String,
    /// Branch of its latest usage.
    pub branch: Option<String>,
    /// Tool id.
    pub tool: String,
    /// Cost of the whole session.
    pub cost_usd: f64,
    /// Spend in the last hour, per hour.
    pub usd_per_hour: f64,
    /// Start of the 15-minute bucket of its latest usage.
    pub last_ms: i64,
}

/// Spend against a budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetState {
    /// No usable budget set: neutral.
    #[default]
    NoBudget,
    /// Below the `near` fraction of the budget.
    Under,
    /// At or above the `near` fraction, below the budget.
    Near,
    /// The budget is used up (100% or more).
    Over,
}

/// Fraction of `budget` that `spent` uses (not clamped), `None` without a usable budget. A zero
/// budget is used up by any spend at all.
pub fn budget_fraction(spent: f64, budget: Option<f64>) -> Option<f64> {
    let budget = budget.filter(|b| b.is_finite() && *b >= 0.0)?;
    let spent = if spent.is_finite() {
        spent.max(0.0)
    } else {
        0.0
    };
    if budget == 0.0 {
        return Some(if spent > 0.0 { f64::INFINITY } else { 0.0 });
    }
    Some(spent / budget)
}

impl BudgetState {
    /// The one rule: `Over` at 100%, `Near` from the `near` fraction on, else `Under`.
    pub fn of(spent: f64, budget: Option<f64>, near: f64) -> BudgetState {
        match budget_fraction(spent, budget) {
            None => BudgetState::NoBudget,
            Some(f) if f >= 1.0 => BudgetState::Over,
            Some(f) if f >= near => BudgetState::Near,
            Some(_) => BudgetState::Under,
        }
    }
}

/// One period's spend (every tool), and where it is heading.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PeriodStatus {
    /// When the period started, ms.
    pub start_ms: i64,
    /// Spend so far.
    pub cost_usd: f64,
    /// The spend leaves out unpriced usage (a lower bound).
    pub has_unpriced: bool,
    /// Projected spend at the end of the period (`None` when it could not be made).
    pub forecast: Option<Forecast>,
    /// When the period ends, ms.
    #[serde(skip)]
    pub end_ms: i64,
}

/// Today, this week and this month.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Periods {
    /// Today.
    pub day: PeriodStatus,
    /// This week.
    pub week: PeriodStatus,
    /// This month.
    pub month: PeriodStatus,
}

impl Periods {
    /// The period of `p`.
    pub fn get(&self, p: Period) -> &PeriodStatus {
        match p {
            Period::Day => &self.day,
            Period::Week => &self.week,
            Period::Month => &self.month,
        }
    }
}

/// One budget in its current period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetStatus {
    /// Its id.
    pub id: String,
    /// Day, week or month.
    pub period: Period,
    /// What it counts (`all`, `repo:owner/app`, `tool:codex`, `model:claude`,
    /// `provider:anthropic`).
    pub scope: BudgetScope,
    /// The limit.
    pub limit_usd: f64,
    /// Spent in the current period.
    pub spent_usd: f64,
    /// The spend leaves out unpriced usage (a lower bound).
    pub has_unpriced: bool,
    /// `spent / limit` (not clamped; infinite for a zero limit with spend).
    pub fraction: f64,
    /// Under, near (from the first threshold below 100%) or over (100%).
    pub state: BudgetState,
    /// Alert thresholds, fractions of the limit.
    pub thresholds: Vec<f64>,
    /// Projected spend at the end of the period.
    pub forecast: Option<Forecast>,
    /// A hard cap for `tokwatch guard`.
    #[serde(skip)]
    pub hard: bool,
    /// Where it is defined.
    #[serde(skip)]
    pub source: BudgetSource,
    /// Start of the current period, ms.
    #[serde(skip)]
    pub start_ms: i64,
    /// End of the current period, ms.
    #[serde(skip)]
    pub end_ms: i64,
}

/// What an early signal says about a running session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    /// Spending faster than the configured $/h.
    Burn,
    /// The shape of a retry or prompt loop.
    Loop,
    /// The session's model changed.
    Fallback,
}

impl SignalKind {
    /// `burn`, `loop`, `fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Burn => "burn",
            SignalKind::Loop => "loop",
            SignalKind::Fallback => "fallback",
        }
    }
}

/// An early signal of a running session (computed by the daemon from the requests as they are
/// stored).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    /// Burn, loop or fallback.
    pub kind: SignalKind,
    /// The session.
    pub session: String,
    /// Its tool.
    pub tool: String,
    /// Its repository.
    pub repo: Option<String>,
    /// What it says.
    pub message: String,
    /// When the signal's evidence starts, ms.
    pub since_ms: i64,
    /// The session's latest request, ms.
    pub last_ms: i64,
}

/// What the indicator and the alerts show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    /// When it was computed, ms.
    pub now_ms: i64,
    /// The zone periods are counted in.
    pub tz: String,
    /// Today, this week and this month, every tool.
    pub periods: Periods,
    /// Every budget in its current period.
    pub budgets: Vec<BudgetStatus>,
    /// Early signals of running sessions (the daemon fills them in).
    pub signals: Vec<Signal>,
    /// Plan limits from Claude Code's statusline input, windows that have not reset yet.
    pub plan_limits: Vec<PlanLimit>,
    /// Alerts are paused (the tray's "Pause alerts").
    pub alerts_paused: bool,
    /// Today's spend (local day).
    pub today_usd: f64,
    /// Today's spend leaves out unpriced usage.
    pub today_has_unpriced: bool,
    /// This week's spend (from the configured first day).
    pub week_usd: f64,
    /// This week's spend leaves out unpriced usage.
    pub week_has_unpriced: bool,
    /// The daily budget of every tool, when one is set (the tray's gauge).
    pub daily_budget_usd: Option<f64>,
    /// Its "near" fraction (its first threshold below 100%).
    pub near: f64,
    /// Today's spend against the daily budget.
    pub budget_state: BudgetState,
    /// Spend per hour over the last hour (all tools).
    pub usd_per_hour: f64,
    /// Today's cost per tool.
    pub by_tool_today: Vec<(String, f64)>,
    /// Sessions with usage in the last 30 minutes.
    pub active_sessions: Vec<SessionNow>,
    /// The week's five costliest repositories.
    pub top_repos_week: Vec<(String, f64)>,
}

/// Sessions with requests in this window count as active.
const ACTIVE_MS: i64 = 30 * 60 * 1000;

/// The instant today (local time) started.
pub fn start_of_today() -> i64 {
    let z = Zone::Local;
    z.start_of(z.today())
}

/// One budget in the period holding `now_ms`, with its forecast when `with_forecast` (the
/// statusline and the guard need none).
pub fn budget_status(
    store: &Store,
    settings: &Settings,
    b: &BudgetDef,
    now_ms: i64,
    with_forecast: bool,
) -> anyhow::Result<BudgetStatus> {
    let (start, end) = settings.bounds(b.period, now_ms);
    let (spent, fc) = budgets::with_query(&b.scope, |q| -> anyhow::Result<_> {
        let spent = store.scope_cost(q, start, end)?;
        let fc = if with_forecast {
            Some(forecast::forecast(
                store, q, b.period, spent.usd, now_ms, end,
            )?)
        } else {
            None
        };
        Ok((spent, fc))
    })?;
    let thresholds = settings.thresholds(b);
    let near = budgets::near_of(&thresholds);
    Ok(BudgetStatus {
        id: b.id.clone(),
        period: b.period,
        scope: b.scope.clone(),
        limit_usd: b.limit_usd,
        spent_usd: spent.usd,
        has_unpriced: spent.has_unpriced,
        fraction: budget_fraction(spent.usd, Some(b.limit_usd)).unwrap_or(0.0),
        state: BudgetState::of(spent.usd, Some(b.limit_usd), near),
        thresholds,
        forecast: fc,
        hard: b.hard,
        source: b.source,
        start_ms: start,
        end_ms: end,
    })
}

/// Computes the status at `now_ms` (periods in the settings' zone and week start).
pub fn compute(store: &Store, settings: &Settings, now_ms: i64) -> anyhow::Result<Status> {
    let mut periods = Periods::default();
    for p in Period::ALL {
        let (start, end) = settings.bounds(p, now_ms);
        let (c, fc) = budgets::with_query(&BudgetScope::All, |q| -> anyhow::Result<_> {
            let c = store.scope_cost(q, start, end)?;
            let fc = forecast::forecast(store, q, p, c.usd, now_ms, end)?;
            Ok((c, fc))
        })?;
        let ps = PeriodStatus {
            start_ms: start,
            cost_usd: c.usd,
            has_unpriced: c.has_unpriced,
            forecast: Some(fc),
            end_ms: end,
        };
        match p {
            Period::Day => periods.day = ps,
            Period::Week => periods.week = ps,
            Period::Month => periods.month = ps,
        }
    }
    let mut budgets = Vec::new();
    for b in settings.budgets(store)? {
        budgets.push(budget_status(store, settings, &b, now_ms, true)?);
    }
    let day = periods.day.start_ms;
    let week = periods.week.start_ms;
    let hour = (now_ms - 3_600_000).div_euclid(BUCKET_MS) * BUCKET_MS;
    let active = now_ms - ACTIVE_MS;
    let h = store.cost(Scope::Since(hour))?;
    let mut active_sessions = Vec::new();
    for a in store.active_sessions(active)? {
        active_sessions.push(SessionNow {
            cost_usd: store.cost(Scope::Session(&a.session))?.usd,
            usd_per_hour: store.cost(Scope::SessionSince(&a.session, hour))?.usd,
            session: a.session,
            repo: a.repo,
            branch: a.branch,
            tool: a.tool,
            last_ms: a.last_ms,
        });
    }
    active_sessions.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd));
    // The tray's gauge: the daily budget of every tool.
    let daily = budgets
        .iter()
        .find(|b| b.period == Period::Day && b.scope == BudgetScope::All);
    let plan_limits = store
        .plan_limits()?
        .into_iter()
        .filter(|l| l.resets_at_ms.is_none_or(|r| r > now_ms))
        .collect();
    Ok(Status {
        now_ms,
        tz: settings.zone.name(),
        today_usd: periods.day.cost_usd,
        today_has_unpriced: periods.day.has_unpriced,
        week_usd: periods.week.cost_usd,
        week_has_unpriced: periods.week.has_unpriced,
        daily_budget_usd: daily.map(|b| b.limit_usd),
        near: daily
            .map(|b| budgets::near_of(&b.thresholds))
            .unwrap_or(crate::config::DEFAULT_NEAR),
        budget_state: daily.map(|b| b.state).unwrap_or_default(),
        usd_per_hour: h.usd,
        by_tool_today: store.cost_by_tool_since(day)?,
        active_sessions,
        top_repos_week: store.top_repos_since(week, 5)?,
        periods,
        budgets,
        signals: Vec::new(),
        plan_limits,
        alerts_paused: store.alerts_paused()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_states() {
        let s = |spent, b| BudgetState::of(spent, b, 0.8);
        assert_eq!(s(3.0, None), BudgetState::NoBudget);
        assert_eq!(s(3.0, Some(f64::NAN)), BudgetState::NoBudget);
        assert_eq!(s(0.0, Some(10.0)), BudgetState::Under);
        assert_eq!(s(7.99, Some(10.0)), BudgetState::Under);
        assert_eq!(s(8.0, Some(10.0)), BudgetState::Near);
        assert_eq!(s(9.99, Some(10.0)), BudgetState::Near);
        assert_eq!(s(10.0, Some(10.0)), BudgetState::Over);
        assert_eq!(s(12.0, Some(10.0)), BudgetState::Over);
        assert_eq!(s(0.0, Some(0.0)), BudgetState::Under);
        assert_eq!(s(0.01, Some(0.0)), BudgetState::Over);
        assert_eq!(BudgetState::of(5.0, Some(10.0), 0.5), BudgetState::Near);
    }
}
