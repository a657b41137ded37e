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
    async fn principal_at(
        &self,
        login: &str,
        secret: &str,
        now: i64,
    ) -> Result<Principal, AuthError> {
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

    async fn login_at(&self, login: &str, secret: &str, now: i64) -> Result<Mailbox, AuthError> {
        self.principal_at(login, secret, now)
            .await
            .map(|p| p.mailbox)
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
    let later = chrono::Utc::now().timestamp() + expiry::PASSWORD_LIFETIME_SECONDS + 60;
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

mod principals {
    //! The lookup order (address, master user id, slave user id) and what each principal
    //! may do.

    use super::*;
    use crate::caselle;
    use crate::login::principal::{PrincipalInfo, Slave, SlaveState};
    use crate::model::{Casella, CasellaState, DomainFamily, Services};
    use crate::records;

    const MASTER_ID: &str = "abc0000001";
    const SLAVE_ID: &str = "abc0000001.01";
    const SLAVE_PASSWORD: &str = "Slave-Strong7";

    fn casella() -> Casella {
        Casella {
            address: ADDRESS.into(),
            userid: Some(MASTER_ID.into()),
            description: "Mario".into(),
            kind: None,
            state: CasellaState::Evasa,
            pending: None,
            request: None,
            customer: None,
            account: None,
            family: DomainFamily::Ordinary,
            expiry: None,
            inserted_at: 0,
            activated_at: None,
            massive: false,
            services: Services {
                archive_gb: 0,
                sms: false,
                quota_bytes: 1 << 20,
            },
            revoke_reason: None,
            revoked_at: None,
            purged_at: None,
            history: Vec::new(),
        }
    }

    fn slave(state: SlaveState, changed_at: i64) -> Slave {
        Slave {
            userid: SLAVE_ID.into(),
            mailbox: ADDRESS.into(),
            first_name: "Anna".into(),
            last_name: "Bianchi".into(),
            description: "Mario".into(),
            state,
            password_hash: password::hash(SLAVE_PASSWORD),
            password_changed_at: changed_at,
            created_at: changed_at,
            state_changed_at: changed_at,
        }
    }

    async fn put<T: records::Record + Send + 'static>(w: &World, record: T) {
        w.store
            .records_transaction(move |tx| records::put(tx, &record))
            .await
            .unwrap()
            .unwrap();
    }

    async fn with_master_userid() -> World {
        let w = world(Duration::from_secs(300)).await;
        w.store
            .records_transaction(|tx| caselle::save(tx, &casella(), None))
            .await
            .unwrap()
            .unwrap();
        w
    }

    #[tokio::test]
    async fn the_address_and_the_master_userid_open_the_mailbox_as_the_master() {
        let w = with_master_userid().await;
        let by_address = w.principal_at(ADDRESS, PASSWORD, now()).await.unwrap();
        assert_eq!((by_address.userid, by_address.slave), (None, false));
        for login in [MASTER_ID, " ABC0000001 "] {
            let p = w.principal_at(login, PASSWORD, now()).await.unwrap();
            assert_eq!(p.mailbox.id, w.mailbox.id);
            assert_eq!(p.userid.as_deref(), Some(MASTER_ID));
            assert!(!p.slave);
            assert_eq!(p.identity, ADDRESS, "one identity for address and user id");
        }
        assert_eq!(
            w.login(MASTER_ID, "Pec-Wrong9").await,
            Err(AuthError::Invalid)
        );
        assert_eq!(
            w.login("abc0000002", PASSWORD).await,
            Err(AuthError::Invalid)
        );
    }

    #[tokio::test]
    async fn a_slave_opens_the_master_mailbox_with_its_own_password() {
        let w = with_master_userid().await;
        put(&w, slave(SlaveState::Attiva, now())).await;
        let p = w
            .principal_at(SLAVE_ID, SLAVE_PASSWORD, now())
            .await
            .unwrap();
        assert_eq!(p.mailbox.address, ADDRESS);
        assert!(p.slave);
        assert_eq!(p.identity, SLAVE_ID);
        assert_eq!(
            w.login(SLAVE_ID, PASSWORD).await,
            Err(AuthError::Invalid),
            "the master's password is not the slave's"
        );
        assert_eq!(
            w.login(MASTER_ID, SLAVE_PASSWORD).await,
            Err(AuthError::Invalid)
        );
    }

    #[tokio::test]
    async fn a_slave_logs_in_only_while_attiva_or_in_disattivazione_warm_cache_or_cold() {
        let w = with_master_userid().await;
        for (state, allowed) in [
            (SlaveState::Attiva, true),
            (SlaveState::InAttivazione, false),
            (SlaveState::InDisattivazione, true),
            (SlaveState::Disattivata, false),
            (SlaveState::Attiva, true),
        ] {
            let mut s = slave(state, now());
            // The same hash string, so that the remembered pair still matches.
            s.password_hash = match records::load::<Slave>(&w.store, SLAVE_ID.as_bytes())
                .await
                .unwrap()
            {
                Some(old) => old.password_hash,
                None => s.password_hash,
            };
            put(&w, s).await;
            let answer = w.login(SLAVE_ID, SLAVE_PASSWORD).await;
            if allowed {
                assert!(answer.is_ok(), "{state:?}");
            } else {
                assert_eq!(answer, Err(AuthError::Invalid), "{state:?}");
            }
        }
        assert_eq!(w.cache.verifications(), 3, "argon2 only after a refusal");
    }

    #[tokio::test]
    async fn master_and_slave_passwords_expire_independently() {
        let w = with_master_userid().await;
        put(&w, slave(SlaveState::Attiva, 0)).await;
        assert_eq!(
            w.login(SLAVE_ID, SLAVE_PASSWORD).await,
            Err(AuthError::Expired),
            "a first password set by the system"
        );
        assert!(w.login(MASTER_ID, PASSWORD).await.is_ok());
        put(&w, slave(SlaveState::Attiva, now())).await;
        let later = now() + expiry::PASSWORD_LIFETIME_SECONDS - 60;
        let master_set = w.mailbox.password_changed_at;
        assert!(w.login_at(SLAVE_ID, SLAVE_PASSWORD, later).await.is_ok());
        assert!(later - master_set < expiry::PASSWORD_LIFETIME_SECONDS);
        // A block on the master's password leaves the slave alone.
        put(
            &w,
            PrincipalInfo {
                identity: ADDRESS.into(),
                password_expires_at: Some(now()),
                password_expiry_set_at: Some(now()),
                ..PrincipalInfo::default()
            },
        )
        .await;
        assert_eq!(w.login(ADDRESS, PASSWORD).await, Err(AuthError::Expired));
        assert_eq!(w.login(MASTER_ID, PASSWORD).await, Err(AuthError::Expired));
        assert!(w.login(SLAVE_ID, SLAVE_PASSWORD).await.is_ok());
        assert_eq!(
            w.login(ADDRESS, "Pec-Wrong9").await,
            Err(AuthError::Invalid),
            "expired is told only after the password verified"
        );
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }
}

/// A password check whose caller stops waiting (a client that resets its request) keeps its
/// permit until argon2 ends: abandoned requests cannot start argon2 runs without bound.
#[tokio::test]
async fn an_abandoned_password_check_keeps_its_permit_until_the_work_ends() {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let permit = permits.clone().acquire_owned().await.unwrap();
    let check = tokio::spawn(super::on_permit(permit, move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        true
    }));
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    check.abort();
    assert!(check.await.is_err(), "the caller was abandoned");
    assert_eq!(
        permits.available_permits(),
        0,
        "held by the work still running"
    );
    release_tx.send(()).unwrap();
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        permits.clone().acquire_owned(),
    )
    .await;
    assert!(again.is_ok(), "given back when the work ended");
}
