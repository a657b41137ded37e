//! NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal namespace, no prefix, `/` as the
//! hierarchy delimiter; no other users' or shared namespaces.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Outcome;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) fn namespace(&mut self) -> Outcome {
        self.out
            .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
        Ok("NAMESPACE completed".into())
    }
}
