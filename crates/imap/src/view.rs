//! The selected state (RFC 9051 §3.3, RFC 3501 §3.3): a session's view of one folder, that is
//! its messages in sequence order with the flags last reported, its `\Recent` messages, and
//! how far the store's change log has been applied. The `sync` module keeps it up to date.

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU32;

use imap_codec::imap_types::core::Atom;
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::sequence::SequenceSet;
use pecd_store::{Folder, MessageMeta, ModSeq, Uid};

use crate::error::{bad, Refusal};
use crate::flags::system_flags;
use crate::ranges::{check_ranges, merged};

/// A session's view of its selected folder.
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
    pub(crate) fn numbers(&self, indexes: &[usize], uid: bool) -> Vec<u32> {
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

    pub(crate) fn max_uid(&self) -> u32 {
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

/// A message number or UID as imap-codec wants it (never zero in a response).
pub(crate) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("nonzero")
}
