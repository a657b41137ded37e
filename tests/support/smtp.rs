//! A raw SMTP client for exact conversations: plain TCP, implicit TLS, or STARTTLS.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

pub struct Conn {
    pub stream: Stream,
    buf: Vec<u8>,
}

pub fn tls_config(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn handshake(tcp: TcpStream, ca: &Path) -> TlsStream<TcpStream> {
    let connector = TlsConnector::from(tls_config(ca));
    // Every development certificate names localhost, whatever the provider domains.
    let name = ServerName::try_from("localhost").unwrap();
    connector
        .connect(name, tcp)
        .await
        .expect("TLS handshake with pecd")
}

impl Conn {
    /// Connects in clear and reads the greeting.
    pub async fn plain(addr: SocketAddr) -> (Conn, String) {
        let mut c = Conn {
            stream: Stream::Plain(TcpStream::connect(addr).await.unwrap()),
            buf: Vec::new(),
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// Connects with implicit TLS and reads the greeting.
    pub async fn tls(addr: SocketAddr, ca: &Path) -> (Conn, String) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut c = Conn {
            stream: Stream::Tls(Box::new(handshake(tcp, ca).await)),
            buf: Vec::new(),
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// Sends STARTTLS, expects 220 and upgrades.
    pub async fn starttls(mut self, ca: &Path) -> Conn {
        let r = self.cmd("STARTTLS").await;
        assert!(r.starts_with("220 2.0.0"), "{r}");
        let Stream::Plain(tcp) = self.stream else {
            panic!("already TLS")
        };
        Conn {
            stream: Stream::Tls(Box::new(handshake(tcp, ca).await)),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, data: &[u8]) {
        match &mut self.stream {
            Stream::Plain(s) => s.write_all(data).await.unwrap(),
            Stream::Tls(s) => {
                s.write_all(data).await.unwrap();
                s.flush().await.unwrap();
            }
        }
    }

    /// Reads some bytes; 0 at a clean end of stream.
    pub async fn read_some(&mut self, chunk: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.read(chunk).await,
            Stream::Tls(s) => s.read(chunk).await,
        }
    }

    /// One whole reply, possibly multi-line, CRLFs kept; empty if the server closed.
    pub async fn reply(&mut self) -> String {
        loop {
            // A reply ends with a line whose fourth character is a space.
            let mut start = 0;
            while let Some(i) = self.buf[start..].iter().position(|&b| b == b'\n') {
                let line = &self.buf[start..start + i + 1];
                if line.len() >= 4 && line[3] == b' ' {
                    let reply: Vec<u8> = self.buf.drain(..start + i + 1).collect();
                    return String::from_utf8(reply).unwrap();
                }
                start += i + 1;
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                self.read_some(&mut chunk),
            )
            .await
            .expect("reply within 30 s")
            .unwrap_or(0);
            if n == 0 {
                return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// EHLO, then AUTH PLAIN with an initial response; asserts success.
    pub async fn login(&mut self, user: &str, password: &str) {
        self.cmd("EHLO client.test").await;
        let r = self
            .cmd(&format!("AUTH PLAIN {}", plain(user, password)))
            .await;
        assert!(r.starts_with("235 2.7.0"), "{r}");
    }

    /// MAIL, RCPT, DATA with `message`; returns the final reply.
    pub async fn send_message(&mut self, from: &str, to: &[&str], message: &str) -> String {
        let r = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        if !r.starts_with("250") {
            return r;
        }
        for rcpt in to {
            let r = self.cmd(&format!("RCPT TO:<{rcpt}>")).await;
            if !r.starts_with("250") {
                self.cmd("RSET").await;
                return r;
            }
        }
        let r = self.cmd("DATA").await;
        assert!(r.starts_with("354"), "{r}");
        self.send(format!("{message}\r\n.\r\n").as_bytes()).await;
        self.reply().await
    }
}

pub fn plain(user: &str, password: &str) -> String {
    b64(format!("\0{user}\0{password}").as_bytes())
}

pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
