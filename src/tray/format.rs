//! Pure text for the tray: money, title, tooltip, budget state and menu labels.
//!
//! Everything here is a function of a [`TraySnapshot`], so the exact texts a user sees (and the
//! D-Bus test reads) are unit-tested without a tray. Totals that contain unpriced usage always
//! say so: the title gets a trailing `+` (the real cost is at least this), the tooltip and menu
//! say `+ unpriced`.

use super::{ActiveSession, BudgetLine, ForecastBand, TraySnapshot};
use crate::format::{rate as format_rate, usd as format_usd, usd_total as format_total};
use crate::status::{budget_fraction, BudgetState};

/// Menu rows shown for active sessions before a "+N more" row.
pub const MAX_SESSION_ROWS: usize = 6;
/// Active sessions listed in the tooltip.
pub const MAX_TOOLTIP_SESSIONS: usize = 3;
/// Top repositories listed in the menu.
pub const MAX_REPO_ROWS: usize = 5;

/// Label of the pause item.
pub const LABEL_PAUSE_ALERTS: &str = "Pause alerts";
/// Label of the report item.
pub const LABEL_OPEN_DASHBOARD: &str = "Open dashboard";
/// Label of the quit item.
pub const LABEL_QUIT: &str = "Quit tokwatch";

/// The snapshot's budget state, with its own `near` fraction (the configured one).
pub fn budget_state(s: &TraySnapshot) -> BudgetState {
    BudgetState::of(s.today_usd, s.daily_budget_usd, s.budget_near)
}

/// Title shown when the figures could not be read.
pub const ERROR_TITLE: &str = "database error";

/// Text next to the icon where the platform shows one (macOS menu bar, SNI `Title`): `$3.42`,
/// or `$3.42+` when part of today's usage is unpriced.
pub fn title(s: &TraySnapshot) -> String {
    if s.error.is_some() {
        return ERROR_TITLE.to_string();
    }
    let mut t = format_usd(s.today_usd);
    if s.today_has_unpriced {
        t.push('+');
    }
    t
}

/// `Budget: $3.42 of $10.00 today (34%)`, with `near`/`over` and `≥` when unpriced usage makes
/// the percentage a lower bound. `None` when no budget is set.
pub fn budget_line(s: &TraySnapshot) -> Option<String> {
    let budget = s.daily_budget_usd?;
    let state = budget_state(s);
    let fraction = budget_fraction(s.today_usd, Some(budget))?;
    let percent = if fraction.is_finite() {
        // Floor, so the shown percentage never reaches a threshold the state has not (the tiny
        // epsilon keeps 11.2 / 10 at 112%, not 111.99999...).
        format!("{}%", (fraction * 100.0 + 1e-9).floor() as u64)
    } else {
        "budget 0".to_string()
    };
    let bound = if s.today_has_unpriced { "≥" } else { "" };
    let tag = match state {
        BudgetState::Near => ", near",
        BudgetState::Over => ", over",
        _ => "",
    };
    Some(format!(
        "Budget: {} of {} today ({bound}{percent}{tag})",
        format_usd(s.today_usd),
        format_usd(budget)
    ))
}

fn is_daily_all(b: &BudgetLine) -> bool {
    b.period == "day" && b.scope == "all"
}

fn period_this(period: &str) -> &'static str {
    match period {
        "week" => "this week",
        "month" => "this month",
        _ => "today",
    }
}

fn period_adjective(period: &str) -> &'static str {
    match period {
        "week" => "weekly",
        "month" => "monthly",
        _ => "daily",
    }
}

/// `weekly`, `weekly owner/app`, `daily codex`, `monthly models matching opus`.
fn budget_label(b: &BudgetLine) -> String {
    let adj = period_adjective(&b.period);
    match b.scope.split_once(':') {
        None => adj.to_string(),
        Some(("model", m)) => format!("{adj} models matching {m}"),
        Some((_, v)) => format!("{adj} {v}"),
    }
}

