//! The header cache: top-level header blocks of messages, kept in memory for all IMAP
//! sessions, so that SEARCH keys that look only at headers (RFC 3501 §6.4.4: BCC, CC, FROM,
//! HEADER, SUBJECT, TO, SENT*) and FETCH of header items (ENVELOPE, RFC822.HEADER,
//! BODY[HEADER], BODY[HEADER.FIELDS ...], as a client's header list asks) are answered
//! without reading bodies.
//!
//! Design. An entry is keyed by the message's immutable identity, folder id and UID: the
//! store never reuses either (folder ids come from a counter, UIDs from UIDNEXT) and a body
//! never changes, so an entry can never describe another message, and no invalidation is
//! needed for correctness, only to give memory back. It holds
//! [`pecd_imap_message::HeaderFields`]: the header block as stored and every top-level field
//! in it (so HEADER with any field name is answered too, by the same parser SEARCH uses on
//! bodies), decoded once on the first search that needs it. Entries are filled where a body
//! or header block is in hand anyway: SEARCH (the batch read of the messages it missed),
//! FETCH of any body or header item, APPEND; COPY and MOVE share the originals' entries with
//! the copies (same bytes). FETCH of header items builds its answer from the cached block
//! with the same code as from the message, so it is byte for byte the same
//! ([`pecd_imap_message::header_block_len`] says why, and its tests and fuzz target check it).
//!
//! Bounds. `imap.header_cache_bytes` bounds the estimated memory ([`HeaderFields::cost`]);
//! 0 disables the cache. Entries are grouped per folder, and folders are evicted whole, least
//! recently used first. When the folder being filled alone would exceed the bound, new
//! entries of it are refused rather than evicting its own: a folder larger than the cache
//! keeps a stable cached part and reads the rest, instead of every SEARCH evicting what the
//! next one needs. Entries of expunged messages are dropped when a session learns of the
//! expunge (its view's sync, [`crate::sync`]), a deleted folder's entries with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use pecd_imap_message::HeaderFields;
use pecd_store::{FolderId, Uid};

/// Header fields of messages, per folder.
pub struct HeaderCache {
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    folders: HashMap<FolderId, FolderEntries>,
    /// Sum of the entries' costs.
    bytes: usize,
    /// Advances at each use; orders folders for eviction.
    clock: u64,
}

#[derive(Default)]
struct FolderEntries {
    entries: HashMap<Uid, Arc<HeaderFields>>,
    bytes: usize,
    used: u64,
}

