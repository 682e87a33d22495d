//! The part that touches `tray-icon`: lives on the tray thread only.
//!
//! The menu is built once and then edited in place (texts changed, info rows inserted and removed)
//! so that the "Pause alerts" check item is never recreated. With tray-icon's ksni backend, muda's
//! check items are reached from the D-Bus thread when clicked; keeping that one item alive and
//! touching it only when the paused state really changes keeps the two threads apart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, Once};

use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder, TrayIconEvent};

use super::format::{self, MenuEntry};
use super::icon::{self, GaugeKey, ICON_SIZE};
use super::{TrayCommand, TrayError, TraySnapshot};

/// SNI `Id` of the item.
pub const TRAY_ID: &str = "tokwatch";
const ID_PAUSE: &str = "tokwatch.pause-alerts";
const ID_DASHBOARD: &str = "tokwatch.open-dashboard";
const ID_QUIT: &str = "tokwatch.quit";
const ID_INFO_PREFIX: &str = "tokwatch.info.";

/// Where menu clicks go. muda allows one process-wide event handler, installed once; it forwards
/// to the sink of the tray that is running now.
struct Sink {
    commands: Sender<TrayCommand>,
    /// Mirrors the check item: muda toggles the item itself on click, we toggle this with it.
    paused: Arc<AtomicBool>,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static HANDLERS: Once = Once::new();

fn install_handlers() {
    HANDLERS.call_once(|| {
        // Runs on the backend's thread (the D-Bus thread with ksni): no polling loop needed.
        MenuEvent::set_event_handler(Some(|event: MenuEvent| {
            let sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
            let Some(sink) = sink.as_ref() else { return };
            let command = match event.id.as_ref() {
                ID_PAUSE => {
                    let now = !sink.paused.fetch_xor(true, Ordering::SeqCst);
                    TrayCommand::PauseAlerts(now)
                }
                ID_DASHBOARD => TrayCommand::OpenDashboard,
                ID_QUIT => TrayCommand::Quit,
                _ => return, // info rows
            };
            let _ = sink.commands.send(command);
        }));
        // Icon clicks are not used; a handler keeps them out of tray-icon's unbounded channel.
        TrayIconEvent::set_event_handler(Some(|_event: TrayIconEvent| {}));
    });
}

enum Row {
    Item(MenuItem),
    Separator(PredefinedMenuItem),
}

pub(super) struct LiveTray {
    // Dropped first: shuts the backend down before the menu items go away.
    tray: TrayIcon,
    menu: Menu,
    /// The rows before the fixed actions, in menu order, with what they show.
    rows: Vec<(Row, MenuEntry)>,
    pause: CheckMenuItem,
    paused: Arc<AtomicBool>,
    title: String,
    tooltip: String,
    gauge: GaugeKey,
    /// Cleared on drop; tells the re-registration helper thread to stop.
    running: Arc<AtomicBool>,
}

fn make_icon(key: GaugeKey) -> Result<Icon, TrayError> {
    let img = icon::render(key, ICON_SIZE);
    Icon::from_rgba(img.pixels, img.size, img.size).map_err(|e| TrayError::Create(e.to_string()))
}

/// muda reads `&` as a mnemonic marker; `&&` is a literal `&`.
fn menu_text(text: &str) -> String {
    text.replace('&', "&&")
}

impl LiveTray {
    pub(super) fn new(commands: Sender<TrayCommand>) -> Result<Self, TrayError> {
        let paused = Arc::new(AtomicBool::new(false));
        install_handlers();
        *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(Sink {
            commands,
            paused: paused.clone(),
        });

        let menu = Menu::new();
        let pause = CheckMenuItem::with_id(ID_PAUSE, format::LABEL_PAUSE_ALERTS, true, false, None);
        let report = MenuItem::with_id(ID_DASHBOARD, format::LABEL_OPEN_DASHBOARD, true, None);
        let quit = MenuItem::with_id(ID_QUIT, format::LABEL_QUIT, true, None);
        let err = |e: tray_icon::menu::Error| TrayError::Create(e.to_string());
        menu.append(&pause).map_err(err)?;
        menu.append(&report).map_err(err)?;
        menu.append(&quit).map_err(err)?;

        let title = TRAY_ID.to_string();
        let tooltip = "tokwatch: waiting for data".to_string();
        let gauge = icon::gauge_key(0.0, None, crate::config::DEFAULT_NEAR);
        let tray = TrayIconBuilder::new()
            .with_id(TRAY_ID)
            .with_menu(Box::new(menu.clone()))
            .with_icon(make_icon(gauge)?)
            .with_title(&title)
            .with_tooltip(&tooltip)
            .build()
            .map_err(|e| TrayError::Create(e.to_string()))?;

        let running = Arc::new(AtomicBool::new(true));
        #[cfg(any(
            target_os = "linux",
            target_os = "dragonfly",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd"
        ))]
        reregister::spawn(running.clone());
        let mut live = LiveTray {
            tray,
            menu,
            rows: Vec::new(),
            pause,
            paused,
            title,
            tooltip,
            gauge,
            running,
        };
        live.sync_menu(&format::placeholder_entries());
        Ok(live)
    }

    /// Shows `s`: title, tooltip, icon and menu, changing only what differs.
    pub(super) fn apply(&mut self, s: &TraySnapshot) {
        let title = format::title(s);
        if title != self.title {
            self.tray.set_title(Some(&title));
            self.title = title;
        }
        let tooltip = format::tooltip(s);
        if tooltip != self.tooltip {
            let _ = self.tray.set_tooltip(Some(&tooltip));
            self.tooltip = tooltip;
        }
        let gauge = format::gauge(s);
        if gauge != self.gauge {
            if let Ok(icon) = make_icon(gauge) {
                let _ = self.tray.set_icon(Some(icon));
                self.gauge = gauge;
            }
        }
        self.sync_menu(&format::menu_entries(s));
    }

    fn sync_menu(&mut self, entries: &[MenuEntry]) {
        let info: Vec<&MenuEntry> = entries.iter().filter(|e| !e.is_action()).collect();
        let same_shape = info.len() == self.rows.len()
            && info.iter().zip(&self.rows).all(|(e, (row, _))| {
                matches!(
                    (e, row),
                    (MenuEntry::Separator, Row::Separator(_))
                        | (MenuEntry::Info { .. }, Row::Item(_))
                )
            });
        if same_shape {
            for (e, (row, shown)) in info.iter().zip(self.rows.iter_mut()) {
                if let (MenuEntry::Info { text, enabled }, Row::Item(item)) = (e, row) {
                    if *e != shown {
                        if shown.label() != Some(text.as_str()) {
                            item.set_text(menu_text(text));
                        }
                        if !matches!(shown, MenuEntry::Info { enabled: was, .. } if was == enabled)
                        {
                            item.set_enabled(*enabled);
                        }
                        *shown = (*e).clone();
                    }
                }
            }
        } else {
            for _ in 0..self.rows.len() {
                self.menu.remove_at(0);
            }
            self.rows.clear();
            for (i, e) in info.iter().enumerate() {
                let row = match e {
                    MenuEntry::Info { text, enabled } => Row::Item(MenuItem::with_id(
                        format!("{ID_INFO_PREFIX}{i}"),
                        menu_text(text),
                        *enabled,
                        None,
                    )),
                    _ => Row::Separator(PredefinedMenuItem::separator()),
                };
                let added = match &row {
                    Row::Item(item) => self.menu.insert(item, i),
                    Row::Separator(sep) => self.menu.insert(sep, i),
                };
                if added.is_ok() {
                    self.rows.push((row, (*e).clone()));
                }
            }
        }
        for e in entries {
            if let MenuEntry::PauseAlerts { checked } = e {
                if self.paused.load(Ordering::SeqCst) != *checked {
                    self.paused.store(*checked, Ordering::SeqCst);
                    self.pause.set_checked(*checked);
                }
            }
        }
    }
}

