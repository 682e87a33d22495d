//! `/metrics` for Prometheus (OpenMetrics text, rendered with `prometheus-client`): all-time
//! counters of this machine's tokens by bucket, cost, requests and unpriced requests, labelled by
//! tool, model, provider and machine, and by repository and branch only where the config allows
//! it (off by default, or hashed: bounded cardinality, no names).
//!
//! Served by `axum` on a `tokio` runtime of its own thread, on its own address (loopback unless
//! configured). Each scrape reads the rollup through a read-only connection of its own; the text
//! is kept until the database changes (SQLite's `data_version`), so scrapes of an idle database
//! cost no query.

use crate::config::exporters::{label, LabelMode, PrometheusConfig};
use crate::store::export::MetricRow;
use crate::store::Store;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// Where `/metrics` listens when the config names no address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// The OpenMetrics content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;

/// What the endpoint counts and labels.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `repo` label.
    pub repo: LabelMode,
    /// The `branch` label.
    pub branch: LabelMode,
    /// Mixed into hashed labels.
    pub hash_salt: String,
    /// Every machine's requests, not only this machine's.
    pub all_machines: bool,
}

impl From<&PrometheusConfig> for Options {
    fn from(c: &PrometheusConfig) -> Options {
        Options {
            repo: c.repo,
            branch: c.branch,
            hash_salt: c.hash_salt.clone(),
            all_machines: c.all_machines,
        }
    }
}

/// The OpenMetrics text of `rows`.
pub fn render(rows: &[(String, MetricRow)], o: &Options) -> String {
    let tokens = Family::<Labels, Counter>::default();
    let reasoning = Family::<Labels, Counter>::default();
    let requests = Family::<Labels, Counter>::default();
    let unpriced = Family::<Labels, Counter>::default();
    let cost = Family::<Labels, Counter<f64, AtomicU64>>::default();
    for (machine, r) in rows {
        let mut l: Labels = vec![
            ("tool".into(), r.tool.clone()),
            ("model".into(), r.model.clone()),
            ("provider".into(), r.provider.clone()),
            ("machine".into(), machine.clone()),
        ];
        if let Some(v) = label(o.repo, &o.hash_salt, &r.repo) {
            l.push(("repo".into(), v));
        }
        if let Some(v) = label(o.branch, &o.hash_salt, &r.branch) {
            l.push(("branch".into(), v));
        }
        let s = &r.sums;
        for (t, v) in [
            ("input", s.input),
            ("cache_write_5m", s.cache_write_5m),
            ("cache_write_1h", s.cache_write_1h),
            ("cache_read", s.cache_read),
            ("output", s.output),
        ] {
            let mut lt = l.clone();
            lt.push(("type".into(), t.into()));
            tokens.get_or_create(&lt).inc_by(v.max(0) as u64);
        }
        reasoning
            .get_or_create(&l)
            .inc_by(s.reasoning.max(0) as u64);
        requests.get_or_create(&l).inc_by(s.requests.max(0) as u64);
        unpriced
            .get_or_create(&l)
            .inc_by(s.unpriced_requests.max(0) as u64);
        cost.get_or_create(&l).inc_by(s.cost_usd.max(0.0));
    }
    let mut reg = Registry::with_prefix("tokwatch");
    reg.register(
        "tokens",
        "Tokens of AI coding tool requests, by disjoint bucket (type): input, cache_write_5m, cache_write_1h, cache_read, output",
        tokens,
    );
    reg.register(
        "reasoning_tokens",
        "Reasoning tokens (already inside the output tokens)",
        reasoning,
    );
    reg.register("requests", "API requests", requests);
    reg.register(
        "unpriced_requests",
        "Requests without a known price: their tokens are counted, their cost is not in cost_usd",
        unpriced,
    );
    reg.register(
        "cost_usd",
        "Cost in US dollars of the priced requests (a lower bound where unpriced_requests is not 0)",
        cost,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String");
    out
}

struct Scraper {
    db: PathBuf,
    opts: Options,
    store: Option<Store>,
    cached: Option<(i64, String)>,
}

impl Scraper {
    fn scrape(&mut self) -> anyhow::Result<String> {
        if self.store.is_none() {
            self.store = Some(Store::open_reader(&self.db)?);
        }
        let store = self.store.as_ref().expect("opened above");
        let v = store.data_version()?;
        if let Some((cv, text)) = &self.cached {
            if *cv == v {
                return Ok(text.clone());
            }
        }
        let machine = store.local_machine()?.unwrap_or_default();
        let rows = store.metric_totals(
            self.opts.repo != LabelMode::Off,
            self.opts.branch != LabelMode::Off,
            self.opts.all_machines,
        )?;
        let rows: Vec<(String, MetricRow)> = rows
            .into_iter()
            .map(|r| (r.machine.clone().unwrap_or_else(|| machine.clone()), r))
            .collect();
        let text = render(&rows, &self.opts);
        self.cached = Some((v, text.clone()));
        Ok(text)
    }
}

/// The running endpoint: it serves until it is dropped (a config reload that turns it off or
/// moves it) or the process ends.
pub struct Endpoint {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Endpoint {
    /// Stops accepting at once (the socket is closed); a scrape in progress is answered.
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Binds `listen` now (an address in use is an error here, not later) and serves `/metrics`
/// from the database `db` on a thread of its own.
pub fn spawn(db: PathBuf, listen: &str, opts: Options) -> anyhow::Result<Endpoint> {
    let std_listener = std::net::TcpListener::bind(listen).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {listen} for /metrics: {e} (set another [export.prometheus] listen address)"
        )
    })?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let scraper = Arc::new(Mutex::new(Scraper {
        db,
        opts,
        store: None,
        cached: None,
    }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    std::thread::Builder::new()
        .name("tokwatch-metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        crate::daemon::log(&format!("/metrics: {e}"));
                        return;
                    }
                };
                let app = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let s = scraper.clone();
                        async move { metrics(&s) }
                    }),
                );
                let stopped = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    crate::daemon::log(&format!("/metrics stopped: {e}"));
                }
            })
        })?;
    Ok(Endpoint {
        addr,
        stop: Some(stop),
    })
}

fn metrics(s: &Mutex<Scraper>) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
    match s.scrape() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            // An error is an error, never a zero: the scrape fails and Prometheus marks it down.
            s.store = None;
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("tokwatch cannot read its database: {e:#}\n"),
            )
                .into_response()
        }
    }
}
