//! Login → principal → mailbox, in this one place for SMTP, IMAP and POP3 (ARCHITECTURE.md
//! §5; PROVISIONING.md §4 multi-user, §7). A login is the mailbox address or its master user
//! id (the master, whose password is the store mailbox's), or a slave user id (its own
//! password), which opens the master's mailbox: [`lookup`]. Each identity's password expires
//! on its own ([`expiry`], on the engine's clock) and its last access is noted ([`access`]).
//!
//! A login whose password argon2 has accepted lately is answered from the process's
//! [`LoginCache`] (`[auth] cache_seconds`), judged against the principal as it is now, so
//! that a password change, a deletion, a slave's state or an expiry takes effect at the next
//! login.

pub mod access;
mod cache;
pub mod expiry;
pub mod lookup;
pub mod principal;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use pecd_common::config::{Auth, Config};
use pecd_common::password;
use pecd_common::throttle::{login_key, Blocked, LoginKey, LoginThrottle, Scope};
use pecd_store::{Mailbox, MailboxState, Store};

pub use cache::{LoginCache, PairKey, Verified};
use lookup::{Candidate, LoginName};

/// An argon2id hash of a random password, verified when the login does not exist so that a
/// failure takes as long either way and never reveals whether an address exists.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2yX1y0U0w8s6h5W2m3Vf8qJg2c2b1QJc6xqzq5fV1n8";

#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown login, wrong password, or a slave that may not log in now
    /// (`in attivazione`, `disattivata`): the same answer for all.
    Invalid,
    /// Right password, but expired (PROVISIONING.md §7): [`expired_text`] says where to
    /// change it.
    Expired,
    /// The store could not be read.
    Unavailable,
    /// Too many recent failures for this login or from this address: refused without
    /// checking the password. Services answer it exactly like [`AuthError::Invalid`].
    Throttled,
    /// Right password, but the mailbox may not be used now (the migration window,
    /// [`crate::migration_window`]); the text says why and until when.
    Closed(String),
}

/// Who logged in, and the mailbox it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The mailbox opened: the master's, for a slave too. Its address is the sender.
    pub mailbox: Mailbox,
    /// The user id logged in with; `None` when the login was the mailbox address.
    pub userid: Option<String>,
    pub slave: bool,
    /// The master's address or the slave's user id: the key of its last access and
    /// security information.
    pub identity: String,
    /// SHA-256 of the password hash in force: a session opened with this principal ends
    /// when it changes (a password set by someone else, a mailbox made again).
    pub password_stamp: [u8; 32],
}

/// The text of a refusal for an expired password: what happened and where to change it
/// (`[auth] self_service_url`).
pub fn expired_text(config: &Config) -> String {
    format!(
        "Password scaduta: cambiala su {} (password expired: change it there, then retry)",
        config.auth.self_service_url
    )
}

/// At most one argon2 run per core at a time, for every login of the process (mail, holders,
/// operators) and the operators' password hashing.
pub(crate) fn verifications() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Semaphore::new(cores))
    })
}

/// Runs `work` (argon2) on the blocking pool holding `permit` until it ends. The permit goes
/// with the work, not with the caller: a caller that stops waiting (a client that resets its
/// request) must not free the permit while argon2 still runs, or resetting requests would
/// start argon2 runs without bound. `None` when the work panicked.
pub(crate) async fn on_permit<T: Send + 'static>(
    permit: OwnedSemaphorePermit,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::task::spawn_blocking(move || {
        let _held = permit;
        work()
    })
    .await
    .ok()
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
/// under one key, the login as typed however it is padded or cased ([`login_key`]), for
/// the checks and the failure alike. Expiry is judged on the engine's clock
/// (`pec.clock_offset_seconds`); a success notes the identity's last access.
pub async fn authenticate(
    store: &Store,
    throttle: &LoginThrottle,
    config: &Config,
    peer: IpAddr,
    login: &str,
    secret: String,
) -> Result<Principal, AuthError> {
    let attempt = Attempt::new(store, throttle, config, peer);
    let result = match attempt.authenticate(cache(), login, secret).await {
        Ok(p) => window(store, config, &p, attempt.now).await.map(|()| p),
        Err(e) => Err(e),
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(AuthError::Invalid) => "failed",
        Err(AuthError::Expired) => "expired",
        Err(AuthError::Throttled) => "throttled",
        Err(AuthError::Unavailable) => "unavailable",
        Err(AuthError::Closed(_)) => "closed",
    };
    let m = pecd_common::metrics::metrics();
    pecd_common::metrics::count(&m.logins, "result", outcome);
    let principal = result?;
    access::log().note(&principal.identity, attempt.now);
    Ok(principal)
}

