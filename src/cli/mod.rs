//! Command-line interface.

pub mod budget;
pub mod dashboard;
pub mod config;
pub mod doctor;
pub mod export;
pub mod guard;
pub mod install;
pub mod output;
pub mod parsers;
pub mod session;
pub mod status;
pub mod statusline;
pub mod watch;
pub mod whatif;

use crate::app::App;
use crate::store::query::{Filter, GroupBy, Zone};
use crate::store::{self, Store, StoreError};
use anyhow::bail;
use clap::{CommandFactory, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Success.
pub const EXIT_OK: i32 = 0;
/// An error; the message says what to do.
pub const EXIT_ERROR: i32 = 1;
/// Bad usage.
pub const EXIT_USAGE: i32 = 2;
/// The database is missing, damaged or too new.
pub const EXIT_DATABASE: i32 = 3;

/// Bad usage found after parsing (an unknown tool, a range that ends before it starts, a time
/// or zone that cannot be read): exit 2, with the accepted values in the message.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// A [`UsageError`] as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The exit code for an error `run` returned (after [`store::problem::classify`]).
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if let Some(se) = e.downcast_ref::<StoreError>() {
        se.exit_code()
    } else if e.downcast_ref::<UsageError>().is_some() {
        EXIT_USAGE
    } else {
        EXIT_ERROR
    }
}

/// `--tz` as a zone; a name that is not one is bad usage.
pub fn zone_arg(tz: &str) -> anyhow::Result<Zone> {
    Zone::parse(tz).map_err(usage)
}

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 error (the message says what to do), 2 bad usage, 3 database missing,
damaged or too new.

Environment: TOKWATCH_DB (database path), TOKWATCH_CONFIG_DIR (config directory),
CLAUDE_CONFIG_DIR and CODEX_HOME (where those tools keep logs), NO_COLOR.";

