//! Tray indicator: one thread owns the `tray-icon` objects (they are `!Send`) and applies the
//! snapshots the daemon sends over a channel; menu clicks come back as [`TrayCommand`]s.
//!
//! Linux/BSD use tray-icon's `ksni` backend: a StatusNotifierItem on the D-Bus session bus, no
//! GTK, no main loop of our own. The owning thread blocks on the update channel; bursts are
//! coalesced by [`Coalescer`] (first snapshot at once, then at most one per [`MIN_UPDATE_GAP`],
//! always ending on the latest). What is shown comes from the pure functions in [`format`](mod@format) and
//! [`icon`].

mod backend;
pub mod format;
pub mod icon;

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Everything the tray shows. The daemon builds one after each stored batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraySnapshot {
    /// Today's spend.
    pub today_usd: f64,
    /// Today's spend leaves out unpriced usage.
    pub today_has_unpriced: bool,
    /// This week's spend.
    pub week_usd: f64,
    /// This week's spend leaves out unpriced usage.
    pub week_has_unpriced: bool,
    /// `None` = no budget set -> neutral icon.
    pub daily_budget_usd: Option<f64>,
    /// The configured "near" fraction of the budget.
    pub budget_near: f64,
    /// The figures could not be read: the tray says so instead of showing any.
    pub error: Option<String>,
    /// The config file does not load: the daemon runs on the last good one (the tray says so).
    pub config_problem: Option<String>,
    /// Tool id, USD.
    pub by_tool_today: Vec<(String, f64)>,
    /// Sessions with activity in the last ~30 min.
    pub active_sessions: Vec<ActiveSession>,
    /// Repository display name, USD; the top 5 are shown.
    pub top_repos_week: Vec<(String, f64)>,
    /// The "Pause alerts" item is checked.
    pub alerts_paused: bool,
    /// When the snapshot was computed, ms (0: unknown); active sessions say how long ago
    /// they were used relative to it.
    pub now_ms: i64,
    /// Every budget in its current period (the daily budget of every tool included).
    pub budgets: Vec<BudgetLine>,
    /// Today's projected end-of-day spend, every tool.
    pub forecast_today: Option<ForecastBand>,
    /// Early signals of running sessions.
    pub signals: Vec<SignalLine>,
    /// Plan limits from Claude Code's statusline input.
    pub plan_limits: Vec<PlanLine>,
}

/// A budget as the tray shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetLine {
    /// Its id.
    pub id: String,
    /// `day`, `week`, `month`.
    pub period: String,
    /// `all`, `repo:owner/app`, ...
    pub scope: String,
    /// The limit.
    pub limit_usd: f64,
    /// Spent in the current period.
    pub spent_usd: f64,
    /// The spend leaves out unpriced usage.
    pub has_unpriced: bool,
    /// `spent / limit`.
    pub fraction: f64,
    /// Its state.
    pub state: crate::status::BudgetState,
    /// Projected end-of-period spend.
    pub forecast: Option<ForecastBand>,
}

/// A projected spend with its band.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForecastBand {
    /// Low end.
    pub low_usd: f64,
    /// The projection.
    pub mid_usd: f64,
    /// High end.
    pub high_usd: f64,
}

/// An early signal of a running session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalLine {
    /// `burn`, `loop`, `fallback`.
    pub kind: String,
    /// Repository display name.
    pub repo: Option<String>,
    /// Tool id.
    pub tool: String,
    /// What it says.
    pub message: String,
}

/// A plan-limit window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanLine {
    /// `five_hour`, `seven_day`, ...
    pub name: String,
    /// Percentage used, 0..100.
    pub used_pct: f64,
    /// When it resets, as local wall-clock text.
    pub resets: Option<String>,
}

impl Default for TraySnapshot {
    fn default() -> Self {
        TraySnapshot {
            today_usd: 0.0,
            today_has_unpriced: false,
            week_usd: 0.0,
            week_has_unpriced: false,
            daily_budget_usd: None,
            now_ms: 0,
            budget_near: crate::config::DEFAULT_NEAR,
            error: None,
            config_problem: None,
            by_tool_today: Vec::new(),
            active_sessions: Vec::new(),
            top_repos_week: Vec::new(),
            alerts_paused: false,
            budgets: Vec::new(),
            forecast_today: None,
            signals: Vec::new(),
            plan_limits: Vec::new(),
        }
    }
}

