//! The local web dashboard the daemon serves (`docs/dashboard.md`): the embedded pages
//! ([`assets`]), the JSON API ([`api`]) on read-only connections, and the live stream
//! (Server-Sent Events on `/api/events`) pushed from what the daemon stores.
//!
//! Served by `axum` on a `tokio` runtime of its own thread, on 127.0.0.1 (unless configured
//! otherwise) at a port chosen once and remembered beside the database. Requests whose `Host`
//! is not the loopback address or `localhost` with that port are refused (DNS rebinding); no
//! CORS header is ever sent. The only changes it makes are a budget's limit and the alert pause,
//! and both need the per-install token of [`token_file`] (mode 0600).

pub mod api;
pub mod assets;

use crate::daemon::watcher::Msg;
use crate::daemon::{feed, log, Sink};
use crate::status::Settings;
use crate::store::budget::{BudgetDef, BudgetSource};
use crate::store::{Store, StoredEvent};
use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Where the dashboard listens when the config names no address: loopback only.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1";

/// The header that carries the per-install token on the two mutations.
pub const TOKEN_HEADER: &str = "x-tokwatch-token";

/// A comment line this often keeps idle timers from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page paths (each answers with the HTML shell).
const PAGES: &[&str] = &["/", "/repos", "/workspace", "/session", "/treemap"];

/// What the live stream carries to every open page.
#[derive(Debug, Clone)]
pub enum Live {
    /// A request was stored (`event: usage`, the feed's JSON line).
    Usage(Arc<str>),
    /// Budgets or the alert pause changed (`event: status`).
    Status,
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The per-install token of the database `db` (mode 0600, readable by the local user only).
pub fn token_file(db: &Path) -> PathBuf {
    side_file(db, ".dashboard-token")
}

/// Where the dashboard's port is remembered.
pub fn port_file(db: &Path) -> PathBuf {
    side_file(db, ".dashboard-port")
}

/// The port the daemon of `db` serves the dashboard on, as it remembered it.
pub fn remembered_port(db: &Path) -> Option<u16> {
    std::fs::read_to_string(port_file(db))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The token of `db`, if one was made.
pub fn read_token(db: &Path) -> Option<String> {
    let t = std::fs::read_to_string(token_file(db)).ok()?;
    let t = t.trim().to_string();
    (t.len() >= 32).then_some(t)
}

fn write_private(p: &Path, text: &str) -> std::io::Result<()> {
    let tmp = side_file(p, ".tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = o.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, p)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    #[cfg(unix)]
    let ok = {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf))
            .is_ok()
    };
    #[cfg(not(unix))]
    let ok = false;
    if !ok {
        // No /dev/urandom: the std hasher's per-process random keys, mixed with the clock.
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in buf.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            let v = h.finish().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of `db`, made on first use (mode 0600); a token file others could read is made
/// private again.
pub fn ensure_token(db: &Path) -> anyhow::Result<String> {
    let p = token_file(db);
    if let Some(t) = read_token(db) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o077 != 0)? {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        return Ok(t);
    }
    let t = random_hex(32);
    write_private(&p, &format!("{t}\n"))
        .with_context(|| format!("cannot write the dashboard token {}", p.display()))?;
    Ok(t)
}

/// The dashboard's address for a browser (with the token in the fragment, which is never sent
/// to a server nor logged, when `token` is given).
pub fn url(addr: &str, port: u16, token: Option<&str>) -> String {
    let host = match addr.parse::<IpAddr>() {
        Ok(_) => url_host(browse_ip(addr)),
        Err(_) => addr.to_string(),
    };
    match token {
        Some(t) => format!("http://{host}:{port}/#token={t}"),
        None => format!("http://{host}:{port}/"),
    }
}

/// Where a browser (or `tokwatch dashboard`'s probe) reaches a dashboard bound to `addr`: the
/// address itself, or loopback when it listens on every interface (`0.0.0.0`, `::`) or the
/// configured value is not an address.
pub fn browse_ip(addr: &str) -> IpAddr {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) if a.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        Ok(IpAddr::V6(a)) if a.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        Ok(a) => a,
        Err(_) => IpAddr::from([127, 0, 0, 1]),
    }
}

/// `Host` header value for a request to `ip:port` (brackets around IPv6).
pub fn host_header(ip: IpAddr, port: u16) -> String {
    format!("{}:{port}", url_host(ip))
}

