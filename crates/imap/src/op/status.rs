//! STATUS (RFC 9051 §6.3.11, RFC 3501 §6.3.10) with STATUS=SIZE (RFC 8438), DELETED
//! (RFC 9051 §6.3.11), DELETED-STORAGE (QUOTA, RFC 9208) and CONDSTORE's HIGHESTMODSEQ
//! (RFC 7162). Also answers LIST-STATUS (RFC 5819) for LIST (`op::list`).

use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use pecd_store::Flags;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{store_refusal, Outcome, Refusal};
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn status(
        &mut self,
        mailbox: &ImapMailbox<'_>,
        items: &[StatusDataItemName],
    ) -> Outcome {
        let name = self.name_of(mailbox);
        self.status_of(&name, items)
            .await
            .map(|()| "STATUS completed".into())
    }

    /// STATUS of one folder as untagged data (also used by LIST-STATUS).
    pub(crate) async fn status_of(
        &mut self,
        name: &str,
        items: &[StatusDataItemName],
    ) -> Result<(), Refusal> {
        let folder = self.folder_named(name).await?;
        let needs_scan = items.iter().any(|i| {
            matches!(
                i,
                StatusDataItemName::Unseen
                    | StatusDataItemName::Deleted
                    | StatusDataItemName::DeletedStorage
                    | StatusDataItemName::Recent
            )
        });
        let messages = if needs_scan {
            self.ctx
                .store
                .messages(folder.id)
                .await
                .map_err(store_refusal)?
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        for item in items {
            out.push(match item {
                StatusDataItemName::Messages => StatusDataItem::Messages(folder.message_count),
                StatusDataItemName::Recent => {
                    let recent = match &self.selected {
                        Some(s) if s.folder.id == folder.id => s.recent.len() as u32,
                        _ => {
                            let first = self.ctx.first_recent(folder.id, None);
                            messages.iter().filter(|m| m.uid >= first).count() as u32
                        }
                    };
                    StatusDataItem::Recent(recent)
                }
                StatusDataItemName::UidNext => {
                    StatusDataItem::UidNext(folder.uidnext.max(1).try_into().expect("nonzero"))
                }
                StatusDataItemName::UidValidity => StatusDataItem::UidValidity(
                    folder.uidvalidity.max(1).try_into().expect("nonzero"),
                ),
                StatusDataItemName::Unseen => StatusDataItem::Unseen(
                    messages
                        .iter()
                        .filter(|m| !m.flags.contains(Flags::SEEN))
                        .count() as u32,
                ),
                StatusDataItemName::Deleted => StatusDataItem::Deleted(
                    messages
                        .iter()
                        .filter(|m| m.flags.contains(Flags::DELETED))
                        .count() as u32,
                ),
                StatusDataItemName::DeletedStorage => StatusDataItem::DeletedStorage(
                    messages
                        .iter()
                        .filter(|m| m.flags.contains(Flags::DELETED))
                        .map(|m| m.size)
                        .sum(),
                ),
                StatusDataItemName::Size => StatusDataItem::Size(folder.size_bytes),
                StatusDataItemName::HighestModSeq => {
                    StatusDataItem::HighestModSeq(folder.highestmodseq)
                }
            });
        }
        let mailbox = self.imap_name(name);
        self.data(Data::Status {
            mailbox,
            items: out.into(),
        });
        Ok(())
    }
}
