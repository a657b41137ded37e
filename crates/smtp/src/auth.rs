//! Login → mailbox. Today the login is the mailbox address; the provisioning archive will add
//! master and slave user ids here, in this one place (ARCHITECTURE.md §5).

use pecd_common::address::Address;
use pecd_common::password;
use pecd_store::{Mailbox, Store};

/// Passwords older than this are expired (PROVISIONING.md §7).
const PASSWORD_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

/// An argon2id hash of a random password, verified when the login does not exist so that a
/// failure takes as long either way and never reveals whether an address exists.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2yX1y0U0w8s6h5W2m3Vf8qJg2c2b1QJc6xqzq5fV1n8";

#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown login or wrong password: the same answer for both.
    Invalid,
    /// Right password, but older than 12 months.
    Expired,
    /// The store could not be read.
    Unavailable,
}

pub async fn authenticate(
    store: &Store,
    login: &str,
    secret: String,
) -> Result<Mailbox, AuthError> {
    let mailbox = match Address::parse(login) {
        Ok(address) => store
            .find_mailbox(address.as_str())
            .await
            .map_err(|_| AuthError::Unavailable)?,
        Err(_) => None,
    };
    let hash = mailbox
        .as_ref()
        .map_or(DUMMY_HASH.to_string(), |m| m.password_hash.clone());
    let matches = tokio::task::spawn_blocking(move || password::verify(&secret, &hash))
        .await
        .map_err(|_| AuthError::Unavailable)?;
    match mailbox {
        Some(m) if matches => {
            if chrono::Utc::now().timestamp() - m.password_changed_at > PASSWORD_LIFETIME_SECONDS {
                Err(AuthError::Expired)
            } else {
                Ok(m)
            }
        }
        _ => Err(AuthError::Invalid),
    }
}
