//! The previous body layout, read only to migrate it: one file per body,
//! `bodies/<first byte of the id, hex>/<id, 32 hex digits>`, with `<id>.tmp` files left by
//! interrupted writes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::BlobId;

pub fn hex(id: &BlobId) -> String {
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

/// The legacy shard directories under `root` (empty when there are none).
pub fn shard_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_shard = name
            .to_str()
            .is_some_and(|n| n.len() == 2 && u8::from_str_radix(n, 16).is_ok());
        if is_shard && entry.file_type()?.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Every file of a shard directory, with the body id its name gives (`None`: a temporary
/// or foreign file).
pub fn files(shard: &Path) -> io::Result<Vec<(PathBuf, Option<BlobId>)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(shard)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let id = entry.file_name().to_str().and_then(unhex);
            out.push((entry.path(), id));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let id = *uuid::Uuid::new_v4().as_bytes();
        assert_eq!(unhex(&hex(&id)), Some(id));
        assert_eq!(unhex("zz"), None);
    }
}
