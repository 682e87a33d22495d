//! `tokwatch doctor`: for each known tool, whether its logs were found, where, how many files
//! and requests, the last event, parse errors with one example each, and unpriced models; and
//! every problem that needs the user (a damaged database, permissions, unreadable files and
//! directories, parser specs that do not load), each with what to do. Exit 1 when there is one.

use super::output::{bold, dim, int};
use crate::app::App;
use crate::registry::Source;
use crate::store::query::Zone;
use crate::store::{problem, Store, StoreError};
use serde::Serialize;
use std::path::Path;

/// Places listed per tool in the text output when its logs were not found.
const LOOKED_IN_SHOWN: usize = 4;

/// What `doctor` found for one tool.
#[derive(Debug, Serialize)]
pub struct ToolHealth {
    /// Tool id.
    pub tool: String,
    /// Log files of it are on disk.
    pub found: bool,
    /// Roots that exist.
    pub roots_found: Vec<String>,
    /// Roots looked at that do not exist.
    pub roots_missing: Vec<String>,
    /// Log files on disk.
    pub files_on_disk: usize,
    /// Files read into the database.
    pub files_read: i64,
    /// Requests stored.
    pub requests: i64,
    /// Local time of the newest request.
    pub last_event: Option<String>,
    /// Malformed records skipped.
    pub malformed_records: i64,
    /// One of them (no log text).
    pub malformed_example: Option<String>,
    /// Files that could not be read.
    pub unreadable_files: i64,
    /// One of them, with the reason.
    pub unreadable_example: Option<String>,
    /// Models without a known price.
    pub unpriced_models: Vec<String>,
}

/// What `doctor` found.
#[derive(Debug, Serialize)]
pub struct Doctor {
    /// The database path.
    pub database: String,
    /// The database opened and reads.
    pub database_ok: bool,
    /// What is wrong with it, and what to do.
    pub database_problem: Option<String>,
    /// The config directory.
    pub config_dir: String,
    /// The config file loads (warnings allowed).
    pub config_ok: bool,
    /// Its errors and warnings, each with line and key.
    pub config_problems: Vec<String>,
    /// The running daemon runs on the last config that loaded, not the file's.
    pub daemon_on_last_good_config: bool,
    /// Each tool.
    pub tools: Vec<ToolHealth>,
    /// Problems loading user parser specs.
    pub parser_errors: Vec<String>,
    /// This machine's id, the machines whose requests are stored, and what is exported where
    /// and how far behind (`docs/sync-and-export.md`).
    pub exports: Option<crate::export::ExportsState>,
    /// Whether the stored usage is priced with the current prices.
    pub prices: Option<PricesHealth>,
    /// Everything that needs the user, each with what to do (`doctor` exits 1 when there is
    /// any).
    pub problems: Vec<String>,
}

/// Whether the stored usage is priced with the prices tokwatch has now.
#[derive(Debug, Serialize)]
pub struct PricesHealth {
    /// When prices were last applied to the stored usage (local time), if ever recorded.
    pub last_applied: Option<String>,
    /// The overrides or the bundled price data changed since: the stored costs are stale.
    pub stale: bool,
    /// What to do, when stale.
    pub advice: Option<String>,
}

/// Compares the prices last applied to the stored usage with the current ones (overrides from
/// `config.toml`, bundled data); `None` when there is nothing to compare.
fn prices_health(app: &App, store: &Store) -> Option<PricesHealth> {
    let config = app.config().ok()?;
    let (requests, _) = store.counts().ok()?;
    let applied = store.prices_applied().ok()?;
    let current = crate::pricing::fingerprint(&config.prices);
    let stale = requests > 0 && applied.as_ref().is_none_or(|a| a.fingerprint != current);
    Some(PricesHealth {
        last_applied: applied.map(|a| Zone::Local.datetime(a.at_ms)),
        stale,
        advice: stale.then(|| {
            "the prices changed (config.toml [prices], or a new tokwatch with new price data) since the stored usage was priced: run `tokwatch reprice` (or `tokwatch scan`; a starting daemon does it too)".to_string()
        }),
    })
}

/// Problems with the prices applied to stored usage: stale after a price change.
pub fn price_problems(app: &App, store: &Store) -> Vec<String> {
    prices_health(app, store)
        .filter(|p| p.stale)
        .and_then(|p| p.advice)
        .map(|a| format!("prices: {a}"))
        .into_iter()
        .collect()
}

