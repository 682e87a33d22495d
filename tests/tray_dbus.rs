//! The tray as a tray host sees it: a StatusNotifierItem on a D-Bus session bus whose title,
//! tooltip, icon and menu follow the snapshots it is fed, and whose menu clicks come back as
//! commands. Drives `examples/tray_demo.rs` (JSON snapshots on stdin, commands on stdout) on a
//! private bus unless DBUS_SESSION_BUS_ADDRESS is set. No X server is needed.
#![cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::sni::{self, SniView, TestBus};
use tokwatch::tray::{ActiveSession, TraySnapshot};

/// Generous: this bounds waiting for asynchronous D-Bus updates, it is not a latency assertion.
const TIMEOUT: Duration = Duration::from_secs(20);

struct Demo {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
}

impl Demo {
    fn start(bus_address: &str, initial: &TraySnapshot) -> Demo {
        let bin = common::example_bin("tray_demo");
        let mut child = Command::new(bin)
            .arg("--initial")
            .arg(serde_json::to_string(initial).unwrap())
            .arg("--exit-on-eof")
            .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tray_demo");
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, s: &TraySnapshot) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{}", serde_json::to_string(s).unwrap()).unwrap();
        stdin.flush().unwrap();
    }

    fn next_line(&self) -> String {
        self.stdout
            .recv_timeout(TIMEOUT)
            .expect("tray_demo printed no line")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn session(repo: &str, tool: &str, cost_usd: f64, usd_per_hour: f64) -> ActiveSession {
    ActiveSession {
        repo: repo.into(),
        tool: tool.into(),
        cost_usd,
        usd_per_hour,
        ..ActiveSession::default()
    }
}

fn first_snapshot() -> TraySnapshot {
    TraySnapshot {
        today_usd: 3.42,
        today_has_unpriced: false,
        week_usd: 21.07,
        week_has_unpriced: true,
        daily_budget_usd: Some(10.0),
        by_tool_today: vec![("claude-code".into(), 2.9), ("codex".into(), 0.52)],
        active_sessions: vec![session("tokwatch", "claude-code", 1.2, 2.4)],
        top_repos_week: vec![("tokwatch".into(), 12.3), ("my_dotfiles".into(), 3.1)],
        alerts_paused: false,
        ..TraySnapshot::default()
    }
}

/// Different amounts and a different menu shape (one more session, one tool less).
fn second_snapshot() -> TraySnapshot {
    TraySnapshot {
        today_usd: 8.75,
        today_has_unpriced: true,
        week_usd: 30.5,
        week_has_unpriced: true,
        daily_budget_usd: Some(10.0),
        by_tool_today: vec![("claude-code".into(), 8.75)],
        active_sessions: vec![
            session("tokwatch", "claude-code", 4.5, 6.25),
            session("my_dotfiles", "codex", 0.004, 0.12),
        ],
        top_repos_week: vec![("tokwatch".into(), 20.0), ("my_dotfiles".into(), 3.1)],
        alerts_paused: true,
        ..TraySnapshot::default()
    }
}

/// Same menu shape as the second, only amounts change.
fn third_snapshot() -> TraySnapshot {
    let mut s = second_snapshot();
    s.today_usd = 12.0;
    s.today_has_unpriced = false;
    s.by_tool_today = vec![("claude-code".into(), 12.0)];
    s.active_sessions[0].cost_usd = 7.75;
    s
}

fn centre_pixel(conn: &zbus::blocking::Connection, name: &str) -> [u8; 4] {
    let (w, h, rgba) = sni::read_icon_rgba(conn, name).unwrap();
    let i = (((h / 2) * w + w / 2) * 4) as usize;
    [rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]]
}

/// What the tray should show. Title, tooltip and menu are separate D-Bus updates, so a read can
/// catch them half-applied: wait until all of them match at once.
struct Shown<'a> {
    title: &'a str,
    tooltip_text: &'a str,
    labels: &'a [&'a str],
    paused: bool,
}

