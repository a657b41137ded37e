//! COPY and UID COPY (RFC 9051 §6.4.7) with UIDPLUS's COPYUID (RFC 4315 §3), MOVE and
//! UID MOVE (RFC 6851, RFC 9051 §6.4.8). Copies share the originals' entries in the header
//! cache ([`crate::header_cache`]).

use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::sequence::SequenceSet;
use pecd_store::Uid;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{no, store_refusal, Outcome};
use crate::ranges::compact;
use crate::security_archive;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// COPY (`remove` false) and MOVE (true) of `set` to `mailbox`.
    pub(crate) async fn copy(
        &mut self,
        set: SequenceSet,
        mailbox: &ImapMailbox<'_>,
        uid: bool,
        remove: bool,
    ) -> Outcome {
        let destination = self.name_of(mailbox);
        let sel = self.selected_ref();
        let verb = if remove { "MOVE" } else { "COPY" };
        if remove && security_archive::read_only(&sel.folder) {
            return Err(security_archive::refusal("MOVE out of it"));
        }
        if remove && sel.read_only {
            return Err(no(Some("READ-ONLY"), "Mailbox is read-only"));
        }
        let indexes = sel.resolve(&set, uid)?;
        let uids: Vec<Uid> = indexes.iter().map(|&i| sel.messages[i].uid).collect();
        let source = sel.folder.id;
        let target = match self.ctx.store.folder(self.mailbox_id(), &destination).await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(no(Some("TRYCREATE"), "No such mailbox")),
            Err(e) => return Err(store_refusal(e)),
        };
        if security_archive::read_only(&target) {
            return Err(security_archive::refusal(&format!("{verb} into it")));
        }
        if remove && target.id == source {
            return Err(no(
                Some("CANNOT"),
                "Source and destination are the same mailbox",
            ));
        }
        if uids.is_empty() {
            // CLIENTS.md §5 bug 7: nothing to do is still a success.
            return Ok(format!("{verb} completed; no messages matched"));
        }
        let copied = self
            .ctx
            .store
            .copy_messages(self.mailbox_id(), source, uids, target.id, remove)
            .await
            .map_err(store_refusal)?;
        if copied.pairs.is_empty() {
            return Ok(format!("{verb} completed; no messages matched"));
        }
        let from: Vec<u32> = copied.pairs.iter().map(|p| p.0).collect();
        let to: Vec<u32> = copied.pairs.iter().map(|p| p.1).collect();
        // The copies have the same bytes: they share the originals' cached header fields.
        let cached = self.ctx.headers.get_many(source, from.iter().copied());
        let shared = to.iter().zip(cached);
        let shared = shared.filter_map(|(&uid, h)| Some((uid, h?))).collect();
        self.ctx.headers.insert_many(target.id, shared);
        let code = format!(
            "COPYUID {} {} {}",
            copied.uidvalidity,
            compact(&from),
            compact(&to)
        );
        if remove {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
            self.untagged_ok(Some(&code), "Moved");
            self.sync(true).await.map_err(store_refusal)?;
            Ok(format!("{verb} completed"))
        } else {
            Ok(format!("[{code}] {verb} completed"))
        }
    }
}