/// Looks at every tool's sources and at what the database holds for them.
pub fn diagnose(app: &App, sources: &[Source], parser_errors: Vec<String>) -> Doctor {
    let db = &app.db;
    let store = Store::open_reader(db);
    let mut problems = Vec::new();
    let (mut database_ok, mut database_problem) = match &store {
        Ok(_) => (true, None),
        Err(e) => {
            let missing = matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Missing(_)));
            let text = problem::describe(e);
            // No database yet is no problem: `scan` builds it (said below when logs wait).
            if !missing {
                problems.push(text.clone());
            }
            (false, Some(text))
        }
    };
    if let Ok(st) = &store {
        // A page damaged in the middle is found here, not only by the report that reads it.
        match st.damage() {
            Ok(None) => {}
            Ok(Some(why)) => {
                let e = StoreError::Corrupt(db.clone(), why).to_string();
                problems.push(e.clone());
                (database_ok, database_problem) = (false, Some(e));
            }
            Err(e) => problems.push(format!(
                "cannot check the database {}: {}",
                db.display(),
                problem::describe(&e)
            )),
        }
        // Readable but not writable (after `sudo tokwatch scan`): the daemon cannot store.
        if database_ok {
            if let Some(why) = problem::access_problem(db, true) {
                problems.push(why.clone());
                (database_ok, database_problem) = (false, Some(why));
            }
        }
        problems.extend(price_problems(app, st));
    }
    let mut tools = Vec::new();
    for (tool, roots) in crate::registry::roots_by_tool(sources) {
        let (found, missing): (Vec<&Path>, Vec<&Path>) =
            roots.into_iter().partition(|r| r.exists());
        let roots_found: Vec<String> = found.iter().map(|r| r.display().to_string()).collect();
        let roots_missing = missing.iter().map(|r| r.display().to_string()).collect();
        let files_on_disk: usize = sources
            .iter()
            .filter(|x| x.tool == tool)
            .map(|x| x.files().len())
            .sum();
        let mut h = ToolHealth {
            tool: tool.to_string(),
            found: files_on_disk > 0,
            roots_found,
            roots_missing,
            files_on_disk,
            files_read: 0,
            requests: 0,
            last_event: None,
            malformed_records: 0,
            malformed_example: None,
            unreadable_files: 0,
            unreadable_example: None,
            unpriced_models: Vec::new(),
        };
        if let Ok(st) = &store {
            if let Ok(f) = st.tool_files(tool) {
                h.files_read = f.files;
                h.malformed_records = f.malformed;
                h.last_event = f.last_event_ms.map(|ms| Zone::Local.datetime(ms));
                h.malformed_example = f.malformed_example;
                h.unreadable_files = f.unreadable;
                h.unreadable_example = f.unreadable_example;
                h.requests = f.requests;
                h.unpriced_models = f.unpriced_models;
            }
        }
        if h.unreadable_files > 0 {
            problems.push(format!(
                "{}: {} could not be read, e.g. {}. Make them readable by you (`chmod u+r` on files, `chmod u+rx` on directories), then run `tokwatch scan`",
                h.tool,
                plural(h.unreadable_files, "file or directory", "files or directories"),
                h.unreadable_example.as_deref().unwrap_or("?")
            ));
        }
        tools.push(h);
    }
    for e in &parser_errors {
        problems.push(format!("user parser: {e}"));
    }
    let exports = match (&store, app.config()) {
        (Ok(st), Ok(cfg)) => crate::export::state(&cfg, &app.env, st).ok(),
        _ => None,
    };
    let prices = store.as_ref().ok().and_then(|st| prices_health(app, st));
    let (_, checked) = app.check_config();
    let config_problems = checked
        .problems
        .iter()
        .map(|p| format!("{}: {p}", if p.error { "error" } else { "warning" }))
        .collect();
    let daemon_on_last_good_config = crate::daemon::lock::InstanceLock::is_held(db)
        && crate::daemon::state::DaemonState::read(db).is_some_and(|s| !s.config.ok);
    let config_ok = checked.errors().next().is_none();
    if !config_ok {
        problems.push(format!(
            "config: {} does not load{}: `tokwatch config check` says where and why",
            app.env.config_file().display(),
            if daemon_on_last_good_config {
                " (the daemon runs on the last config that loaded)"
            } else {
                ""
            }
        ));
    }
    Doctor {
        prices,
        config_ok,
        config_problems,
        daemon_on_last_good_config,
        exports,
        database: db.display().to_string(),
        database_ok,
        database_problem,
        config_dir: app.env.config_dir().display().to_string(),
        tools,
        parser_errors,
        problems,
    }
}

