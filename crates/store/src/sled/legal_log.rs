//! The legal transaction log (PEC.md §10.5): records keyed by time, searched and pruned.

use super::codec::*;
use super::SledStore;
use crate::pec::*;
use crate::types::*;

impl SledStore {
    /// Records of the legal log matching `q`, oldest first.
    pub fn log_search(&self, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let start = log_time_key(q.since.unwrap_or(i64::MIN));
        let mut out = Vec::new();
        for item in self.pec_log.range(start.to_vec()..) {
            let (_, v) = item.map_err(sled_err)?;
            let r: LogRecord = dec(&v)?;
            if q.until.is_some_and(|u| r.time >= u) {
                break;
            }
            if q.matches(&r) {
                out.push(r);
                if q.limit > 0 && out.len() >= q.limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub(super) fn log_lines(&self, log: &[LogRecord]) -> Result<Vec<LogLine>, StoreError> {
        let mut lines = Vec::with_capacity(log.len());
        for r in log {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&log_time_key(r.time));
            key[8..].copy_from_slice(&self.db.generate_id().map_err(sled_err)?.to_be_bytes());
            lines.push((key, enc(r)));
        }
        Ok(lines)
    }

    /// Removes log records older than `before` (Unix seconds); the only deletion the log
    /// knows, run for the 30-month retention (PEC.md §10.5). Returns how many went.
    pub fn prune_log(&self, before: i64) -> Result<usize, StoreError> {
        let end = log_time_key(before);
        let keys: Vec<_> = self
            .pec_log
            .range(..end.to_vec())
            .keys()
            .collect::<Result<_, _>>()
            .map_err(sled_err)?;
        for k in &keys {
            self.pec_log.remove(k).map_err(sled_err)?;
        }
        if !keys.is_empty() {
            self.sync()?;
        }
        Ok(keys.len())
    }
}
