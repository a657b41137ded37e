//! State shared by every SMTP session of both listeners.

use std::sync::Arc;

use pecd_common::config::Config;
use pecd_common::net::Connections;
use pecd_common::throttle::{LoginThrottle, Policy};
use pecd_engine::Engine;
use pecd_limiter::SenderLimiter;
use pecd_store::Store;

use crate::ehlo::Listener;

pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    /// The PEC rule book every message goes through before its 250.
    pub engine: Arc<Engine>,
    /// The per-sender submission limit, shared by both ports.
    pub senders: SenderLimiter,
    /// Brute-force protection of AUTH (shared with IMAP and POP3 when pecd runs them all).
    pub logins: Arc<LoginThrottle>,
    /// Open connections per address and in all on port 25 (`listen.smtp`).
    smtp_connections: Arc<Connections>,
    /// The same on the submission port, counted apart (`smtp.max_connections_per_ip` and
    /// `smtp.max_connections` apply to each listener): a flood of port 25, which anyone may
    /// reach without logging in, must never shut out the holders who submit their PEC mail.
    submission_connections: Arc<Connections>,
}

impl Context {
    /// A context with its own login throttle (tests of SMTP alone).
    pub fn new(config: Arc<Config>, store: Store, engine: Arc<Engine>) -> Arc<Context> {
        let logins = Arc::new(LoginThrottle::new(Policy::from(&*config)));
        Context::with_logins(config, store, engine, logins)
    }

    /// A context whose failed logins count in `logins`, shared with the other services.
    pub fn with_logins(
        config: Arc<Config>,
        store: Store,
        engine: Arc<Engine>,
        logins: Arc<LoginThrottle>,
    ) -> Arc<Context> {
        let caps = || {
            Connections::new(
                config.smtp.max_connections_per_ip,
                config.smtp.connection_total(),
            )
        };
        Arc::new(Context {
            smtp_connections: caps(),
            submission_connections: caps(),
            logins,
            config,
            store,
            engine,
            senders: SenderLimiter::new(),
        })
    }

    /// The open connections of one listener.
    pub fn connections(&self, listener: Listener) -> &Arc<Connections> {
        match listener {
            Listener::Smtp => &self.smtp_connections,
            Listener::Submissions => &self.submission_connections,
        }
    }
}
