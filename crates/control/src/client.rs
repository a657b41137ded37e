//! The client side of the control socket, used by pecctl and by tests.

use std::path::Path;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::protocol::*;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the control socket {path}: {source} (is pecd running?)")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("control socket speaks an unexpected protocol: {0}")]
    Protocol(String),
    #[error("{0}")]
    Refused(#[from] ControlError),
}

pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects and checks the version greeting.
    pub async fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.display().to_string(),
                source,
            })?;
        let (r, w) = stream.into_split();
        let mut client = Client {
            reader: BufReader::new(r),
            writer: w,
        };
        let line = client.read_line().await?;
        let greeting: Greeting = serde_json::from_str(&line)
            .map_err(|_| ClientError::Protocol(format!("bad greeting {line:?}")))?;
        if greeting.pecd_control != PROTOCOL_VERSION {
            return Err(ClientError::Protocol(format!(
                "server speaks version {}, this pecctl speaks {PROTOCOL_VERSION}",
                greeting.pecd_control
            )));
        }
        Ok(client)
    }

    async fn read_line(&mut self) -> Result<String, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).await? == 0 {
            return Err(ClientError::Protocol(
                "connection closed by the server".into(),
            ));
        }
        Ok(line)
    }

    async fn reply<T: DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        let line = self.read_line().await?;
        let reply: Reply = serde_json::from_str(&line)
            .map_err(|e| ClientError::Protocol(format!("bad reply: {e}")))?;
        match (reply.ok, reply.result, reply.error) {
            (true, Some(result), _) => serde_json::from_value(result)
                .map_err(|e| ClientError::Protocol(format!("unexpected result: {e}"))),
            (false, _, Some(error)) => Err(ClientError::Refused(error)),
            _ => Err(ClientError::Protocol(
                "reply is neither a result nor an error".into(),
            )),
        }
    }

    async fn send_line(&mut self, request: &impl serde::Serialize) -> Result<(), ClientError> {
        let mut line =
            serde_json::to_vec(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line).await?;
        Ok(())
    }

    /// Sends one request and decodes its result.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        request: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        self.send_line(request).await?;
        self.reply().await
    }

    /// Imports one message; returns once the server says it is durable.
    pub async fn import(
        &mut self,
        address: &str,
        folder: Option<&str>,
        bytes: &[u8],
    ) -> Result<Imported, ClientError> {
        let request = Request::MailboxImport {
            address: address.to_string(),
            folder: folder.map(str::to_string),
            size: bytes.len() as u64,
        };
        self.send_line(&request).await?;
        self.writer.write_all(bytes).await?;
        self.reply().await
    }

    /// Sends a request whose line announces `bytes.len()` raw bytes (a contract document),
    /// then the bytes, and decodes its result.
    pub async fn call_with_body<T: DeserializeOwned>(
        &mut self,
        request: &impl serde::Serialize,
        bytes: &[u8],
    ) -> Result<T, ClientError> {
        self.send_line(request).await?;
        self.writer.write_all(bytes).await?;
        self.reply().await
    }

    /// Sends raw bytes as a request line (for tests of malformed input).
    pub async fn raw(&mut self, line: &[u8]) -> Result<serde_json::Value, ClientError> {
        self.writer.write_all(line).await?;
        self.reply().await
    }
}
