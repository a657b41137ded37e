//! The pop3s listener: admission under the per-IP and total caps, implicit TLS, then a
//! session per connection.

use std::sync::Arc;

use pecd_common::net::{accept_loop, accept_tls, Full};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::session::Session;
use crate::Context;

pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    tls: TlsAcceptor,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    accept_loop(listener, "pop3s", shutdown.clone(), tracker, |stream, peer| {
        let (ctx, tls, shutdown) = (ctx.clone(), tls.clone(), shutdown.clone());
        async move {
            let _slot = match ctx.connections.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(full) => {
                    tracing::warn!(peer = %peer, cap = ?full, "too many POP3 connections");
                    // RFC 3206 §4: SYS/TEMP, a temporary condition the client may retry later.
                    let refusal: &[u8] = match full {
                        Full::PerIp => b"-ERR [SYS/TEMP] Too many connections from your address; try again later\r\n",
                        Full::Total => b"-ERR [SYS/TEMP] Too many connections; try again later\r\n",
                    };
                    ctx.connections.refuse(stream, Some(&tls), refusal).await;
                    return;
                }
            };
            let Some(stream) = accept_tls(&tls, stream).await else { return };
            let mut session = Session::new(&ctx, stream, peer, shutdown);
            if let Err(e) = session.run().await {
                tracing::debug!(peer = %peer, error = %e, "POP3 connection ended with an error");
            }
        }
    })
    .await
}
