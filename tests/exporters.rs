//! The exporters against real receivers: a real Prometheus server scraping the daemon's
//! `/metrics`, and an OTLP/HTTP receiver that decodes with the official protobuf definitions
//! (`opentelemetry-proto`), fails on purpose, and goes away for a while.

mod util;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyV;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use util::*;

fn config(h: &Home, toml: &str) {
    let d = h.dir.path().join("config");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("config.toml"), toml).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn with_logs() -> Home {
    let h = Home::new();
    h.copy_samples(3);
    h
}

fn report_totals(h: &Home) -> serde_json::Value {
    let o = h.cmd().args(["report", "tool", "--json"]).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["totals"].clone()
}

/// A Prometheus server on a temporary config and data directory, killed on drop.
struct Prometheus {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let bin = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("the prometheus server is needed (Debian package `prometheus`; .ci/test installs it)");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: tokwatch\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = std::process::Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The single value of an instant PromQL query, if it has one.
    fn query(&self, q: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let mut resp = ureq::get(&url).query("query", q).call().ok()?;
        let v: serde_json::Value =
            serde_json::from_slice(&resp.body_mut().read_to_vec().ok()?).ok()?;
        let r = v["data"]["result"].as_array()?;
        if r.len() != 1 {
            return None;
        }
        r[0]["value"][1].as_str()?.parse().ok()
    }
}

#[test]
fn a_real_prometheus_scrapes_the_same_totals_as_the_report() {
    let h = with_logs();
    let port = free_port();
    config(
        &h,
        &format!("[export.prometheus]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(30), || {
        d.log_text().contains("prometheus: metrics at")
    })
    .unwrap_or_else(|| panic!("no /metrics: {}", d.log_text()));
    // The endpoint speaks OpenMetrics.
    let mut resp = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE tokwatch_tokens counter"), "{text}");
    // No repository or branch names by default.
    assert!(
        !text.contains("repo=") && !text.contains("branch="),
        "{text}"
    );

    let t = report_totals(&h);
    let tokens = [
        "input",
        "cache_write_5m",
        "cache_write_1h",
        "cache_read",
        "output",
    ]
    .iter()
    .map(|k| t[k].as_i64().unwrap())
    .sum::<i64>() as f64;
    let p = Prometheus::start(&format!("127.0.0.1:{port}"));
    wait_until(Duration::from_secs(90), || {
        p.query("sum(tokwatch_tokens_total)") == Some(tokens)
    })
    .unwrap_or_else(|| {
        panic!(
            "Prometheus has {:?} tokens, the report {tokens}",
            p.query("sum(tokwatch_tokens_total)")
        )
    });
    for (ty, k) in [
        ("input", "input"),
        ("cache_write_1h", "cache_write_1h"),
        ("cache_read", "cache_read"),
        ("output", "output"),
    ] {
        assert_eq!(
            p.query(&format!("sum(tokwatch_tokens_total{{type=\"{ty}\"}})")),
            Some(t[k].as_i64().unwrap() as f64),
            "{ty}"
        );
    }
    assert_eq!(
        p.query("sum(tokwatch_requests_total)"),
        Some(t["requests"].as_i64().unwrap() as f64)
    );
    let cost = p.query("sum(tokwatch_cost_usd_total)").unwrap();
    let want = t["cost_usd"].as_f64().unwrap();
    assert!((cost - want).abs() < 1e-6, "cost {cost} vs {want}");
    assert_eq!(
        p.query("sum(tokwatch_tokens_total{tool=\"codex\",provider=\"openai\"})"),
        Some({
            let o = h
                .cmd()
                .args(["report", "tool", "--tool", "codex", "--json"])
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let t = &v["totals"];
            [
                "input",
                "cache_write_5m",
                "cache_write_1h",
                "cache_read",
                "output",
            ]
            .iter()
            .map(|k| t[k].as_i64().unwrap())
            .sum::<i64>() as f64
        })
    );
    drop(d);
}

#[test]
fn repository_labels_are_hashed_only_when_asked() {
    let h = with_logs();
    let port = free_port();
    config(
        &h,
        &format!("[export.prometheus]\nlisten = \"127.0.0.1:{port}\"\nrepo = \"hash\"\nhash_salt = \"team\"\n"),
    );
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(30), || {
        d.log_text().contains("prometheus: metrics at")
    })
    .unwrap();
    let text = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(text.contains("repo=\""), "{text}");
    assert!(
        !text.contains("spotter"),
        "a repository name leaked: {text}"
    );
    assert!(!text.contains("branch="), "{text}");
}

/// Decoded OTLP requests a test receiver accepted.
#[derive(Default)]
struct Received {
    logs: Vec<ExportLogsServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    refused: usize,
}

