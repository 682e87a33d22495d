//! Crush (charmbracelet/crush): `<project>/.crush/crush.db` (log-formats §8).
//!
//! What Crush keeps, and what that allows:
//! - `sessions.cost` is cumulative (USD, `cost += call cost` per API call): a usable total.
//! - `sessions.prompt_tokens` / `completion_tokens` are *overwritten* with the last call's
//!   numbers (context size), so per-call or total tokens cannot be recovered. No message row
//!   carries tokens either.
//!
//! So tokwatch emits **one event per top-level session**, keyed `crush:session:<id>`,
//! [`Merge::LastWins`] (the row grows in place; each re-read replaces the stored event):
//! - `reported_cost_usd` = `cost` when > 0 (0 means Crush had no price for the model, or
//!   nothing was spent: unknown, so no cost is claimed);
//! - tokens are left at 0 and the event is *not* marked estimated: there is no token estimate,
//!   the money figure is Crush's own;
//! - `requests` = the number of assistant messages of the session and of its sub-sessions
//!   (each assistant message is one model response);
//! - model/provider = those of the session's latest assistant message;
//! - timestamp = the session's `updated_at`, so cost that is accruing now shows up in today's
//!   live views; the whole session total is dated at its last activity (Crush keeps no
//!   per-call times for cost).
//!
//! Child sessions (`parent_session_id` set: agent/task sub-sessions) are **not** emitted on
//! their own: when a sub-agent finishes, Crush adds its cost to the parent session
//! (`updateParentSessionCost`: `parent.Cost += child.Cost`), and Crush's own statistics
//! likewise count only `parent_session_id IS NULL`. Emitting children would count their cost
//! twice. A change in a child re-emits its top-level session (its request count grows). A child
//! whose parent row no longer exists (the user deleted the parent; Crush does not cascade to
//! children) is not emitted either: the parent's stored event already holds its cost. Cost of a
//! sub-agent that is still running appears when it finishes.
//!
//! Re-reads: `sessions.updated_at` (set by a trigger on every update) is the watermark.

use super::sqlite_ro::{self, int_of, query_err, real_of, text_of, Watermark};
use super::{FileState, Format, ParseError, Parser, WholeReport};
use crate::event::{Merge, UsageEvent};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// Crush's per-project `crush.db`.
pub struct CrushParser;

/// Seconds: rows updated up to this long before the newest seen are looked at again.
const LAG_S: i64 = 300;

struct Sess {
    id: String,
    parent: Option<String>,
    cost: f64,
    updated: i64,
    cwd: Option<String>,
    /// Changes whenever the row's cost, message count or update time does.
    version: i64,
}

/// Crush writes Unix seconds; tolerate milliseconds.
fn to_ms(t: i64) -> i64 {
    if t.abs() >= 100_000_000_000 {
        t
    } else {
        t.saturating_mul(1000)
    }
}

impl Parser for CrushParser {
    fn tool(&self) -> &str {
        "crush"
    }
    fn format(&self) -> Format {
        Format::Sqlite
    }

    fn parse_whole(
        &self,
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        let mut report = WholeReport::default();
        let db = sqlite_ro::open_ro(path)?;
        if !db.table_exists("sessions") {
            let any = db
                .conn
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1",
                    [],
                    |_| Ok(()),
                )
                .is_ok();
            if any {
                report.bad("no sessions table (unknown schema)");
            }
            return Ok(report);
        }
        let scols = db.columns("sessions");
        for c in ["id", "cost", "updated_at"] {
            if !scols.contains(c) {
                report.bad(format!("sessions table lacks {c}"));
                return Ok(report);
            }
        }
        let col = |c: &str| {
            if scols.contains(c) {
                c.to_string()
            } else {
                "NULL".to_string()
            }
        };
        let mcols = db.columns("messages");
        let has_messages = mcols.contains("session_id") && mcols.contains("role");
        let project_dir = path
            .parent()
            .filter(|d| d.file_name().is_some_and(|n| n == ".crush"))
            .and_then(Path::parent)
            .map(|p| p.to_string_lossy().into_owned());

        let select = format!(
            "SELECT id, {}, cost, updated_at, {}, {} FROM sessions",
            col("parent_session_id"),
            col("workspace_cwd"),
            col("message_count")
        );
        let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Result<Sess, String>> {
            let id = text_of(r.get_ref(0)?).unwrap_or_default();
            let cost = real_of(r.get_ref(2)?);
            let updated = int_of(r.get_ref(3)?);
            let (Some(cost), Some(updated)) = (cost, updated) else {
                return Ok(Err("session row with a non-numeric cost or time".into()));
            };
            if id.is_empty() || cost < 0.0 {
                return Ok(Err(
                    "session row without an id or with a negative cost".into()
                ));
            }
            let count = int_of(r.get_ref(5)?).unwrap_or(0);
            let version =
                sqlite_ro::fnv(format!("{updated}/{}/{count}", cost.to_bits()).as_bytes());
            Ok(Ok(Sess {
                id,
                parent: text_of(r.get_ref(1)?).filter(|p| !p.is_empty()),
                cost,
                updated,
                cwd: text_of(r.get_ref(4)?).filter(|p| !p.is_empty()),
                version,
            }))
        };

