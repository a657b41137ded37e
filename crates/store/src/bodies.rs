//! Message bodies, one file each, made durable before any metadata names them.
//!
//! Sequence for a new body: write `<shard>/<id>.tmp`, fsync it, rename it to `<shard>/<id>`,
//! fsync the shard directory. The temporary file lives in its final directory so that one
//! directory, not two, changes and needs the fsync. Only then does the caller insert the metadata that points at it, so a
//! crash can leave an unreferenced body (swept at the next open) but never a reference to a
//! missing one. [`Bodies::prepare`] writes and fdatasyncs the temporary file in the writer's
//! own thread (concurrent writers' fdatasyncs overlap, and the filesystem journal merges their
//! commits); [`make_durable`] then renames every body of a commit round and fsyncs each shard
//! directory involved once.
//!
//! A copied message (IMAP COPY, MOVE) gets its own body file without copying bytes:
//! [`Bodies::link`] hard-links the source's file under a new temporary name, and the copy then
//! goes through the same [`make_durable`] step. The data was already durable; only the new
//! directory entry needs the shard directory's fsync. Each message owning its own name keeps
//! the rule "removing a message removes its body file" true for copies.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Bodies {
    root: PathBuf,
    /// Bodies written so far; picks the shard, see [`Bodies::new_body`].
    written: AtomicU64,
}

/// Consecutive bodies that share a shard directory.
const BODIES_PER_SHARD_TURN: u64 = 64;

pub type BlobId = [u8; 16];

/// A body durable in its temporary file, not yet in place.
pub struct PreparedBody {
    pub id: BlobId,
    tmp: PathBuf,
    dest: PathBuf,
}

/// Puts prepared bodies in place durably: rename each into its shard directory, then fsync
/// every shard directory involved, once.
pub fn make_durable(bodies: &[PreparedBody]) -> io::Result<()> {
    let mut dirs: Vec<&Path> = Vec::with_capacity(bodies.len());
    for b in bodies {
        fs::rename(&b.tmp, &b.dest)?;
        let dir = b.dest.parent().expect("body path has a shard directory");
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        fsync_dir(dir)?;
    }
    Ok(())
}

