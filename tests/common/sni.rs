//! D-Bus assertion harness for a StatusNotifierItem (the tray icon) and its dbusmenu.
//!
//! Reads what a tray host would read: the item's `Title`, `ToolTip` (title + text), `Id`,
//! `Status`, icon sizes, and the menu labels from `com.canonical.dbusmenu.GetLayout`. Every read
//! goes to the item (no property cache), so a changed value is seen as soon as it is exported.
//!
//! Usage:
//! ```ignore
//! let bus = TestBus::session_or_private();          // own dbus-daemon unless one is given
//! let mut child = Command::new(bin).env("DBUS_SESSION_BUS_ADDRESS", &bus.address).spawn()?;
//! let conn = bus.connect();
//! let name = find_item_by_pid(&conn, child.id(), TIMEOUT)?;
//! let view = wait_for_view(&conn, &name, TIMEOUT, |v| v.item.title == "$3.42")?;
//! assert!(view.labels().contains(&"Today: $3.42".to_string()));
//! ```
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zbus::blocking::Connection;
use zbus::zvariant::{OwnedValue, Structure, Value};

pub const SNI_INTERFACE: &str = "org.kde.StatusNotifierItem";
pub const SNI_PATH: &str = "/StatusNotifierItem";
pub const DBUSMENU_INTERFACE: &str = "com.canonical.dbusmenu";

/// A session bus for a test: the caller's (`DBUS_SESSION_BUS_ADDRESS`) or a private
/// `dbus-daemon --session` that is killed when this is dropped.
pub struct TestBus {
    pub address: String,
    daemon: Option<Child>,
}

