//! EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (UIDPLUS, RFC 4315 §2.1); under CONDSTORE the
//! reply carries the new HIGHESTMODSEQ (RFC 7162, CLIENTS.md §1).

use imap_codec::imap_types::sequence::SequenceSet;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{no, store_refusal, Outcome};
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// EXPUNGE of every `\Deleted` message, or UID EXPUNGE of those among `only`.
    pub(crate) async fn expunge(&mut self, only: Option<SequenceSet>) -> Outcome {
        let sel = self.selected_ref();
        if crate::security_archive::read_only(&sel.folder) {
            return Err(crate::security_archive::refusal("EXPUNGE"));
        }
        if sel.read_only {
            return Err(no(Some("READ-ONLY"), "Mailbox is read-only"));
        }
        let only = match &only {
            Some(set) => Some(
                sel.resolve(set, true)?
                    .into_iter()
                    .map(|i| sel.messages[i].uid)
                    .collect(),
            ),
            None => None,
        };
        let folder = sel.folder.id;
        self.ctx
            .store
            .expunge(self.mailbox_id(), folder, only)
            .await
            .map_err(store_refusal)?;
        self.sync(true).await.map_err(store_refusal)?;
        if self.condstore {
            // CLIENTS.md §1: clients want the new HIGHESTMODSEQ after EXPUNGE.
            if let Ok(Some(f)) = self.ctx.store.folder_by_id(folder).await {
                return Ok(format!(
                    "[HIGHESTMODSEQ {}] EXPUNGE completed",
                    f.highestmodseq
                ));
            }
        }
        Ok("EXPUNGE completed".into())
    }
}
