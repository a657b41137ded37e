//! ID (RFC 2971): the client's identification is logged, never acted on (CLIENTS.md §1: no
//! branching on ID; client workarounds are named settings).

use imap_codec::imap_types::core::{IString, NString};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Outcome;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) fn id(&mut self, parameters: Option<Vec<(IString<'_>, NString<'_>)>>) -> Outcome {
        let described: Vec<String> = parameters
            .iter()
            .flatten()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(k.as_ref()),
                    v.0.as_ref()
                        .map_or("NIL".into(), |v| String::from_utf8_lossy(v.as_ref())
                            .into_owned())
                )
            })
            .collect();
        tracing::info!(peer = %self.peer, client = %described.join(" "), "IMAP ID");
        self.out.extend_from_slice(
            format!(
                "* ID (\"name\" \"pecd\" \"version\" \"{}\" \"vendor\" \"pecd\")\r\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        );
        Ok("ID completed".into())
    }
}
