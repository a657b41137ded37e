//! What the in-memory IMAP tests share: the test holder and a line-based client on the other
//! end of a session's stream.

use std::sync::Arc;

use pecd_imap::session::Session;
use pecd_imap::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio_util::sync::CancellationToken;

pub const MARIO: &str = "mario@pec.localhost";
pub const PASSWORD: &str = "Pec-Strong9!";

/// Runs a session of `ctx` against `client`, handed the other end of its stream, until both
/// end; the session must end without error. Returns what the client returned.
pub async fn serve<F, Fut, T>(ctx: &Arc<Context>, client: F) -> T
where
    F: FnOnce(DuplexStream) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let (ours, theirs) = tokio::io::duplex(1 << 22);
    let mut session = Session::new(
        ctx,
        theirs,
        "127.0.0.1:50000".parse().unwrap(),
        CancellationToken::new(),
    );
    let (ended, out) = tokio::join!(session.run(), client(ours));
    ended.unwrap();
    out
}

/// A line-based client on the other end of a session's stream.
pub struct Client {
    io: BufReader<DuplexStream>,
    next: u32,
}

impl Client {
    pub fn new(io: DuplexStream) -> Client {
        Client {
            io: BufReader::new(io),
            next: 0,
        }
    }

    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        self.io.read_line(&mut line).await.unwrap();
        line
    }

    /// Sends a command and returns every line up to and including its tagged reply, which
    /// must be OK.
    pub async fn ok(&mut self, command: &str) -> Vec<String> {
        self.ok_literal(command, b"").await
    }

    /// [`Client::ok`] for a command that ends in a `{n+}` literal: `literal` follows it.
    pub async fn ok_literal(&mut self, command: &str, literal: &[u8]) -> Vec<String> {
        self.next += 1;
        let tag = format!("t{}", self.next);
        let io = self.io.get_mut();
        io.write_all(format!("{tag} {command}").as_bytes())
            .await
            .unwrap();
        io.write_all(literal).await.unwrap();
        io.write_all(b"\r\n").await.unwrap();
        io.flush().await.unwrap();
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed after {lines:?}");
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                let last = lines.last().unwrap();
                assert!(
                    last.starts_with(&format!("{tag} OK")),
                    "{command}: {lines:?}"
                );
                return lines;
            }
        }
    }
}
