//! Property tests (proptest, stable Rust) of every parser and of the config and spec loaders:
//! random bytes, real lines truncated and spliced, wrong JSON types, huge, negative and
//! overflowing token counts, deep nesting. None may panic; every event that would be stored has
//! non-negative token counts whose sums do not overflow (a count out of range makes the record
//! malformed: `tests/fuzz.rs` `out_of_range_counts_are_skipped_and_counted` shows the store
//! side); a line that is not JSON is refused (counted as malformed) or yields nothing.
//!
//! Bounded for CI: `PROPTEST_CASES` (default 64 per property here) keeps the whole file to a
//! few seconds. The longer run and the number of cases it tried are in `docs/fuzzing.md`.
//!
//! The real lines come from `fixtures/` (public sample logs, see `fixtures/PROVENANCE.md`).

mod util;

use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokwatch::event::UsageEvent;
use tokwatch::parser::{FileState, Format, Parser};
use tokwatch::registry::Registry;
use util::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        // Shrinking a failure is what we want to read; keep it short in CI.
        max_shrink_iters: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every real line of every sample log.
fn real_lines() -> &'static Vec<String> {
    static L: OnceLock<Vec<String>> = OnceLock::new();
    L.get_or_init(|| {
        let mut out = Vec::new();
        let mut files = Vec::new();
        fn walk(d: &Path, files: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, files);
                } else if p.extension().is_some_and(|x| x == "jsonl") {
                    files.push(p);
                }
            }
        }
        walk(&fixtures(), &mut files);
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // Long lines (whole tool outputs) are kept, but at most 200 per file.
            out.extend(text.lines().take(200).map(String::from));
        }
        assert!(out.len() > 100);
        out
    })
}

/// Every parser tokwatch has (built-in Rust parsers, built-in specs), once per tool and format.
fn parsers() -> &'static Vec<Arc<dyn Parser>> {
    static P: OnceLock<Vec<Arc<dyn Parser>>> = OnceLock::new();
    P.get_or_init(|| {
        let h = Home::new();
        let reg = Registry::load(&h.env());
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for s in &reg.sources {
            let key = (s.tool.clone(), s.format.clone());
            if !seen.contains(&key) {
                seen.push(key);
                out.push(s.parser.clone());
            }
        }
        assert!(out.len() >= 12, "{} parsers", out.len());
        out
    })
}

/// The events that would be stored (those with counts out of range are skipped and counted as
/// malformed by the ingestor: `UsageEvent::counts_in_range`) have non-negative token counts
/// that add up without overflow.
fn check_events(tool: &str, evs: &[UsageEvent]) -> Result<(), TestCaseError> {
    let mut total: i64 = 0;
    for e in evs.iter().filter(|e| e.counts_in_range()) {
        let t = &e.tokens;
        for (name, v) in [
            ("input", t.input),
            ("cache_write_5m", t.cache_write_5m),
            ("cache_write_1h", t.cache_write_1h),
            ("cache_read", t.cache_read),
            ("output", t.output),
            ("reasoning", t.reasoning),
            ("requests", e.requests),
        ] {
            prop_assert!(v >= 0, "{tool}: negative {name} {v}");
            total = total.checked_add(v).ok_or_else(|| {
                TestCaseError::fail(format!("{tool}: token sum overflows at {name} {v}"))
            })?;
        }
        if let Some(c) = e.reported_cost_usd {
            prop_assert!(c.is_finite() && c >= 0.0, "{tool}: cost {c}");
        }
    }
    Ok(())
}

/// Feeds `lines` to every line parser (one file state per parser, as a file would), and the
/// joined bytes as a file to every whole-file and SQLite parser.
fn feed(lines: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let joined: Vec<u8> = lines.join(&b'\n');
    for p in parsers() {
        let mut st = FileState::default();
        let mut evs = Vec::new();
        match p.format() {
            Format::Lines => {
                let path = dir.path().join("log.jsonl");
                for l in lines {
                    let before = evs.len();
                    let r = p.parse_line(l, &path, &mut st, &mut evs);
                    if serde_json::from_slice::<Value>(l).is_err() && r.is_ok() {
                        // Not JSON: either refused (and counted) or nothing taken from it.
                        let took = evs.len() - before;
                        prop_assert!(
                            took == 0 || p.tool() == "aider",
                            "{}: {took} events from a line that is not JSON",
                            p.tool()
                        );
                    }
                }
            }
            Format::WholeFile | Format::Sqlite => {
                for name in ["log.json", "log.md", "log.db"] {
                    let path = dir.path().join(name);
                    std::fs::write(&path, &joined).unwrap();
                    let _ = p.parse_whole(&path, &mut st, &mut evs);
                }
            }
        }
        check_events(p.tool(), &evs)?;
    }
    Ok(())
}

/// A JSON value with one leaf (chosen by `pick`) replaced by `with`.
fn replace_leaf(v: &mut Value, pick: &mut u64, with: &Value) -> bool {
    match v {
        Value::Object(m) => m.values_mut().any(|x| replace_leaf(x, pick, with)),
        Value::Array(a) => a.iter_mut().any(|x| replace_leaf(x, pick, with)),
        leaf => {
            if *pick == 0 {
                *leaf = with.clone();
                true
            } else {
                *pick -= 1;
                false
            }
        }
    }
}

