//! `tokwatch config path|show|check|edit`.

use crate::app::App;
use crate::config::keys::{self, KEYS};
use crate::daemon::lock::InstanceLock;
use clap::Subcommand;
use std::collections::BTreeMap;

/// What `config` does.
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Print the config file's path.
    Path,
    /// Every key with the value in effect: the file's, or the default (docs/config.md).
    Show {
        /// Print JSON (`{"file": ..., "values": {key: value}, "defaults": {key: default}}`).
        #[arg(long)]
        json: bool,
    },
    /// Check the file: each problem with its line and key; unknown keys with the nearest known
    /// one. Exit 1 when it has errors.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open the file in $VISUAL or $EDITOR (made with a commented example when missing), then
    /// check it. A running daemon picks up the saved file by itself.
    Edit,
}

/// Runs `config`.
pub fn run(app: &App, cmd: &ConfigCmd) -> anyhow::Result<i32> {
    match cmd {
        ConfigCmd::Path => {
            println!("{}", app.env.config_file().display());
            Ok(super::EXIT_OK)
        }
        ConfigCmd::Show { json } => show(app, *json),
        ConfigCmd::Check { json } => check(app, *json),
        ConfigCmd::Edit => edit(app),
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        toml::Value::Array(a) if a.iter().all(|x| x.is_table()) && !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), x, out);
            }
        }
        v => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

fn show(app: &App, json: bool) -> anyhow::Result<i32> {
    let path = app.env.config_file();
    let (text, checked) = app.check_config();
    let mut values = BTreeMap::new();
    if let Some(t) = text.as_deref() {
        if let Ok(v) = t.parse::<toml::Table>() {
            flatten("", &toml::Value::Table(v), &mut values);
        }
    }
    // Only keys tokwatch reads (unknown ones are `config check`'s to report).
    values.retain(|k, _| {
        let segs: Vec<String> = k.split('.').map(String::from).collect();
        keys::pattern_of(&segs).is_some()
    });
    let defaults: BTreeMap<&str, &str> = KEYS
        .iter()
        .filter(|k| !k.path.contains("[]") && !k.path.contains('*'))
        .filter(|k| !values.contains_key(k.path))
        .map(|k| (k.path, k.default))
        .collect();
    if json {
        let v = serde_json::json!({
            "file": path.display().to_string(),
            "exists": text.is_some(),
            "values": values.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            "defaults": defaults,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "# {}{}",
            path.display(),
            if text.is_none() {
                " (there is none: every key has its default)"
            } else {
                ""
            }
        );
        for (k, v) in &values {
            println!("{k} = {v}");
        }
        for (k, d) in &defaults {
            println!("{k} = {d}    # default");
        }
        let n = checked.problems.len();
        if n > 0 {
            println!("# {n} problems: `tokwatch config check` lists them");
        }
    }
    Ok(super::EXIT_OK)
}

fn check(app: &App, json: bool) -> anyhow::Result<i32> {
    let path = app.env.config_file();
    let (text, checked) = app.check_config();
    let bad = checked.errors().next().is_some();
    if json {
        let v = serde_json::json!({
            "file": path.display().to_string(),
            "exists": text.is_some(),
            "ok": !bad,
            "problems": checked.problems,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if text.is_none() {
        println!(
            "{}: there is none; every key has its default (`tokwatch config edit` makes one)",
            path.display()
        );
    } else {
        for p in &checked.problems {
            println!(
                "{}:{} {}",
                path.display(),
                if p.error { " error:" } else { " warning:" },
                p
            );
        }
        if !bad {
            println!(
                "{}: loads{}",
                path.display(),
                if checked.problems.is_empty() {
                    " cleanly"
                } else {
                    " (the keys warned about are ignored)"
                }
            );
        }
    }
    Ok(if bad {
        super::EXIT_ERROR
    } else {
        super::EXIT_OK
    })
}

const TEMPLATE: &str = "# tokwatch's config: every key and its default is in docs/config.md;
# `tokwatch config check` checks this file, `tokwatch config show` prints what is in effect.
# A running daemon reads it again when it is saved.

# [budget]
# daily_usd = 20.0
# thresholds = [0.85, 0.95, 1.0]

# [daemon]
# auto_start = true
";

fn edit(app: &App) -> anyhow::Result<i32> {
    let path = app.env.config_file();
    if !path.exists() {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&path, TEMPLATE)?;
    }
    let editor = app
        .env
        .var("VISUAL")
        .or(app.env.var("EDITOR"))
        .map(String::from)
        .unwrap_or_else(|| {
            if cfg!(windows) {
                "notepad".into()
            } else {
                "vi".into()
            }
        });
    // `EDITOR="code --wait"` is common: the first word is the program.
    let mut words = editor.split_whitespace();
    let prog = words.next().unwrap_or("vi");
    let st = std::process::Command::new(prog)
        .args(words)
        .arg(&path)
        .status()
        .map_err(|e| {
            anyhow::anyhow!("cannot run the editor {prog:?} ({e}): set VISUAL or EDITOR")
        })?;
    if !st.success() {
        anyhow::bail!("the editor {prog:?} exited with {st}; the file was left as it is");
    }
    let code = check(app, false)?;
    if InstanceLock::is_held(&app.db) {
        println!(
            "The running daemon reads it again by itself{}.",
            if code == super::EXIT_OK {
                ""
            } else {
                " and keeps the last good config until this one loads"
            }
        );
    }
    Ok(code)
}
