//! Command/reply exchange over one byte stream (RFC 5321 §4.1, §4.2): a command line out, a
//! whole reply in, each step under its own timeout, with limits on reply line length and
//! reply lines. Generic over the stream, so the same code runs over plain TCP, over the TLS
//! stream after STARTTLS and over an in-memory pipe in the tests.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time;
use tracing::trace;

use crate::error::{ConnectError, Failure};
use crate::reply::{parse_reply_line, Reply};

/// Longest reply line accepted from the server, line ending included.
pub(crate) const MAX_LINE: usize = 4096;
/// Most lines accepted in one (multi-line) reply.
const MAX_REPLY_LINES: usize = 128;
/// The message body is written in pieces of this size, each with its own timeout.
const BODY_CHUNK: usize = 64 * 1024;

/// True when `s` holds characters that must never reach a command line.
pub(crate) fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// Command/reply exchange over a stream, with its own read buffer.
pub(crate) struct Conversation<S> {
    stream: S,
    buf: Vec<u8>,
    timeout: Duration,
    pub(crate) peer: String,
}

impl<S> Conversation<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(crate) fn new(stream: S, timeout: Duration, peer: &str) -> Self {
        Conversation {
            stream,
            buf: Vec::new(),
            timeout,
            peer: peer.to_string(),
        }
    }

    /// Gives the stream back (for STARTTLS). Data the server sent ahead of
    /// the handshake would be a plaintext injection: refuse it.
    pub(crate) fn into_inner(self) -> Result<S, ConnectError> {
        if self.buf.is_empty() {
            Ok(self.stream)
        } else {
            Err(ConnectError::Protocol(
                "server sent data after the STARTTLS reply".to_string(),
            ))
        }
    }

    /// Sends one command line and reads the reply.
    pub(crate) async fn command(&mut self, line: &str) -> Result<Reply, Failure> {
        let verb = line.split(' ').next().unwrap_or(line);
        trace!(peer = %self.peer, "C: {line}");
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.write_all(&data, verb).await?;
        self.read_reply(verb).await
    }

    /// Writes the (already stuffed and terminated) message content.
    pub(crate) async fn write_body(&mut self, body: &[u8]) -> Result<(), Failure> {
        trace!(peer = %self.peer, bytes = body.len(), "C: <message content>");
        for chunk in body.chunks(BODY_CHUNK) {
            self.write_all(chunk, "message content").await?;
        }
        Ok(())
    }

    async fn write_all(&mut self, data: &[u8], what: &str) -> Result<(), Failure> {
        let stream = &mut self.stream;
        let write = async {
            stream.write_all(data).await?;
            stream.flush().await
        };
        match time::timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::Io(e)),
            Err(_) => Err(Failure::Timeout(format!("sending {what}"))),
        }
    }

    pub(crate) async fn read_reply(&mut self, what: &str) -> Result<Reply, Failure> {
        let reply = match time::timeout(self.timeout, self.read_reply_untimed()).await {
            Ok(r) => r?,
            Err(_) => return Err(Failure::Timeout(format!("reply to {what}"))),
        };
        trace!(peer = %self.peer, "S: {}", reply.text());
        Ok(reply)
    }

    async fn read_reply_untimed(&mut self) -> Result<Reply, Failure> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            let (c, last, text) = parse_reply_line(&line)?;
            if *code.get_or_insert(c) != c {
                return Err(Failure::Protocol(format!(
                    "reply code changed within a multi-line reply ({} then {c})",
                    code.unwrap_or(c)
                )));
            }
            lines.push(text);
            if last {
                return Ok(Reply { code: c, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(Failure::Protocol("reply has too many lines".to_string()));
            }
        }
    }

    /// One line without its line end (CRLF, or a bare LF tolerated).
    async fn read_line(&mut self) -> Result<Vec<u8>, Failure> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos;
                if end + 1 > MAX_LINE {
                    return Err(Failure::Protocol("reply line too long".to_string()));
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            scanned = self.buf.len();
            if scanned >= MAX_LINE {
                return Err(Failure::Protocol("reply line too long".to_string()));
            }
            let mut chunk = [0u8; 2048];
            let n = self.stream.read(&mut chunk).await.map_err(Failure::Io)?;
            if n == 0 {
                return Err(Failure::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Best-effort QUIT and shutdown; errors are irrelevant at this point.
    pub(crate) async fn quit(&mut self) {
        if self.command("QUIT").await.is_ok() {
            let _ = time::timeout(self.timeout, self.stream.shutdown()).await;
        }
    }
}
