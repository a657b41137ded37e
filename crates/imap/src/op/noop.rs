//! NOOP (RFC 9051 §6.1.2) and CHECK (RFC 3501 §6.4.1, a NOOP here): nothing to do; the
//! selected folder's updates follow as for every command.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Outcome;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) fn noop(&self) -> Outcome {
        Ok("NOOP completed".into())
    }

    pub(crate) fn check(&self) -> Outcome {
        Ok("CHECK completed".into())
    }
}
