//! Login sessions of the HTTPS interface, in memory: a random token (sent as a bearer token
//! or an HttpOnly cookie) mapped, by its SHA-256, to who logged in and a CSRF token for
//! cookie-authenticated forms. A session ends when unused for `http.session_idle_seconds`,
//! `http.session_max_seconds` after its login, at logout, or when the process restarts.
//! At most `http.max_sessions` are kept; the least recently used goes first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use openssl::sha::sha256;
use rand::RngCore;

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An archive operator (user id).
    Operator(String),
    /// A mailbox holder: the login they used, the mailbox, identity and password (as its
    /// stamp) it was proven for, and whether that password had expired (such a session may
    /// only set a new password).
    Holder {
        login: String,
        mailbox: u64,
        identity: String,
        password_stamp: [u8; 32],
        expired: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
    created: Instant,
    last_used: Instant,
}

pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    max_age: Duration,
    capacity: usize,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    pub fn new(idle: Duration, max_age: Duration, capacity: usize) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            max_age,
            capacity: capacity.max(1),
        }
    }

    /// Opens a session; returns its token and CSRF token.
    pub fn open(&self, principal: Principal) -> (String, String) {
        let (token, csrf) = (random_token(), random_token());
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| self.live(s, now));
        if map.len() >= self.capacity {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            sha256(token.as_bytes()),
            Session {
                principal,
                csrf: csrf.clone(),
                created: now,
                last_used: now,
            },
        );
        (token, csrf)
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_used) < self.idle && now.duration_since(s.created) < self.max_age
    }

    /// The live session of `token`, marked as used now.
    pub fn get(&self, token: &str) -> Option<Session> {
        let key = sha256(token.as_bytes());
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let live = map.get(&key).is_some_and(|s| self.live(s, now));
        if !live {
            map.remove(&key);
            return None;
        }
        let s = map.get_mut(&key)?;
        s.last_used = now;
        Some(s.clone())
    }

    /// Changes the live session of `token` (a holder's password no longer expired).
    pub fn update(&self, token: &str, change: impl FnOnce(&mut Session)) {
        let key = sha256(token.as_bytes());
        if let Some(s) = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&key)
        {
            change(s);
        }
    }

    /// Ends the session of `token`; returns whether there was one.
    pub fn close(&self, token: &str) -> bool {
        let key = sha256(token.as_bytes());
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
            .is_some()
    }

    /// Ends every session of `principal` (a deleted operator, a changed password).
    pub fn close_all(&self, principal: &Principal) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| &s.principal != principal);
    }

    /// Ends every session but `keep`'s for which `doomed` holds (a holder's other sessions
    /// once it has set a new password).
    pub fn close_others(&self, keep: &str, doomed: impl Fn(&Principal) -> bool) {
        let keep = sha256(keep.as_bytes());
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, s| *k == keep || !doomed(&s.principal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_idle_at_logout_and_past_its_age() {
        let s = Sessions::new(Duration::from_millis(50), Duration::from_secs(60), 10);
        let (token, csrf) = s.open(Principal::Operator("op".into()));
        assert_eq!(s.get(&token).unwrap().csrf, csrf);
        assert!(s.get("not a token").is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&token).is_none(), "idle too long");
        let (token, _) = s.open(Principal::Operator("op".into()));
        assert!(s.close(&token));
        assert!(s.get(&token).is_none());
        let aged = Sessions::new(Duration::from_secs(60), Duration::from_millis(30), 10);
        let (token, _) = aged.open(Principal::Holder {
            login: "h".into(),
            mailbox: 1,
            identity: "h".into(),
            password_stamp: [0; 32],
            expired: false,
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(aged.get(&token).is_none(), "past its age even when used");
    }

    #[test]
    fn the_least_recently_used_session_goes_past_capacity() {
        let s = Sessions::new(Duration::from_secs(60), Duration::from_secs(60), 2);
        let (a, _) = s.open(Principal::Operator("a".into()));
        let (b, _) = s.open(Principal::Operator("b".into()));
        std::thread::sleep(Duration::from_millis(5));
        assert!(s.get(&a).is_some());
        let (c, _) = s.open(Principal::Operator("c".into()));
        assert!(s.get(&b).is_none(), "b was the least recently used");
        assert!(s.get(&a).is_some() && s.get(&c).is_some());
        s.close_all(&Principal::Operator("a".into()));
        assert!(s.get(&a).is_none());
    }
}