#[derive(Parser, Debug)]
#[command(
    name = "tokwatch",
    version,
    about = "What your AI coding tools cost, live, per repository",
    long_about = "tokwatch reads the local logs of AI coding tools (Claude Code, Codex, ...), prices every \
request, ties it to the git repository, branch and session that caused it, and keeps it in a \
local SQLite database. Run with no command to start the live daemon.",
    after_help = AFTER_HELP
)]
/// The command line.
pub struct Cli {
    /// Database file to use (default: the platform data directory).
    #[arg(long, global = true, env = "TOKWATCH_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// The command (none: the live daemon).
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

/// What a report covers and how it is printed.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct ReportArgs {
    /// Only usage at or after this time: YYYY-MM-DD, today, yesterday, or a span back from now (7d, 24h, 2w).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only usage before the end of this day (YYYY-MM-DD, today, yesterday) or this span back from now.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this repository (name like owner/repo, remote, or root path).
    #[arg(long)]
    pub repo: Option<String>,
    /// Only this tool (claude-code, codex, ...).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only usage recorded on this machine (its id as `report machine` shows it, or the id
    /// without its 6-digit suffix: the hostname).
    #[arg(long, value_name = "ID")]
    pub machine: Option<String>,
    /// Time zone for days, weeks and months: an IANA name (Europe/Berlin), `utc` or `local`.
    #[arg(long, default_value = "local", value_name = "ZONE")]
    pub tz: String,
    /// Print JSON (one object with "totals" and "rows").
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV.
    #[arg(long)]
    pub csv: bool,
    /// Also price the same tokens at this model's rates (what it would have cost).
    #[arg(long = "as", value_name = "MODEL")]
    pub as_model: Option<String>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Start the live daemon (the default when no command is given).
    Run(RunArgs),
    /// Read every log once (only bytes not read before), then exit.
    Scan {
        /// No progress bar or summary.
        #[arg(long, short)]
        quiet: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Usage and cost grouped by day, week, month, session, repo, branch, model, tool, provider or
    /// machine.
    Report {
        /// What to group by.
        #[arg(value_enum, default_value = "day")]
        by: GroupBy,
        /// Range, filters and output format.
        #[command(flatten)]
        args: ReportArgs,
    },
    /// Cost per repository.
    Repos {
        /// Range, filters and output format.
        #[command(flatten)]
        args: ReportArgs,
    },
    /// One repository's days and sessions.
    History {
        /// Repository: name (owner/repo), normalized remote, or root path.
        // An id of its own: the flattened filters have a `--repo` too (one id for both made
        // `history X --repo Y` say "<REPO> cannot be used multiple times", and clap's debug
        // checks panic).
        #[arg(id = "repository", value_name = "REPO")]
        repo: String,
        /// Range, filters and output format.
        #[command(flatten)]
        args: ReportArgs,
    },
    /// One session request by request: time, model, context size and what it was made of
    /// (estimated), output, cost and cumulative cost; where the context grew most and why, and
    /// what each kind of content cost over the session.
    Session {
        /// Session id (as `report session` lists it; a unique prefix is enough).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show which price entry a model name resolves to, and its rates.
    Prices {
        /// Model name as a tool logs it (e.g. claude-opus-4-6, gpt-5.3-codex).
        model: String,
        /// Provider hint (anthropic, openai, google, ...).
        #[arg(long)]
        provider: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Keep only the identity and numbers of requests older than N days (`[storage]
    /// keep_events_days`; the daemon does it at start and once a day). Every total stays exact
    /// and no log read again counts twice; the per-request detail of those days is gone.
    Prune {
        /// Prune requests older than this many days (default: `[storage] keep_events_days`).
        #[arg(long)]
        days: Option<u32>,
        /// Only say how many requests would be pruned.
        #[arg(long)]
        dry_run: bool,
        /// Then give the freed space back to the disk (SQLite VACUUM; not while the daemon
        /// runs).
        #[arg(long)]
        vacuum: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Price the stored usage again with the current prices (config.toml overrides, bundled
    /// data), in both directions and in one transaction. Runs by itself whenever the prices
    /// changed and `scan` or the daemon starts; this does it now.
    Reprice {
        /// Print what changed as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Follow usage live: one line per request as it happens (uses the running daemon, or
    /// follows the logs itself when none runs).
    Watch {
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One short line for Claude Code's statusline, tmux or a shell prompt. Reads Claude Code's
    /// statusline JSON from stdin when there is one (session and repository cost, plan limits),
    /// else shows today's total; marks budgets that are near or over. Reads the database only.
    Statusline,
    /// Check each known tool: logs found or not, where, files and requests, last event, parse
    /// errors with an example, unreadable files, unpriced models.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import usage that no local log holds: a file `tokwatch export` wrote (another
    /// machine's history; importing it again, or a file that overlaps what is stored, adds
    /// nothing twice), or `cursor-csv FILE`.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Import {
        /// A file `tokwatch export` wrote (JSON lines or CSV).
        #[arg(required = true, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Another kind of file.
        #[command(subcommand)]
        what: Option<ImportCmd>,
    },
    /// Every stored request (metadata only: no prompt or response text) as JSON lines, or CSV,
    /// with the machine that recorded it and its stored identity; `tokwatch import` merges such
    /// a file into another database.
    Export(export::ExportArgs),
    /// Parser plug-ins: list them, or try a spec on a file.
    Parsers {
        /// What to do.
        #[command(subcommand)]
        cmd: ParsersCmd,
    },
    /// Budgets per day, week or month, for everything or one repository, tool, model or
    /// provider: set, list (with state and forecast), remove.
    Budget {
        /// What to do.
        #[command(subcommand)]
        cmd: budget::BudgetCmd,
    },
    /// Every alert that fired (budget thresholds, forecasts, burn rate, loops, model changes,
    /// plan limits), newest first.
    Alerts {
        /// Only alerts at or after this time (YYYY-MM-DD, today, 7d, ...).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Opt-in hard stop for Claude Code: a hook that blocks prompts and tool calls while a hard
    /// cap is used up.
    Guard {
        /// What to do.
        #[command(subcommand)]
        cmd: guard::GuardCmd,
    },
    /// Open the local dashboard in the browser: spend over time by repository, session and
    /// model, live (starts the daemon when none runs; prints the address when no browser can be
    /// opened; docs/dashboard.md).
    Dashboard {
        /// Print the address (with this install's token) instead of opening a browser.
        #[arg(long)]
        no_open: bool,
    },
    /// Is all well: the daemon (pid, version, since when), what it follows and polls, the last
    /// event and how far behind the logs it is, the database, alerts, the config, the log file.
    /// Exit 0 when all is well, 1 when something needs you.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The config file: path, show (every key in effect), check, edit.
    Config {
        /// What to do.
        #[command(subcommand)]
        cmd: config::ConfigCmd,
    },
    /// Start the daemon at every login and now (a systemd user unit, else an XDG autostart
    /// entry; a LaunchAgent on macOS; the Run key on Windows), and install the man page and
    /// shell completions. Says each file it writes.
    Install(install::InstallArgs),
    /// Undo `install` and stop the daemon; the history is kept (`--purge` deletes it too).
    Uninstall(install::UninstallArgs),
    /// Print the man page (roff), generated from this command line.
    Man,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell (bash, zsh, fish, elvish, powershell).
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// What `import` reads.
#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// Cursor's usage export (dashboard > Usage > Export CSV). Importing the same file again
    /// adds nothing.
    CursorCsv {
        /// The CSV file.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `parsers` does.
#[derive(Subcommand, Debug)]
pub enum ParsersCmd {
    /// Every parser (built-in specs, Rust modules, your specs in `<config dir>/parsers/`), where it
    /// looks and whether that exists.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the events SPEC extracts from FILE (for writing your own spec). SPEC is a .toml
    /// file or a built-in tool name.
    Test {
        /// A spec file (.toml), or the name of a tool `parsers list` shows.
        spec: PathBuf,
        /// The log file to read.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of the daemon.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct RunArgs {
    /// Never show the tray indicator.
    #[arg(long)]
    pub no_tray: bool,
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    EXIT_OK
                }
                _ => EXIT_USAGE,
            };
        }
    };
    let db = App::from_process(cli.db.clone()).db;
    let writes = matches!(cli.cmd, None | Some(Cmd::Run(_)) | Some(Cmd::Scan { .. }));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Damage and permission problems are told as what they are, wherever they surfaced.
            let e = store::problem::classify(e, &db, writes);
            eprintln!("tokwatch: {}", store::problem::describe(&e));
            exit_code(&e)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let app = App::from_process(cli.db.clone());
    let db = app.db.clone();
    match cli.cmd {
        None => run_daemon(&app, &RunArgs::default()),
        Some(Cmd::Run(ref a)) => run_daemon(&app, a),
        Some(Cmd::Scan { quiet, json }) => scan(&app, quiet, json),
        Some(Cmd::Report { by, ref args }) => report(&app, by, args, None),
        Some(Cmd::Repos { ref args }) => report(&app, GroupBy::Repo, args, None),
        Some(Cmd::History { ref repo, ref args }) => {
            make_current(&app);
            history(&app, repo, args)
        }
        Some(Cmd::Session { ref id, json }) => {
            make_current(&app);
            session::run(&app, id, json)
        }
        Some(Cmd::Prices {
            ref model,
            ref provider,
            json,
        }) => prices(&app, model, provider.as_deref(), json),
        Some(Cmd::Reprice { json }) => reprice(&app, json),
        Some(Cmd::Prune {
            days,
            dry_run,
            vacuum,
            json,
        }) => prune(&app, days, dry_run, vacuum, json),
        Some(Cmd::Watch { json }) => watch::watch(&app, json),
        Some(Cmd::Statusline) => statusline::statusline(&app),
        Some(Cmd::Budget { ref cmd }) => budget::run(&app, cmd),
        Some(Cmd::Alerts { ref since, json }) => budget::alerts(&app, since.as_deref(), json),
        Some(Cmd::Guard { ref cmd }) => guard::run(&app, cmd),
        Some(Cmd::Doctor { json }) => doctor::run(&app, json),
        Some(Cmd::Parsers { ref cmd }) => parsers(&app, cmd),
        Some(Cmd::Import {
            what: Some(ImportCmd::CursorCsv { ref file, json }),
            ..
        }) => import_cursor_csv(&app, file, json),
        Some(Cmd::Import {
            what: None,
            ref file,
            json,
        }) => match file {
            Some(f) => export::import(&app, f, json),
            None => bail!("give the file to import: `tokwatch import FILE`"),
        },
        Some(Cmd::Export(ref a)) => {
            check_tool(
                &app,
                Store::open_reader(&db).ok().as_ref(),
                a.tool.as_deref(),
            )?;
            export::export(&db, a)
        }
        Some(Cmd::Dashboard { no_open }) => dashboard::run(&app, no_open),
        Some(Cmd::Status { json }) => status::run(&app, json),
        Some(Cmd::Config { ref cmd }) => config::run(&app, cmd),
        Some(Cmd::Install(ref a)) => install::install(&app, a),
        Some(Cmd::Uninstall(ref a)) => install::uninstall(&app, a),
        Some(Cmd::Man) => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(EXIT_OK)
        }
        Some(Cmd::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tokwatch",
                &mut std::io::stdout(),
            );
            Ok(EXIT_OK)
        }
    }
}

fn run_daemon(app: &App, a: &RunArgs) -> anyhow::Result<i32> {
    app.run_daemon(a.no_tray)?;
    Ok(EXIT_OK)
}

fn prune(app: &App, days: Option<u32>, dry: bool, vacuum: bool, json: bool) -> anyhow::Result<i32> {
    let config = app.config()?;
    let Some(days) = days.or(config.storage.keep_days()).filter(|d| *d > 0) else {
        return Err(usage(
            "say how old a request must be to be pruned: `tokwatch prune --days 90`, or set `[storage] keep_events_days` in the config (`tokwatch config edit`)",
        ));
    };
    let db = app.db.as_path();
    if !db.exists() {
        return Err(StoreError::Missing(db.to_path_buf()).into());
    }
    let daemon = crate::daemon::lock::InstanceLock::is_held(db);
    if vacuum && daemon && !dry {
        eprintln!(
            "tokwatch: the daemon is running for {}: `--vacuum` needs the database to itself; prune without it (freed space is reused by new requests), or stop the daemon first",
            db.display()
        );
        return Ok(EXIT_ERROR);
    }
    // Short transactions: this runs beside a daemon writing the same file.
    let store = Store::open_writer(db)?;
    let st = app.prune(&store, &config, days, dry)?;
    let before = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    if vacuum && !dry && st.pruned > 0 {
        store.vacuum()?;
    }
    let after = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    if json {
        let mut v = serde_json::to_value(&st)?;
        v["dry_run"] = dry.into();
        v["file_bytes"] = after.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(EXIT_OK);
    }
    let when = Zone::Local.datetime(st.before_ms);
    let n = |x: u64| output::int(x as i64);
    if dry {
        println!(
            "{} stored in full from before {when}: {} would be pruned{}.",
            crate::format::count(st.older as i64, "request", "requests"),
            n(st.pruned),
            if st.held_for_exporters > 0 {
                format!(
                    ", {} kept until the sync file or OTLP exporter has sent them",
                    n(st.held_for_exporters)
                )
            } else {
                String::new()
            }
        );
    } else {
        println!(
            "Pruned {} from before {when}: totals unchanged, their per-request detail is gone.{}",
            crate::format::count(st.pruned as i64, "request", "requests"),
            if st.held_for_exporters > 0 {
                format!(
                    " {} kept until the sync file or OTLP exporter has sent them.",
                    n(st.held_for_exporters)
                )
            } else {
                String::new()
            }
        );
        if vacuum && st.pruned > 0 {
            println!(
                "The database file went from {} to {} bytes.",
                output::int(before as i64),
                output::int(after as i64)
            );
        } else if st.pruned > 0 {
            println!("The space freed inside the database is reused by new requests (`--vacuum` gives it back to the disk).");
        }
    }
    Ok(EXIT_OK)
}

/// The database to this command alone (the instance lock, as the daemon holds it): `None` when
/// the daemon runs for it, the one writer then; the caller says what that means for it.
pub(super) fn writer_lock(
    db: &std::path::Path,
) -> anyhow::Result<Option<crate::daemon::lock::InstanceLock>> {
    use crate::daemon::lock::InstanceLock;
    match InstanceLock::acquire(db) {
        Ok(l) => Ok(Some(l)),
        Err(_) if InstanceLock::is_held(db) => Ok(None),
        Err(e) => Err(e),
    }
}

fn reprice(app: &App, json: bool) -> anyhow::Result<i32> {
    let db = app.db.as_path();
    // The daemon prices what it stores with the prices it started with: re-pricing beside it
    // would leave its new requests at the old prices.
    let Some(_lock) = writer_lock(db)? else {
        eprintln!(
            "tokwatch: the daemon is running for {}: restart it (stop it, then start `tokwatch`) and it re-prices the stored usage with the current prices when it starts",
            db.display()
        );
        return Ok(EXIT_ERROR);
    };
    let mut ing = app.ingestor()?;
    // `ingestor()` has re-priced already when the prices changed; run once more so the command
    // always does what it says (it changes nothing the second time).
    let st = ing.reprice()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
    } else {
        let req = |n: u64| if n == 1 { "request" } else { "requests" };
        println!(
            "Prices applied to {} stored {}: {} changed ({} newly priced, {} now unpriced).",
            output::int(st.requests as i64),
            req(st.requests),
            output::int(st.changed as i64),
            output::int(st.newly_priced as i64),
            output::int(st.now_unpriced as i64)
        );
        if st.pruned_kept > 0 {
            println!(
                "{} pruned {} ([storage] keep_events_days) keep the prices they were stored with: their tokens are no longer stored one by one.",
                output::int(st.pruned_kept as i64),
                req(st.pruned_kept)
            );
        }
    }
    Ok(EXIT_OK)
}

fn scan(app: &App, quiet: bool, json: bool) -> anyhow::Result<i32> {
    let db = app.db.as_path();
    // The daemon is the one writer: while it runs, it has already read everything.
    let Some(_lock) = writer_lock(db)? else {
        if !quiet {
            println!(
                "The tokwatch daemon is running for {} and keeps it current: nothing to scan. `tokwatch report` shows the figures.",
                db.display()
            );
        }
        return Ok(EXIT_OK);
    };
    let mut ing = app.ingestor()?;
    let (pending, files) = ing.pending()?;
    let show = !quiet && !json && std::io::stderr().is_terminal();
    let bar = if show {
        let b = indicatif::ProgressBar::new(pending);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading logs {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap(),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let t0 = std::time::Instant::now();
    let no_files = files.is_empty();
    let stats = ing.scan_files(files, &mut |n| bar.inc(n))?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else if !quiet {
        if no_files {
            println!("No AI tool logs found on this machine. Looked in:");
            // One line per tool, each place once.
            let tools = crate::registry::roots_by_tool(&ing.registry.sources);
            let short = |p: &std::path::Path| app.env.short(p);
            for (tool, roots) in &tools {
                let shown: Vec<String> = roots.iter().take(2).map(|r| short(r)).collect();
                let more = match roots.len().saturating_sub(2) {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                if shown.is_empty() {
                    // Crush: its project databases are only known from its own project list.
                    println!(
                        "  {:<12} (no project of it registered on this machine)",
                        tool
                    );
                } else {
                    println!("  {:<12} {}{more}", tool, shown.join(", "));
                }
            }
            println!("`tokwatch doctor --json` lists every place. Set CLAUDE_CONFIG_DIR or CODEX_HOME if your tools keep logs elsewhere.");
        } else {
            println!(
                "Read {} of new log data from {} of {} in {:.2}s: {}, {} updated, {} skipped{}.",
                indicatif::HumanBytes(stats.bytes_read),
                stats.files_read,
                crate::format::count(stats.files_seen as i64, "file", "files"),
                secs,
                crate::format::count(stats.events_new as i64, "new request", "new requests"),
                output::int(stats.events_updated as i64),
                crate::format::count(stats.malformed as i64, "malformed line", "malformed lines"),
                if stats.unreadable > 0 {
                    format!(
                        ", {} unreadable (see `tokwatch doctor`)",
                        crate::format::count(
                            stats.unreadable as i64,
                            "file or directory",
                            "files or directories"
                        )
                    )
                } else {
                    String::new()
                }
            );
            println!("Database: {}", db.display());
        }
    }
    Ok(EXIT_OK)
}

/// `--since`/`--until` values to instants.
pub fn parse_when(s: &str, zone: Zone, end: bool) -> anyhow::Result<i64> {
    let today = zone.today();
    let day = |d: chrono::NaiveDate| {
        if end {
            zone.start_of(d + chrono::Days::new(1))
        } else {
            zone.start_of(d)
        }
    };
    match s {
        "today" => return Ok(day(today)),
        "yesterday" => return Ok(day(today - chrono::Days::new(1))),
        _ => {}
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(day(d));
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    if let Ok(n) = num.parse::<i64>() {
        let ms = match unit {
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => 0,
        };
        if ms > 0 {
            return Ok(store::now_ms() - n * ms);
        }
    }
    Err(usage(format!(
        "cannot read the time {s:?}: use YYYY-MM-DD, today, yesterday, or a span such as 7d, 24h, 2w"
    )))
}

/// The filter a report's arguments describe. A range that ends before it starts is bad usage.
pub fn filter_from(a: &ReportArgs, zone: Zone) -> anyhow::Result<Filter> {
    let f = Filter {
        since_ms: a
            .since
            .as_deref()
            .map(|s| parse_when(s, zone, false))
            .transpose()?,
        until_ms: a
            .until
            .as_deref()
            .map(|s| parse_when(s, zone, true))
            .transpose()?,
        repo: a.repo.clone(),
        tool: a.tool.clone(),
        session: None,
        machine: a.machine.clone(),
    };
    if let (Some(s), Some(u)) = (f.since_ms, f.until_ms) {
        if s >= u {
            return Err(usage(format!(
                "--since {} is not before --until {}: nothing can be in that range (--until {0} --since {1} is the other way round)",
                a.since.as_deref().unwrap_or_default(),
                a.until.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(f)
}

/// Refuses `--tool NAME` for a tool tokwatch does not know (a tool whose usage is stored, e.g.
/// imported from another machine, counts as known), listing the ones it knows.
pub fn check_tool(app: &App, store: Option<&Store>, tool: Option<&str>) -> anyhow::Result<()> {
    let Some(t) = tool else { return Ok(()) };
    let reg = app.registry();
    let mut known: Vec<String> = reg.tools().iter().map(|s| s.to_string()).collect();
    if let Some(st) = store {
        for x in st.stored_tools().unwrap_or_default() {
            if !known.contains(&x) {
                known.push(x);
            }
        }
    }
    if known.iter().any(|k| k == t) {
        return Ok(());
    }
    Err(usage(format!(
        "unknown tool {t:?} for --tool: use one of {}",
        known.join(", ")
    )))
}

fn key_title(g: GroupBy) -> &'static str {
    match g {
        GroupBy::Day => "day",
        GroupBy::Week => "week",
        GroupBy::Month => "month",
        GroupBy::Session => "session",
        GroupBy::Repo => "repository",
        GroupBy::Branch => "repository@branch",
        GroupBy::Model => "model",
        GroupBy::Tool => "tool",
        GroupBy::Provider => "provider",
        GroupBy::Machine => "machine",
    }
}

/// Before figures are shown: the daemon started when none runs, and a note on stderr when
/// they may be behind the logs.
fn make_current(app: &App) -> Option<Store> {
    let (fresh, store) = statusline::freshness_keep(app, statusline::catch_up_wait(app, 10_000));
    match fresh {
        statusline::Freshness::Current => {}
        statusline::Freshness::CatchingUp => eprintln!(
            "tokwatch: the daemon was started and is still reading the logs: these figures may be behind (run the command again in a moment)"
        ),
        statusline::Freshness::Behind => eprintln!(
            "tokwatch: no daemon is running and the logs hold usage not read yet: these figures are behind (`tokwatch scan` reads it; `tokwatch install` keeps a daemon running)"
        ),
    }
    store
}

fn report(app: &App, by: GroupBy, args: &ReportArgs, title: Option<&str>) -> anyhow::Result<i32> {
    let zone = zone_arg(&args.tz)?;
    let f = filter_from(args, zone)?;
    let kept = make_current(app);
    // Bad usage is said before a missing database.
    let store = match kept {
        Some(s) => Ok(s),
        None => Store::open_reader(&app.db),
    };
    check_tool(app, store.as_ref().ok(), args.tool.as_deref())?;
    let store = store?;
    let mut r = store.report(by, &f, zone)?;
    // Sessions: the exact first and last request, models and branch (as the dashboard shows),
    // and the average context split of each.
    store.session_details(&f, &mut r)?;
    store.session_ctx_averages(&f, &mut r)?;
    let as_report = match &args.as_model {
        Some(m) => {
            let config = app.config()?;
            let pricer = app.pricer(&config);
            Some(whatif::as_report(&store, &pricer, by, &f, zone, &r, m)?)
        }
        None => None,
    };
    // A report that reaches up to now says where today, this week and this month are heading.
    let now = store::now_ms();
    let forecast = if f.until_ms.is_none_or(|u| u > now) && f.session.is_none() {
        let week_start = app
            .config()
            .ok()
            .and_then(|c| crate::status::Settings::from_config(&c).ok())
            .map(|s| s.week_start)
            .unwrap_or(chrono::Weekday::Mon);
        Some(whatif::report_forecast(&store, &f, zone, week_start, now)?)
    } else {
        None
    };
    if args.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(a) = &as_report {
            v["as"] = serde_json::to_value(a)?;
        }
        if let Some(fc) = &forecast {
            v["forecast"] = serde_json::to_value(fc)?;
        }
        if by == GroupBy::Session {
            let changes: Vec<serde_json::Value> = store
                .fallback_sessions(f.since_ms.unwrap_or(i64::MIN))?
                .into_iter()
                .filter(|(s, _)| r.rows.iter().any(|row| row.key == *s))
                .map(|(s, m)| serde_json::json!({"session": s, "message": m}))
                .collect();
            v["model_changes"] = serde_json::Value::Array(changes);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if args.csv {
        match &as_report {
            Some(a) => {
                println!("key,cost_usd,has_unpriced,as_model,as_cost_usd");
                for x in a.rows.iter().chain(std::iter::once(&a.totals)) {
                    println!(
                        "{},{},{},{},{}",
                        output::csv_field(&x.key),
                        x.cost_usd,
                        x.has_unpriced,
                        output::csv_field(&a.model),
                        x.as_cost_usd
                    );
                }
            }
            None => print!("{}", output::report_csv(&r)),
        }
    } else if r.rows.is_empty() {
        println!("{}", nothing_found(app, &store, &f)?);
    } else {
        if let Some(t) = title {
            println!("{}", output::bold(t));
        }
        print!("{}", output::report_text(&r, key_title(by)));
        if let Some(a) = &as_report {
            println!();
            print!("{}", whatif::as_text(a, key_title(by)));
        }
        if let Some(fc) = forecast.as_ref().filter(|f| f.month.high_usd > 0.0) {
            print!("{}", whatif::forecast_text(fc));
        }
        if by == GroupBy::Session {
            let since = f.since_ms.unwrap_or(i64::MIN);
            for (s, m) in store.fallback_sessions(since)? {
                if r.rows.iter().any(|row| row.key == s) {
                    println!("Model change in session {s}: {m}");
                }
            }
        }
    }
    Ok(EXIT_OK)
}

fn nothing_found(app: &App, store: &Store, f: &Filter) -> anyhow::Result<String> {
    let (any, files) = store.counts()?;
    // Logs on disk that are not in the database: they were not read yet, or could not be
    // stored (a full disk, the daemon's log says so). Never "no logs found" then.
    let on_disk = || {
        app.registry()
            .sources
            .iter()
            .map(|s| s.files().len())
            .sum::<usize>()
    };
    Ok(if any == 0 && files == 0 && on_disk() > 0 {
        format!(
            "No usage recorded yet, but {} of AI tools are on this machine and none is in the database: run `tokwatch scan`. If the tokwatch daemon runs, it cannot store them: its log says why (a full disk, permissions); `tokwatch doctor` checks.",
            crate::format::count(on_disk() as i64, "log file", "log files")
        )
    } else if any == 0 && files == 0 {
        "No usage recorded yet: no AI tool logs have been found on this machine (`tokwatch doctor` shows where tokwatch looked; `tokwatch scan` reads new ones).".into()
    } else if any == 0 {
        "No usage recorded yet: the logs read so far hold no token usage. Run `tokwatch scan` again after using a tool (or start `tokwatch`).".into()
    } else if let Some(repo) = &f.repo {
        format!("No usage found for repository {repo:?} in that range. `tokwatch repos` lists the names it knows.")
    } else {
        "No usage in that range. Try a wider --since/--until, or drop --tool/--repo.".into()
    })
}

fn history(app: &App, repo: &str, args: &ReportArgs) -> anyhow::Result<i32> {
    if let Some(other) = args.repo.as_deref().filter(|r| *r != repo) {
        return Err(usage(format!(
            "`history` shows the repository given as its argument ({repo}); --repo {other} names another: leave --repo out, or run `tokwatch history {other}`"
        )));
    }
    let zone = zone_arg(&args.tz)?;
    let mut a = args.clone();
    a.repo = Some(repo.to_string());
    let f = filter_from(&a, zone)?;
    let store = Store::open_reader(&app.db)?;
    check_tool(app, Some(&store), args.tool.as_deref())?;
    let days = store.report(GroupBy::Day, &f, zone)?;
    let mut sessions = store.report(GroupBy::Session, &f, zone)?;
    store.session_details(&f, &mut sessions)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "repo": repo, "days": days, "sessions": sessions
            }))?
        );
        return Ok(EXIT_OK);
    }
    if args.csv {
        print!("{}", output::report_csv(&days));
        return Ok(EXIT_OK);
    }
    if days.rows.is_empty() {
        println!("{}", nothing_found(app, &store, &f)?);
        return Ok(EXIT_OK);
    }
    println!("{}", output::bold(&format!("{repo}: days")));
    print!("{}", output::report_text(&days, "day"));
    println!();
    println!("{}", output::bold(&format!("{repo}: sessions")));
    print!("{}", output::report_text(&sessions, "session"));
    Ok(EXIT_OK)
}

fn import_cursor_csv(app: &App, file: &std::path::Path, json: bool) -> anyhow::Result<i32> {
    if !file.exists() {
        bail!(
            "cannot import {}: the file does not exist (export it from Cursor's dashboard > Usage > Export CSV)",
            file.display()
        );
    }
    let (events, report) = crate::parser::cursor::parse_cursor_csv(file).map_err(|e| {
        e.context(format!(
            "cannot import {}: expected Cursor's usage CSV export (Date, Model, Input, Output, ... columns)",
            file.display()
        ))
    })?;
    let n = events.len();
    let Some(_lock) = export::import_lock(app)? else {
        return Ok(EXIT_ERROR);
    };
    let mut ing = app.ingestor()?;
    let stats = ing.import("cursor", file, events, report)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        println!(
            "Imported {} of {} rows from {} ({} already there{}).",
            stats.events_new + stats.events_updated,
            n,
            file.display(),
            n as u64 - stats.events_new - stats.events_updated,
            if stats.malformed > 0 {
                format!(", {} malformed rows skipped", stats.malformed)
            } else {
                String::new()
            }
        );
    }
    Ok(EXIT_OK)
}

fn parsers(app: &App, cmd: &ParsersCmd) -> anyhow::Result<i32> {
    let reg = app.registry();
    match cmd {
        ParsersCmd::List { json } => {
            let l = reg.list();
            if *json {
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                print!("{}", parsers::render_parsers_text(&l));
            }
        }
        ParsersCmd::Test { spec, file, json } => {
            let o = crate::registry::list::test_parser(&reg, spec, file)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&o)?);
            } else {
                print!("{}", parsers::render_spec_test_text(&o));
            }
        }
    }
    Ok(EXIT_OK)
}

fn prices(app: &App, model: &str, provider: Option<&str>, json: bool) -> anyhow::Result<i32> {
    let config = app.config()?;
    let p = app.pricer(&config);
    for w in p.warnings() {
        eprintln!("tokwatch: {w}");
    }
    match p.describe(model, provider) {
        Some(info) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", crate::pricing::render_price_info(&info));
            }
            Ok(EXIT_OK)
        }
        None => bail!(
            "no price is known for {model:?}: its usage is kept and shown as unpriced. Set one with\n  [prices.\"{model}\"]\n  input = 3.0    # USD per million tokens\n  output = 15.0\nin {}",
            app.env.config_file().display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command's arguments have ids of their own. clap checks that only in debug builds
    /// (and panics on the first use of the command); CI's tests are release builds, where two
    /// arguments with one id (`history`'s REPO and its filters' `--repo` did) only give wrong
    /// answers. So this walks the commands itself, and runs clap's own checks too where they
    /// are compiled in.
    #[test]
    fn every_argument_of_every_command_has_an_id_of_its_own() {
        fn walk(cmd: &clap::Command, path: &str, checked: &mut usize) {
            let mut seen = std::collections::HashSet::new();
            for a in cmd.get_arguments() {
                assert!(
                    seen.insert(a.get_id().as_str().to_string()),
                    "`{path}`: two arguments with the id {:?}",
                    a.get_id().as_str()
                );
            }
            *checked += 1;
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), checked);
            }
        }
        let mut checked = 0;
        walk(&Cli::command(), "tokwatch", &mut checked);
        assert!(checked > 20, "{checked} commands walked");
        Cli::command().debug_assert();
    }
}
