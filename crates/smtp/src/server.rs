//! The two SMTP listeners: accept, admit under the per-IP and total caps (each listener counts
//! its own), TLS (implicit on submissions, STARTTLS on smtp), then run sessions. Each connection runs on the caller's task tracker so shutdown can
//! wait for messages being stored.

use std::net::SocketAddr;
use std::sync::Arc;

use pecd_common::net::{accept_loop, accept_tls};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::Context;
use crate::ehlo::Listener;
use crate::reply::Reply;
use crate::session::{End, Session};

pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    kind: Listener,
    tls: TlsAcceptor,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    accept_loop(listener, kind.name(), shutdown.clone(), tracker, |stream, peer| {
        let (ctx, tls, shutdown) = (ctx.clone(), tls.clone(), shutdown.clone());
        async move {
            if let Err(e) = connection(&ctx, stream, peer, kind, tls, shutdown).await {
                tracing::debug!(peer = %peer, error = %e, "SMTP connection ended with an error");
            }
        }
    })
    .await
}

async fn connection(
    ctx: &Arc<Context>,
    stream: TcpStream,
    peer: SocketAddr,
    kind: Listener,
    tls: TlsAcceptor,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let connections = ctx.connections(kind);
    let _slot = match connections.admit(peer.ip()) {
        Ok(slot) => slot,
        Err(full) => {
            tracing::warn!(peer = %peer, cap = ?full, "too many SMTP connections");
            let mut out = Vec::new();
            Reply::too_many_connections(full).write_to(&mut out);
            // On the implicit-TLS port the refusal, too, is said over TLS.
            let tls = (kind == Listener::Submissions).then_some(&tls);
            connections.refuse(stream, tls, &out).await;
            return Ok(());
        }
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
    let Some(tls_stream) = accept_tls(&tls, stream).await else {
        return Ok(());
    };
    let mut session = Session::new(ctx, tls_stream, kind, true, peer, shutdown);
    session.run().await.map(|_| ())
}
