//! `tokwatch guard`: an opt-in hard stop for Claude Code.
//!
//! `guard install` adds a command hook to Claude Code's settings (user `~/.claude/settings.json`
//! or the project's `.claude/settings.json`, merged with what is there, keys kept in their
//! order) that runs `tokwatch guard check` on `UserPromptSubmit` and on every `PreToolUse`.
//! `guard check` reads the hook's JSON on stdin (`session_id`, `cwd`, `hook_event_name`; the
//! prompt and the tool input are never read into anything), reads the database only, and when a
//! hard cap is used up answers with Claude Code's documented blocking response:
//!
//! - `PreToolUse`: `{"hookSpecificOutput": {"hookEventName": "PreToolUse",
//!   "permissionDecision": "deny", "permissionDecisionReason": "..."}}` on stdout, exit 0;
//! - `UserPromptSubmit`: `{"decision": "block", "reason": "..."}` on stdout, exit 0;
//! - any other event: the reason on stderr, exit 2 (Claude Code's blocking exit code).
//!
//! When tokwatch itself fails (no database, a damaged one, a bad config, unreadable input) the
//! hook lets the work go on: it says why on stderr and exits 1, which Claude Code treats as a
//! non-blocking error. It never blocks because of its own error.

use crate::app::App;
use crate::attribution::Attributor;
use crate::format::usd;
use crate::status::budget_status;
use crate::status::budgets::{model_in_scope, Settings};
use crate::store::budget::BudgetScope;
use crate::store::query::Scope;
use crate::store::{now_ms, Store};
use anyhow::{bail, Context};
use clap::Subcommand;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The hook events the guard is installed for.
pub const EVENTS: [&str; 2] = ["UserPromptSubmit", "PreToolUse"];

/// Setting key of the session cap set with `guard cap`.
const SESSION_CAP: &str = "guard.session_usd";

/// What `guard` does.
#[derive(Debug, Subcommand)]
pub enum GuardCmd {
    /// Add the hook to Claude Code's settings (user scope; --project for this directory's
    /// `.claude/settings.json`). Merged with what is there; running it again changes nothing.
    Install {
        /// The project's `.claude/settings.json` (in the current directory) instead of the user's.
        #[arg(long, conflicts_with = "settings")]
        project: bool,
        /// This settings file instead.
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
    },
    /// Remove the hook again (only tokwatch's entries; the rest of the file stays as it is).
    Uninstall {
        /// The project's `.claude/settings.json` instead of the user's.
        #[arg(long, conflicts_with = "settings")]
        project: bool,
        /// This settings file instead.
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
    },
    /// What the hook runs: reads Claude Code's hook JSON on stdin and blocks when a hard cap is
    /// used up. Reads the database only.
    Check,
    /// Let one session go on past the caps (default: the latest Claude Code session).
    Allow {
        /// The session id (Claude Code's block message names it).
        session: Option<String>,
    },
    /// Set the cap of one session's cost (`off` removes it).
    Cap {
        /// USD per session, or `off`.
        #[arg(long, value_name = "USD|off")]
        session: String,
    },
    /// Where the hook is installed, the caps, and which of them are used up now.
    Status,
}

