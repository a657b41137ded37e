//! Compaction of body segments: a sealed segment whose live bytes are under half its size has
//! its live bodies copied to the current segment, made durable, and re-pointed in one
//! transaction; then its file is deleted. Run by [`SledStore::prune`] (the engine's periodic
//! upkeep).
//!
//! A body whose last reference goes while it is being copied is skipped by the transaction
//! (its copy is dead bytes). A reader that looked a body up before the transaction reads it
//! at its old place: from the file it holds open, or, once the file is gone, after a second
//! lookup ([`SledStore::read_blob`]). A crash before the deletion leaves a segment with no
//! live bytes, deleted by the next run.
//!
//! Guards: one compaction runs at a time in the process, and a segment's file is deleted only
//! when the transaction that re-points its bodies finds its live bytes exactly accounted for
//! by them (a body the index scan missed keeps the file). A deleted segment's number can be
//! used again after a restart (the next number is the highest file's plus one); no index
//! entry can name it by then, since deletion follows the durable re-pointing of every body.

use std::collections::HashMap;
use std::sync::Mutex;

use sled::Transactional;

use super::body_index::{live_bytes, segment_key, tx_live_add, BodyEntry};
use super::codec::*;
use super::tx::tx_get;
use super::SledStore;
use crate::bodies::{BlobId, BodyLoc};
use crate::types::*;

impl SledStore {
    /// Compacts every sealed segment that is mostly dead bytes; returns how many went.
    pub fn compact_bodies(&self) -> Result<usize, StoreError> {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _running = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut live = HashMap::new();
        for item in self.body_segments.iter() {
            let (k, v) = item.map_err(sled_err)?;
            live.insert(id_from(&k)?, live_bytes(&v));
        }
        let mut due: HashMap<u64, Vec<(BlobId, BodyLoc)>> = HashMap::new();
        for (number, len) in self.bodies.segments()? {
            let live = live.get(&number).copied().unwrap_or(0);
            if (live == 0 || live * 2 < len) && self.bodies.is_sealed_and_idle(number) {
                due.insert(number, Vec::new());
            }
        }
        if due.is_empty() {
            return Ok(0);
        }
        for item in self.body_index.iter() {
            let (k, v) = item.map_err(sled_err)?;
            let entry: BodyEntry = dec(&v)?;
            if let Some(list) = due.get_mut(&entry.loc.segment) {
                let id: BlobId = k.as_ref().try_into().map_err(|_| {
                    StoreError::Corrupt(format!("body index key of {} bytes", k.len()))
                })?;
                list.push((id, entry.loc));
            }
        }
        let mut count = 0;
        for (number, bodies) in due {
            if self.compact_segment(number, bodies)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Copies `bodies` (the live ones of segment `number`) to the current segment, points
    /// the index at the copies durably, then deletes the segment, unless live bytes the
    /// copies do not account for remain in it (then it is kept, and said in the log);
    /// whether it went.
    fn compact_segment(
        &self,
        number: u64,
        bodies: Vec<(BlobId, BodyLoc)>,
    ) -> Result<bool, StoreError> {
        let mut prepared = Vec::with_capacity(bodies.len());
        let mut moves = Vec::with_capacity(bodies.len());
        for (id, old) in bodies {
            let bytes = self.bodies.read(&old)?;
            let copy = self.bodies.prepare_as(id, &bytes)?;
            moves.push((id, old, copy.loc));
            prepared.push(copy);
        }
        let left = self.commit(prepared, move |s| {
            finish(
                (&s.body_index, &s.body_segments).transaction(|(idx, segs)| {
                    let mut moved = 0;
                    for (id, old, new) in &moves {
                        let Some(mut entry) = tx_get::<BodyEntry>(idx, id)? else {
                            continue;
                        };
                        if entry.loc != *old {
                            continue;
                        }
                        entry.loc = *new;
                        idx.insert(&id[..], enc(&entry))?;
                        tx_live_add(segs, new.segment, new.len as i64)?;
                        moved += new.len;
                    }
                    let key = segment_key(number);
                    let live = segs.get(key)?.map_or(0, |v| live_bytes(&v));
                    let left = live.saturating_sub(moved);
                    if left == 0 {
                        segs.remove(&key[..])?;
                    } else {
                        segs.insert(&key[..], &left.to_be_bytes()[..])?;
                    }
                    Ok(left)
                }),
            )
        })?;
        if left > 0 {
            tracing::warn!(
                segment = number,
                left,
                "segment kept: live bytes remain that its compaction did not move"
            );
            return Ok(false);
        }
        self.bodies.remove_segment(number)?;
        Ok(true)
    }
}
