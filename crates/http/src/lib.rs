//! pecd's HTTPS interface (ARCHITECTURE.md `http`): the operators' JSON API under
//! `/api/v1/`, client autoconfig for Thunderbird, Outlook and Apple Mail, and the Prometheus
//! metrics on their own plain-HTTP listener. The API calls the same typed operations of
//! [`pecd_archive::Archive`] as the control socket, as the logged-in operator, so scope rules
//! are the same everywhere.
//!
//! Layout: [`server`] (TLS accept loop, connection limit, shutdown), [`sessions`] (login
//! tokens), [`auth`] (who is calling: bearer token or cookie with CSRF; login, logout),
//! [`error`] (JSON errors), [`api`] (the routes by family), [`autoconfig`], [`metrics`],
//! [`headers`] (security headers on every answer).

pub mod api;
pub mod auth;
pub mod autoconfig;
pub mod body;
pub mod console;
pub mod error;
pub mod headers;
pub mod metrics;
pub mod pages;
pub mod server;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use pecd_archive::Archive;
use pecd_common::config::Config;
use pecd_common::throttle::LoginThrottle;

/// What every handler can reach.
pub struct HttpState {
    pub archive: Archive,
    /// The job runner (`/api/v1/jobs/run`, campaign reminders).
    pub lifecycle: pecd_lifecycle::Lifecycle,
    pub config: Arc<Config>,
    pub sessions: sessions::Sessions,
    /// Failed logins here count with those of SMTP, IMAP and POP3.
    pub logins: Arc<LoginThrottle>,
}

impl HttpState {
    pub fn new(
        lifecycle: pecd_lifecycle::Lifecycle,
        config: Arc<Config>,
        logins: Arc<LoginThrottle>,
    ) -> Arc<HttpState> {
        let sessions = sessions::Sessions::new(
            Duration::from_secs(config.http.session_idle_seconds),
            Duration::from_secs(config.http.session_max_seconds),
            config.http.max_sessions,
        );
        Arc::new(HttpState {
            archive: lifecycle.archive().clone(),
            lifecycle,
            config,
            sessions,
            logins,
        })
    }
}

/// Largest body of any request but a document upload: logins, JSON operations and
/// autodiscover bodies are small, and an unauthenticated client must not make the server
/// buffer more.
pub const SMALL_BODY_BYTES: usize = 256 * 1024;

/// Every route of the HTTPS listener.
pub fn router(state: Arc<HttpState>) -> Router {
    let uploads = state.config.http.max_body_bytes;
    Router::new()
        .merge(pages::account::routes())
        .merge(console::routes(uploads))
        .merge(api::routes(uploads))
        .merge(autoconfig::routes())
        .layer(axum::extract::DefaultBodyLimit::max(SMALL_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body::read_first,
        ))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .with_state(state)
}