fn hex(id: &BlobId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(name: &str) -> Option<BlobId> {
    if name.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(name.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Bodies {
    /// Opens (creating) the body directory with its 256 shard directories.
    pub fn open(root: PathBuf) -> io::Result<Bodies> {
        fs::create_dir_all(&root)?;
        for shard in 0..=255u8 {
            let dir = root.join(format!("{shard:02x}"));
            if !dir.exists() {
                fs::create_dir(&dir)?;
            }
        }
        fsync_dir(&root)?;
        if let Some(parent) = root.parent() {
            fsync_dir(parent)?;
        }
        Ok(Bodies {
            root,
            written: AtomicU64::new(0),
        })
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.root.join(format!("{:02x}", id[0])).join(hex(id))
    }

    /// Writes and fdatasyncs a new body in a temporary file; [`make_durable`] must run before
    /// anything refers to it. The first byte of the id names the shard directory. It turns every
    /// [`BODIES_PER_SHARD_TURN`] bodies rather than being random, so that the bodies of one
    /// commit round mostly share a directory and one fsync of it covers them all, while the
    /// directories still fill evenly over time.
    pub fn prepare(&self, bytes: &[u8]) -> io::Result<PreparedBody> {
        let body = self.new_body();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&body.tmp)?;
        if let Err(e) = file.write_all(bytes).and_then(|_| file.sync_data()) {
            let _ = fs::remove_file(&body.tmp);
            return Err(e);
        }
        Ok(body)
    }

    /// Gives the body `source` a second name under a new id, as a temporary file that
    /// [`make_durable`] puts in place like a written one. Fails with `NotFound` when `source`
    /// is gone (its message was removed meanwhile).
    pub fn link(&self, source: &BlobId) -> io::Result<PreparedBody> {
        let body = self.new_body();
        fs::hard_link(self.path(source), &body.tmp)?;
        Ok(body)
    }

    /// Throws away a prepared body that will not be made durable.
    pub fn discard(&self, body: PreparedBody) {
        if let Err(e) = fs::remove_file(&body.tmp) {
            tracing::warn!(blob = %hex(&body.id), error = %e, "cannot remove temporary body");
        }
    }

    fn new_body(&self) -> PreparedBody {
        let mut id = *uuid::Uuid::new_v4().as_bytes();
        id[0] = (self.written.fetch_add(1, Ordering::Relaxed) / BODIES_PER_SHARD_TURN) as u8;
        PreparedBody {
            id,
            tmp: self.path(&id).with_extension("tmp"),
            dest: self.path(&id),
        }
    }

    pub fn read(&self, id: &BlobId) -> io::Result<Vec<u8>> {
        fs::read(self.path(id))
    }

    /// Removes a body whose metadata is already gone; a body that is already missing is fine.
    pub fn remove(&self, id: &BlobId) {
        if let Err(e) = fs::remove_file(self.path(id)) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(blob = %hex(id), error = %e, "cannot remove message body");
            }
        }
    }

    /// Deletes temporary files and bodies that no metadata references (left by a crash between
    /// writing a body and committing its metadata, or between expunge and unlink). Returns how
    /// many files were removed.
    pub fn sweep(&self, referenced: &HashSet<BlobId>) -> io::Result<usize> {
        let mut removed = 0;
        for shard in 0..=255u8 {
            for entry in fs::read_dir(self.root.join(format!("{shard:02x}")))? {
                let entry = entry?;
                let keep = entry
                    .file_name()
                    .to_str()
                    .and_then(unhex)
                    .is_some_and(|id| referenced.contains(&id));
                if !keep && entry.file_type()?.is_file() {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Allocated bytes of every file under `dir`.
pub fn disk_usage(dir: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_usage(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let bodies = Bodies::open(dir.path().join("bodies")).unwrap();
        let prepared = [
            bodies.prepare(b"Subject: a\r\n\r\nkept\r\n").unwrap(),
            bodies.prepare(b"Subject: b\r\n\r\norphan\r\n").unwrap(),
        ];
        assert!(
            bodies.read(&prepared[0].id).is_err(),
            "not in place before make_durable"
        );
        make_durable(&prepared).unwrap();
        let (kept, orphan) = (prepared[0].id, prepared[1].id);
        let partial = bodies.path(&kept).with_extension("tmp");
        fs::write(&partial, b"half").unwrap();
        assert_eq!(bodies.read(&kept).unwrap(), b"Subject: a\r\n\r\nkept\r\n");
        let removed = bodies.sweep(&HashSet::from([kept])).unwrap();
        assert_eq!(removed, 2);
        assert!(bodies.read(&orphan).is_err());
        assert!(bodies.read(&kept).is_ok());
        assert_eq!(unhex(&hex(&kept)), Some(kept));
    }

    #[test]
    fn a_linked_body_outlives_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let bodies = Bodies::open(dir.path().join("bodies")).unwrap();
        let source = bodies.prepare(b"Subject: s\r\n\r\nbody\r\n").unwrap();
        let source_id = source.id;
        make_durable(&[source]).unwrap();
        let copy = bodies.link(&source_id).unwrap();
        let copy_id = copy.id;
        assert_ne!(copy_id, source_id);
        make_durable(&[copy]).unwrap();
        bodies.remove(&source_id);
        assert_eq!(
            bodies.read(&copy_id).unwrap(),
            b"Subject: s\r\n\r\nbody\r\n"
        );
        let gone = bodies.link(&source_id).err().expect("source is gone");
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        let unused = bodies.link(&copy_id).unwrap();
        bodies.discard(unused);
        assert_eq!(bodies.sweep(&HashSet::from([copy_id])).unwrap(), 0);
    }
}
