//! The two SMTP listeners: accept, admit per IP, TLS (implicit on submissions, STARTTLS on
//! smtp), then run sessions. Each connection runs on the caller's task tracker so shutdown can
//! wait for messages being stored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::Context;
use crate::ehlo::Listener;
use crate::reply::Reply;
use crate::session::{End, Session};

/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    kind: Listener,
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
                    tracing::warn!(error = %e, listener = kind.name(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (ctx, tls, shutdown) = (ctx.clone(), tls.clone(), shutdown.clone());
        tracker.spawn(async move {
            if let Err(e) = connection(&ctx, stream, peer, kind, tls, shutdown).await {
                tracing::debug!(peer = %peer, error = %e, "SMTP connection ended with an error");
            }
        });
    }
}

async fn connection(
    ctx: &Arc<Context>,
    mut stream: TcpStream,
    peer: SocketAddr,
    kind: Listener,
    tls: TlsAcceptor,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let Some(_slot) = ctx.admit(peer.ip()) else {
        tracing::warn!(peer = %peer, "too many SMTP connections from this address");
        let mut out = Vec::new();
        Reply::too_many_connections().write_to(&mut out);
        // On the implicit-TLS port the refusal, too, is said over TLS.
        if kind == Listener::Submissions {
            if let Ok(Ok(mut tls_stream)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await
            {
                tls_stream.write_all(&out).await?;
                tls_stream.shutdown().await?;
            }
        } else {
            stream.write_all(&out).await?;
        }
        return Ok(());
    };
    let stream = match kind {
        Listener::Submissions => stream,
        Listener::Smtp => {
            let mut session = Session::new(ctx, stream, kind, false, peer, shutdown.clone());
            match session.run().await? {
                End::Closed => return Ok(()),
                End::StartTls => session.into_stream(),
            }
        }
    };
    let tls_stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    let mut session = Session::new(ctx, tls_stream, kind, true, peer, shutdown);
    session.run().await.map(|_| ())
}
