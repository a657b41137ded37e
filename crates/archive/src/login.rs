//! Login → mailbox. Today the login is the mailbox address; master and slave user ids
//! (PROVISIONING.md §4) will be added here, in this one place (ARCHITECTURE.md §5).

use std::net::IpAddr;

use pecd_common::address::Address;
use pecd_common::password;
use pecd_common::throttle::{
    login_key, Blocked, LoginKey, LoginThrottle, Scope, MAX_LOGIN_KEY_BYTES,
};
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
    /// Too many recent failures for this login or from this address: refused without
    /// checking the password. Services answer it exactly like [`AuthError::Invalid`].
    Throttled,
}

fn verifications() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

/// Checks `login` and `secret` for a client at `peer`, under the brute-force protection of
/// `throttle` (PROVISIONING.md §7): a blocked login or address is refused before any work,
/// and again after waiting for an argon2 slot, so queued guesses of a just-blocked attacker
/// give their turn to honest logins instead of spending it. Failures are counted here;
/// success and expiry are not failures. The login is counted under one key, that of the
/// mailbox it names however it is padded or cased ([`login_key`]), for the checks and the
/// failure alike.
pub async fn authenticate(
    store: &Store,
    throttle: &LoginThrottle,
    peer: IpAddr,
    login: &str,
    secret: String,
) -> Result<Mailbox, AuthError> {
    let key = login_key(login);
    throttle
        .check(peer, &key)
        .map_err(|by| refused(&key, peer, by))?;
    let result = verify(store, throttle, peer, login, &key, secret).await;
    if result == Err(AuthError::Invalid) {
        log_block(&key, peer, throttle.failed(peer, &key));
    }
    result
}

/// A PLAIN response whose authorization identity names another mailbox than its login:
/// refused without checking the password. Answers [`AuthError::Throttled`] when the login or
/// the address is blocked (so the reply is that of any blocked attempt), else counts a
/// failure against the client's address only, never against the login it named (a blocked
/// client could otherwise keep any holder locked out at no cost), and answers
/// [`AuthError::Invalid`].
pub fn refuse_authorization(throttle: &LoginThrottle, peer: IpAddr, login: &str) -> AuthError {
    let key = login_key(login);
    if let Err(by) = throttle.check(peer, &key) {
        return refused(&key, peer, by);
    }
    log_block(&key, peer, throttle.failed_from(peer));
    AuthError::Invalid
}

fn refused(key: &LoginKey, peer: IpAddr, by: Blocked) -> AuthError {
    tracing::debug!(login = ?key, ip = %peer, scope = ?by.scope, "login refused without checking the password");
    AuthError::Throttled
}

fn log_block(key: &LoginKey, peer: IpAddr, block: Option<Blocked>) {
    if let Some(block) = block {
        tracing::warn!(
            login = ?key,
            ip = %peer,
            by = match block.scope { Scope::Login => "login", Scope::Ip => "address" },
            seconds = block.retry_after.as_secs(),
            "repeated failed logins: further attempts refused without checking the password until the window ends"
        );
    }
}

async fn verify(
    store: &Store,
    throttle: &LoginThrottle,
    peer: IpAddr,
    login: &str,
    key: &LoginKey,
    secret: String,
) -> Result<Mailbox, AuthError> {
    // No mailbox has a longer address, so there is nothing to hide by spending argon2 on it.
    if login.len() > MAX_LOGIN_KEY_BYTES {
        return Err(AuthError::Invalid);
    }
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
    // argon2id takes ~19 MiB and tens of milliseconds per verification: at most one per core
    // runs at a time, so a burst of logins queues instead of spreading 19 MiB working sets
    // over hundreds of blocking threads (and the memory those threads' allocators keep).
    let _permit = verifications()
        .acquire()
        .await
        .map_err(|_| AuthError::Unavailable)?;
    if throttle.check(peer, key).is_err() {
        return Err(AuthError::Throttled);
    }
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
