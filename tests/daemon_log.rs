//! The daemon's log file: written in the platform's state directory (`~/.local/state/tokwatch`
//! on Linux), one file per UTC day (`tokwatch.YYYY-MM-DD.log`, seven kept), named by `tokwatch
//! status`, with `TOKWATCH_LOG` choosing what is written.
#![cfg(target_os = "linux")]

mod common;
mod util;

use common::lines::{append, now_ms, Req};
use std::path::PathBuf;
use std::time::Duration;
use util::*;

const TIMEOUT: Duration = Duration::from_secs(30);

fn transcript(h: &Home) -> PathBuf {
    let d = h.claude_projects().join("-p");
    std::fs::create_dir_all(&d).unwrap();
    d.join("s.jsonl")
}

fn spend(h: &Home, n: u32) {
    let mut r = Req::new("sess-1", format!("r{n}"), now_ms());
    r.input = 1000;
    r.output = 10;
    append(&transcript(h), &r.line());
}

fn requests(h: &Home) -> i64 {
    try_sums(&h.db(), &tokwatch::store::query::Filter::default())
        .map(|s| s.requests)
        .unwrap_or(0)
}

#[test]
fn the_log_file_is_in_the_state_dir_named_by_status_and_follows_tokwatch_log() {
    let h = Home::new();
    spend(&h, 1);
    // No TOKWATCH_LOG_DIR, no XDG_STATE_HOME (`cmd` clears the environment): the default.
    let dir = h.home().join(".local/state/tokwatch");
    let file = dir.join(tokwatch::daemon::logging::file_name(
        chrono::Utc::now().date_naive(),
    ));
    let text = || std::fs::read_to_string(&file).unwrap_or_default();
    // Nine files of earlier days: the daemon keeps seven files in all (today's included) and
    // removes the oldest when it opens its file.
    std::fs::create_dir_all(&dir).unwrap();
    for day in 1..=9 {
        std::fs::write(dir.join(format!("tokwatch.2026-11-0{day}.log")), "old\n").unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let names = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    {
        let d = h.start_daemon(&[]);
        assert!(
            wait_until(TIMEOUT, || text().contains("following")).is_some(),
            "no log file at {}: {:?}\nstderr: {}",
            file.display(),
            std::fs::read_dir(&dir).map(|r| r.count()),
            d.log_text()
        );
        let t = text();
        assert!(
            t.contains(" INFO ") && t.contains("starting tokwatch"),
            "{t}"
        );
        let today = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut want: Vec<String> = (4..=9)
            .map(|d| format!("tokwatch.2026-11-0{d}.log"))
            .collect();
        want.push(today);
        assert_eq!(names(), want, "seven files kept, the oldest removed");
        assert!(t.contains(&format!("logging to {}", dir.display())), "{t}");

        // `status` names the file, in text and JSON.
        let o = h.cmd().args(["status", "--json"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
        assert_eq!(
            v["daemon"]["log_file"].as_str(),
            Some(file.to_str().unwrap()),
            "{v:#}"
        );
        let o = h.cmd().arg("status").output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with("log") && l.contains(name)),
            "{out}"
        );

        // At the default level (info) a stored request writes no debug line.
        spend(&h, 2);
        wait_until(TIMEOUT, || requests(&h) == 2).expect("the request is stored");
        std::thread::sleep(Duration::from_millis(300));
        let t = text();
        assert!(!t.contains("DEBUG"), "{t}");
        assert!(!t.contains("handed to"), "{t}");
    }
    // TOKWATCH_LOG=debug: the same kind of event now writes its debug line, to the same file.
    let d = h.start_daemon(&[("TOKWATCH_LOG", "debug")]);
    spend(&h, 3);
    let ok = wait_until(TIMEOUT, || {
        text()
            .lines()
            .any(|l| l.contains("DEBUG") && l.contains("stored 1 request (new or changed)"))
    });
    assert!(ok.is_some(), "{}\nstderr: {}", text(), d.log_text());
    assert_eq!(requests(&h), 3);
    // Still one file for today, appended to; never more than seven.
    let n = names();
    assert!(
        n.len() <= 7 && n.last().map(String::as_str) == file.file_name().and_then(|f| f.to_str()),
        "{n:?}"
    );
    assert!(
        text().contains("starting tokwatch") && text().matches("starting tokwatch").count() == 2
    );
}
