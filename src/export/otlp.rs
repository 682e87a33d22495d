//! OpenTelemetry export over OTLP/HTTP with protobuf bodies: each request of this machine as a
//! log record (its original time, a deterministic id), and cumulative counters named after the
//! GenAI semantic conventions (`gen_ai.client.token.usage` by `gen_ai.token.type`, plus
//! `tokwatch.cost`, `tokwatch.requests`, `tokwatch.requests.unpriced`).
//!
//! The requests are built from the official protobuf definitions (`opentelemetry-proto`) and
//! POSTed by a small blocking HTTP client on a thread of its own, rather than through the
//! `opentelemetry-otlp` SDK: the SDK's batch processor drops records when its queue is full and
//! does not tell which records a collector acknowledged, and "everything exactly once after any
//! outage" needs exactly that. A sent-ledger in the database holds the highest change number the
//! collector acknowledged (HTTP 2xx); it moves only after an acknowledgement, so a crash, a
//! restart or hours offline resend what was not acknowledged, in order, and nothing that was.
//! (Only a crash between the collector's answer and the ledger's commit can send a batch twice;
//! each record's `log.record.uid` is stable so a backend can drop the copy.)

use crate::config::exporters::{label, LabelMode, OtlpConfig};
use crate::daemon::{log, Sink};
use crate::env::Env;
use crate::event::CostSource;
use crate::export_format::Record;
use crate::store::export::MetricRow;
use crate::store::query::Filter;
use crate::store::{now_ms, Store, StoredEvent};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Log records per OTLP request.
pub const BATCH: i64 = 512;
/// The collector address when neither the config nor the environment names one.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where and how the exporter sends, resolved from the config and the `OTEL_*` variables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The logs URL (`.../v1/logs`).
    pub logs_url: String,
    /// The metrics URL (`.../v1/metrics`).
    pub metrics_url: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Time allowed per request.
    pub timeout: Duration,
    /// Resource attributes.
    pub resource: Vec<(String, String)>,
    /// Time between counter pushes.
    pub metrics_interval: Duration,
    /// The repository attribute.
    pub repo: LabelMode,
    /// The branch attribute.
    pub branch: LabelMode,
    /// Mixed into hashed attributes.
    pub hash_salt: String,
}

fn signal_url(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim_end_matches('/'))
}

/// `k=v,k2=v2` (values percent-decoded), as `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES` write them.
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), percent_decode(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn upsert(v: &mut Vec<(String, String)>, k: &str, val: String) {
    match v.iter_mut().find(|(key, _)| key == k) {
        Some(e) => e.1 = val,
        None => v.push((k.to_string(), val)),
    }
}

/// Resolves the exporter's settings: the config first, then the standard `OTEL_EXPORTER_OTLP_*`
/// variables, then the defaults. Only `http/protobuf` is spoken.
pub fn settings(c: &OtlpConfig, env: &Env, machine: &str) -> anyhow::Result<Settings> {
    let protocol = c
        .protocol
        .clone()
        .or_else(|| {
            env.var("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL")
                .map(str::to_string)
        })
        .or_else(|| env.var("OTEL_EXPORTER_OTLP_PROTOCOL").map(str::to_string))
        .unwrap_or_else(|| "http/protobuf".into());
    if protocol != "http/protobuf" {
        anyhow::bail!(
            "OTLP protocol {protocol:?} is not supported: tokwatch sends OTLP over HTTP with protobuf bodies; set [export.otlp] protocol = \"http/protobuf\" (or OTEL_EXPORTER_OTLP_PROTOCOL) and use the collector's HTTP port (4318)"
        );
    }
    let base = c
        .endpoint
        .clone()
        .or_else(|| env.var("OTEL_EXPORTER_OTLP_ENDPOINT").map(str::to_string))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
    let logs_url = c
        .logs_endpoint
        .clone()
        .or_else(|| {
            env.var("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
                .map(str::to_string)
        })
        .unwrap_or_else(|| signal_url(&base, "logs"));
    let metrics_url = c
        .metrics_endpoint
        .clone()
        .or_else(|| {
            env.var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
                .map(str::to_string)
        })
        .unwrap_or_else(|| signal_url(&base, "metrics"));
    for u in [&logs_url, &metrics_url] {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            anyhow::bail!(
                "the OTLP endpoint {u:?} is not an http:// or https:// URL: fix [export.otlp] endpoint or OTEL_EXPORTER_OTLP_ENDPOINT"
            );
        }
    }
    let mut headers = Vec::new();
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    ] {
        for (k, v) in env.var(var).map(parse_pairs).unwrap_or_default() {
            upsert(&mut headers, &k, v);
        }
    }
    for (k, v) in &c.headers {
        upsert(&mut headers, k, v.clone());
    }
    let timeout = c
        .timeout_secs
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .or_else(|| {
            env.var("OTEL_EXPORTER_OTLP_TIMEOUT")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v > 0)
                .map(Duration::from_millis)
        })
        .unwrap_or(Duration::from_secs(10));
    let metrics_interval = c
        .metrics_interval_secs
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .or_else(|| {
            env.var("OTEL_METRIC_EXPORT_INTERVAL")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v > 0)
                .map(Duration::from_millis)
        })
        .unwrap_or(Duration::from_secs(60));
    let mut resource = vec![
        ("service.name".to_string(), "tokwatch".to_string()),
        (
            "service.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("tokwatch.machine.id".to_string(), machine.to_string()),
    ];
    for (k, v) in env
        .var("OTEL_RESOURCE_ATTRIBUTES")
        .map(parse_pairs)
        .unwrap_or_default()
    {
        upsert(&mut resource, &k, v);
    }
    if let Some(n) = env.var("OTEL_SERVICE_NAME") {
        upsert(&mut resource, "service.name", n.to_string());
    }
    for (k, v) in &c.resource {
        upsert(&mut resource, k, v.clone());
    }
    Ok(Settings {
        logs_url,
        metrics_url,
        headers,
        timeout,
        resource,
        metrics_interval,
        repo: c.repo,
        branch: c.branch,
        hash_salt: c.hash_salt.clone(),
    })
}

