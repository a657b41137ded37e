//! Keyed records for the crates above the store that keep their own typed data (the
//! provisioning archive): families of `key -> value` pairs, read one at a time or by key
//! prefix, and changed only inside [`crate::Store::records_transaction`], which applies all of
//! a transaction's writes or none, durably, before it returns.
//!
//! The store gives the bytes no meaning: the crate that owns a family encodes its values (the
//! archive uses JSON, so that records can gain fields) and chooses keys whose byte order is the
//! order it wants to scan in. A family name is at most [`MAX_FAMILY_LEN`] bytes.
//!
//! Transactions are serialised: one runs at a time, and its reads see every transaction that
//! returned before it began plus its own writes. That is what makes "check, then write" (a
//! unique code, a counter, a state transition) safe without locks in the caller. A PostgreSQL
//! backend gives the same guarantee with a serialisable transaction over one table.

use crate::types::StoreError;

/// Longest family name.
pub const MAX_FAMILY_LEN: usize = 32;

/// Longest key.
pub const MAX_KEY_LEN: usize = 512;

/// One `key -> value` pair of a family.
pub type RecordPair = (Vec<u8>, Vec<u8>);

/// The view of the records inside a transaction.
pub trait RecordTx {
    /// The value under `key`, as this transaction's own writes left it.
    fn get(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every pair of `family` whose key starts with `prefix`, in key order, this
    /// transaction's own writes included.
    fn scan(&self, family: &str, prefix: &[u8]) -> Result<Vec<RecordPair>, StoreError>;
    /// Sets `key` to `value` when the transaction commits.
    fn put(&mut self, family: &str, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
    /// Removes `key` (absent or not) when the transaction commits.
    fn delete(&mut self, family: &str, key: &[u8]) -> Result<(), StoreError>;
}

/// Checks a family name and key before any backend sees them.
pub(crate) fn check(family: &str, key: &[u8]) -> Result<(), StoreError> {
    if family.is_empty()
        || family.len() > MAX_FAMILY_LEN
        || !family.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(StoreError::Invalid(format!("record family {family:?}")));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::Invalid(format!(
            "record key of {} bytes in {family}",
            key.len()
        )));
    }
    Ok(())
}
