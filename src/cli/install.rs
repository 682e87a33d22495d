//! `tokwatch install` / `uninstall`: start the daemon at login and now, the man page and the
//! shell completions. Linux: a systemd user unit where a systemd user session exists, else an
//! XDG autostart entry; macOS: a LaunchAgent; Windows: the per-user Run key. Each file written
//! is said with its path; `uninstall` removes exactly those (and directories it made that are
//! left empty) and keeps the history unless `--purge`.

use crate::app::App;
use crate::daemon::lock::InstanceLock;
use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How the daemon is started at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A systemd user unit (`~/.config/systemd/user/tokwatch.service`).
    Systemd,
    /// An XDG autostart entry (`~/.config/autostart/tokwatch.desktop`).
    Xdg,
    /// A macOS LaunchAgent (`~/Library/LaunchAgents/dev.tokwatch.daemon.plist`).
    Launchd,
    /// The Windows per-user Run key.
    WindowsRun,
}

/// Options of `install`.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct InstallArgs {
    /// How to start at login (default: what this machine has).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Write the files only; do not start the daemon now.
    #[arg(long)]
    pub no_start: bool,
}

/// Options of `uninstall`.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct UninstallArgs {
    /// Also delete the database (every recorded request), its state files and the logs.
    #[arg(long)]
    pub purge: bool,
}

/// The label of the LaunchAgent.
pub const LAUNCHD_LABEL: &str = "dev.tokwatch.daemon";

/// A user systemd instance answers.
fn systemd_user_session() -> bool {
    Command::new("systemctl")
        .args(["--user", "show-environment"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What this machine uses.
pub fn default_kind() -> Kind {
    if cfg!(target_os = "macos") {
        Kind::Launchd
    } else if cfg!(windows) {
        Kind::WindowsRun
    } else if systemd_user_session() {
        Kind::Systemd
    } else {
        Kind::Xdg
    }
}

/// Every file `install` may write, by what it is.
pub struct Paths {
    /// The systemd user unit.
    pub systemd_unit: PathBuf,
    /// The XDG autostart entry.
    pub xdg_autostart: PathBuf,
    /// The LaunchAgent.
    pub launch_agent: PathBuf,
    /// The man page.
    pub man_page: PathBuf,
    /// bash, zsh and fish completions.
    pub completions: Vec<(clap_complete::Shell, PathBuf)>,
}

/// Where the files go for `app`'s home.
pub fn paths(app: &App) -> Paths {
    let e = &app.env;
    let data = e.xdg_data();
    Paths {
        systemd_unit: e.xdg_config().join("systemd/user/tokwatch.service"),
        xdg_autostart: e.xdg_config().join("autostart/tokwatch.desktop"),
        launch_agent: e
            .home
            .join("Library/LaunchAgents")
            .join(format!("{LAUNCHD_LABEL}.plist")),
        man_page: data.join("man/man1/tokwatch.1"),
        completions: vec![
            (
                clap_complete::Shell::Bash,
                data.join("bash-completion/completions/tokwatch"),
            ),
            (
                clap_complete::Shell::Zsh,
                data.join("zsh/site-functions/_tokwatch"),
            ),
            (
                clap_complete::Shell::Fish,
                e.xdg_config().join("fish/completions/tokwatch.fish"),
            ),
        ],
    }
}

/// The arguments the daemon is started with (`--db` only when it is not the default).
fn daemon_args(app: &App) -> Vec<String> {
    let mut v = Vec::new();
    if app.db != app.env.data_dir().join("tokwatch.db") {
        v.push("--db".to_string());
        v.push(app.db.display().to_string());
    }
    v.push("run".to_string());
    v
}

fn systemd_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s.to_string()
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('%', "%%")
        )
    }
}

/// The systemd user unit.
pub fn systemd_unit(exe: &Path, args: &[String]) -> String {
    let mut cmd = systemd_quote(&exe.display().to_string());
    for a in args {
        cmd.push(' ');
        cmd.push_str(&systemd_quote(a));
    }
    format!(
        "# Written by `tokwatch install`; `tokwatch uninstall` removes it.
[Unit]
Description=tokwatch: live cost of AI coding tools, per repository

[Service]
Type=simple
ExecStart={cmd}
# A replaced binary is picked up by the daemon itself (same process); this covers crashes.
Restart=on-failure
RestartSec=5

[Install]
WantedBy=default.target
"
    )
}

