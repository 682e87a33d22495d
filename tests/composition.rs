//! Context composition (issue 14, `docs/composition.md`): per request, estimated tokens per
//! kind of content that add up to the request's exact input total, on the real Claude Code
//! sample (`fixtures/claude-code/projects`: a main session with subagents and a compaction).

mod util;
use util::*;

const SESSION: &str = "258c7280-ae70-4798-800f-63464d01a85d";
const MAIN: &str = "claude-code/projects/-home-USER-projects-spotter-worktrees-spotter-gqc/258c7280-ae70-4798-800f-63464d01a85d.jsonl";

fn session_json(h: &Home) -> serde_json::Value {
    let o = h
        .cmd()
        .args(["session", &SESSION[..8], "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn prompt(r: &serde_json::Value) -> i64 {
    ["input", "cache_write_5m", "cache_write_1h", "cache_read"]
        .iter()
        .map(|k| r[k].as_i64().unwrap())
        .sum()
}

fn part(r: &serde_json::Value, kind: &str, tool: Option<&str>) -> i64 {
    r["ctx"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == kind && p["tool"].as_str() == tool)
        .map(|p| p["tokens"].as_i64().unwrap())
        .sum()
}

fn scanned() -> (Home, serde_json::Value) {
    let h = Home::new();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    h.scan();
    let j = session_json(&h);
    (h, j)
}

#[test]
fn every_split_adds_up_to_its_requests_input_total() {
    let (_h, j) = scanned();
    let reqs = j["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 156);
    let with: Vec<&serde_json::Value> = reqs.iter().filter(|r| !r["ctx"].is_null()).collect();
    // Only the compaction call (its chain starts in the main file) has no split.
    assert_eq!(with.len(), 155);
    for r in &with {
        let sum: i64 = r["ctx"]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["tokens"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, prompt(r), "{r}");
    }
    assert_eq!(j["composition"]["estimated"], true);
    assert_eq!(j["composition"]["requests_without"], 1);
    // The first request is almost all system prompt and tool definitions (the log shows only
    // a few words of the user): Claude Code's fixed overhead of about 25.8k tokens.
    let first = with[0];
    assert_eq!(prompt(first), 25_882);
    assert!(part(first, "system", None) > 25_700, "{first}");
}

/// Hand-checked: the 4th main-chain request (msg_01GZv4z9, 20:37:16) follows eight Read results
/// (raw JSON spans of 1591, 2755, 2291, 6005, 23206, 5555, 6877 and 10094 bytes, measured with
/// `json.dumps(block, separators=(',',':'), ensure_ascii=False)` in Python: 58,374 bytes, /3.0
/// bytes per token = 19,458 tokens); its input total grew from 31,180 to 50,681 (+19,501).
#[test]
fn a_large_tool_result_shows_as_that_tools_growth() {
    let (_h, j) = scanned();
    let main: Vec<&serde_json::Value> = j["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["model"] == "claude-opus-4-6" && !r["ctx"].is_null())
        .collect();
    let (r3, r4) = (main[2], main[3]);
    assert_eq!((prompt(r3), prompt(r4)), (31_180, 50_681));
    let grew = part(r4, "tool_result", Some("Read")) - part(r3, "tool_result", Some("Read"));
    assert!((19_458 - grew).abs() < 19_458 / 20, "Read grew {grew}");
    // The session's biggest growth step names it.
    let g = &j["composition"]["growth"][0];
    assert_eq!(g["delta"], 19_501);
    assert_eq!(g["by"][0][0], "tool result of Read");
    let o = _h.cmd().args(["session", SESSION]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("+20k  tool result of Read: +19k tokens"),
        "{text}"
    );
}

#[test]
fn a_compaction_shows_the_drop_and_its_summary() {
    let (_h, j) = scanned();
    let reqs = j["requests"].as_array().unwrap();
    let drop = j["composition"]["growth"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["delta"].as_i64().unwrap() < -100_000)
        .expect("a compaction drop")
        .clone();
    let after = &reqs[drop["index"].as_u64().unwrap() as usize];
    assert!(part(after, "summary", None) > 1_000, "{after}");
    // After the compaction the Read results are gone from the context but for what was read
    // again since.
    assert!(part(after, "tool_result", Some("Read")) < 5_000, "{after}");
}

/// A read that resumes in a new process (no graph in memory) rebuilds it from the file's
/// start: the splits are the same as when the file is read in one go.
#[test]
fn a_resumed_read_splits_like_a_whole_read() {
    let (_w, whole) = scanned();
    let h = Home::new();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    let src = std::fs::read(fixtures().join(MAIN)).unwrap();
    let dst = h
        .claude_projects()
        .join(MAIN.trim_start_matches("claude-code/projects/"));
    let cut = src.len() / 2 + memchr::memchr(b'\n', &src[src.len() / 2..]).unwrap() + 1;
    std::fs::write(&dst, &src[..cut]).unwrap();
    h.scan();
    std::fs::write(&dst, &src).unwrap();
    h.scan();
    let resumed = session_json(&h);
    assert_eq!(resumed["requests"], whole["requests"]);
}

/// A subagent's requests are also copied into its parent's log (`progress` lines), where they
/// have no chain and so no split. Read the parent first and the subagent's own file later:
/// the split is added to the stored request (before, the stored copy was kept as it was, and
/// whether a subagent request had a split depended on which file a parallel scan finished
/// first).
#[test]
fn a_subagent_split_is_added_when_its_own_file_comes_after_the_parents_copy() {
    let h = Home::new();
    let main = fixtures().join(MAIN);
    let dir = h
        .claude_projects()
        .join(main.parent().unwrap().file_name().unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&main, dir.join(main.file_name().unwrap())).unwrap();
    h.scan();
    let before = session_json(&h)["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["ctx"].is_null())
        .count();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    h.scan();
    let j = session_json(&h);
    let reqs = j["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 156);
    let with = reqs.iter().filter(|r| !r["ctx"].is_null()).count();
    assert!(before < with, "{before} -> {with}");
    assert_eq!(with, 155);
}
