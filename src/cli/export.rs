//! `tokwatch export` and `tokwatch import FILE`: every stored request as JSON lines or CSV, and
//! such a file merged back (idempotently: by each request's stored identity).

use super::{filter_from, output, ReportArgs, EXIT_ERROR, EXIT_OK};
use crate::app::App;
use crate::daemon::lock::InstanceLock;
use crate::export_format::{Record, CSV_COLUMNS};
use crate::store::{Store, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `export` writes.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct ExportArgs {
    /// Only requests at or after this time: YYYY-MM-DD, today, yesterday, or a span back from now (7d, 24h, 2w).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only requests before the end of this day (YYYY-MM-DD, today, yesterday) or this span back from now.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this repository (name like owner/repo, remote, or root path).
    #[arg(long)]
    pub repo: Option<String>,
    /// Only this tool (claude-code, codex, ...).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only requests recorded on this machine (its id, or the id without its 6-digit suffix).
    #[arg(long, value_name = "ID")]
    pub machine: Option<String>,
    /// Time zone of the days in --since/--until: an IANA name, `utc` or `local`.
    #[arg(long, default_value = "local", value_name = "ZONE")]
    pub tz: String,
    /// CSV (one header line, then one row per request) instead of JSON lines.
    #[arg(long)]
    pub csv: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `tokwatch export`.
pub fn export(db: &Path, a: &ExportArgs) -> anyhow::Result<i32> {
    let zone = super::zone_arg(&a.tz)?;
    let f = filter_from(
        &ReportArgs {
            since: a.since.clone(),
            until: a.until.clone(),
            repo: a.repo.clone(),
            tool: a.tool.clone(),
            machine: a.machine.clone(),
            ..ReportArgs::default()
        },
        zone,
    )?;
    let store = Store::open_reader(db)?;
    if store.local_machine()?.is_none() {
        anyhow::bail!(
            "this database has no machine id yet: run `tokwatch scan` once (or start `tokwatch`), then export"
        );
    }
    let out: Box<dyn Write> = match &a.output {
        Some(p) => {
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            Box::new(
                o.open(p)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
            )
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let n = if a.csv {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut out);
        w.write_record(CSV_COLUMNS)?;
        let n = store.export_records(&f, None, None, &mut |r: Record| {
            r.write_csv(&mut w)?;
            Ok(())
        })?;
        w.flush()?;
        n
    } else {
        store.export_records(&f, None, None, &mut |r: Record| {
            out.write_all(r.to_json().as_bytes())?;
            out.write_all(b"\n")?;
            Ok(())
        })?
    };
    out.flush()?;
    // Pruned requests are in every total but no longer one by one: say so, not a short file
    // without a word.
    let pruned = store.pruned_in(f.since_ms, f.until_ms)?;
    if pruned > 0 {
        eprintln!(
            "tokwatch: {} of this range (before {}) were pruned ([storage] keep_events_days) and are not in the export; reports still count them",
            crate::format::count(pruned, "request", "requests"),
            crate::store::query::Zone::Local
                .datetime(store.pruned_before()?.unwrap_or_default())
        );
    }
    if let Some(p) = &a.output {
        eprintln!(
            "Exported {} to {}.",
            crate::format::count(n as i64, "request", "requests"),
            p.display()
        );
    }
    Ok(EXIT_OK)
}

/// `tokwatch import FILE`.
pub fn import(app: &App, file: &Path, json: bool) -> anyhow::Result<i32> {
    if !file.exists() {
        anyhow::bail!(
            "cannot import {}: the file does not exist (give a file `tokwatch export` wrote)",
            file.display()
        );
    }
    if !file.is_file() {
        anyhow::bail!(
            "cannot import {}: it is a directory, not a file (give a file `tokwatch export` wrote)",
            file.display()
        );
    }
    let Some(_lock) = import_lock(app)? else {
        return Ok(EXIT_ERROR);
    };
    // Import into an existing database only when it is there; a new one is created like `scan`.
    let mut ing = app
        .ingestor()
        .map_err(|e| match e.downcast::<StoreError>() {
            Ok(se) => se.into(),
            Err(e) => e,
        })?;
    let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    ing.registry
        .sources
        .push(crate::registry::sync::file_source(file.clone()));
    let src = ing.registry.sources.len() - 1;
    let stats = ing.ingest_path(src, &file, &mut |_| {})?;
    let cp_lines = stats.lines;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else if stats.files_read == 0 && stats.bytes_read == 0 {
        println!(
            "Nothing new in {}: it was imported before and has not changed since.",
            file.display()
        );
    } else {
        let changed = stats.events_new + stats.events_updated;
        println!(
            "Imported {} from {}: {} new requests, {} updated, {} already there{}.",
            plural(cp_lines, "line"),
            file.display(),
            output::int(stats.events_new as i64),
            output::int(stats.events_updated as i64),
            output::int(
                cp_lines
                    .saturating_sub(changed)
                    .saturating_sub(stats.malformed) as i64
            ),
            if stats.malformed > 0 {
                format!(
                    ", {} malformed lines skipped (`tokwatch doctor` shows an example)",
                    stats.malformed
                )
            } else {
                String::new()
            }
        );
    }
    if stats.lines > 0 && stats.malformed == stats.lines {
        eprintln!(
            "tokwatch: no line of {} is a tokwatch export record: give a file `tokwatch export` wrote (JSON lines or CSV); `tokwatch import cursor-csv` reads Cursor's usage CSV",
            file.display()
        );
        return Ok(EXIT_ERROR);
    }
    Ok(EXIT_OK)
}

/// The database to this import alone: the daemon is its only writer, and while it reads a first
/// history its checks for a request already stored are not all in place yet (store::bulk), so
/// rows written beside it could be counted twice. `None` (after saying so) when the daemon
/// runs.
pub(super) fn import_lock(app: &App) -> anyhow::Result<Option<InstanceLock>> {
    let lock = super::writer_lock(&app.db)?;
    if lock.is_none() {
        eprintln!(
            "tokwatch: the daemon is running for {} and is the only process that writes to it: stop the daemon, run this import again, then start `tokwatch`. Nothing was imported.",
            app.db.display()
        );
    }
    Ok(lock)
}

fn plural(n: u64, what: &str) -> String {
    format!(
        "{} {what}{}",
        output::int(n as i64),
        if n == 1 { "" } else { "s" }
    )
}
