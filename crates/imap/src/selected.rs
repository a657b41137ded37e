//! The selected state: a session's view of one folder (sequence numbers, flags it has
//! reported, its \Recent messages) and the commands that work on it. The view follows other
//! sessions' changes through the store's change log: at each command's end (expunges only
//! where RFC 3501 §7.4.1 allows them) and at once during IDLE.

use std::collections::{BTreeSet, HashSet};
use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use imap_codec::imap_types::command::{FetchModifier, SelectParameter, StoreModifier};
use imap_codec::imap_types::core::{Atom, Charset, Tag, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItem};
use imap_codec::imap_types::flag::{Flag, FlagFetch, FlagPerm, StoreResponse, StoreType};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use pecd_common::input::{Line, Read};
use pecd_imap_message::set_contains;
use pecd_store::{ChangeKind, FlagOp, Flags, Folder, MessageMeta, ModSeq, NewMessage, Uid};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::RecvError;

use crate::extended::SearchReturn;
use crate::session::{bad, no, store_refusal, Outcome, Refusal, Session};

pub(crate) struct Selected {
    pub folder: Folder,
    pub read_only: bool,
    /// The folder's messages in sequence order (ascending UID), as last reported.
    pub messages: Vec<MessageMeta>,
    /// UIDs that are \Recent in this session.
    pub recent: HashSet<Uid>,
    /// Mailbox modseq up to which the change log has been applied.
    pub modseq: ModSeq,
    /// Expunges seen while they could not be reported (during FETCH, STORE, SEARCH).
    pub deferred: BTreeSet<Uid>,
    /// A change notice arrived since the change log was last read.
    pub dirty: bool,
}

impl Selected {
    /// What the client calls the messages at `indexes`: UIDs, or sequence numbers.
    fn numbers(&self, indexes: &[usize], uid: bool) -> Vec<u32> {
        indexes
            .iter()
            .map(|&i| {
                if uid {
                    self.messages[i].uid
                } else {
                    i as u32 + 1
                }
            })
            .collect()
    }

    pub(crate) fn position(&self, uid: Uid) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    fn max_uid(&self) -> u32 {
        self.messages.last().map_or(0, |m| m.uid)
    }

    /// Indexes into `messages` named by a sequence set (of sequence numbers or of UIDs), in
    /// order and each once however often the set names it (`1:*,1:*,...` costs what `1:*`
    /// does). Absent UIDs are skipped: COPY, MOVE and STORE on them are OK with no effect
    /// (CLIENTS.md §5 bug 7).
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Refusal> {
        use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
        check_ranges(set.0.as_ref().len())?;
        let n = self.messages.len() as u32;
        let star = if uid { self.max_uid() } else { n };
        let value = |v: &SeqOrUid| match v {
            SeqOrUid::Value(v) => v.get(),
            SeqOrUid::Asterisk => star,
        };
        // Half-open index spans, merged below.
        let mut spans = Vec::with_capacity(set.0.as_ref().len());
        for s in set.0.as_ref() {
            let (a, b) = match s {
                Sequence::Single(v) => (value(v), value(v)),
                Sequence::Range(a, b) => (value(a), value(b)),
            };
            let (lo, hi) = (a.min(b), a.max(b));
            if uid {
                // Ranges of UIDs map to index ranges by binary search: FETCH of 50 messages
                // in a 10,000-message folder must not scan the folder.
                let first = self.messages.partition_point(|m| m.uid < lo);
                let end = self.messages.partition_point(|m| m.uid <= hi);
                spans.push((first, end));
            } else {
                // RFC 3501 §6.4.8: a sequence number beyond the last message is an error.
                if n == 0 || hi > n {
                    return Err(bad("Invalid message sequence number"));
                }
                spans.push(((lo - 1) as usize, hi as usize));
            }
        }
        Ok(merged(spans))
    }