/// `1 file`, `2 files`.
pub fn plural(n: i64, one: &str, many: &str) -> String {
    crate::format::count(n, one, many)
}

/// The text form.
pub fn render(d: &Doctor) -> String {
    let mut o = String::new();
    o.push_str(&format!("{} {}\n", bold("database"), d.database));
    if let Some(p) = &d.database_problem {
        o.push_str(&format!("  problem: {p}\n"));
    }
    if !d.config_problems.is_empty() {
        o.push_str(&format!(
            "{} {}{}\n",
            bold("config"),
            if d.config_ok {
                "loads, with warnings"
            } else {
                "does not load"
            },
            if d.daemon_on_last_good_config {
                ": the daemon runs on the last config that loaded"
            } else {
                ""
            }
        ));
        for p in &d.config_problems {
            o.push_str(&format!("  {p}\n"));
        }
    }
    o.push_str(&format!("{} {}\n", bold("config"), d.config_dir));
    if let Some(p) = &d.prices {
        let when = p.last_applied.as_deref().unwrap_or("never recorded");
        match &p.advice {
            Some(a) => o.push_str(&format!(
                "{} stale (last applied {when}): {a}\n",
                bold("prices")
            )),
            None => o.push_str(&format!(
                "{} current (last applied {when})\n",
                bold("prices")
            )),
        }
    }
    o.push('\n');
    for e in &d.parser_errors {
        o.push_str(&format!("user parser problem: {e}\n"));
    }
    for t in &d.tools {
        let status = if t.found { "found" } else { "not found" };
        o.push_str(&format!(
            "{} {}\n",
            bold(&format!("{:<14}", t.tool)),
            status
        ));
        for r in &t.roots_found {
            o.push_str(&format!("    in {r}\n"));
        }
        if !t.found {
            for r in t.roots_missing.iter().take(LOOKED_IN_SHOWN) {
                o.push_str(&dim(&format!("    looked in {r}\n")));
            }
            if t.roots_missing.len() > LOOKED_IN_SHOWN {
                o.push_str(&dim(&format!(
                    "    and {} more places (`tokwatch doctor --json` lists them)\n",
                    t.roots_missing.len() - LOOKED_IN_SHOWN
                )));
            }
            continue;
        }
        o.push_str(&format!(
            "    {} on disk, {} read, {}, last event {}\n",
            plural(t.files_on_disk as i64, "file", "files"),
            int(t.files_read),
            plural(t.requests, "request", "requests"),
            t.last_event.as_deref().unwrap_or("none")
        ));
        if t.malformed_records > 0 {
            o.push_str(&format!(
                "    {} skipped, e.g. {}\n",
                plural(t.malformed_records, "malformed record", "malformed records"),
                t.malformed_example.as_deref().unwrap_or("?")
            ));
        }
        if t.unreadable_files > 0 {
            o.push_str(&format!(
                "    {} unreadable, e.g. {}\n",
                plural(
                    t.unreadable_files,
                    "file or directory",
                    "files or directories"
                ),
                t.unreadable_example.as_deref().unwrap_or("?")
            ));
        }
        if !t.unpriced_models.is_empty() {
            o.push_str(&format!(
                "    unpriced models: {} (tokens counted; set [prices.\"MODEL\"] in config.toml)\n",
                t.unpriced_models.join(", ")
            ));
        }
    }
    if let Some(x) = &d.exports {
        o.push('\n');
        o.push_str(&crate::export::render(x));
    }
    if d.tools.iter().all(|t| !t.found) {
        o.push_str("\nNo AI tool logs found on this machine.\n");
    } else if d.tools.iter().any(|t| t.found && t.files_read == 0) {
        o.push_str("\nSome logs were not read yet: run `tokwatch scan` (or start `tokwatch`).\n");
    }
    if !d.problems.is_empty() {
        o.push_str(&format!(
            "\n{}\n",
            bold(&format!(
                "{} you need to look at:",
                plural(d.problems.len() as i64, "problem", "problems")
            ))
        ));
        for p in &d.problems {
            o.push_str(&format!("  - {p}\n"));
        }
    }
    o
}

/// `tokwatch doctor`.
pub fn run(app: &App, json: bool) -> anyhow::Result<i32> {
    let reg = app.registry();
    let errors = reg.problems.iter().map(|e| e.to_string()).collect();
    let d = diagnose(app, &reg.sources, errors);
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", render(&d));
    }
    Ok(if d.problems.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_ERROR
    })
}