fn band(f: &crate::status::Forecast) -> ForecastBand {
    ForecastBand {
        low_usd: f.low_usd,
        mid_usd: f.mid_usd,
        high_usd: f.high_usd,
    }
}

impl TraySnapshot {
    /// What the tray shows for a computed status, or for the error that kept it from being
    /// computed.
    pub fn of(status: &anyhow::Result<crate::status::Status>, paused: bool) -> TraySnapshot {
        let s = match status {
            Ok(s) => s,
            Err(e) => {
                return TraySnapshot {
                    error: Some(format!("{e:#}")),
                    alerts_paused: paused,
                    ..TraySnapshot::default()
                }
            }
        };
        TraySnapshot {
            today_usd: s.today_usd,
            today_has_unpriced: s.today_has_unpriced,
            week_usd: s.week_usd,
            week_has_unpriced: s.week_has_unpriced,
            daily_budget_usd: s.daily_budget_usd,
            budget_near: s.near,
            error: None,
            config_problem: None,
            by_tool_today: s.by_tool_today.clone(),
            active_sessions: s
                .active_sessions
                .iter()
                .map(|a| ActiveSession {
                    repo: a.repo.clone(),
                    tool: a.tool.clone(),
                    cost_usd: a.cost_usd,
                    usd_per_hour: a.usd_per_hour,
                    branch: a.branch.clone(),
                    session: a.session.clone(),
                    last_ms: a.last_ms + crate::store::query::BUCKET_MS,
                })
                .collect(),
            top_repos_week: s.top_repos_week.clone(),
            now_ms: s.now_ms,
            alerts_paused: paused,
            budgets: s
                .budgets
                .iter()
                .map(|b| BudgetLine {
                    id: b.id.clone(),
                    period: b.period.as_str().into(),
                    scope: b.scope.to_string(),
                    limit_usd: b.limit_usd,
                    spent_usd: b.spent_usd,
                    has_unpriced: b.has_unpriced,
                    fraction: b.fraction,
                    state: b.state,
                    forecast: b.forecast.as_ref().map(band),
                })
                .collect(),
            forecast_today: s.periods.day.forecast.as_ref().map(band),
            signals: s
                .signals
                .iter()
                .map(|g| SignalLine {
                    kind: g.kind.as_str().into(),
                    repo: g.repo.clone(),
                    tool: g.tool.clone(),
                    message: g.message.clone(),
                })
                .collect(),
            plan_limits: s
                .plan_limits
                .iter()
                .map(|l| PlanLine {
                    name: l.name.clone(),
                    used_pct: l.used_pct,
                    resets: l
                        .resets_at_ms
                        .map(|r| crate::store::query::Zone::Local.datetime(r)),
                })
                .collect(),
        }
    }
}

/// A session with recent usage, as the tray lists it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActiveSession {
    /// Repository display name.
    pub repo: String,
    /// Tool id.
    pub tool: String,
    /// The session's cost.
    pub cost_usd: f64,
    /// Its spend over the last hour, per hour.
    pub usd_per_hour: f64,
    /// Branch of its latest usage.
    pub branch: Option<String>,
    /// Session id (its start is shown when two rows would otherwise read the same).
    pub session: String,
    /// End of the 15-minute bucket of its latest usage (0: unknown): "how long ago".
    pub last_ms: i64,
}

/// A menu click, sent to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrayCommand {
    /// The "Pause alerts" check item was toggled; the new state.
    PauseAlerts(bool),
    /// The "Open dashboard" item was clicked.
    OpenDashboard,
    /// The "Quit" item was clicked.
    Quit,
}

/// Minimum time between two applied snapshots (at most ~4 updates per second).
pub const MIN_UPDATE_GAP: Duration = Duration::from_millis(250);

/// The running tray thread. It ends when the sender of the update channel is dropped.
#[derive(Debug)]
pub struct TrayHandle {
    thread: Option<JoinHandle<()>>,
}