    pub fn flags_of(&self, meta: &MessageMeta) -> Vec<FlagFetch<'static>> {
        let mut out: Vec<FlagFetch<'static>> = system_flags(meta.flags)
            .into_iter()
            .map(FlagFetch::Flag)
            .collect();
        for k in &meta.keywords {
            if let Ok(atom) = Atom::try_from(k.clone()) {
                out.push(FlagFetch::Flag(Flag::Keyword(atom)));
            }
        }
        if self.recent.contains(&meta.uid) {
            out.push(FlagFetch::Recent);
        }
        out
    }
}

/// Most ranges a command's sequence sets may have in all. Real clients stay far below (a
/// 64 KiB command line holds at most about 16,000); each range costs a comparison per
/// message in SEARCH.
pub(crate) const MAX_SEQUENCE_RANGES: usize = 4096;
/// Most keys a SEARCH may combine; each costs an evaluation per message.
pub(crate) const MAX_SEARCH_KEYS: usize = 1000;

/// The indexes of half-open spans, ascending and each once.
fn merged(mut spans: Vec<(usize, usize)>) -> Vec<usize> {
    spans.sort_unstable();
    let mut out = Vec::new();
    let mut covered = 0;
    for (first, end) in spans {
        let first = first.max(covered);
        if first < end {
            out.extend(first..end);
            covered = end;
        }
    }
    out
}

fn check_ranges(ranges: usize) -> Result<(), Refusal> {
    if ranges > MAX_SEQUENCE_RANGES {
        return Err(bad(format!(
            "Sequence set with more than {MAX_SEQUENCE_RANGES} ranges"
        )));
    }
    Ok(())
}

/// The keys of a SEARCH criterion, and the ranges of its sequence sets.
fn key_size(key: &SearchKey<'_>) -> (usize, usize) {
    let sum = |a: (usize, usize), b: (usize, usize)| (a.0 + b.0, a.1 + b.1);
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().map(key_size).fold((1, 0), sum),
        SearchKey::Or(a, b) => sum((1, 0), sum(key_size(a), key_size(b))),
        SearchKey::Not(k) => sum((1, 0), key_size(k)),
        SearchKey::SequenceSet(set) | SearchKey::Uid(set) => (1, set.0.as_ref().len()),
        _ => (1, 0),
    }
}

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

pub(crate) fn system_flags(flags: Flags) -> Vec<Flag<'static>> {
    let mut out = Vec::new();
    for (bit, flag) in [
        (Flags::SEEN, Flag::Seen),
        (Flags::ANSWERED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::DELETED, Flag::Deleted),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if flags.contains(bit) {
            out.push(flag);
        }
    }
    out
}

/// Splits IMAP flags into the store's system flag bits and keywords; `\Recent` and unknown
/// system flags are ignored (RFC 3501 §2.3.2: \Recent cannot be set by a client).
pub(crate) fn split_flags(flags: &[Flag<'_>]) -> (Flags, Vec<String>) {
    let mut bits = Flags::default();
    let mut keywords = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => bits = bits.union(Flags::SEEN),
            Flag::Answered => bits = bits.union(Flags::ANSWERED),
            Flag::Flagged => bits = bits.union(Flags::FLAGGED),
            Flag::Deleted => bits = bits.union(Flags::DELETED),
            Flag::Draft => bits = bits.union(Flags::DRAFT),
            Flag::Keyword(k) => keywords.push(k.as_ref().to_string()),
            Flag::Extension(_) => {}
        }
    }
    (bits, keywords)
}

