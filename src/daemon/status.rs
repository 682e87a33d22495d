//! What the indicator and the alerts show, computed from the store in a few small queries over
//! the rollup (today's and this week's buckets only).

use crate::config::Budget;
use crate::store::query::{Zone, BUCKET_MS};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionNow {
    pub session: String,
    pub repo: String,
    pub tool: String,
    pub cost_usd: f64,
    /// Spend in the last hour, per hour.
    pub usd_per_hour: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetState {
    #[default]
    None,
    Under,
    Near,
    Over,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    pub today_usd: f64,
    pub today_has_unpriced: bool,
    pub week_usd: f64,
    pub week_has_unpriced: bool,
    pub daily_budget_usd: Option<f64>,
    pub budget_state: BudgetState,
    /// Today's spend per hour over the last hour (all tools).
    pub usd_per_hour: f64,
    pub by_tool_today: Vec<(String, f64)>,
    pub active_sessions: Vec<SessionNow>,
    pub top_repos_week: Vec<(String, f64)>,
}

/// Sessions with requests in this window count as active.
const ACTIVE_MS: i64 = 30 * 60 * 1000;

fn sum(conn: &rusqlite::Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> (f64, bool) {
    conn.query_row(sql, p, |r| {
        Ok((r.get::<_, f64>(0)?, r.get::<_, f64>(1)? > 0.0))
    })
    .unwrap_or((0.0, false))
}

pub fn compute(conn: &rusqlite::Connection, budget: &Budget, now_ms: i64) -> Status {
    let z = Zone::Local;
    let today = z.date(now_ms);
    let day_b = z.start_of(today).div_euclid(BUCKET_MS);
    let monday =
        today - chrono::Days::new(chrono::Datelike::weekday(&today).num_days_from_monday() as u64);
    let week_b = z.start_of(monday).div_euclid(BUCKET_MS);
    let hour_b = (now_ms - 3_600_000).div_euclid(BUCKET_MS);
    let active_b = (now_ms - ACTIVE_MS).div_euclid(BUCKET_MS);
    use crate::store::query::{live_cost, Scope};
    let (today_usd, today_has_unpriced) = live_cost(conn, Scope::Since(day_b * BUCKET_MS));
    let (week_usd, week_has_unpriced) = live_cost(conn, Scope::Since(week_b * BUCKET_MS));
    let (hour_usd, _) = live_cost(conn, Scope::Since(hour_b * BUCKET_MS));
    let list = |sql: &str, b: i64| -> Vec<(String, f64)> {
        conn.prepare(sql)
            .and_then(|mut s| {
                s.query_map([b], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))
                    .map(|rows| rows.flatten().collect())
            })
            .unwrap_or_default()
    };
    let by_tool_today = list(
        "SELECT tool, total(cost) FROM rollup WHERE bucket >= ?1 GROUP BY tool ORDER BY 2 DESC",
        day_b,
    );
    let top_repos_week = list(
        "SELECT coalesce(w.name, '(no repository)'), total(r.cost) FROM rollup r
         LEFT JOIN workspaces w ON w.id = r.workspace_id
         WHERE r.bucket >= ?1 GROUP BY r.workspace_id ORDER BY 2 DESC LIMIT 5",
        week_b,
    );
    let mut active_sessions: Vec<SessionNow> = conn
        .prepare(
            "SELECT r.session, max(r.tool), coalesce(max(w.name), '(no repository)')
             FROM rollup r LEFT JOIN workspaces w ON w.id = r.workspace_id
             WHERE r.bucket >= ?1 AND r.session != '' GROUP BY r.session",
        )
        .and_then(|mut s| {
            s.query_map([active_b], |r| {
                Ok(SessionNow {
                    session: r.get(0)?,
                    tool: r.get(1)?,
                    repo: r.get(2)?,
                    cost_usd: 0.0,
                    usd_per_hour: 0.0,
                })
            })
            .map(|rows| rows.flatten().collect())
        })
        .unwrap_or_default();
    for s in &mut active_sessions {
        s.cost_usd = live_cost(conn, Scope::Session(&s.session)).0;
        s.usd_per_hour = sum(
            conn,
            "SELECT total(cost), 0 FROM rollup WHERE session = ?1 AND bucket >= ?2",
            &[&s.session, &hour_b],
        )
        .0;
    }
    active_sessions.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd));
    let daily = budget.daily_usd.filter(|b| *b > 0.0);
    let budget_state = match daily {
        None => BudgetState::None,
        Some(b) if today_usd >= b => BudgetState::Over,
        Some(b) if today_usd >= b * budget.near_fraction() => BudgetState::Near,
        Some(_) => BudgetState::Under,
    };
    Status {
        today_usd,
        today_has_unpriced,
        week_usd,
        week_has_unpriced,
        daily_budget_usd: daily,
        budget_state,
        usd_per_hour: hour_usd,
        by_tool_today,
        active_sessions,
        top_repos_week,
    }
}

