//! The selected view follows the store (RFC 9051 §7.5.1 and §5.2: unsolicited EXISTS,
//! EXPUNGE and FETCH; RFC 7162 §3.2.10 VANISHED under QRESYNC). Other sessions' changes are
//! read from the store's per-mailbox change log at each command's end (expunges only where
//! RFC 9051 §7.5.1 / RFC 3501 §7.4.1 allow them) and at once during IDLE. When the log was
//! compacted past the view, the view is compared with the folder itself (RFC 7162
//! §3.2.5.2).

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU64;

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SequenceSet;
use pecd_imap_message::set_contains;
use pecd_store::{Change, ChangeKind, StoreError, Uid};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{store_refusal, Refusal};
use crate::ranges::{absent_ranges, compact, intersect_ranges, merge_ranges, set_ranges};
use crate::session::Session;
use crate::view::{nz, Selected};

/// What happened to the view's folder since the view last looked.
#[derive(Default)]
struct Changes {
    /// New UIDs above the view's highest.
    appended: Vec<Uid>,
    /// UIDs whose flags may have changed.
    flagged: BTreeSet<Uid>,
    folder_gone: bool,
}

impl Changes {
    /// The view's folder's entries of the change log; expunges go straight to the view's
    /// deferred set, and the view's modseq moves past every entry.
    fn from_log(sel: &mut Selected, log: &[Change]) -> Changes {
        let mut changes = Changes::default();
        for c in log {
            sel.modseq = sel.modseq.max(c.modseq);
            if c.folder_id != sel.folder.id {
                continue;
            }
            match c.kind {
                ChangeKind::Appended if c.uid > sel.max_uid() => changes.appended.push(c.uid),
                ChangeKind::Appended => {}
                ChangeKind::FlagsChanged => {
                    changes.flagged.insert(c.uid);
                }
                ChangeKind::Expunged => {
                    sel.deferred.insert(c.uid);
                }
                ChangeKind::FolderDeleted => changes.folder_gone = true,
                _ => {}
            }
        }
        changes
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// UIDs of the selected folder expunged after `since` (limited to `within`), as
    /// ascending ranges. When the change log no longer reaches back to `since` (compacted),
    /// every UID up to UIDNEXT-1 that is not in the view is reported: RFC 7162 §3.2.5.2 and
    /// §3.2.10 let the server include UIDs the client never knew, and none that still
    /// exists is among them.
    pub(crate) async fn vanished_since(
        &self,
        selected: &Selected,
        since: u64,
        within: Option<&SequenceSet>,
    ) -> Result<Vec<(Uid, Uid)>, Refusal> {
        let log = self
            .ctx
            .store
            .changes_since(self.mailbox_id(), since)
            .await
            .map_err(store_refusal)?;
        let star = selected
            .max_uid()
            .max(selected.folder.uidnext.saturating_sub(1));
        if !log.complete {
            let absent = absent_ranges(&selected.messages, star);
            return Ok(match within {
                Some(set) => intersect_ranges(&absent, &set_ranges(set, star)),
                None => absent,
            });
        }
        let mut gone: Vec<Uid> = log
            .changes
            .iter()
            .filter(|c| c.folder_id == selected.folder.id && c.kind == ChangeKind::Expunged)
            .filter(|c| selected.position(c.uid).is_none())
            .filter(|c| within.is_none_or(|set| set_contains(set, c.uid, star)))
            .map(|c| c.uid)
            .collect();
        gone.sort_unstable();
        Ok(merge_ranges(gone.into_iter().map(|u| (u, u))))
    }

    /// `* n FETCH (FLAGS (...) UID u [MODSEQ (m)])` for message index `i`.
    pub(crate) fn flags_response(
        &mut self,
        selected: &Selected,
        i: usize,
        uid: bool,
        modseq: bool,
    ) {
        let m = &selected.messages[i];
        let mut items = vec![MessageDataItem::Flags(selected.flags_of(m))];
        if uid {
            items.push(MessageDataItem::Uid(nz(m.uid)));
        }
        if modseq {
            items.push(MessageDataItem::ModSeq(
                NonZeroU64::new(m.modseq.max(1)).expect("nonzero"),
            ));
        }
        self.data(Data::Fetch {
            seq: nz(i as u32 + 1),
            items: Vec1::try_from(items).expect("non-empty"),
        });
    }

    /// Applies the change log to the view and reports what changed: expunges (when
    /// allowed), new messages (EXISTS, RECENT), flag changes made elsewhere (FETCH).
    pub(crate) async fn sync(&mut self, expunges_allowed: bool) -> Result<(), StoreError> {
        let Some(mut sel) = self.selected.take() else {
            return Ok(());
        };
        // The store announces every durable change: without a notice for this mailbox since
        // the last look, the change log has nothing new and is not read.
        let mailbox = self.mailbox_id();
        let login = self.login.as_mut().expect("authenticated");
        loop {
            match login.notices.try_recv() {
                Ok(n) if n.mailbox_id == mailbox => sel.dirty = true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => sel.dirty = true,
                Err(_) => break,
            }
        }
        if !sel.dirty && (sel.deferred.is_empty() || !expunges_allowed) {
            self.selected = Some(sel);
            return Ok(());
        }
        sel.dirty = false;
        let result = self.sync_view(&mut sel, expunges_allowed).await;
        if result.is_err() {
            sel.dirty = true;
        }
        self.selected = Some(sel);
        result
    }

    async fn sync_view(
        &mut self,
        sel: &mut Selected,
        expunges_allowed: bool,
    ) -> Result<(), StoreError> {
        let log = self
            .ctx
            .store
            .changes_since(self.mailbox_id(), sel.modseq)
            .await?;
        let mut changes = Changes::from_log(sel, &log.changes);
        if !log.complete && !changes.folder_gone {
            // The log was compacted past this view (the session lagged far behind): what
            // changed is found by comparing the view with the folder itself.
            sel.modseq = sel.modseq.max(log.floor);
            self.compare_with_folder(sel, &mut changes).await?;
        }
        if changes.folder_gone {
            sel.deferred.extend(sel.messages.iter().map(|m| m.uid));
            self.ctx.headers.forget_folder(sel.folder.id);
        } else if !sel.deferred.is_empty() {
            // Expunged messages' header fields are no longer needed by anyone.
            let expunged = sel.deferred.iter().copied();
            self.ctx.headers.forget(sel.folder.id, expunged);
        }
        if expunges_allowed && !sel.deferred.is_empty() {
            self.report_expunges(sel);
        }
        if !changes.appended.is_empty() {
            self.report_appended(sel, changes.appended, &mut changes.flagged)
                .await?;
        }
        if !changes.flagged.is_empty() {
            self.report_flag_changes(sel, changes.flagged).await?;
        }
        Ok(())
    }

    /// The changes of a view the change log no longer reaches back to, found by comparing
    /// the view with the folder's messages now.
    async fn compare_with_folder(
        &self,
        sel: &mut Selected,
        changes: &mut Changes,
    ) -> Result<(), StoreError> {
        let store = &self.ctx.store;
        if store.folder_by_id(sel.folder.id).await?.is_none() {
            changes.folder_gone = true;
            return Ok(());
        }
        let now = store.messages(sel.folder.id).await?;
        let present: HashSet<Uid> = now.iter().map(|m| m.uid).collect();
        let gone = sel.messages.iter().map(|m| m.uid);
        sel.deferred
            .extend(gone.filter(|uid| !present.contains(uid)));
        let max = sel.max_uid();
        for m in &now {
            match sel.position(m.uid) {
                Some(i) if m.modseq > sel.messages[i].modseq => {
                    changes.flagged.insert(m.uid);
                }
                None if m.uid > max => changes.appended.push(m.uid),
                _ => {}
            }
        }
        changes.appended.sort_unstable();
        changes.appended.dedup();
        Ok(())
    }

    /// Removes the deferred expunges from the view: EXPUNGE per message, or one VANISHED
    /// under QRESYNC.
    fn report_expunges(&mut self, sel: &mut Selected) {
        let mut vanished = Vec::new();
        for uid in std::mem::take(&mut sel.deferred) {
            if let Some(i) = sel.position(uid) {
                sel.messages.remove(i);
                sel.recent.remove(&uid);
                if self.qresync {
                    vanished.push(uid);
                } else {
                    self.data(Data::Expunge(nz(i as u32 + 1)));
                }
            }
        }
        if !vanished.is_empty() {
            self.out
                .extend_from_slice(format!("* VANISHED {}\r\n", compact(&vanished)).as_bytes());
        }
    }

    /// Adds new messages to the view (their flags are then current, so they leave
    /// `flagged`) and reports EXISTS and RECENT.
    async fn report_appended(
        &mut self,
        sel: &mut Selected,
        appended: Vec<Uid>,
        flagged: &mut BTreeSet<Uid>,
    ) -> Result<(), StoreError> {
        let metas = self
            .ctx
            .store
            .message_metas(sel.folder.id, appended)
            .await?;
        let max = metas.iter().map(|m| m.uid).max().unwrap_or(0);
        let first_recent = self
            .ctx
            .first_recent(sel.folder.id, (!sel.read_only).then_some(max));
        for m in metas {
            if m.uid > sel.max_uid() && !sel.deferred.contains(&m.uid) {
                if m.uid >= first_recent {
                    sel.recent.insert(m.uid);
                }
                flagged.remove(&m.uid);
                sel.messages.push(m);
            }
        }
        self.data(Data::Exists(sel.messages.len() as u32));
        self.data(Data::Recent(sel.recent.len() as u32));
        Ok(())
    }

    /// Reports as FETCH the flags of messages changed elsewhere.
    async fn report_flag_changes(
        &mut self,
        sel: &mut Selected,
        flagged: BTreeSet<Uid>,
    ) -> Result<(), StoreError> {
        let metas = self
            .ctx
            .store
            .message_metas(sel.folder.id, flagged.into_iter().collect())
            .await?;
        for m in metas {
            if let Some(i) = sel.position(m.uid) {
                if m.modseq > sel.messages[i].modseq {
                    sel.messages[i] = m;
                    let condstore = self.condstore;
                    self.flags_response(sel, i, true, condstore);
                }
            }
        }
        Ok(())
    }
}
