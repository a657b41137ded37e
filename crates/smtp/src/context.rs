//! State shared by every SMTP session of both listeners.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use pecd_archive::login::Throttle;
use pecd_common::config::Config;
use pecd_engine::Engine;
use pecd_limiter::SenderLimiter;
use pecd_store::Store;

pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    /// The PEC rule book every message goes through before its 250.
    pub engine: Arc<Engine>,
    /// The per-sender submission limit, shared by both ports.
    pub senders: SenderLimiter,
    /// Slows repeated failed logins.
    pub logins: Throttle,
    connections: Mutex<HashMap<IpAddr, usize>>,
}

impl Context {
    pub fn new(config: Arc<Config>, store: Store, engine: Arc<Engine>) -> Arc<Context> {
        Arc::new(Context {
            logins: Throttle::new(config.smtp.auth_failures_per_minute),
            config,
            store,
            engine,
            senders: SenderLimiter::new(),
            connections: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a connection from `ip`, or refuses it when the address has too many already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionGuard> {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.config.smtp.max_connections_per_ip {
            return None;
        }
        *n += 1;
        Some(ConnectionGuard {
            ctx: self.clone(),
            ip,
        })
    }
}

/// Releases its connection slot when the connection ends.
pub struct ConnectionGuard {
    ctx: Arc<Context>,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut map = self
            .ctx
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}
