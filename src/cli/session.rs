//! `tokwatch session ID`: one session request by request, with what each request's context was
//! made of (estimated), where it grew most and what each kind of content cost.

use super::output;
use crate::app::App;
use crate::composition::{self, short, SessionComposition};
use crate::event::CtxKind;
use crate::format;
use crate::store::dashboard::{SessionLog, SessionRequest};
use crate::store::Store;
use anyhow::bail;

/// Runs the command.
pub fn run(app: &App, id: &str, json: bool) -> anyhow::Result<i32> {
    let store = Store::open_reader(&app.db)?;
    let id = resolve(&store, id)?;
    let Some(log) = store.session_log(&id)? else {
        let pruned = store.session_pruned_requests(&id)?;
        if pruned > 0 {
            bail!("session {id}: its {pruned} requests were pruned ([storage] keep_events_days): only their totals are kept (`tokwatch report session`)");
        }
        bail!("no session {id} is stored: `tokwatch report session` lists the sessions");
    };
    let config = app.config()?;
    let pricer = app.pricer(&config);
    let prompt_cost = |r: &SessionRequest| composition::prompt_cost(&pricer, r);
    let comp = composition::summarize(&log, &prompt_cost);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "session": id,
                "tool": log.tool,
                "repo": log.repo,
                "branch": log.branch,
                "requests": log.requests,
                "composition": comp,
            }))?
        );
        return Ok(super::EXIT_OK);
    }
    print!("{}", text(&id, &log, &comp));
    Ok(super::EXIT_OK)
}

/// A time in the local zone.
fn local(ms: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.with_timezone(&chrono::Local).format(fmt).to_string())
        .unwrap_or_default()
}

/// A full id from a unique prefix.
fn resolve(store: &Store, id: &str) -> anyhow::Result<String> {
    if id.is_empty() {
        bail!("give a session id: `tokwatch report session` lists them");
    }
    let found = store.sessions_with_prefix(id, 6)?;
    if found.iter().any(|s| s == id) {
        return Ok(id.to_string());
    }
    match found.len() {
        0 => bail!("no session starting with {id:?} is stored: `tokwatch report session` lists the sessions"),
        1 => Ok(found[0].clone()),
        _ => bail!(
            "{id:?} names several sessions ({}, ...): give more of the id",
            found[..found.len().min(3)].join(", ")
        ),
    }
}

fn split_words(r: &SessionRequest) -> String {
    let Some(c) = &r.ctx else {
        return "(not known)".into();
    };
    let total = c.total().max(1) as f64;
    let mut parts: Vec<(String, i64)> = c.parts.iter().map(|p| (p.label(), p.tokens)).collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.1));
    parts
        .iter()
        .take(3)
        .map(|(l, n)| format!("{} {:.0}%", short_label(l), *n as f64 * 100.0 / total))
        .collect::<Vec<_>>()
        .join(", ")
}

fn short_label(l: &str) -> String {
    match l {
        "system prompt and tools" => "system".into(),
        l => l
            .strip_prefix("tool result of ")
            .map(|t| format!("{t} result"))
            .unwrap_or_else(|| l.to_string()),
    }
}

fn text(id: &str, log: &SessionLog, comp: &SessionComposition) -> String {
    let mut out = String::new();
    let total: f64 = log.requests.iter().filter_map(|r| r.cost_usd).sum();
    let unpriced = log.requests.iter().any(|r| r.cost_usd.is_none());
    out.push_str(&output::bold(&format!(
        "Session {id} ({}{}{}): {}, {}",
        log.tool,
        log.repo
            .as_deref()
            .map(|r| format!(", {r}"))
            .unwrap_or_default(),
        log.branch
            .as_deref()
            .map(|b| format!(" @ {b}"))
            .unwrap_or_default(),
        format::count(
            log.requests.iter().map(|r| r.requests.max(1)).sum(),
            "request",
            "requests"
        ),
        format::usd_total(total, unpriced)
    )));
    out.push('\n');
    let mut rows = Vec::new();
    let mut cum = 0.0;
    let mut cum_unpriced = false;
    for r in &log.requests {
        match r.cost_usd {
            Some(c) => cum += c,
            None => cum_unpriced = true,
        }
        let t = local(r.ts_ms, "%m-%d %H:%M:%S");
        rows.push(vec![
            t,
            format!(
                "{}{}{}",
                r.model.as_deref().unwrap_or("(unknown)"),
                if r.sidechain { " (subagent)" } else { "" },
                if r.requests > 1 {
                    format!(" ({} requests)", r.requests)
                } else {
                    String::new()
                }
            ),
            short(r.prompt_total()),
            split_words(r),
            short(r.output),
            r.cost_usd
                .map(format::usd)
                .unwrap_or_else(|| "unpriced".into()),
            format::usd_total(cum, cum_unpriced),
        ]);
    }
    out.push_str(&output::table(
        &[
            "time",
            "model",
            "context",
            "split (estimated)",
            "output",
            "cost",
            "cumulative",
        ],
        &rows,
    ));
    if log.requests.iter().any(|r| r.requests > 1) {
        out.push_str("A row of several requests is one record of the tool's log (Copilot CLI counts tokens per session block): its context and split are those requests' inputs added up.\n");
    }
    if comp.requests_with == 0 {
        out.push_str("\nNo request of this session has a context split (its tool's log does not hold the messages, or tokwatch read it before it could split).\n");
        return out;
    }
    out.push('\n');
    out.push_str(&output::bold("Where the context grew most"));
    out.push('\n');
    for g in &comp.growth {
        let r = &log.requests[g.index];
        let t = local(r.ts_ms, "%H:%M:%S");
        out.push_str(&format!(
            "  {t}  request {:>4}  {:>7}  {}\n",
            g.index + 1,
            composition::signed_k(g.delta),
            composition::growth_words(g)
        ));
    }
    out.push('\n');
    out.push_str(&output::bold(
        "What each part cost over the session (estimated: its share of each request's input)",
    ));
    out.push('\n');
    let cat_rows: Vec<Vec<String>> = comp
        .categories
        .iter()
        .map(|c| {
            vec![
                c.label.clone(),
                short(c.avg_tokens.round() as i64),
                short(c.tokens),
                c.cost_usd
                    .map(format::usd)
                    .unwrap_or_else(|| "unpriced".into()),
            ]
        })
        .collect();
    out.push_str(&output::table(
        &["part", "avg per request", "all requests", "input cost"],
        &cat_rows,
    ));
    let sys = comp.categories.iter().find(|c| c.kind == CtxKind::System);
    if comp.requests_without > 0 {
        out.push_str(&format!(
            "{} without a split (a chain that starts in another file, e.g. a compaction call).\n",
            format::count(comp.requests_without as i64, "request", "requests")
        ));
    }
    if sys.is_some() {
        out.push_str("Sizes are estimated from text lengths and scaled to each request's exact input; \"system prompt and tools\" is what the log does not show.\n");
    }
    out
}