impl TestBus {
    /// Uses `DBUS_SESSION_BUS_ADDRESS` when it is set, else starts a private bus.
    pub fn session_or_private() -> TestBus {
        match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            Ok(address) if !address.is_empty() => TestBus {
                address,
                daemon: None,
            },
            _ => TestBus::private(),
        }
    }

    /// Starts `dbus-daemon --session --nofork --print-address`; panics with a clear message
    /// when it is not installed (Debian/Ubuntu package `dbus`, or `dbus-daemon`).
    pub fn private() -> TestBus {
        let mut child = match Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "this test needs a D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and \
                 `dbus-daemon` is not installed (apt-get install dbus-daemon, or the `dbus` \
                 package), or run it under `dbus-run-session -- cargo test`"
            ),
            Err(e) => panic!("could not start dbus-daemon: {e}"),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let address = line.trim().to_string();
        if read.is_err() || address.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dbus-daemon did not print its address");
        }
        TestBus {
            address,
            daemon: Some(child),
        }
    }

    /// A connection to this bus whose method calls give up after 10 s (a hung peer fails the
    /// test instead of hanging it).
    pub fn connect(&self) -> Connection {
        zbus::blocking::connection::Builder::address(self.address.as_str())
            .map(|b| b.method_timeout(Duration::from_secs(10)))
            .and_then(|b| b.build())
            .unwrap_or_else(|e| panic!("cannot connect to the test bus {}: {e}", self.address))
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

/// Polls `f` until `pred` holds or `timeout` passes; the error names the last value seen.
pub fn wait_for<T: std::fmt::Debug>(
    timeout: Duration,
    mut f: impl FnMut() -> Result<T, String>,
    pred: impl Fn(&T) -> bool,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = f();
        if let Ok(v) = &last {
            if pred(v) {
                return last;
            }
        }
        if Instant::now() >= deadline {
            return Err(match last {
                Ok(v) => format!("condition not met within {timeout:?}; last seen: {v:#?}"),
                Err(e) => format!("condition not met within {timeout:?}; last error: {e}"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dbus_err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Bus names owned by the process `pid` that are StatusNotifierItems: the
/// `org.kde.StatusNotifierItem-<pid>-<n>` well-known names (ksni, KDE) and, failing those, unique
/// names of that process that export `/StatusNotifierItem`.
pub fn items_of_pid(conn: &Connection, pid: u32) -> Result<Vec<String>, String> {
    let dbus = zbus::blocking::fdo::DBusProxy::new(conn).map_err(|e| dbus_err("DBus proxy", e))?;
    let names = dbus.list_names().map_err(|e| dbus_err("ListNames", e))?;
    let mut found = Vec::new();
    for name in names {
        let n = name.as_str();
        if !n.starts_with("org.kde.StatusNotifierItem-") {
            continue;
        }
        let owner_pid = dbus
            .get_connection_unix_process_id(name.inner().clone())
            .map_err(|e| dbus_err("GetConnectionUnixProcessID", e))?;
        if owner_pid == pid {
            found.push(n.to_string());
        }
    }
    found.sort();
    Ok(found)
}

/// Waits until the process `pid` owns a StatusNotifierItem name and returns it.
pub fn find_item_by_pid(conn: &Connection, pid: u32, timeout: Duration) -> Result<String, String> {
    let names = wait_for(timeout, || items_of_pid(conn, pid), |v| !v.is_empty())
        .map_err(|e| format!("no StatusNotifierItem owned by pid {pid}: {e}"))?;
    Ok(names[0].clone())
}

fn get_property(
    conn: &Connection,
    dest: &str,
    path: &str,
    iface: &str,
    prop: &str,
) -> Result<OwnedValue, String> {
    let reply = conn
        .call_method(
            Some(dest),
            path,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(iface, prop),
        )
        .map_err(|e| dbus_err(&format!("Get {iface}.{prop} on {dest}"), e))?;
    reply
        .body()
        .deserialize::<OwnedValue>()
        .map_err(|e| dbus_err(&format!("decode {prop}"), e))
}

fn as_string(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.as_str().to_string()),
        Value::ObjectPath(p) => Some(p.as_str().to_string()),
        Value::Value(inner) => as_string(inner),
        _ => None,
    }
}

fn string_property(conn: &Connection, dest: &str, prop: &str) -> Result<String, String> {
    let v = get_property(conn, dest, SNI_PATH, SNI_INTERFACE, prop)?;
    as_string(&v).ok_or_else(|| format!("{prop} is not a string: {v:?}"))
}

/// Width x height of each pixmap in an `a(iiay)` value.
fn pixmap_sizes(v: &Value<'_>) -> Vec<(i32, i32)> {
    let Value::Array(a) = v else {
        return Vec::new();
    };
    a.inner()
        .iter()
        .filter_map(|p| match p {
            Value::Structure(s) => match s.fields() {
                [Value::I32(w), Value::I32(h), ..] => Some((*w, *h)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The StatusNotifierItem properties a host shows.
#[derive(Clone, Debug, PartialEq)]
pub struct SniItem {
    pub bus_name: String,
    pub id: String,
    pub title: String,
    /// Ayatana's `XAyatanaLabel`: what AppIndicator hosts show next to the icon.
    pub ayatana_label: String,
    pub status: String,
    pub tooltip_title: String,
    pub tooltip_text: String,
    pub menu_path: String,
    pub icon_sizes: Vec<(i32, i32)>,
}

pub fn read_item(conn: &Connection, bus_name: &str) -> Result<SniItem, String> {
    let tooltip = get_property(conn, bus_name, SNI_PATH, SNI_INTERFACE, "ToolTip")?;
    // (sa(iiay)ss): icon name, icon pixmaps, title, text.
    let (tooltip_title, tooltip_text) = match &*tooltip {
        Value::Structure(s) => match s.fields() {
            [_, _, t, d] => (
                as_string(t).unwrap_or_default(),
                as_string(d).unwrap_or_default(),
            ),
            f => return Err(format!("ToolTip has {} fields, expected 4", f.len())),
        },
        other => return Err(format!("ToolTip is not a structure: {other:?}")),
    };
    let pixmap = get_property(conn, bus_name, SNI_PATH, SNI_INTERFACE, "IconPixmap")?;
    Ok(SniItem {
        bus_name: bus_name.to_string(),
        id: string_property(conn, bus_name, "Id")?,
        title: string_property(conn, bus_name, "Title")?,
        ayatana_label: string_property(conn, bus_name, "XAyatanaLabel")?,
        status: string_property(conn, bus_name, "Status")?,
        tooltip_title,
        tooltip_text,
        menu_path: string_property(conn, bus_name, "Menu")?,
        icon_sizes: pixmap_sizes(&pixmap),
    })
}

/// Raw RGBA pixels of the item's first `IconPixmap` (SNI sends ARGB32 in network byte order).
pub fn read_icon_rgba(conn: &Connection, bus_name: &str) -> Result<(i32, i32, Vec<u8>), String> {
    let v = get_property(conn, bus_name, SNI_PATH, SNI_INTERFACE, "IconPixmap")?;
    let Value::Array(a) = &*v else {
        return Err(format!("IconPixmap is not an array: {v:?}"));
    };
    let Some(Value::Structure(s)) = a.inner().first() else {
        return Err("IconPixmap is empty".into());
    };
    let [Value::I32(w), Value::I32(h), Value::Array(data)] = s.fields() else {
        return Err(format!("unexpected pixmap: {s:?}"));
    };
    let argb: Vec<u8> = data
        .inner()
        .iter()
        .map(|b| match b {
            Value::U8(b) => Ok(*b),
            other => Err(format!("pixmap byte is {other:?}")),
        })
        .collect::<Result<_, _>>()?;
    let rgba = argb
        .chunks_exact(4)
        .flat_map(|p| [p[1], p[2], p[3], p[0]])
        .collect();
    Ok((*w, *h, rgba))
}

/// One dbusmenu item.
#[derive(Clone, Debug, PartialEq)]
pub struct MenuNode {
    pub id: i32,
    /// The label with mnemonic underscores resolved (`__` -> `_`, a lone `_` dropped).
    pub label: String,
    pub enabled: bool,
    pub visible: bool,
    pub is_separator: bool,
    /// `checkmark` or `radio` for toggle items.
    pub toggle_type: Option<String>,
    /// 1 checked, 0 unchecked, -1 indeterminate.
    pub toggle_state: Option<i32>,
    pub children: Vec<MenuNode>,
}

/// Resolves dbusmenu mnemonics: `__` is a literal underscore, a single `_` marks the access key.
pub fn strip_mnemonic(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut chars = label.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_' {
            if chars.peek() == Some(&'_') {
                chars.next();
                out.push('_');
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_node(s: &Structure<'_>) -> Result<MenuNode, String> {
    let [Value::I32(id), Value::Dict(props), Value::Array(children)] = s.fields() else {
        return Err(format!("unexpected dbusmenu layout node: {s:?}"));
    };
    let mut p: HashMap<String, Value<'_>> = HashMap::new();
    for (k, v) in props.iter() {
        if let Some(k) = as_string(k) {
            let v = match v {
                Value::Value(inner) => (**inner).clone(),
                other => other.clone(),
            };
            p.insert(k, v);
        }
    }
    let string = |k: &str| p.get(k).and_then(as_string);
    let boolean = |k: &str, default: bool| match p.get(k) {
        Some(Value::Bool(b)) => *b,
        _ => default,
    };
    let mut kids = Vec::new();
    for c in children.inner() {
        let c = match c {
            Value::Value(inner) => &**inner,
            other => other,
        };
        match c {
            Value::Structure(cs) => kids.push(parse_node(cs)?),
            other => return Err(format!("dbusmenu child is not a structure: {other:?}")),
        }
    }
    Ok(MenuNode {
        id: *id,
        label: string("label")
            .map(|l| strip_mnemonic(&l))
            .unwrap_or_default(),
        enabled: boolean("enabled", true),
        visible: boolean("visible", true),
        is_separator: string("type").as_deref() == Some("separator"),
        toggle_type: string("toggle-type").filter(|t| !t.is_empty()),
        toggle_state: match p.get("toggle-state") {
            Some(Value::I32(v)) => Some(*v),
            _ => None,
        },
        children: kids,
    })
}

/// The whole menu tree below the root (`GetLayout(0, -1, [])`): the root's children.
pub fn read_menu(
    conn: &Connection,
    bus_name: &str,
    menu_path: &str,
) -> Result<Vec<MenuNode>, String> {
    let reply = conn
        .call_method(
            Some(bus_name),
            menu_path,
            Some(DBUSMENU_INTERFACE),
            "GetLayout",
            &(0i32, -1i32, Vec::<String>::new()),
        )
        .map_err(|e| dbus_err("GetLayout", e))?;
    let body = reply.body();
    let layout: Structure<'_> = body
        .deserialize()
        .map_err(|e| dbus_err("decode GetLayout reply", e))?;
    let root = match layout.fields() {
        [Value::U32(_revision), Value::Structure(root)] => parse_node(root)?,
        f => return Err(format!("unexpected GetLayout reply: {f:?}")),
    };
    Ok(root.children)
}

/// Labels of all visible, non-separator items, depth first.
pub fn labels(nodes: &[MenuNode]) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(nodes: &[MenuNode], out: &mut Vec<String>) {
        for n in nodes {
            if n.visible && !n.is_separator {
                out.push(n.label.clone());
            }
            walk(&n.children, out);
        }
    }
    walk(nodes, &mut out);
    out
}

/// The first visible item whose label is `label`.
pub fn find_node<'a>(nodes: &'a [MenuNode], label: &str) -> Option<&'a MenuNode> {
    nodes.iter().find_map(|n| {
        if n.visible && !n.is_separator && n.label == label {
            Some(n)
        } else {
            find_node(&n.children, label)
        }
    })
}

/// Clicks a menu item the way a tray host does (`Event(id, "clicked", 0, 0)`).
pub fn click(conn: &Connection, bus_name: &str, menu_path: &str, id: i32) -> Result<(), String> {
    conn.call_method(
        Some(bus_name),
        menu_path,
        Some(DBUSMENU_INTERFACE),
        "Event",
        &(id, "clicked", Value::I32(0), 0u32),
    )
    .map(|_| ())
    .map_err(|e| dbus_err("dbusmenu Event", e))
}

/// Item properties plus its menu, read together.
#[derive(Clone, Debug, PartialEq)]
pub struct SniView {
    pub item: SniItem,
    pub menu: Vec<MenuNode>,
}

impl SniView {
    pub fn labels(&self) -> Vec<String> {
        labels(&self.menu)
    }
    pub fn node(&self, label: &str) -> Option<&MenuNode> {
        find_node(&self.menu, label)
    }
}

pub fn read_view(conn: &Connection, bus_name: &str) -> Result<SniView, String> {
    let item = read_item(conn, bus_name)?;
    let menu = read_menu(conn, bus_name, &item.menu_path)?;
    Ok(SniView { item, menu })
}

/// Waits until the item's properties and menu satisfy `pred` (updates are asynchronous).
pub fn wait_for_view(
    conn: &Connection,
    bus_name: &str,
    timeout: Duration,
    pred: impl Fn(&SniView) -> bool,
) -> Result<SniView, String> {
    wait_for(timeout, || read_view(conn, bus_name), pred)
}

pub const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
pub const WATCHER_PATH: &str = "/StatusNotifierWatcher";

struct WatcherIface {
    items: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl WatcherIface {
    fn register_status_notifier_item(
        &mut self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        // A path means "the sender's connection at this path", as KDE's watcher does.
        let entry = if service.starts_with('/') {
            let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
            format!("{sender}{service}")
        } else {
            service.to_string()
        };
        let mut items = self.items.lock().unwrap();
        if !items.contains(&entry) {
            items.push(entry);
        }
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// A minimal StatusNotifierWatcher (the part of a tray host items talk to), so registration can
/// be tested without an X server or a panel. It does not forget items that leave the bus.
pub struct FakeWatcher {
    _conn: Connection,
    items: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeWatcher {
    /// Takes the watcher's bus name, then exports its object after `export_delay`. A non-zero
    /// delay reproduces watchers such as gtk-sni-tray's, whose name appears before the object,
    /// so that an item registering at once gets UnknownObject.
    pub fn start(bus: &TestBus, export_delay: Duration) -> FakeWatcher {
        let conn = bus.connect();
        let items = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        // Serve calls from now on (answering UnknownObject until the object is exported), as a
        // real watcher does; zbus only starts dispatching once the object server is touched.
        let _ = conn.object_server();
        conn.request_name(WATCHER_NAME)
            .expect("take the StatusNotifierWatcher name");
        std::thread::sleep(export_delay);
        conn.object_server()
            .at(
                WATCHER_PATH,
                WatcherIface {
                    items: items.clone(),
                },
            )
            .expect("export the watcher object");
        FakeWatcher { _conn: conn, items }
    }

    /// The registered items, as the watcher's `RegisteredStatusNotifierItems` lists them.
    pub fn items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }
}
