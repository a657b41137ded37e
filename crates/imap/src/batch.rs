//! FETCH and SEARCH read message bodies a batch at a time, bounded in messages and in bytes,
//! so that a command over a large folder never holds the folder in memory. Where a command
//! needs only the top-level header block (ENVELOPE, RFC822.HEADER, BODY[HEADER.FIELDS ...],
//! header SEARCH keys) only the first bytes of each message are read
//! ([`pecd_imap_message::header_block_len`]), and the whole body only when its header block
//! is longer than those.

use pecd_imap_message::header_block_len;
use pecd_store::{MessageMeta, StoreError};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{store_refusal, Refusal};
use crate::session::Session;
use crate::view::Selected;

/// Messages whose bodies FETCH and SEARCH read, and FETCH answers, at a time.
pub(crate) const BATCH_MESSAGES: usize = 256;
/// Body bytes read at a time (a larger message is read alone).
pub(crate) const BATCH_BYTES: u64 = 4 << 20;
/// The first bytes of a message read for its header block: PEC envelopes and receipts carry
/// 1–3 KiB of header, ordinary mail with long Received chains rarely over 8 KiB.
pub(crate) const HEAD_BYTES: u64 = 16 << 10;

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

    /// The header blocks of `metas` for a FETCH or SEARCH batch that needs no more of them:
    /// each is the message's header block (blank line included), or the whole message when it
    /// is that short, or its whole body when the header block goes on past [`HEAD_BYTES`].
    /// Batches are still bounded by the bodies' sizes, as a fallback may read them all.
    pub(crate) async fn batch_heads(
        &self,
        metas: Vec<MessageMeta>,
    ) -> Result<Vec<Result<Vec<u8>, StoreError>>, Refusal> {
        let store = &self.ctx.store;
        let mut read = store
            .read_body_prefixes(metas.clone(), HEAD_BYTES)
            .await
            .map_err(store_refusal)?;
        let mut longer = Vec::new();
        for (k, r) in read.iter_mut().enumerate() {
            let Ok(bytes) = r else { continue };
            // Fewer bytes than asked for are the whole message, whose header may run to its end.
            if !cut_to_header_block(bytes) && bytes.len() as u64 >= HEAD_BYTES {
                longer.push(k);
            }
        }
        if !longer.is_empty() {
            let whole = longer.iter().map(|&k| metas[k].clone()).collect();
            let bodies = store.read_bodies(whole).await.map_err(store_refusal)?;
            for (k, mut body) in longer.into_iter().zip(bodies) {
                if let Ok(b) = &mut body {
                    cut_to_header_block(b);
                }
                read[k] = body;
            }
        }
        Ok(read)
    }

    /// [`Session::batch_heads`] for messages of the selected folder, taking the header blocks
    /// the header cache holds ([`crate::header_cache`]) and reading only the others. A message
    /// expunged by another session and not yet reported is read, as without the cache.
    pub(crate) async fn batch_heads_cached(
        &self,
        sel: &Selected,
        metas: Vec<MessageMeta>,
    ) -> Result<Vec<Result<Vec<u8>, StoreError>>, Refusal> {
        let cached: Vec<_> = self
            .ctx
            .headers
            .get_many(sel.folder.id, metas.iter().map(|m| m.uid))
            .into_iter()
            .zip(&metas)
            .map(|(h, m)| h.filter(|_| !sel.deferred.contains(&m.uid)))
            .collect();
        let missing: Vec<MessageMeta> = metas
            .iter()
            .zip(&cached)
            .filter(|(_, h)| h.is_none())
            .map(|(m, _)| m.clone())
            .collect();
        let mut read = if missing.is_empty() {
            Vec::new().into_iter()
        } else {
            self.batch_heads(missing).await?.into_iter()
        };
        // The reads come back in the order of the missing entries. One that did not come back
        // fails on its own rather than shifting the others onto the wrong messages.
        let unread = || Err(StoreError::Io("header block not read".into()));
        Ok(cached
            .into_iter()
            .map(|h| match h {
                Some(h) => Ok(h.block().to_vec()),
                None => read.next().unwrap_or_else(unread),
            })
            .collect())
    }
}

/// Cuts `bytes`, the start of a message, to its header block when they show where it ends
/// ([`header_block_len`]); whether they did.
fn cut_to_header_block(bytes: &mut Vec<u8>) -> bool {
    match header_block_len(bytes) {
        Some(n) => {
            bytes.truncate(n);
            true
        }
        None => false,
    }
}