fn percent_tag(fraction: f64, has_unpriced: bool, state: BudgetState) -> String {
    let percent = if fraction.is_finite() {
        format!("{}%", (fraction * 100.0 + 1e-9).floor() as u64)
    } else {
        "budget 0".to_string()
    };
    let bound = if has_unpriced { "≥" } else { "" };
    let tag = match state {
        BudgetState::Near => ", near",
        BudgetState::Over => ", over",
        _ => "",
    };
    format!("{bound}{percent}{tag}")
}

/// `Budget weekly owner/app: $21.07 of $50.00 this week (42%)`, for a budget other than the
/// daily one of every tool (that one is [`budget_line`]).
pub fn other_budget_line(b: &BudgetLine) -> String {
    format!(
        "Budget {}: {} of {} {} ({})",
        budget_label(b),
        format_usd(b.spent_usd),
        format_usd(b.limit_usd),
        period_this(&b.period),
        percent_tag(b.fraction, b.has_unpriced, b.state)
    )
}

/// `$8.10 ($6.00–$10.20)`.
pub fn band_text(f: &ForecastBand) -> String {
    format!(
        "{} ({}–{})",
        format_usd(f.mid_usd),
        format_usd(f.low_usd),
        format_usd(f.high_usd)
    )
}

/// `Forecast today: $8.10 ($6.00–$10.20)`, when there is one.
pub fn forecast_line(s: &TraySnapshot) -> Option<String> {
    s.forecast_today
        .as_ref()
        .map(|f| format!("Forecast today: {}", band_text(f)))
}

/// `Plan: 5h 42% (resets 2025-06-14 15:00) · 7d 75%`, when Claude Code gave plan limits.
pub fn plan_line(s: &TraySnapshot) -> Option<String> {
    if s.plan_limits.is_empty() {
        return None;
    }
    let parts: Vec<String> = s
        .plan_limits
        .iter()
        .map(|l| {
            let name = crate::status::plan::short_name(&l.name);
            let mark = if l.used_pct >= 95.0 {
                ", over 95%"
            } else if l.used_pct >= 85.0 {
                ", near"
            } else {
                ""
            };
            match &l.resets {
                Some(r) => format!("{name} {:.0}% (resets {r}{mark})", l.used_pct.floor()),
                None if mark.is_empty() => format!("{name} {:.0}%", l.used_pct.floor()),
                None => format!("{name} {:.0}% ({})", l.used_pct.floor(), &mark[2..]),
            }
        })
        .collect();
    Some(format!("Plan: {}", parts.join(" · ")))
}

/// `Loop: tokwatch (claude-code) loop: 6 requests ...`.
pub fn signal_line(g: &super::SignalLine) -> String {
    let kind = match g.kind.as_str() {
        "burn" => "Burn",
        "loop" => "Loop",
        "fallback" => "Model changed",
        k => k,
    };
    match &g.repo {
        Some(r) => format!("{kind}: {r} ({}) {}", g.tool, g.message),
        None => format!("{kind}: {} {}", g.tool, g.message),
    }
}

/// The icon's gauge: the budget closest to (or furthest past) its limit, so any budget that is
/// near or over colours the icon; today's spend against no budget when there is none.
pub fn gauge(s: &TraySnapshot) -> super::icon::GaugeKey {
    let worst = s
        .budgets
        .iter()
        .max_by(|a, b| a.fraction.total_cmp(&b.fraction));
    match worst {
        Some(b) if !is_daily_all(b) || s.daily_budget_usd.is_none() => {
            super::icon::GaugeKey::new(b.state, Some(b.fraction))
        }
        _ => super::icon::gauge_key(s.today_usd, s.daily_budget_usd, s.budget_near),
    }
}

/// `tokwatch · claude-code · $1.20 · $2.40/h`.
pub fn session_label(a: &ActiveSession) -> String {
    format!(
        "{} · {} · {} · {}",
        a.repo,
        a.tool,
        format_usd(a.cost_usd),
        format_rate(a.usd_per_hour)
    )
}