/// Renders a set of numbers in the compact `1:3,7` form.
pub(crate) fn compact(numbers: &[u32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    render_ranges(&merge_ranges(sorted.into_iter().map(|n| (n, n))))
}

/// Inclusive ranges, sorted by start, merged where they touch or overlap.
fn merge_ranges(sorted: impl IntoIterator<Item = (u32, u32)>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (lo, hi) in sorted {
        match out.last_mut() {
            Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Renders inclusive ranges in the `1:3,7` form.
fn render_ranges(ranges: &[(u32, u32)]) -> String {
    let mut out = String::new();
    for &(lo, hi) in ranges {
        if !out.is_empty() {
            out.push(',');
        }
        if lo == hi {
            out.push_str(&lo.to_string());
        } else {
            out.push_str(&format!("{lo}:{hi}"));
        }
    }
    out
}

/// A UID set as sorted, merged ranges, `*` standing for `star`.
fn set_ranges(set: &SequenceSet, star: u32) -> Vec<(u32, u32)> {
    use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => star,
    };
    let mut ranges: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => (value(a).min(value(b)), value(a).max(value(b))),
        })
        .collect();
    ranges.sort_unstable();
    merge_ranges(ranges)
}

/// The UIDs from 1 to `star` that are none of `messages` (ascending by UID), as ranges.
fn absent_ranges(messages: &[MessageMeta], star: Uid) -> Vec<(Uid, Uid)> {
    let mut out = Vec::new();
    let mut next = 1u32;
    for m in messages {
        if m.uid > star {
            break;
        }
        if m.uid > next {
            out.push((next, m.uid - 1));
        }
        next = m.uid.saturating_add(1);
    }
    if next <= star {
        out.push((next, star));
    }
    out
}

/// The parts of `a` that are also in `b` (both sorted and disjoint), in one pass.
fn intersect_ranges(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("nonzero")
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    // ---- SELECT and the view -----------------------------------------------------------

    pub(crate) async fn select(
        &mut self,
        name: String,
        read_only: bool,
        parameters: Vec<SelectParameter>,
    ) -> Outcome {
        // RFC 7162 §3.2.11: with QRESYNC, leaving a selected mailbox is reported.
        if self.selected.take().is_some() && self.qresync {
            self.untagged_ok(Some("CLOSED"), "Previous mailbox closed");
        }
        let id = self.mailbox_id();
        let store = self.ctx.store.clone();
        // The mailbox modseq is read first: changes committed while the messages are read
        // are then applied again by the next sync, which tolerates repeats.
        let modseq = match store.mailbox(id).await {
            Ok(Some(m)) => m.modseq,
            Ok(None) => return Err(no(Some("UNAVAILABLE"), "Mailbox no longer exists")),
            Err(e) => return Err(store_refusal(e)),
        };
        let folder = match store.folder(id, &name).await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(no(Some("NONEXISTENT"), "No such mailbox")),
            Err(e) => return Err(store_refusal(e)),
        };
        let messages = self.ctx.listing(&folder).await.map_err(store_refusal)?;
        let mut qresync = None;
        for p in &parameters {
            match p {
                SelectParameter::CondStore => self.condstore = true,
                SelectParameter::QResync {
                    uid_validity,
                    mod_sequence_value,
                    known_uids,
                    ..
                } => {
                    if !self.qresync {
                        return Err(bad("QRESYNC must be enabled first"));
                    }
                    qresync = Some((
                        uid_validity.get(),
                        mod_sequence_value.get(),
                        known_uids.clone(),
                    ));
                }
            }
        }
        let max_uid = messages.last().map_or(0, |m| m.uid);
        let first = self
            .ctx
            .first_recent(folder.id, (!read_only).then_some(max_uid));
        let recent: HashSet<Uid> = messages
            .iter()
            .filter(|m| m.uid >= first)
            .map(|m| m.uid)
            .collect();
        let mut keywords: BTreeSet<String> =
            ["$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "NonJunk"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for m in &messages {
            keywords.extend(m.keywords.iter().cloned());
        }
        let mut flags = system_flags(Flags(0x1f));
        flags.extend(
            keywords
                .iter()
                .filter_map(|k| Atom::try_from(k.clone()).ok().map(Flag::Keyword)),
        );
        self.data(Data::Flags(flags.clone()));
        let mut permanent: Vec<FlagPerm> = if read_only {
            Vec::new()
        } else {
            flags.into_iter().map(FlagPerm::Flag).collect()
        };
        if !read_only {
            permanent.push(FlagPerm::Asterisk);
        }
        self.untagged_code(Code::PermanentFlags(permanent), "Flags permitted");
        self.data(Data::Exists(messages.len() as u32));
        self.data(Data::Recent(recent.len() as u32));
        if let Some(i) = messages.iter().position(|m| !m.flags.contains(Flags::SEEN)) {
            self.untagged_code(Code::Unseen(nz(i as u32 + 1)), "First unseen");
        }
        self.untagged_code(Code::UidValidity(nz(folder.uidvalidity)), "UIDs valid");
        self.untagged_code(Code::UidNext(nz(folder.uidnext)), "Predicted next UID");
        self.untagged_code(
            Code::HighestModSeq(NonZeroU64::new(folder.highestmodseq.max(1)).expect("nonzero")),
            "Highest",
        );
        let selected = Selected {
            folder,
            read_only,
            messages,
            recent,
            modseq,
            deferred: BTreeSet::new(),
            dirty: true,
        };
        if let Some((uidvalidity, since, known)) = qresync {
            if uidvalidity == selected.folder.uidvalidity {
                self.qresync_report(&selected, since, known.as_ref())
                    .await?;
            }
        }
        self.selected = Some(selected);
        Ok(if read_only {
            "[READ-ONLY] EXAMINE completed".into()
        } else {
            "[READ-WRITE] SELECT completed".into()
        })
    }

    /// RFC 7162 §3.2.5: what changed since the client's modseq — VANISHED (EARLIER) for
    /// expunged UIDs, FETCH for changed messages.
    async fn qresync_report(
        &mut self,
        selected: &Selected,
        since: u64,
        known: Option<&SequenceSet>,
    ) -> Result<(), Refusal> {
        let vanished = self.vanished_since(selected, since, known).await?;
        if !vanished.is_empty() {
            self.out.extend_from_slice(
                format!("* VANISHED (EARLIER) {}\r\n", render_ranges(&vanished)).as_bytes(),
            );
        }
        for (i, m) in selected.messages.iter().enumerate() {
            if m.modseq > since {
                self.flags_response(selected, i, true, true);
            }
        }
        Ok(())
    }

    /// UIDs of the selected folder expunged after `since` (limited to `within`), as
    /// ascending ranges. When the change log no longer reaches back to `since` (compacted),
    /// every UID up to UIDNEXT-1 that is not in the view is reported: RFC 7162 §3.2.5.2 and
    /// §3.2.10 let the server include UIDs the client never knew, and none that still
    /// exists is among them.
    async fn vanished_since(
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
    fn flags_response(&mut self, selected: &Selected, i: usize, uid: bool, modseq: bool) {
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
    pub(crate) async fn sync(
        &mut self,
        expunges_allowed: bool,
    ) -> Result<(), pecd_store::StoreError> {
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
    ) -> Result<(), pecd_store::StoreError> {
        let store = self.ctx.store.clone();
        let log = store.changes_since(self.mailbox_id(), sel.modseq).await?;
        let mut appended = Vec::new();
        let mut flagged = BTreeSet::new();
        let mut folder_gone = false;
        for c in &log.changes {
            sel.modseq = sel.modseq.max(c.modseq);
            if c.folder_id != sel.folder.id {
                continue;
            }
            match c.kind {
                ChangeKind::Appended if c.uid > sel.max_uid() => appended.push(c.uid),
                ChangeKind::Appended => {}
                ChangeKind::FlagsChanged => {
                    flagged.insert(c.uid);
                }
                ChangeKind::Expunged => {
                    sel.deferred.insert(c.uid);
                }
                ChangeKind::FolderDeleted => folder_gone = true,
                _ => {}
            }
        }
        if !log.complete && !folder_gone {
            // The log was compacted past this view (the session lagged far behind): what
            // changed is found by comparing the view with the folder itself.
            sel.modseq = sel.modseq.max(log.floor);
            match store.folder_by_id(sel.folder.id).await? {
                None => folder_gone = true,
                Some(_) => {
                    let now = store.messages(sel.folder.id).await?;
                    let present: HashSet<Uid> = now.iter().map(|m| m.uid).collect();
                    let gone = sel.messages.iter().map(|m| m.uid);
                    sel.deferred
                        .extend(gone.filter(|uid| !present.contains(uid)));
                    let max = sel.max_uid();
                    for m in &now {
                        match sel.position(m.uid) {
                            Some(i) if m.modseq > sel.messages[i].modseq => {
                                flagged.insert(m.uid);
                            }
                            None if m.uid > max => appended.push(m.uid),
                            _ => {}
                        }
                    }
                    appended.sort_unstable();
                    appended.dedup();
                }
            }
        }
        if folder_gone {
            sel.deferred.extend(sel.messages.iter().map(|m| m.uid));
        }
        if expunges_allowed && !sel.deferred.is_empty() {
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
        if !appended.is_empty() {
            let metas = store.message_metas(sel.folder.id, appended).await?;
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
        }
        if !flagged.is_empty() {
            let metas = store
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
        }
        Ok(())
    }

    pub(crate) async fn close(&mut self, expunge: bool) -> std::io::Result<()> {
        if let Some(sel) = self.selected.take() {
            if expunge && !sel.read_only {
                // CLOSE expunges silently (RFC 3501 §6.4.2).
                if let Err(e) = self
                    .ctx
                    .store
                    .expunge(self.mailbox_id(), sel.folder.id, None)
                    .await
                {
                    tracing::warn!(error = %e, "expunge at CLOSE failed");
                }
            }
        }
        Ok(())
    }

    // ---- EXPUNGE, STORE, COPY/MOVE -----------------------------------------------------

    fn selected_ref(&self) -> &Selected {
        self.selected.as_ref().expect("selected state")
    }

    /// The bodies of one FETCH or SEARCH batch (`metas`, made only when `needed`), in order;
    /// none when the command reads only metadata.
    pub(crate) async fn batch_bodies(
        &self,
        needed: bool,
        metas: impl FnOnce() -> Vec<MessageMeta>,
    ) -> Result<Vec<Result<Vec<u8>, pecd_store::StoreError>>, Refusal> {
        if !needed {
            return Ok(Vec::new());
        }
        self.ctx
            .store
            .read_bodies(metas())
            .await
            .map_err(store_refusal)
    }

    pub(crate) async fn expunge(&mut self, only: Option<SequenceSet>) -> Outcome {
        let sel = self.selected_ref();
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

    pub(crate) async fn copy(
        &mut self,
        set: SequenceSet,
        destination: String,
        uid: bool,
        remove: bool,
    ) -> Outcome {
        let sel = self.selected_ref();
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
        if remove && target.id == source {
            return Err(no(
                Some("CANNOT"),
                "Source and destination are the same mailbox",
            ));
        }
        let verb = if remove { "MOVE" } else { "COPY" };
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

    // ---- APPEND ------------------------------------------------------------------------

    pub(crate) async fn append(
        &mut self,
        name: String,
        flags: Vec<Flag<'_>>,
        date: Option<DateTime>,
        message: LiteralOrLiteral8<'_>,
    ) -> Outcome {
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
            Ok(Some(_)) => {}
            Ok(None) => return Err(no(Some("TRYCREATE"), "No such mailbox")),
            Err(e) => return Err(store_refusal(e)),
        }
        let (bits, keywords) = split_flags(&flags);
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
        Ok(format!(
            "[APPENDUID {} {}] APPEND completed",
            appended.uidvalidity, appended.uid
        ))
    }

    // ---- SEARCH ------------------------------------------------------------------------

    pub(crate) async fn search(
        &mut self,
        tag: &Tag<'_>,
        charset: Option<Charset<'_>>,
        criteria: Vec1<SearchKey<'_>>,
        uid: bool,
        esearch: Option<SearchReturn>,
    ) -> Outcome {
        if let Some(c) = &charset {
            let c = c.as_ref().to_ascii_uppercase();
            if c != "UTF-8" && c != "US-ASCII" {
                return Err(no(
                    Some("BADCHARSET (UTF-8 US-ASCII)"),
                    "Unsupported charset",
                ));
            }
        }
        let key = match criteria.as_ref() {
            [one] => one.clone(),
            _ => SearchKey::And(criteria.clone()),
        };
        let (keys, ranges) = key_size(&key);
        if keys > MAX_SEARCH_KEYS {
            return Err(bad(format!("SEARCH with more than {MAX_SEARCH_KEYS} keys")));
        }
        check_ranges(ranges)?;
        let uses_modseq = mentions_modseq(&key);
        if uses_modseq {
            self.condstore = true;
        }
        let hits = self.matching(&key).await?;
        let sel = self.selected_ref();
        let numbers = sel.numbers(&hits, uid);
        let highest = hits.iter().map(|&i| sel.messages[i].modseq).max();
        match esearch {
            None => {
                let mut line = String::from("* SEARCH");
                for n in &numbers {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                if let (true, Some(h)) = (uses_modseq, highest) {
                    line.push_str(&format!(" (MODSEQ {h})"));
                }
                line.push_str("\r\n");
                self.out.extend_from_slice(line.as_bytes());
            }
            Some(r) => {
                // The tag is a quoted string in the IMAP4rev1 grammar (CLIENTS.md §5 bug 5).
                let mut line = format!("* ESEARCH (TAG \"{}\")", tag.as_ref());
                if uid {
                    line.push_str(" UID");
                }
                if !numbers.is_empty() {
                    if r.min {
                        line.push_str(&format!(
                            " MIN {}",
                            numbers.iter().min().expect("non-empty")
                        ));
                    }
                    if r.max {
                        line.push_str(&format!(
                            " MAX {}",
                            numbers.iter().max().expect("non-empty")
                        ));
                    }
                    if r.all {
                        line.push_str(&format!(" ALL {}", compact(&numbers)));
                    }
                }
                if r.count {
                    line.push_str(&format!(" COUNT {}", numbers.len()));
                }
                if let (true, Some(h)) = (uses_modseq, highest) {
                    line.push_str(&format!(" MODSEQ {h}"));
                }
                line.push_str("\r\n");
                self.out.extend_from_slice(line.as_bytes());
            }
        }
        Ok("SEARCH completed".into())
    }

    /// Indexes of the selected messages that match `key`. Bodies are read a batch at a time
    /// (a SEARCH TEXT of a large folder must not hold the folder in memory), and the task
    /// yields between batches so that matching does not hold a worker thread.
    async fn matching(&mut self, key: &SearchKey<'_>) -> Result<Vec<usize>, Refusal> {
        let needs = pecd_imap_message::needs_content(key);
        let (keys, _) = key_size(key);
        let sel = self.selected_ref();
        let ctx = pecd_imap_message::SearchContext {
            max_seq: sel.messages.len() as u32,
            max_uid: sel.max_uid(),
            utc_offset_seconds: 0,
        };
        let mut hits = Vec::new();
        let mut start = 0;
        while start < self.selected_ref().messages.len() {
            let sel = self.selected_ref();
            // About 16,000 key evaluations between yields, whatever the key.
            let by_work = (16_384 / keys).max(1);
            // Without bodies nothing is read: only the work bounds the batch.
            let end = if needs {
                start + batch_len(sel.messages[start..].iter().take(by_work), needs)
            } else {
                (start + by_work).min(sel.messages.len())
            };
            let bodies = self
                .batch_bodies(needs, || sel.messages[start..end].to_vec())
                .await?;
            let sel = self.selected_ref();
            for (k, m) in sel.messages[start..end].iter().enumerate() {
                let i = start + k;
                let view = bodies
                    .get(k)
                    .and_then(|b| b.as_ref().ok())
                    .map(|b| pecd_imap_message::MessageView::parse(b));
                let subject = pecd_imap_message::SearchSubject {
                    seq: i as u32 + 1,
                    uid: m.uid,
                    seen: m.flags.contains(Flags::SEEN),
                    answered: m.flags.contains(Flags::ANSWERED),
                    flagged: m.flags.contains(Flags::FLAGGED),
                    deleted: m.flags.contains(Flags::DELETED),
                    draft: m.flags.contains(Flags::DRAFT),
                    recent: sel.recent.contains(&m.uid),
                    keywords: &m.keywords,
                    size: m.size,
                    internal_date: m.internal_date,
                    modseq: m.modseq,
                    message: view.as_ref(),
                };
                if needs && view.is_none() {
                    continue;
                }
                if pecd_imap_message::matches(key, &subject, &ctx) {
                    hits.push(i);
                }
            }
            start = end;
            tokio::task::yield_now().await;
        }
        Ok(hits)
    }

    // ---- FETCH -------------------------------------------------------------------------

    pub(crate) async fn fetch(
        &mut self,
        set: SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        modifiers: Vec<FetchModifier>,
    ) -> Outcome {
        let mut changed_since = None;
        let mut vanished = false;
        for m in &modifiers {
            match m {
                FetchModifier::ChangedSince(_) if self.changed_since_zero => {
                    changed_since = Some(0)
                }
                FetchModifier::ChangedSince(v) => changed_since = Some(v.get()),
                FetchModifier::Vanished => vanished = true,
            }
        }
        if vanished && !(uid && self.qresync && changed_since.is_some()) {
            return Err(bad(
                "VANISHED needs UID FETCH, QRESYNC enabled and CHANGEDSINCE",
            ));
        }
        if changed_since.is_some() {
            self.condstore = true;
        }
        let sel = self.selected_ref();
        let mut indexes = sel.resolve(&set, uid)?;
        if let Some(since) = changed_since {
            indexes.retain(|&i| sel.messages[i].modseq > since);
        }
        if vanished {
            let since = changed_since.expect("checked above");
            let sel = self.selected.take().expect("selected state");
            let gone = self.vanished_since(&sel, since, Some(&set)).await;
            self.selected = Some(sel);
            let gone = gone?;
            if !gone.is_empty() {
                self.out.extend_from_slice(
                    format!("* VANISHED (EARLIER) {}\r\n", render_ranges(&gone)).as_bytes(),
                );
            }
        }
        crate::fetch::run(self, indexes, items, uid, changed_since.is_some()).await?;
        Ok("FETCH completed".into())
    }

    // ---- IDLE --------------------------------------------------------------------------

    /// RFC 2177 IDLE: changes are reported as they are committed, with a heartbeat so that
    /// NATs keep the connection (CLIENTS.md §5 bug 10). Returns `false` when the connection
    /// ended during IDLE.
    pub(crate) async fn idle(&mut self, _tag: &Tag<'_>) -> std::io::Result<bool> {
        self.out.extend_from_slice(b"+ idling\r\n");
        if let Err(e) = self.sync(true).await {
            tracing::warn!(error = %e, "could not update the selected folder");
        }
        let heartbeat = Duration::from_secs(self.ctx.config.imap.idle_heartbeat_seconds);
        let mailbox = self.mailbox_id();
        loop {
            // DONE may already be buffered (sent in the same packet as IDLE's predecessor).
            match self.input.next_line(self.ctx.config.imap.max_command_bytes) {
                Some(Line::Text(t)) if t.eq_ignore_ascii_case(b"DONE") => return Ok(true),
                Some(_) => {
                    self.out.extend_from_slice(b"* BAD Expected DONE\r\n");
                    return Ok(true);
                }
                None => {}
            }
            self.flush().await?;
            let login = self.login.as_mut().expect("authenticated");
            let event = tokio::select! {
                read = self.input.read_from(&mut self.stream, heartbeat, &self.shutdown) => Ok(read?),
                notice = login.notices.recv() => Err(notice),
            };
            match event {
                Ok(Read::Data) => {}
                Ok(Read::Eof) => return Ok(false),
                Ok(Read::Timeout) => self.untagged_ok(None, "Still here"),
                Ok(Read::Shutdown) => {
                    self.out
                        .extend_from_slice(b"* BYE [UNAVAILABLE] Server shutting down\r\n");
                    self.flush().await?;
                    return Ok(false);
                }
                Err(Ok(notice)) if notice.mailbox_id != mailbox => {}
                Err(Ok(_)) | Err(Err(RecvError::Lagged(_))) => {
                    if let Some(sel) = self.selected.as_mut() {
                        sel.dirty = true;
                    }
                    if let Err(e) = self.sync(true).await {
                        tracing::warn!(error = %e, "could not update the selected folder");
                    }
                }
                Err(Err(RecvError::Closed)) => return Ok(false),
            }
        }
    }
}

/// Whether a search uses MODSEQ (then the result carries the highest modseq, RFC 7162 §3.1.5).
fn mentions_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(mentions_modseq),
        SearchKey::Or(a, b) => mentions_modseq(a) || mentions_modseq(b),
        SearchKey::Not(k) => mentions_modseq(k),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_overlapping_spans_count_once() {
        assert_eq!(merged(vec![(0, 3), (0, 3), (0, 3)]), vec![0, 1, 2]);
        assert_eq!(
            merged(vec![(5, 7), (0, 2), (1, 6), (9, 10)]),
            vec![0, 1, 2, 3, 4, 5, 6, 9]
        );
        assert_eq!(merged(vec![(4, 4), (2, 1)]), Vec::<usize>::new());
        let many = vec![(0, 100_000); 4096];
        assert_eq!(merged(many).len(), 100_000);
    }

    fn search_key(line: &str) -> SearchKey<'static> {
        use imap_codec::decode::Decoder;
        use imap_codec::imap_types::command::CommandBody;
        use imap_codec::imap_types::IntoStatic;
        match imap_codec::CommandCodec::default().decode(line.as_bytes()) {
            Ok((_, c)) => match c.body {
                CommandBody::Search { criteria, .. } => SearchKey::And(criteria).into_static(),
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn sequence_sets_and_search_keys_are_bounded() {
        assert!(check_ranges(MAX_SEQUENCE_RANGES).is_ok());
        let refused = check_ranges(MAX_SEQUENCE_RANGES + 1).unwrap_err();
        assert_eq!(
            refused.kind,
            imap_codec::imap_types::response::StatusKind::Bad
        );
        let set: SequenceSet = vec!["1:*"; 5000].join(",").parse().unwrap();
        assert_eq!(set.0.as_ref().len(), 5000, "imap-codec keeps every repeat");
        let key = search_key(&format!(
            "a SEARCH {} UNSEEN\r\n",
            vec!["1:*"; 5000].join(",")
        ));
        assert_eq!(key_size(&key), (3, 5000));
        let key = search_key("a SEARCH OR 1:3,5 NOT UID 7 SUBJECT x\r\n");
        assert_eq!(key_size(&key), (6, 3));
        let many = format!("a SEARCH {}\r\n", vec!["SUBJECT x"; 2000].join(" "));
        assert_eq!(key_size(&search_key(&many)).0, 2001);
    }

    #[test]
    fn compact_sets() {
        assert_eq!(compact(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(compact(&[5]), "5");
        assert_eq!(compact(&[3, 1, 2, 2]), "1:3");
        assert_eq!(compact(&[]), "");
    }
}