/// Token-count fields set to `with` wherever they appear.
fn set_counts(v: &mut Value, with: &Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let count = k.contains("token") || k.contains("input") || k.contains("output");
                if count && x.is_number() {
                    *x = with.clone(); // not walked into: `with` may hold counts itself
                } else {
                    set_counts(x, with);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| set_counts(x, with)),
        _ => {}
    }
}

fn weird_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(i64::MIN)),
        Just(serde_json::json!(i64::MAX)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!(-1e308)),
        Just(serde_json::json!(0.5)),
        Just(serde_json::json!("12")),
        Just(serde_json::json!("many")),
        Just(Value::Null),
        Just(serde_json::json!(true)),
        Just(serde_json::json!([1, 2])),
        Just(serde_json::json!({"input_tokens": 5})),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)) {
        feed(&lines)?;
    }

    #[test]
    fn real_lines_truncated_and_spliced(
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..6)
    ) {
        let real = real_lines();
        let lines: Vec<Vec<u8>> = picks
            .iter()
            .map(|(a, cut_a, b, cut_b)| {
                let (a, b) = (real[a.index(real.len())].as_bytes(), real[b.index(real.len())].as_bytes());
                let (i, j) = (cut_a.index(a.len() + 1), cut_b.index(b.len() + 1));
                // A prefix of one line and the suffix of another (a torn write, two writers).
                let mut l = a[..i].to_vec();
                l.extend_from_slice(&b[j..]);
                l
            })
            .collect();
        feed(&lines)?;
    }

    #[test]
    fn wrong_types_and_huge_negative_or_overflowing_counts(
        which in any::<prop::sample::Index>(),
        leaf in any::<u64>(),
        with in weird_value(),
        counts in weird_value(),
        repeat in 1usize..4,
    ) {
        let real = real_lines();
        let mut v: Value = match serde_json::from_str(&real[which.index(real.len())]) {
            Ok(v) => v,
            Err(_) => return Ok(()),
        };
        let mut pick = leaf % 64;
        replace_leaf(&mut v, &mut pick, &with);
        set_counts(&mut v, &counts);
        // The same record several times: sums of huge counts must not overflow.
        let line = serde_json::to_vec(&v).unwrap();
        feed(&vec![line; repeat])?;
    }

    #[test]
    fn deep_nesting(depth in 1usize..4000, open in prop_oneof![Just(b'['), Just(b'{')]) {
        let mut l = Vec::new();
        for _ in 0..depth {
            if open == b'{' {
                l.extend_from_slice(br#"{"message":"#);
            } else {
                l.push(b'[');
            }
        }
        l.extend_from_slice(b"1");
        for _ in 0..depth {
            l.push(if open == b'{' { b'}' } else { b']' });
        }
        feed(&[l])?;
    }

    #[test]
    fn config_loader_never_panics(text in "[ -~\n\\[\\]=\"]{0,400}", prefix in prop_oneof![
        Just(String::new()),
        Just("[prices.\"m\"]\n".to_string()),
        Just("[[budget]]\n".to_string()),
        Just("[alerts]\n".to_string()),
        Just("[sync]\n".to_string()),
        Just("[exporters.prometheus]\n".to_string()),
    ]) {
        let h = Home::new();
        let dir = h.dir.path().join("config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), format!("{prefix}{text}")).unwrap();
        let _ = tokwatch::config::Config::load(&h.env());
    }

    #[test]
    fn spec_loader_never_panics(text in "[ -~\n\\[\\]=\"]{0,400}", prefix in prop_oneof![
        Just(String::new()),
        Just("tool = \"x\"\nformat = \"jsonl\"\n".to_string()),
        Just("tool = \"x\"\nformat = \"regex\"\n[match]\n".to_string()),
        Just(std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("parsers/qwen-code.toml")).unwrap()),
    ]) {
        if let Ok(spec) = tokwatch::parser::spec::Spec::parse(&format!("{prefix}{text}"), "fuzz.toml") {
            // A spec that loads parses real lines without panicking either.
            let p: Arc<dyn Parser> = spec.parser.clone();
            let mut st = FileState::default();
            let mut evs = Vec::new();
            for l in real_lines().iter().take(50) {
                let _ = p.parse_line(l.as_bytes(), Path::new("x.jsonl"), &mut st, &mut evs);
            }
            check_events("spec", &evs)?;
        }
    }
}

/// The store side of the overflow property: a record with a count no request can have is
/// skipped and counted as malformed, the good records around it are kept, totals stay exact.
#[test]
fn out_of_range_counts_are_skipped_and_counted() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let line = |req: &str, out: &str| {
        format!(
            r#"{{"type":"assistant","sessionId":"s1","requestId":"{req}","timestamp":"2026-02-12T14:12:01.177Z","message":{{"model":"claude-opus-4-6","id":"m_{req}","usage":{{"input_tokens":3,"cache_read_input_tokens":10,"output_tokens":{out}}}}}}}"#
        )
    };
    let text = [
        line("r1", "9"),
        line("r2", &i64::MAX.to_string()),
        line("r3", &i64::MAX.to_string()),
        line("r4", "-5"),
        line("r5", "1"),
    ]
    .join("\n")
        + "\n";
    std::fs::write(dir.join("a.jsonl"), text).unwrap();
    let st = h.scan();
    let s = h.tool("claude-code");
    // r4's negative count is read as 0 by the Claude Code parser: kept, adds nothing.
    assert_eq!((s.requests, s.output), (3, 10), "{st:?}");
    assert_eq!(st.malformed, 2, "the huge records are counted: {st:?}");
    let o = h.cmd().args(["report", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["totals"]["output"], 10, "{v}");
}
