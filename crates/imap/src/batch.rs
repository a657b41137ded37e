//! FETCH and SEARCH read message bodies a batch at a time, bounded in messages and in bytes,
//! so that a command over a large folder never holds the folder in memory.

use pecd_store::{MessageMeta, StoreError};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{store_refusal, Refusal};
use crate::session::Session;

/// Messages whose bodies FETCH and SEARCH read, and FETCH answers, at a time.
pub(crate) const BATCH_MESSAGES: usize = 256;
/// Body bytes read at a time (a larger message is read alone).
pub(crate) const BATCH_BYTES: u64 = 4 << 20;

/// How many of `metas` (at least one) make the next batch; `sizes` counts when bodies are read.
pub(crate) fn batch_len<'m>(metas: impl Iterator<Item = &'m MessageMeta>, sizes: bool) -> usize {
    let mut bytes = 0u64;
    let mut n = 0;
    for m in metas.take(BATCH_MESSAGES) {
        bytes = bytes.saturating_add(m.size);
        if n > 0 && sizes && bytes > BATCH_BYTES {
            break;
        }
        n += 1;
    }
    n
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// The bodies of one FETCH or SEARCH batch (`metas`, made only when `needed`), in order;
    /// none when the command reads only metadata.
    pub(crate) async fn batch_bodies(
        &self,
        needed: bool,
        metas: impl FnOnce() -> Vec<MessageMeta>,
    ) -> Result<Vec<Result<Vec<u8>, StoreError>>, Refusal> {
        if !needed {
            return Ok(Vec::new());
        }
        self.ctx
            .store
            .read_bodies(metas())
            .await
            .map_err(store_refusal)
    }
}
