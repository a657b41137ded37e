//! The system-assigned user id of a slave (PROVISIONING.md §4 multi-user; the rule is a pecd
//! decision): the master's user id, or the address's local part when the mailbox has none,
//! then `.` and a two-digit sequence per mailbox (`abc0000001.01`, `mario.02`), skipping any
//! user id already taken by a master, a slave or an operator.

use pecd_store::RecordTx;

use crate::caselle::BY_USERID;
use crate::error::Result;
use crate::login::principal::Slave;
use crate::model::Operator;
use crate::records::{self, Record};

/// Longest base kept, so that base, dot and sequence stay within a user id's 64 characters.
const MAX_BASE: usize = 58;

/// The base of a mailbox's slave user ids: its master user id, else the local part of its
/// address with every character a user id may not hold made `-`.
pub fn base(master_userid: Option<&str>, address: &str) -> String {
    let raw = match master_userid {
        Some(u) => u.to_string(),
        None => address
            .rsplit_once('@')
            .map_or(address, |(l, _)| l)
            .to_string(),
    };
    let mut base: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    base.truncate(MAX_BASE);
    base
}

/// `base.NN` for sequence `n` (two digits at least).
pub fn compose(base: &str, n: u64) -> String {
    format!("{base}.{n:02}")
}

/// Whether `userid` is taken by a master, a slave or an operator.
pub fn taken(tx: &dyn RecordTx, userid: &str) -> Result<bool> {
    Ok(tx.get(BY_USERID, userid.as_bytes())?.is_some()
        || tx.get(Slave::FAMILY, userid.as_bytes())?.is_some()
        || tx.get(Operator::FAMILY, userid.as_bytes())?.is_some())
}

/// The next free slave user id of the mailbox `address`, inside the transaction that
/// creates the slave.
pub fn assign(tx: &mut dyn RecordTx, base: &str, address: &str) -> Result<String> {
    let counter = format!("slave:{address}");
    loop {
        let userid = compose(base, records::next_counter(tx, &counter)?);
        if !taken(tx, &userid)? {
            return Ok(userid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_the_master_userid_or_the_local_part_made_a_valid_userid() {
        assert_eq!(base(Some("ABC0000001"), "mario@pec.it"), "abc0000001");
        assert_eq!(base(None, "Mario.Rossi@pec.it"), "mario.rossi");
        assert_eq!(base(None, "a+b=c@pec.it"), "a-b-c");
        assert_eq!(base(None, &format!("{}@pec.it", "x".repeat(64))).len(), 58);
        assert_eq!(compose("mario", 1), "mario.01");
        assert_eq!(compose("mario", 100), "mario.100");
        assert!(crate::operators::userid_key(&compose(&"x".repeat(58), 999)).is_ok());
    }
}