/// An OTLP/HTTP receiver: fails the first `fail_logs` logs requests with 503, then decodes and
/// keeps every request.
fn receiver(listener: TcpListener, fail_logs: usize) -> Arc<Mutex<Received>> {
    let got = Arc::new(Mutex::new(Received::default()));
    let g = got.clone();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            let mut len = 0usize;
            let mut ctype = String::new();
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                let l = l.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "content-type" => ctype = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            assert_eq!(ctype, "application/x-protobuf");
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let ok = if path == "/v1/logs" {
                if seen.fetch_add(1, Ordering::SeqCst) < fail_logs {
                    g.lock().unwrap().refused += 1;
                    false
                } else {
                    g.lock()
                        .unwrap()
                        .logs
                        .push(ExportLogsServiceRequest::decode(&body[..]).unwrap());
                    true
                }
            } else {
                g.lock()
                    .unwrap()
                    .metrics
                    .push(ExportMetricsServiceRequest::decode(&body[..]).unwrap());
                true
            };
            let status = if ok {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    got
}

fn attrs(r: &LogRecord) -> HashMap<String, AnyV> {
    r.attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap().value.unwrap()))
        .collect()
}

fn int(a: &HashMap<String, AnyV>, k: &str) -> i64 {
    match a.get(k) {
        Some(AnyV::IntValue(v)) => *v,
        other => panic!("{k}: {other:?}"),
    }
}

/// Every accepted log record, in arrival order.
fn records(got: &Arc<Mutex<Received>>) -> Vec<LogRecord> {
    got.lock()
        .unwrap()
        .logs
        .iter()
        .flat_map(|r| r.resource_logs.iter())
        .flat_map(|r| r.scope_logs.iter())
        .flat_map(|s| s.log_records.iter().cloned())
        .collect()
}

