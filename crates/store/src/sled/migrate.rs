//! Migration on open from one file per body ([`crate::bodies::legacy`]) to segments.
//!
//! The bodies still in files are appended to the current segment in batches; each batch is
//! made durable and indexed in one commit (its reference counts taken from the message and
//! queue records), and only then are its files deleted. Files no record refers to (temporary
//! files, bodies of writes a crash cut short) are deleted. Killed at any point, the next open
//! redoes what is left: a file whose body is already indexed is only deleted, and bytes
//! appended by a batch that never committed are dead, left for compaction.

use std::collections::HashMap;
use std::fs;

use sled::Transactional;

use super::body_index::tx_body_new;
use super::codec::*;
use super::SledStore;
use crate::bodies::{fsync_dir, legacy, BlobId, PreparedBody};
use crate::pec::QueueEntry;
use crate::types::*;

/// Bytes of bodies moved per commit.
const BATCH_BYTES: usize = 16 << 20;

/// Bodies appended but not yet committed, and the files they came from.
#[derive(Default)]
struct Batch {
    bodies: Vec<PreparedBody>,
    files: Vec<std::path::PathBuf>,
    bytes: usize,
}

impl SledStore {
    /// Moves bodies still in the one-file-each layout into segments (nothing to do when no
    /// shard directory is left).
    pub(super) fn migrate_legacy_bodies(&self) -> Result<(), StoreError> {
        let root = self.bodies.root().to_path_buf();
        let shards = legacy::shard_dirs(&root)?;
        if shards.is_empty() {
            return Ok(());
        }
        let counts = self.reference_counts()?;
        let (mut batch, mut moved, mut dropped) = (Batch::default(), 0usize, 0usize);
        for shard in &shards {
            for (path, id) in legacy::files(shard)? {
                let Some(id) = id.filter(|id| counts.contains_key(id)) else {
                    fs::remove_file(&path)?;
                    dropped += 1;
                    continue;
                };
                if self.body_entry(&id)?.is_some() {
                    // Moved by a run cut short after its commit.
                    fs::remove_file(&path)?;
                    continue;
                }
                let bytes = fs::read(&path)?;
                batch.bodies.push(self.bodies.prepare_as(id, &bytes)?);
                batch.files.push(path);
                batch.bytes += bytes.len();
                moved += 1;
                if batch.bytes >= BATCH_BYTES {
                    self.commit_batch(std::mem::take(&mut batch), &counts)?;
                }
            }
        }
        self.commit_batch(batch, &counts)?;
        for shard in &shards {
            if let Err(e) = fs::remove_dir(shard) {
                tracing::warn!(dir = %shard.display(), error = %e, "cannot remove a body directory");
            }
        }
        fsync_dir(&root)?;
        tracing::info!(
            moved,
            dropped,
            "message bodies moved from one file each into segments"
        );
        Ok(())
    }

    /// Indexes a batch of moved bodies in one durable commit, then deletes their files.
    fn commit_batch(&self, batch: Batch, counts: &HashMap<BlobId, u32>) -> Result<(), StoreError> {
        if batch.bodies.is_empty() {
            return Ok(());
        }
        let entries: Vec<_> = batch
            .bodies
            .iter()
            .map(|b| (b.id, b.loc, counts.get(&b.id).copied().unwrap_or(1)))
            .collect();
        self.commit(batch.bodies, move |s| {
            finish(
                (&s.body_index, &s.body_segments).transaction(|(idx, segs)| {
                    for (id, loc, refs) in &entries {
                        if idx.get(id)?.is_none() {
                            tx_body_new((idx, segs), id, *loc, *refs)?;
                        }
                    }
                    Ok(())
                }),
            )
        })?;
        for file in &batch.files {
            fs::remove_file(file)?;
        }
        Ok(())
    }

    /// How many message records and queue entries name each body.
    fn reference_counts(&self) -> Result<HashMap<BlobId, u32>, StoreError> {
        let mut counts: HashMap<BlobId, u32> = HashMap::new();
        for item in self.messages.iter().values() {
            let meta: MessageMeta = dec(&item.map_err(sled_err)?)?;
            *counts.entry(meta.blob).or_default() += 1;
        }
        for item in self.pec_queue.iter().values() {
            let entry: QueueEntry = dec(&item.map_err(sled_err)?)?;
            *counts.entry(entry.blob).or_default() += 1;
        }
        Ok(counts)
    }
}