fn desktop_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s.to_string()
    } else {
        let mut o = String::from("\"");
        for c in s.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                o.push('\\');
            }
            o.push(c);
        }
        o.push('"');
        // The desktop-entry format escapes backslashes once more in string values.
        o.replace('\\', "\\\\")
    }
}

/// The XDG autostart entry.
pub fn desktop_entry(exe: &Path, args: &[String]) -> String {
    let mut cmd = desktop_quote(&exe.display().to_string());
    for a in args {
        cmd.push(' ');
        cmd.push_str(&desktop_quote(a));
    }
    format!(
        "[Desktop Entry]
Type=Application
Name=tokwatch
Comment=Live cost of AI coding tools, per repository
Exec={cmd}
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
"
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The LaunchAgent property list.
pub fn launch_agent(exe: &Path, args: &[String], log_dir: &Path) -> String {
    let mut prog = format!(
        "        <string>{}</string>\n",
        xml(&exe.display().to_string())
    );
    for a in args {
        prog += &format!("        <string>{}</string>\n", xml(a));
    }
    let err = xml(&log_dir.join("launchd.log").display().to_string());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>{LAUNCHD_LABEL}</string>
    <key>ProgramArguments</key>
    <array>
{prog}    </array>
    <key>RunAtLoad</key>
    <true/>
    <key>KeepAlive</key>
    <dict>
        <key>SuccessfulExit</key>
        <false/>
    </dict>
    <key>ProcessType</key>
    <string>Interactive</string>
    <key>StandardErrorPath</key>
    <string>{err}</string>
</dict>
</plist>
"#
    )
}

/// Writes `text` to `p`, making its directory; says so.
fn put(p: &Path, text: &[u8], what: &str, short: &dyn Fn(&Path) -> String) -> anyhow::Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(p, text)?;
    println!("wrote {what}: {}", short(p));
    Ok(())
}

fn run_quiet(prog: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(prog).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "`{prog} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {prog}: {e}")),
    }
}

const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";

/// `tokwatch install`.
pub fn install(app: &App, a: &InstallArgs) -> anyhow::Result<i32> {
    let exe = std::env::current_exe()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let args = daemon_args(app);
    let p = paths(app);
    let kind = a.kind.unwrap_or_else(default_kind);
    let short = |x: &Path| app.env.short(x);
    match kind {
        Kind::Systemd => {
            put(
                &p.systemd_unit,
                systemd_unit(&exe, &args).as_bytes(),
                "systemd user unit",
                &short,
            )?;
            if !a.no_start {
                run_quiet("systemctl", &["--user", "daemon-reload"]).map_err(anyhow::Error::msg)?;
                run_quiet(
                    "systemctl",
                    &["--user", "enable", "--now", "tokwatch.service"],
                )
                .map_err(anyhow::Error::msg)?;
                println!("enabled and started tokwatch.service (`systemctl --user status tokwatch` shows it; logs also in `journalctl --user -u tokwatch`)");
            }
        }
        Kind::Xdg => {
            put(
                &p.xdg_autostart,
                desktop_entry(&exe, &args).as_bytes(),
                "XDG autostart entry (started at the next desktop login)",
                &short,
            )?;
        }
        Kind::Launchd => {
            put(
                &p.launch_agent,
                launch_agent(&exe, &args, &app.env.log_dir()).as_bytes(),
                "LaunchAgent",
                &short,
            )?;
            if !a.no_start {
                let plist = p.launch_agent.display().to_string();
                let _ = run_quiet("launchctl", &["unload", &plist]);
                run_quiet("launchctl", &["load", "-w", &plist]).map_err(anyhow::Error::msg)?;
                println!("loaded it with launchctl (started now and at every login)");
            }
        }
        Kind::WindowsRun => {
            let mut cmd = format!("\"{}\"", exe.display());
            for x in &args {
                cmd.push_str(&format!(" \"{x}\""));
            }
            run_quiet(
                "reg",
                &[
                    "add", RUN_KEY, "/v", "tokwatch", "/t", "REG_SZ", "/d", &cmd, "/f",
                ],
            )
            .map_err(anyhow::Error::msg)?;
            println!("added the Run key {RUN_KEY}\\tokwatch: {cmd}");
        }
    }
    if !cfg!(windows) {
        let mut man = Vec::new();
        clap_mangen::Man::new(super::Cli::command()).render(&mut man)?;
        put(&p.man_page, &man, "man page (`man tokwatch`)", &short)?;
        for (shell, path) in &p.completions {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut super::Cli::command(), "tokwatch", &mut out);
            put(path, &out, &format!("{shell} completions"), &short)?;
        }
    }
    // Started now by the unit or agent above; the others start it here.
    if !a.no_start && matches!(kind, Kind::Xdg | Kind::WindowsRun) {
        match app.ensure_daemon() {
            crate::app::DaemonNow::Running => println!("the daemon is already running"),
            crate::app::DaemonNow::Failed(e) => anyhow::bail!("cannot start the daemon: {e}"),
            _ => println!("started the daemon (`tokwatch status` shows it)"),
        }
    }
    Ok(super::EXIT_OK)
}

