//! Saving a [`Casella`] with its secondary indexes, in one transaction: by master user id
//! (`casella_userid`: user id -> address), by account (`casella_account`: account ‖ 0 ‖
//! address) and by activation time (`casella_activated`: time ‖ address). Every write of a
//! casella goes through [`save`], so the indexes never disagree with the records.

use pecd_store::RecordTx;

use crate::error::Result;
use crate::model::Casella;
use crate::records::{self, pair_key, Record};

pub const BY_USERID: &str = "casella_userid";
pub const BY_ACCOUNT: &str = "casella_account";
pub const BY_ACTIVATION: &str = "casella_activated";

/// Counter raised whenever the set of casella addresses changes (one made, renamed or
/// removed): what an in-memory copy of the addresses is checked against
/// ([`crate::Archive::casella_addresses`]).
pub const ADDRESSES_GENERATION: &str = "casella_addresses";

/// The key of `casella_activated` for a time.
pub fn activation_key(at: i64, address: &str) -> Vec<u8> {
    let mut k = ((at as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    k.extend_from_slice(address.as_bytes());
    k
}

fn index_keys(c: &Casella) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(u) = &c.userid {
        out.push((
            BY_USERID,
            u.as_bytes().to_vec(),
            c.address.as_bytes().to_vec(),
        ));
    }
    if let Some(a) = &c.account {
        out.push((BY_ACCOUNT, pair_key(a, c.address.as_bytes()), Vec::new()));
    }
    if let Some(at) = c.activated_at {
        out.push((BY_ACTIVATION, activation_key(at, &c.address), Vec::new()));
    }
    out
}

/// Writes `casella` (replacing the record under its address, and the one under
/// `old_address` when the address changed) and brings the indexes in line.
pub fn save(tx: &mut dyn RecordTx, casella: &Casella, old_address: Option<&str>) -> Result<()> {
    let previous_key = old_address.unwrap_or(&casella.address);
    let old = records::get::<Casella>(tx, previous_key.as_bytes())?;
    if old.as_ref().is_none_or(|o| o.address != casella.address) {
        records::next_counter(tx, ADDRESSES_GENERATION)?;
    }
    if let Some(old) = old {
        for (family, key, _) in index_keys(&old) {
            tx.delete(family, &key)?;
        }
        if old.address != casella.address {
            tx.delete(Casella::FAMILY, old.address.as_bytes())?;
        }
    }
    for (family, key, value) in index_keys(casella) {
        tx.put(family, &key, value)?;
    }
    records::put(tx, casella)
}

/// Removes a casella and its index entries.
pub fn remove(tx: &mut dyn RecordTx, address: &str) -> Result<()> {
    if let Some(old) = records::get::<Casella>(tx, address.as_bytes())? {
        records::next_counter(tx, ADDRESSES_GENERATION)?;
        for (family, key, _) in index_keys(&old) {
            tx.delete(family, &key)?;
        }
        tx.delete(Casella::FAMILY, address.as_bytes())?;
    }
    Ok(())
}
