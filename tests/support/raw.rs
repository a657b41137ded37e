//! A line client for any listener (SMTP in clear, IMAP and POP3 over TLS) from a chosen
//! loopback source address, and connection floods built on it.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::pop3::{tcp_from, tls_over};
use super::Server;

/// 127.0.0.`last`, a source address of its own.
pub fn ip(last: u8) -> IpAddr {
    [127, 0, 0, last].into()
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A line client on any port, from a chosen source address.
pub struct Raw {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects to `listener` from `source` (TLS except on `smtp`); `None` when the server
    /// closed before the handshake ended.
    pub async fn open(s: &Server, listener: &str, source: IpAddr) -> Option<Raw> {
        let tcp = tcp_from(source, s.listener(listener)).await.ok()?;
        let io: Box<dyn Io> = if listener == "smtp" {
            Box::new(tcp)
        } else {
            Box::new(
                tokio::time::timeout(Duration::from_secs(20), tls_over(s, tcp))
                    .await
                    .ok()?
                    .ok()?,
            )
        };
        Some(Raw {
            io,
            buf: Vec::new(),
        })
    }

    /// One line, CRLF included; empty when the server closed or said nothing for 20 s.
    pub async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            let mut chunk = [0u8; 8192];
            let n = match tokio::time::timeout(Duration::from_secs(20), self.io.read(&mut chunk))
                .await
            {
                Ok(Ok(n)) => n,
                _ => 0,
            };
            if n == 0 {
                return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn send(&mut self, data: &[u8]) -> bool {
        self.io.write_all(data).await.is_ok() && self.io.flush().await.is_ok()
    }

    /// An IMAP command; returns the tagged reply line (empty if the server closed).
    pub async fn imap(&mut self, command: &str) -> String {
        if !self.send(format!("t {command}\r\n").as_bytes()).await {
            return String::new();
        }
        loop {
            let l = self.line().await;
            if l.is_empty() || l.starts_with("t ") {
                return l;
            }
        }
    }

    /// A POP3 command; returns the first line of the reply.
    pub async fn pop3(&mut self, command: &str) -> String {
        if !self.send(format!("{command}\r\n").as_bytes()).await {
            return String::new();
        }
        self.line().await
    }

    /// An SMTP command; returns the whole reply.
    pub async fn smtp(&mut self, command: &str) -> String {
        if !self.send(format!("{command}\r\n").as_bytes()).await {
            return String::new();
        }
        let mut reply = String::new();
        loop {
            let l = self.line().await;
            reply.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] == b' ' {
                return reply;
            }
        }
    }
}

/// Opens `n` connections to `listener` from `source` all at once, and returns each one that
/// is still open with the first line it got; a connection closed without a word counts as "".
pub async fn flood(
    s: &Server,
    listener: &str,
    source: IpAddr,
    n: usize,
) -> Vec<(Option<Raw>, String)> {
    let opens = (0..n).map(|_| async {
        match Raw::open(s, listener, source).await {
            Some(mut c) => {
                let first = c.line().await;
                (Some(c), first)
            }
            None => (None, String::new()),
        }
    });
    futures::future::join_all(opens).await
}

pub fn count(got: &[(Option<Raw>, String)], prefix: &str) -> usize {
    got.iter().filter(|(_, l)| l.starts_with(prefix)).count()
}
