//! The verified-credentials cache (as Dovecot's auth cache): after argon2 has accepted a
//! password, the pair (login, password) is remembered for a short while together with the
//! identity and mailbox it opened and the exact password hash string it matched, so that a client polling
//! every minute does not pay argon2 at each login. What a remembered pair is still worth is
//! decided in `login` against the mailbox as it is now; this module only keeps entries.
//!
//! Neither the password nor an unkeyed hash of it is kept: an entry is found by an
//! HMAC-SHA256, under a random key drawn when the cache is made (once per process), of the
//! login and the password. Only successes are remembered. Memory is bounded: at most
//! `entries` pairs, the expired and then the oldest dropped first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use pecd_common::config::Auth;
use pecd_store::MailboxId;

/// Where one (login, password) pair is remembered: its keyed hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PairKey([u8; 32]);

impl PairKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What a successful verification left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub mailbox: MailboxId,
    /// The identity the login named: the master's address or the slave's user id.
    pub identity: String,
    /// The stored PHC string the password was verified against.
    pub password_hash: String,
}

struct Entry {
    verified: Verified,
    at: Instant,
}

/// Remembered successful logins; see the module documentation.
pub struct LoginCache {
    ttl: Duration,
    capacity: usize,
    /// The HMAC key; `None` when the cache is off (TTL or size 0, or no random key).
    key: Option<PKey<Private>>,
    entries: Mutex<HashMap<PairKey, Entry>>,
    /// Logins that ran argon2 on behalf of this cache (for the tests and the log).
    verifications: AtomicU64,
}

impl LoginCache {
    /// A cache keeping each pair `ttl`, at most `capacity` of them; either 0 turns it off.
    pub fn new(ttl: Duration, capacity: usize) -> LoginCache {
        let key = if ttl.is_zero() || capacity == 0 {
            None
        } else {
            let mut bytes = [0u8; 32];
            openssl::rand::rand_bytes(&mut bytes)
                .ok()
                .and_then(|()| PKey::hmac(&bytes).ok())
        };
        LoginCache {
            ttl,
            capacity,
            key,
            entries: Mutex::new(HashMap::new()),
            verifications: AtomicU64::new(0),
        }
    }

    /// The cache `[auth]` asks for (`cache_seconds`, `cache_entries`).
    pub fn from_config(auth: &Auth) -> LoginCache {
        LoginCache::new(Duration::from_secs(auth.cache_seconds), auth.cache_entries)
    }

    /// The keyed hash of `login` (already normalised) and `secret`; `None` when the cache
    /// is off. The login's length comes first, so no two pairs share an encoding.
    pub fn key(&self, login: &str, secret: &str) -> Option<PairKey> {
        let key = self.key.as_ref()?;
        let mut mac = Signer::new(MessageDigest::sha256(), key).ok()?;
        mac.update(&(login.len() as u64).to_be_bytes()).ok()?;
        mac.update(login.as_bytes()).ok()?;
        mac.update(secret.as_bytes()).ok()?;
        let digest = mac.sign_to_vec().ok()?;
        Some(PairKey(digest.try_into().ok()?))
    }

    /// The verification remembered under `key`, if it is younger than the TTL.
    pub fn recall(&self, key: &PairKey) -> Option<Verified> {
        self.recall_at(key, Instant::now())
    }

    fn recall_at(&self, key: &PairKey, now: Instant) -> Option<Verified> {
        let mut entries = self.lock();
        let entry = entries.get(key)?;
        if now.saturating_duration_since(entry.at) < self.ttl {
            return Some(entry.verified.clone());
        }
        entries.remove(key);
        None
    }

    /// Remembers a successful verification, making room first when the cache is full.
    pub fn remember(&self, key: PairKey, verified: Verified) {
        self.remember_at(key, verified, Instant::now());
    }

