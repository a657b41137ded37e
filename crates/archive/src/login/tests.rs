//! The login cache in the login path: what a remembered pair is still worth.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use pecd_common::config::Config;
use pecd_common::throttle::Policy;

use super::*;

const ADDRESS: &str = "mario@pec.example.it";
const PASSWORD: &str = "Pec-Strong9";
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    throttle: LoginThrottle,
    cache: LoginCache,
    mailbox: Mailbox,
}

async fn world(ttl: Duration) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mailbox = store
        .create_mailbox(ADDRESS, &password::hash(PASSWORD), 1 << 20)
        .await
        .unwrap();
    World {
        _dir: dir,
        store,
        throttle: LoginThrottle::new(Policy::from(&Config::default())),
        cache: LoginCache::new(ttl, 100),
        mailbox,
    }
}

impl World {
    async fn login_at(&self, login: &str, secret: &str, now: i64) -> Result<Mailbox, AuthError> {
        let attempt = Attempt {
            store: &self.store,
            throttle: &self.throttle,
            peer: PEER,
            now,
        };
        attempt
            .authenticate(&self.cache, login, secret.to_string())
            .await
    }

    async fn login(&self, login: &str, secret: &str) -> Result<Mailbox, AuthError> {
        self.login_at(login, secret, chrono::Utc::now().timestamp())
            .await
    }
}

#[tokio::test]
async fn a_remembered_login_skips_argon2() {
    let w = world(Duration::from_secs(300)).await;
    for _ in 0..3 {
        assert_eq!(w.login(ADDRESS, PASSWORD).await.unwrap().id, w.mailbox.id);
    }
    assert_eq!(w.cache.verifications(), 1);
    // The same mailbox however its login is padded or cased is the same pair.
    assert!(w.login(" MARIO@pec.example.it", PASSWORD).await.is_ok());
    assert_eq!(w.cache.verifications(), 1);
    assert_eq!(w.cache.len(), 1);
}

#[tokio::test]
async fn another_password_misses_and_failures_are_never_remembered() {
    let w = world(Duration::from_secs(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    for _ in 0..2 {
        assert_eq!(
            w.login(ADDRESS, "Pec-Strong8").await,
            Err(AuthError::Invalid)
        );
    }
    assert_eq!(w.cache.verifications(), 3, "each wrong password ran argon2");
    assert_eq!(w.cache.len(), 1, "only the success is remembered");
    assert_eq!(w.throttle.tracked(), (1, 1), "failures counted as before");
}

#[tokio::test]
async fn a_password_change_drops_the_pair() {
    let w = world(Duration::from_secs(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    w.store
        .set_password(w.mailbox.id, &password::hash("Pec-Newer9"))
        .await
        .unwrap();
    assert_eq!(w.login(ADDRESS, PASSWORD).await, Err(AuthError::Invalid));
    assert_eq!(w.cache.verifications(), 2);
    assert!(w.cache.is_empty(), "the stale pair is forgotten");
    assert!(w.login(ADDRESS, "Pec-Newer9").await.is_ok());
}

#[tokio::test]
async fn a_password_set_again_to_the_same_value_still_drops_the_pair() {
    let w = world(Duration::from_secs(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    // A new salt: the hash string changes although the password does not.
    w.store
        .set_password(w.mailbox.id, &password::hash(PASSWORD))
        .await
        .unwrap();
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    assert_eq!(w.cache.verifications(), 2);
}

#[tokio::test]
async fn an_expired_password_is_refused_with_a_warm_cache() {
    let w = world(Duration::from_secs(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    let later = chrono::Utc::now().timestamp() + PASSWORD_LIFETIME_SECONDS + 60;
    assert_eq!(
        w.login_at(ADDRESS, PASSWORD, later).await,
        Err(AuthError::Expired)
    );
    assert_eq!(
        w.cache.verifications(),
        1,
        "the hash still matches: no argon2"
    );
    assert!(
        w.cache.is_empty(),
        "an expired password's pair is forgotten"
    );
    // The same answer as argon2 gives.
    assert_eq!(
        w.login_at(ADDRESS, PASSWORD, later).await,
        Err(AuthError::Expired)
    );
    assert_eq!(w.cache.verifications(), 2);
}

#[tokio::test]
async fn a_revoked_mailbox_gets_the_same_answer_with_a_warm_cache() {
    let w = world(Duration::from_secs(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    w.store
        .set_state(w.mailbox.id, MailboxState::Revoked)
        .await
        .unwrap();
    // Today's rule: a revoked holder logs in to read, and the services refuse its sending
    // by the state of the mailbox handed back, which is the state of now, not the cached one.
    let warm = w.login(ADDRESS, PASSWORD).await.unwrap();
    assert_eq!(warm.state, MailboxState::Revoked);
    assert_eq!(w.cache.verifications(), 1);
    let cold = World {
        cache: LoginCache::new(Duration::from_secs(300), 100),
        ..w
    };
    assert_eq!(cold.login(ADDRESS, PASSWORD).await, Ok(warm));
    assert_eq!(cold.cache.verifications(), 1);
}

#[tokio::test]
async fn a_deleted_mailbox_drops_the_pair() {
    let w = world(Duration::from_secs(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    w.store.delete_mailbox(w.mailbox.id).await.unwrap();
    assert_eq!(w.login(ADDRESS, PASSWORD).await, Err(AuthError::Invalid));
    assert!(w.cache.is_empty());
}

#[tokio::test]
async fn a_blocked_login_is_refused_before_the_cache() {
    let w = world(Duration::from_secs(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    let key = login_key(ADDRESS);
    let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    while w.throttle.check(other, &key).is_ok() {
        w.throttle.failed(other, &key);
    }
    assert_eq!(w.login(ADDRESS, PASSWORD).await, Err(AuthError::Throttled));
    assert_eq!(w.cache.verifications(), 1);
}

#[tokio::test]
async fn a_pair_older_than_the_ttl_runs_argon2_again() {
    let w = world(Duration::from_millis(300)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    assert_eq!(w.cache.verifications(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    assert_eq!(w.cache.verifications(), 2);
}

#[tokio::test]
async fn a_cache_turned_off_verifies_every_time() {
    let mut w = world(Duration::from_secs(300)).await;
    w.cache = LoginCache::new(Duration::ZERO, 100);
    for _ in 0..2 {
        assert!(w.login(ADDRESS, PASSWORD).await.is_ok());
    }
    assert_eq!(w.cache.verifications(), 2);
    assert!(w.cache.is_empty());
}

/// Regression (review of the cache): a spelling that only Unicode case folding maps to the
/// address (the Kelvin sign for `k`) is no login on the uncached path, so a warm cache must
/// not make it one.
#[tokio::test]
async fn a_login_the_uncached_path_refuses_is_refused_with_a_warm_cache() {
    const K: &str = "kmario@pec.example.it";
    let kelvin = "\u{212A}mario@pec.example.it";
    for ttl in [0, 300] {
        let w = world(Duration::from_secs(ttl)).await;
        w.store
            .create_mailbox(K, &password::hash(PASSWORD), 1 << 20)
            .await
            .unwrap();
        assert!(w.login(K, PASSWORD).await.is_ok(), "ttl {ttl}");
        assert_eq!(
            w.login(kelvin, PASSWORD).await,
            Err(AuthError::Invalid),
            "ttl {ttl}"
        );
    }
}
