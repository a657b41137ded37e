//! PEC traces (PEC.md §6.6): per-message recipient state, and the traces still waiting for
//! another provider.

use super::codec::*;
use super::SledStore;
use crate::pec::*;
use crate::types::*;

impl SledStore {
    pub fn trace(&self, pec_id: &str) -> Result<Option<TraceRecord>, StoreError> {
        match self.pec_trace.get(pec_id.as_bytes()).map_err(sled_err)? {
            Some(v) => dec(&v).map(Some),
            None => Ok(None),
        }
    }

    /// PEC msgids whose trace still waits for another provider (PEC.md §6.6).
    pub fn pending(&self) -> Result<Vec<String>, StoreError> {
        self.pec_pending
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k.map_err(sled_err)?).into_owned()))
            .collect()
    }
}
