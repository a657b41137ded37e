//! A raw IMAP client over TLS for protocol-exact tests: sends commands byte for byte and
//! collects the untagged lines up to the tagged reply.
#![allow(dead_code)]

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::Server;

pub struct Imap {
    pub stream: TlsStream<tokio::net::TcpStream>,
    buf: Vec<u8>,
    next: u32,
}

impl Imap {
    pub async fn connect(s: &Server) -> (Imap, String) {
        let tcp = tokio::net::TcpStream::connect(s.listener("imaps"))
            .await
            .unwrap();
        let tls = TlsConnector::from(super::smtp::tls_config(&s.ca()));
        let stream = tls
            .connect(ServerName::try_from("mail.pec.localhost").unwrap(), tcp)
            .await
            .unwrap();
        let mut c = Imap {
            stream,
            buf: Vec::new(),
            next: 1,
        };
        let greeting = c.line().await;
        (c, greeting)
    }

    pub async fn login(s: &Server, user: &str) -> Imap {
        let (mut c, _) = Imap::connect(s).await;
        let r = c.cmd(&format!("LOGIN {user} {}", super::PASSWORD)).await;
        assert!(r.last().unwrap().contains("OK"), "{r:?}");
        c
    }

    /// One line, CRLF included; empty at EOF.
    pub async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            if !self.fill().await {
                return String::new();
            }
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).await.unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Exactly `n` bytes (a literal's content).
    pub async fn bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            if !self.fill().await {
                break;
            }
        }
        self.buf.drain(..n.min(self.buf.len())).collect()
    }

    pub async fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    pub fn tag(&mut self) -> String {
        let t = format!("t{}", self.next);
        self.next += 1;
        t
    }

    /// Lines up to and including the one tagged `tag`; literals are inlined into the text.
    pub async fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let mut l = self.line().await;
            if l.is_empty() {
                out.push(String::new());
                return out;
            }
            // Inline literals so that one response is one entry.
            while let Some(n) = literal_len(&l) {
                let data = self.bytes(n).await;
                l.push_str(&String::from_utf8_lossy(&data));
                l.push_str(&self.line().await);
            }
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// Sends `line` with a fresh tag and returns every line up to the tagged reply.
    pub async fn cmd(&mut self, line: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(format!("{tag} {line}\r\n").as_bytes()).await;
        self.until(&tag).await
    }

    /// The tagged reply of `cmd` (last line).
    pub async fn ok(&mut self, line: &str) -> Vec<String> {
        let r = self.cmd(line).await;
        assert!(
            r.last().unwrap().split(' ').nth(1) == Some("OK"),
            "{line}: {r:?}"
        );
        r
    }

    /// APPEND with a synchronizing literal.
    pub async fn append(&mut self, folder: &str, flags: &str, message: &[u8]) -> Vec<String> {
        let tag = self.tag();
        self.send(format!("{tag} APPEND {folder} ({flags}) {{{}}}\r\n", message.len()).as_bytes())
            .await;
        let cont = self.line().await;
        if !cont.starts_with('+') {
            return vec![cont];
        }
        self.send(message).await;
        self.send(b"\r\n").await;
        self.until(&tag).await
    }
}

fn literal_len(line: &str) -> Option<usize> {
    let t = line.trim_end_matches("\r\n");
    let inner = t.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].parse().ok()
}
