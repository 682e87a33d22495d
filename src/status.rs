//! The live figures every view shows (tray, statusline, `watch`, alerts): today's and this
//! week's spend, the budget and how close it is, the burn rate, active sessions. One type,
//! computed in one place from a few small store queries over today's and this week's buckets.
//!
//! A query that fails is an error here and in every view, never a `$0.00`.

use crate::config::Budget;
#[cfg(test)]
use crate::config::DEFAULT_NEAR;
use crate::store::query::{Scope, Zone, BUCKET_MS};
use crate::store::Store;
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
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

/// What the indicator and the alerts show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    /// Today's spend (local day).
    pub today_usd: f64,
    /// Today's spend leaves out unpriced usage.
    pub today_has_unpriced: bool,
    /// This week's spend (from Monday).
    pub week_usd: f64,
    /// This week's spend leaves out unpriced usage.
    pub week_has_unpriced: bool,
    /// The daily budget, when one is set.
    pub daily_budget_usd: Option<f64>,
    /// The configured "near" fraction.
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

/// Computes the status at `now_ms` (local days and weeks).
pub fn compute(store: &Store, budget: &Budget, now_ms: i64) -> anyhow::Result<Status> {
    let z = Zone::Local;
    let today = z.date(now_ms);
    let day = z.start_of(today);
    let monday =
        today - chrono::Days::new(chrono::Datelike::weekday(&today).num_days_from_monday() as u64);
    let week = z.start_of(monday);
    let hour = (now_ms - 3_600_000).div_euclid(BUCKET_MS) * BUCKET_MS;
    let active = now_ms - ACTIVE_MS;
    let t = store.cost(Scope::Since(day))?;
    let w = store.cost(Scope::Since(week))?;
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
    let daily = budget.daily_usd.filter(|b| *b > 0.0);
    let near = budget.near_fraction();
    Ok(Status {
        today_usd: t.usd,
        today_has_unpriced: t.has_unpriced,
        week_usd: w.usd,
        week_has_unpriced: w.has_unpriced,
        daily_budget_usd: daily,
        near,
        budget_state: BudgetState::of(t.usd, daily, near),
        usd_per_hour: h.usd,
        by_tool_today: store.cost_by_tool_since(day)?,
        active_sessions,
        top_repos_week: store.top_repos_since(week, 5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_states() {
        let s = |spent, b| BudgetState::of(spent, b, DEFAULT_NEAR);
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
