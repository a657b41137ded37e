//! Last access per login identity (PROVISIONING.md §7): every successful SMTP, IMAP or POP3
//! login notes its time here, in memory (a map insert, no store write on the login's path);
//! the job runner (every `[lifecycle] interval_seconds`, and `pecctl jobs run`) writes the
//! noted times to the identities' `principal` records in a few batched transactions, so a
//! user id polling every minute costs at most one record write a minute. Readers in the same
//! process see the noted time at once ([`AccessLog::latest`]); a crash loses at most the
//! times noted since the last flush.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use pecd_store::Store;

use super::principal::PrincipalInfo;
use crate::error::Result;
use crate::records;

/// Identities written per transaction when flushing.
const BATCH: usize = 5_000;

/// Times noted since the last flush, by identity.
#[derive(Default)]
pub struct AccessLog {
    pending: Mutex<HashMap<String, i64>>,
}

static LOG: OnceLock<AccessLog> = OnceLock::new();

/// The process's access log.
pub fn log() -> &'static AccessLog {
    LOG.get_or_init(AccessLog::default)
}

impl AccessLog {
    /// Notes a login of `identity` at `at` (Unix seconds on the engine's clock).
    pub fn note(&self, identity: &str, at: i64) {
        let mut pending = self.lock();
        match pending.get_mut(identity) {
            Some(t) => *t = (*t).max(at),
            None => {
                pending.insert(identity.to_string(), at);
            }
        }
    }

    /// The time noted for `identity` and not yet written, if any.
    pub fn latest(&self, identity: &str) -> Option<i64> {
        self.lock().get(identity).copied()
    }

    /// Identities noted and not yet written.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every noted time to its `principal` record (never moving a last access back)
    /// and forgets it; a batch that fails is noted again for the next flush. Returns how
    /// many identities were written.
    pub async fn flush(&self, store: &Store) -> Result<usize> {
        let taken: Vec<(String, i64)> = std::mem::take(&mut *self.lock()).into_iter().collect();
        let mut written = 0;
        let mut failure = None;
        for batch in taken.chunks(BATCH) {
            if failure.is_some() {
                self.renote(batch);
                continue;
            }
            let owned = batch.to_vec();
            let result = store
                .records_transaction(move |tx| -> Result<()> {
                    for (identity, at) in &owned {
                        let mut info = records::get::<PrincipalInfo>(tx, identity.as_bytes())?
                            .unwrap_or_else(|| PrincipalInfo {
                                identity: identity.clone(),
                                ..PrincipalInfo::default()
                            });
                        if info.last_access.is_none_or(|t| t < *at) {
                            info.last_access = Some(*at);
                            records::put(tx, &info)?;
                        }
                    }
                    Ok(())
                })
                .await;
            match result {
                Ok(Ok(())) => written += batch.len(),
                Ok(Err(e)) => failure = Some(e),
                Err(e) => failure = Some(e.into()),
            }
            if failure.is_some() {
                self.renote(batch);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    fn renote(&self, batch: &[(String, i64)]) {
        for (identity, at) in batch {
            self.note(identity, *at);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The last access of `identity`: the time noted in this process if newer than the stored one.
pub fn last_access(info: Option<&PrincipalInfo>, identity: &str) -> Option<i64> {
    let stored = info.and_then(|i| i.last_access);
    match (stored, log().latest(identity)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn noted_times_are_written_once_per_flush_and_never_move_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let log = AccessLog::default();
        log.note("mario@pec.example.it", 100);
        log.note("mario@pec.example.it", 160);
        log.note("mario@pec.example.it", 130);
        log.note("abc0000001.01", 50);
        assert_eq!(log.latest("mario@pec.example.it"), Some(160));
        assert_eq!(log.len(), 2, "one entry per identity however many logins");
        assert_eq!(log.flush(&store).await.unwrap(), 2);
        assert!(log.is_empty());
        let stored = |id: &'static str| {
            let store = store.clone();
            async move {
                records::load::<PrincipalInfo>(&store, id.as_bytes())
                    .await
                    .unwrap()
                    .unwrap()
                    .last_access
            }
        };
        assert_eq!(stored("mario@pec.example.it").await, Some(160));
        assert_eq!(stored("abc0000001.01").await, Some(50));
        log.note("mario@pec.example.it", 120);
        log.flush(&store).await.unwrap();
        assert_eq!(stored("mario@pec.example.it").await, Some(160));
        assert_eq!(log.flush(&store).await.unwrap(), 0, "nothing noted since");
    }
}
