//! Login → mailbox. Today the login is the mailbox address; master and slave user ids
//! (PROVISIONING.md §4) will be added here, in this one place (ARCHITECTURE.md §5).

use std::num::NonZeroU32;
use std::time::Duration;

use pecd_common::address::Address;
use pecd_common::password;
use pecd_limiter::SenderLimiter;
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

fn verifications() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
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
    // argon2id takes ~19 MiB and tens of milliseconds per verification: at most one per core
    // runs at a time, so a burst of logins queues instead of spreading 19 MiB working sets
    // over hundreds of blocking threads (and the memory those threads' allocators keep).
    let _permit = verifications()
        .acquire()
        .await
        .map_err(|_| AuthError::Unavailable)?;
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

/// Longest a failed login's reply is held back.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// Slows repeated failed logins per client address and per login name (PROVISIONING.md §7):
/// after `per_minute` failures the next failure's reply waits, up to 10 s. Successful logins
/// are never delayed or counted, so the holder is never locked out.
pub struct Throttle {
    failures: SenderLimiter,
    per_minute: NonZeroU32,
}

impl Throttle {
    pub fn new(per_minute: u32) -> Throttle {
        Throttle {
            failures: SenderLimiter::new(),
            per_minute: NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
        }
    }

    /// Records a failure and returns how long to hold back the reply.
    pub fn failed(&self, ip: std::net::IpAddr, login: &str) -> Option<Duration> {
        let waits = [
            self.failures.check(&format!("ip {ip}"), self.per_minute),
            self.failures.check(
                &format!("login {}", login.to_ascii_lowercase()),
                self.per_minute,
            ),
        ];
        waits
            .iter()
            .filter_map(|w| w.err())
            .map(|o| o.retry_after.min(MAX_DELAY))
            .max()
    }
}
