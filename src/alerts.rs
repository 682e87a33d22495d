//! Alerts: which budget thresholds, forecasts, session signals and plan limits are to be said
//! now, each said once (the store keeps every alert by key, so a restart, a re-scan or a
//! backfill never says one again), on the desktop (notify-rust: the freedesktop service, macOS,
//! Windows) and to the user's `on_alert` command.
//!
//! Only the current period of each budget is looked at: usage backfilled into an earlier
//! period never fires an alert for it.

pub mod signals;

use crate::config::AlertsConfig;
use crate::daemon::log;
use crate::format::{rate, usd, usd_marked};
use crate::status::{BudgetStatus, Status};
use crate::store::budget::{AlertRecord, BudgetScope, NewAlert, Period};
use crate::store::query::Zone;
use crate::store::{Store, StoredEvent};
use signals::{SignalConfig, SignalTracker};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The plan-limit thresholds when the config names none.
pub const DEFAULT_PLAN_THRESHOLDS: [f64; 2] = [0.85, 0.95];

/// Where alerts go and when they speak (`[alerts]` with the defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// Desktop notifications.
    pub desktop: bool,
    /// A shell command run for each alert.
    pub on_alert: Option<String>,
    /// Forecast alerts.
    pub forecast: bool,
    /// Plan-limit thresholds (fractions of a window).
    pub plan_thresholds: Vec<f64>,
    /// The session signals.
    pub signals: SignalConfig,
}

impl AlertConfig {
    /// `[alerts]` over the defaults.
    pub fn from_config(a: &AlertsConfig) -> AlertConfig {
        AlertConfig {
            desktop: a.desktop.unwrap_or(true),
            on_alert: a.on_alert.clone().filter(|c| !c.trim().is_empty()),
            forecast: a.forecast.unwrap_or(true),
            plan_thresholds: a
                .plan_thresholds
                .clone()
                .unwrap_or_else(|| DEFAULT_PLAN_THRESHOLDS.to_vec()),
            signals: SignalConfig::from_config(a),
        }
    }
}

/// An alert that may fire, and which others it competes with: of the new alerts of one group
/// (a budget, a plan window, a session's signal) found at the same moment only the highest rank
/// is said, the others are recorded as superseded.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// What is recorded.
    pub alert: NewAlert,
    /// Its group.
    pub group: String,
    /// Its rank in the group (a threshold; a forecast ranks below every threshold).
    pub rank: f64,
}

fn percent(f: f64) -> String {
    if f.is_finite() {
        format!("{}%", (f * 100.0 + 1e-9).floor() as u64)
    } else {
        "over a zero budget".into()
    }
}

