//! STORE and UID STORE (RFC 9051 §6.4.6) with CONDSTORE's UNCHANGEDSINCE and MODIFIED
//! (RFC 7162 §3.1.3).

use std::num::NonZeroU64;

use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SequenceSet;
use pecd_store::{FlagOp, Uid};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{no, store_refusal, Outcome};
use crate::flags::split_flags;
use crate::ranges::compact;
use crate::session::Session;
use crate::view::nz;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn store(
        &mut self,
        set: SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: Vec<Flag<'_>>,
        uid: bool,
        modifiers: Vec<StoreModifier>,
    ) -> Outcome {
        let unchanged_since = modifiers
            .iter()
            .map(|m| match m {
                StoreModifier::UnchangedSince(v) => *v,
            })
            .next();
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let sel = self.selected_ref();
        if crate::security_archive::read_only(&sel.folder) {
            return Err(crate::security_archive::refusal("STORE"));
        }
        if sel.read_only {
            return Err(no(Some("READ-ONLY"), "Mailbox is read-only"));
        }
        let indexes = sel.resolve(&set, uid)?;
        // Messages changed since UNCHANGEDSINCE are left alone and reported as MODIFIED.
        let (stale, stored): (Vec<usize>, Vec<usize>) = indexes
            .into_iter()
            .partition(|&i| unchanged_since.is_some_and(|limit| sel.messages[i].modseq > limit));
        let modified = sel.numbers(&stale, uid);
        let uids: Vec<Uid> = stored.iter().map(|&i| sel.messages[i].uid).collect();
        let (bits, keywords) = split_flags(&flags);
        let op = match kind {
            StoreType::Replace => FlagOp::Set(bits, keywords),
            StoreType::Add => FlagOp::Add(bits, keywords),
            StoreType::Remove => FlagOp::Remove(bits, keywords),
        };
        let folder = sel.folder.id;
        let changed = self
            .ctx
            .store
            .set_flags(self.mailbox_id(), folder, uids, op)
            .await
            .map_err(store_refusal)?;
        let mut sel = self.selected.take().expect("selected state");
        for meta in changed {
            if let Some(i) = sel.position(meta.uid) {
                sel.messages[i] = meta;
            }
        }
        if response == StoreResponse::Answer || self.condstore {
            for &i in &stored {
                let m = &sel.messages[i];
                // With CONDSTORE, .SILENT still reports the new MODSEQ (RFC 7162 §3.2).
                if response == StoreResponse::Silent {
                    let items = vec![
                        MessageDataItem::Uid(nz(m.uid)),
                        MessageDataItem::ModSeq(NonZeroU64::new(m.modseq.max(1)).expect("nonzero")),
                    ];
                    self.data(Data::Fetch {
                        seq: nz(i as u32 + 1),
                        items: Vec1::try_from(items).expect("non-empty"),
                    });
                } else {
                    let condstore = self.condstore;
                    self.flags_response(&sel, i, uid, condstore);
                }
            }
        }
        self.selected = Some(sel);
        if modified.is_empty() {
            Ok("STORE completed".into())
        } else {
            Ok(format!(
                "[MODIFIED {}] Conditional STORE failed for some messages",
                compact(&modified)
            ))
        }
    }
}