    fn remember_at(&self, key: PairKey, verified: Verified, now: Instant) {
        let mut entries = self.lock();
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            self.make_room(&mut entries, now);
        }
        entries.insert(key, Entry { verified, at: now });
    }

    /// Drops the expired entries; if that is not enough, the oldest, down to 7/8 of the
    /// bound so that this runs rarely.
    fn make_room(&self, entries: &mut HashMap<PairKey, Entry>, now: Instant) {
        entries.retain(|_, e| now.saturating_duration_since(e.at) < self.ttl);
        let keep = self.capacity.saturating_sub(self.capacity / 8 + 1);
        if entries.len() <= keep {
            return;
        }
        let mut by_age: Vec<(Instant, PairKey)> = entries.iter().map(|(k, e)| (e.at, *k)).collect();
        by_age.sort_unstable_by_key(|(at, _)| *at);
        let excess = entries.len() - keep;
        for (_, k) in by_age.into_iter().take(excess) {
            entries.remove(&k);
        }
    }

    /// Forgets a pair whose verification no longer holds.
    pub fn forget(&self, key: &PairKey) {
        self.lock().remove(key);
    }

    /// Pairs remembered now (for the memory-bound tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts one login that ran argon2.
    pub fn count_verification(&self) {
        self.verifications.fetch_add(1, Ordering::Relaxed);
    }

    /// Logins that ran argon2 so far.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PairKey, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(mailbox: MailboxId) -> Verified {
        Verified {
            mailbox,
            identity: format!("u{mailbox}@b.it"),
            password_hash: format!("$argon2id$hash-of-{mailbox}"),
        }
    }

    #[test]
    fn keyed_hash_is_no_plain_hash_and_differs_per_cache() {
        let cache = LoginCache::new(Duration::from_secs(60), 10);
        let key = cache.key("mario@pec.example", "Secret-9").unwrap();
        let mut encoded = ("mario@pec.example".len() as u64).to_be_bytes().to_vec();
        encoded.extend_from_slice(b"mario@pec.example");
        encoded.extend_from_slice(b"Secret-9");
        for plain in [
            openssl::sha::sha256(&encoded),
            openssl::sha::sha256(b"mario@pec.exampleSecret-9"),
            openssl::sha::sha256(b"Secret-9"),
        ] {
            assert_ne!(key.as_bytes(), &plain);
        }
        assert_eq!(cache.key("mario@pec.example", "Secret-9"), Some(key));
        assert_ne!(cache.key("mario@pec.example", "Secret-8"), Some(key));
        let other = LoginCache::new(Duration::from_secs(60), 10);
        assert_ne!(other.key("mario@pec.example", "Secret-9"), Some(key));
        // The login's length is hashed too: moving bytes between login and password changes
        // the key.
        assert_ne!(cache.key("mario@pec.exampleS", "ecret-9"), Some(key));
    }

    #[test]
    fn zero_ttl_or_size_turns_the_cache_off() {
        assert!(LoginCache::new(Duration::ZERO, 10)
            .key("a@b.it", "x")
            .is_none());
        assert!(LoginCache::new(Duration::from_secs(1), 0)
            .key("a@b.it", "x")
            .is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = LoginCache::new(Duration::from_secs(300), 10);
        let key = cache.key("a@b.it", "x").unwrap();
        let t0 = Instant::now();
        cache.remember_at(key, verified(1), t0);
        assert_eq!(
            cache.recall_at(&key, t0 + Duration::from_secs(299)),
            Some(verified(1))
        );
        assert_eq!(cache.recall_at(&key, t0 + Duration::from_secs(300)), None);
        assert!(cache.is_empty(), "an expired entry is dropped when met");
    }

    #[test]
    fn size_is_bounded_and_the_oldest_go_first() {
        let cache = LoginCache::new(Duration::from_secs(300), 16);
        let t0 = Instant::now();
        let keys: Vec<PairKey> = (0..40)
            .map(|i| cache.key(&format!("u{i}@b.it"), "x").unwrap())
            .collect();
        for (i, key) in keys.iter().enumerate() {
            cache.remember_at(
                *key,
                verified(i as u64),
                t0 + Duration::from_millis(i as u64),
            );
            assert!(cache.len() <= 16);
        }
        let now = t0 + Duration::from_secs(1);
        assert_eq!(cache.recall_at(&keys[39], now), Some(verified(39)));
        assert_eq!(cache.recall_at(&keys[0], now), None);
    }

    #[test]
    fn forget_drops_the_pair() {
        let cache = LoginCache::new(Duration::from_secs(300), 10);
        let key = cache.key("a@b.it", "x").unwrap();
        cache.remember(key, verified(1));
        cache.forget(&key);
        assert_eq!(cache.recall(&key), None);
    }
}