impl HeaderCache {
    /// A cache of at most `limit` bytes (estimated); 0 keeps nothing.
    pub fn new(limit: u64) -> HeaderCache {
        HeaderCache {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.limit > 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entries of `uids` of `folder`, in order (`None` where there is none).
    pub fn get_many(
        &self,
        folder: FolderId,
        uids: impl Iterator<Item = Uid>,
    ) -> Vec<Option<Arc<HeaderFields>>> {
        if !self.enabled() {
            return uids.map(|_| None).collect();
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        match inner.folders.get_mut(&folder) {
            Some(f) => {
                f.used = clock;
                uids.map(|uid| f.entries.get(&uid).cloned()).collect()
            }
            None => uids.map(|_| None).collect(),
        }
    }

    /// Which of `uids` of `folder` have no entry.
    pub fn missing(&self, folder: FolderId, uids: impl Iterator<Item = Uid>) -> Vec<bool> {
        if !self.enabled() {
            return uids.map(|_| false).collect();
        }
        let inner = self.lock();
        let entries = inner.folders.get(&folder).map(|f| &f.entries);
        uids.map(|uid| entries.is_none_or(|e| !e.contains_key(&uid)))
            .collect()
    }

    /// Adds entries to `folder`, evicting other folders (least recently used first) to make
    /// room; what still does not fit is not kept.
    pub fn insert_many(&self, folder: FolderId, new: Vec<(Uid, Arc<HeaderFields>)>) {
        if !self.enabled() || new.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.clock += 1;
        let clock = inner.clock;
        for (uid, fields) in new {
            let cost = fields.cost();
            while inner.bytes + cost > self.limit && inner.evict_one_except(folder) {}
            if inner.bytes + cost > self.limit {
                break;
            }
            let f = inner.folders.entry(folder).or_default();
            f.used = clock;
            if let Some(old) = f.entries.insert(uid, fields) {
                f.bytes -= old.cost();
                inner.bytes -= old.cost();
            }
            f.bytes += cost;
            inner.bytes += cost;
        }
    }

    /// Drops the entries of `uids` (expunged) of `folder`.
    pub fn forget(&self, folder: FolderId, uids: impl Iterator<Item = Uid>) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(f) = inner.folders.get_mut(&folder) else {
            return;
        };
        for uid in uids {
            if let Some(old) = f.entries.remove(&uid) {
                f.bytes -= old.cost();
                inner.bytes -= old.cost();
            }
        }
        if f.entries.is_empty() {
            inner.folders.remove(&folder);
        }
    }

    /// Drops every entry of `folder` (deleted).
    pub fn forget_folder(&self, folder: FolderId) {
        let mut inner = self.lock();
        if let Some(f) = inner.folders.remove(&folder) {
            inner.bytes -= f.bytes;
        }
    }

    /// Estimated bytes held, and entries.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        let entries = inner.folders.values().map(|f| f.entries.len()).sum();
        (inner.bytes, entries)
    }
}

impl Inner {
    /// Evicts the least recently used folder other than `keep`; false when there is none.
    fn evict_one_except(&mut self, keep: FolderId) -> bool {
        let victim = self
            .folders
            .iter()
            .filter(|(id, _)| **id != keep)
            .min_by_key(|(_, f)| f.used)
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.folders.remove(&id)) {
            Some(f) => {
                self.bytes -= f.bytes;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(subject: &str) -> Arc<HeaderFields> {
        let raw = format!("Subject: {subject}\r\n\r\nbody");
        Arc::new(HeaderFields::parse(raw.as_bytes()).expect("small"))
    }

    #[test]
    fn entries_are_kept_found_and_forgotten() {
        let cache = HeaderCache::new(1 << 20);
        cache.insert_many(1, vec![(1, fields("a")), (2, fields("b"))]);
        let got = cache.get_many(1, [1, 2, 3].into_iter());
        assert!(got[0].is_some() && got[1].is_some() && got[2].is_none());
        assert_eq!(cache.missing(1, [2, 3].into_iter()), vec![false, true]);
        assert!(cache.get_many(2, [1].into_iter())[0].is_none());
        cache.forget(1, [1].into_iter());
        assert!(cache.get_many(1, [1].into_iter())[0].is_none());
        assert_eq!(cache.usage().1, 1);
        cache.forget_folder(1);
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn bounded_by_evicting_least_recently_used_folders() {
        let one = fields("x").cost();
        let cache = HeaderCache::new((one * 10) as u64);
        cache.insert_many(1, (1..=4).map(|u| (u, fields("x"))).collect());
        cache.insert_many(2, (1..=4).map(|u| (u, fields("x"))).collect());
        // Folder 1 is used again: folder 2 is now the least recently used.
        cache.get_many(1, [1].into_iter());
        cache.insert_many(3, (1..=4).map(|u| (u, fields("x"))).collect());
        assert!(cache.get_many(2, [1].into_iter())[0].is_none());
        assert!(cache.get_many(1, [1].into_iter())[0].is_some());
        assert!(cache.usage().0 <= one * 10);
        // A folder larger than the cache keeps what fit, and evicts the others.
        cache.insert_many(4, (1..=20).map(|u| (u, fields("x"))).collect());
        assert_eq!(cache.usage(), (one * 10, 10));
        assert!(cache.get_many(4, [1].into_iter())[0].is_some());
        assert!(cache.get_many(4, [20].into_iter())[0].is_none());
    }

    #[test]
    fn zero_disables() {
        let cache = HeaderCache::new(0);
        cache.insert_many(1, vec![(1, fields("a"))]);
        assert!(cache.get_many(1, [1].into_iter())[0].is_none());
        assert_eq!(cache.missing(1, [1].into_iter()), vec![false]);
        assert_eq!(cache.usage(), (0, 0));
    }
}
