//! APPEND (RFC 9051 §6.3.12) with UIDPLUS's APPENDUID (RFC 4315 §3); the message may come as
//! a LITERAL+ non-synchronizing literal (RFC 7888), read whole by the session.

use std::sync::Arc;

use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use pecd_imap_message::HeaderFields;
use pecd_store::NewMessage;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{no, store_refusal, Outcome};
use crate::flags::split_flags;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn append(
        &mut self,
        mailbox: &ImapMailbox<'_>,
        flags: Vec<Flag<'_>>,
        date: Option<DateTime>,
        message: LiteralOrLiteral8<'_>,
    ) -> Outcome {
        let name = self.name_of(mailbox);
        let bytes: Vec<u8> = match &message {
            LiteralOrLiteral8::Literal(l) => l.as_ref().to_vec(),
            LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
        };
        if bytes.is_empty() {
            return Err(no(None, "Empty message"));
        }
        if bytes.len() as u64 > self.ctx.config.limits.max_message_bytes {
            return Err(no(Some("TOOBIG"), "Message larger than the maximum size"));
        }
        let id = self.mailbox_id();
        match self.ctx.store.folder(id, &name).await {
            Ok(Some(f)) if crate::security_archive::read_only(&f) => {
                return Err(crate::security_archive::refusal("APPEND"));
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(no(Some("TRYCREATE"), "No such mailbox")),
            Err(e) => return Err(store_refusal(e)),
        }
        let (bits, keywords) = split_flags(&flags);
        // The header fields for SEARCH, while the message is in hand (crate::header_cache).
        let headers = if self.ctx.headers.enabled() {
            HeaderFields::parse(&bytes)
        } else {
            None
        };
        let appended = self
            .ctx
            .store
            .append(
                id,
                &name,
                NewMessage {
                    bytes,
                    flags: bits,
                    keywords,
                    internal_date: date.map(|d| d.as_ref().timestamp()),
                },
            )
            .await
            .map_err(store_refusal)?;
        if let Some(h) = headers {
            let entry = vec![(appended.uid, Arc::new(h))];
            self.ctx.headers.insert_many(appended.folder_id, entry);
        }
        Ok(format!(
            "[APPENDUID {} {}] APPEND completed",
            appended.uidvalidity, appended.uid
        ))
    }
}
