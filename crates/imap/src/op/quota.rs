//! QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA answer the mailbox's one storage quota under
//! the root `""`; SETQUOTA is refused, quotas being the provider's (pecctl mailbox set).

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::extensions::quota::{QuotaGet, Resource};
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::Data;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{no, store_refusal, Outcome, Refusal};
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn get_quota_root(&mut self, mailbox: &ImapMailbox<'_>) -> Outcome {
        let name = self.name_of(mailbox);
        match self.ctx.store.folder(self.mailbox_id(), &name).await {
            Ok(Some(_)) => {
                let mailbox = self.imap_name(&name);
                self.data(Data::QuotaRoot {
                    mailbox,
                    roots: vec![AString::try_from("").expect("empty astring")],
                });
                self.quota().await.map(|_| "GETQUOTAROOT completed".into())
            }
            Ok(None) => Err(no(Some("NONEXISTENT"), "No such mailbox")),
            Err(e) => Err(store_refusal(e)),
        }
    }

    pub(crate) async fn get_quota(&mut self, root: &AString<'_>) -> Outcome {
        if !root.as_ref().is_empty() {
            return Err(no(Some("NONEXISTENT"), "No such quota root"));
        }
        self.quota().await.map(|_| "GETQUOTA completed".into())
    }

    pub(crate) fn set_quota(&self) -> Outcome {
        Err(no(
            Some("NOPERM"),
            "Quotas are set by the provider (pecctl mailbox set)",
        ))
    }

    async fn quota(&mut self) -> Result<(), Refusal> {
        let mailbox = match self.ctx.store.mailbox(self.mailbox_id()).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(no(Some("UNAVAILABLE"), "Mailbox no longer exists")),
            Err(e) => return Err(store_refusal(e)),
        };
        // RFC 9208: STORAGE is in units of 1024 octets.
        self.data(Data::Quota {
            root: AString::try_from("").expect("empty astring"),
            quotas: vec![QuotaGet {
                resource: Resource::Storage,
                usage: mailbox.used_bytes.div_ceil(1024),
                limit: mailbox.quota_bytes / 1024,
            }]
            .try_into()
            .expect("one quota"),
        });
        Ok(())
    }
}
