//! Brute-force protection for password logins (PROVISIONING.md §7), one instance shared by
//! IMAP, POP3 and SMTP so that a guesser gains nothing by switching protocol.
//!
//! Failures are counted separately per login name and per client address (IPv6 per /64,
//! see [`client_key`]). Each count forgets failures gradually: `failures` of them drain away
//! over `max_block`, so a holder who mistypes now and then never reaches the limit. At the
//! limit the key is blocked: every attempt for the login, or from the address, is refused at
//! once, before any password is checked, so the attacker spends no argon2 time and honest
//! logins are not queued behind its guesses. The first block lasts `block`; each further one
//! while the attack goes on doubles, up to `max_block`. A block always expires: the holder
//! of an attacked login is never locked out for good, and a blocked address never blocks
//! anyone else's.
//!
//! Memory is bounded: login keys are cut to [`MAX_LOGIN_KEY_BYTES`] and lower-cased, only
//! failures create entries, entries with nothing left to remember are swept, and each map
//! holds at most `max_tracked` keys (the least recently used unblocked ones go first).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::address::Address;
use crate::config::Config;
use crate::net::client_key;

/// Longest login name kept as a key (and logged); longer ones are cut. An address is at
/// most 254 bytes (RFC 5321 §4.5.3.1), so no real login is cut.
pub const MAX_LOGIN_KEY_BYTES: usize = 256;

/// Expired entries are swept after this many recorded failures.
const SWEEP_EVERY: u64 = 1024;

/// The numbers of [`LoginThrottle`], from the `[auth]` configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub failures_per_login: u32,
    pub failures_per_ip: u32,
    pub block: Duration,
    pub max_block: Duration,
    pub max_tracked: usize,
}

/// The policy a configuration asks for: `[auth]` as [`Config::effective_auth`] applies it
/// (the older per-service `auth_failures_per_minute` keys included). Every service builds
/// its throttle through this, so none can miss the older keys.
impl From<&Config> for Policy {
    fn from(config: &Config) -> Policy {
        let auth = config.effective_auth();
        Policy {
            failures_per_login: auth.failures_per_login,
            failures_per_ip: auth.failures_per_ip,
            block: Duration::from_secs(auth.block_seconds),
            max_block: Duration::from_secs(auth.max_block_seconds),
            max_tracked: auth.max_tracked,
        }
    }
}

/// What a block is keyed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Login,
    Ip,
}

/// Attempts are refused until `retry_after` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub scope: Scope,
    pub retry_after: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Failures remembered, draining at `limit` per `max_block`.
    level: f64,
    /// When `level` was last brought up to date.
    updated: Instant,
    /// Blocks in a row; each doubles the next.
    strikes: u32,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            level: 0.0,
            updated: now,
            strikes: 0,
            blocked_until: None,
        }
    }

    fn blocked(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Nothing left to remember: no failure, no block, and the strikes forgiven.
    fn forgotten(&self, now: Instant, policy: &Policy) -> bool {
        let quiet_since = self
            .blocked_until
            .map_or(self.updated, |u| u.max(self.updated));
        now.saturating_duration_since(quiet_since) >= policy.max_block
    }

    /// Records one failure; returns the block it starts, if any.
    fn fail(&mut self, now: Instant, limit: u32, policy: &Policy) -> Option<Duration> {
        if self.forgotten(now, policy) {
            *self = Entry::new(now);
        }
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let drain = f64::from(limit) * elapsed / policy.max_block.as_secs_f64();
        self.level = (self.level - drain).max(0.0) + 1.0;
        self.updated = now;
        // The limit is reached at the `limit`-th failure unless a whole failure has drained
        // away meanwhile. Attempts already past the check when a block started still count,
        // towards the next block.
        if self.level <= f64::from(limit.saturating_sub(1)) || self.blocked(now).is_some() {
            return None;
        }
        let window = policy
            .block
            .saturating_mul(1 << self.strikes.min(20))
            .min(policy.max_block);
        self.strikes = self.strikes.saturating_add(1);
        self.level = 0.0;
        self.blocked_until = Some(now + window);
        Some(window)
    }
}

