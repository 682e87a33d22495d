//! The time-only rollup (`rollup_time`, schema v9, `docs/design.md` "Rollup layers"): reports
//! by day, week and month read it, and must give exactly what the stored requests give, grouped
//! by their own local dates, in UTC, a zone with DST (New York), a half-hour zone (Kolkata), a
//! half-hour DST change (Lord Howe) and a 45-minute zone (Kathmandu). Logs are built in the
//! documented Claude Code shape (docs/log-formats.md §1e) and read by the real scan, with
//! requests a minute either side of every local midnight of these zones, and streaming
//! snapshots that merge into earlier copies.

mod util;

use chrono::{NaiveDate, TimeZone};
use std::collections::BTreeMap;
use tokwatch::store::query::{Filter, GroupBy, Report, Zone};
use tokwatch::store::Store;
use util::*;

const ZONES: [&str; 6] = [
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Europe/London",
];

fn line(ts_ms: i64, id: &str, input: i64, output: i64) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(ts_ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ");
    format!(
        r#"{{"type":"assistant","isSidechain":false,"sessionId":"s1","cwd":"/nonexistent/p","uuid":"u-{id}","requestId":"req_{id}","timestamp":"{ts}","message":{{"id":"msg_{id}","role":"assistant","model":"acme-coder-9","content":[],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}}}}}"#
    )
}

/// Prices with digits below a billionth per token, so the layer's integer sums are tested.
const PRICE: &str = "[prices.\"acme-coder-9\"]\ninput = 1.234567\noutput = 7.654321\n";

fn local_midnight(zone: &str, d: NaiveDate) -> i64 {
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let naive = d.and_hms_opt(0, 0, 0).unwrap();
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.timestamp_millis()
        }
        chrono::LocalResult::None => panic!("{zone} has no midnight on {d}"),
    }
}

/// A home whose logs hold requests a minute before and after every local midnight of 2024 in
/// every zone of [`ZONES`], random ones in between, and bigger snapshots of some of them.
fn filled_home() -> Home {
    let h = Home::new();
    let d = h.dir.path().join("config");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("config.toml"), PRICE).unwrap();
    let mut times = Vec::new();
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for zone in ZONES {
        for day in first.iter_days().take(366) {
            let m = local_midnight(zone, day);
            times.extend([m - 60_000, m + 60_000]);
        }
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let start = local_midnight("UTC", first);
    for _ in 0..2000 {
        times.push(start + rng.below(366 * 86_400_000) as i64);
    }
    let mut lines = Vec::new();
    for (i, t) in times.iter().enumerate() {
        let id = format!("r{i}");
        lines.push(line(
            *t,
            &id,
            100 + rng.below(5000) as i64,
            rng.below(3000) as i64,
        ));
        if i % 5 == 0 {
            // A later snapshot of the same request with more output: it replaces the first.
            lines.push(line(*t, &id, 100, 4000 + rng.below(3000) as i64));
        }
    }
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, part) in lines.chunks(1500).enumerate() {
        std::fs::write(dir.join(format!("s{n}.jsonl")), part.join("\n") + "\n").unwrap();
    }
    h.scan();
    h
}

/// (requests, input, output, cost in billionths, unpriced) per key.
type Want = BTreeMap<String, (i64, i64, i64, f64, i64)>;

