//! `tokwatch dashboard`: opens the daemon's dashboard in the browser, starting the daemon when
//! none runs for the database, and prints the address when no browser can be opened.

use crate::app::App;
use crate::daemon::lock::InstanceLock;
use crate::dashboard;
use anyhow::bail;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether the dashboard answers at `ip:port` (its favicon, with a Host it accepts).
fn answers(ip: std::net::IpAddr, port: u16) -> bool {
    let addr = std::net::SocketAddr::from((ip, port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!(
        "HEAD /assets/favicon.svg HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        dashboard::host_header(ip, port)
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    buf[..n].starts_with(b"HTTP/1.1 200")
}

/// The log of a daemon this command started.
pub fn daemon_log(db: &Path) -> std::path::PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".daemon.log");
    s.into()
}

fn start_daemon(app: &App) -> anyhow::Result<std::process::Child> {
    let exe = std::env::current_exe().unwrap_or_else(|_| "tokwatch".into());
    crate::store::ensure_db_dir(&app.db)?;
    let log = daemon_log(&app.db);
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let mut c = std::process::Command::new(exe);
    c.arg("--db")
        .arg(&app.db)
        .arg("run")
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // Its own process group: closing this terminal does not stop it.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        c.process_group(0);
    }
    Ok(c.spawn()?)
}

/// Runs `tokwatch dashboard`.
pub fn run(app: &App, no_open: bool) -> anyhow::Result<i32> {
    let config = app.config()?;
    if config.dashboard.enabled == Some(false) {
        bail!(
            "the dashboard is turned off in {}: remove `enabled = false` from its [dashboard] section and restart tokwatch",
            app.env.config_file().display()
        );
    }
    let db = &app.db;
    let mut child = None;
    if !InstanceLock::is_held(db) {
        child = Some(start_daemon(app)?);
        eprintln!(
            "Started the tokwatch daemon for {} (its log: {}).",
            db.display(),
            daemon_log(db).display()
        );
    }
    let addr = config
        .dashboard
        .address
        .clone()
        .unwrap_or_else(|| dashboard::DEFAULT_ADDRESS.into());
    let ip = dashboard::browse_ip(&addr);
    let limit = if child.is_some() { 300 } else { 15 };
    let t0 = Instant::now();
    let mut said = false;
    let port = loop {
        let port = config
            .dashboard
            .port
            .or_else(|| dashboard::remembered_port(db));
        if let Some(p) = port.filter(|p| answers(ip, *p)) {
            break p;
        }
        if let Some(c) = child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                bail!(
                    "the daemon stopped ({st}) before the dashboard was up: see {}",
                    daemon_log(db).display()
                );
            }
        }
        if t0.elapsed() > Duration::from_secs(limit) {
            bail!(
                "the dashboard does not answer{}: see the daemon's log ({}), or restart it",
                port.map(|p| format!(" on port {p}")).unwrap_or_default(),
                if child.is_some() {
                    daemon_log(db).display().to_string()
                } else {
                    "where `tokwatch run` writes it".into()
                }
            );
        }
        if !said && t0.elapsed() > Duration::from_secs(2) {
            eprintln!("Waiting for the daemon to catch up with the logs...");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let token = dashboard::read_token(db);
    let full = dashboard::url(&addr, port, token.as_deref());
    if no_open {
        println!("{full}");
        return Ok(super::EXIT_OK);
    }
    match dashboard::open_browser(&full) {
        Ok(()) => println!(
            "Opened the dashboard in the browser: {}",
            dashboard::url(&addr, port, None)
        ),
        Err(why) => println!(
            "No browser could be opened ({why}). Open this address (it carries this install's token, for the budget and pause controls):\n{full}"
        ),
    }
    Ok(super::EXIT_OK)
}
