//! Keyed records of the crates above the store (see [`crate::records`]).

use super::blocking;
use crate::records::{RecordPair, RecordTx};
use crate::types::StoreError;
use crate::{Backend, Store};

impl Store {
    /// The value under `key` in `family`.
    pub async fn record(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (family, key) = (family.to_string(), key.to_vec());
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.record(&family, &key)).await,
        }
    }

    /// Pairs of `family` whose key starts with `prefix`, in key order, at most `limit`.
    pub async fn scan_records(
        &self,
        family: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<RecordPair>, StoreError> {
        let (family, prefix) = (family.to_string(), prefix.to_vec());
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.scan_records(&family, &prefix, limit)).await,
        }
    }

    /// Pairs of `family` with keys from `from` (included) to `to` (excluded; `None`: the
    /// family's end), at most `limit`, in key order or, with `newest_first`, backwards from
    /// the end: the newest entries of a family keyed by time.
    pub async fn scan_record_range(
        &self,
        family: &str,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<RecordPair>, StoreError> {
        let (family, from, to) = (family.to_string(), from.to_vec(), to.map(<[u8]>::to_vec));
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| {
                    s.scan_record_range(&family, &from, to.as_deref(), limit, newest_first)
                })
                .await
            }
        }
    }

    /// Keys of `family` that start with `prefix`, in key order, without their values.
    pub async fn record_keys(
        &self,
        family: &str,
        prefix: &[u8],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let (family, prefix) = (family.to_string(), prefix.to_vec());
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.record_keys(&family, &prefix)).await,
        }
    }

    /// Runs `f` as one serialised transaction over the records: its writes are applied all
    /// together, and are durable, when it returns `Ok`; none is applied when it returns
    /// `Err`, which comes back as `Ok(Err(..))`. A store failure is the outer error.
    pub async fn records_transaction<T, E>(
        &self,
        f: impl FnOnce(&mut dyn RecordTx) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, StoreError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.records_transaction(f)).await,
        }
    }
}
