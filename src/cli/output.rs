//! Text output: money, token counts, tables; colour only on a terminal and without NO_COLOR.

use crate::store::query::{GroupBy, Report, Sums};
use std::io::IsTerminal;

/// Colour only on a terminal, and never with `NO_COLOR` set.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Bold text (when colour is on).
pub fn bold(s: &str) -> String {
    if color_enabled() {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Dim text (when colour is on).
pub fn dim(s: &str) -> String {
    if color_enabled() {
        format!("\x1b[2m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

pub use crate::format::{int, usd as money};

/// Money with the marker that says the figure is a lower bound (unpriced usage inside);
/// `unpriced` when nothing in it has a price.
pub fn money_marked(s: &Sums) -> String {
    if s.has_unpriced && s.cost_usd == 0.0 && s.unpriced_requests == s.requests {
        "unpriced".into()
    } else {
        crate::format::usd_marked(s.cost_usd, s.has_unpriced)
    }
}

/// Renders rows as an aligned table: the first `text` columns (names) left-aligned, the rest
/// (numbers) right-aligned.
pub fn table_with(header: &[&str], rows: &[Vec<String>], text: usize) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    // Wider than the terminal: shorten the widest name column (names end in `…`, dates are
    // kept whole) down to a readable minimum, then leave out the cache columns (said below the
    // table); the other numbers are never cut.
    let cols = terminal_width();
    let mut keep: Vec<usize> = (0..n).collect();
    let mut shorten = w.clone();
    let mut left_out: Vec<&str> = Vec::new();
    if let Some(cols) = cols {
        let total = |w: &[usize], keep: &[usize]| {
            keep.iter().map(|&i| w[i]).sum::<usize>() + 2 * keep.len().saturating_sub(1)
        };
        while total(&shorten, &keep) > cols {
            let Some(i) = (0..text.min(n))
                .filter(|&i| shorten[i] > 12 && header[i] != "first used")
                .max_by_key(|&i| shorten[i])
            else {
                break;
            };
            shorten[i] -= 1;
        }
        for name in ["cache write", "cache read", CTX_COLUMN, "first used"] {
            if total(&shorten, &keep) <= cols {
                break;
            }
            if let Some(i) = header.iter().position(|h| *h == name) {
                keep.retain(|&k| k != i);
                left_out.push(name);
            }
        }
    }
    let cut = |i: usize, c: &String| -> String {
        if i < text && c.chars().count() > shorten[i] {
            let mut s: String = c.chars().take(shorten[i].saturating_sub(1)).collect();
            s.push('…');
            s
        } else {
            c.clone()
        }
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            keep.iter()
                .filter_map(|&i| r.get(i).map(|c| cut(i, c)))
                .collect()
        })
        .collect();
    let rows = &rows;
    let header: Vec<&str> = keep.iter().map(|&i| header[i]).collect();
    let w: Vec<usize> = keep.iter().map(|&i| shorten[i]).collect();
    let text = keep.iter().filter(|&&i| i < text).count();
    let n = keep.len();
    let fmt = |cells: Vec<String>| -> String {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i].saturating_sub(c.chars().count());
            if i < text {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
        }
        line.trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&bold(&fmt(header.iter().map(|s| s.to_string()).collect())));
    out.push('\n');
    let total_rows = rows.len();
    for (i, r) in rows.iter().enumerate() {
        if i + 1 == total_rows && r.first().is_some_and(|c| c == "TOTAL") {
            out.push_str(&dim(&"-".repeat(w.iter().sum::<usize>() + 2 * (n - 1))));
            out.push('\n');
        }
        out.push_str(&fmt(r.clone()));
        out.push('\n');
    }
    if !left_out.is_empty() {
        out.push_str(&dim(&format!(
            "({} left out to fit the terminal: a wider one, or --json, shows them)\n",
            left_out.join(", ")
        )));
    }
    out
}

/// The terminal's width: `COLUMNS` when set, else the width of the terminal standard output
/// is; `None` when printing to a pipe or file (nothing is shortened there).
pub fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(c);
    }
    #[cfg(unix)]
    {
        if !std::io::stdout().is_terminal() {
            return None;
        }
        // SAFETY: TIOCGWINSZ writes one `winsize` into `ws`, which outlives the call.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
        if ok && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    None
}

/// [`table_with`] with one text column.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    table_with(header, rows, 1)
}