/// How the daemon serves the dashboard.
pub struct Options {
    /// The database (read-only connections; the token and port files sit beside it).
    pub db: PathBuf,
    /// Budgets, zone and week start.
    pub settings: Settings,
    /// Address to listen on.
    pub address: String,
    /// The configured port (`None`: the remembered one, else a free one, then remembered).
    pub port: Option<u16>,
    /// The daemon's alert pause.
    pub paused: Arc<AtomicBool>,
    /// The daemon's loop (asked to refresh after a change).
    pub daemon: mpsc::Sender<Msg>,
    /// Prices, for what each kind of content cost in a session (`/api/session`).
    pub pricer: Arc<crate::pricing::Pricer>,
}

/// The running dashboard (it serves until the process ends).
pub struct Dashboard {
    /// The address it listens on.
    pub addr: SocketAddr,
    live: broadcast::Sender<Live>,
}

impl Dashboard {
    /// The daemon sink that pushes stored requests and setting changes to the open pages.
    pub fn sink(&self, store: &Store) -> DashboardSink {
        DashboardSink {
            live: self.live.clone(),
            signature: store.settings_signature().ok(),
        }
    }
}

/// Pushes what the daemon stores to every open page (`event: usage`), and `event: status`
/// when budgets or the alert pause changed. Costs nothing while no page is open.
pub struct DashboardSink {
    live: broadcast::Sender<Live>,
    signature: Option<String>,
}

impl Sink for DashboardSink {
    fn events(&mut self, store: &Store, evs: &[StoredEvent]) {
        if self.live.receiver_count() == 0 {
            return;
        }
        for e in feed::feed_events(store, evs) {
            if let Ok(j) = serde_json::to_string(&e) {
                let _ = self.live.send(Live::Usage(j.into()));
            }
        }
    }
    fn refresh(&mut self, store: &Store) {
        let sig = store.settings_signature().ok();
        if sig.is_some() && sig != self.signature {
            self.signature = sig;
            let _ = self.live.send(Live::Status);
        }
    }
}

struct Shared {
    db: PathBuf,
    settings: Settings,
    token: String,
    hosts: Vec<String>,
    readers: Mutex<Vec<Store>>,
    live: broadcast::Sender<Live>,
    paused: Arc<AtomicBool>,
    daemon: Mutex<mpsc::Sender<Msg>>,
    pricer: Arc<crate::pricing::Pricer>,
}

impl Shared {
    /// Runs `f` on a pooled read-only connection (one that failed is dropped, not reused).
    fn with_reader<R>(&self, f: impl FnOnce(&Store) -> anyhow::Result<R>) -> anyhow::Result<R> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let store = match pooled {
            Some(s) => s,
            None => {
                let s = Store::open_reader(&self.db)?;
                // The rollup of a large history stays in memory between page loads.
                s.set_cache_mb(32)?;
                s
            }
        };
        let r = f(&store);
        if r.is_ok() {
            self.readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(store);
        }
        r
    }

    fn host_ok(&self, host: &str) -> bool {
        let h = host.trim().to_ascii_lowercase();
        self.hosts.contains(&h)
    }
}

fn bind(o: &Options) -> anyhow::Result<std::net::TcpListener> {
    let ip: IpAddr = o.address.parse().map_err(|_| {
        anyhow::anyhow!(
            "[dashboard] address {:?} is not an IP address (use 127.0.0.1)",
            o.address
        )
    })?;
    if let Some(p) = o.port {
        return std::net::TcpListener::bind((ip, p)).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}:{p} for the dashboard: {e} (set another [dashboard] port, or remove it to let tokwatch choose one)",
                o.address
            )
        });
    }
    if let Some(p) = remembered_port(&o.db) {
        match std::net::TcpListener::bind((ip, p)) {
            Ok(l) => return Ok(l),
            Err(e) => log(&format!(
                "the dashboard's port {p} is taken ({e}): choosing another (bookmarks of the old address no longer work)"
            )),
        }
    }
    let l = std::net::TcpListener::bind((ip, 0))
        .with_context(|| format!("cannot listen on {} for the dashboard", o.address))?;
    let port = l.local_addr()?.port();
    write_private(&port_file(&o.db), &format!("{port}\n")).with_context(|| {
        format!(
            "cannot remember the dashboard's port in {}",
            port_file(&o.db).display()
        )
    })?;
    Ok(l)
}

