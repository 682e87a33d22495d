//! Aider. No public sample of `.aider.chat.history.md` with usage lines exists in fixtures/: the
//! history below is built from the documented format (log-formats §9 and aider's
//! `calculate_and_show_tokens_and_cost`: `> Tokens: … sent, … cache write, … cache hit, …
//! received. Cost: $… message, $… session.`, with `Cost:` on the next line when both cache parts
//! are present).

use chrono::TimeZone;
use std::collections::HashMap;
use std::path::Path;
use tokwatch::dedup::merge;
use tokwatch::env::Env;
use tokwatch::event::{Merge, UsageEvent};
use tokwatch::parser::aider::{self, AiderParser};
use tokwatch::parser::{FileState, Parser};
use tokwatch::registry::Registry;

const HISTORY: &str = "
# aider chat started at 2026-03-01 09:15:02

> /home/u/.local/bin/aider --model sonnet  
> Aider v0.86.1  
> Main model: anthropic/claude-sonnet-4-5-20250929 with diff edit format, infinite output  
> Weak model: anthropic/claude-3-5-haiku-20241022  
> Git repo: .git with 120 files  

#### add a --verbose flag  

Sure, here is the change.

> Tokens: 12k sent, 3.1k cache write, 8.2k cache hit, 512 received.
Cost: $0.02 message, $0.02 session.  
> Applied edit to cli.py  

#### now the tests  

> Tokens: 2.5k sent, 120 received. Cost: $0.0093 message, $0.03 session.  

> Tokens: 1x sent, 12 received. Cost: $0.01 message, $0.04 session.  

# aider chat started at 2026-03-02 18:00:00

> Main model: deepseek/deepseek-chat with diff edit format  

> Tokens: 999 sent, 300 cache hit, 40 received.  
";

fn local(s: &str) -> i64 {
    let n = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
    chrono::Local
        .from_local_datetime(&n)
        .earliest()
        .unwrap()
        .timestamp_millis()
}

fn run(path: &Path, text: &str, st: &mut FileState) -> (Vec<UsageEvent>, u64) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.split('\n') {
        if AiderParser
            .parse_line(line.as_bytes(), path, st, &mut out)
            .is_err()
        {
            bad += 1;
        }
    }
    (out, bad)
}

#[test]
fn tokens_lines_become_estimated_events() {
    let path = Path::new("/home/u/proj/.aider.chat.history.md");
    let (events, bad) = run(path, HISTORY, &mut FileState::default());
    assert_eq!(bad, 1, "the line with a garbage number");
    // The first Tokens line is emitted twice: once when read, once more with the cost from the
    // next line (same key, last wins).
    assert_eq!(events.len(), 4);
    let unique = merge(events.to_vec());
    assert_eq!(unique.len(), 3);
    let a = &unique[0];
    assert_eq!(a.tool, "aider");
    assert!(a.estimated);
    assert_eq!(a.merge, Merge::LastWins);
    assert_eq!(
        a.model.as_deref(),
        Some("anthropic/claude-sonnet-4-5-20250929")
    );
    assert_eq!(a.provider.as_deref(), Some("anthropic"));
    assert_eq!(a.timestamp_ms, local("2026-03-01 09:15:02"));
    assert_eq!(a.cwd.as_deref(), Some("/home/u/proj"));
    assert_eq!(
        (
            a.tokens.input,
            a.tokens.cache_write_5m,
            a.tokens.cache_read,
            a.tokens.output
        ),
        (12_000 - 3_100 - 8_200, 3_100, 8_200, 512)
    );
    assert_eq!(a.reported_cost_usd, Some(0.02));
    let b = &unique[1];
    assert_eq!((b.tokens.input, b.tokens.output), (2_500, 120));
    assert_eq!(b.reported_cost_usd, Some(0.0093));
    assert_ne!(a.dedup_key, b.dedup_key);
    let c = &unique[2];
    assert_eq!(c.model.as_deref(), Some("deepseek/deepseek-chat"));
    assert_eq!(c.timestamp_ms, local("2026-03-02 18:00:00"));
    assert_eq!(
        (c.tokens.input, c.tokens.cache_read, c.tokens.output),
        (699, 300, 40)
    );
    assert_eq!(c.reported_cost_usd, None);
    assert_ne!(a.session_id, c.session_id);
}