/// The answer from the stored requests themselves: each one's local date in `zone` (chrono-tz
/// directly, not the store's code), over `[since, until)`.
fn from_requests(db: &std::path::Path, group: GroupBy, zone: &str, since: i64, until: i64) -> Want {
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let s = sql(db);
    let mut st = s
        .prepare(
            "SELECT ts, requests, input, output, coalesce(cost, 0), cost_source = 3 FROM events",
        )
        .unwrap();
    let mut out = Want::new();
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })
        .unwrap();
    for r in rows {
        let (ts, n, input, output, cost, unpriced) = r.unwrap();
        if ts < since || ts >= until {
            continue;
        }
        let d = chrono::DateTime::from_timestamp_millis(ts)
            .unwrap()
            .with_timezone(&tz)
            .date_naive();
        let key = match group {
            GroupBy::Day => d.format("%Y-%m-%d").to_string(),
            GroupBy::Week => {
                use chrono::Datelike;
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            _ => d.format("%Y-%m").to_string(),
        };
        let e = out.entry(key).or_default();
        e.0 += n;
        e.1 += input;
        e.2 += output;
        e.3 += cost;
        e.4 += if unpriced { n } else { 0 };
    }
    out
}

fn got(r: &Report) -> Want {
    r.rows
        .iter()
        .map(|x| {
            let s = &x.sums;
            (
                x.key.clone(),
                (
                    s.requests,
                    s.input,
                    s.output,
                    s.cost_usd,
                    s.unpriced_requests,
                ),
            )
        })
        .collect()
}

fn same(got: &Want, want: &Want, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: keys"
    );
    for (k, g) in got {
        let w = &want[k];
        assert_eq!((g.0, g.1, g.2, g.4), (w.0, w.1, w.2, w.4), "{what}: {k}");
        assert!(
            (g.3 - w.3).abs() < 2e-6,
            "{what}: {k} cost {} vs {}",
            g.3,
            w.3
        );
    }
}

fn check_every_zone(h: &Home, what: &str) {
    let store = h.reader();
    for zone in ZONES {
        let z = Zone::parse(zone).unwrap();
        let d = |m, dd| NaiveDate::from_ymd_opt(2024, m, dd).unwrap();
        let ranges = [
            (None, None),
            // Whole local days across both DST changes.
            (
                Some(local_midnight(zone, d(3, 9))),
                Some(local_midnight(zone, d(11, 5))),
            ),
            // Odd instants (inside quarter-hours: the whole quarter counts, as in every layer;
            // these fall between the test's requests).
            (Some(1_710_000_000_000), Some(1_730_000_000_000)),
            // Under a day.
            (
                Some(local_midnight(zone, d(6, 1))),
                Some(local_midnight(zone, d(6, 2))),
            ),
        ];
        for (since, until) in ranges {
            let f = Filter {
                since_ms: since,
                until_ms: until,
                ..Filter::default()
            };
            for g in [GroupBy::Day, GroupBy::Week, GroupBy::Month] {
                let want = from_requests(
                    &h.db(),
                    g,
                    zone,
                    since.unwrap_or(i64::MIN),
                    until.unwrap_or(i64::MAX),
                );
                assert!(!want.is_empty());
                let r = store.report(g, &f, z).unwrap();
                same(
                    &got(&r),
                    &want,
                    &format!("{what} {zone} {g:?} {since:?}..{until:?}"),
                );
            }
        }
    }
}

