//! CAPABILITY (RFC 9051 §6.1.1): the list computed in [`crate::capability`], before or
//! after login.

use imap_codec::imap_types::response::Data;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::capability;
use crate::error::Outcome;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) fn capability(&mut self) -> Outcome {
        let caps = if self.login.is_some() {
            capability::after_login()
        } else {
            capability::before_login()
        };
        self.data(Data::Capability(caps));
        Ok("CAPABILITY completed".into())
    }
}
