//! Stored requests one by one, for pricing the same tokens at another model's rates
//! (`tokwatch report --as MODEL`).

use super::query::Filter;
use super::Store;
use crate::event::Tokens;
use rusqlite::types::Value;

/// One stored request, as the "what it would have cost" report needs it.
#[derive(Debug, Clone, Default)]
pub struct EventRow {
    /// Time, ms.
    pub ts_ms: i64,
    /// Tool id.
    pub tool: String,
    /// Repository display name.
    pub repo: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Model as logged.
    pub model: Option<String>,
    /// Session.
    pub session: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// The machine that recorded it (`None`: this machine, before machines were recorded).
    pub machine: Option<String>,
    /// Tokens.
    pub tokens: Tokens,
    /// Requests it stands for.
    pub requests: i64,
}

impl Store {
    /// Calls `f` with every stored request the filter covers (a full pass over `events`).
    pub fn for_each_event(
        &self,
        filter: &Filter,
        f: &mut dyn FnMut(&EventRow),
    ) -> anyhow::Result<()> {
        let mut args: Vec<Value> = Vec::new();
        let mut w = vec!["1".to_string()];
        if let Some(s) = filter.since_ms {
            args.push(Value::Integer(s));
            w.push(format!("e.ts >= ?{}", args.len()));
        }
        if let Some(u) = filter.until_ms {
            args.push(Value::Integer(u));
            w.push(format!("e.ts < ?{}", args.len()));
        }
        if let Some(t) = &filter.tool {
            args.push(Value::Text(t.clone()));
            w.push(format!("e.tool = ?{}", args.len()));
        }
        if let Some(s) = &filter.session {
            args.push(Value::Text(s.clone()));
            w.push(format!("e.session = ?{}", args.len()));
        }
        if let Some(r) = &filter.repo {
            args.push(Value::Text(r.clone()));
            let n = args.len();
            w.push(format!(
                "e.workspace_id IN (SELECT id FROM workspaces WHERE key = ?{n} OR name = ?{n} OR root = ?{n})"
            ));
        }
        if let Some(m) = &filter.machine {
            args.push(Value::Text(m.clone()));
            w.push(format!(
                "e.machine_id IN (SELECT id FROM machines WHERE {})",
                super::export::machine_match(args.len())
            ));
        }
        let sql = format!(
            "SELECT e.ts, e.tool, w.name, e.branch, e.model, e.session, e.input, e.cw5, e.cw1h,
                    e.cr, e.output, e.reasoning, e.requests, m.name, e.provider
             FROM events e LEFT JOIN workspaces w ON w.id = e.workspace_id
             LEFT JOIN machines m ON m.id = e.machine_id WHERE {}",
            w.join(" AND ")
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(r) = rows.next()? {
            f(&EventRow {
                ts_ms: r.get(0)?,
                tool: r.get(1)?,
                repo: r.get(2)?,
                branch: r.get(3)?,
                model: r.get(4)?,
                session: r.get(5)?,
                tokens: Tokens {
                    input: r.get(6)?,
                    cache_write_5m: r.get(7)?,
                    cache_write_1h: r.get(8)?,
                    cache_read: r.get(9)?,
                    output: r.get(10)?,
                    reasoning: r.get(11)?,
                },
                requests: r.get(12)?,
                machine: r.get(13)?,
                provider: r.get(14)?,
            });
        }
        Ok(())
    }
}
