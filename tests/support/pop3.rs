//! A raw POP3 client over TLS for exact conversations, optionally from a chosen loopback
//! source address (127.0.0.0/8 is all loopback on Linux), so that tests can play several
//! clients with distinct IP addresses.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::Server;

/// How long a reply may take before the client gives up (and reads it as a closed stream).
const REPLY: Duration = Duration::from_secs(30);

/// A TCP connection to `addr` from `source` (port chosen by the system).
pub async fn tcp_from(source: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// TLS over `tcp`, verifying pecd's development certificate.
pub async fn tls_over(s: &Server, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
    let connector = TlsConnector::from(super::smtp::tls_config(&s.ca()));
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

pub struct Pop {
    pub stream: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

impl Pop {
    /// Connects from 127.0.0.1 and reads the greeting.
    pub async fn connect(s: &Server) -> (Pop, String) {
        Pop::connect_from(s, [127, 0, 0, 1].into()).await
    }

    /// Connects from `source` and reads the greeting.
    pub async fn connect_from(s: &Server, source: IpAddr) -> (Pop, String) {
        let tcp = tcp_from(source, s.listener("pop3s")).await.unwrap();
        let stream = tls_over(s, tcp).await.expect("TLS handshake with pecd");
        let mut p = Pop {
            stream,
            buf: Vec::new(),
        };
        let greeting = p.line().await;
        (p, greeting)
    }

    /// One line, CRLF included; empty when the server closed (or said nothing for 30 s).
    pub async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            let mut chunk = [0u8; 8192];
            let n = match tokio::time::timeout(REPLY, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) => n,
                _ => 0,
            };
            if n == 0 {
                return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data).await?;
        self.stream.flush().await
    }

    /// Sends `line` and returns the first line of the reply (empty if the server closed).
    pub async fn cmd(&mut self, line: &str) -> String {
        if self.send(format!("{line}\r\n").as_bytes()).await.is_err() {
            return String::new();
        }
        self.line().await
    }

    /// The lines of a multi-line response up to and including ".\r\n", exactly as sent.
    pub async fn body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            out.extend_from_slice(l.as_bytes());
            if l == ".\r\n" || l.is_empty() {
                return out;
            }
        }
    }

    /// USER and PASS; returns the reply to PASS (or to USER when that was refused).
    pub async fn login(&mut self, user: &str, password: &str) -> String {
        let r = self.cmd(&format!("USER {user}")).await;
        if !r.starts_with("+OK") {
            return r;
        }
        self.cmd(&format!("PASS {password}")).await
    }
}