#[test]
fn reports_by_time_equal_the_stored_requests_in_every_kind_of_zone() {
    let h = filled_home();
    let n: i64 = sql(&h.db())
        .query_row("SELECT count(*) FROM rollup_time WHERE unit = 0", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(n > 3000, "{n}");
    check_every_zone(&h, "scanned");

    // Reading every log again changes nothing; the snapshots merged already.
    h.scan();
    check_every_zone(&h, "read again");

    // The reports read the layer, each zone the cells it needs: a wrong day of +5:30 shows
    // in Kolkata's days and not in UTC's; a wrong hour on the day New York's clocks go back
    // (read as hours) shows in New York's; a wrong UTC day in UTC's.
    let total = |zone: &str| -> (i64, i64) {
        let r = h
            .reader()
            .report(GroupBy::Day, &Filter::default(), Zone::parse(zone).unwrap())
            .unwrap();
        let want = from_requests(&h.db(), GroupBy::Day, zone, i64::MIN, i64::MAX);
        (
            got(&r).values().map(|v| v.0).sum::<i64>(),
            want.values().map(|v| v.0).sum::<i64>(),
        )
    };
    let spoil = |sql: &str| {
        let w = rusqlite::Connection::open(h.db()).unwrap();
        assert!(w.execute(sql, []).unwrap() > 0);
    };
    spoil("UPDATE rollup_time SET requests = requests + 1 WHERE unit = 2 AND off = 22");
    let (a, b) = total("Asia/Kolkata");
    assert!(a > b, "{a} {b}");
    let (a, b) = total("UTC");
    assert_eq!(a, b);
    let ny_change = local_midnight(
        "America/New_York",
        NaiveDate::from_ymd_opt(2024, 11, 3).unwrap(),
    );
    spoil(&format!(
        "UPDATE rollup_time SET requests = requests + 1 WHERE unit = 1 AND t = {}",
        ny_change / 3_600_000
    ));
    let (a, b) = total("America/New_York");
    assert!(a > b, "{a} {b}");
    spoil("UPDATE rollup_time SET requests = requests + 1 WHERE unit = 2 AND off = 0");
    let (a, b) = total("UTC");
    assert!(a > b, "{a} {b}");
}

/// A `rollup_time` row: (unit, offset, t), the figures, the cost in billionths.
type Cell = ((i64, i64, i64), [i64; 8], i64);

/// Version 8 databases get the layer from their 15-minute and hourly layers when a writer
/// opens them: the same cells the batch writer keeps (a quarter-hour's cost to within a
/// billionth per request in it: the old layer summed floats), and the same reports.
#[test]
fn the_migration_builds_the_layer_from_an_older_database() {
    let h = filled_home();
    let cells = || -> Vec<Cell> {
        let s = sql(&h.db());
        let mut st = s
            .prepare(
                "SELECT unit, off, t, requests, input, cw5, cw1h, cr, output, reasoning,
                        unpriced, cost_nano
                 FROM rollup_time WHERE requests != 0 ORDER BY unit, off, t",
            )
            .unwrap();
        st.query_map([], |r| {
            let mut v = [0i64; 8];
            for (i, x) in v.iter_mut().enumerate() {
                *x = r.get(i + 3)?;
            }
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), v, r.get(11)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    };
    let written = cells();
    let w = rusqlite::Connection::open(h.db()).unwrap();
    w.execute_batch("DROP TABLE rollup_time; DROP TABLE rollup_span; PRAGMA user_version = 8;")
        .unwrap();
    drop(w);
    // A reader of the old file: no layer yet, the reports read the other layers.
    check_every_zone(&h, "version 8");
    drop(Store::open_writer(&h.db()).unwrap());
    let v: i64 = sql(&h.db())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(v >= 9);
    let migrated = cells();
    assert_eq!(written.len(), migrated.len());
    for (a, b) in written.iter().zip(&migrated) {
        assert_eq!((a.0, a.1), (b.0, b.1));
        let (unit, off, _) = a.0;
        if unit == 0 || (unit == 2 && off % 4 != 0) {
            // Built from the 15-minute layer's float costs.
            assert!((a.2 - b.2).abs() <= a.1[0], "{a:?} {b:?}");
        } else {
            assert_eq!(a.2, b.2, "{a:?}");
        }
    }
    check_every_zone(&h, "migrated");
    // New requests after the migration are added to the migrated cells.
    let dir = h.claude_projects().join("-p");
    let t = local_midnight("Asia/Kolkata", NaiveDate::from_ymd_opt(2024, 7, 1).unwrap());
    std::fs::write(
        dir.join("late.jsonl"),
        [line(t - 1, "late1", 10, 20), line(t, "late2", 30, 40)].join("\n") + "\n",
    )
    .unwrap();
    // (Not `h.scan()`: its check wants each quarter-hour's cost to the billionth.)
    h.ingestor().scan(&mut |_| {}).unwrap();
    check_every_zone(&h, "after the migration");
}
