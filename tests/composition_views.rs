//! The views of context composition beyond `tokwatch session` (issue 14): the average split per
//! session row of `report session` (text and `--json`) and the per-part input cost of
//! `/api/session`, on the real Claude Code sample (`fixtures/claude-code/projects`), the Codex
//! samples and an Aider chat (no split). Every expected figure is computed here from the stored rows and the
//! published rates, not by tokwatch's own code.

mod util;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;
use util::*;

const SESSION: &str = "258c7280-ae70-4798-800f-63464d01a85d";
const SINCE: &str = "2026-02-01";
const UNTIL: &str = "2026-04-30";

fn home() -> Home {
    let h = Home::new();
    h.copy_samples(usize::MAX);
    // An Aider chat history (built from the documented format, `tests/parsers_aider.rs`):
    // Aider's usage lines come without the messages of the request, so its session has no split.
    std::fs::write(
        h.home().join(".aider.chat.history.md"),
        "\n# aider chat started at 2026-04-20 11:42:10\n\n#### elided  \n\n\
         > Tokens: 12k sent, 512 received. Cost: $0.02 message, $0.02 session.  \n",
    )
    .unwrap();
    h
}

fn run(h: &Home, args: &[&str]) -> String {
    let o = h.cmd().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

type Key = (String, Option<String>);

/// The stored splits of a session that add up to their request's input total, parsed here:
/// (requests with one, requests in all, tokens per (kind, tool)).
fn stored_splits(h: &Home, session: &str) -> (i64, i64, BTreeMap<Key, i64>) {
    let db = sql(&h.db());
    let mut st = db
        .prepare("SELECT ctx, input + cw5 + cw1h + cr FROM events WHERE session = ?1")
        .unwrap();
    let rows: Vec<(Option<String>, i64)> = st
        .query_map([session], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let kind = |c: &str| match c {
        "s" => "system",
        "u" => "user",
        "a" => "assistant",
        "k" => "thinking",
        "c" => "tool_call",
        "r" => "tool_result",
        "i" => "image",
        "m" => "summary",
        o => panic!("unknown kind code {o}"),
    };
    let (mut with, mut sums) = (0, BTreeMap::new());
    for (ctx, total) in &rows {
        let Some(ctx) = ctx else { continue };
        let mut parts = Vec::new();
        for item in ctx.split(';').filter(|i| !i.is_empty()) {
            let (head, n) = item.rsplit_once('=').unwrap();
            let (code, tool) = match head.split_once('.') {
                Some((c, t)) => (c, Some(t.to_string())),
                None => (head, None),
            };
            parts.push(((kind(code).to_string(), tool), n.parse::<i64>().unwrap()));
        }
        if parts.iter().map(|p| p.1).sum::<i64>() != *total {
            continue;
        }
        with += 1;
        for (k, n) in parts {
            *sums.entry(k).or_insert(0) += n;
        }
    }
    (with, rows.len() as i64, sums)
}

#[test]
fn report_session_shows_the_average_split_of_each_session() {
    let h = home();
    h.scan();
    let j: Value = serde_json::from_str(&run(
        &h,
        &[
            "report", "session", "--since", SINCE, "--until", UNTIL, "--json",
        ],
    ))
    .unwrap();
    let rows = j["rows"].as_array().unwrap();
    let row = rows.iter().find(|r| r["key"] == SESSION).unwrap();
    let (with, all, sums) = stored_splits(&h, SESSION);
    // Known from the sample: every request but the compaction call has a split.
    assert_eq!((with, all), (155, 156));
    assert_eq!(row["requests"], 156);
    let avg = &row["ctx_avg"];
    assert_eq!(avg["estimated"], true);
    assert_eq!(avg["requests_with"], 155);
    let parts = avg["parts"].as_array().unwrap();
    assert_eq!(parts.len(), sums.len(), "{avg}");
    for p in parts {
        let k = (
            p["kind"].as_str().unwrap().to_string(),
            p["tool"].as_str().map(str::to_string),
        );
        let want = sums[&k] as f64 / with as f64;
        let got = p["avg_tokens"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{k:?}: {got} != {want}");
    }
    // Largest first.
    let avgs: Vec<f64> = parts
        .iter()
        .map(|p| p["avg_tokens"].as_f64().unwrap())
        .collect();
    assert!(avgs.windows(2).all(|w| w[0] >= w[1]), "{avgs:?}");
    // Codex sessions have splits too, one per stored split.
    let codex: Vec<&Value> = rows.iter().filter(|r| r["tool"] == "codex").collect();
    assert!(!codex.is_empty());
    for r in &codex {
        let (with, _, _) = stored_splits(&h, r["key"].as_str().unwrap());
        assert_eq!(r["ctx_avg"]["requests_with"], with, "{r}");
    }
    // A session of a tool without a split (Aider): null, never a made-up 0%.
    let none: Vec<&Value> = rows.iter().filter(|r| r["tool"] == "aider").collect();
    assert!(!none.is_empty(), "{rows:?}");
    for r in &none {
        assert!(r["ctx_avg"].is_null(), "{r}");
        assert!(r.get("ctx_avg").is_some(), "{r}");
    }

    // The text table: the three largest parts as shares of the average, marked estimated, with
    // how many requests have a split; "-" for the Aider session.
    let text = run(
        &h,
        &["report", "session", "--since", SINCE, "--until", UNTIL],
    );
    assert!(text.contains("context split (estimated avg)"), "{text}");
    let total: f64 = sums.values().sum::<i64>() as f64 / with as f64;
    let mut top: Vec<(&Key, &i64)> = sums.iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    let name = |k: &Key| match (k.0.as_str(), &k.1) {
        ("tool_result", Some(t)) => t.clone(),
        ("tool_call", _) => "calls".into(),
        (o, _) => o.to_string(),
    };
    let words: Vec<String> = top[..3]
        .iter()
        .map(|(k, n)| {
            let share = **n as f64 / with as f64 * 100.0 / total;
            format!("{} {share:.0}%", name(k))
        })
        .collect();
    let want = format!("~ {} (155 of 156)", words.join(" · "));
    let line = text.lines().find(|l| l.starts_with(SESSION)).unwrap();
    assert!(line.contains(&want), "{line}\nwant {want}");
    for r in &none {
        let key = r["key"].as_str().unwrap();
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        assert!(line.trim_end().ends_with('-'), "{line}");
        assert!(!line.contains('%'), "{line}");
    }
    assert!(text.contains("~ context split: estimated"), "{text}");
}

/// Rates in USD per million tokens of a model, from `tokwatch prices MODEL --json`, in the
/// period that holds February 2026; the sample's prompts stay under the 200k tier.
fn rates(h: &Home, model: &str) -> (f64, f64, f64, f64, f64) {
    let p: Value = serde_json::from_str(&run(h, &["prices", model, "--json"])).unwrap();
    let r = p["periods"]
        .as_array()
        .and_then(|ps| {
            ps.iter().find(|x| {
                x["from"].as_str().is_none_or(|f| f <= "2026-02-01")
                    && x["until"].as_str().is_none_or(|u| u > "2026-02-28")
            })
        })
        .map(|x| &x["rates"])
        .unwrap_or(&p["rates"]);
    let f = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("{model}: no {k} in {p}"))
    };
    (
        f("input"),
        f("cache_write_5m"),
        f("cache_write_1h"),
        f("cache_read"),
        f("output"),
    )
}

/// `GET path`: its status and JSON body.
fn get(port: u16, path: &str) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn api_session_shares_the_input_cost_out_by_part_and_the_parts_add_up() {
    let h = home();
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(20), || {
        d.log_text().contains("dashboard at")
    })
    .unwrap_or_else(|| panic!("no dashboard: {}", d.log_text()));
    let port: u16 = std::fs::read_to_string(tokwatch::dashboard::port_file(&h.db()))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let path = format!("/api/session?id={SESSION}");
    let mut s = Value::Null;
    wait_until(Duration::from_secs(30), || {
        let (status, v) = get(port, &path);
        s = v;
        status == 200 && s["requests"].as_array().is_some_and(|r| r.len() == 156)
    })
    .unwrap_or_else(|| panic!("the daemon did not read the sample: {s}"));
    let reqs = s["requests"].as_array().unwrap();
    let comp = &s["composition"];
    assert_eq!(comp["estimated"], true);
    assert_eq!(comp["requests_with"], 155);
    assert_eq!(comp["requests_without"], 1);

    // The session's input cost, from the published rates: each request with a split, priced
    // without its output. Its output priced the same way gives back its stored cost, so the
    // rates are the ones tokwatch used.
    let mut input_cost = 0.0;
    let mut rate_of: BTreeMap<String, (f64, f64, f64, f64, f64)> = BTreeMap::new();
    for r in reqs {
        assert_eq!(r["cost_source"], "computed", "{r}");
        let model = r["model"].as_str().unwrap().to_string();
        let (ri, r5, r1, rc, ro) = *rate_of
            .entry(model.clone())
            .or_insert_with(|| rates(&h, &model));
        let n = |k: &str| r[k].as_i64().unwrap() as f64;
        let prompt = n("input") + n("cache_write_5m") + n("cache_write_1h") + n("cache_read");
        assert!(prompt < 200_000.0, "{r}");
        let inp = (n("input") * ri
            + n("cache_write_5m") * r5
            + n("cache_write_1h") * r1
            + n("cache_read") * rc)
            / 1e6;
        let full = inp + n("output") * ro / 1e6;
        let stored = r["cost_usd"].as_f64().unwrap();
        assert!((full - stored).abs() < 1e-6, "{model}: {full} != {stored}");
        if !r["ctx"].is_null() {
            input_cost += inp;
        }
    }
    let api_input = comp["input_cost_usd"].as_f64().unwrap();
    assert!(
        (api_input - input_cost).abs() < 1e-6,
        "{api_input} != {input_cost}"
    );
    let cats = comp["categories"].as_array().unwrap();
    let sum: f64 = cats.iter().map(|c| c["cost_usd"].as_f64().unwrap()).sum();
    assert!(
        (sum - input_cost).abs() < 1e-6,
        "the parts add up to {sum}, the input cost is {input_cost}"
    );
    // The input is most of the session's cost (cache reads of a long session), and the parts
    // are the same as `tokwatch session --json` says.
    let total = s["totals"]["cost_usd"].as_f64().unwrap();
    assert!(
        input_cost < total && input_cost > total / 2.0,
        "{input_cost} of {total}"
    );
    let cli: Value = serde_json::from_str(&run(&h, &["session", SESSION, "--json"])).unwrap();
    assert_eq!(cli["composition"]["categories"], comp["categories"]);
    assert_eq!(cli["composition"]["input_cost_usd"], comp["input_cost_usd"]);
}