impl TrayHandle {
    /// Waits for the tray thread to end (drop the update sender first).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Whether the tray thread has ended (update channel closed, or it panicked).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

/// Why there is no tray.
#[derive(Debug)]
pub enum TrayError {
    /// No tray can be shown here; the reason is fit for a log line.
    Unavailable(String),
    /// The platform tray refused to create the icon.
    Create(String),
    /// The tray thread could not be started.
    Thread(std::io::Error),
}

impl std::fmt::Display for TrayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrayError::Unavailable(r) => write!(f, "no tray available: {r}"),
            TrayError::Create(r) => write!(f, "could not create the tray icon: {r}"),
            TrayError::Thread(e) => write!(f, "could not start the tray thread: {e}"),
        }
    }
}

impl std::error::Error for TrayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrayError::Thread(e) => Some(e),
            _ => None,
        }
    }
}

/// Spawns the thread that owns the tray (tray-icon objects are `!Send`) and applies snapshots
/// from `updates`, coalescing bursts (the first at once, then at most ~4 per second, always
/// ending on the latest). Menu clicks are sent on `commands`. Until the first snapshot arrives
/// the tray says "waiting for data" (never a made-up `$0.00`).
///
/// Returns once the icon exists (or failed to be created). The thread ends, removing the icon,
/// when the sender side of `updates` is dropped.
pub fn spawn(
    updates: Receiver<TraySnapshot>,
    commands: Sender<TrayCommand>,
) -> Result<TrayHandle, TrayError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), TrayError>>(1);
    let thread = std::thread::Builder::new()
        .name("tokwatch-tray".into())
        .spawn(move || {
            let tray = match backend::LiveTray::new(commands) {
                Ok(t) => t,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let mut tray = tray;
            run_updates(&updates, &mut Coalescer::new(MIN_UPDATE_GAP), |s| {
                tray.apply(&s)
            });
        })
        .map_err(TrayError::Thread)?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(TrayHandle {
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(TrayError::Create(
                "the tray thread ended during start-up".into(),
            ))
        }
    }
}

/// Whether a tray can be shown here (on Linux: a D-Bus session bus is reachable), with a reason
/// string for the one log line the daemon prints when it runs headless.
///
/// A reachable bus is enough: the item registers with a StatusNotifierWatcher (the panel's tray
/// host) whenever one appears, also after the daemon started. [`host_present`] tells whether one
/// is there right now.
pub fn availability() -> Result<(), String> {
    backend::availability()
}

/// Whether a StatusNotifierWatcher (tray host) currently owns its name on the session bus.
/// Always `true` where the platform has a built-in tray.
pub fn host_present() -> bool {
    backend::host_present()
}

/// Rate limiter for snapshot bursts: the first item goes through at once, later ones at most once
/// per `gap`, and a held item is replaced by newer ones so the last applied is always the latest.
/// Pure (time is passed in), so it is tested without clocks.
#[derive(Debug)]
pub struct Coalescer<T> {
    gap: Duration,
    last_applied: Option<Instant>,
    pending: Option<T>,
}

impl<T> Coalescer<T> {
    /// A coalescer letting one item through per `gap`.
    pub fn new(gap: Duration) -> Self {
        Coalescer {
            gap,
            last_applied: None,
            pending: None,
        }
    }

    /// A new item replaces any held one.
    pub fn offer(&mut self, item: T) {
        self.pending = Some(item);
    }

    /// The held item if it may be applied at `now`; marks it applied.
    pub fn take_due(&mut self, now: Instant) -> Option<T> {
        self.pending.as_ref()?;
        let due = self
            .last_applied
            .is_none_or(|t| now.saturating_duration_since(t) >= self.gap);
        if !due {
            return None;
        }
        self.last_applied = Some(now);
        self.pending.take()
    }

    /// How long to wait for more input before the held item is due; `None` when nothing is held
    /// (block until input arrives).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.pending.as_ref()?;
        Some(match self.last_applied {
            None => Duration::ZERO,
            Some(t) => self.gap.saturating_sub(now.saturating_duration_since(t)),
        })
    }

    /// The held item regardless of timing (on shutdown).
    pub fn take_pending(&mut self) -> Option<T> {
        self.pending.take()
    }
}