/// The ledger name of an exporter sending to `logs_url`.
pub fn ledger_name(logs_url: &str) -> String {
    format!("otlp:{logs_url}")
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.to_string()))
}
fn i(k: &str, v: i64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v))
}

fn resource(st: &Settings) -> Resource {
    Resource {
        attributes: st.resource.iter().map(|(k, v)| s(k, v)).collect(),
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "tokwatch".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// The name every request's log record carries.
pub const EVENT_NAME: &str = "tokwatch.request";

/// One request as an OTLP log record: its original time, `log.record.uid` = its stored
/// identity (the same on every resend), the GenAI usage attributes and tokwatch's buckets.
pub fn log_record(r: &Record, st: &Settings, observed_ms: i64) -> LogRecord {
    let prompt = r.input + r.cache_write_5m + r.cache_write_1h + r.cache_read;
    let mut a = vec![
        s("log.record.uid", &r.key),
        i("tokwatch.rev", r.rev),
        s("tokwatch.tool", &r.tool),
        s("tokwatch.machine.id", &r.machine),
        // The GenAI conventions count cached input inside the input tokens.
        i("gen_ai.usage.input_tokens", prompt),
        i("gen_ai.usage.output_tokens", r.output),
        i("gen_ai.usage.cache_read.input_tokens", r.cache_read),
        i(
            "gen_ai.usage.cache_creation.input_tokens",
            r.cache_write_5m + r.cache_write_1h,
        ),
        i("tokwatch.tokens.input", r.input),
        i("tokwatch.tokens.cache_write_5m", r.cache_write_5m),
        i("tokwatch.tokens.cache_write_1h", r.cache_write_1h),
        i("tokwatch.tokens.cache_read", r.cache_read),
        i("tokwatch.tokens.output", r.output),
        i("tokwatch.tokens.reasoning", r.reasoning),
        i("tokwatch.requests", r.requests),
        s("tokwatch.cost.source", cost_source_name(r.cost_source)),
    ];
    if let Some(c) = r.cost_usd {
        a.push(kv("tokwatch.cost.usd", any_value::Value::DoubleValue(c)));
    }
    if let Some(m) = &r.model {
        a.push(s("gen_ai.request.model", m));
    }
    if let Some(p) = &r.provider {
        a.push(s("gen_ai.provider.name", p));
    }
    if let Some(x) = &r.session {
        a.push(s("gen_ai.conversation.id", x));
    }
    if let Some(v) = label(st.repo, &st.hash_salt, r.repo.as_deref().unwrap_or("")) {
        a.push(s("tokwatch.repo", &v));
    }
    if let Some(v) = label(st.branch, &st.hash_salt, r.branch.as_deref().unwrap_or("")) {
        a.push(s("tokwatch.branch", &v));
    }
    LogRecord {
        time_unix_nano: (r.ts.max(0) as u64) * 1_000_000,
        observed_time_unix_nano: (observed_ms.max(0) as u64) * 1_000_000,
        severity_number: SeverityNumber::Info as i32,
        severity_text: "INFO".into(),
        event_name: EVENT_NAME.into(),
        attributes: a,
        ..Default::default()
    }
}

fn cost_source_name(c: CostSource) -> &'static str {
    match c {
        CostSource::Computed => "computed",
        CostSource::Reported => "reported",
        CostSource::Estimated => "estimated",
        CostSource::Unpriced => "unpriced",
    }
}

/// One OTLP logs request of `records`.
pub fn logs_request(records: &[Record], st: &Settings) -> ExportLogsServiceRequest {
    let now = now_ms();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(st)),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: records.iter().map(|r| log_record(r, st, now)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The cumulative counters of `rows` (all time since `start_ms`, as of `now_ms`).
pub fn metrics_request(
    rows: &[MetricRow],
    st: &Settings,
    start_ms: i64,
    now_ms: i64,
) -> ExportMetricsServiceRequest {
    let (start, now) = (
        (start_ms.max(0) as u64) * 1_000_000,
        (now_ms.max(0) as u64) * 1_000_000,
    );
    let point = |attrs: Vec<KeyValue>, v: number_data_point::Value| NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(v),
        ..Default::default()
    };
    let (mut tokens, mut cost, mut requests, mut unpriced) = (vec![], vec![], vec![], vec![]);
    for r in rows {
        let mut base = vec![s("tokwatch.tool", &r.tool)];
        if !r.model.is_empty() {
            base.push(s("gen_ai.request.model", &r.model));
        }
        if !r.provider.is_empty() {
            base.push(s("gen_ai.provider.name", &r.provider));
        }
        if let Some(v) = label(st.repo, &st.hash_salt, &r.repo) {
            base.push(s("tokwatch.repo", &v));
        }
        if let Some(v) = label(st.branch, &st.hash_salt, &r.branch) {
            base.push(s("tokwatch.branch", &v));
        }
        let x = &r.sums;
        for (ty, bucket, v) in [
            ("input", "input", x.input),
            ("input", "cache_write_5m", x.cache_write_5m),
            ("input", "cache_write_1h", x.cache_write_1h),
            ("input", "cache_read", x.cache_read),
            ("output", "output", x.output),
        ] {
            let mut a = base.clone();
            a.push(s("gen_ai.token.type", ty));
            a.push(s("tokwatch.token.bucket", bucket));
            tokens.push(point(a, number_data_point::Value::AsInt(v)));
        }
        cost.push(point(
            base.clone(),
            number_data_point::Value::AsDouble(x.cost_usd),
        ));
        requests.push(point(
            base.clone(),
            number_data_point::Value::AsInt(x.requests),
        ));
        unpriced.push(point(
            base,
            number_data_point::Value::AsInt(x.unpriced_requests),
        ));
    }
    let sum = |name: &str, unit: &str, description: &str, pts: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: pts,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(st)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: vec![
                    sum(
                        "gen_ai.client.token.usage",
                        "{token}",
                        "Tokens used by AI coding tool requests (input includes cached input; tokwatch.token.bucket splits it)",
                        tokens,
                    ),
                    sum(
                        "tokwatch.cost",
                        "USD",
                        "Cost of the priced requests (a lower bound where tokwatch.requests.unpriced is not 0)",
                        cost,
                    ),
                    sum("tokwatch.requests", "{request}", "API requests", requests),
                    sum(
                        "tokwatch.requests.unpriced",
                        "{request}",
                        "Requests without a known price",
                        unpriced,
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// What one POST came to.
enum Posted {
    /// 2xx, with the body.
    Ok(Vec<u8>),
    /// Not accepted: why, and how long the collector asked to wait.
    Failed(String, Option<Duration>),
}

struct Client {
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
}

impl Client {
    fn new(st: &Settings) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(st.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            agent,
            headers: st.headers.clone(),
        }
    }

    fn post(&self, url: &str, body: Vec<u8>) -> Posted {
        let mut req = self
            .agent
            .post(url)
            .header("content-type", "application/x-protobuf");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(&body[..]) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(4 << 20)
                    .read_to_vec()
                    .unwrap_or_default();
                if (200..300).contains(&status) {
                    Posted::Ok(body)
                } else {
                    Posted::Failed(format!("{url} answered HTTP {status}"), after)
                }
            }
            Err(e) => Posted::Failed(format!("cannot reach {url}: {e}"), None),
        }
    }
}

/// The exporter thread's state.
struct Exporter {
    store: Store,
    st: Settings,
    client: Client,
    ledger: String,
    mark: i64,
    started_ms: i64,
    backoff: Duration,
    retry_at: Option<Instant>,
    failing: bool,
    metrics_version: Option<i64>,
    next_metrics: Instant,
}

/// A running exporter: wake it after each commit.
pub struct Handle {
    wake: mpsc::Sender<()>,
    /// Its ledger's name.
    pub ledger: String,
}

/// Wakes the exporter after each commit (the daemon's sink).
pub struct WakeSink(mpsc::Sender<()>);

impl Sink for WakeSink {
    fn events(&mut self, _store: &Store, _evs: &[StoredEvent]) {
        let _ = self.0.send(());
    }
}

impl Handle {
    /// A sink that wakes the exporter after each commit.
    pub fn sink(&self) -> WakeSink {
        WakeSink(self.wake.clone())
    }
}

/// Starts the exporter on a thread of its own with its own connection to `db`.
pub fn spawn(db: PathBuf, st: Settings) -> anyhow::Result<Handle> {
    let store = Store::open_writer(&db)?;
    let ledger = ledger_name(&st.logs_url);
    let l = store.ledger(&ledger)?;
    let (tx, rx) = mpsc::channel();
    let mut ex = Exporter {
        client: Client::new(&st),
        store,
        st,
        ledger: ledger.clone(),
        mark: l.rev,
        started_ms: l.started_ms,
        backoff: Duration::from_secs(1),
        retry_at: None,
        failing: false,
        metrics_version: None,
        next_metrics: Instant::now(),
    };
    std::thread::Builder::new()
        .name("tokwatch-otlp".into())
        .spawn(move || ex.run(rx))?;
    Ok(Handle { wake: tx, ledger })
}

impl Exporter {
    fn run(&mut self, rx: mpsc::Receiver<()>) {
        loop {
            let now = Instant::now();
            if self.retry_at.is_none_or(|t| now >= t) {
                self.retry_at = None;
                if self.send_logs() {
                    self.send_metrics();
                }
            }
            let deadline = self.retry_at.unwrap_or(self.next_metrics);
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(()) => while rx.try_recv().is_ok() {},
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn failed(&mut self, why: String, after: Option<Duration>) {
        let wait = after.unwrap_or(self.backoff).min(MAX_BACKOFF);
        if !self.failing {
            log(&format!("otlp: {why}; sending again in {:.0}s and after each failure, up to every {}s, from where the collector last acknowledged", wait.as_secs_f64(), MAX_BACKOFF.as_secs()));
        }
        let _ = self.store.ledger_error(&self.ledger, &why);
        self.failing = true;
        self.retry_at = Some(Instant::now() + wait);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn recovered(&mut self) {
        if self.failing {
            log("otlp: the collector accepts again");
        }
        self.failing = false;
        self.backoff = Duration::from_secs(1);
    }

    /// Sends every unacknowledged record, a batch at a time; false when a batch failed.
    fn send_logs(&mut self) -> bool {
        loop {
            let mut recs = Vec::new();
            if let Err(e) = self.store.export_records(
                &Filter::default(),
                Some(self.mark),
                Some(BATCH),
                &mut |r| {
                    recs.push(r);
                    Ok(())
                },
            ) {
                self.failed(format!("cannot read the database: {e:#}"), None);
                return false;
            }
            if recs.is_empty() {
                return true;
            }
            let top = recs.iter().map(|r| r.rev).max().unwrap_or(self.mark);
            let body = logs_request(&recs, &self.st).encode_to_vec();
            match self.client.post(&self.st.logs_url, body) {
                Posted::Ok(resp) => {
                    self.recovered();
                    if let Ok(r) = ExportLogsServiceResponse::decode(&resp[..]) {
                        if let Some(p) = r.partial_success.filter(|p| p.rejected_log_records > 0) {
                            log(&format!(
                                "otlp: the collector rejected {} of {} log records ({})",
                                p.rejected_log_records,
                                recs.len(),
                                p.error_message
                            ));
                        }
                    }
                    self.mark = top;
                    // The collector has them: the ledger must say so before anything else is
                    // sent (retried while the database is busy).
                    while let Err(e) =
                        self.store
                            .ledger_advance(&self.ledger, top, recs.len() as i64)
                    {
                        log(&format!("otlp: cannot record what was sent: {e:#}"));
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
                Posted::Failed(why, after) => {
                    self.failed(why, after);
                    return false;
                }
            }
        }
    }

    /// Pushes the counters when they changed, or when the interval is due.
    fn send_metrics(&mut self) {
        let v = self.store.last_rev().ok();
        if v == self.metrics_version && Instant::now() < self.next_metrics {
            return;
        }
        let rows = match self.store.metric_totals(
            self.st.repo != LabelMode::Off,
            self.st.branch != LabelMode::Off,
            false,
        ) {
            Ok(r) => r,
            Err(e) => {
                self.failed(format!("cannot read the database: {e:#}"), None);
                return;
            }
        };
        let body = metrics_request(&rows, &self.st, self.started_ms, now_ms()).encode_to_vec();
        match self.client.post(&self.st.metrics_url, body) {
            Posted::Ok(resp) => {
                self.recovered();
                if let Ok(r) = ExportMetricsServiceResponse::decode(&resp[..]) {
                    if let Some(p) = r.partial_success.filter(|p| p.rejected_data_points > 0) {
                        log(&format!(
                            "otlp: the collector rejected {} data points ({})",
                            p.rejected_data_points, p.error_message
                        ));
                    }
                }
                self.metrics_version = v;
                self.next_metrics = Instant::now() + self.st.metrics_interval;
            }
            Posted::Failed(why, after) => self.failed(why, after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env {
            home: PathBuf::from("/home/u"),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        }
    }

    #[test]
    fn settings_come_from_the_config_then_the_standard_variables() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=core,user.name=env"),
        ]);
        let mut c = OtlpConfig::default();
        let st = settings(&c, &e, "laptop-0a0b0c").unwrap();
        assert_eq!(st.logs_url, "https://otel.example:4318/v1/logs");
        assert_eq!(st.metrics_url, "https://otel.example:4318/v1/metrics");
        assert_eq!(
            st.headers,
            vec![("api-key".into(), "a b".into()), ("x".into(), "1".into())]
        );
        assert_eq!(st.timeout, Duration::from_millis(2500));
        assert_eq!(st.metrics_interval, Duration::from_secs(60));
        let res: HashMap<_, _> = st.resource.iter().cloned().collect();
        assert_eq!(res["tokwatch.machine.id"], "laptop-0a0b0c");
        assert_eq!(res["user.name"], "env");
        // The config wins over the variables.
        c.endpoint = Some("http://127.0.0.1:9999".into());
        c.headers.insert("x".into(), "2".into());
        c.resource.insert("user.name".into(), "ana".into());
        let st = settings(&c, &e, "m").unwrap();
        assert_eq!(st.logs_url, "http://127.0.0.1:9999/v1/logs");
        assert!(st.headers.contains(&("x".into(), "2".into())));
        let res: HashMap<_, _> = st.resource.iter().cloned().collect();
        assert_eq!(res["user.name"], "ana");
        assert_eq!(res["team"], "core");
        // Defaults without anything set.
        let st = settings(&OtlpConfig::default(), &env(&[]), "m").unwrap();
        assert_eq!(st.logs_url, "http://localhost:4318/v1/logs");
    }

    #[test]
    fn only_http_protobuf_is_spoken() {
        let e = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        let err = settings(&OtlpConfig::default(), &e, "m").unwrap_err();
        assert!(err.to_string().contains("http/protobuf"), "{err}");
        let c = OtlpConfig {
            endpoint: Some("localhost:4318".into()),
            ..OtlpConfig::default()
        };
        assert!(settings(&c, &env(&[]), "m").is_err());
    }

    #[test]
    fn hashed_labels_name_nothing_and_match_across_machines() {
        use crate::config::exporters::label;
        let a = label(LabelMode::Hash, "team", "github.com/o/secret").unwrap();
        assert_eq!(a.len(), 12);
        assert!(!a.contains("secret"));
        assert_eq!(
            label(LabelMode::Hash, "team", "github.com/o/secret").unwrap(),
            a
        );
        assert_ne!(
            label(LabelMode::Hash, "other", "github.com/o/secret").unwrap(),
            a
        );
        assert_eq!(label(LabelMode::Off, "", "x"), None);
        assert_eq!(label(LabelMode::Name, "", "x").as_deref(), Some("x"));
    }
}