/// The migration window's refusal of a proven login (PROVISIONING.md §9).
async fn window(
    store: &Store,
    config: &Config,
    principal: &Principal,
    now: i64,
) -> Result<(), AuthError> {
    let address = &principal.mailbox.address;
    let closed = crate::migration_window::refusal(store, &config.migration, address, now)
        .await
        .map_err(|_| AuthError::Unavailable)?;
    match closed {
        Some(text) => Err(AuthError::Closed(text)),
        None => Ok(()),
    }
}

/// One login attempt's surroundings.
struct Attempt<'a> {
    store: &'a Store,
    throttle: &'a LoginThrottle,
    peer: IpAddr,
    /// Unix seconds (engine clock) the password's age is judged at.
    now: i64,
}

impl<'a> Attempt<'a> {
    /// An attempt judged now on the engine's clock (`pec.clock_offset_seconds`).
    fn new(
        store: &'a Store,
        throttle: &'a LoginThrottle,
        config: &Config,
        peer: IpAddr,
    ) -> Attempt<'a> {
        Attempt {
            store,
            throttle,
            peer,
            now: chrono::Utc::now().timestamp() + config.pec.clock_offset_seconds,
        }
    }

    /// [`authenticate`] with `cache`: a remembered pair that still holds is answered without
    /// argon2; anything else is verified, and only a success is remembered.
    async fn authenticate(
        &self,
        cache: &LoginCache,
        login: &str,
        secret: String,
    ) -> Result<Principal, AuthError> {
        let (peer, throttle) = (self.peer, self.throttle);
        let key = login_key(login);
        throttle
            .check(peer, &key)
            .map_err(|by| refused(&key, peer, by))?;
        // Only a login the uncached path would look up is cached, under its normalised
        // form: any other spelling goes to argon2 and gets its answer there, so both paths
        // always answer alike.
        let name = LoginName::parse(login);
        let pair = name.as_ref().and_then(|n| cache.key(n.as_str(), &secret));
        if let (Some(pair), Some(name)) = (pair, name.as_ref()) {
            if let Some(answer) = self.recall(cache, name, pair).await {
                return answer;
            }
        }
        cache.count_verification();
        let result = match self.verify(login, name.as_ref(), &key, secret).await {
            Ok((c, hash)) => admit(c, self.now).map(|p| (p, hash)),
            Err(e) => Err(e),
        };
        match (&result, pair) {
            (Ok((p, hash)), Some(pair)) => cache.remember(
                pair,
                Verified {
                    mailbox: p.mailbox.id,
                    identity: p.identity.clone(),
                    password_hash: hash.clone(),
                },
            ),
            (Err(AuthError::Invalid), _) => log_block(&key, peer, throttle.failed(peer, &key)),
            _ => {}
        }
        result.map(|(p, _)| p)
    }

    /// The answer for a pair `cache` remembers, if it still holds: the login names the same
    /// identity and mailbox, whose password hash is still the one the password was verified
    /// against, so the password would verify again. The principal is then judged by
    /// [`admit`] as a fresh verification would be. A pair that no longer holds is forgotten,
    /// and `None` sends the login to argon2 (a store that cannot be read too, which answers
    /// it there).
    async fn recall(
        &self,
        cache: &LoginCache,
        name: &LoginName,
        pair: PairKey,
    ) -> Option<Result<Principal, AuthError>> {
        let verified = cache.recall(&pair)?;
        let candidate = lookup::resolve(self.store, name).await.ok()?;
        match candidate {
            Some(c)
                if c.mailbox.id == verified.mailbox
                    && c.identity == verified.identity
                    && c.password_hash == verified.password_hash =>
            {
                let answer = admit(c, self.now);
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

    /// argon2 against the principal's stored hash, or a dummy one when there is none; the
    /// principal with the hash it matched.
    async fn verify(
        &self,
        login: &str,
        name: Option<&LoginName>,
        key: &LoginKey,
        secret: String,
    ) -> Result<(Candidate, String), AuthError> {
        let (throttle, peer) = (self.throttle, self.peer);
        // No login is longer, so there is nothing to hide by spending argon2 on it.
        if login.len() > pecd_common::throttle::MAX_LOGIN_KEY_BYTES {
            return Err(AuthError::Invalid);
        }
        let candidate = match name {
            Some(name) => lookup::resolve(self.store, name).await?,
            None => None,
        };
        let hash = candidate
            .as_ref()
            .map_or(DUMMY_HASH.to_string(), |c| c.password_hash.clone());
        // argon2id takes ~19 MiB and tens of milliseconds per verification: at most one per core
        // runs at a time, so a burst of logins queues instead of spreading 19 MiB working sets
        // over hundreds of blocking threads (and the memory those threads' allocators keep).
        let permit = verifications()
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Unavailable)?;
        if throttle.check(peer, key).is_err() {
            return Err(AuthError::Throttled);
        }
        let checked = hash.clone();
        let matches = on_permit(permit, move || password::verify(&secret, &checked))
            .await
            .ok_or(AuthError::Unavailable)?;
        match candidate {
            Some(c) if matches => Ok((c, hash)),
            _ => Err(AuthError::Invalid),
        }
    }
}

/// The principal `login` names now, without a password: what a session opened by
/// [`prove`] is re-read with on each request, so that a deactivated slave, a deleted
/// mailbox or a changed identity ends it. `None` when the login names no one who may log in.
pub async fn principal_of(store: &Store, login: &str) -> Result<Option<Principal>, AuthError> {
    let Some(name) = LoginName::parse(login) else {
        return Ok(None);
    };
    match lookup::resolve(store, &name).await? {
        Some(c) => Ok(admit_expired(c).ok()),
        None => Ok(None),
    }
}

/// A login whose password has been proven, expired or not: what a holder's self-service
/// session is opened with, since an expired password may still be used to set a new one
/// (and for nothing else).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proven {
    pub principal: Principal,
    pub expired: bool,
}