/// Removes `p` and then its parent directories up to `stop` that are left empty.
fn remove(p: &Path, stop: &Path, short: &dyn Fn(&Path) -> String) {
    if std::fs::remove_file(p).is_ok() {
        println!("removed {}", short(p));
    }
    let mut d = p.parent();
    while let Some(dir) = d {
        if dir == stop || !dir.starts_with(stop) || std::fs::remove_dir(dir).is_err() {
            break;
        }
        d = dir.parent();
    }
}

/// Stops the daemon of the database (SIGTERM), waiting up to 5 s for it to let go.
fn stop_daemon(app: &App) {
    let Some(pid) = InstanceLock::holder(&app.db) else {
        return;
    };
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid read from the lock file the daemon holds; no memory involved.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    #[cfg(windows)]
    let _ = run_quiet("taskkill", &["/PID", &pid.to_string(), "/F"]);
    let t0 = std::time::Instant::now();
    while InstanceLock::is_held(&app.db) && t0.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    println!("stopped the daemon (pid {pid})");
}

/// `tokwatch uninstall`.
pub fn uninstall(app: &App, a: &UninstallArgs) -> anyhow::Result<i32> {
    let p = paths(app);
    let short = |x: &Path| app.env.short(x);
    let home = app.env.home.clone();
    let had_unit = p.systemd_unit.exists();
    if had_unit {
        let _ = run_quiet(
            "systemctl",
            &["--user", "disable", "--now", "tokwatch.service"],
        );
    }
    if p.launch_agent.exists() && cfg!(target_os = "macos") {
        let _ = run_quiet(
            "launchctl",
            &["unload", &p.launch_agent.display().to_string()],
        );
    }
    if cfg!(windows) && run_quiet("reg", &["delete", RUN_KEY, "/v", "tokwatch", "/f"]).is_ok() {
        println!("removed the Run key {RUN_KEY}\\tokwatch");
    }
    stop_daemon(app);
    remove(&p.systemd_unit, &home, &short);
    if had_unit {
        let _ = run_quiet("systemctl", &["--user", "daemon-reload"]);
    }
    remove(&p.xdg_autostart, &home, &short);
    remove(&p.launch_agent, &home, &short);
    remove(&p.man_page, &home, &short);
    for (_, c) in &p.completions {
        remove(c, &home, &short);
    }
    if a.purge {
        let db = app.db.display().to_string();
        let mut files: Vec<PathBuf> = [
            "",
            "-wal",
            "-shm",
            ".lock",
            ".daemon.json",
            ".config-good.toml",
        ]
        .iter()
        .map(|s| PathBuf::from(format!("{db}{s}")))
        .filter(|f| f.exists())
        .collect();
        files.push(crate::status::plan::hints_dir(&app.db));
        println!(
            "--purge: deleting the database {} (every recorded request), its state files and the logs in {}",
            short(&app.db),
            short(&app.env.log_dir())
        );
        for f in files {
            let r = if f.is_dir() {
                std::fs::remove_dir_all(&f)
            } else {
                std::fs::remove_file(&f)
            };
            if r.is_ok() {
                println!("removed {}", short(&f));
            }
        }
        if std::fs::remove_dir_all(app.env.log_dir()).is_ok() {
            println!("removed {}", short(&app.env.log_dir()));
        }
        if let Some(d) = app.db.parent() {
            let _ = std::fs::remove_dir(d);
        }
        println!(
            "kept the config {} (delete it yourself if you want)",
            short(&app.env.config_file())
        );
    } else {
        println!(
            "kept the history in {} (`tokwatch uninstall --purge` deletes it)",
            short(&app.db)
        );
    }
    Ok(super::EXIT_OK)
}
