//! Message bodies in append-only segment files, made durable before any metadata names them.
//!
//! Layout: `bodies/segments/<n>.seg`, segment numbers never reused. A body is a byte range of
//! one segment ([`BodyLoc`]); what names it (the backend's body index, with a reference count)
//! is not here. A new body reserves its range in the current segment under a short lock and
//! is then written with a positional write outside it, so concurrent writers do not serialise
//! on the copy. [`Bodies::make_durable`] fdatasyncs each segment a commit round touched once
//! (and the segment directory when a segment file was created since the last round); only then
//! does the round commit the metadata that refers to the bodies. A crash can leave bytes no
//! metadata names (dead bytes, reclaimed by compaction) but never a reference to bytes that
//! are not on disk.
//!
//! A segment is current until it holds [`SEGMENT_BYTES`]; a new one is started then, and at
//! every open (lazily, at the first write), so the possibly torn tail a crash left is never
//! appended to: the ranges after it belong to a later file. Segments other than the current
//! one are sealed and only read, until compaction copies their live bodies elsewhere and
//! [`Bodies::remove_segment`] deletes them. A reader holds the segment's file through an `Arc`,
//! so a file removed while it reads stays readable until it is done.
//!
//! The previous layout (one file per body) is read by [`legacy`] for the migration on open.

pub mod legacy;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub type BlobId = [u8; 16];

/// Size at which the current segment is sealed and a new one started.
pub const SEGMENT_BYTES: u64 = 32 << 20;

/// Segment files kept open for reading; past this, idle sealed ones are closed (a reader
/// holding one keeps it until its read ends).
const MAX_OPEN_SEGMENTS: usize = 64;

/// Where a body's bytes are: `len` bytes at `offset` of segment `segment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyLoc {
    pub segment: u64,
    pub offset: u64,
    pub len: u64,
}

/// One segment file, open for reading (and, while current, for positional writes).
pub struct Segment {
    number: u64,
    file: File,
    /// Bodies reserved in this segment whose commit has not finished; compaction leaves a
    /// segment alone while any are.
    in_flight: AtomicUsize,
}

/// The segment new bodies go to, and the number the next one gets.
struct Current {
    segment: Option<Arc<Segment>>,
    end: u64,
    next_number: u64,
}

pub struct Bodies {
    /// `bodies/`: the legacy shard directories, if any, and `segments/`.
    root: PathBuf,
    dir: PathBuf,
    current: Mutex<Current>,
    open: Mutex<HashMap<u64, Arc<Segment>>>,
    /// A segment file was created since the last directory fsync.
    dir_unsynced: AtomicBool,
}

/// A body written to its segment (not yet durable: [`Bodies::make_durable`] must run before
/// anything refers to it). Dropping it ends its reservation.
pub struct PreparedBody {
    pub id: BlobId,
    pub loc: BodyLoc,
    segment: Arc<Segment>,
}

impl Drop for PreparedBody {
    fn drop(&mut self) {
        self.segment.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_number(name: &str) -> Option<u64> {
    name.strip_suffix(".seg")?.parse().ok()
}

impl Bodies {
    /// Opens (creating) the body directory. New bodies go to a segment after every existing
    /// one.
    pub fn open(root: PathBuf) -> io::Result<Bodies> {
        let dir = root.join("segments");
        fs::create_dir_all(&dir)?;
        fsync_dir(&dir)?;
        fsync_dir(&root)?;
        if let Some(parent) = root.parent() {
            fsync_dir(parent)?;
        }
        let last = list_segments(&dir)?.iter().map(|(n, _)| *n).max();
        Ok(Bodies {
            root,
            dir,
            current: Mutex::new(Current {
                segment: None,
                end: 0,
                next_number: last.map_or(1, |n| n + 1),
            }),
            open: Mutex::new(HashMap::new()),
            dir_unsynced: AtomicBool::new(false),
        })
    }

    /// The `bodies/` directory (the legacy layout's shard directories live there).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number}.seg"))
    }

    /// Writes a new body at a range reserved in the current segment, under a new random id.
    pub fn prepare(&self, bytes: &[u8]) -> io::Result<PreparedBody> {
        self.prepare_as(*uuid::Uuid::new_v4().as_bytes(), bytes)
    }

    /// [`Bodies::prepare`] under a given id (a body moved by migration or compaction).
    pub fn prepare_as(&self, id: BlobId, bytes: &[u8]) -> io::Result<PreparedBody> {
        let len = bytes.len() as u64;
        let (segment, offset) = self.reserve(len)?;
        let body = PreparedBody {
            id,
            loc: BodyLoc {
                segment: segment.number,
                offset,
                len,
            },
            segment,
        };
        body.segment.file.write_all_at(bytes, offset)?;
        Ok(body)
    }

    /// Reserves `len` bytes at the end of the current segment, starting a new one when it is
    /// full (or none was started since the open).
    fn reserve(&self, len: u64) -> io::Result<(Arc<Segment>, u64)> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let full = cur.end > 0 && cur.end + len > SEGMENT_BYTES;
        if cur.segment.is_none() || full {
            let number = cur.next_number;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(self.path(number))?;
            self.dir_unsynced.store(true, Ordering::Release);
            let segment = Arc::new(Segment {
                number,
                file,
                in_flight: AtomicUsize::new(0),
            });
            self.open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(number, segment.clone());
            cur.next_number += 1;
            cur.segment = Some(segment);
            cur.end = 0;
        }
        let segment = cur.segment.clone().expect("a current segment");
        let offset = cur.end;
        cur.end += len;
        segment.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok((segment, offset))
    }