/// `tokwatch@main`, or the repository alone when the branch is not known.
fn repo_branch(a: &ActiveSession) -> String {
    match a.branch.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => format!("{}@{b}", a.repo),
        None => a.repo.clone(),
    }
}

/// `now`, `20 min ago`, `2 h ago` (usage is stored in 15-minute buckets: "now" is the current
/// one, other times are the end of the bucket, the latest the last use can have been).
fn ago(last_ms: i64, now_ms: i64) -> Option<String> {
    if last_ms <= 0 || now_ms <= 0 {
        return None;
    }
    let min = (now_ms - last_ms).max(0) / 60_000;
    Some(if last_ms >= now_ms {
        "now".to_string()
    } else if min < 60 {
        format!("{} min ago", min.max(1))
    } else {
        format!("{} h ago", min / 60)
    })
}

/// The first 8 characters of a session id.
fn short_id(s: &str) -> String {
    s.chars().take(8).collect()
}

/// The active sessions' labels, in the order given: `repo@branch · tool · $1.20 · $2.40/h ·
/// 5 min ago`, and a short session id on rows that would otherwise read the same.
pub fn session_labels(sessions: &[&ActiveSession], now_ms: i64) -> Vec<String> {
    let base: Vec<String> = sessions
        .iter()
        .map(|a| {
            let mut l = format!(
                "{} · {} · {} · {}",
                repo_branch(a),
                a.tool,
                format_usd(a.cost_usd),
                format_rate(a.usd_per_hour)
            );
            if let Some(t) = ago(a.last_ms, now_ms) {
                l.push_str(&format!(" · {t}"));
            }
            l
        })
        .collect();
    base.iter()
        .zip(sessions)
        .map(|(l, a)| {
            if base.iter().filter(|x| *x == l).count() > 1 && !a.session.is_empty() {
                format!("{l} · {}", short_id(&a.session))
            } else {
                l.clone()
            }
        })
        .collect()
}

/// Active sessions, fastest burn first (ties: costlier first, then by name).
pub fn sorted_sessions(s: &TraySnapshot) -> Vec<&ActiveSession> {
    let mut v: Vec<&ActiveSession> = s.active_sessions.iter().collect();
    v.sort_by(|a, b| {
        b.usd_per_hour
            .total_cmp(&a.usd_per_hour)
            .then(b.cost_usd.total_cmp(&a.cost_usd))
            .then_with(|| a.repo.cmp(&b.repo))
            .then_with(|| a.tool.cmp(&b.tool))
    });
    v
}

