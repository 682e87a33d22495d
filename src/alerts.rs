//! Budget alerts: what to say, once, before and when a budget is reached, and the desktop
//! notification that says it.

#[cfg(test)]
use crate::config::Budget;
use crate::status::{BudgetState, Status};
use crate::store::query::Zone;

/// Budget alerts: said once per day and level, *before* the limit where the burn rate shows it
/// coming: at the `near` fraction, when the last hour's rate would cross the budget within the
/// hour, and when it is crossed.
#[derive(Debug, Default)]
pub struct Alerts {
    day: Option<chrono::NaiveDate>,
    said: Vec<&'static str>,
    /// Set from the tray's "Pause alerts": nothing is said while paused.
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

/// A desktop notification for a budget alert (freedesktop Notifications over D-Bus), where a
/// session bus is reachable.
pub fn notify_desktop(msg: &str) {
    #[cfg(target_os = "linux")]
    {
        let msg = msg.to_string();
        std::thread::spawn(move || {
            let Ok(conn) = zbus::blocking::Connection::session() else {
                return;
            };
            let hints: std::collections::HashMap<&str, zbus::zvariant::Value> = Default::default();
            let _ = conn.call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    "tokwatch",
                    0u32,
                    "",
                    "tokwatch budget",
                    msg.as_str(),
                    Vec::<&str>::new(),
                    hints,
                    10_000i32,
                ),
            );
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = msg;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(spent: f64, per_hour: f64, budget: Option<f64>) -> Status {
        let b = Budget {
            daily_usd: budget,
            ..Budget::default()
        };
        let state = BudgetState::of(spent, budget, b.near_fraction());
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
