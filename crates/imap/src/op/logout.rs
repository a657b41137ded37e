//! LOGOUT (RFC 9051 §6.1.3): BYE, the tagged OK, then the connection closes.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Outcome;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) fn logout(&mut self) -> Outcome {
        self.bye(None, "Logging out");
        self.logout = true;
        Ok("LOGOUT completed".into())
    }
}