fn sums_cells(s: &Sums) -> Vec<String> {
    vec![
        int(s.requests),
        int(s.input),
        int(s.cache_write_5m + s.cache_write_1h),
        int(s.cache_read),
        int(s.output),
        money_marked(s),
    ]
}

/// The human form of a report.
pub fn report_text(r: &Report, key_title: &str) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    // Session rows say when the session was used (a session id alone has no date).
    let dated = r.rows.iter().any(|x| x.first_seen.is_some());
    for row in &r.rows {
        let mut cells = vec![row.key.clone()];
        if dated {
            cells.push(row.first_seen.clone().unwrap_or_default());
        }
        let extra = match (&row.tool, &row.repo) {
            (Some(t), Some(repo)) => vec![t.clone(), repo.clone()],
            (Some(t), None) => vec![t.clone(), String::new()],
            _ => vec![],
        };
        cells.extend(extra);
        cells.extend(sums_cells(&row.sums));
        if let Some(a) = &row.ctx_avg {
            cells.push(ctx_cell(a.as_ref(), row.sums.requests));
        }
        rows.push(cells);
    }
    // Session rows with their average split (`Store::session_ctx_averages`): a last column,
    // its cells padded to one width so that they read left-aligned.
    let with_ctx = r.rows.iter().any(|x| x.ctx_avg.is_some());
    if with_ctx {
        let w = rows
            .iter()
            .filter_map(|c| c.last())
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0);
        for c in rows.iter_mut().filter_map(|c| c.last_mut()) {
            let pad = w - c.chars().count();
            c.push_str(&" ".repeat(pad));
        }
    }
    let with_extra = r.rows.iter().any(|x| x.tool.is_some());
    let mut header = vec![key_title];
    if dated {
        header.push("first used");
    }
    if with_extra {
        header.extend(["tool", "repo"]);
    }
    header.extend([
        "requests",
        "input",
        "cache write",
        "cache read",
        "output",
        "cost",
    ]);
    if with_ctx {
        header.push(CTX_COLUMN);
    }
    let mut total = vec!["TOTAL".to_string()];
    if dated {
        total.push(String::new());
    }
    if with_extra {
        total.extend([String::new(), String::new()]);
    }
    total.extend(sums_cells(&r.totals));
    rows.push(total);
    let text = 1 + dated as usize + if with_extra { 2 } else { 0 };
    let mut out = table_with(&header, &rows, text);
    out.push_str(&footnotes(r));
    if with_ctx && r.rows.iter().any(|x| matches!(x.ctx_avg, Some(Some(_)))) {
        out.push_str(&dim(
            "~ context split: estimated from the logs, the average per request over the requests that have one (\"(n of m)\" when not all do); `tokwatch session ID` shows each request\n",
        ));
    }
    out
}

/// The header of the average split column of session rows.
pub const CTX_COLUMN: &str = "context split (estimated avg)";

/// A session row's average split: its three largest parts, and how many of its requests have
/// a split when not all do; `-` without any (never a 0%).
fn ctx_cell(a: Option<&crate::event::CtxAverage>, requests: i64) -> String {
    match a {
        None => "-".into(),
        Some(a) => {
            let mut s = crate::composition::average_words(a, 3);
            if a.requests_with < requests {
                s.push_str(&format!(" ({} of {requests})", a.requests_with));
            }
            s
        }
    }
}

