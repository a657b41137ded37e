//! Login → mailbox. Today the login is the mailbox address; master and slave user ids
//! (PROVISIONING.md §4) will be added here, in this one place (ARCHITECTURE.md §5).
//!
//! A login whose password argon2 has accepted lately is answered from the process's
//! [`LoginCache`] (`[auth] cache_seconds`), judged against the mailbox as it is now, so that
//! a password change, a deletion or an expiry takes effect at the next login.

mod cache;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::OnceLock;

use pecd_common::address::Address;
use pecd_common::config::Auth;
use pecd_common::password;
use pecd_common::throttle::{
    login_key, Blocked, LoginKey, LoginThrottle, Scope, MAX_LOGIN_KEY_BYTES,
};
use pecd_store::{Mailbox, MailboxState, Store};

pub use cache::{LoginCache, PairKey, Verified};

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

static CACHE: OnceLock<LoginCache> = OnceLock::new();

/// Sets the process's login cache from `[auth]`. Call it once at start, before any login;
/// returns false (and changes nothing) when the cache was already made, with the defaults.
pub fn configure_cache(auth: &Auth) -> bool {
    CACHE.set(LoginCache::from_config(auth)).is_ok()
}

/// The process's login cache: one per process, as the throttle is one for all services.
pub fn cache() -> &'static LoginCache {
    CACHE.get_or_init(|| LoginCache::from_config(&Auth::default()))
}

/// Checks `login` and `secret` for a client at `peer`, under the brute-force protection of
/// `throttle` (PROVISIONING.md §7): a blocked login or address is refused before any work,
/// the login cache included, and again after waiting for an argon2 slot, so queued guesses
/// of a just-blocked attacker give their turn to honest logins instead of spending it.
/// Failures are counted here; success and expiry are not failures. The login is counted
/// under one key, that of the mailbox it names however it is padded or cased
/// ([`login_key`]), for the checks and the failure alike.
pub async fn authenticate(
    store: &Store,
    throttle: &LoginThrottle,
    peer: IpAddr,
    login: &str,
    secret: String,
) -> Result<Mailbox, AuthError> {
    let attempt = Attempt {
        store,
        throttle,
        peer,
        now: chrono::Utc::now().timestamp(),
    };
    attempt.authenticate(cache(), login, secret).await
}

/// One login attempt's surroundings.
struct Attempt<'a> {
    store: &'a Store,
    throttle: &'a LoginThrottle,
    peer: IpAddr,
    /// Unix seconds the password's age is judged at.
    now: i64,
}

impl Attempt<'_> {
    /// [`authenticate`] with `cache`: a remembered pair that still holds is answered without
    /// argon2; anything else is verified, and only a success is remembered.
    async fn authenticate(
        &self,
        cache: &LoginCache,
        login: &str,
        secret: String,
    ) -> Result<Mailbox, AuthError> {
        let (peer, throttle) = (self.peer, self.throttle);
        let key = login_key(login);
        throttle
            .check(peer, &key)
            .map_err(|by| refused(&key, peer, by))?;
        // Only a login the uncached path would look up (a well-formed address within the
        // length bound) is cached, under that address: any other spelling goes to argon2 and
        // gets its answer there, so both paths always answer alike.
        let address = (login.len() <= MAX_LOGIN_KEY_BYTES)
            .then(|| Address::parse(login).ok())
            .flatten();
        let pair = address
            .as_ref()
            .and_then(|a| cache.key(a.as_str(), &secret));
        if let (Some(pair), Some(address)) = (pair, address.as_ref()) {
            if let Some(answer) = self.recall(cache, address.as_str(), pair).await {
                return answer;
            }
        }
        cache.count_verification();
        let result = self.verify(login, &key, secret).await;
        match (&result, pair) {
            (Ok(m), Some(pair)) => cache.remember(
                pair,
                Verified {
                    mailbox: m.id,
                    password_hash: m.password_hash.clone(),
                },
            ),
            (Err(AuthError::Invalid), _) => log_block(&key, peer, throttle.failed(peer, &key)),
            _ => {}
        }
        result
    }

    /// The answer for a pair `cache` remembers, if it still holds: the login names the same
    /// mailbox, whose password hash is still the one the password was verified against, so
    /// the password would verify again. The mailbox is then judged by [`admit`] as a fresh
    /// verification would be. A pair that no longer holds is forgotten, and `None` sends
    /// the login to argon2 (a store that cannot be read too, which answers it there).
    async fn recall(
        &self,
        cache: &LoginCache,
        address: &str,
        pair: PairKey,
    ) -> Option<Result<Mailbox, AuthError>> {
        let verified = cache.recall(&pair)?;
        let mailbox = self.store.find_mailbox(address).await.ok()?;
        match mailbox {
            Some(m) if m.id == verified.mailbox && m.password_hash == verified.password_hash => {
                let answer = admit(m, self.now);
                if answer.is_err() {
                    cache.forget(&pair);
                }
                Some(answer)
            }
            _ => {
                cache.forget(&pair);
                None
            }
        }
    }

    /// argon2 against the mailbox's stored hash, or a dummy one when there is no mailbox.
    async fn verify(
        &self,
        login: &str,
        key: &LoginKey,
        secret: String,
    ) -> Result<Mailbox, AuthError> {
        let (store, throttle, peer) = (self.store, self.throttle, self.peer);
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
            Some(m) if matches => admit(m, self.now),
            _ => Err(AuthError::Invalid),
        }
    }
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

/// Whether a mailbox whose password has just been proven may log in at `now`: the one rule
/// for verified and remembered passwords alike.
fn admit(mailbox: Mailbox, now: i64) -> Result<Mailbox, AuthError> {
    match mailbox.state {
        // A revoked holder still logs in to read (PROVISIONING.md §4 `revocata`); the
        // services refuse its sending.
        MailboxState::Active | MailboxState::Revoked => {}
    }
    if now - mailbox.password_changed_at > PASSWORD_LIFETIME_SECONDS {
        Err(AuthError::Expired)
    } else {
        Ok(mailbox)
    }
}
