//! The buffered input of a line-based protocol session (SMTP, POP3, IMAP): bytes read ahead
//! stay buffered, so pipelined commands are served in order; a line longer than the limit is
//! skipped to its end and reported once; reads end on idle timeout or shutdown.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// One command line, CRLF (or bare LF) stripped.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(Vec<u8>),
    /// Longer than the limit; its bytes were dropped.
    TooLong,
}

/// Why [`Input::read_from`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// More bytes are buffered.
    Data,
    /// The client closed, or a TLS client left without close_notify.
    Eof,
    /// Nothing arrived within the idle timeout.
    Timeout,
    /// The server is stopping.
    Shutdown,
}

#[derive(Default)]
pub struct Input {
    buf: Vec<u8>,
    pos: usize,
    /// A too-long line is being skipped.
    skipping: bool,
}

impl Input {
    /// Buffered bytes not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Drops everything buffered (what a client sent after STARTTLS, say).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.skipping = false;
    }

    /// The next complete line if one is buffered; `None` when more input is needed. A line of
    /// more than `max` bytes (line ending included) comes back as [`Line::TooLong`].
    pub fn next_line(&mut self, max: usize) -> Option<Line> {
        let pending = &self.buf[self.pos..];
        match pending.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let text = pending[..i]
                    .strip_suffix(b"\r")
                    .unwrap_or(&pending[..i])
                    .to_vec();
                self.pos += i + 1;
                let too_long = std::mem::take(&mut self.skipping) || i + 1 > max;
                Some(if too_long {
                    Line::TooLong
                } else {
                    Line::Text(text)
                })
            }
            None => {
                if pending.len() > max {
                    self.skipping = true;
                    self.pos = self.buf.len();
                }
                None
            }
        }
    }

    /// Reads more bytes from `stream`.
    pub async fn read_from<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        idle: Duration,
        shutdown: &CancellationToken,
    ) -> std::io::Result<Read> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(Read::Shutdown),
            r = tokio::time::timeout(idle, stream.read(&mut chunk)) => r,
        };
        match read {
            Err(_) => Ok(Read::Timeout),
            Ok(Ok(0)) => Ok(Read::Eof),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(Read::Data)
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Read::Eof),
            Ok(Err(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_pipelining_and_too_long_lines() {
        let mut data: &[u8] = b"NOOP\r\nQUIT\nxxxxxxxxxxxxxxxxxxxx";
        let mut input = Input::default();
        let token = CancellationToken::new();
        assert_eq!(input.next_line(10), None);
        assert_eq!(
            input
                .read_from(&mut data, Duration::from_secs(1), &token)
                .await
                .unwrap(),
            Read::Data
        );
        assert_eq!(input.next_line(10), Some(Line::Text(b"NOOP".to_vec())));
        assert_eq!(input.next_line(10), Some(Line::Text(b"QUIT".to_vec())));
        assert_eq!(
            input.next_line(10),
            None,
            "20 bytes without LF: being skipped"
        );
        let mut rest: &[u8] = b"yy\r\nNEXT\r\n";
        input
            .read_from(&mut rest, Duration::from_secs(1), &token)
            .await
            .unwrap();
        assert_eq!(input.next_line(10), Some(Line::TooLong));
        assert_eq!(input.next_line(10), Some(Line::Text(b"NEXT".to_vec())));
        let mut empty: &[u8] = b"";
        assert_eq!(
            input
                .read_from(&mut empty, Duration::from_secs(1), &token)
                .await
                .unwrap(),
            Read::Eof
        );
        token.cancel();
        assert_eq!(
            input
                .read_from(&mut empty, Duration::from_secs(1), &token)
                .await
                .unwrap(),
            Read::Shutdown
        );
    }
}
