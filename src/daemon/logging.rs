//! The daemon's log: through `tracing`, to a file in the platform's log directory that rotates
//! daily (seven kept), and to stderr (the terminal in the foreground, the journal under
//! systemd). `TOKWATCH_LOG` sets the levels (`debug`, `tokwatch=trace`, ...; default `info`).

use std::path::{Path, PathBuf};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log files kept (one per day).
pub const KEEP_FILES: usize = 7;

/// The name of the file written on UTC day `date` (`tokwatch.2026-03-01.log`).
pub fn file_name(date: chrono::NaiveDate) -> String {
    format!("tokwatch.{}.log", date.format("%Y-%m-%d"))
}

/// The newest log file in `dir`, if any.
pub fn newest_file(dir: &Path) -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tokwatch.") && n.ends_with(".log"))
        })
        .collect();
    v.sort();
    v.pop()
}

struct LocalTime;
impl FormatTime for LocalTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", chrono::Local::now().format("%Y-%m-%d %H:%M:%S"))
    }
}

/// Installs the daemon's logging (once per process). `filter` is `TOKWATCH_LOG`'s value.
/// Returns the directory of the log files, or why there is no file (stderr still works).
pub fn init(dir: &Path, filter: Option<&str>) -> Result<PathBuf, String> {
    let make_filter =
        || EnvFilter::try_new(filter.unwrap_or("info")).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_timer(LocalTime)
        .with_target(false)
        .with_ansi(ansi)
        .with_filter(make_filter());
    let file = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("tokwatch")
                .filename_suffix("log")
                .max_log_files(KEEP_FILES)
                .build(dir)
                .map_err(|e| e.to_string())
        });
    let (file_layer, result) = match file {
        Ok(appender) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(appender)
                    .with_timer(LocalTime)
                    .with_target(false)
                    .with_ansi(false)
                    .with_filter(make_filter()),
            ),
            Ok(dir.to_path_buf()),
        ),
        Err(e) => (
            None,
            Err(format!("cannot write logs in {}: {e}", dir.display())),
        ),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    result
}