/// Lines that explain what a total does and does not contain.
pub fn footnotes(r: &Report) -> String {
    let mut out = String::new();
    if r.totals.has_unpriced {
        out.push_str(&format!(
            "+ lower bound: {} without a known price (tokens counted, cost not):\n",
            crate::format::count(
                r.totals.unpriced_requests,
                "request uses a model",
                "requests use models"
            )
        ));
        for m in &r.unpriced_models {
            out.push_str(&format!(
                "    {}  {}, {}   (set a price with [prices.\"{}\"] in config.toml)\n",
                m.model,
                crate::format::count(m.requests, "request", "requests"),
                crate::format::count(m.tokens, "token", "tokens"),
                m.model
            ));
        }
    }
    if r.totals.reported_requests > 0 {
        out.push_str(&dim(&format!(
            "{} request(s) priced with the cost the tool itself reported\n",
            int(r.totals.reported_requests)
        )));
    }
    if r.totals.estimated_requests > 0 {
        out.push_str(&dim(&format!(
            "{} request(s) have estimated tokens (rounded or request counts only)\n",
            int(r.totals.estimated_requests)
        )));
    }
    // Only where the rows are days, weeks or months is the zone part of what is shown.
    if matches!(r.group, GroupBy::Day | GroupBy::Week | GroupBy::Month) {
        out.push_str(&dim(&format!("days in {}\n", r.tz)));
    }
    if let Some(at) = &r.prices_applied {
        out.push_str(&dim(&format!("prices last applied {at}\n")));
    }
    out
}

/// CSV form: one header line, then one line per row with the columns of the JSON rows (the
/// totals are the JSON's `totals`, not a row among the data: sum the rows).
pub fn report_csv(r: &Report) -> String {
    let extra = r.rows.iter().any(|x| x.tool.is_some());
    let dated = r.rows.iter().any(|x| x.first_seen.is_some());
    let mut out = String::from("key,");
    if dated {
        out.push_str("first_seen,last_seen,");
    }
    if extra {
        out.push_str("tool,repo,");
    }
    // Session rows' details (the dashboard's too): exact times in ms, models, branch.
    let details = r.rows.iter().any(|x| x.models.is_some());
    if details {
        out.push_str("first_ms,last_ms,models,branch,");
    }
    // Session rows' average split (estimated): `system=31099.6;tool_result.Read=28524.2`,
    // tokens per request with a split; empty for a session with none.
    let with_ctx = r.rows.iter().any(|x| x.ctx_avg.is_some());
    if with_ctx {
        out.push_str("ctx_avg,");
    }
    out.push_str(
        "requests,input,cache_write_5m,cache_write_1h,cache_read,output,reasoning,cost_usd,has_unpriced,unpriced_requests,estimated_requests,reported_requests\n",
    );
    for row in &r.rows {
        let s = &row.sums;
        out.push_str(&csv_field(&row.key));
        out.push(',');
        if dated {
            out.push_str(&format!(
                "{},{},",
                csv_field(row.first_seen.as_deref().unwrap_or("")),
                csv_field(row.last_seen.as_deref().unwrap_or(""))
            ));
        }
        if extra {
            out.push_str(&format!(
                "{},{},",
                csv_field(row.tool.as_deref().unwrap_or("")),
                csv_field(row.repo.as_deref().unwrap_or(""))
            ));
        }
        if details {
            let ms = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},",
                ms(row.first_ms),
                ms(row.last_request_ms),
                csv_field(&row.models.as_deref().unwrap_or_default().join(" ")),
                csv_field(row.branch.clone().flatten().as_deref().unwrap_or(""))
            ));
        }
        if with_ctx {
            let cell: Vec<String> = row
                .ctx_avg
                .iter()
                .flatten()
                .flat_map(|a| a.parts.iter())
                .map(|p| match &p.tool {
                    Some(t) => format!("{}.{t}={:.1}", p.kind.name(), p.avg_tokens),
                    None => format!("{}={:.1}", p.kind.name(), p.avg_tokens),
                })
                .collect();
            out.push_str(&csv_field(&cell.join(";")));
            out.push(',');
        }
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{:.6},{},{},{},{}\n",
            s.requests,
            s.input,
            s.cache_write_5m,
            s.cache_write_1h,
            s.cache_read,
            s.output,
            s.reasoning,
            s.cost_usd,
            s.has_unpriced,
            s.unpriced_requests,
            s.estimated_requests,
            s.reported_requests
        ));
    }
    out
}

/// One CSV field, quoted when it needs to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