/// Runs `guard ...`.
pub fn run(app: &App, cmd: &GuardCmd) -> anyhow::Result<i32> {
    match cmd {
        GuardCmd::Check => Ok(check(app)),
        GuardCmd::Install { project, settings } => {
            let path = settings_path(app, *project, settings.as_deref())?;
            let changed = install(&path, &hook_command(app))?;
            if changed {
                println!(
                    "tokwatch guard installed in {}: Claude Code runs `tokwatch guard check` on each prompt and tool call.",
                    path.display()
                );
            } else {
                println!("tokwatch guard is already installed in {}.", path.display());
            }
            let caps = caps_summary(app)?;
            if caps.is_empty() {
                println!("No hard cap is set yet: `tokwatch budget set 20 --daily --hard`, or `tokwatch guard cap --session 10`.");
            } else {
                println!("Caps: {}.", caps.join("; "));
            }
            println!("`tokwatch guard uninstall` removes it again.");
            Ok(super::EXIT_OK)
        }
        GuardCmd::Uninstall { project, settings } => {
            let path = settings_path(app, *project, settings.as_deref())?;
            if uninstall(&path)? {
                println!("tokwatch guard removed from {}.", path.display());
            } else {
                println!("tokwatch guard was not installed in {}.", path.display());
            }
            Ok(super::EXIT_OK)
        }
        GuardCmd::Allow { session } => {
            let store = Store::open_writer(&app.db)?;
            let (session, when) = match session {
                Some(s) => (s.clone(), None),
                None => match store.latest_session(crate::parser::claude::TOOL)? {
                    Some((s, at)) => (s, Some(at)),
                    None => bail!("no Claude Code session is recorded yet: name the session (`tokwatch guard allow SESSION`)"),
                },
            };
            store.guard_allow(&session)?;
            crate::status::plan::poke(&app.db, "guard-changed");
            println!(
                "Session {session}{} may go on past the caps.",
                when.map(|w| format!(
                    " (latest usage {})",
                    crate::store::query::Zone::Local.datetime(w)
                ))
                .unwrap_or_default()
            );
            Ok(super::EXIT_OK)
        }
        GuardCmd::Cap { session } => {
            let store = Store::open_writer(&app.db)?;
            if session.eq_ignore_ascii_case("off") {
                store.set_alert_setting(SESSION_CAP, None)?;
                println!("No session cap set with `guard cap` ([guard] session_usd in the config still applies).");
            } else {
                let v: f64 = session
                    .trim_start_matches('$')
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                    .with_context(|| {
                        format!("--session {session:?} is not an amount in USD (or `off`)")
                    })?;
                store.set_alert_setting(SESSION_CAP, Some(&v.to_string()))?;
                println!("Each Claude Code session may cost at most {}.", usd(v));
            }
            crate::status::plan::poke(&app.db, "guard-changed");
            Ok(super::EXIT_OK)
        }
        GuardCmd::Status => status(app),
    }
}

/// The command the hook runs: this executable, with `--db` when the database is not the
/// platform's default one and the config directory when `TOKWATCH_CONFIG_DIR` moved it (Claude
/// Code's environment may not have the variables of this shell).
fn hook_command(app: &App) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tokwatch"));
    let mut cmd = String::new();
    if cfg!(unix) {
        if let Some(dir) = app.env.var("TOKWATCH_CONFIG_DIR").filter(|d| !d.is_empty()) {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| PathBuf::from(dir));
            cmd.push_str(&format!(
                "TOKWATCH_CONFIG_DIR={} ",
                shell_quote(&dir.to_string_lossy())
            ));
        }
    }
    cmd.push_str(&shell_quote(&exe.to_string_lossy()));
    if app.db != app.env.data_dir().join("tokwatch.db") {
        let db = std::path::absolute(&app.db).unwrap_or_else(|_| app.db.clone());
        cmd.push_str(" --db ");
        cmd.push_str(&shell_quote(&db.to_string_lossy()));
    }
    cmd.push_str(" guard check");
    cmd
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        return s.to_string();
    }
    if cfg!(windows) {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Claude Code's user settings file (`$CLAUDE_CONFIG_DIR/settings.json` when set), the
/// project's, or the one given.
pub fn settings_path(app: &App, project: bool, given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if project {
        let cwd = std::env::current_dir().context("cannot tell the current directory")?;
        return Ok(cwd.join(".claude").join("settings.json"));
    }
    Ok(user_settings(app))
}

fn user_settings(app: &App) -> PathBuf {
    match app
        .env
        .var("CLAUDE_CONFIG_DIR")
        .and_then(|v| v.split(',').next())
        .filter(|v| !v.trim().is_empty())
    {
        Some(d) => PathBuf::from(d.trim()).join("settings.json"),
        None => app.env.home.join(".claude").join("settings.json"),
    }
}

/// Whether the hook is in the user's settings or in this directory's project settings.
pub fn installed_anywhere(app: &App) -> bool {
    let mut paths = vec![user_settings(app)];
    if let Ok(cwd) = std::env::current_dir() {
        paths.push(cwd.join(".claude").join("settings.json"));
    }
    paths.iter().any(|p| is_installed(p))
}

fn is_installed(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| Json::parse(&t).ok())
        .is_some_and(|j| {
            let mut found = false;
            if let Some(hooks) = j.get("hooks") {
                for ev in EVENTS {
                    if let Some(Json::Arr(groups)) = hooks.get(ev) {
                        found |= groups.iter().any(group_has_ours);
                    }
                }
            }
            found
        })
}