fn sorted_by_cost(rows: &[(String, f64)]) -> Vec<&(String, f64)> {
    let mut v: Vec<&(String, f64)> = rows.iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Tooltip body (the platform adds the title above it on SNI): today, this week, budget, the
/// active sessions with repository and burn rate, and whether alerts are paused.
pub fn tooltip(s: &TraySnapshot) -> String {
    if let Some(e) = &s.error {
        return format!("tokwatch: {}\n{e}", crate::format::DB_ERROR);
    }
    let mut lines = vec![];
    if s.config_problem.is_some() {
        lines.push(CONFIG_PROBLEM.to_string());
    }
    lines.extend([
        format!("Today: {}", format_total(s.today_usd, s.today_has_unpriced)),
        format!(
            "This week: {}",
            format_total(s.week_usd, s.week_has_unpriced)
        ),
    ]);
    if let Some(b) = budget_line(s) {
        lines.push(b);
    }
    for b in s.budgets.iter().filter(|b| !is_daily_all(b)) {
        if matches!(b.state, BudgetState::Near | BudgetState::Over) {
            lines.push(other_budget_line(b));
        }
    }
    if let Some(p) = plan_line(s) {
        lines.push(p);
    }
    for g in &s.signals {
        lines.push(signal_line(g));
    }
    let sessions = sorted_sessions(s);
    let shown: Vec<&ActiveSession> = sessions
        .iter()
        .take(MAX_TOOLTIP_SESSIONS)
        .copied()
        .collect();
    let plain: Vec<String> = shown
        .iter()
        .map(|a| {
            let mut l = format!(
                "Active: {} ({}) {}, {}",
                repo_branch(a),
                a.tool,
                format_usd(a.cost_usd),
                format_rate(a.usd_per_hour)
            );
            if let Some(t) = ago(a.last_ms, s.now_ms) {
                l.push_str(&format!(", {t}"));
            }
            l
        })
        .collect();
    for (l, a) in plain.iter().zip(&shown) {
        if plain.iter().filter(|x| *x == l).count() > 1 && !a.session.is_empty() {
            lines.push(format!("{l}, session {}", short_id(&a.session)));
        } else {
            lines.push(l.clone());
        }
    }
    if sessions.len() > MAX_TOOLTIP_SESSIONS {
        lines.push(format!(
            "+{} more active",
            sessions.len() - MAX_TOOLTIP_SESSIONS
        ));
    }
    if s.alerts_paused {
        lines.push("Alerts paused".to_string());
    }
    lines.join("\n")
}

/// One row of the tray menu, top to bottom.
#[derive(Clone, Debug, PartialEq)]
pub enum MenuEntry {
    /// A text row; clicking it does nothing. Placeholders ("none") are disabled.
    Info {
        /// The row's text.
        text: String,
        /// Greyed out when false.
        enabled: bool,
    },
    /// A separator line.
    Separator,
    /// Checkable "Pause alerts".
    PauseAlerts {
        /// Checked when alerts are paused.
        checked: bool,
    },
    /// "Open dashboard".
    OpenDashboard,
    /// "Quit tokwatch".
    Quit,
}

impl MenuEntry {
    fn info(text: impl Into<String>) -> Self {
        MenuEntry::Info {
            text: text.into(),
            enabled: true,
        }
    }
    fn placeholder(text: impl Into<String>) -> Self {
        MenuEntry::Info {
            text: text.into(),
            enabled: false,
        }
    }

    /// The row's label (`None` for a separator).
    pub fn label(&self) -> Option<&str> {
        match self {
            MenuEntry::Info { text, .. } => Some(text),
            MenuEntry::Separator => None,
            MenuEntry::PauseAlerts { .. } => Some(LABEL_PAUSE_ALERTS),
            MenuEntry::OpenDashboard => Some(LABEL_OPEN_DASHBOARD),
            MenuEntry::Quit => Some(LABEL_QUIT),
        }
    }

    /// Whether this row is one of the fixed actions at the end of the menu.
    pub fn is_action(&self) -> bool {
        matches!(
            self,
            MenuEntry::PauseAlerts { .. } | MenuEntry::OpenDashboard | MenuEntry::Quit
        )
    }
}

/// The line the tray shows while the config file does not load.
pub const CONFIG_PROBLEM: &str =
    "Config does not load: running on the last good one (`tokwatch config check`)";

/// Indentation of the rows under a section heading.
const INDENT: &str = "    ";

/// The whole menu: today's total by tool, this week, budget status, active sessions, top
/// repositories this week, then the actions (pause alerts, open dashboard, quit).
pub fn menu_entries(s: &TraySnapshot) -> Vec<MenuEntry> {
    if s.error.is_some() {
        return vec![
            MenuEntry::info(format!("tokwatch: {}", crate::format::DB_ERROR)),
            MenuEntry::Separator,
            MenuEntry::PauseAlerts {
                checked: s.alerts_paused,
            },
            MenuEntry::OpenDashboard,
            MenuEntry::Quit,
        ];
    }
    let mut m = Vec::new();
    if s.config_problem.is_some() {
        m.push(MenuEntry::info(CONFIG_PROBLEM.to_string()));
    }
    m.push(MenuEntry::info(format!(
        "Today: {}",
        format_total(s.today_usd, s.today_has_unpriced)
    )));
    let tools = sorted_by_cost(&s.by_tool_today);
    if tools.is_empty() {
        m.push(MenuEntry::placeholder(format!("{INDENT}no usage yet")));
    }
    for (tool, usd) in tools {
        m.push(MenuEntry::info(format!(
            "{INDENT}{tool}: {}",
            format_usd(*usd)
        )));
    }
    m.push(MenuEntry::info(format!(
        "This week: {}",
        format_total(s.week_usd, s.week_has_unpriced)
    )));
    let others: Vec<&BudgetLine> = s.budgets.iter().filter(|b| !is_daily_all(b)).collect();
    match budget_line(s) {
        Some(b) => m.push(MenuEntry::info(b)),
        None if others.is_empty() => m.push(MenuEntry::info("Budget: none set")),
        None => {}
    }
    for b in others {
        m.push(MenuEntry::info(other_budget_line(b)));
    }
    if let Some(f) = forecast_line(s) {
        m.push(MenuEntry::info(f));
    }
    if let Some(p) = plan_line(s) {
        m.push(MenuEntry::info(p));
    }

    m.push(MenuEntry::Separator);
    m.push(MenuEntry::info("Active sessions"));
    let sessions = sorted_sessions(s);
    if sessions.is_empty() {
        m.push(MenuEntry::placeholder(format!(
            "{INDENT}none in the last 30 min"
        )));
    }
    let rows: Vec<&ActiveSession> = sessions.iter().take(MAX_SESSION_ROWS).copied().collect();
    for l in session_labels(&rows, s.now_ms) {
        m.push(MenuEntry::info(format!("{INDENT}{l}")));
    }
    for g in &s.signals {
        m.push(MenuEntry::info(format!("{INDENT}⚠ {}", signal_line(g))));
    }
    if sessions.len() > MAX_SESSION_ROWS {
        m.push(MenuEntry::placeholder(format!(
            "{INDENT}+{} more",
            sessions.len() - MAX_SESSION_ROWS
        )));
    }

    m.push(MenuEntry::Separator);
    m.push(MenuEntry::info("Top repositories this week"));
    let repos = sorted_by_cost(&s.top_repos_week);
    if repos.is_empty() {
        m.push(MenuEntry::placeholder(format!("{INDENT}none yet")));
    }
    for (repo, usd) in repos.into_iter().take(MAX_REPO_ROWS) {
        m.push(MenuEntry::info(format!(
            "{INDENT}{repo}: {}",
            format_usd(*usd)
        )));
    }

    m.push(MenuEntry::Separator);
    m.push(MenuEntry::PauseAlerts {
        checked: s.alerts_paused,
    });
    m.push(MenuEntry::OpenDashboard);
    m.push(MenuEntry::Quit);
    m
}

/// Menu shown before the first snapshot arrives (never a made-up `$0.00`).
pub fn placeholder_entries() -> Vec<MenuEntry> {
    vec![
        MenuEntry::placeholder("tokwatch: waiting for data"),
        MenuEntry::Separator,
        MenuEntry::PauseAlerts { checked: false },
        MenuEntry::OpenDashboard,
        MenuEntry::Quit,
    ]
}

/// Labels of [`menu_entries`] in order, separators left out.
pub fn menu_labels(s: &TraySnapshot) -> Vec<String> {
    menu_entries(s)
        .iter()
        .filter_map(|e| e.label().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TraySnapshot {
        TraySnapshot {
            today_usd: 3.42,
            today_has_unpriced: false,
            week_usd: 21.07,
            week_has_unpriced: true,
            daily_budget_usd: Some(10.0),
            by_tool_today: vec![("codex".into(), 0.52), ("claude-code".into(), 2.9)],
            active_sessions: vec![
                ActiveSession {
                    repo: "dotfiles".into(),
                    tool: "codex".into(),
                    cost_usd: 0.004,
                    usd_per_hour: 0.3,
                    ..ActiveSession::default()
                },
                ActiveSession {
                    repo: "tokwatch".into(),
                    tool: "claude-code".into(),
                    cost_usd: 1.2,
                    usd_per_hour: 2.4,
                    ..ActiveSession::default()
                },
            ],
            top_repos_week: vec![("tokwatch".into(), 12.3), ("dotfiles".into(), 3.1)],
            alerts_paused: false,
            ..TraySnapshot::default()
        }
    }

    #[test]
    fn money() {
        assert_eq!(format_usd(3.42), "$3.42");
        assert_eq!(format_usd(0.004), "<$0.01");
        assert_eq!(format_usd(0.0049), "<$0.01");
        assert_eq!(format_usd(0.006), "$0.01");
        assert_eq!(format_usd(0.0), "$0.00");
        assert_eq!(format_usd(2.0), "$2.00");
        assert_eq!(format_usd(0.999), "$1.00");
        assert_eq!(format_usd(1234.5), "$1,234.50");
        assert_eq!(format_usd(1234567.891), "$1,234,567.89");
        assert_eq!(format_usd(999.999), "$1,000.00");
        assert_eq!(format_usd(f64::NAN), "$?");
        assert_eq!(format_rate(2.4), "$2.40/h");
        assert_eq!(format_total(3.42, false), "$3.42");
        assert_eq!(format_total(3.42, true), "$3.42 + unpriced");
        assert_eq!(format_total(0.0, true), "$0.00 + unpriced");
    }

    #[test]
    fn title_marks_unpriced() {
        let mut s = sample();
        assert_eq!(title(&s), "$3.42");
        s.today_has_unpriced = true;
        assert_eq!(title(&s), "$3.42+");
        s.today_usd = 0.004;
        assert_eq!(title(&s), "<$0.01+");
    }

    #[test]
    fn budget_lines() {
        let mut s = sample();
        assert_eq!(
            budget_line(&s).unwrap(),
            "Budget: $3.42 of $10.00 today (34%)"
        );
        s.today_usd = 7.999;
        // 79.99% rounds to $8.00 but stays "under": the percentage is floored.
        assert_eq!(
            budget_line(&s).unwrap(),
            "Budget: $8.00 of $10.00 today (79%)"
        );
        s.today_usd = 8.5;
        s.today_has_unpriced = true;
        assert_eq!(
            budget_line(&s).unwrap(),
            "Budget: $8.50 of $10.00 today (≥85%, near)"
        );
        s.today_has_unpriced = false;
        s.today_usd = 11.2;
        assert_eq!(
            budget_line(&s).unwrap(),
            "Budget: $11.20 of $10.00 today (112%, over)"
        );
        s.daily_budget_usd = None;
        assert_eq!(budget_line(&s), None);
    }

    #[test]
    fn tooltip_text() {
        let s = sample();
        assert_eq!(
            tooltip(&s),
            "Today: $3.42\n\
             This week: $21.07 + unpriced\n\
             Budget: $3.42 of $10.00 today (34%)\n\
             Active: tokwatch (claude-code) $1.20, $2.40/h\n\
             Active: dotfiles (codex) <$0.01, $0.30/h"
        );
        let mut s = TraySnapshot {
            alerts_paused: true,
            ..TraySnapshot::default()
        };
        assert_eq!(tooltip(&s), "Today: $0.00\nThis week: $0.00\nAlerts paused");
        s.alerts_paused = false;
        s.active_sessions = (0..5)
            .map(|i| ActiveSession {
                repo: format!("r{i}"),
                tool: "t".into(),
                cost_usd: 1.0,
                usd_per_hour: i as f64,
                ..ActiveSession::default()
            })
            .collect();
        let t = tooltip(&s);
        assert!(t.contains("Active: r4 (t) $1.00, $4.00/h\n"), "{t}");
        assert!(
            t.ends_with("Active: r2 (t) $1.00, $2.00/h\n+2 more active"),
            "{t}"
        );
    }

    #[test]
    fn menu_labels_for_snapshot() {
        assert_eq!(
            menu_labels(&sample()),
            vec![
                "Today: $3.42",
                "    claude-code: $2.90",
                "    codex: $0.52",
                "This week: $21.07 + unpriced",
                "Budget: $3.42 of $10.00 today (34%)",
                "Active sessions",
                "    tokwatch · claude-code · $1.20 · $2.40/h",
                "    dotfiles · codex · <$0.01 · $0.30/h",
                "Top repositories this week",
                "    tokwatch: $12.30",
                "    dotfiles: $3.10",
                "Pause alerts",
                "Open dashboard",
                "Quit tokwatch",
            ]
        );
    }

    #[test]
    fn every_budget_forecast_plan_and_signals() {
        use super::super::{BudgetLine, ForecastBand, PlanLine, SignalLine};
        let mut s = sample();
        s.budgets = vec![
            BudgetLine {
                id: "daily".into(),
                period: "day".into(),
                scope: "all".into(),
                limit_usd: 10.0,
                spent_usd: 3.42,
                fraction: 0.342,
                state: BudgetState::Under,
                ..BudgetLine::default()
            },
            BudgetLine {
                id: "weekly-repo:owner/app".into(),
                period: "week".into(),
                scope: "repo:owner/app".into(),
                limit_usd: 50.0,
                spent_usd: 46.0,
                has_unpriced: true,
                fraction: 0.92,
                state: BudgetState::Near,
                ..BudgetLine::default()
            },
        ];
        s.forecast_today = Some(ForecastBand {
            low_usd: 6.0,
            mid_usd: 8.1,
            high_usd: 10.2,
        });
        s.plan_limits = vec![
            PlanLine {
                name: "five_hour".into(),
                used_pct: 87.5,
                resets: Some("2025-06-14 15:00".into()),
            },
            PlanLine {
                name: "seven_day".into(),
                used_pct: 12.0,
                resets: None,
            },
        ];
        s.signals = vec![SignalLine {
            kind: "loop".into(),
            repo: Some("tokwatch".into()),
            tool: "claude-code".into(),
            message: "loop: 6 requests in 1 min with the same context size".into(),
        }];
        let labels = menu_labels(&s);
        let want = [
            "Budget: $3.42 of $10.00 today (34%)",
            "Budget weekly owner/app: $46.00 of $50.00 this week (≥92%, near)",
            "Forecast today: $8.10 ($6.00–$10.20)",
            "Plan: 5h 87% (resets 2025-06-14 15:00, near) · 7d 12%",
            "    ⚠ Loop: tokwatch (claude-code) loop: 6 requests in 1 min with the same context size",
        ];
        for w in want {
            assert!(labels.iter().any(|l| l == w), "{w:?} in {labels:?}");
        }
        let t = tooltip(&s);
        assert!(
            t.contains("Budget weekly owner/app: $46.00 of $50.00 this week (≥92%, near)"),
            "{t}"
        );
        assert!(t.contains("Plan: 5h 87%"), "{t}");
        assert!(t.contains("Loop: tokwatch (claude-code)"), "{t}");
        // The icon follows the budget closest to its limit.
        assert_eq!(gauge(&s).state, BudgetState::Near);
    }

    #[test]
    fn empty_snapshot_menu() {
        let e = menu_entries(&TraySnapshot::default());
        let want = vec![
            MenuEntry::info("Today: $0.00"),
            MenuEntry::placeholder("    no usage yet"),
            MenuEntry::info("This week: $0.00"),
            MenuEntry::info("Budget: none set"),
            MenuEntry::Separator,
            MenuEntry::info("Active sessions"),
            MenuEntry::placeholder("    none in the last 30 min"),
            MenuEntry::Separator,
            MenuEntry::info("Top repositories this week"),
            MenuEntry::placeholder("    none yet"),
            MenuEntry::Separator,
            MenuEntry::PauseAlerts { checked: false },
            MenuEntry::OpenDashboard,
            MenuEntry::Quit,
        ];
        assert_eq!(e, want);
    }

    #[test]
    fn menu_limits_rows_and_reflects_pause() {
        let s = TraySnapshot {
            alerts_paused: true,
            active_sessions: (0..8)
                .map(|i| ActiveSession {
                    repo: format!("r{i}"),
                    tool: "t".into(),
                    cost_usd: 0.0,
                    usd_per_hour: 10.0 - i as f64,
                    ..ActiveSession::default()
                })
                .collect(),
            top_repos_week: (0..7).map(|i| (format!("repo{i}"), i as f64)).collect(),
            ..TraySnapshot::default()
        };
        let e = menu_entries(&s);
        assert!(e.contains(&MenuEntry::PauseAlerts { checked: true }));
        let labels = menu_labels(&s);
        let sessions: Vec<_> = labels.iter().filter(|l| l.contains(" · t · ")).collect();
        assert_eq!(sessions.len(), MAX_SESSION_ROWS);
        assert_eq!(sessions[0], "    r0 · t · $0.00 · $10.00/h");
        assert!(labels.contains(&"    +2 more".to_string()));
        let repos: Vec<_> = labels
            .iter()
            .filter(|l| l.starts_with("    repo"))
            .collect();
        assert_eq!(repos.len(), MAX_REPO_ROWS);
        assert_eq!(repos[0], "    repo6: $6.00");
        assert_eq!(repos[4], "    repo2: $2.00");
        // Actions come last, after a separator, in a fixed order.
        let n = e.len();
        assert_eq!(e[n - 4], MenuEntry::Separator);
        assert!(e[n - 3..].iter().all(MenuEntry::is_action));
    }

    #[test]
    fn sessions_that_would_read_the_same_are_told_apart() {
        let now = 1_771_083_156_415;
        let a = |session: &str, branch: Option<&str>, mins_ago: i64| ActiveSession {
            repo: "tokwatch".into(),
            tool: "claude-code".into(),
            cost_usd: 1.2,
            usd_per_hour: 2.4,
            branch: branch.map(String::from),
            session: session.into(),
            last_ms: now - mins_ago * 60_000,
        };
        let (x, y, z) = (
            a("0c1f2e3d-aaaa", Some("main"), 5),
            a("9b8a7c6d-bbbb", Some("main"), 5),
            a("5e5e5e5e-cccc", Some("fix/x"), 0),
        );
        assert_eq!(
            session_labels(&[&x, &y, &z], now),
            [
                "tokwatch@main · claude-code · $1.20 · $2.40/h · 5 min ago · 0c1f2e3d",
                "tokwatch@main · claude-code · $1.20 · $2.40/h · 5 min ago · 9b8a7c6d",
                "tokwatch@fix/x · claude-code · $1.20 · $2.40/h · now",
            ]
        );
        let old = a("1", None, 150);
        assert_eq!(
            session_labels(&[&old], now),
            ["tokwatch · claude-code · $1.20 · $2.40/h · 2 h ago"]
        );
        let s = TraySnapshot {
            now_ms: now,
            active_sessions: vec![x.clone(), y.clone()],
            ..TraySnapshot::default()
        };
        let t = tooltip(&s);
        assert!(
            t.contains(
                "Active: tokwatch@main (claude-code) $1.20, $2.40/h, 5 min ago, session 0c1f2e3d\n"
            ),
            "{t}"
        );
    }

    #[test]
    fn a_config_that_does_not_load_is_said_first() {
        let s = TraySnapshot {
            config_problem: Some("line 2, key budget.near: 1.5 is not a fraction".into()),
            ..TraySnapshot::default()
        };
        assert_eq!(
            tooltip(&s).lines().next(),
            Some(CONFIG_PROBLEM),
            "{}",
            tooltip(&s)
        );
        assert_eq!(
            menu_entries(&s)[0],
            MenuEntry::info(CONFIG_PROBLEM.to_string())
        );
    }
}
