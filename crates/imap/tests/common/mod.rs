//! What the in-memory IMAP tests share: the test holder and a line-based client on the other
//! end of a session's stream.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

pub const MARIO: &str = "mario@pec.localhost";
pub const PASSWORD: &str = "Pec-Strong9!";

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
