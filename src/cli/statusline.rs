//! `tokwatch statusline`: one short line for Claude Code's statusline, tmux or a shell prompt.
//! Reads the database only; a figure it cannot read is said to be an error, never `$0.00`.
//!
//! Claude Code's statusline input (JSON on stdin) gives the session, the directory and, for
//! subscription plans, `rate_limits` (five-hour and seven-day used percentage and reset time).
//! Those are shown, and the latest snapshot is left for the daemon in a small file beside the
//! database (`status::plan`): the statusline never writes the database.

use crate::app::{App, DaemonNow};
use crate::attribution::Attributor;
use crate::format::{usd, usd_marked, DB_ERROR};
use crate::status::budgets::{model_in_scope, Settings};
use crate::status::{budget_status, plan, BudgetState};
use crate::store::budget::{BudgetScope, PlanLimit};
use crate::store::query::Scope;
use crate::store::{now_ms, Store, StoreError};
use std::io::Read;

/// What Claude Code sends a statusline command on stdin (the parts used).
#[derive(serde::Deserialize, Default)]
struct StatusInput {
    session_id: Option<String>,
    cwd: Option<String>,
    workspace: Option<Workspace>,
    model: Option<Model>,
}
#[derive(serde::Deserialize, Default)]
struct Workspace {
    current_dir: Option<String>,
    project_dir: Option<String>,
}
#[derive(serde::Deserialize, Default)]
struct Model {
    id: Option<String>,
}

/// One short line; never fails loudly (a statusline must not break a prompt).
pub fn statusline(app: &App) -> anyhow::Result<i32> {
    let mut input = String::new();
    let stdin = std::io::stdin();
    if !std::io::IsTerminal::is_terminal(&stdin) {
        let _ = stdin.lock().take(1 << 20).read_to_string(&mut input);
    }
    let value: serde_json::Value =
        serde_json::from_str(input.trim()).unwrap_or(serde_json::Value::Null);
    let si: StatusInput = serde_json::from_value(value.clone()).unwrap_or_default();
    let limits = plan::parse_rate_limits(&value, now_ms());
    if !limits.is_empty() {
        // For the daemon; a statusline that cannot write it still shows the figures.
        let _ = plan::write_snapshot(&app.db, &limits);
    }
    let fresh = freshness(app, catch_up_wait(app, 2000));
    let mut line = statusline_text(app, &si, &limits);
    if let Some(mark) = fresh.mark() {
        line.push_str(" · ");
        line.push_str(mark);
    }
    println!("{line}");
    Ok(super::EXIT_OK)
}

/// How long a command waits for a daemon it started to catch up: `TOKWATCH_CATCH_UP_WAIT_MS`,
/// else `default_ms`.
pub fn catch_up_wait(app: &App, default_ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(
        app.env
            .var("TOKWATCH_CATCH_UP_WAIT_MS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_ms),
    )
}

/// Whether the figures about to be shown are current.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// A daemon runs and has read everything.
    Current,
    /// A daemon was just started and has not caught up yet.
    CatchingUp,
    /// No daemon runs (auto-start off, or it could not start) and logs hold unread usage.
    Behind,
}

impl Freshness {
    /// The statusline's mark, if any.
    pub fn mark(&self) -> Option<&'static str> {
        match self {
            Freshness::Current => None,
            Freshness::CatchingUp => Some("catching up"),
            Freshness::Behind => Some("stale: tokwatch is not running"),
        }
    }
}

/// Starts the daemon when none runs (unless auto-start is off) and waits up to `wait` for it
/// to catch up.
pub fn freshness(app: &App, wait: std::time::Duration) -> Freshness {
    freshness_keep(app, wait).0
}

/// [`freshness`], and the database it opened to compare with the logs when no daemon runs
/// (for the caller to read its figures from: one open instead of two).
pub fn freshness_keep(app: &App, wait: std::time::Duration) -> (Freshness, Option<Store>) {
    match app.ensure_daemon() {
        DaemonNow::Running => (Freshness::Current, None),
        DaemonNow::Started(t) => {
            if app.wait_caught_up(t, wait) {
                (Freshness::Current, None)
            } else {
                (Freshness::CatchingUp, None)
            }
        }
        DaemonNow::Off | DaemonNow::Failed(_) => match Store::open_reader(&app.db) {
            Ok(s) if app.behind(&s).0 == 0 => (Freshness::Current, Some(s)),
            Ok(s) => (Freshness::Behind, Some(s)),
            Err(_) => (Freshness::Behind, None),
        },
    }
}

