//! The body index: blob id -> where its bytes are and how many records refer to it
//! (`body_index`), and the live bytes of each segment (`body_segments`: segment -> bytes of
//! bodies still referred to), written in the same transaction as the references.
//!
//! A message record, a copy of it in another folder and a relay queue entry can name the same
//! body; each adds one reference in the transaction that writes it and drops one in the
//! transaction that removes it. At zero the entry goes and its bytes are dead, left for
//! compaction ([`super::compact`]) to reclaim.

use serde::{Deserialize, Serialize};
use sled::transaction::{abort, TransactionalTree};

use super::codec::*;
use super::tx::tx_get;
use super::SledStore;
use crate::bodies::{BlobId, BodyLoc};
use crate::types::*;

/// One body: its bytes and its reference count.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(super) struct BodyEntry {
    pub(super) loc: BodyLoc,
    pub(super) refs: u32,
}

/// The body trees as a transaction sees them: index, segments' live bytes.
pub(super) type BodyTrees<'a> = (&'a TransactionalTree, &'a TransactionalTree);

pub(super) fn segment_key(segment: u64) -> [u8; 8] {
    segment.to_be_bytes()
}

pub(super) fn live_bytes(v: &[u8]) -> u64 {
    v.try_into().map_or(0, u64::from_be_bytes)
}

/// Adds `delta` (negative: removes) to the live bytes of `segment`.
pub(super) fn tx_live_add(segs: &TransactionalTree, segment: u64, delta: i64) -> TxResult<()> {
    let key = segment_key(segment);
    let old = segs.get(key)?.map_or(0, |v| live_bytes(&v));
    let new = old.saturating_add_signed(delta);
    segs.insert(&key[..], &new.to_be_bytes()[..])?;
    Ok(())
}

/// Records a new body at `loc` with `refs` references.
pub(super) fn tx_body_new(
    (idx, segs): BodyTrees,
    id: &BlobId,
    loc: BodyLoc,
    refs: u32,
) -> TxResult<()> {
    idx.insert(&id[..], enc(&BodyEntry { loc, refs }))?;
    tx_live_add(segs, loc.segment, loc.len as i64)
}

/// One more reference to an existing body.
pub(super) fn tx_body_ref((idx, _): BodyTrees, id: &BlobId) -> TxResult<()> {
    let Some(mut entry) = tx_get::<BodyEntry>(idx, id)? else {
        return abort(StoreError::Corrupt(format!(
            "body {} is not in the body index",
            crate::bodies::legacy::hex(id)
        )));
    };
    entry.refs += 1;
    idx.insert(&id[..], enc(&entry))?;
    Ok(())
}

/// One reference fewer; at none the body is dead. A body already missing is let be, so a
/// damaged message can still be removed.
pub(super) fn tx_body_unref((idx, segs): BodyTrees, id: &BlobId) -> TxResult<()> {
    let Some(mut entry) = tx_get::<BodyEntry>(idx, id)? else {
        tracing::warn!(blob = %crate::bodies::legacy::hex(id), "removed a reference to a missing body");
        return Ok(());
    };
    entry.refs = entry.refs.saturating_sub(1);
    if entry.refs == 0 {
        idx.remove(&id[..])?;
        tx_live_add(segs, entry.loc.segment, -(entry.loc.len as i64))
    } else {
        idx.insert(&id[..], enc(&entry))?;
        Ok(())
    }
}

impl SledStore {
    pub(super) fn body_entry(&self, id: &BlobId) -> Result<Option<BodyEntry>, StoreError> {
        match self.body_index.get(id).map_err(sled_err)? {
            Some(v) => dec(&v).map(Some),
            None => Ok(None),
        }
    }

    /// The bytes of body `id`: one index lookup and one positional read. A read racing the
    /// compaction of its segment looks the body up again at its new place, as long as the
    /// place keeps changing (a bounded number of times).
    pub(super) fn read_blob(&self, id: &BlobId) -> Result<Vec<u8>, StoreError> {
        self.read_blob_prefix(id, u64::MAX)
    }

    /// The first `max` bytes of a body (all of it when shorter), found again if compaction
    /// moves it while it is read.
    pub(super) fn read_blob_prefix(&self, id: &BlobId, max: u64) -> Result<Vec<u8>, StoreError> {
        let mut last = None;
        for _ in 0..8 {
            let Some(entry) = self.body_entry(id)? else {
                return Err(StoreError::Corrupt(format!(
                    "body {} is not in the body index",
                    crate::bodies::legacy::hex(id)
                )));
            };
            match self.bodies.read_prefix(&entry.loc, max) {
                Ok(bytes) => return Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && last != Some(entry.loc) => {
                    last = Some(entry.loc);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Io(format!(
            "body {} kept moving while being read",
            crate::bodies::legacy::hex(id)
        )))
    }

    /// The body index and the segments, counted (a scan of the index).
    pub fn body_stats(&self) -> Result<BodyStats, StoreError> {
        let mut stats = BodyStats::default();
        for item in self.body_index.iter().values() {
            let entry: BodyEntry = dec(&item.map_err(sled_err)?)?;
            stats.bodies += 1;
            stats.references += u64::from(entry.refs);
            stats.live_bytes += entry.loc.len;
        }
        for (_, len) in self.bodies.segments()? {
            stats.segments += 1;
            stats.segment_bytes += len;
        }
        Ok(stats)
    }
}
