//! IMAP COPY and MOVE (RFC 3501 §6.4.7, RFC 6851).

use super::blocking;
use crate::types::*;
use crate::{Backend, Store};

impl Store {
    /// IMAP COPY (`remove_source` false) or MOVE (true, RFC 6851) in one atomic, durable
    /// step. Copies get new UIDs in the destination in ascending order of their sources and
    /// keep flags, keywords and internal date; UIDs that do not exist are skipped. A COPY that
    /// does not fit the quota is refused whole (`OverQuota`); a MOVE leaves the used bytes
    /// alone. COPY into the source folder duplicates; MOVE into it is `Invalid`.
    pub async fn copy_messages(
        &self,
        mailbox: MailboxId,
        from: FolderId,
        uids: Vec<Uid>,
        to: FolderId,
        remove_source: bool,
    ) -> Result<Copied, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| {
                    s.copy_messages(mailbox, from, &uids, to, remove_source)
                })
                .await
            }
        }
    }
}
