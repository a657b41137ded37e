//! Errors of a session: [`ConnectError`] when nothing of a batch was handed over (the
//! connection or its setup failed), and the internal [`Failure`] that breaks a session
//! after setup, which the caller turns into per-recipient temporary outcomes.

use std::fmt;
use std::io;

/// Connection-level failure: nothing of the batch was delivered. All of
/// these are temporary conditions.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// A step of the session setup did not complete in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// I/O failure after the connection was opened, during session setup.
    #[error("connection failed during session setup: {0}")]
    Io(#[source] io::Error),
    /// The server greeted with a non-2xx reply.
    #[error("server refused the session: {0}")]
    Greeting(String),
    /// EHLO (and HELO, where allowed) was refused.
    #[error("EHLO refused: {0}")]
    Helo(String),
    /// TLS is required but the server does not offer STARTTLS.
    #[error("TLS required but the server does not offer STARTTLS")]
    NoStartTls,
    /// STARTTLS was refused, or the TLS handshake failed.
    #[error("TLS failure: {0}")]
    Tls(String),
    /// The server did not speak SMTP correctly.
    #[error("SMTP protocol error: {0}")]
    Protocol(String),
}

/// Why a session broke down.
#[derive(Debug)]
pub(crate) enum Failure {
    Io(io::Error),
    Timeout(String),
    Protocol(String),
    /// The server sent 421 and is closing the connection.
    Closing(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Failure::Protocol(what) => write!(f, "protocol error: {what}"),
            Failure::Closing(reply) => write!(f, "server closing: {reply}"),
        }
    }
}

impl From<Failure> for ConnectError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Io(e) => ConnectError::Io(e),
            Failure::Timeout(what) => ConnectError::Timeout(what),
            Failure::Protocol(what) => ConnectError::Protocol(what),
            Failure::Closing(reply) => ConnectError::Protocol(format!("server closing: {reply}")),
        }
    }
}
