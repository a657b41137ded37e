//! The sled backend's on-disk encoding: record values (a format byte, then postcard) and
//! the big-endian keys that make prefix and range scans return records in order. Changing
//! anything here changes the format of existing stores.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::types::*;

const FORMAT: u8 = 1;

pub(super) fn enc<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT];
    out.extend(postcard::to_allocvec(value).expect("store records always serialize"));
    out
}

pub(super) fn dec<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => {
            postcard::from_bytes(rest).map_err(|e| StoreError::Corrupt(e.to_string()))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown record format {v}"))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
}

pub(super) fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(super) fn msg_key(folder: FolderId, uid: Uid) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&folder.to_be_bytes());
    k[8..].copy_from_slice(&uid.to_be_bytes());
    k
}

pub(super) fn change_key(mailbox: MailboxId, modseq: ModSeq) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mailbox.to_be_bytes());
    k[8..].copy_from_slice(&modseq.to_be_bytes());
    k
}

pub(super) fn name_key(mailbox: MailboxId, name: &str) -> Vec<u8> {
    let mut k = mailbox.to_be_bytes().to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

pub(super) fn id_from(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("bad id".into()))
}

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

pub(super) fn finish<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Io(e.to_string()),
    })
}

/// A legal log record ready to insert: key (time ‖ id) and encoded value.
pub(super) type LogLine = ([u8; 16], Vec<u8>);

/// Log keys start with the time, sign bit flipped so that byte order is time order.
pub(super) fn log_time_key(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// An idempotency key's place in the expiry order: the time it expires, then the key.
pub(super) fn dedup_age_key(t: i64, key: &[u8]) -> Vec<u8> {
    let mut k = log_time_key(t).to_vec();
    k.extend_from_slice(key);
    k
}

pub(super) fn sled_err(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}
