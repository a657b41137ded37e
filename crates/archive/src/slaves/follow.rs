//! What hangs off a mailbox's address besides its casella: its slaves (and their index and
//! pending entries), the security information and last access of the master identity, the
//! revocation forms and the slave-number counter. They follow the mailbox, in the same
//! transaction, when its address changes ([`move_mailbox`]), and go with it when it is
//! deleted ([`forget_mailbox`]): otherwise a slave of an old address would open whatever
//! mailbox later gets that address, and its new holder would inherit the old recovery data.

use pecd_store::RecordTx;

use super::slaves_of;
use crate::error::Result;
use crate::login::principal::{PrincipalInfo, Slave, SLAVE_BY_MAILBOX, SLAVE_PENDING};
use crate::records::{self, pair_key, Record};

/// Families keyed by `address ‖ 0 ‖ ...` that belong to the mailbox.
const BY_ADDRESS_PREFIX: [&str; 1] = ["casella_form"];

fn counter(address: &str) -> String {
    format!("slave:{address}")
}

/// Moves everything of `old` to `new` (a `mailbox change --new-address`).
pub fn move_mailbox(tx: &mut dyn RecordTx, old: &str, new: &str) -> Result<()> {
    for mut s in slaves_of(tx, old)? {
        tx.delete(SLAVE_BY_MAILBOX, &s.mailbox_key())?;
        s.mailbox = new.to_string();
        tx.put(SLAVE_BY_MAILBOX, &s.mailbox_key(), Vec::new())?;
        records::put(tx, &s)?;
    }
    if let Some(mut info) = records::get::<PrincipalInfo>(tx, old.as_bytes())? {
        tx.delete(PrincipalInfo::FAMILY, old.as_bytes())?;
        info.identity = new.to_string();
        records::put(tx, &info)?;
    }
    for family in BY_ADDRESS_PREFIX {
        for (key, value) in tx.scan(family, &pair_key(old, b""))? {
            tx.delete(family, &key)?;
            let rest = &key[old.len() + 1..];
            tx.put(family, &pair_key(new, rest), value)?;
        }
    }
    if let Some(v) = tx.get("counter", counter(old).as_bytes())? {
        tx.delete("counter", counter(old).as_bytes())?;
        tx.put("counter", counter(new).as_bytes(), v)?;
    }
    Ok(())
}

/// Removes everything of `address` (a `mailbox delete`): its slaves can no longer log in.
pub fn forget_mailbox(tx: &mut dyn RecordTx, address: &str) -> Result<()> {
    for s in slaves_of(tx, address)? {
        tx.delete(SLAVE_BY_MAILBOX, &s.mailbox_key())?;
        tx.delete(SLAVE_PENDING, s.userid.as_bytes())?;
        tx.delete(PrincipalInfo::FAMILY, s.userid.as_bytes())?;
        tx.delete(Slave::FAMILY, s.userid.as_bytes())?;
    }
    tx.delete(PrincipalInfo::FAMILY, address.as_bytes())?;
    for family in BY_ADDRESS_PREFIX {
        for (key, _) in tx.scan(family, &pair_key(address, b""))? {
            tx.delete(family, &key)?;
        }
    }
    tx.delete("counter", counter(address).as_bytes())?;
    Ok(())
}