/// Binds now (an address in use is an error here, not later) and serves the dashboard on a
/// thread of its own.
pub fn spawn(o: Options) -> anyhow::Result<Dashboard> {
    let token = ensure_token(&o.db)?;
    let std_listener = bind(&o)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let port = addr.port();
    let mut hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("{h}:{port}"))
        .collect();
    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
        hosts.push(format!("{}:{port}", url_host(addr.ip())));
    }
    let (live, _) = broadcast::channel(1024);
    let shared = Arc::new(Shared {
        db: o.db,
        settings: o.settings,
        token,
        hosts,
        readers: Mutex::new(Vec::new()),
        live: live.clone(),
        paused: o.paused,
        daemon: Mutex::new(o.daemon),
        pricer: o.pricer,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()?;
    std::thread::Builder::new()
        .name("tokwatch-dashboard".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        log(&format!("dashboard: {e}"));
                        return;
                    }
                };
                let app = axum::Router::new().fallback(handle).with_state(shared);
                if let Err(e) = axum::serve(listener, app).await {
                    log(&format!("the dashboard stopped: {e}"));
                }
            })
        })?;
    Ok(Dashboard { addr, live })
}

fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(a) => format!("[{a}]"),
        a => a.to_string(),
    }
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn json_response(status: u16, v: &serde_json::Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        v.to_string(),
    )
        .into_response()
}

fn error(status: u16, message: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": message }))
}

fn shell(status: StatusCode) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        assets::shell(),
    )
        .into_response()
}

/// A validator of embedded bytes: the same binary answers the same assets with the same tag,
/// so the browser revalidates (304, no body) and keeps its compiled modules.
fn etag(b: &[u8]) -> String {
    format!("\"{:016x}\"", crate::tailer::fnv1a(b))
}