/// `daily budget`, `weekly budget for owner/app`.
fn budget_name(b: &BudgetStatus) -> String {
    match &b.scope {
        BudgetScope::All => format!("{} budget", b.period.adjective()),
        s => format!("{} budget for {}", b.period.adjective(), s.describe()),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// What a crossed threshold says.
pub fn threshold_message(b: &BudgetStatus, threshold: f64) -> String {
    let spent = usd_marked(b.spent_usd, b.has_unpriced);
    if threshold < 1.0 {
        format!(
            "{spent} of the {} {} spent ({})",
            usd(b.limit_usd),
            budget_name(b),
            percent(b.fraction)
        )
    } else if threshold == 1.0 {
        format!(
            "{} reached: {spent} of {} {}",
            capitalized(&budget_name(b)),
            usd(b.limit_usd),
            b.period.this()
        )
    } else {
        format!(
            "{} exceeded: {spent} of {} {} ({})",
            capitalized(&budget_name(b)),
            usd(b.limit_usd),
            b.period.this(),
            percent(b.fraction)
        )
    }
}

/// The alerts a budget's state calls for now: each threshold reached in the current period,
/// and the forecast when the projection crosses the limit before the spend does.
pub fn budget_candidates(
    b: &BudgetStatus,
    now_ms: i64,
    zone: Zone,
    forecast_on: bool,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    let base = NewAlert {
        budget_id: Some(b.id.clone()),
        period_start_ms: Some(b.start_ms),
        limit_usd: Some(b.limit_usd),
        spent_usd: Some(b.spent_usd),
        ..NewAlert::default()
    };
    for &t in &b.thresholds {
        if b.fraction >= t {
            out.push(Candidate {
                alert: NewAlert {
                    key: format!("budget:{}:{}:{}:{t}", b.id, b.start_ms, b.limit_usd),
                    kind: "threshold".into(),
                    threshold: Some(t),
                    message: threshold_message(b, t),
                    ..base.clone()
                },
                group: format!("budget:{}", b.id),
                rank: t,
            });
        }
    }
    if let (true, Some(f)) = (forecast_on, b.forecast) {
        if b.spent_usd < b.limit_usd && f.mid_usd >= b.limit_usd && f.usd_per_hour > 0.0 {
            let hours = (b.limit_usd - b.spent_usd) / f.usd_per_hour;
            let at = b.end_ms.min(now_ms + (hours * 3_600_000.0) as i64);
            let when = match b.period {
                Period::Day => zone.datetime(at).split_off(11),
                _ => zone.datetime(at),
            };
            out.push(Candidate {
                alert: NewAlert {
                    key: format!("forecast:{}:{}:{}", b.id, b.start_ms, b.limit_usd),
                    kind: "forecast".into(),
                    message: format!(
                        "At the recent {} the {} of {} would be reached around {when}: forecast {} by the end of the {} ({}–{}), {} spent so far",
                        rate(f.usd_per_hour),
                        budget_name(b),
                        usd(b.limit_usd),
                        usd(f.mid_usd),
                        b.period.as_str(),
                        usd(f.low_usd),
                        usd(f.high_usd),
                        usd_marked(b.spent_usd, b.has_unpriced)
                    ),
                    ..base.clone()
                },
                group: format!("budget:{}", b.id),
                rank: 0.0,
            });
        }
    }
    out
}

/// `five_hour` -> `five-hour window`.
fn window_name(name: &str) -> String {
    match name {
        "five_hour" => "five-hour window".into(),
        "seven_day" => "seven-day window".into(),
        n => format!("{} window", n.replace('_', "-")),
    }
}

/// Every alert the status calls for now (budgets and plan limits).
pub fn candidates(s: &Status, zone: Zone, cfg: &AlertConfig) -> Vec<Candidate> {
    let mut out = Vec::new();
    for b in &s.budgets {
        out.extend(budget_candidates(b, s.now_ms, zone, cfg.forecast));
    }
    for l in &s.plan_limits {
        for &t in &cfg.plan_thresholds {
            if l.used_pct / 100.0 >= t {
                let resets = l
                    .resets_at_ms
                    .map(|r| format!(" (resets {})", zone.datetime(r)))
                    .unwrap_or_default();
                out.push(Candidate {
                    alert: NewAlert {
                        key: format!("plan:{}:{}:{t}", l.name, l.resets_at_ms.unwrap_or(0)),
                        kind: "plan".into(),
                        threshold: Some(t),
                        limit_usd: Some(100.0),
                        spent_usd: Some(l.used_pct),
                        message: format!(
                            "Claude Code plan limit: {:.0}% of the {} used{resets}",
                            l.used_pct.floor(),
                            window_name(&l.name)
                        ),
                        ..NewAlert::default()
                    },
                    group: format!("plan:{}", l.name),
                    rank: t,
                });
            }
        }
    }
    out
}

/// The one place alerts are decided and said: budgets, forecasts and plan limits from the
/// status, signals from the stored requests.
pub struct AlertEngine {
    cfg: AlertConfig,
    /// The session signals.
    pub signals: SignalTracker,
    desktop_failed: Arc<AtomicBool>,
}

impl AlertEngine {
    /// An engine with these settings (`pricer` tells pricier models from cheaper ones).
    pub fn new(cfg: AlertConfig, pricer: Option<crate::pricing::Pricer>) -> AlertEngine {
        let signals = SignalTracker::new(cfg.signals.clone(), pricer);
        AlertEngine {
            cfg,
            signals,
            desktop_failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Takes in newly stored requests, adds the signals to `status`, records every alert that
    /// is due and says the new ones (unless `paused`). Returns what was recorded now.
    pub fn run(
        &mut self,
        store: &Store,
        status: &mut Status,
        evs: &[StoredEvent],
        zone: Zone,
        paused: bool,
    ) -> Vec<AlertRecord> {
        let now = status.now_ms;
        let mut cands = candidates(status, zone, &self.cfg);
        for d in self.signals.observe(store, evs, now) {
            cands.push(Candidate {
                alert: NewAlert {
                    key: d.key,
                    kind: d.kind.as_str().into(),
                    session: Some(d.session.clone()),
                    message: d.message,
                    ..NewAlert::default()
                },
                group: format!("{}:{}", d.kind.as_str(), d.session),
                rank: 0.0,
            });
        }
        status.signals = self.signals.active(now);
        let mut recorded: Vec<(Candidate, AlertRecord)> = Vec::new();
        for c in cands {
            match store.record_alert(&c.alert, now) {
                Ok(Some(id)) => {
                    let rec = AlertRecord {
                        id,
                        ts_ms: now,
                        kind: c.alert.kind.clone(),
                        key: c.alert.key.clone(),
                        budget_id: c.alert.budget_id.clone(),
                        period_start_ms: c.alert.period_start_ms,
                        threshold: c.alert.threshold,
                        limit_usd: c.alert.limit_usd,
                        spent_usd: c.alert.spent_usd,
                        session: c.alert.session.clone(),
                        message: c.alert.message.clone(),
                        delivery: String::new(),
                    };
                    recorded.push((c, rec));
                }
                Ok(None) => {}
                Err(e) => log(&format!("cannot record an alert: {e:#}")),
            }
        }
        let mut out = Vec::new();
        for i in 0..recorded.len() {
            let (c, _) = &recorded[i];
            let top = recorded
                .iter()
                .filter(|(o, _)| o.group == c.group)
                .map(|(o, _)| o.rank)
                .fold(f64::NEG_INFINITY, f64::max);
            let first_top = recorded
                .iter()
                .position(|(o, _)| o.group == c.group && o.rank == top)
                == Some(i);
            let delivery = if !first_top {
                "superseded"
            } else if paused {
                "paused"
            } else if !self.cfg.desktop && self.cfg.on_alert.is_none() {
                "off"
            } else {
                "sent"
            };
            let mut rec = recorded[i].1.clone();
            rec.delivery = delivery.into();
            if let Err(e) = store.set_alert_delivery(rec.id, delivery) {
                log(&format!("cannot record an alert's delivery: {e:#}"));
            }
            let what = if rec.kind == "threshold" {
                "budget"
            } else {
                rec.kind.as_str()
            };
            if delivery == "sent" || delivery == "off" {
                log(&format!("{what} alert: {}", rec.message));
            } else {
                log(&format!("{what} alert ({delivery}): {}", rec.message));
            }
            if delivery == "sent" {
                if self.cfg.desktop {
                    notify_desktop(
                        summary(&rec.kind),
                        &rec.message,
                        self.desktop_failed.clone(),
                    );
                }
                if let Some(cmd) = &self.cfg.on_alert {
                    run_on_alert(cmd, &rec);
                }
            }
            out.push(rec);
        }
        out
    }
}

/// The notification's title for an alert kind.
pub fn summary(kind: &str) -> &'static str {
    match kind {
        "threshold" => "tokwatch: budget",
        "forecast" => "tokwatch: budget forecast",
        "burn" => "tokwatch: burn rate",
        "loop" => "tokwatch: possible loop",
        "fallback" => "tokwatch: model changed",
        "plan" => "tokwatch: plan limit",
        _ => "tokwatch",
    }
}

/// A desktop notification, on its own thread (a slow notification service never holds the
/// daemon up). The first failure is logged once.
pub fn notify_desktop(summary: &str, body: &str, failed: Arc<AtomicBool>) {
    let (summary, body) = (summary.to_string(), body.to_string());
    let _ = std::thread::Builder::new()
        .name("tokwatch-notify".into())
        .spawn(move || {
            let r = notify_rust::Notification::new()
                .appname("tokwatch")
                .summary(&summary)
                .body(&body)
                .timeout(notify_rust::Timeout::Milliseconds(10_000))
                .show();
            match r {
                Ok(_) => {
                    failed.store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    if !failed.swap(true, Ordering::Relaxed) {
                        log(&format!(
                            "no desktop notification ({e}); alerts are in `tokwatch alerts`"
                        ));
                    }
                }
            }
        });
}

/// The environment an `on_alert` command gets.
pub fn alert_env(a: &AlertRecord) -> Vec<(&'static str, String)> {
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    vec![
        ("TOKWATCH_ALERT_KIND", a.kind.clone()),
        ("TOKWATCH_ALERT_MESSAGE", a.message.clone()),
        ("TOKWATCH_ALERT_KEY", a.key.clone()),
        ("TOKWATCH_ALERT_TS_MS", a.ts_ms.to_string()),
        (
            "TOKWATCH_ALERT_BUDGET",
            a.budget_id.clone().unwrap_or_default(),
        ),
        (
            "TOKWATCH_ALERT_PERIOD_START_MS",
            a.period_start_ms.map(|v| v.to_string()).unwrap_or_default(),
        ),
        ("TOKWATCH_ALERT_THRESHOLD", opt(a.threshold)),
        ("TOKWATCH_ALERT_LIMIT_USD", opt(a.limit_usd)),
        ("TOKWATCH_ALERT_SPENT_USD", opt(a.spent_usd)),
        (
            "TOKWATCH_ALERT_SESSION",
            a.session.clone().unwrap_or_default(),
        ),
    ]
}

/// Runs the user's command for an alert (`sh -c`, `cmd /C` on Windows) with the alert in
/// `TOKWATCH_ALERT_*` variables and as one JSON object on stdin; on its own thread.
pub fn run_on_alert(cmd: &str, a: &AlertRecord) {
    let cmd = cmd.to_string();
    let a = a.clone();
    let _ = std::thread::Builder::new()
        .name("tokwatch-on-alert".into())
        .spawn(move || {
            use std::io::Write;
            #[cfg(windows)]
            let mut c = {
                let mut c = std::process::Command::new("cmd");
                c.arg("/C").arg(&cmd);
                c
            };
            #[cfg(not(windows))]
            let mut c = {
                let mut c = std::process::Command::new("sh");
                c.arg("-c").arg(&cmd);
                c
            };
            c.envs(alert_env(&a))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null());
            let mut child = match c.spawn() {
                Ok(ch) => ch,
                Err(e) => {
                    log(&format!("cannot run on_alert {cmd:?}: {e}"));
                    return;
                }
            };
            if let Some(mut stdin) = child.stdin.take() {
                let json = serde_json::to_string(&a).unwrap_or_default();
                let _ = writeln!(stdin, "{json}");
            }
            match child.wait() {
                Ok(st) if !st.success() => log(&format!("on_alert {cmd:?} exited with {st}")),
                Err(e) => log(&format!("on_alert {cmd:?}: {e}")),
                _ => {}
            }
        });
}

/// The kinds of alert a view may mark, for text (`budget` rather than `threshold`).
pub fn kind_label(kind: &str) -> &str {
    match kind {
        "threshold" => "budget",
        k => k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{BudgetState, Forecast};
    use crate::store::budget::BudgetSource;

    fn b(spent: f64, limit: f64, thresholds: &[f64]) -> BudgetStatus {
        let fraction = spent / limit;
        BudgetStatus {
            id: "daily".into(),
            period: Period::Day,
            scope: BudgetScope::All,
            limit_usd: limit,
            spent_usd: spent,
            has_unpriced: false,
            fraction,
            state: BudgetState::of(spent, Some(limit), thresholds[0]),
            thresholds: thresholds.to_vec(),
            forecast: None,
            hard: false,
            source: BudgetSource::Config,
            start_ms: 1_000,
            end_ms: 1_000 + 86_400_000,
        }
    }

    #[test]
    fn each_threshold_reached_is_a_candidate() {
        let t = [0.85, 0.95, 1.0];
        assert!(budget_candidates(&b(8.0, 10.0, &t), 1_000, Zone::Utc, true).is_empty());
        let c = budget_candidates(&b(9.6, 10.0, &t), 1_000, Zone::Utc, true);
        let keys: Vec<&str> = c.iter().map(|c| c.alert.key.as_str()).collect();
        assert_eq!(
            keys,
            ["budget:daily:1000:10:0.85", "budget:daily:1000:10:0.95"]
        );
        assert_eq!(
            c[1].alert.message,
            "$9.60 of the $10.00 daily budget spent (96%)"
        );
        let c = budget_candidates(&b(10.0, 10.0, &t), 1_000, Zone::Utc, true);
        assert_eq!(
            c[2].alert.message,
            "Daily budget reached: $10.00 of $10.00 today"
        );
        let mut w = b(60.0, 50.0, &[1.0, 1.2]);
        w.period = Period::Week;
        w.scope = BudgetScope::Repo("owner/app".into());
        w.id = "weekly-repo:owner/app".into();
        let c = budget_candidates(&w, 1_000, Zone::Utc, true);
        assert_eq!(
            c[1].alert.message,
            "Weekly budget for owner/app exceeded: $60.00 of $50.00 this week (120%)"
        );
    }

    #[test]
    fn forecast_speaks_before_the_limit_only() {
        let mut x = b(5.0, 10.0, &[0.85, 1.0]);
        x.forecast = Some(Forecast {
            low_usd: 8.0,
            mid_usd: 12.0,
            high_usd: 16.0,
            usd_per_hour: 2.0,
        });
        let c = budget_candidates(&x, x.start_ms, Zone::Utc, true);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].alert.kind, "forecast");
        // $5 left at $2/h: 2.5 hours after the status's "now" (the period start here, 00:00).
        assert!(
            c[0].alert.message.contains("around 02:30"),
            "{}",
            c[0].alert.message
        );
        assert!(budget_candidates(&x, x.start_ms, Zone::Utc, false).is_empty());
        x.spent_usd = 10.0;
        x.fraction = 1.0;
        assert!(budget_candidates(&x, x.start_ms, Zone::Utc, true)
            .iter()
            .all(|c| c.alert.kind == "threshold"));
    }
}
