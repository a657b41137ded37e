//! What every protocol listener of pecd does the same way: accept until shutdown, hand each
//! connection to the caller's task tracker, admit it under the per-address and total
//! connection caps (or refuse it in the protocol's words and close), accept TLS within a time
//! limit, and write a session's buffered replies without waiting forever on a client that
//! stopped reading.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A TLS handshake must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until `shutdown`, running `handle` for each on `tracker` (so shutdown
/// can wait for work in flight). Accept errors are logged and retried after a short pause.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    name: &'static str,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, listener = name, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let m = crate::metrics::metrics();
        crate::metrics::count(&m.connections, "service", name);
        let open = m
            .open_connections
            .get_or_create(&vec![("service", name)])
            .clone();
        open.inc();
        let served = handle(stream, peer);
        tracker.spawn(async move {
            served.await;
            open.dec();
        });
    }
}

/// The server side of a TLS handshake, or `None` when it fails or takes too long.
pub async fn accept_tls<S>(tls: &TlsAcceptor, stream: S) -> Option<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Writes and flushes a session's buffered replies, leaving the buffer empty. Fails with
/// `TimedOut` when the client takes no data at all for `stall` (its receive window stays
/// full): each write is timed on its own, so a slow but live reader of a large message is
/// never cut off, only one that stopped reading (say, in the middle of a large RETR), which
/// must not hold its session, and the locks and connection slot that come with it, for ever.
/// On an error the buffer keeps what was not written.
pub async fn write_out_within<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
    stall: Duration,
) -> std::io::Result<()> {
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading");
    let mut sent = 0;
    while sent < out.len() {
        match tokio::time::timeout(stall, stream.write(&out[sent..])).await {
            Err(_) => {
                out.drain(..sent);
                return Err(timed_out());
            }
            Ok(Ok(0)) => {
                out.drain(..sent);
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            Ok(Ok(n)) => sent += n,
            Ok(Err(e)) => {
                out.drain(..sent);
                return Err(e);
            }
        }
    }
    out.clear();
    tokio::time::timeout(stall, stream.flush())
        .await
        .map_err(|_| timed_out())?
}

/// The key under which a client address is counted: IPv4 addresses as they are, IPv6 ones
/// by their /64 prefix (one subscriber line or host usually owns a whole /64, so counting
/// single IPv6 addresses would give it billions of slots), IPv4-mapped IPv6 as IPv4.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why [`Connections::admit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The client's address (see [`client_key`]) has its most connections open.
    PerIp,
    /// The service has its most connections open.
    Total,
}

/// Connections a refusal may be in progress for at once, per service; beyond, refused
/// connections are closed without a word, so a flood cannot pile up refusal tasks (each holds
/// a TLS handshake for up to [`REFUSAL_TIMEOUT`]).
const MAX_REFUSING: usize = 512;

/// A refusal (TLS handshake included) must be done within this.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The open connections of one service, per client address and in total. A connection is
/// counted from accept (before TLS) to close, through the [`Slot`] it holds.
pub struct Connections {
    per_ip: usize,
    total: usize,
    open: Mutex<Open>,
    refusing: AtomicUsize,
}

#[derive(Default)]
struct Open {
    by_ip: HashMap<IpAddr, usize>,
    total: usize,
}

impl Connections {
    pub fn new(per_ip: usize, total: usize) -> Arc<Connections> {
        Arc::new(Connections {
            per_ip,
            total,
            open: Mutex::new(Open::default()),
            refusing: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection from `ip`, or says which cap it would exceed.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Full> {
        let key = client_key(ip);
        let mut open = self.lock();
        if open.total >= self.total {
            return Err(Full::Total);
        }
        let n = open.by_ip.entry(key).or_insert(0);
        if *n >= self.per_ip {
            return Err(Full::PerIp);
        }
        *n += 1;
        open.total += 1;
        Ok(Slot {
            owner: self.clone(),
            key,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().total
    }

    /// Says `refusal` (over TLS when `tls` is given: on an implicit-TLS port the client
    /// expects nothing in clear) and closes, within a few seconds. When many refusals are
    /// already under way the connection is simply closed.
    pub async fn refuse(&self, stream: TcpStream, tls: Option<&TlsAcceptor>, refusal: &[u8]) {
        if self.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let say = async {
            match tls {
                Some(tls) => {
                    let mut stream = tls.accept(stream).await?;
                    stream.write_all(refusal).await?;
                    stream.shutdown().await
                }
                None => {
                    let mut stream = stream;
                    stream.write_all(refusal).await?;
                    stream.shutdown().await
                }
            }
        };
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, say).await;
        self.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One counted connection; released when dropped.
pub struct Slot {
    owner: Arc<Connections>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.owner.lock();
        open.total -= 1;
        if let Some(n) = open.by_ip.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_per_address_and_in_total_and_slots_are_released() {
        let c = Connections::new(2, 3);
        let a1 = c.admit(ip("192.0.2.1")).unwrap();
        let _a2 = c.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(c.admit(ip("192.0.2.1")).err(), Some(Full::PerIp));
        let _b1 = c.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(c.admit(ip("192.0.2.3")).err(), Some(Full::Total));
        assert_eq!(c.open(), 3);
        drop(a1);
        assert_eq!(c.open(), 2);
        let _a3 = c.admit(ip("192.0.2.1")).unwrap();
        assert!(c.lock().by_ip.len() <= 2);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let c = Connections::new(1, 100);
        let _a = c.admit(ip("2001:db8:0:1::1")).unwrap();
        assert_eq!(c.admit(ip("2001:db8:0:1::2")).err(), Some(Full::PerIp));
        assert!(c.admit(ip("2001:db8:0:2::1")).is_ok());
        let _v4 = c.admit(ip("192.0.2.9")).unwrap();
        assert_eq!(c.admit(ip("::ffff:192.0.2.9")).err(), Some(Full::PerIp));
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_times_out() {
        let (mut server, _client) = tokio::io::duplex(1024);
        let mut out = vec![b'x'; 1 << 20];
        let e = write_out_within(&mut server, &mut out, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }

    /// Review item 6: the stall limit is on progress, not on a piece of the buffer, so a
    /// reader slower than the limit per 64 KiB, but never silent for it, is not cut off.
    #[tokio::test]
    async fn a_reader_that_keeps_taking_bytes_is_never_timed_out() {
        let (mut server, mut client) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut chunk = [0u8; 1024];
            loop {
                use tokio::io::AsyncReadExt;
                match client.read(&mut chunk).await.unwrap() {
                    0 => return got,
                    n => got += n,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let mut out = vec![b'x'; 128 * 1024];
        let start = std::time::Instant::now();
        write_out_within(&mut server, &mut out, Duration::from_millis(500))
            .await
            .unwrap();
        assert!(
            start.elapsed() > Duration::from_millis(500),
            "the test means it"
        );
        drop(server);
        assert_eq!(reader.await.unwrap(), 128 * 1024);
    }

    #[tokio::test]
    async fn a_slow_reader_gets_everything() {
        let (mut server, mut client) = tokio::io::duplex(4096);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                use tokio::io::AsyncReadExt;
                match client.read(&mut chunk).await.unwrap() {
                    0 => return got.len(),
                    n => got.extend_from_slice(&chunk[..n]),
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let mut out = vec![b'x'; 256 * 1024];
        write_out_within(&mut server, &mut out, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(out.is_empty());
        drop(server);
        assert_eq!(reader.await.unwrap(), 256 * 1024);
    }
}
