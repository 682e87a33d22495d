//! `tokwatch statusline`: one short line for Claude Code's statusline, tmux or a shell prompt.
//! Reads the database only; a figure it cannot read is said to be an error, never `$0.00`.

use crate::attribution::Attributor;
use crate::format::{usd_marked, DB_ERROR};
use crate::store::query::Scope;
use crate::store::{Store, StoreError};
use std::io::Read;
use std::path::Path;

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
    let store = match Store::open_reader(db) {
        Ok(s) => s,
        Err(e) if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Missing(_))) => {
            return "tokwatch: no data yet".into()
        }
        Err(_) => return format!("tokwatch: {DB_ERROR}"),
    };
    parts(&store, si).unwrap_or_else(|_| format!("tokwatch: {DB_ERROR}"))
}

fn parts(store: &Store, si: &StatusInput) -> anyhow::Result<String> {
    let today_ms = crate::status::start_of_today();
    let today = store.cost(Scope::Since(today_ms))?;
    let mut parts = Vec::new();
    if let Some(s) = si.session_id.as_deref().filter(|s| !s.is_empty()) {
        if store.has_session(s)? {
            let c = store.cost(Scope::Session(s))?;
            parts.push(format!("session {}", usd_marked(c.usd, c.has_unpriced)));
        }
    }
    let cwd = si
        .workspace
        .as_ref()
        .and_then(|w| w.project_dir.clone().or(w.current_dir.clone()))
        .or(si.cwd.clone());
    if let Some(cwd) = cwd {
        if let Some(ws) = Attributor::new().resolve(Some(&cwd), None) {
            if let Some(id) = store.workspace_by_key(&ws.key)? {
                let c = store.cost(Scope::WorkspaceSince(id, today_ms))?;
                parts.push(format!(
                    "{} today {}",
                    ws.name,
                    usd_marked(c.usd, c.has_unpriced)
                ));
            }
        }
    }
    parts.push(format!(
        "all today {}",
        usd_marked(today.usd, today.has_unpriced)
    ));
    Ok(parts.join(" · "))
}