    /// Makes `bodies` durable: one fdatasync per segment they are in, and the segment
    /// directory's fsync if a segment file was created since the last time.
    pub fn make_durable(&self, bodies: &[&PreparedBody]) -> io::Result<()> {
        let mut synced: Vec<u64> = Vec::new();
        for b in bodies {
            if !synced.contains(&b.loc.segment) {
                b.segment.file.sync_data()?;
                synced.push(b.loc.segment);
            }
        }
        if self.dir_unsynced.swap(false, Ordering::AcqRel) {
            fsync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Segment `number`, opened if it is not yet. The open happens under the map's lock, as
    /// [`Bodies::remove_segment`]'s unlink does, so a segment being removed is either held
    /// by its reader already or not found.
    fn segment(&self, number: u64) -> io::Result<Arc<Segment>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = open.get(&number) {
            return Ok(s.clone());
        }
        if open.len() >= MAX_OPEN_SEGMENTS {
            // Only entries nothing else holds go: not the current segment, not one with a
            // body waiting for its commit (its count of reservations lives in that entry),
            // not one a reader is using. Nothing can take a new hold on them without this
            // lock, and a segment reopened later is sealed, so it starts with none.
            open.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let segment = Arc::new(Segment {
            number,
            file: File::open(self.path(number))?,
            in_flight: AtomicUsize::new(0),
        });
        open.insert(number, segment.clone());
        Ok(segment)
    }

    /// The bytes at `loc`. `NotFound` when the segment is gone (compacted away since the
    /// location was looked up: look it up again).
    pub fn read(&self, loc: &BodyLoc) -> io::Result<Vec<u8>> {
        self.read_prefix(loc, u64::MAX)
    }

    /// The first `max` bytes at `loc` (all of them when there are fewer), as [`Bodies::read`].
    pub fn read_prefix(&self, loc: &BodyLoc, max: u64) -> io::Result<Vec<u8>> {
        let segment = self.segment(loc.segment)?;
        let mut buf = vec![0u8; loc.len.min(max) as usize];
        segment.file.read_exact_at(&mut buf, loc.offset)?;
        Ok(buf)
    }

    /// Whether a segment may be compacted: sealed, and no body reserved in it still waits
    /// for its commit.
    pub fn is_sealed_and_idle(&self, number: u64) -> bool {
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.segment.as_ref().is_some_and(|s| s.number == number) || number >= cur.next_number {
            return false;
        }
        drop(cur);
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&number)
            .is_none_or(|s| s.in_flight.load(Ordering::Acquire) == 0)
    }

    /// (number, length in bytes) of every segment file.
    pub fn segments(&self) -> io::Result<Vec<(u64, u64)>> {
        list_segments(&self.dir)
    }

    /// Deletes a segment nothing refers to any more. Readers holding it finish their read.
    pub fn remove_segment(&self, number: u64) -> io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(&number);
        match fs::remove_file(self.path(number)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn list_segments(dir: &Path) -> io::Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            out.push((n, entry.metadata()?.len()));
        }
    }
    out.sort_unstable();
    Ok(out)
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
    fn bodies_share_a_segment_and_a_new_open_starts_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let bodies = Bodies::open(dir.path().join("bodies")).unwrap();
        let a = bodies.prepare(b"Subject: a\r\n\r\none\r\n").unwrap();
        let b = bodies.prepare(b"Subject: b\r\n\r\ntwo\r\n").unwrap();
        assert_eq!(a.loc.segment, b.loc.segment);
        assert_eq!(b.loc.offset, a.loc.len);
        assert!(!bodies.is_sealed_and_idle(a.loc.segment));
        bodies.make_durable(&[&a, &b]).unwrap();
        assert_eq!(bodies.read(&b.loc).unwrap(), b"Subject: b\r\n\r\ntwo\r\n");
        let first = a.loc.segment;
        drop((a, b));
        drop(bodies);
        let bodies = Bodies::open(dir.path().join("bodies")).unwrap();
        let c = bodies.prepare(b"c").unwrap();
        assert_eq!(c.loc.segment, first + 1);
        assert!(bodies.is_sealed_and_idle(first));
        bodies.remove_segment(first).unwrap();
        let gone = bodies
            .read(&BodyLoc {
                segment: first,
                offset: 0,
                len: 1,
            })
            .unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }
}