fn statusline_text(app: &App, si: &StatusInput, limits: &[PlanLimit]) -> String {
    let store = match Store::open_reader(&app.db) {
        Ok(s) => s,
        Err(e) if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Missing(_))) => {
            let mut t = "tokwatch: no data yet".to_string();
            if let Some(p) = plan_part(limits) {
                t.push_str(" · ");
                t.push_str(&p);
            }
            return t;
        }
        Err(_) => return format!("tokwatch: {DB_ERROR}"),
    };
    parts(app, &store, si, limits).unwrap_or_else(|_| format!("tokwatch: {DB_ERROR}"))
}

/// `5h 42% · 7d 87% (near)`.
fn plan_part(limits: &[PlanLimit]) -> Option<String> {
    if limits.is_empty() {
        return None;
    }
    let v: Vec<String> = limits
        .iter()
        .map(|l| {
            let mark = if l.used_pct >= 100.0 {
                " (limit)"
            } else if l.used_pct >= 85.0 {
                " (near)"
            } else {
                ""
            };
            format!(
                "{} {:.0}%{mark}",
                plan::short_name(&l.name),
                l.used_pct.floor()
            )
        })
        .collect();
    Some(v.join(" · "))
}

fn parts(
    app: &App,
    store: &Store,
    si: &StatusInput,
    limits: &[PlanLimit],
) -> anyhow::Result<String> {
    let today_ms = crate::status::start_of_today();
    let today = store.cost(Scope::Since(today_ms))?;
    let mut parts = Vec::new();
    if let Some(s) = si.session_id.as_deref().filter(|s| !s.is_empty()) {
        if store.has_session(s)? {
            let c = store.cost(Scope::Session(s))?;
            parts.push(format!("session {}", usd_marked(c.usd, c.has_unpriced)));
        }
    }
    let cwd = si
        .workspace
        .as_ref()
        .and_then(|w| w.project_dir.clone().or(w.current_dir.clone()))
        .or(si.cwd.clone());
    let mut repo: Option<(String, String)> = None;
    if let Some(cwd) = cwd {
        if let Some(ws) = Attributor::new().resolve(Some(&cwd), None) {
            if let Some(id) = store.workspace_by_key(&ws.key)? {
                let c = store.cost(Scope::WorkspaceSince(id, today_ms))?;
                parts.push(format!(
                    "{} today {}",
                    ws.name,
                    usd_marked(c.usd, c.has_unpriced)
                ));
            }
            repo = Some((ws.name, ws.key));
        }
    }
    parts.push(format!(
        "all today {}",
        usd_marked(today.usd, today.has_unpriced)
    ));
    parts.extend(budget_marks(app, store, si, repo.as_ref())?);
    if let Some(p) = plan_part(limits) {
        parts.push(p);
    }
    Ok(parts.join(" · "))
}

/// `daily budget 87%`, `weekly owner/app budget over ($51.00 of $50.00)`: the budgets that
/// are near or over and concern what the statusline is shown for (with Claude Code's input:
/// every-tool budgets, its repository's, Claude Code's and its model's; without: all).
fn budget_marks(
    app: &App,
    store: &Store,
    si: &StatusInput,
    repo: Option<&(String, String)>,
) -> anyhow::Result<Vec<String>> {
    // A config the daemon would refuse is `tokwatch status`'s to explain, not the prompt's.
    let Ok(settings) = app.config().and_then(|c| Settings::from_config(&c)) else {
        return Ok(Vec::new());
    };
    let from_claude = si.session_id.is_some();
    let model = si.model.as_ref().and_then(|m| m.id.clone());
    let now = now_ms();
    let mut out = Vec::new();
    for b in settings.budgets(store)? {
        let applies = !from_claude
            || match &b.scope {
                BudgetScope::All => true,
                BudgetScope::Repo(r) => repo.is_some_and(|(n, k)| n == r || k == r),
                BudgetScope::Tool(t) => t == crate::parser::claude::TOOL,
                BudgetScope::Model(_) | BudgetScope::Provider(_) => model
                    .as_deref()
                    .is_some_and(|m| model_in_scope(&b.scope, m)),
            };
        if !applies {
            continue;
        }
        let st = budget_status(store, &settings, &b, now, false)?;
        let name = match &b.scope {
            BudgetScope::All => format!("{} budget", b.period.adjective()),
            s => format!("{} {} budget", b.period.adjective(), s.describe()),
        };
        match st.state {
            BudgetState::Near => out.push(format!(
                "{name} {}%",
                (st.fraction * 100.0 + 1e-9).floor() as u64
            )),
            BudgetState::Over => out.push(format!(
                "{name} over ({} of {})",
                usd_marked(st.spent_usd, st.has_unpriced),
                usd(st.limit_usd)
            )),
            _ => {}
        }
    }
    Ok(out)
}