fn wait_shown(conn: &zbus::blocking::Connection, name: &str, want: &Shown) -> SniView {
    sni::wait_for_view(conn, name, TIMEOUT, |v| {
        v.item.title == want.title
            // AppIndicator hosts ignore the title and show this label.
            && v.item.ayatana_label == want.title
            && v.item.tooltip_title == want.title
            && v.item.tooltip_text == want.tooltip_text
            && v.labels() == want.labels
            && v.node("Pause alerts").and_then(|n| n.toggle_state) == Some(want.paused as i32)
    })
    .unwrap_or_else(|e| {
        panic!(
            "tray never showed title {:?} with the expected tooltip and menu: {e}",
            want.title
        )
    })
}

#[test]
fn title_tooltip_icon_and_menu_follow_snapshots() {
    let bus = TestBus::session_or_private();
    let conn = bus.connect();
    let mut demo = Demo::start(&bus.address, &first_snapshot());
    let name = sni::find_item_by_pid(&conn, demo.child.id(), TIMEOUT).unwrap();

    let first_labels = [
        "Today: $3.42",
        "    claude-code: $2.90",
        "    codex: $0.52",
        "This week: $21.07 + unpriced",
        "Budget: $3.42 of $10.00 today (34%)",
        "Active sessions",
        "    tokwatch · claude-code · $1.20 · $2.40/h",
        "Top repositories this week",
        "    tokwatch: $12.30",
        "    my_dotfiles: $3.10",
        "Pause alerts",
        "Open dashboard",
        "Quit tokwatch",
    ];
    let v = wait_shown(
        &conn,
        &name,
        &Shown {
            title: "$3.42",
            tooltip_text: "Today: $3.42\nThis week: $21.07 + unpriced\n\
                           Budget: $3.42 of $10.00 today (34%)\n\
                           Active: tokwatch (claude-code) $1.20, $2.40/h",
            labels: &first_labels,
            paused: false,
        },
    );
    assert_eq!(v.item.id, "tokwatch");
    assert_eq!(v.item.status, "Active");
    assert_eq!(v.item.icon_sizes, vec![(32, 32)]);
    assert_eq!(
        centre_pixel(&conn, &name),
        [0x3f, 0xb9, 0x50, 0xff],
        "green: under budget"
    );
    let pause = v.node("Pause alerts").unwrap();
    assert_eq!(pause.toggle_type.as_deref(), Some("checkmark"));
    assert_eq!(v.menu.iter().filter(|n| n.is_separator).count(), 3);

    // New amounts, unpriced usage, near the budget, one more session, alerts paused.
    demo.send(&second_snapshot());
    let second_labels = [
        "Today: $8.75 + unpriced",
        "    claude-code: $8.75",
        "This week: $30.50 + unpriced",
        "Budget: $8.75 of $10.00 today (≥87%, near)",
        "Active sessions",
        "    tokwatch · claude-code · $4.50 · $6.25/h",
        "    my_dotfiles · codex · <$0.01 · $0.12/h",
        "Top repositories this week",
        "    tokwatch: $20.00",
        "    my_dotfiles: $3.10",
        "Pause alerts",
        "Open dashboard",
        "Quit tokwatch",
    ];
    wait_shown(
        &conn,
        &name,
        &Shown {
            title: "$8.75+",
            tooltip_text: "Today: $8.75 + unpriced\nThis week: $30.50 + unpriced\n\
                           Budget: $8.75 of $10.00 today (≥87%, near)\n\
                           Active: tokwatch (claude-code) $4.50, $6.25/h\n\
                           Active: my_dotfiles (codex) <$0.01, $0.12/h\nAlerts paused",
            labels: &second_labels,
            paused: true,
        },
    );
    let amber = [0xe3, 0xa0, 0x08, 0xff];
    let px = sni::wait_for(TIMEOUT, || Ok(centre_pixel(&conn, &name)), |p| *p == amber);
    assert_eq!(px, Ok(amber), "amber: near the budget");

    // Only amounts change (menu rows are relabelled in place); over budget.
    demo.send(&third_snapshot());
    let mut third_labels = second_labels.to_vec();
    third_labels[0] = "Today: $12.00";
    third_labels[1] = "    claude-code: $12.00";
    third_labels[3] = "Budget: $12.00 of $10.00 today (120%, over)";
    third_labels[5] = "    tokwatch · claude-code · $7.75 · $6.25/h";
    let v = wait_shown(
        &conn,
        &name,
        &Shown {
            title: "$12.00",
            tooltip_text: "Today: $12.00\nThis week: $30.50 + unpriced\n\
                           Budget: $12.00 of $10.00 today (120%, over)\n\
                           Active: tokwatch (claude-code) $7.75, $6.25/h\n\
                           Active: my_dotfiles (codex) <$0.01, $0.12/h\nAlerts paused",
            labels: &third_labels,
            paused: true,
        },
    );
    let red = [0xf8, 0x51, 0x49, 0xff];
    let px = sni::wait_for(TIMEOUT, || Ok(centre_pixel(&conn, &name)), |p| *p == red);
    assert_eq!(px, Ok(red), "red: over the budget");

    // Clicks come back as commands: the check item toggles from the paused state it shows.
    let menu_path = v.item.menu_path.clone();
    sni::click(
        &conn,
        &name,
        &menu_path,
        v.node("Open dashboard").unwrap().id,
    )
    .unwrap();
    assert_eq!(demo.next_line(), "command: OpenDashboard");
    sni::click(&conn, &name, &menu_path, v.node("Pause alerts").unwrap().id).unwrap();
    assert_eq!(demo.next_line(), "command: PauseAlerts(false)");
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| {
        v.node("Pause alerts").and_then(|n| n.toggle_state) == Some(0)
    })
    .unwrap();
    assert_eq!(v.item.title, "$12.00");

    // Closing the update channel removes the item from the bus and ends the demo.
    drop(demo.stdin.take());
    let status = demo.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let left = sni::items_of_pid(&conn, demo.child.id()).unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn active_sessions_that_would_read_the_same_are_told_apart_on_the_bus() {
    let bus = TestBus::session_or_private();
    let conn = bus.connect();
    let now = 1_771_083_156_415;
    let twin = |id: &str| ActiveSession {
        branch: Some("main".into()),
        session: id.into(),
        last_ms: now - 5 * 60_000,
        ..session("tokwatch", "claude-code", 1.2, 2.4)
    };
    let snap = TraySnapshot {
        today_usd: 2.4,
        now_ms: now,
        active_sessions: vec![twin("0c1f2e3d-aaaa"), twin("9b8a7c6d-bbbb")],
        ..TraySnapshot::default()
    };
    let demo = Demo::start(&bus.address, &snap);
    let name = sni::find_item_by_pid(&conn, demo.child.id(), TIMEOUT).unwrap();
    let want = [
        "    tokwatch@main · claude-code · $1.20 · $2.40/h · 5 min ago · 0c1f2e3d",
        "    tokwatch@main · claude-code · $1.20 · $2.40/h · 5 min ago · 9b8a7c6d",
    ];
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| {
        let l = v.labels();
        want.iter().all(|w| l.iter().any(|x| x == w))
    })
    .unwrap_or_else(|e| panic!("the two sessions were never told apart: {e}"));
    assert_eq!(v.item.title, "$2.40");
    assert_eq!(v.item.ayatana_label, "$2.40", "AppIndicator hosts' label");
    assert!(v.item.tooltip_text.contains("session 9b8a7c6d"), "{v:?}");
}

#[test]
fn registers_with_a_watcher_that_appears_later() {
    let bus = TestBus::private();
    let conn = bus.connect();
    let demo = Demo::start(&bus.address, &first_snapshot());
    let name = sni::find_item_by_pid(&conn, demo.child.id(), TIMEOUT).unwrap();

    // The watcher (tray host) starts after the item and, like gtk-sni-tray's, owns its name a
    // moment before it can take registrations: the item's first attempt fails.
    let watcher = sni::FakeWatcher::start(&bus, Duration::from_millis(800));
    let items = sni::wait_for(TIMEOUT, || Ok(watcher.items()), |items| !items.is_empty())
        .unwrap_or_else(|e| panic!("the item never registered with the late watcher: {e}"));
    assert_eq!(items, vec![name]);
}

#[test]
fn headless_when_no_session_bus() {
    let bin = common::example_bin("tray_demo");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", dir.path().join("no-bus").display()),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("tray_demo: no tray: the D-Bus session bus is not reachable"),
        "{err}"
    );
}
