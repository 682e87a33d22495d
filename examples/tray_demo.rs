//! Shows the tokwatch tray with a demo snapshot, then applies snapshots read from stdin, one JSON
//! object per line (`tokwatch::tray::TraySnapshot`; missing fields take their defaults).
//!
//! Usage: `tray_demo [--initial JSON] [--exit-on-eof]`
//!
//! Menu clicks are printed to stdout as `command: PauseAlerts(true)` etc.; "Quit" exits. Without
//! `--exit-on-eof` the tray stays up after stdin closes until Quit is clicked or it is killed.
//! Used by tests/tray_dbus.rs and docs/tray-screenshot.sh.

use std::io::{BufRead, Write};
use std::sync::mpsc;

use tokwatch::tray::{self, ActiveSession, TrayCommand, TraySnapshot};

fn demo_snapshot() -> TraySnapshot {
    TraySnapshot {
        today_usd: 3.42,
        today_has_unpriced: false,
        week_usd: 21.07,
        week_has_unpriced: true,
        daily_budget_usd: Some(5.0),
        by_tool_today: vec![
            ("claude-code".into(), 2.9),
            ("codex".into(), 0.48),
            ("gemini-cli".into(), 0.04),
        ],
        active_sessions: vec![
            ActiveSession {
                repo: "tokwatch".into(),
                tool: "claude-code".into(),
                cost_usd: 1.2,
                usd_per_hour: 2.4,
                ..ActiveSession::default()
            },
            ActiveSession {
                repo: "dotfiles".into(),
                tool: "codex".into(),
                cost_usd: 0.004,
                usd_per_hour: 0.3,
                ..ActiveSession::default()
            },
        ],
        top_repos_week: vec![
            ("tokwatch".into(), 12.3),
            ("website".into(), 5.12),
            ("dotfiles".into(), 3.1),
        ],
        alerts_paused: false,
        ..TraySnapshot::default()
    }
}

fn main() {
    let mut initial = demo_snapshot();
    let mut exit_on_eof = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--initial" => {
                let json = args.next().unwrap_or_default();
                initial = serde_json::from_str(&json).unwrap_or_else(|e| {
                    eprintln!("tray_demo: --initial is not a snapshot: {e}");
                    std::process::exit(2)
                });
            }
            "--exit-on-eof" => exit_on_eof = true,
            _ => {
                eprintln!("usage: tray_demo [--initial JSON] [--exit-on-eof]");
                std::process::exit(2)
            }
        }
    }

    if let Err(why) = tray::availability() {
        eprintln!("tray_demo: no tray: {why}");
        std::process::exit(3);
    }
    if !tray::host_present() {
        eprintln!("tray_demo: no tray host yet; the icon appears when one starts");
    }

    let (updates, updates_rx) = mpsc::channel();
    let (commands_tx, commands) = mpsc::channel();
    let handle = tray::spawn(updates_rx, commands_tx).unwrap_or_else(|e| {
        eprintln!("tray_demo: {e}");
        std::process::exit(1)
    });
    updates.send(initial).expect("tray thread is running");

    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<TraySnapshot>(&line) {
                Ok(s) => {
                    if updates.send(s).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("tray_demo: skipped a line that is not a snapshot: {e}"),
            }
        }
        if exit_on_eof {
            // Closing the update channel ends the tray thread, which closes `commands`.
            drop(updates);
        } else {
            // Keep the sender, and so the tray, alive.
            std::mem::forget(updates);
        }
    });

    let mut out = std::io::stdout();
    for cmd in commands.iter() {
        let _ = writeln!(out, "command: {cmd:?}");
        let _ = out.flush();
        if cmd == TrayCommand::Quit {
            // The item leaves the bus with the process.
            std::process::exit(0);
        }
    }
    // `commands` closed: stdin ended with --exit-on-eof and the tray thread is done.
    handle.join();
}
