//! How the archive keeps its records in the store's keyed records ([`pecd_store::RecordTx`]):
//! one family per record type, values in JSON (records gain fields with `#[serde(default)]`,
//! so stores written by an older pecd still read), keys chosen for the scans the archive
//! makes. Secondary indexes are families of `key -> empty` pairs written in the same
//! transaction as their record.

use pecd_store::{RecordTx, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ArchiveError, ErrorKind, Result};

/// A record type of the archive.
pub trait Record: Serialize + DeserializeOwned {
    const FAMILY: &'static str;
    fn key(&self) -> Vec<u8>;
}

/// Separator inside composite keys (never part of a code, address or user id).
pub const SEP: u8 = 0;

/// `a ‖ 0 ‖ b`: a composite key whose prefix `a ‖ 0` scans every `b` of `a`.
pub fn pair_key(a: &str, b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + 1 + b.len());
    k.extend_from_slice(a.as_bytes());
    k.push(SEP);
    k.extend_from_slice(b);
    k
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("archive records always serialize")
}

pub fn decode<T: DeserializeOwned>(family: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        tracing::error!(family, error = %e, "unreadable archive record");
        ArchiveError::new(ErrorKind::Internal, "internal error; see the server log")
    })
}

pub fn get<T: Record>(tx: &dyn RecordTx, key: &[u8]) -> Result<Option<T>> {
    match tx.get(T::FAMILY, key)? {
        Some(v) => decode(T::FAMILY, &v).map(Some),
        None => Ok(None),
    }
}

pub fn put<T: Record>(tx: &mut dyn RecordTx, record: &T) -> Result<()> {
    tx.put(T::FAMILY, &record.key(), encode(record))?;
    Ok(())
}

pub fn scan<T: Record>(tx: &dyn RecordTx, prefix: &[u8]) -> Result<Vec<T>> {
    tx.scan(T::FAMILY, prefix)?
        .iter()
        .map(|(_, v)| decode(T::FAMILY, v))
        .collect()
}

/// Reads one record outside a transaction.
pub async fn load<T: Record>(store: &Store, key: &[u8]) -> Result<Option<T>> {
    match store.record(T::FAMILY, key).await? {
        Some(v) => decode(T::FAMILY, &v).map(Some),
        None => Ok(None),
    }
}

/// Reads the records whose key starts with `prefix`, at most `limit`, outside a transaction.
pub async fn load_all<T: Record>(store: &Store, prefix: &[u8], limit: usize) -> Result<Vec<T>> {
    store
        .scan_records(T::FAMILY, prefix, limit)
        .await?
        .iter()
        .map(|(_, v)| decode(T::FAMILY, v))
        .collect()
}

/// The next value of a named counter (1, 2, ...), inside the transaction that uses it.
pub fn next_counter(tx: &mut dyn RecordTx, name: &str) -> Result<u64> {
    let current = match tx.get("counter", name.as_bytes())? {
        Some(v) => decode::<u64>("counter", &v)?,
        None => 0,
    };
    let next = current + 1;
    tx.put("counter", name.as_bytes(), encode(&next))?;
    Ok(next)
}

impl Record for crate::model::Operator {
    const FAMILY: &'static str = "operator";
    fn key(&self) -> Vec<u8> {
        self.userid.as_bytes().to_vec()
    }
}

impl Record for crate::model::Customer {
    const FAMILY: &'static str = "customer";
    fn key(&self) -> Vec<u8> {
        self.code.as_bytes().to_vec()
    }
}

impl Record for crate::model::Account {
    const FAMILY: &'static str = "account";
    fn key(&self) -> Vec<u8> {
        self.code.as_bytes().to_vec()
    }
}

impl Record for crate::model::Domain {
    const FAMILY: &'static str = "domain";
    fn key(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }
}

impl Record for crate::model::Casella {
    const FAMILY: &'static str = "casella";
    fn key(&self) -> Vec<u8> {
        self.address.as_bytes().to_vec()
    }
}
