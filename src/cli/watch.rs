//! `tokwatch watch`: one line per request as it is stored, from the running daemon's feed, or
//! from a daemon of its own when none runs.

use super::output::{bold, dim, int};
use crate::app::App;
use crate::daemon::feed::{self, FeedEvent};
use crate::daemon::{self, lock::InstanceLock, Daemon, Sink};
use crate::format::{usd4, usd_marked, DB_ERROR};
use crate::store::query::Scope;
use crate::store::{Store, StoredEvent};
use std::io::{BufRead, Write};
use std::path::Path;

/// A running total as text: the amount, or the error that kept it from being read.
fn total(v: Option<f64>, unpriced: bool) -> String {
    match v {
        Some(v) => usd_marked(v, unpriced),
        None => DB_ERROR.to_string(),
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
        Some(c) => format!("{:>9}", usd4(c)),
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
        total(e.session_cost_usd, e.session_has_unpriced),
        total(e.today_cost_usd, e.today_has_unpriced),
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
    Some(
        match store.cost(Scope::Since(crate::status::start_of_today())) {
            Ok(c) => format!("today so far: {}", usd_marked(c.usd, c.has_unpriced)),
            Err(_) => format!("today so far: {DB_ERROR}"),
        },
    )
}

struct PrintSink {
    json: bool,
    models: Models,
}
impl Sink for PrintSink {
    fn events(&mut self, store: &Store, evs: &[StoredEvent]) {
        print_events(&feed::feed_events(store, evs), self.json, &mut self.models);
    }
}

/// The latest main-chain model of each session seen, to mark a change of model (a fallback).
#[derive(Default)]
pub struct Models(std::collections::HashMap<String, String>);

impl Models {
    /// `⇄ session abc123: model claude-opus-4-6 → claude-sonnet-4-5` when this request's model
    /// differs from the session's previous one.
    pub fn change(&mut self, e: &FeedEvent) -> Option<String> {
        if e.sidechain || e.updated {
            return None;
        }
        let (Some(s), Some(m)) = (&e.session, e.model.as_ref().filter(|m| !m.is_empty())) else {
            return None;
        };
        let prev = self.0.insert(s.clone(), m.clone())?;
        (prev != *m).then(|| {
            let short: String = s.chars().take(8).collect();
            format!("⇄ session {short}: model {prev} → {m} (fallback?)")
        })
    }
}

fn print_events(evs: &[FeedEvent], json: bool, models: &mut Models) {
    let mut out = std::io::stdout().lock();
    for e in evs {
        let change = models.change(e);
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default())
        } else {
            if let Some(c) = change {
                let _ = writeln!(out, "{}", bold(&c));
            }
            writeln!(out, "{}", feed_line(e))
        };
    }
    let _ = out.flush();
}

/// How long `watch` waits for a daemon that stopped to come back (a restart) before it
/// follows the logs itself.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects to the daemon's live feed for `db`, trying for up to `wait` (a daemon that has just
/// taken its lock serves the feed once it caught up). `None` when no daemon runs by then.
#[cfg(unix)]
fn connect(db: &Path, wait: std::time::Duration) -> Option<std::os::unix::net::UnixStream> {
    let sock = feed::socket_path(db);
    let t0 = std::time::Instant::now();
    loop {
        if InstanceLock::is_held(db) {
            if let Ok(s) = std::os::unix::net::UnixStream::connect(&sock) {
                return Some(s);
            }
        }
        if t0.elapsed() >= wait {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Follows the running daemon's feed, or runs one in-process when none runs. When the daemon
/// stops (a restart), it waits for it to come back and follows it again; when it does not come
/// back, it follows the logs itself.
pub fn watch(app: &App, json: bool) -> anyhow::Result<i32> {
    let db = &app.db;
    #[cfg(unix)]
    {
        let mut first = true;
        let mut models = Models::default();
        loop {
            // A daemon that holds its lock gets time to open its feed; none: follow the logs.
            let wait = if InstanceLock::is_held(db) {
                std::time::Duration::from_secs(30)
            } else if first {
                std::time::Duration::ZERO
            } else {
                RESTART_WAIT
            };
            let Some(s) = connect(db, wait) else {
                if first && InstanceLock::is_held(db) {
                    anyhow::bail!(
                        "a tokwatch daemon runs for {} but its live feed at {} cannot be reached; restart the daemon",
                        db.display(),
                        feed::socket_path(db).display()
                    );
                }
                break;
            };
            if !json {
                if let Some(t) = today_line(db) {
                    println!("{}", bold(&t));
                }
                println!(
                    "{}",
                    dim(if first {
                        "following the running daemon; one line per request (Ctrl-C to stop)"
                    } else {
                        "the daemon is back: following it again"
                    })
                );
            }
            first = false;
            for line in std::io::BufReader::new(s).lines() {
                let Ok(line) = line else { break };
                if let Ok(e) = serde_json::from_str::<FeedEvent>(&line) {
                    print_events(&[e], json, &mut models);
                }
            }
            eprintln!(
                "tokwatch: the daemon stopped; waiting up to {}s for it to come back, then following the logs directly",
                RESTART_WAIT.as_secs()
            );
        }
    }
    follow_itself(app, json)
}

/// No daemon: become one, headless, printing what arrives.
fn follow_itself(app: &App, json: bool) -> anyhow::Result<i32> {
    let db = &app.db;
    let _lock = InstanceLock::acquire(db)?;
    let ing = app.ingestor()?;
    let mut d = Daemon::start(ing, daemon::Options::default())?;
    let _ = d.serve_feed(db);
    if !json {
        if let Some(t) = today_line(db) {
            println!("{}", bold(&t));
        }
        println!("{}", dim("no daemon is running: following the logs directly; one line per request (Ctrl-C to stop)"));
    }
    d.add_sink(Box::new(PrintSink {
        json,
        models: Models::default(),
    }));
    // A replaced binary is the next `tokwatch watch`'s to use.
    d.run()?;
    Ok(super::EXIT_OK)
}
