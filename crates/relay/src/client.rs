//! One SMTP session from connection to QUIT (RFC 5321 §3.1, §4.1.1.1; STARTTLS RFC 3207):
//! the entry point [`send_batch`] connects, reads the greeting, says EHLO (HELO where
//! allowed), upgrades with STARTTLS as [`TlsPolicy`] asks, says EHLO again and hands the
//! session to the transactions of [`crate::transaction`].

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time;
use tracing::debug;

use crate::batch::{Outgoing, RcptOutcome};
use crate::conversation::{has_control, Conversation};
use crate::error::ConnectError;
use crate::reply::Extensions;
use crate::tls::{start_tls, TlsPolicy};
use crate::transaction::deliver;

/// Opens one connection to `addr`, sets the session up and sends every
/// message of `batch` in order on it.
///
/// Returns, for each message in batch order, one outcome per recipient in
/// order. Once the session setup succeeded, failures while sending are
/// reported as per-recipient `Temporary` outcomes, never as `Err`.
pub async fn send_batch(
    addr: &str,
    server_name: &str,
    helo: &str,
    tls: &TlsPolicy,
    batch: &[Outgoing<'_>],
    timeout: Duration,
) -> Result<Vec<Vec<RcptOutcome>>, ConnectError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let tcp = match time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ConnectError::Connect(e)),
        Err(_) => return Err(ConnectError::Timeout(format!("connecting to {addr}"))),
    };
    // Commands are small and always waited for; don't let Nagle delay them.
    let _ = tcp.set_nodelay(true);
    session(tcp, addr, server_name, helo, tls, batch, timeout).await
}

/// The whole SMTP session over an already connected stream.
pub(crate) async fn session<S>(
    stream: S,
    peer: &str,
    server_name: &str,
    helo: &str,
    tls: &TlsPolicy,
    batch: &[Outgoing<'_>],
    timeout: Duration,
) -> Result<Vec<Vec<RcptOutcome>>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if has_control(helo) || helo.is_empty() {
        return Err(ConnectError::Protocol(format!(
            "invalid HELO name {helo:?}"
        )));
    }
    let mut conv = Conversation::new(stream, timeout, peer);
    let greeting = conv.read_reply("greeting").await?;
    if greeting.class() != 2 {
        conv.quit().await;
        return Err(ConnectError::Greeting(greeting.text()));
    }
    let ext = match hello(&mut conv, helo, tls.required).await {
        Ok(ext) => ext,
        Err(e) => {
            conv.quit().await;
            return Err(e);
        }
    };

    if ext.starttls {
        let reply = conv.command("STARTTLS").await?;
        if reply.class() == 2 {
            let inner = conv.into_inner()?;
            let stream = start_tls(inner, server_name, &tls.roots, timeout).await?;
            let mut conv = Conversation::new(stream, timeout, peer);
            let ext = match hello(&mut conv, helo, true).await {
                Ok(ext) => ext,
                Err(e) => {
                    conv.quit().await;
                    return Err(e);
                }
            };
            debug!(peer, "SMTP session established with TLS");
            return Ok(deliver(conv, &ext, batch).await);
        }
        if tls.required || reply.code == 421 {
            conv.quit().await;
            return Err(ConnectError::Tls(format!(
                "server refused STARTTLS: {}",
                reply.text()
            )));
        }
        debug!(peer, reply = %reply.text(), "STARTTLS refused, continuing in plaintext");
    } else if tls.required {
        conv.quit().await;
        return Err(ConnectError::NoStartTls);
    }
    debug!(peer, "SMTP session established without TLS");
    Ok(deliver(conv, &ext, batch).await)
}

/// EHLO, falling back to HELO on a 5xx when `no_fallback` is false.
async fn hello<S>(
    conv: &mut Conversation<S>,
    helo: &str,
    no_fallback: bool,
) -> Result<Extensions, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reply = conv.command(&format!("EHLO {helo}")).await?;
    if reply.class() == 2 {
        return Ok(Extensions::from_ehlo(&reply));
    }
    if reply.class() == 5 && !no_fallback {
        let reply = conv.command(&format!("HELO {helo}")).await?;
        if reply.class() == 2 {
            return Ok(Extensions::default());
        }
        return Err(ConnectError::Helo(reply.text()));
    }
    Err(ConnectError::Helo(reply.text()))
}