#[test]
fn keys_are_stable_across_incremental_reads() {
    let path = Path::new("/p/.aider.chat.history.md");
    let lines: Vec<&str> = HISTORY.split('\n').collect();
    let cut = lines
        .iter()
        .position(|l| l.starts_with("> Tokens: 12k"))
        .unwrap()
        + 1;
    let mut st = FileState::default();
    let (mut a, _) = run(path, &lines[..cut].join("\n"), &mut st);
    let mut st: FileState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
    let (b, _) = run(path, &lines[cut..].join("\n"), &mut st);
    a.extend(b);
    let (whole, _) = run(path, HISTORY, &mut FileState::default());
    assert_eq!(
        a, whole,
        "the Cost line after a checkpoint still completes its event"
    );
}

#[test]
fn tokens_before_any_session_header_is_malformed() {
    let (ev, bad) = run(
        Path::new("/p/.aider.chat.history.md"),
        "> Tokens: 1k sent, 1 received.\n> Tokens: sent and received\n",
        &mut FileState::default(),
    );
    assert_eq!((ev.len(), bad), (0, 2));
}

#[test]
fn roots_are_single_files_from_the_env_list_and_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (r1, r2) = (dir.path().join("repo1"), dir.path().join("repo2"));
    for d in [&home, &r1, &r2] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(r1.join(aider::FILE_NAME), HISTORY).unwrap();
    std::fs::create_dir_all(r2.join("sub")).unwrap();
    // Not scanned recursively: a history file below a listed directory is not a root.
    std::fs::write(r2.join("sub").join(aider::FILE_NAME), HISTORY).unwrap();
    let list = std::env::join_paths([&r1, &r2]).unwrap();
    let e = Env {
        home: home.clone(),
        vars: [
            (
                "TOKWATCH_AIDER_DIRS".to_string(),
                list.to_string_lossy().into_owned(),
            ),
            (
                "TOKWATCH_CONFIG_DIR".to_string(),
                dir.path().join("cfg").display().to_string(),
            ),
        ]
        .into_iter()
        .collect::<HashMap<_, _>>(),
    };
    let roots = tokwatch::registry::roots::aider(&e);
    assert_eq!(
        roots,
        vec![
            r1.join(aider::FILE_NAME),
            r2.join(aider::FILE_NAME),
            home.join(aider::FILE_NAME)
        ]
    );
    let src = Registry::load(&e)
        .sources
        .into_iter()
        .find(|s| s.tool == "aider")
        .unwrap();
    assert_eq!(src.files(), vec![r1.join(aider::FILE_NAME)]);
    assert!(src.matches(&r2.join(aider::FILE_NAME)));
    assert!(!src.matches(&r2.join("sub").join(aider::FILE_NAME)));
}

/// Issue 10: Aider writes a `Cost:` only for a model it has a price for, so `$0.00` there is
/// the cost (a free model), kept as reported; no `Cost:` at all leaves it to the price table.
/// Built from the documented history format (docs/log-formats.md, Aider).
#[test]
fn a_reported_zero_cost_is_kept() {
    let text = "# aider chat started at 2026-03-03 10:00:00\n\
> Main model: openrouter/qwen/qwen3-coder:free with diff edit format\n\
> Tokens: 1.5k sent, 20 received. Cost: $0.00 message, $0.00 session.\n\
> Tokens: 900 sent, 300 cache write, 200 cache hit, 12 received.\n\
Cost: $0.00 message, $0.00 session.\n\
> Tokens: 10 sent, 2 received.\n";
    let (events, bad) = run(
        Path::new("/home/u/p/.aider.chat.history.md"),
        text,
        &mut FileState::default(),
    );
    assert_eq!(bad, 0);
    let unique = merge(events);
    assert_eq!(unique.len(), 3);
    assert_eq!(unique[0].reported_cost_usd, Some(0.0));
    assert_eq!(
        unique[1].reported_cost_usd,
        Some(0.0),
        "Cost on the next line"
    );
    assert_eq!(
        unique[2].reported_cost_usd, None,
        "no Cost line: not reported"
    );
}