impl Drop for LiveTray {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
        if sink
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(&s.paused, &self.paused))
        {
            *sink = None;
        }
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
fn session_bus() -> zbus::Result<zbus::blocking::Connection> {
    zbus::blocking::connection::Builder::session()?
        .method_timeout(std::time::Duration::from_secs(5))
        .build()
}

#[cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
pub(super) fn availability() -> Result<(), String> {
    match session_bus() {
        Ok(_) => Ok(()),
        Err(e) => {
            let why = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
                "DBUS_SESSION_BUS_ADDRESS is not set and the default session bus is not reachable"
                    .to_string()
            } else {
                format!("the D-Bus session bus is not reachable ({e})")
            };
            Err(why)
        }
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
pub(super) fn host_present() -> bool {
    let Ok(conn) = session_bus() else {
        return false;
    };
    let Ok(dbus) = zbus::blocking::fdo::DBusProxy::new(&conn) else {
        return false;
    };
    zbus::names::BusName::try_from("org.kde.StatusNotifierWatcher")
        .ok()
        .and_then(|name| dbus.name_has_owner(name).ok())
        .unwrap_or(false)
}

/// Registers the item again when a StatusNotifierWatcher could not take the registration.
///
/// ksni registers the item at start and whenever the watcher's name gets a new owner. Some
/// watchers (gtk-sni-tray's, for one) take the bus name before they export their object, so that
/// registration fails with UnknownObject; ksni reports this to `Tray::watcher_offline`, which
/// tray-icon does not let us override, and never retries. The icon would then stay hidden until a
/// restart. This thread blocks on NameOwnerChanged for the watcher (no polling) and, after a
/// watcher appears (and once at start), checks for a short while that the item is registered,
/// registering its bus name itself when it is not.
#[cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
mod reregister {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use zbus::blocking::fdo::DBusProxy;
    use zbus::blocking::Connection;

    const WATCHER: &str = "org.kde.StatusNotifierWatcher";
    const WATCHER_PATH: &str = "/StatusNotifierWatcher";
    /// Waits before each check: the watcher needs a moment to export its object.
    const BACKOFF_MS: [u64; 6] = [100, 250, 500, 1000, 2000, 4000];
    /// A watcher that never answers must not hold this thread forever.
    const CALL_TIMEOUT: Duration = Duration::from_secs(5);

    pub(super) fn spawn(running: Arc<AtomicBool>) {
        let _ = std::thread::Builder::new()
            .name("tokwatch-tray-sni".into())
            .spawn(move || {
                let conn = zbus::blocking::connection::Builder::session()
                    .map(|b| b.method_timeout(CALL_TIMEOUT))
                    .and_then(|b| b.build());
                let Ok(conn) = conn else {
                    return;
                };
                let Ok(dbus) = DBusProxy::new(&conn) else {
                    return;
                };
                let Ok(changes) = dbus.receive_name_owner_changed_with_args(&[(0, WATCHER)]) else {
                    return;
                };
                ensure_registered(&conn, &dbus, &running);
                for change in changes {
                    if !running.load(Ordering::SeqCst) {
                        return;
                    }
                    let appeared = change.args().is_ok_and(|a| a.new_owner().is_some());
                    if appeared {
                        ensure_registered(&conn, &dbus, &running);
                    }
                }
            });
    }

    /// This process's `org.kde.StatusNotifierItem-<pid>-<n>` name (ksni's item).
    fn own_item_name(dbus: &DBusProxy<'_>) -> Option<String> {
        let prefix = format!("org.kde.StatusNotifierItem-{}-", std::process::id());
        dbus.list_names()
            .ok()?
            .into_iter()
            .map(|n| n.to_string())
            .find(|n| n.starts_with(&prefix))
    }

    fn registered_items(conn: &Connection) -> zbus::Result<Vec<String>> {
        let reply = conn.call_method(
            Some(WATCHER),
            WATCHER_PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(WATCHER, "RegisteredStatusNotifierItems"),
        )?;
        let value: zbus::zvariant::OwnedValue = reply.body().deserialize()?;
        Ok(Vec::<String>::try_from(value)?)
    }

    fn ensure_registered(conn: &Connection, dbus: &DBusProxy<'_>, running: &AtomicBool) {
        for wait in BACKOFF_MS {
            std::thread::sleep(Duration::from_millis(wait));
            if !running.load(Ordering::SeqCst) {
                return;
            }
            let Some(name) = own_item_name(dbus) else {
                continue;
            };
            match registered_items(conn) {
                Ok(items) if items.iter().any(|i| i.starts_with(&name)) => return,
                Ok(_) => {
                    let _ = conn.call_method(
                        Some(WATCHER),
                        WATCHER_PATH,
                        Some(WATCHER),
                        "RegisterStatusNotifierItem",
                        &(name.as_str(),),
                    );
                }
                // No watcher (or not ready yet): keep waiting within the backoff.
                Err(_) => {}
            }
        }
    }
}

// macOS needs the status item on the main thread inside a running NSApplication loop, and
// Windows delivers menu clicks through a message loop on the owning thread; the daemon runs
// neither yet, so it stays headless there rather than show a tray that cannot work.
#[cfg(not(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
pub(super) fn availability() -> Result<(), String> {
    Err("the tray is implemented for Linux/BSD (StatusNotifierItem) only so far".to_string())
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
pub(super) fn host_present() -> bool {
    true
}