/// Proves `login` and `secret` as [`authenticate`] does (throttle, argon2, the same answer
/// for an unknown login and a wrong password, failures counted), without the login cache,
/// and tells whether the password has expired instead of refusing it.
pub async fn prove(
    store: &Store,
    throttle: &LoginThrottle,
    config: &Config,
    peer: IpAddr,
    login: &str,
    secret: String,
) -> Result<Proven, AuthError> {
    let attempt = Attempt::new(store, throttle, config, peer);
    let key = login_key(login);
    throttle
        .check(peer, &key)
        .map_err(|by| refused(&key, peer, by))?;
    let name = LoginName::parse(login);
    let result = attempt.verify(login, name.as_ref(), &key, secret).await;
    if matches!(result, Err(AuthError::Invalid)) {
        log_block(&key, peer, throttle.failed(peer, &key));
    }
    let (c, _) = result?;
    let expired = expiry::password_expired(c.password_changed_at, c.info.as_ref(), attempt.now);
    let principal = admit_expired(c)?;
    window(store, config, &principal, attempt.now).await?;
    access::log().note(&principal.identity, attempt.now);
    Ok(Proven { principal, expired })
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

/// Whether a principal whose password has just been proven may log in at `now`: the one
/// rule for verified and remembered passwords alike. A slave that may not log in now gets
/// the answer of a wrong password; only a proven password learns it expired.
fn admit(c: Candidate, now: i64) -> Result<Principal, AuthError> {
    if c.slave.is_some_and(|s| !s.may_log_in()) {
        return Err(AuthError::Invalid);
    }
    match c.mailbox.state {
        // A revoked holder still logs in to read (PROVISIONING.md §4 `revocata`); the
        // services refuse its sending.
        MailboxState::Active | MailboxState::Revoked => {}
    }
    if expiry::password_expired(c.password_changed_at, c.info.as_ref(), now) {
        return Err(AuthError::Expired);
    }
    admit_expired(c)
}

/// [`admit`] without the expiry rule: a slave that may not log in now is still refused.
fn admit_expired(c: Candidate) -> Result<Principal, AuthError> {
    if c.slave.is_some_and(|s| !s.may_log_in()) {
        return Err(AuthError::Invalid);
    }
    Ok(Principal {
        mailbox: c.mailbox,
        userid: c.userid,
        slave: c.slave.is_some(),
        identity: c.identity,
        password_stamp: openssl::sha::sha256(c.password_hash.as_bytes()),
    })
}