/// Budget alerts: said once per day and level, *before* the limit where the burn rate shows it
/// coming: at the `near` fraction, when the last hour's rate would cross the budget within the
/// hour, and when it is crossed.
#[derive(Debug, Default)]
pub struct Alerts {
    day: Option<chrono::NaiveDate>,
    said: Vec<&'static str>,
    pub paused: bool,
}

impl Alerts {
    /// Messages to show now (empty when nothing new or paused).
    pub fn check(&mut self, s: &Status, now_ms: i64) -> Vec<String> {
        let today = Zone::Local.date(now_ms);
        if self.day != Some(today) {
            self.day = Some(today);
            self.said.clear();
        }
        let Some(b) = s.daily_budget_usd else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut say = |key: &'static str, msg: String, said: &mut Vec<&'static str>| {
            if !said.contains(&key) {
                said.push(key);
                out.push(msg);
            }
        };
        let spent = s.today_usd;
        if spent >= b {
            say(
                "over",
                format!("Daily budget reached: ${spent:.2} of ${b:.2} today"),
                &mut self.said,
            );
        } else {
            if s.usd_per_hour > 0.0 && spent + s.usd_per_hour >= b {
                let mins = ((b - spent) / s.usd_per_hour * 60.0).max(1.0);
                say(
                    "soon",
                    format!("At ${:.2}/h the daily budget of ${b:.2} is reached in about {mins:.0} min (${spent:.2} so far)", s.usd_per_hour),
                    &mut self.said,
                );
            }
            if s.budget_state == BudgetState::Near {
                say(
                    "near",
                    format!("${spent:.2} of the ${b:.2} daily budget spent"),
                    &mut self.said,
                );
            }
        }
        if self.paused {
            Vec::new()
        } else {
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(spent: f64, per_hour: f64, budget: Option<f64>) -> Status {
        let b = Budget {
            daily_usd: budget,
            ..Budget::default()
        };
        let state = match budget {
            None => BudgetState::None,
            Some(x) if spent >= x => BudgetState::Over,
            Some(x) if spent >= x * b.near_fraction() => BudgetState::Near,
            Some(_) => BudgetState::Under,
        };
        Status {
            today_usd: spent,
            usd_per_hour: per_hour,
            daily_budget_usd: budget,
            budget_state: state,
            ..Status::default()
        }
    }

    #[test]
    fn alerts_come_before_the_limit_once_each() {
        let now = crate::store::now_ms();
        let mut a = Alerts::default();
        assert!(a.check(&st(2.0, 1.0, Some(10.0)), now).is_empty());
        // The burn rate would cross the budget within the hour: warn now, at $7 of $10.
        let m = a.check(&st(7.0, 4.0, Some(10.0)), now);
        assert_eq!(m.len(), 1);
        assert!(m[0].contains("in about 45 min"), "{m:?}");
        assert!(
            a.check(&st(7.5, 4.0, Some(10.0)), now).is_empty(),
            "said once"
        );
        let m = a.check(&st(8.1, 1.0, Some(10.0)), now);
        assert_eq!(
            m,
            vec!["$8.10 of the $10.00 daily budget spent".to_string()]
        );
        let m = a.check(&st(10.2, 1.0, Some(10.0)), now);
        assert!(m[0].starts_with("Daily budget reached"), "{m:?}");
        assert!(a.check(&st(12.0, 1.0, Some(10.0)), now).is_empty());
    }

    #[test]
    fn no_budget_no_alerts_and_pause_silences() {
        let now = crate::store::now_ms();
        let mut a = Alerts::default();
        assert!(a.check(&st(1000.0, 100.0, None), now).is_empty());
        a.paused = true;
        assert!(a.check(&st(20.0, 1.0, Some(10.0)), now).is_empty());
    }
}