        let mut wm = Watermark::load(state, "sessions", LAG_S);
        let changed: Vec<Result<Sess, String>> = {
            let mut st = db
                .conn
                .prepare(&format!("{select} WHERE updated_at >= ?1"))
                .map_err(|e| query_err("sessions", &e))?;
            let rows = st
                .query_map([wm.since()], read)
                .map_err(|e| query_err("sessions", &e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| query_err("sessions", &e))?
        };
        let by_id = |id: &str| -> Option<Sess> {
            db.conn
                .query_row(&format!("{select} WHERE id = ?1"), [id], read)
                .ok()
                .and_then(Result::ok)
        };

        // Top-level sessions to (re-)emit.
        let mut roots: BTreeSet<String> = BTreeSet::new();
        for s in changed {
            let s = match s {
                Ok(s) => s,
                Err(e) => {
                    report.bad(e);
                    continue;
                }
            };
            if !wm.is_new(&s.id, s.version) {
                continue;
            }
            wm.note(&s.id, s.updated, s.version);
            // Walk up to the top-level session (bounded: a cycle in bad data must not hang).
            let mut cur = s.id.clone();
            let mut parent = s.parent.clone();
            let mut visited = HashSet::from([cur.clone()]);
            let mut top = true;
            while let Some(p) = parent {
                if !visited.insert(p.clone()) || visited.len() > 64 {
                    top = false;
                    break;
                }
                match by_id(&p) {
                    Some(ps) => {
                        cur = ps.id;
                        parent = ps.parent;
                    }
                    None => {
                        // The parent was deleted: its cost (this child's included) was
                        // already counted while it existed, or is gone with it.
                        top = false;
                        break;
                    }
                }
            }
            if top {
                roots.insert(cur);
            }
        }

        for id in roots {
            let Some(s) = by_id(&id) else { continue };
            let (requests, model, provider) = if has_messages {
                session_messages(
                    &db.conn,
                    &id,
                    scols.contains("parent_session_id"),
                    mcols.contains("model"),
                    mcols.contains("provider"),
                )
                .map_err(|e| query_err("messages", &e))?
            } else {
                (0, None, None)
            };
            if s.cost <= 0.0 && requests == 0 {
                continue; // nothing used
            }
            let mut e = UsageEvent::new(
                "crush",
                format!("crush:session:{id}"),
                Merge::LastWins,
                to_ms(s.updated),
            );
            e.requests = requests;
            e.model = model;
            e.provider = provider;
            e.session_id = Some(id.clone());
            e.cwd = s.cwd.clone().or_else(|| project_dir.clone());
            e.reported_cost_usd = (s.cost > 0.0).then_some(s.cost);
            out.push(e);
        }
        wm.save(state, "sessions");
        Ok(report)
    }
}

/// Assistant messages of the session tree rooted at `id`, and the model/provider of the root's
/// latest assistant message (else of the tree's).
fn session_messages(
    conn: &rusqlite::Connection,
    id: &str,
    has_parent: bool,
    has_model: bool,
    has_provider: bool,
) -> rusqlite::Result<(i64, Option<String>, Option<String>)> {
    const TREE: &str = "WITH RECURSIVE tree(id) AS (
            SELECT ?1 UNION SELECT s.id FROM sessions s JOIN tree t ON s.parent_session_id = t.id)";
    let scope = if has_parent {
        format!("{TREE} SELECT {{}} FROM messages WHERE role = 'assistant' AND session_id IN (SELECT id FROM tree)")
    } else {
        "SELECT {} FROM messages WHERE role = 'assistant' AND session_id = ?1".to_string()
    };
    let requests: i64 = conn.query_row(&scope.replace("{}", "count(*)"), [id], |r| r.get(0))?;
    if !has_model {
        return Ok((requests, None, None));
    }
    let prov = if has_provider { "provider" } else { "NULL" };
    let pick = |sql: &str| -> rusqlite::Result<Option<(Option<String>, Option<String>)>> {
        match conn.query_row(sql, [id], |r| {
            Ok((text_of(r.get_ref(0)?), text_of(r.get_ref(1)?)))
        }) {
            Ok(x) => Ok(Some(x)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let own = format!(
        "SELECT model, {prov} FROM messages WHERE role = 'assistant' AND session_id = ?1 \
         AND model IS NOT NULL AND model != '' ORDER BY created_at DESC, rowid DESC LIMIT 1"
    );
    let mut found = pick(&own)?;
    if found.is_none() && has_parent {
        let tree = format!(
            "{} AND model IS NOT NULL AND model != '' ORDER BY created_at DESC, rowid DESC LIMIT 1",
            scope.replace("{}", &format!("model, {prov}"))
        );
        found = pick(&tree)?;
    }
    let (model, provider) = found.unwrap_or((None, None));
    Ok((
        requests,
        model.filter(|s| !s.is_empty()),
        provider.filter(|s| !s.is_empty()),
    ))
}