/// The tray thread's loop: blocks on `updates` (no polling), hands due snapshots to `apply`,
/// returns when the channel is closed (after applying a held snapshot).
fn run_updates<T>(updates: &Receiver<T>, co: &mut Coalescer<T>, mut apply: impl FnMut(T)) {
    loop {
        let next = match co.wait(Instant::now()) {
            None => updates.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => updates.recv_timeout(d),
        };
        match next {
            Ok(s) => co.offer(s),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(s) = co.take_pending() {
                    apply(s);
                }
                return;
            }
        }
        // Take the whole burst that is already queued; only the latest matters.
        while let Ok(s) = updates.try_recv() {
            co.offer(s);
        }
        if let Some(s) = co.take_due(Instant::now()) {
            apply(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: Duration = Duration::from_millis(250);

    #[test]
    fn coalescer_first_at_once_then_rate_limited_ending_on_latest() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = Coalescer::new(GAP);
        assert_eq!(c.wait(t0), None);
        assert_eq!(c.take_due(t0), None);

        c.offer(1);
        assert_eq!(c.wait(t0), Some(Duration::ZERO));
        assert_eq!(c.take_due(t0), Some(1));
        assert_eq!(c.wait(ms(1)), None);

        // A burst 10 ms later is held until the gap has passed, and only its last item applies.
        c.offer(2);
        c.offer(3);
        assert_eq!(c.wait(ms(10)), Some(Duration::from_millis(240)));
        assert_eq!(c.take_due(ms(10)), None);
        c.offer(4);
        assert_eq!(c.take_due(ms(249)), None);
        assert_eq!(c.take_due(ms(250)), Some(4));
        assert_eq!(c.take_due(ms(900)), None);

        // After a quiet period the next one goes through at once.
        c.offer(5);
        assert_eq!(c.wait(ms(900)), Some(Duration::ZERO));
        assert_eq!(c.take_due(ms(900)), Some(5));

        c.offer(6);
        assert_eq!(c.take_pending(), Some(6));
        assert_eq!(c.wait(ms(901)), None);
    }

    #[test]
    fn run_updates_applies_latest_and_flushes_on_close() {
        // A burst already queued when the loop looks collapses into its latest item.
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 1..=50 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let mut applied = Vec::new();
        run_updates(&rx, &mut Coalescer::new(GAP), |s| applied.push(s));
        assert_eq!(applied, vec![50]);

        // First item applied at once; a later burst ends on its latest item, in order, and the
        // loop returns when the sender is gone.
        let (tx, rx) = std::sync::mpsc::channel();
        let (ack_tx, ack_rx) = std::sync::mpsc::channel();
        let feeder = std::thread::spawn(move || {
            tx.send(1).unwrap();
            assert_eq!(ack_rx.recv().unwrap(), 1);
            for i in 2..=30 {
                tx.send(i).unwrap();
            }
        });
        let mut applied = Vec::new();
        run_updates(&rx, &mut Coalescer::new(GAP), |s| {
            applied.push(s);
            let _ = ack_tx.send(s);
        });
        feeder.join().unwrap();
        assert_eq!(applied.first(), Some(&1));
        assert_eq!(applied.last(), Some(&30));
        assert!(applied.windows(2).all(|w| w[0] < w[1]), "{applied:?}");
    }

    #[test]
    fn snapshot_json_round_trip_and_defaults() {
        let s = TraySnapshot {
            today_usd: 3.42,
            today_has_unpriced: true,
            daily_budget_usd: Some(10.0),
            by_tool_today: vec![("claude-code".into(), 3.42)],
            active_sessions: vec![ActiveSession {
                repo: "tokwatch".into(),
                tool: "claude-code".into(),
                cost_usd: 1.2,
                usd_per_hour: 2.4,
                ..ActiveSession::default()
            }],
            ..TraySnapshot::default()
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<TraySnapshot>(&json).unwrap(), s);
        let partial: TraySnapshot = serde_json::from_str(r#"{"today_usd": 1.5}"#).unwrap();
        assert_eq!(partial.today_usd, 1.5);
        assert_eq!(partial.daily_budget_usd, None);
    }
}
