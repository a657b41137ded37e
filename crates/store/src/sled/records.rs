//! The keyed records of [`crate::records`] in one tree, `records`, keyed by the family's name
//! length (one byte), its name, then the record's key, so that a family and any key prefix
//! within it are one prefix scan. A transaction runs inside a commit round, where no other
//! write runs: its reads go to the tree under an overlay of its own writes, and its writes are
//! applied as one sled batch (atomic) before the round's fsync.

use std::collections::BTreeMap;

use super::codec::sled_err;
use super::SledStore;
use crate::records::{check, RecordPair, RecordTx};
use crate::types::StoreError;

fn tree_key(family: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + family.len() + key.len());
    k.push(family.len() as u8);
    k.extend_from_slice(family.as_bytes());
    k.extend_from_slice(key);
    k
}

struct Overlay<'a> {
    tree: &'a sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl RecordTx for Overlay<'_> {
    fn get(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        check(family, key)?;
        let k = tree_key(family, key);
        if let Some(w) = self.writes.get(&k) {
            return Ok(w.clone());
        }
        Ok(self.tree.get(&k).map_err(sled_err)?.map(|v| v.to_vec()))
    }

    fn scan(&self, family: &str, prefix: &[u8]) -> Result<Vec<RecordPair>, StoreError> {
        check(family, prefix)?;
        let start = tree_key(family, prefix);
        let skip = 1 + family.len();
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for item in self.tree.scan_prefix(&start) {
            let (k, v) = item.map_err(sled_err)?;
            merged.insert(k.to_vec(), v.to_vec());
        }
        for (k, w) in self.writes.range(start.clone()..) {
            if !k.starts_with(&start) {
                break;
            }
            match w {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged
            .into_iter()
            .map(|(k, v)| (k[skip..].to_vec(), v))
            .collect())
    }

    fn put(&mut self, family: &str, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        check(family, key)?;
        self.writes.insert(tree_key(family, key), Some(value));
        Ok(())
    }

    fn delete(&mut self, family: &str, key: &[u8]) -> Result<(), StoreError> {
        check(family, key)?;
        self.writes.insert(tree_key(family, key), None);
        Ok(())
    }
}

impl SledStore {
    pub fn record(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        check(family, key)?;
        Ok(self
            .records
            .get(tree_key(family, key))
            .map_err(sled_err)?
            .map(|v| v.to_vec()))
    }

    /// Pairs of `family` whose key starts with `prefix`, in key order, at most `limit`.
    pub fn scan_records(
        &self,
        family: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<RecordPair>, StoreError> {
        check(family, prefix)?;
        let skip = 1 + family.len();
        let mut out = Vec::new();
        for item in self.records.scan_prefix(tree_key(family, prefix)) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(sled_err)?;
            out.push((k[skip..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Pairs of `family` with keys from `from` (included) to `to` (excluded; `None`: the
    /// family's end), at most `limit`, in key order or, with `newest_first`, from the end.
    pub fn scan_record_range(
        &self,
        family: &str,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<RecordPair>, StoreError> {
        check(family, from)?;
        let skip = 1 + family.len();
        let start = tree_key(family, from);
        let end = match to {
            Some(to) => {
                check(family, to)?;
                tree_key(family, to)
            }
            // Past every key of the family: its prefix with the last byte raised (family
            // names are non-empty, and checked to be short text, so that byte is below 0xff).
            None => {
                let mut end = tree_key(family, b"");
                let last = end.len() - 1;
                end[last] = end[last].saturating_add(1);
                end
            }
        };
        let range = self.records.range(start..end);
        let items: Box<dyn Iterator<Item = _>> = if newest_first {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut out = Vec::new();
        for item in items.take(limit) {
            let (k, v) = item.map_err(sled_err)?;
            out.push((k[skip..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Keys of `family` whose key starts with `prefix`, in key order (no value is copied).
    pub fn record_keys(&self, family: &str, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        check(family, prefix)?;
        let skip = 1 + family.len();
        self.records
            .scan_prefix(tree_key(family, prefix))
            .keys()
            .map(|k| k.map(|k| k[skip..].to_vec()).map_err(sled_err))
            .collect()
    }

    /// Runs `f` in a commit round and applies its writes atomically when it returns `Ok`;
    /// returns once they are durable.
    pub fn records_transaction<T, E>(
        &self,
        f: impl FnOnce(&mut dyn RecordTx) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, StoreError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        self.commit(Vec::new(), move |s| {
            let mut overlay = Overlay {
                tree: &s.records,
                writes: BTreeMap::new(),
            };
            let out = f(&mut overlay);
            if out.is_ok() && !overlay.writes.is_empty() {
                let mut batch = sled::Batch::default();
                for (k, w) in overlay.writes {
                    match w {
                        Some(v) => batch.insert(k, v),
                        None => batch.remove(k),
                    }
                }
                s.records.apply_batch(batch).map_err(sled_err)?;
            }
            Ok(out)
        })
    }
}
