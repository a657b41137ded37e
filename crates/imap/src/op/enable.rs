//! ENABLE (RFC 5161, RFC 9051 §6.3.1) of UTF8=ACCEPT (RFC 6855), CONDSTORE and QRESYNC (RFC 7162 §3.1,
//! §3.2.3); the reply lists only what this command newly enabled.

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::response::Data;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Outcome;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) fn enable(&mut self, capabilities: Vec1<CapabilityEnable<'_>>) -> Outcome {
        let mut enabled = Vec::new();
        for c in capabilities.into_inner() {
            let name = c.to_string().to_ascii_uppercase();
            let newly = match name.as_str() {
                "UTF8=ACCEPT" => !std::mem::replace(&mut self.utf8, true),
                "CONDSTORE" => !std::mem::replace(&mut self.condstore, true),
                "QRESYNC" => {
                    // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                    self.condstore = true;
                    !std::mem::replace(&mut self.qresync, true)
                }
                _ => false,
            };
            if newly {
                enabled.push(c);
            }
        }
        self.data(Data::Enabled {
            capabilities: enabled,
        });
        Ok("ENABLE completed".into())
    }
}
