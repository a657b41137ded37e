//! Message bodies, one file each, made durable before any metadata names them.
//!
//! Sequence for a new body: write `tmp/<id>`, fsync it, rename it to `<shard>/<id>`, fsync the
//! shard directory. Only then does the caller insert the metadata that points at it, so a
//! crash can leave an unreferenced body (swept at the next open) but never a reference to a
//! missing one.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct Bodies {
    root: PathBuf,
}

pub type BlobId = [u8; 16];

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
        fs::create_dir_all(root.join("tmp"))?;
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
        Ok(Bodies { root })
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.root.join(format!("{:02x}", id[0])).join(hex(id))
    }

    /// Writes a new body durably and returns its id.
    pub fn write(&self, bytes: &[u8]) -> io::Result<BlobId> {
        let id = *uuid::Uuid::new_v4().as_bytes();
        let tmp = self.root.join("tmp").join(hex(&id));
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_data()?;
            let dest = self.path(&id);
            fs::rename(&tmp, &dest)?;
            fsync_dir(dest.parent().expect("body path has a shard directory"))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|_| id)
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
        for entry in fs::read_dir(self.root.join("tmp"))? {
            fs::remove_file(entry?.path())?;
            removed += 1;
        }
        for shard in 0..=255u8 {
            for entry in fs::read_dir(self.root.join(format!("{shard:02x}")))? {
                let entry = entry?;
                let keep = entry
                    .file_name()
                    .to_str()
                    .and_then(unhex)
                    .is_some_and(|id| referenced.contains(&id));
                if !keep {
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
        let kept = bodies.write(b"Subject: a\r\n\r\nkept\r\n").unwrap();
        let orphan = bodies.write(b"Subject: b\r\n\r\norphan\r\n").unwrap();
        fs::write(dir.path().join("bodies/tmp/partial"), b"half").unwrap();
        assert_eq!(bodies.read(&kept).unwrap(), b"Subject: a\r\n\r\nkept\r\n");
        let removed = bodies.sweep(&HashSet::from([kept])).unwrap();
        assert_eq!(removed, 2);
        assert!(bodies.read(&orphan).is_err());
        assert!(bodies.read(&kept).is_ok());
        assert_eq!(unhex(&hex(&kept)), Some(kept));
    }
}