fn is_ours(hook: &Json) -> bool {
    matches!(hook.get("command"), Some(Json::Str(c)) if c.contains("tokwatch") && c.trim_end().ends_with("guard check"))
}

fn group_has_ours(g: &Json) -> bool {
    matches!(g.get("hooks"), Some(Json::Arr(h)) if h.iter().any(is_ours))
}

fn read_settings(path: &Path) -> anyhow::Result<Json> {
    match std::fs::read_to_string(path) {
        Ok(t) if t.trim().is_empty() => Ok(Json::Obj(Vec::new())),
        Ok(t) => {
            let j = Json::parse(&t).map_err(|e| {
                anyhow::anyhow!(
                    "{} is not valid JSON ({e}); fix it (Claude Code cannot read it either) and run this again: nothing was changed",
                    path.display()
                )
            })?;
            if !matches!(j, Json::Obj(_)) {
                bail!(
                    "{} does not hold a JSON object; nothing was changed",
                    path.display()
                );
            }
            Ok(j)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Json::Obj(Vec::new())),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_settings(path: &Path, j: &Json) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(j)?;
    text.push('\n');
    let tmp = path.with_extension(format!("json.tokwatch-{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    if let Ok(m) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, m.permissions());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// Removes tokwatch's hooks from a settings object; true when there were any.
fn remove_ours(root: &mut Json) -> bool {
    let mut removed = false;
    let Some(hooks) = root.get_mut("hooks") else {
        return false;
    };
    for ev in EVENTS {
        let Some(Json::Arr(groups)) = hooks.get_mut(ev) else {
            continue;
        };
        for g in groups.iter_mut() {
            if let Some(Json::Arr(list)) = g.get_mut("hooks") {
                let before = list.len();
                list.retain(|h| !is_ours(h));
                removed |= list.len() != before;
            }
        }
        groups.retain(|g| !matches!(g.get("hooks"), Some(Json::Arr(l)) if l.is_empty()));
    }
    if let Json::Obj(entries) = hooks {
        entries.retain(|(k, v)| {
            !(EVENTS.contains(&k.as_str()) && matches!(v, Json::Arr(a) if a.is_empty()))
        });
    }
    if matches!(root.get("hooks"), Some(Json::Obj(e)) if e.is_empty()) {
        if let Json::Obj(entries) = root {
            entries.retain(|(k, _)| k != "hooks");
        }
    }
    removed
}

/// Adds the hook to the settings file at `path`; false when it was already there as is.
pub fn install(path: &Path, command: &str) -> anyhow::Result<bool> {
    let mut root = read_settings(path)?;
    let before = root.clone();
    remove_ours(&mut root);
    let hook = Json::Obj(vec![
        ("type".into(), Json::Str("command".into())),
        ("command".into(), Json::Str(command.into())),
        ("timeout".into(), Json::Num(10.into())),
    ]);
    let hooks = root.entry("hooks", Json::Obj(Vec::new()));
    if !matches!(hooks, Json::Obj(_)) {
        bail!(
            "\"hooks\" in {} is not a JSON object; nothing was changed",
            path.display()
        );
    }
    for ev in EVENTS {
        let groups = hooks.entry(ev, Json::Arr(Vec::new()));
        let Json::Arr(groups) = groups else {
            bail!(
                "\"hooks\".\"{ev}\" in {} is not a list; nothing was changed",
                path.display()
            );
        };
        let mut group = vec![];
        if ev == "PreToolUse" {
            group.push(("matcher".to_string(), Json::Str("*".into())));
        }
        group.push(("hooks".to_string(), Json::Arr(vec![hook.clone()])));
        groups.push(Json::Obj(group));
    }
    if root == before {
        return Ok(false);
    }
    write_settings(path, &root)?;
    Ok(true)
}

/// Removes the hook from the settings file at `path`; false when it was not there.
pub fn uninstall(path: &Path) -> anyhow::Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let mut root = read_settings(path)?;
    if !remove_ours(&mut root) {
        return Ok(false);
    }
    write_settings(path, &root)?;
    Ok(true)
}

/// What a hook gets on stdin (the parts read).
#[derive(serde::Deserialize, Default)]
struct HookInput {
    session_id: Option<String>,
    cwd: Option<String>,
    hook_event_name: Option<String>,
}

/// `guard check`: the hook. Returns the exit code (0 let through or JSON block, 2 block for
/// other events, 1 own failure: let through).
pub fn check(app: &App) -> i32 {
    let mut input = String::new();
    let read = std::io::stdin()
        .lock()
        .take(4 << 20)
        .read_to_string(&mut input);
    let parsed: anyhow::Result<HookInput> = read
        .context("cannot read the hook input")
        .and_then(|_| serde_json::from_str(input.trim()).context("the hook input is not JSON"));
    let hook = match parsed {
        Ok(h) => h,
        Err(e) => return own_error(&e),
    };
    match decide(app, &hook) {
        Ok(None) => super::EXIT_OK,
        Ok(Some(reason)) => block(hook.hook_event_name.as_deref(), &reason),
        Err(e) => own_error(&e),
    }
}

fn own_error(e: &anyhow::Error) -> i32 {
    eprintln!("tokwatch guard: {e:#}. Letting the work go on: the guard never blocks because of its own error.");
    super::EXIT_ERROR
}

fn block(event: Option<&str>, reason: &str) -> i32 {
    match event {
        Some("PreToolUse") => {
            println!(
                "{}",
                serde_json::json!({"hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason,
                }})
            );
            super::EXIT_OK
        }
        Some("UserPromptSubmit") => {
            println!(
                "{}",
                serde_json::json!({"decision": "block", "reason": reason})
            );
            super::EXIT_OK
        }
        _ => {
            eprintln!("{reason}");
            2
        }
    }
}

/// The session cap in force: `guard cap` wins over `[guard] session_usd`.
fn session_cap(store: &Store, settings: &Settings) -> anyhow::Result<Option<f64>> {
    Ok(match store.alert_setting(SESSION_CAP)? {
        Some(v) => v.parse().ok(),
        None => settings.guard_session_usd,
    })
}

/// Why the work must stop, or `None` to let it go on.
fn decide(app: &App, hook: &HookInput) -> anyhow::Result<Option<String>> {
    let settings = Settings::from_config(&app.config()?)?;
    let store = Store::open_reader(&app.db)?;
    let session = hook.session_id.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = session {
        if store.guard_allowed(s)? {
            return Ok(None);
        }
    }
    let allow = |s: Option<&str>| match s {
        Some(s) => format!(" `tokwatch guard allow {s}` lets this session go on;"),
        None => String::new(),
    };
    if let (Some(cap), Some(s)) = (session_cap(&store, &settings)?, session) {
        let c = store.cost(Scope::Session(s))?;
        if c.usd >= cap {
            return Ok(Some(format!(
                "tokwatch guard: this Claude Code session has cost {}, the cap per session is {}.{} `tokwatch guard cap --session AMOUNT` changes the cap.",
                usd(c.usd),
                usd(cap),
                allow(session)
            )));
        }
    }
    let hard: Vec<_> = settings
        .budgets(&store)?
        .into_iter()
        .filter(|b| b.hard)
        .collect();
    if hard.is_empty() {
        return Ok(None);
    }
    let mut repo: Option<Option<(String, String)>> = None;
    let mut model: Option<Option<String>> = None;
    let now = now_ms();
    for b in hard {
        let applies = match &b.scope {
            BudgetScope::All => true,
            BudgetScope::Tool(t) => t == crate::parser::claude::TOOL,
            BudgetScope::Repo(r) => {
                let ws = repo.get_or_insert_with(|| {
                    Attributor::new()
                        .resolve(hook.cwd.as_deref(), None)
                        .map(|w| (w.name, w.key))
                });
                ws.as_ref().is_some_and(|(n, k)| n == r || k == r)
            }
            BudgetScope::Model(_) | BudgetScope::Provider(_) => {
                let m = match &model {
                    Some(m) => m.clone(),
                    None => {
                        let m = match session {
                            Some(s) => store.session_last_model(s)?,
                            None => None,
                        };
                        model = Some(m.clone());
                        m
                    }
                };
                match (&b.scope, m) {
                    (_, Some(m)) => model_in_scope(&b.scope, &m),
                    // Claude Code's models are Anthropic's, whichever cloud serves them.
                    (BudgetScope::Provider(p), None) => p == "anthropic",
                    _ => false,
                }
            }
        };
        if !applies {
            continue;
        }
        let st = budget_status(&store, &settings, &b, now, false)?;
        if st.spent_usd >= st.limit_usd {
            let name = match &b.scope {
                BudgetScope::All => format!("the {} budget", b.period.adjective()),
                s => format!("the {} budget for {}", b.period.adjective(), s.describe()),
            };
            return Ok(Some(format!(
                "tokwatch guard: {name} of {} is used up ({} spent {}), a hard cap.{} `tokwatch budget set AMOUNT --{} ...` raises it.",
                usd(st.limit_usd),
                usd(st.spent_usd),
                b.period.this(),
                allow(session),
                b.period.adjective()
            )));
        }
    }
    Ok(None)
}

fn caps_summary(app: &App) -> anyhow::Result<Vec<String>> {
    let settings = Settings::from_config(&app.config()?)?;
    let mut out = Vec::new();
    let store = Store::open_reader(&app.db).ok();
    let cap = match &store {
        Some(s) => session_cap(s, &settings)?,
        None => settings.guard_session_usd,
    };
    if let Some(c) = cap {
        out.push(format!("{} per session", usd(c)));
    }
    let budgets = match &store {
        Some(s) => settings.budgets(s)?,
        None => settings.config_budgets.clone(),
    };
    for b in budgets.into_iter().filter(|b| b.hard) {
        out.push(format!(
            "{} per {} for {} ({})",
            usd(b.limit_usd),
            b.period.as_str(),
            b.scope.describe(),
            b.id
        ));
    }
    Ok(out)
}

fn status(app: &App) -> anyhow::Result<i32> {
    let user = user_settings(app);
    let project = std::env::current_dir()
        .map(|d| d.join(".claude").join("settings.json"))
        .ok();
    for (what, p) in [("user", Some(user)), ("project", project)] {
        let Some(p) = p else { continue };
        println!(
            "{what} settings {}: {}",
            p.display(),
            if is_installed(&p) {
                "guard installed"
            } else {
                "not installed"
            }
        );
    }
    let settings = Settings::from_config(&app.config()?)?;
    let store = Store::open_reader(&app.db)?;
    let mut any = false;
    if let Some(cap) = session_cap(&store, &settings)? {
        any = true;
        let latest = store.latest_session(crate::parser::claude::TOOL)?;
        match latest {
            Some((s, _)) => {
                let c = store.cost(Scope::Session(&s))?;
                println!(
                    "session cap {}: the latest Claude Code session {s} has cost {}{}",
                    usd(cap),
                    usd(c.usd),
                    if c.usd >= cap { " (used up)" } else { "" }
                );
            }
            None => println!("session cap {}: no Claude Code session yet", usd(cap)),
        }
    }
    let now = now_ms();
    for b in settings.budgets(&store)?.into_iter().filter(|b| b.hard) {
        any = true;
        let st = budget_status(&store, &settings, &b, now, false)?;
        println!(
            "hard cap {}: {} of {} {} for {}{}",
            b.id,
            usd(st.spent_usd),
            usd(st.limit_usd),
            b.period.this(),
            b.scope.describe(),
            if st.spent_usd >= st.limit_usd {
                " (used up)"
            } else {
                ""
            }
        );
    }
    if !any {
        println!("No caps: `tokwatch budget set 20 --daily --hard` or `tokwatch guard cap --session 10`.");
    }
    Ok(super::EXIT_OK)
}

/// JSON with object keys in the order of the file (serde_json's own map sorts them, which
/// would reorder a user's settings file).
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(s: &str) -> Result<Json, String> {
        serde_json::from_str(s).map_err(|e| format!("line {}, column {}", e.line(), e.column()))
    }
    fn get(&self, k: &str) -> Option<&Json> {
        match self {
            Json::Obj(e) => e.iter().find(|(key, _)| key == k).map(|(_, v)| v),
            _ => None,
        }
    }
    fn get_mut(&mut self, k: &str) -> Option<&mut Json> {
        match self {
            Json::Obj(e) => e.iter_mut().find(|(key, _)| key == k).map(|(_, v)| v),
            _ => None,
        }
    }
    /// The value at `k` of an object, inserted at the end when missing.
    fn entry(&mut self, k: &str, default: Json) -> &mut Json {
        let Json::Obj(e) = self else {
            unreachable!("entry() is only called on objects");
        };
        let i = match e.iter().position(|(key, _)| key == k) {
            Some(i) => i,
            None => {
                e.push((k.to_string(), default));
                e.len() - 1
            }
        };
        &mut e[i].1
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Num(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(v)
                    .map(Json::Num)
                    .ok_or_else(|| E::custom("not a JSON number"))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Json::Arr(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry()? {
                    v.push((k, x));
                }
                Ok(Json::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Num(n) => n.serialize(s),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(v) => {
                let mut q = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    q.serialize_element(x)?;
                }
                q.end()
            }
            Json::Obj(v) => {
                let mut m = s.serialize_map(Some(v.len()))?;
                for (k, x) in v {
                    m.serialize_entry(k, x)?;
                }
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_merges_keeps_order_and_uninstall_restores() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.json");
        let original = r#"{
  "model": "opus",
  "statusLine": {"type": "command", "command": "tokwatch statusline"},
  "hooks": {
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "my-check"}]}]
  },
  "permissions": {"allow": ["Bash(ls:*)"]}
}"#;
        std::fs::write(&p, original).unwrap();
        assert!(install(&p, "/bin/tokwatch guard check").unwrap());
        let text = std::fs::read_to_string(&p).unwrap();
        let keys: Vec<usize> = [
            "\"model\"",
            "\"statusLine\"",
            "\"hooks\"",
            "\"permissions\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "order kept: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["hooks"]["PreToolUse"][0]["hooks"][0]["command"],
            "my-check"
        );
        assert_eq!(
            v["hooks"]["PreToolUse"][1]["hooks"][0]["command"],
            "/bin/tokwatch guard check"
        );
        assert_eq!(v["hooks"]["PreToolUse"][1]["matcher"], "*");
        assert_eq!(
            v["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"],
            "/bin/tokwatch guard check"
        );
        assert!(
            !install(&p, "/bin/tokwatch guard check").unwrap(),
            "idempotent"
        );
        assert!(is_installed(&p));
        assert!(uninstall(&p).unwrap());
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(original).unwrap()
        );
        assert!(!uninstall(&p).unwrap());

        std::fs::write(&p, "{ not json").unwrap();
        let e = install(&p, "x guard check").unwrap_err().to_string();
        assert!(
            e.contains("not valid JSON") && e.contains("nothing was changed"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{ not json");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/usr/bin/tokwatch"), "/usr/bin/tokwatch");
        assert_eq!(shell_quote("/home/a b/tokwatch"), "'/home/a b/tokwatch'");
        assert_eq!(shell_quote("/it's"), "'/it'\\''s'");
    }
}