/// An asset: under this binary's version (`/assets/v-VERSION/...`, what the shell names) it is
/// immutable and cached for a year; under its plain name, revalidated every time.
fn file(
    t: &'static str,
    b: &'static [u8],
    if_none_match: Option<&str>,
    immutable: bool,
) -> Response {
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let tag = etag(b);
    if if_none_match.is_some_and(|m| m.split(',').any(|x| x.trim() == tag)) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, tag), (header::CACHE_CONTROL, cache.into())],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, t.to_string()),
            (header::CACHE_CONTROL, cache.into()),
            (header::ETAG, tag),
        ],
        b,
    )
        .into_response()
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !sh.host_ok(host) {
        // DNS rebinding: a page of another site that resolves its name to 127.0.0.1.
        return secure(
            (
                StatusCode::MISDIRECTED_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "this is the tokwatch dashboard: open it as http://127.0.0.1:PORT/ (requests for other host names are refused)\n",
            )
                .into_response(),
        );
    }
    let path = req.uri().path().to_string();
    let query = api::parse_query(req.uri().query());
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    let inm = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let inm = inm.as_deref();
    let r = if let Some(name) = path.strip_prefix("/api/") {
        match (get, name) {
            // HEAD says what the stream is without opening one (a link checker, `curl -I`).
            (true, "events") if method == Method::HEAD => (
                [
                    (header::CONTENT_TYPE, "text/event-stream"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                Body::empty(),
            )
                .into_response(),
            (true, "events") => events(&sh),
            (true, _) => {
                let name = name.to_string();
                let sh2 = sh.clone();
                let res = tokio::task::spawn_blocking(move || {
                    let cx = api::Ctx {
                        settings: &sh2.settings,
                        paused: sh2.paused.load(Ordering::Relaxed),
                        now_ms: crate::store::now_ms(),
                        pricer: &sh2.pricer,
                    };
                    let mut out = None;
                    let r = sh2.with_reader(|s| {
                        out = Some(api::get(s, &cx, &name, &query));
                        Ok(())
                    });
                    match (r, out) {
                        (Ok(()), Some(v)) => v,
                        (Err(e), _) => Err(api::ApiError::from(e)),
                        (Ok(()), None) => Err(api::ApiError::from(anyhow::anyhow!("no answer"))),
                    }
                })
                .await;
                match res {
                    Ok(Ok(v)) => json_response(200, &v),
                    Ok(Err(e)) => error(e.status, &e.message),
                    Err(e) => error(500, &format!("the dashboard failed: {e}")),
                }
            }
            (false, "alerts/pause" | "budgets") if method == Method::POST => {
                mutate(sh.clone(), name.to_string(), req).await
            }
            _ => error(
                if get { 404 } else { 405 },
                &format!("no such endpoint: {method} {path}"),
            ),
        }
    } else if !get {
        error(405, &format!("{method} is not served here"))
    } else if PAGES.contains(&path.as_str()) {
        shell(StatusCode::OK)
    } else if let Some(((t, b), immutable)) = path.strip_prefix("/assets/").and_then(|rest| {
        let (name, versioned) = assets::split_version(rest);
        assets::asset(name).map(|a| (a, versioned))
    }) {
        file(t, b, inm, immutable)
    } else if path == "/favicon.ico" {
        let (t, b) = assets::asset("favicon.svg").expect("embedded");
        file(t, b, inm, false)
    } else if path.starts_with("/assets/") {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    } else {
        // The shell's own "no such page" (app.js), with the status a bookmark checker expects.
        shell(StatusCode::NOT_FOUND)
    };
    secure(r)
}

/// `GET /api/events`: `retry: 1000`, then one `event: usage` per stored request and `event:
/// status` when settings change, a comment every [`KEEP_ALIVE`] of silence. Events that arrive
/// together go out in one write.
fn events(sh: &Shared) -> Response {
    let rx = sh.live.subscribe();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if first {
            return Some((
                Ok::<_, std::convert::Infallible>(Bytes::from_static(b"retry: 1000\n\n")),
                (rx, false),
            ));
        }
        let mut out = String::new();
        let push = |out: &mut String, m: Result<Live, broadcast::error::RecvError>| match m {
            Ok(Live::Usage(j)) => {
                out.push_str("event: usage\ndata: ");
                out.push_str(&j);
                out.push_str("\n\n");
                true
            }
            Ok(Live::Status) => {
                out.push_str("event: status\ndata: {}\n\n");
                true
            }
            // Some events were dropped for this slow reader: "something changed" (null
            // concerns every page).
            Err(broadcast::error::RecvError::Lagged(_)) => {
                out.push_str("event: usage\ndata: null\n\n");
                true
            }
            Err(broadcast::error::RecvError::Closed) => false,
        };
        match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            Err(_) => out.push_str(": keep-alive\n\n"),
            Ok(m) => {
                if !push(&mut out, m) {
                    return None;
                }
                loop {
                    match rx.try_recv() {
                        Ok(l) => {
                            push(&mut out, Ok(l));
                        }
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            push(&mut out, Err(broadcast::error::RecvError::Lagged(n)));
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        Some((Ok(Bytes::from(out)), (rx, false)))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn same(a: &str, b: &str) -> bool {
    // Constant time in the token's length.
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn mutate(sh: Arc<Shared>, name: String, req: Request) -> Response {
    let given = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    match given {
        None => return error(
            401,
            "this change needs the dashboard's token: open the dashboard with `tokwatch dashboard`",
        ),
        Some(t) if !same(t.trim(), &sh.token) => {
            return error(
                403,
                "wrong token: open the dashboard again with `tokwatch dashboard`",
            )
        }
        Some(_) => {}
    }
    let body = match axum::body::to_bytes(req.into_body(), 16 * 1024).await {
        Ok(b) => b,
        Err(_) => return error(400, "the body is too large or could not be read"),
    };
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return error(400, "the body is not JSON"),
    };
    let sh2 = sh.clone();
    let res = tokio::task::spawn_blocking(move || match name.as_str() {
        "alerts/pause" => {
            let Some(p) = v.get("paused").and_then(|p| p.as_bool()) else {
                return Err(api::ApiError::bad("paused must be true or false"));
            };
            sh2.paused.store(p, Ordering::Relaxed);
            log(if p {
                "alerts paused (dashboard)"
            } else {
                "alerts resumed (dashboard)"
            });
            // The daemon writes the pause to the database on this refresh.
            let _ = sh2
                .daemon
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send(Msg::Refresh);
            Ok(serde_json::json!({ "alerts_paused": p }))
        }
        _ => set_budget(&sh2, &v),
    })
    .await;
    match res {
        Ok(Ok(v)) => {
            let _ = sh.live.send(Live::Status);
            json_response(200, &v)
        }
        Ok(Err(e)) => error(e.status, &e.message),
        Err(e) => error(500, &format!("the dashboard failed: {e}")),
    }
}

fn set_budget(sh: &Shared, v: &serde_json::Value) -> Result<serde_json::Value, api::ApiError> {
    let id = v
        .get("id")
        .and_then(|i| i.as_str())
        .ok_or_else(|| api::ApiError::bad("id must be a budget's id"))?;
    let limit = v
        .get("limit_usd")
        .and_then(|l| l.as_f64())
        .ok_or_else(|| api::ApiError::bad("limit_usd must be a number"))?;
    let limit = crate::status::budgets::check_limit(limit).map_err(api::ApiError::bad)?;
    let defs = sh.with_reader(|s| sh.settings.budgets(s))?;
    let Some(b) = defs.into_iter().find(|b| b.id == id) else {
        return Err(api::ApiError {
            status: 404,
            message: format!("no such budget: {id} (`tokwatch budget set` makes new ones)"),
        });
    };
    let def = BudgetDef {
        limit_usd: limit,
        source: BudgetSource::Set,
        ..b
    };
    // One row of the budgets table in a short transaction, as `tokwatch budget set` writes it.
    let w = Store::open_writer(&sh.db)?;
    w.set_budget(&def)?;
    drop(w);
    crate::status::plan::poke(&sh.db, "budgets-changed");
    log(&format!("budget {} set to ${limit:.2} (dashboard)", def.id));
    Ok(serde_json::json!({"id": def.id, "limit_usd": def.limit_usd}))
}

/// Opens `url` in the default browser: `$BROWSER` (a `:`-separated list of commands, `%s` for
/// the address), else the desktop's opener (`xdg-open`, `open`, `start`). An error says why
/// none could be opened (then the caller prints the address).
pub fn open_browser(url: &str) -> Result<(), String> {
    let mut tried = Vec::new();
    if let Some(b) = std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        for cmd in b
            .to_string_lossy()
            .split(':')
            .filter(|c| !c.trim().is_empty())
        {
            let mut parts: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
            if parts.iter().any(|p| p.contains("%s")) {
                for p in &mut parts {
                    *p = p.replace("%s", url);
                }
            } else {
                parts.push(url.to_string());
            }
            match run_opener(&parts[0], &parts[1..]) {
                Ok(()) => return Ok(()),
                Err(e) => tried.push(e),
            }
        }
    }
    #[cfg(target_os = "macos")]
    let opener: Option<(&str, Vec<&str>)> = Some(("open", vec![url]));
    #[cfg(windows)]
    let opener: Option<(&str, Vec<&str>)> =
        Some(("rundll32", vec!["url.dll,FileProtocolHandler", url]));
    #[cfg(not(any(target_os = "macos", windows)))]
    let opener: Option<(&str, Vec<&str>)> =
        if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
            Some(("xdg-open", vec![url]))
        } else {
            tried.push("no graphical session (DISPLAY and WAYLAND_DISPLAY are not set)".into());
            None
        };
    if let Some((cmd, args)) = opener {
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        match run_opener(cmd, &args) {
            Ok(()) => return Ok(()),
            Err(e) => tried.push(e),
        }
    }
    Err(tried.join("; "))
}

/// Starts an opener; one that fails within a few seconds has failed, one still running (a
/// browser started in the foreground) has opened the page.
fn run_opener(cmd: &str, args: &[String]) -> Result<(), String> {
    let mut c = std::process::Command::new(cmd);
    c.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().map_err(|e| format!("{cmd}: {e}"))?;
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("{cmd} failed ({st})")),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("{cmd}: {e}")),
        }
    }
    // Still running: a browser in the foreground. Reap it when it ends.
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_token_in_the_fragment_only() {
        assert_eq!(url("127.0.0.1", 8377, None), "http://127.0.0.1:8377/");
        assert_eq!(
            url("127.0.0.1", 8377, Some("ab")),
            "http://127.0.0.1:8377/#token=ab"
        );
        assert_eq!(url("::1", 9, None), "http://[::1]:9/");
        assert_eq!(url("0.0.0.0", 9, None), "http://127.0.0.1:9/");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }

    #[test]
    fn the_token_file_is_private_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("t.db");
        let t = ensure_token(&db).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(ensure_token(&db).unwrap(), t);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = token_file(&db);
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(ensure_token(&db).unwrap(), t);
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
