//! The pop3s listener: implicit TLS, then a session per connection.

use std::sync::Arc;

use pecd_common::net::{accept_loop, accept_tls};
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
            let Some(stream) = accept_tls(&tls, stream).await else { return };
            let mut session = Session::new(&ctx, stream, peer, shutdown);
            if let Err(e) = session.run().await {
                tracing::debug!(peer = %peer, error = %e, "POP3 connection ended with an error");
            }
        }
    })
    .await
}
