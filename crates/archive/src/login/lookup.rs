//! Login → principal → mailbox in one lookup (PROVISIONING.md §1, §4, §7): a login is the
//! mailbox address (its master), the master user id (`casella_userid`: user id -> address),
//! or a slave user id (`slave` records), which opens its master's mailbox. The normalised
//! login is also the login cache's key, so both paths read a login alike.

use pecd_common::address::Address;
use pecd_common::throttle::MAX_LOGIN_KEY_BYTES;
use pecd_store::{Mailbox, Store};

use super::principal::{PrincipalInfo, Slave, SlaveState};
use super::AuthError;
use crate::caselle::BY_USERID;
use crate::operators::userid_key;
use crate::records;

/// A login as it is looked up: an address or a user id, normalised (trimmed, lower case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginName {
    Address(Address),
    Userid(String),
}

impl LoginName {
    /// The login as typed, normalised; `None` for what can name no principal (too long, an
    /// invalid address, a user id with characters no user id has).
    pub fn parse(login: &str) -> Option<LoginName> {
        if login.len() > MAX_LOGIN_KEY_BYTES {
            return None;
        }
        if login.contains('@') {
            return Address::parse(login).ok().map(LoginName::Address);
        }
        userid_key(login.trim()).ok().map(LoginName::Userid)
    }

    pub fn as_str(&self) -> &str {
        match self {
            LoginName::Address(a) => a.as_str(),
            LoginName::Userid(u) => u,
        }
    }
}

/// Who a login names, with the password that proves it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub mailbox: Mailbox,
    /// The user id logged in with (`None` when the login was the address).
    pub userid: Option<String>,
    /// The slave's state; `None` for the master.
    pub slave: Option<SlaveState>,
    /// The key of its [`PrincipalInfo`]: the master's address or the slave's user id.
    pub identity: String,
    pub password_hash: String,
    pub password_changed_at: i64,
    pub info: Option<PrincipalInfo>,
}

/// The principal `name` names, if any.
pub async fn resolve(store: &Store, name: &LoginName) -> Result<Option<Candidate>, AuthError> {
    let unavailable = |_| AuthError::Unavailable;
    let (address, userid, slave) = match name {
        LoginName::Address(a) => (a.as_str().to_string(), None, None),
        LoginName::Userid(u) => match store.record(BY_USERID, u.as_bytes()).await {
            Ok(Some(address)) => (
                String::from_utf8_lossy(&address).into_owned(),
                Some(u.clone()),
                None,
            ),
            Ok(None) => match records::load::<Slave>(store, u.as_bytes()).await {
                Ok(Some(s)) => (s.mailbox.clone(), Some(u.clone()), Some(s)),
                Ok(None) => return Ok(None),
                Err(_) => return Err(AuthError::Unavailable),
            },
            Err(e) => return Err(unavailable(e)),
        },
    };
    let Some(mailbox) = store.find_mailbox(&address).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let identity = match &slave {
        Some(s) => s.userid.clone(),
        None => mailbox.address.clone(),
    };
    let info = records::load::<PrincipalInfo>(store, identity.as_bytes())
        .await
        .map_err(|_| AuthError::Unavailable)?;
    let (password_hash, password_changed_at) = match &slave {
        Some(s) => (s.password_hash.clone(), s.password_changed_at),
        None => (mailbox.password_hash.clone(), mailbox.password_changed_at),
    };
    Ok(Some(Candidate {
        userid,
        slave: slave.map(|s| s.state),
        identity,
        password_hash,
        password_changed_at,
        info,
        mailbox,
    }))
}
