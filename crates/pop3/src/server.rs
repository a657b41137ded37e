//! The pop3s listener: implicit TLS, then a session per connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::session::Session;
use crate::Context;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    tls: TlsAcceptor,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "POP3 accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (ctx, tls, shutdown) = (ctx.clone(), tls.clone(), shutdown.clone());
        tracker.spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await
            else {
                return;
            };
            let mut session = Session::new(&ctx, stream, peer, shutdown);
            if let Err(e) = session.run().await {
                tracing::debug!(peer = %peer, error = %e, "POP3 connection ended with an error");
            }
        });
    }
}