/// Failed-login counts per login name and per client address; see the module documentation.
pub struct LoginThrottle {
    policy: Policy,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    logins: HashMap<LoginKey, Entry>,
    ips: HashMap<IpAddr, Entry>,
    failures: u64,
}

/// The key a login name is counted (and logged) under; see [`login_key`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LoginKey(String);

impl LoginKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Logged as the bare quoted name, like a string.
impl std::fmt::Debug for LoginKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

/// The key a login name is counted under. A login that is an address is counted under the
/// mailbox it names, [`Address::parse`]'s normalised form (surrounding whitespace of any kind
/// trimmed, lower-cased), so that `" mario@x"`, `"mario@x\t"` and `"MARIO@x\u{a0}"` are one
/// key, as they are one mailbox. Anything else, which names no mailbox, is trimmed,
/// lower-cased and cut to [`MAX_LOGIN_KEY_BYTES`] on a character boundary. Derive it once per
/// attempt and use it for both [`LoginThrottle::check`] and [`LoginThrottle::failed`].
pub fn login_key(login: &str) -> LoginKey {
    if let Ok(address) = Address::parse(login) {
        return LoginKey(address.as_str().to_string());
    }
    let login = login.trim();
    let mut end = login.len().min(MAX_LOGIN_KEY_BYTES);
    while !login.is_char_boundary(end) {
        end -= 1;
    }
    LoginKey(login[..end].to_lowercase())
}