/// The stored requests, as `tokwatch export` writes them, by key.
fn stored(h: &Home) -> HashMap<String, serde_json::Value> {
    let o = h.cmd().arg("export").output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["key"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// Each stored request arrived exactly once, with its time and figures.
fn assert_exactly_once(h: &Home, got: &Arc<Mutex<Received>>) {
    let want = stored(h);
    let recs = records(got);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &recs {
        let a = attrs(r);
        let AnyV::StringValue(uid) = &a["log.record.uid"] else {
            panic!("uid")
        };
        *seen.entry(uid.clone()).or_default() += 1;
        let w = want
            .get(uid)
            .unwrap_or_else(|| panic!("{uid} is not a stored request"));
        assert_eq!(r.time_unix_nano, w["ts"].as_u64().unwrap() * 1_000_000);
        assert_eq!(r.event_name, "tokwatch.request");
        for (attr, field) in [
            ("tokwatch.tokens.input", "input"),
            ("tokwatch.tokens.cache_write_5m", "cache_write_5m"),
            ("tokwatch.tokens.cache_write_1h", "cache_write_1h"),
            ("tokwatch.tokens.cache_read", "cache_read"),
            ("tokwatch.tokens.output", "output"),
            ("tokwatch.tokens.reasoning", "reasoning"),
            ("tokwatch.requests", "requests"),
            ("tokwatch.rev", "rev"),
        ] {
            assert_eq!(int(&a, attr), w[field].as_i64().unwrap(), "{attr} of {uid}");
        }
        assert_eq!(
            int(&a, "gen_ai.usage.output_tokens"),
            w["output"].as_i64().unwrap()
        );
        match (a.get("tokwatch.cost.usd"), w["cost_usd"].as_f64()) {
            (Some(AnyV::DoubleValue(c)), Some(x)) => assert_eq!(*c, x),
            (None, None) => {}
            other => panic!("cost of {uid}: {other:?}"),
        }
        if let Some(m) = w["model"].as_str() {
            assert_eq!(
                a.get("gen_ai.request.model"),
                Some(&AnyV::StringValue(m.into()))
            );
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(seen.len(), want.len(), "every stored request arrives");
}

fn resource(got: &Arc<Mutex<Received>>) -> HashMap<String, String> {
    let g = got.lock().unwrap();
    g.logs[0].resource_logs[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .map(|kv| match kv.value.clone().unwrap().value.unwrap() {
            AnyV::StringValue(s) => (kv.key.clone(), s),
            v => (kv.key.clone(), format!("{v:?}")),
        })
        .collect()
}

#[test]
fn otlp_receiver_that_fails_first_gets_every_request_exactly_once() {
    let h = with_logs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    config(
        &h,
        &format!(
            "[export.otlp]\nendpoint = \"http://127.0.0.1:{port}\"\nmetrics_interval_secs = 1\nresource = {{ \"user.name\" = \"ana\" }}\n"
        ),
    );
    let got = receiver(listener, 3);
    let d = h.start_daemon(&[("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=dev")]);
    let n = stored(&h).len();
    assert!(n > 150);
    wait_until(Duration::from_secs(90), || records(&got).len() >= n)
        .unwrap_or_else(|| panic!("{} of {n} arrived: {}", records(&got).len(), d.log_text()));
    assert_eq!(got.lock().unwrap().refused, 3);
    assert_exactly_once(&h, &got);
    let res = resource(&got);
    assert_eq!(res["service.name"], "tokwatch");
    assert_eq!(res["user.name"], "ana");
    assert_eq!(res["deployment.environment"], "dev");
    assert_eq!(
        res["tokwatch.machine.id"],
        h.reader().local_machine().unwrap().unwrap()
    );

    // The counters: cumulative sums equal to the report.
    wait_until(Duration::from_secs(30), || {
        !got.lock().unwrap().metrics.is_empty()
    })
    .unwrap();
    let t = report_totals(&h);
    let last = got.lock().unwrap().metrics.last().unwrap().clone();
    let ms = &last.resource_metrics[0].scope_metrics[0].metrics;
    let usage = ms
        .iter()
        .find(|m| m.name == "gen_ai.client.token.usage")
        .unwrap();
    let Some(metric::Data::Sum(sum)) = &usage.data else {
        panic!("a sum")
    };
    assert!(sum.is_monotonic);
    let mut by_type: HashMap<String, i64> = HashMap::new();
    for p in &sum.data_points {
        let ty = p
            .attributes
            .iter()
            .find(|kv| kv.key == "gen_ai.token.type")
            .and_then(|kv| match kv.value.clone()?.value? {
                AnyV::StringValue(s) => Some(s),
                _ => None,
            })
            .unwrap();
        let Some(number_data_point::Value::AsInt(v)) = p.value else {
            panic!("int")
        };
        *by_type.entry(ty).or_default() += v;
    }
    let input = ["input", "cache_write_5m", "cache_write_1h", "cache_read"]
        .iter()
        .map(|k| t[k].as_i64().unwrap())
        .sum::<i64>();
    assert_eq!(by_type["input"], input);
    assert_eq!(by_type["output"], t["output"].as_i64().unwrap());
    let cost = ms.iter().find(|m| m.name == "tokwatch.cost").unwrap();
    let Some(metric::Data::Sum(c)) = &cost.data else {
        panic!("a sum")
    };
    let total: f64 = c
        .data_points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            _ => 0.0,
        })
        .sum();
    assert!((total - t["cost_usd"].as_f64().unwrap()).abs() < 1e-6);

    // A restart sends nothing again; new usage is sent once.
    d.kill9();
    let before = records(&got).len();
    let d = h.start_daemon(&[]);
    let extra = fixtures().join("claude-code/single/short.jsonl");
    std::fs::copy(&extra, h.claude_projects().join("short.jsonl")).unwrap();
    wait_until(Duration::from_secs(60), || records(&got).len() > before)
        .unwrap_or_else(|| panic!("the new request was not sent: {}", d.log_text()));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(records(&got).len(), before + 1);
    assert_exactly_once(&h, &got);
    drop(d);
}

#[test]
fn otlp_collector_down_for_a_while_gets_the_backlog_once_it_is_back() {
    let h = with_logs();
    let port = free_port();
    config(
        &h,
        &format!("[export.otlp]\nendpoint = \"http://127.0.0.1:{port}/\"\n"),
    );
    // Nothing listens: the exporter keeps its ledger where it is and says why.
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(30), || {
        d.log_text().contains("otlp: cannot reach")
    })
    .unwrap_or_else(|| panic!("{}", d.log_text()));
    let doctor = h.cmd().args(["doctor", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let ex = &v["exports"]["exporters"][0];
    assert_eq!(ex["kind"], "otlp");
    assert_eq!(ex["sent"], 0);
    assert!(ex["behind"]["records"].as_i64().unwrap() > 150, "{ex}");
    assert!(
        ex["last_error"].as_str().unwrap().contains("cannot reach"),
        "{ex}"
    );
    // The collector comes up on that port: everything arrives, once.
    let got = receiver(TcpListener::bind(("127.0.0.1", port)).unwrap(), 0);
    let n = stored(&h).len();
    wait_until(Duration::from_secs(120), || records(&got).len() >= n)
        .unwrap_or_else(|| panic!("{} of {n} arrived: {}", records(&got).len(), d.log_text()));
    std::thread::sleep(Duration::from_secs(2));
    assert_exactly_once(&h, &got);
    let doctor = h.cmd().args(["doctor", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let ex = &v["exports"]["exporters"][0];
    assert_eq!(ex["sent"].as_i64().unwrap() as usize, n);
    assert_eq!(ex["behind"]["records"], 0);
    assert!(ex.get("last_error").is_none(), "{ex}");
    drop(d);
}

#[test]
fn nothing_is_exported_unless_turned_on() {
    let h = with_logs();
    h.scan();
    let o = h.cmd().args(["doctor"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("exports: none"), "{text}");
}

#[test]
fn an_exporter_that_cannot_start_leaves_the_daemon_running() {
    let h = with_logs();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    config(
        &h,
        &format!("[export.prometheus]\nlisten = \"127.0.0.1:{port}\"\n[export.otlp]\nprotocol = \"grpc\"\n"),
    );
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(30), || {
        let l = d.log_text();
        l.contains("prometheus: not started") && l.contains("otlp: not started")
    })
    .unwrap_or_else(|| panic!("{}", d.log_text()));
    assert!(d.log_text().contains("address"), "{}", d.log_text());
    // It still reads the logs.
    wait_until(Duration::from_secs(30), || {
        report_totals(&h)["requests"].as_i64().unwrap_or(0) > 150
    })
    .unwrap();
    let o = h.cmd().args(["doctor"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("export otlp"), "{text}");
    assert!(text.contains("not running"), "{text}");
    drop(taken);
}
