//! Pure text for the tray: money, title, tooltip, budget state and menu labels.
//!
//! Everything here is a function of a [`TraySnapshot`], so the exact texts a user sees (and the
//! D-Bus test reads) are unit-tested without a tray. Totals that contain unpriced usage always
//! say so: the title gets a trailing `+` (the real cost is at least this), the tooltip and menu
//! say `+ unpriced`.

use super::{ActiveSession, TraySnapshot};
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
pub const LABEL_OPEN_REPORT: &str = "Open report";
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
    let mut lines = vec![
        format!("Today: {}", format_total(s.today_usd, s.today_has_unpriced)),
        format!(
            "This week: {}",
            format_total(s.week_usd, s.week_has_unpriced)
        ),
    ];
    if let Some(b) = budget_line(s) {
        lines.push(b);
    }
    let sessions = sorted_sessions(s);
    for a in sessions.iter().take(MAX_TOOLTIP_SESSIONS) {
        lines.push(format!(
            "Active: {} ({}) {}, {}",
            a.repo,
            a.tool,
            format_usd(a.cost_usd),
            format_rate(a.usd_per_hour)
        ));
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
    /// "Open report".
    OpenReport,
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
            MenuEntry::OpenReport => Some(LABEL_OPEN_REPORT),
            MenuEntry::Quit => Some(LABEL_QUIT),
        }
    }

    /// Whether this row is one of the fixed actions at the end of the menu.
    pub fn is_action(&self) -> bool {
        matches!(
            self,
            MenuEntry::PauseAlerts { .. } | MenuEntry::OpenReport | MenuEntry::Quit
        )
    }
}

/// Indentation of the rows under a section heading.
const INDENT: &str = "    ";

/// The whole menu: today's total by tool, this week, budget status, active sessions, top
/// repositories this week, then the actions (pause alerts, open report, quit).
pub fn menu_entries(s: &TraySnapshot) -> Vec<MenuEntry> {
    if s.error.is_some() {
        return vec![
            MenuEntry::info(format!("tokwatch: {}", crate::format::DB_ERROR)),
            MenuEntry::Separator,
            MenuEntry::PauseAlerts {
                checked: s.alerts_paused,
            },
            MenuEntry::OpenReport,
            MenuEntry::Quit,
        ];
    }
    let mut m = vec![MenuEntry::info(format!(
        "Today: {}",
        format_total(s.today_usd, s.today_has_unpriced)
    ))];
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
    m.push(MenuEntry::info(
        budget_line(s).unwrap_or_else(|| "Budget: none set".to_string()),
    ));

    m.push(MenuEntry::Separator);
    m.push(MenuEntry::info("Active sessions"));
    let sessions = sorted_sessions(s);
    if sessions.is_empty() {
        m.push(MenuEntry::placeholder(format!(
            "{INDENT}none in the last 30 min"
        )));
    }
    for a in sessions.iter().take(MAX_SESSION_ROWS) {
        m.push(MenuEntry::info(format!("{INDENT}{}", session_label(a))));
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
    m.push(MenuEntry::OpenReport);
    m.push(MenuEntry::Quit);
    m
}

/// Menu shown before the first snapshot arrives (never a made-up `$0.00`).
pub fn placeholder_entries() -> Vec<MenuEntry> {
    vec![
        MenuEntry::placeholder("tokwatch: waiting for data"),
        MenuEntry::Separator,
        MenuEntry::PauseAlerts { checked: false },
        MenuEntry::OpenReport,
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
                },
                ActiveSession {
                    repo: "tokwatch".into(),
                    tool: "claude-code".into(),
                    cost_usd: 1.2,
                    usd_per_hour: 2.4,
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
                "Open report",
                "Quit tokwatch",
            ]
        );
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
            MenuEntry::OpenReport,
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
}
