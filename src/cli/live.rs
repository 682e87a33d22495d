//! `tokwatch watch` and `tokwatch statusline`: the live views.

use super::output::{bold, dim, int, money};
use crate::attribution::Attributor;
use crate::daemon::feed::{self, FeedEvent};
use crate::daemon::{self, lock::InstanceLock, Daemon, Sink};
use crate::store::query::{live_cost, Scope};
use crate::store::{Store, StoredEvent};
use std::io::{BufRead, Read, Write};
use std::path::Path;

fn money_u(v: f64, unpriced: bool) -> String {
    if unpriced {
        format!("{}+", money(v))
    } else {
        money(v)
    }
}

/// One feed line as text.
pub fn feed_line(e: &FeedEvent) -> String {
    let t = chrono::DateTime::from_timestamp_millis(e.ts_ms)
        .unwrap_or_default()
        .with_timezone(&chrono::Local)
        .format("%H:%M:%S");
    let repo = match (&e.repo, &e.branch) {
        (Some(r), Some(b)) => format!("{r}@{b}"),
        (Some(r), None) => r.clone(),
        (None, Some(b)) => format!("@{b}"),
        (None, None) => "-".into(),
    };
    let cost = match e.cost_usd {
        Some(c) => format!("{:>9}", format!("${c:.4}")),
        None => format!("{:>9}", "unpriced"),
    };
    let mark = if e.updated { "↻" } else { " " };
    format!(
        "{t}{mark} {:<11} {:<28} {:<26} in {:>7}  cw {:>8}  cr {:>10}  out {:>7}  {cost}  session {}  today {}",
        e.tool,
        truncate(&repo, 28),
        truncate(e.model.as_deref().unwrap_or("?"), 26),
        int(e.input),
        int(e.cache_write),
        int(e.cache_read),
        int(e.output),
        money_u(e.session_cost_usd, e.session_has_unpriced),
        money_u(e.today_cost_usd, e.today_has_unpriced),
    )
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn today_line(db: &Path) -> Option<String> {
    let store = Store::open_reader(db).ok()?;
    let (c, u) = live_cost(&store.conn, Scope::Since(daemon::start_of_today()));
    Some(format!("today so far: {}", money_u(c, u)))
}

struct PrintSink {
    json: bool,
}
impl Sink for PrintSink {
    fn events(&mut self, conn: &rusqlite::Connection, evs: &[StoredEvent]) {
        let lines = crate::daemon::feed_events(conn, evs);
        print_events(&lines, self.json);
    }
}

fn print_events(evs: &[FeedEvent], json: bool) {
    let mut out = std::io::stdout().lock();
    for e in evs {
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default())
        } else {
            writeln!(out, "{}", feed_line(e))
        };
    }
    let _ = out.flush();
}

/// Follows the running daemon's feed, or runs one in-process when none runs.
pub fn watch(db: &Path, json: bool) -> anyhow::Result<i32> {
    if InstanceLock::is_held(db) {
        let sock = feed::socket_path(db);
        #[cfg(unix)]
        {
            let s = std::os::unix::net::UnixStream::connect(&sock).map_err(|e| {
                anyhow::anyhow!(
                    "a tokwatch daemon runs for {} but its live feed at {} cannot be reached ({e}); restart the daemon",
                    db.display(),
                    sock.display()
                )
            })?;
            if !json {
                if let Some(t) = today_line(db) {
                    println!("{}", bold(&t));
                }
                println!(
                    "{}",
                    dim("following the running daemon; one line per request (Ctrl-C to stop)")
                );
            }
            for line in std::io::BufReader::new(s).lines() {
                let line = line?;
                match serde_json::from_str::<FeedEvent>(&line) {
                    Ok(e) => print_events(&[e], json),
                    Err(_) => continue,
                }
            }
            eprintln!("tokwatch: the daemon stopped");
            return Ok(super::EXIT_OK);
        }
    }
    // No daemon: become one, headless, printing what arrives.
    let _lock = InstanceLock::acquire(db)?;
    let ing = super::new_ingestor(db)?;
    let mut d = Daemon::start(ing, daemon::Options::default())?;
    let _ = d.serve_feed(db);
    if !json {
        if let Some(t) = today_line(db) {
            println!("{}", bold(&t));
        }
        println!("{}", dim("no daemon was running: following the logs directly; one line per request (Ctrl-C to stop)"));
    }
    d.add_sink(Box::new(PrintSink { json }));
    d.run()?;
    Ok(super::EXIT_OK)
}

/// What Claude Code sends a statusline command on stdin (the parts used).
#[derive(serde::Deserialize, Default)]
struct StatusInput {
    session_id: Option<String>,
    cwd: Option<String>,
    workspace: Option<Workspace>,
}
#[derive(serde::Deserialize, Default)]
struct Workspace {
    current_dir: Option<String>,
    project_dir: Option<String>,
}

/// One short line; never fails loudly (a statusline must not break a prompt).
pub fn statusline(db: &Path) -> anyhow::Result<i32> {
    let mut input = String::new();
    let stdin = std::io::stdin();
    if !std::io::IsTerminal::is_terminal(&stdin) {
        let _ = stdin.lock().take(1 << 20).read_to_string(&mut input);
    }
    let si: StatusInput = serde_json::from_str(input.trim()).unwrap_or_default();
    println!("{}", statusline_text(db, &si));
    Ok(super::EXIT_OK)
}

fn statusline_text(db: &Path, si: &StatusInput) -> String {
    let Ok(store) = Store::open_reader(db) else {
        return "tokwatch: no data yet".into();
    };
    let today_ms = daemon::start_of_today();
    let today = live_cost(&store.conn, Scope::Since(today_ms));
    let mut parts = Vec::new();
    if let Some(s) = si.session_id.as_deref().filter(|s| !s.is_empty()) {
        let known: bool = store
            .conn
            .query_row(
                "SELECT count(*) > 0 FROM rollup WHERE session = ?1",
                [s],
                |r| r.get(0),
            )
            .unwrap_or(false);
        if known {
            let c = live_cost(&store.conn, Scope::Session(s));
            parts.push(format!("session {}", money_u(c.0, c.1)));
        }
    }
    let cwd = si
        .workspace
        .as_ref()
        .and_then(|w| w.project_dir.clone().or(w.current_dir.clone()))
        .or(si.cwd.clone());
    if let Some(cwd) = cwd {
        if let Some(ws) = Attributor::new().resolve(Some(&cwd), None) {
            let id: Option<i64> = store
                .conn
                .query_row("SELECT id FROM workspaces WHERE key = ?1", [&ws.key], |r| {
                    r.get(0)
                })
                .ok();
            if let Some(id) = id {
                let c = live_cost(&store.conn, Scope::WorkspaceSince(id, today_ms));
                parts.push(format!("{} today {}", ws.name, money_u(c.0, c.1)));
            }
        }
    }
    parts.push(format!("all today {}", money_u(today.0, today.1)));
    parts.join(" · ")
}