impl LoginThrottle {
    pub fn new(policy: Policy) -> LoginThrottle {
        LoginThrottle {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether an attempt for the login `key` from `ip` may have its password checked.
    /// Counts nothing and stores nothing.
    pub fn check(&self, ip: IpAddr, key: &LoginKey) -> Result<(), Blocked> {
        self.check_key_at(ip, key, Instant::now())
    }

    /// Records a failed attempt for the login `key` from `ip`; returns the block it starts,
    /// for the log.
    pub fn failed(&self, ip: IpAddr, key: &LoginKey) -> Option<Blocked> {
        self.failed_key_at(ip, Some(key), Instant::now())
    }

    /// Records a failure that is the client's alone, not the login's (say, it asked to act
    /// as another mailbox): counted against `ip` only, so that it can never add to the
    /// count of a login the client does not own.
    pub fn failed_from(&self, ip: IpAddr) -> Option<Blocked> {
        self.failed_key_at(ip, None, Instant::now())
    }

    /// Login names and addresses tracked (for the memory-bound tests).
    pub fn tracked(&self) -> (usize, usize) {
        let st = self.lock();
        (st.logins.len(), st.ips.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_key_at(&self, ip: IpAddr, key: &LoginKey, now: Instant) -> Result<(), Blocked> {
        let st = self.lock();
        let by_ip = st
            .ips
            .get(&client_key(ip))
            .and_then(|e| e.blocked(now))
            .map(|retry_after| Blocked {
                scope: Scope::Ip,
                retry_after,
            });
        let by_login = st
            .logins
            .get(key)
            .and_then(|e| e.blocked(now))
            .map(|retry_after| Blocked {
                scope: Scope::Login,
                retry_after,
            });
        match by_ip
            .into_iter()
            .chain(by_login)
            .max_by_key(|b| b.retry_after)
        {
            Some(b) => Err(b),
            None => Ok(()),
        }
    }

    fn failed_key_at(&self, ip: IpAddr, key: Option<&LoginKey>, now: Instant) -> Option<Blocked> {
        let policy = self.policy;
        let mut st = self.lock();
        st.failures += 1;
        if st.failures.is_multiple_of(SWEEP_EVERY) {
            st.ips.retain(|_, e| !e.forgotten(now, &policy));
            st.logins.retain(|_, e| !e.forgotten(now, &policy));
        }
        let by_ip = record(&mut st.ips, client_key(ip), now, &policy, |p| {
            p.failures_per_ip
        })
        .map(|retry_after| Blocked {
            scope: Scope::Ip,
            retry_after,
        });
        let by_login = key
            .and_then(|key| {
                record(&mut st.logins, key.clone(), now, &policy, |p| {
                    p.failures_per_login
                })
            })
            .map(|retry_after| Blocked {
                scope: Scope::Login,
                retry_after,
            });
        by_ip
            .into_iter()
            .chain(by_login)
            .max_by_key(|b| b.retry_after)
    }
}

#[cfg(test)]
impl LoginThrottle {
    fn check_at(&self, ip: IpAddr, login: &str, now: Instant) -> Result<(), Blocked> {
        self.check_key_at(ip, &login_key(login), now)
    }

    fn failed_at(&self, ip: IpAddr, login: &str, now: Instant) -> Option<Blocked> {
        self.failed_key_at(ip, Some(&login_key(login)), now)
    }
}

/// Counts a failure for `key` in `map`, making room first when the map is full.
fn record<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, Entry>,
    key: K,
    now: Instant,
    policy: &Policy,
    limit: impl Fn(&Policy) -> u32,
) -> Option<Duration> {
    if !map.contains_key(&key) && map.len() >= policy.max_tracked {
        make_room(map, now, policy);
    }
    map.entry(key)
        .or_insert_with(|| Entry::new(now))
        .fail(now, limit(policy), policy)
}

/// Drops forgotten entries; if that is not enough, the least recently failed, unblocked
/// ones before blocked ones, down to 7/8 of the bound so that this runs rarely.
fn make_room<K: Hash + Eq + Clone>(map: &mut HashMap<K, Entry>, now: Instant, policy: &Policy) {
    map.retain(|_, e| !e.forgotten(now, policy));
    let keep = policy.max_tracked - policy.max_tracked / 8 - 1;
    if map.len() <= keep {
        return;
    }
    let mut by_age: Vec<(bool, Instant, K)> = map
        .iter()
        .map(|(k, e)| (e.blocked(now).is_some(), e.updated, k.clone()))
        .collect();
    by_age.sort_unstable_by_key(|(blocked, updated, _)| (*blocked, *updated));
    let excess = map.len() - keep;
    for (_, _, k) in by_age.into_iter().take(excess) {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const HOLDER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    fn policy() -> Policy {
        Policy {
            failures_per_login: 5,
            failures_per_ip: 10,
            block: Duration::from_secs(60),
            max_block: Duration::from_secs(600),
            max_tracked: 1000,
        }
    }

    fn fail_n(t: &LoginThrottle, ip: IpAddr, login: &str, n: u32, now: Instant) {
        for _ in 0..n {
            t.failed_at(ip, login, now);
        }
    }

    #[test]
    fn the_nth_failure_for_a_login_starts_a_block_that_expires() {
        let t = LoginThrottle::new(policy());
        let now = Instant::now();
        for i in 1..5 {
            assert_eq!(
                t.failed_at(ATTACKER, "mario@pec.localhost", now),
                None,
                "{i}"
            );
            assert_eq!(t.check_at(ATTACKER, "mario@pec.localhost", now), Ok(()));
        }
        let started = t.failed_at(ATTACKER, "mario@pec.localhost", now);
        assert_eq!(
            started,
            Some(Blocked {
                scope: Scope::Login,
                retry_after: Duration::from_secs(60)
            })
        );
        // The holder, from anywhere, with any case: refused until the window ends.
        let refused = t
            .check_at(HOLDER, "Mario@PEC.localhost", now + Duration::from_secs(59))
            .unwrap_err();
        assert_eq!(refused.scope, Scope::Login);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(
            t.check_at(HOLDER, "mario@pec.localhost", now + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn failures_a_second_apart_still_reach_the_limit() {
        let t = LoginThrottle::new(policy());
        let mut now = Instant::now();
        for _ in 0..4 {
            assert_eq!(t.failed_at(ATTACKER, "luigi", now), None);
            now += Duration::from_secs(1);
        }
        assert!(t.failed_at(ATTACKER, "luigi", now).is_some());
    }

    #[test]
    fn windows_double_while_the_attack_goes_on_up_to_the_cap() {
        let t = LoginThrottle::new(Policy {
            failures_per_ip: 1000,
            ..policy()
        });
        let mut now = Instant::now();
        let mut windows = Vec::new();
        for _ in 0..6 {
            for _ in 0..4 {
                assert_eq!(t.failed_at(ATTACKER, "luigi", now), None);
            }
            let b = t.failed_at(ATTACKER, "luigi", now).expect("a block");
            windows.push(b.retry_after.as_secs());
            now += b.retry_after;
            assert_eq!(t.check_at(HOLDER, "luigi", now), Ok(()), "it expires");
        }
        assert_eq!(windows, [60, 120, 240, 480, 600, 600]);
    }

    #[test]
    fn a_quiet_period_forgives_strikes_and_slow_mistakes_never_block() {
        let t = LoginThrottle::new(policy());
        let mut now = Instant::now();
        fail_n(&t, HOLDER, "anna", 4, now);
        let b = t.failed_at(HOLDER, "anna", now).unwrap();
        now += b.retry_after + Duration::from_secs(600);
        fail_n(&t, HOLDER, "anna", 4, now);
        assert_eq!(
            t.failed_at(HOLDER, "anna", now).unwrap().retry_after,
            Duration::from_secs(60),
            "back to the first window"
        );
        // One mistake every two minutes drains faster (5 per 600 s) than it fills.
        let t = LoginThrottle::new(policy());
        let mut now = Instant::now();
        for _ in 0..100 {
            assert_eq!(t.failed_at(HOLDER, "anna", now), None);
            now += Duration::from_secs(120);
        }
    }

    #[test]
    fn an_ip_block_does_not_touch_other_addresses() {
        let t = LoginThrottle::new(policy());
        let now = Instant::now();
        // Ten different logins, each below its own limit, from one address.
        for i in 0..9 {
            assert_eq!(t.failed_at(ATTACKER, &format!("user{i}"), now), None);
        }
        let b = t.failed_at(ATTACKER, "user9", now).unwrap();
        assert_eq!(b.scope, Scope::Ip);
        assert_eq!(
            t.check_at(ATTACKER, "someone-else", now).unwrap_err().scope,
            Scope::Ip
        );
        assert_eq!(t.check_at(HOLDER, "user0", now), Ok(()));
        assert_eq!(t.check_at(HOLDER, "someone-else", now), Ok(()));
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let t = LoginThrottle::new(policy());
        let now = Instant::now();
        for i in 0..10u16 {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            t.failed_at(ip, &format!("u{i}"), now);
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.check_at(same_64, "x", now).is_err());
        assert_eq!(t.check_at(other_64, "x", now), Ok(()));
    }

    #[test]
    fn login_keys_are_cut_and_lower_cased() {
        assert_eq!(
            login_key("Mario@PEC.Localhost").as_str(),
            "mario@pec.localhost"
        );
        let huge = "A".repeat(100_000);
        assert_eq!(login_key(&huge).as_str(), "a".repeat(MAX_LOGIN_KEY_BYTES));
        // Cut on a character boundary.
        let accented = "è".repeat(200);
        let key = login_key(&accented);
        let key = key.as_str();
        assert!(key.len() <= MAX_LOGIN_KEY_BYTES && key.chars().all(|c| c == 'è'));
        let t = LoginThrottle::new(policy());
        let now = Instant::now();
        fail_n(&t, ATTACKER, &huge, 5, now);
        // Every name that shares the first 256 bytes is the same key.
        let longer = format!("{huge}tail");
        assert_eq!(
            t.check_at(HOLDER, &longer, now).unwrap_err().scope,
            Scope::Login
        );
        let st = t.lock();
        assert!(st
            .logins
            .keys()
            .all(|k| k.as_str().len() <= MAX_LOGIN_KEY_BYTES));
    }

    /// Review item: `Address::parse` trims any Unicode whitespace, so padded forms of one
    /// address name one mailbox; each used to be a throttle key of its own, a fresh
    /// `failures_per_login` allowance per padding.
    #[test]
    fn per_login_throttle_bypass_by_whitespace_variants() {
        let t = LoginThrottle::new(Policy {
            failures_per_ip: 1000,
            ..policy()
        });
        let now = Instant::now();
        let variants = [
            "mario@pec.localhost",
            " mario@pec.localhost",
            "mario@pec.localhost\t",
            "mario@pec.localhost\u{a0}",
            "\u{2003}MARIO@pec.localhost\r\n",
        ];
        for v in &variants {
            assert_eq!(login_key(v), login_key("mario@pec.localhost"), "{v:?}");
        }
        for v in &variants[..4] {
            assert_eq!(t.failed_at(ATTACKER, v, now), None, "{v:?}");
        }
        let b = t
            .failed_at(ATTACKER, variants[4], now)
            .expect("the fifth starts a block");
        assert_eq!(b.scope, Scope::Login);
        for v in variants {
            assert_eq!(
                t.check_at(HOLDER, v, now).unwrap_err().scope,
                Scope::Login,
                "{v:?}"
            );
        }
        assert_eq!(t.tracked().0, 1);
        // A failure of the client alone counts against its address, never a login.
        let t = LoginThrottle::new(policy());
        for _ in 0..100 {
            t.failed_from(ATTACKER);
        }
        assert_eq!(t.tracked(), (0, 1));
        assert_eq!(t.check_at(HOLDER, "mario@pec.localhost", now), Ok(()));
    }

    /// Review item: the services built their policy from `[auth]` alone, missing the older
    /// `auth_failures_per_minute` keys that pecd itself honoured.
    #[test]
    fn policy_from_config_folds_in_the_legacy_keys() {
        let mut config = Config::default();
        config.pop3.auth_failures_per_minute = Some(3);
        let p = Policy::from(&config);
        assert_eq!(p.failures_per_login, 3);
        assert_eq!(p.failures_per_ip, config.auth.failures_per_ip);
        assert_eq!(
            p.max_block,
            Duration::from_secs(config.auth.max_block_seconds)
        );
    }

    #[test]
    fn checks_store_nothing() {
        let t = LoginThrottle::new(policy());
        for i in 0..1000 {
            t.check(ATTACKER, &login_key(&format!("user{i}"))).unwrap();
        }
        assert_eq!(t.tracked(), (0, 0));
    }

    #[test]
    fn maps_stay_bounded_and_keep_blocked_keys() {
        let t = LoginThrottle::new(Policy {
            max_tracked: 100,
            ..policy()
        });
        let now = Instant::now();
        fail_n(&t, HOLDER, "target", 5, now);
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failed_at(
                ip,
                &format!("junk{i}"),
                now + Duration::from_millis(i.into()),
            );
            let (logins, ips) = t.tracked();
            assert!(logins <= 100 && ips <= 100, "{logins} {ips}");
        }
        assert!(
            t.check_at(HOLDER, "target", now + Duration::from_secs(30))
                .is_err(),
            "filling the map with junk does not lift a block"
        );
    }

    #[test]
    fn forgotten_entries_are_swept() {
        let t = LoginThrottle::new(policy());
        let now = Instant::now();
        for i in 0..100 {
            t.failed_at(HOLDER, &format!("user{i}"), now);
        }
        assert_eq!(t.tracked(), (100, 1));
        // The address was blocked for 60 s; it is forgotten 600 s after that.
        let later = now + Duration::from_secs(661);
        for _ in 0..SWEEP_EVERY {
            t.failed_at(ATTACKER, "x", later);
        }
        assert_eq!(t.tracked(), (1, 1));
    }
}
