//! A freedesktop notification service on a test bus: owns `org.freedesktop.Notifications`,
//! answers the calls a client makes, and records every `Notify` (what a desktop would show).
#![allow(dead_code)]

use super::sni::TestBus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zbus::blocking::Connection;
use zbus::zvariant::OwnedValue;

/// One `Notify` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub app_name: String,
    pub summary: String,
    pub body: String,
}

struct Iface {
    shown: Arc<Mutex<Vec<Shown>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Iface {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut s = self.shown.lock().unwrap();
        s.push(Shown {
            app_name,
            summary,
            body,
        });
        s.len() as u32
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "tokwatch-test".into(),
            "tokwatch".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

/// The running service; it leaves the bus when dropped.
pub struct NotificationServer {
    _conn: Connection,
    shown: Arc<Mutex<Vec<Shown>>>,
}

impl NotificationServer {
    pub fn start(bus: &TestBus) -> NotificationServer {
        let shown = Arc::new(Mutex::new(Vec::new()));
        let conn = bus.connect();
        conn.object_server()
            .at(
                "/org/freedesktop/Notifications",
                Iface {
                    shown: shown.clone(),
                },
            )
            .expect("export the notification service");
        conn.request_name("org.freedesktop.Notifications")
            .expect("own org.freedesktop.Notifications");
        NotificationServer { _conn: conn, shown }
    }

    /// Everything shown so far, in order.
    pub fn shown(&self) -> Vec<Shown> {
        self.shown.lock().unwrap().clone()
    }

    /// Waits until at least `n` notifications were shown; all of them (or what there is on
    /// timeout).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Shown> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            let s = self.shown();
            if s.len() >= n {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shown()
    }
}
