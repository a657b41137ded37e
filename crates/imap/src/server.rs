//! The imaps listener: admission under the per-IP and total caps, TCP keepalive, implicit
//! TLS, then a session per connection.

use std::sync::Arc;
use std::time::Duration;

use pecd_common::net::{accept_loop, accept_tls, Full};
use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::session::Session;
use crate::Context;

/// Keepalive probes start after this much silence, so that a client that vanished during
/// IDLE is noticed and NATs see traffic (CLIENTS.md §5 bug 10; mox uses 5 minutes).
const KEEPALIVE: Duration = Duration::from_secs(300);

pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    tls: TlsAcceptor,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    accept_loop(listener, "imaps", shutdown.clone(), tracker, |stream, peer| {
        let (ctx, tls, shutdown) = (ctx.clone(), tls.clone(), shutdown.clone());
        async move {
            let _slot = match ctx.clients.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(full) => {
                    tracing::warn!(peer = %peer, cap = ?full, "too many IMAP connections");
                    // RFC 3501 §7.1.5: a server may greet with BYE to refuse a connection.
                    let refusal: &[u8] = match full {
                        Full::PerIp => b"* BYE Too many connections from your address; try again later\r\n",
                        Full::Total => b"* BYE Too many connections; try again later\r\n",
                    };
                    ctx.clients.refuse(stream, Some(&tls), refusal).await;
                    return;
                }
            };
            let keepalive = TcpKeepalive::new()
                .with_time(KEEPALIVE)
                .with_interval(Duration::from_secs(60));
            if let Err(e) = SockRef::from(&stream).set_tcp_keepalive(&keepalive) {
                tracing::debug!(peer = %peer, error = %e, "could not set TCP keepalive");
            }
            let Some(stream) = accept_tls(&tls, stream).await else { return };
            let mut session = Session::new(&ctx, stream, peer, shutdown);
            if let Err(e) = session.run().await {
                tracing::debug!(peer = %peer, error = %e, "IMAP connection ended with an error");
            }
        }
    })
    .await
}
