//! Slave user ids (PROVISIONING.md §4 "Multi-user", M§4.4.3): extra logins that open a
//! mailbox, each with first name, last name, description (the master's by default), its own
//! password (§7 policy, its own expiry) and a system-assigned user id ([`userid`]). States
//! `in attivazione` → `attiva` → `in disattivazione` → `disattivata` (and back through
//! `in attivazione`); the job runner completes the transitions ([`jobs`]) and no operation
//! is taken while one is pending. At most [`MAX_ACTIVE`] slaves per mailbox are `attiva` or
//! `in attivazione`, and only an active mailbox gets or reactivates one.
//!
//! The records ([`Slave`], [`PrincipalInfo`]) live in [`crate::login::principal`], which
//! the login reads.

pub mod follow;
mod jobs;
#[cfg(test)]
pub(crate) mod tests;
pub mod userid;

use pecd_common::address::Address;
use pecd_store::{MailboxState, RecordTx};
use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::login::access;
use crate::login::expiry::password_expired;
use crate::login::principal::{PrincipalInfo, Slave, SlaveState, SLAVE_BY_MAILBOX, SLAVE_PENDING};
use crate::model::{Casella, CasellaState};
use crate::operators::{checked_hash, userid_key};
use crate::records::{self, pair_key};
use crate::scope::Actor;
use crate::{audit, check_text, Archive};

/// Slaves `attiva` or `in attivazione` a mailbox may have.
pub const MAX_ACTIVE: usize = 25;

/// What `slave add` gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSlave {
    /// The master mailbox's address.
    pub address: String,
    pub first_name: String,
    pub last_name: String,
    /// Default: the master's description (the address for a mailbox without a casella).
    #[serde(default)]
    pub description: Option<String>,
    pub password: String,
    /// The password is a first one to change at the first login (expired at once).
    #[serde(default)]
    pub must_change: bool,
    #[serde(default)]
    pub recovery_email: Option<String>,
    #[serde(default)]
    pub recovery_mobile: Option<String>,
}

/// A slave as `slave add` and `slave list` show it (ARCHITECTURE.md "Interfaces").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaveView {
    pub userid: String,
    pub state: SlaveState,
    pub first_name: String,
    pub last_name: String,
    pub description: String,
    /// The master mailbox's address.
    pub mailbox: String,
    pub created_at: i64,
    pub password_changed_at: i64,
    /// Whether its password is expired now (engine clock).
    pub password_expired: bool,
    /// Last successful login (any protocol), Unix seconds.
    pub last_access: Option<i64>,
    pub recovery_email: Option<String>,
    pub recovery_mobile: Option<String>,
}

/// The casella of `address` if any, checked for a change by `actor`: in scope, and (for a
/// new or reactivated slave) active: `evasa` without a pending transition, or a store
/// mailbox Active when there is no casella (an incomplete mailbox: administrators only).
fn check_mailbox(
    tx: &dyn RecordTx,
    actor: &Actor,
    address: &str,
    store_state: MailboxState,
    must_be_active: bool,
) -> Result<Option<Casella>> {
    let casella = records::get::<Casella>(tx, address.as_bytes())?;
    match &casella {
        // A mailbox without a request is incomplete (PROVISIONING.md §3): administrators
        // only, even once it has a customer.
        Some(c) => crate::mailboxes::check_change_all(actor, std::slice::from_ref(c))?,
        None => actor.check_change(None, None)?,
    }
    if must_be_active {
        let active = match &casella {
            Some(c) => c.state == CasellaState::Evasa && c.pending.is_none(),
            None => store_state == MailboxState::Active,
        };
        if !active {
            let shown = casella.as_ref().map_or("revocata", |c| c.shown_state());
            return Err(ArchiveError::conflict(format!(
                "[!] Attenzione: la casella {address} non è attiva (stato {shown}): userid \
                 slave non consentiti"
            )));
        }
    }
    Ok(casella)
}

/// Slaves of a mailbox, in user-id order.
fn slaves_of(tx: &dyn RecordTx, address: &str) -> Result<Vec<Slave>> {
    let mut out = Vec::new();
    for (key, _) in tx.scan(SLAVE_BY_MAILBOX, &pair_key(address, b""))? {
        let userid = &key[address.len() + 1..];
        if let Some(s) = records::get::<Slave>(tx, userid)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Refuses a 26th slave `attiva` or `in attivazione`.
fn check_room(tx: &dyn RecordTx, address: &str) -> Result<()> {
    let counted = slaves_of(tx, address)?
        .iter()
        .filter(|s| s.state.counts())
        .count();
    if counted >= MAX_ACTIVE {
        return Err(ArchiveError::conflict(format!(
            "[!] Attenzione: la casella {address} ha già {counted} userid slave attivi o in \
             attivazione (al massimo {MAX_ACTIVE})"
        )));
    }
    Ok(())
}

/// Refuses any operation on a slave whose transition is pending.
fn check_not_pending(s: &Slave) -> Result<()> {
    if s.state.is_pending() {
        return Err(ArchiveError::conflict(format!(
            "[!] Attenzione: userid {} {}: operazione non consentita finché la transizione \
             non è completata",
            s.userid,
            s.state.name()
        )));
    }
    Ok(())
}

pub(crate) fn check_recovery(email: &Option<String>, mobile: &Option<String>) -> Result<()> {
    if let Some(e) = email {
        Address::parse(e).map_err(|_| {
            ArchiveError::invalid(format!("--recovery-email {e:?}: indirizzo non valido"))
        })?;
    }
    if let Some(m) = mobile {
        let digits = m.strip_prefix('+').unwrap_or(m);
        if !(6..=16).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ArchiveError::invalid(format!(
                "--recovery-mobile {m:?}: da 6 a 16 cifre, con '+' iniziale facoltativo"
            )));
        }
    }
    Ok(())
}

/// Moves `s` to `state` (and the pending index with it).
fn set_state(tx: &mut dyn RecordTx, s: &mut Slave, state: SlaveState, now: i64) -> Result<()> {
    s.state = state;
    s.state_changed_at = now;
    if state.is_pending() {
        tx.put(SLAVE_PENDING, s.userid.as_bytes(), Vec::new())?;
    } else {
        tx.delete(SLAVE_PENDING, s.userid.as_bytes())?;
    }
    records::put(tx, s)
}

/// A mailbox's slave counts, as its detail shows them (PROVISIONING.md §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaveCounts {
    pub total: usize,
    /// `attiva` or `in attivazione`.
    pub active_or_activating: usize,
}

impl Archive {
    /// The slave counts of the mailbox `address` (already normalised), for its detail.
    pub async fn slave_counts(&self, address: &str) -> Result<SlaveCounts> {
        let address = address.to_string();
        self.transaction(move |tx| {
            let all = slaves_of(tx, &address)?;
            Ok(SlaveCounts {
                total: all.len(),
                active_or_activating: all.iter().filter(|s| s.state.counts()).count(),
            })
        })
        .await
    }

    fn slave_view(&self, s: Slave, info: Option<PrincipalInfo>) -> SlaveView {
        let now = self.now();
        SlaveView {
            last_access: access::last_access(info.as_ref(), &s.userid),
            password_expired: password_expired(s.password_changed_at, info.as_ref(), now),
            recovery_email: info.as_ref().and_then(|i| i.recovery_email.clone()),
            recovery_mobile: info.and_then(|i| i.recovery_mobile),
            userid: s.userid,
            state: s.state,
            first_name: s.first_name,
            last_name: s.last_name,
            description: s.description,
            mailbox: s.mailbox,
            created_at: s.created_at,
            password_changed_at: s.password_changed_at,
        }
    }

    /// The store mailbox of `address` (every slave opens one).
    async fn slave_mailbox(&self, address: &str) -> Result<(String, MailboxState)> {
        let parsed = Address::parse(address)
            .map_err(|e| ArchiveError::invalid(format!("indirizzo {address:?}: {e}")))?;
        match self.store().find_mailbox(parsed.as_str()).await? {
            Some(m) => Ok((m.address, m.state)),
            None => Err(ArchiveError::not_found(format!(
                "casella inesistente: {}",
                parsed.as_str()
            ))),
        }
    }

    /// `slave add`: a new slave `in attivazione` on an active mailbox.
    pub async fn add_slave(&self, actor: &Actor, n: NewSlave) -> Result<SlaveView> {
        check_text("first name", &n.first_name, 100)?;
        check_text("last name", &n.last_name, 100)?;
        if let Some(d) = &n.description {
            check_text("description", d, 200)?;
        }
        check_recovery(&n.recovery_email, &n.recovery_mobile)?;
        let (address, store_state) = self.slave_mailbox(&n.address).await?;
        let hash = checked_hash(n.password.clone()).await?;
        let (actor, now) = (actor.clone(), self.now());
        let (slave, info) = self
            .transaction(move |tx| {
                let casella = check_mailbox(tx, &actor, &address, store_state, true)?;
                check_room(tx, &address)?;
                let master = casella.as_ref().and_then(|c| c.userid.as_deref());
                let userid = userid::assign(tx, &userid::base(master, &address), &address)?;
                let description = match (&n.description, &casella) {
                    (Some(d), _) => d.trim().to_string(),
                    (None, Some(c)) if !c.description.trim().is_empty() => c.description.clone(),
                    // An incomplete mailbox has no description yet: its address names it.
                    (None, _) => address.clone(),
                };
                let mut slave = Slave {
                    userid: userid.clone(),
                    mailbox: address.clone(),
                    first_name: n.first_name.trim().to_string(),
                    last_name: n.last_name.trim().to_string(),
                    description,
                    state: SlaveState::InAttivazione,
                    password_hash: hash,
                    password_changed_at: if n.must_change { 0 } else { now },
                    created_at: now,
                    state_changed_at: now,
                };
                tx.put(SLAVE_BY_MAILBOX, &slave.mailbox_key(), Vec::new())?;
                set_state(tx, &mut slave, SlaveState::InAttivazione, now)?;
                let info = PrincipalInfo {
                    identity: userid.clone(),
                    recovery_email: n.recovery_email.clone(),
                    recovery_mobile: n.recovery_mobile.clone(),
                    ..PrincipalInfo::default()
                };
                records::put(tx, &info)?;
                audit::record(tx, &actor, now, "slave.add", &userid, address.clone())?;
                Ok((slave, info))
            })
            .await?;
        Ok(self.slave_view(slave, Some(info)))
    }

    /// `slave list`: the slaves of a mailbox the actor sees.
    pub async fn list_slaves(&self, actor: &Actor, address: &str) -> Result<Vec<SlaveView>> {
        let (address, _) = self.slave_mailbox(address).await?;
        let actor = actor.clone();
        let listed = self
            .transaction(move |tx| {
                let casella = records::get::<Casella>(tx, address.as_bytes())?;
                match &casella {
                    Some(c) => actor.check_scope(c.customer.as_deref(), c.account.as_deref())?,
                    None => actor.check_scope(None, None)?,
                }
                let mut out = Vec::new();
                for s in slaves_of(tx, &address)? {
                    let info = records::get::<PrincipalInfo>(tx, s.userid.as_bytes())?;
                    out.push((s, info));
                }
                Ok(out)
            })
            .await?;
        Ok(listed
            .into_iter()
            .map(|(s, info)| self.slave_view(s, info))
            .collect())
    }

    /// `slave activate`: `disattivata` → `in attivazione`, on an active mailbox with room.
    pub async fn activate_slave(&self, actor: &Actor, userid: &str) -> Result<SlaveView> {
        self.change_slave(actor, userid, "slave.activate", |tx, s| {
            if s.state != SlaveState::Disattivata {
                return Err(ArchiveError::conflict(format!(
                    "[!] Attenzione: userid {} {}: si attiva solo da disattivata",
                    s.userid,
                    s.state.name()
                )));
            }
            check_room(tx, &s.mailbox)?;
            Ok(Some(SlaveState::InAttivazione))
        })
        .await
    }

    /// `slave deactivate`: `attiva` → `in disattivazione`.
    pub async fn deactivate_slave(&self, actor: &Actor, userid: &str) -> Result<SlaveView> {
        self.change_slave(actor, userid, "slave.deactivate", |_, s| {
            if s.state != SlaveState::Attiva {
                return Err(ArchiveError::conflict(format!(
                    "[!] Attenzione: userid {} {}: si disattiva solo da attiva",
                    s.userid,
                    s.state.name()
                )));
            }
            Ok(Some(SlaveState::InDisattivazione))
        })
        .await
    }

    /// `slave passwd`: a new password (§7 policy); with `must_change`, a first password
    /// to change at the next login.
    pub async fn set_slave_password(
        &self,
        actor: &Actor,
        userid: &str,
        password: String,
        must_change: bool,
    ) -> Result<SlaveView> {
        let hash = checked_hash(password).await?;
        let now = self.now();
        self.change_slave(actor, userid, "slave.passwd", move |_, s| {
            s.password_hash = hash;
            s.password_changed_at = if must_change { 0 } else { now };
            Ok(None)
        })
        .await
    }

    /// One change of an existing slave, refused while its transition is pending: `change`
    /// edits it and names its new state, if any; the change and its audit entry commit
    /// together.
    async fn change_slave(
        &self,
        actor: &Actor,
        userid: &str,
        action: &'static str,
        change: impl FnOnce(&dyn RecordTx, &mut Slave) -> Result<Option<SlaveState>> + Send + 'static,
    ) -> Result<SlaveView> {
        let key = userid_key(userid)?;
        let unknown =
            |key: &str| ArchiveError::not_found(format!("userid slave sconosciuto: {key}"));
        let stored = records::load::<Slave>(self.store(), key.as_bytes())
            .await?
            .ok_or_else(|| unknown(&key))?;
        let (_, store_state) = self.slave_mailbox(&stored.mailbox).await?;
        let (actor, now) = (actor.clone(), self.now());
        let (slave, info) = self
            .transaction(move |tx| {
                let mut s =
                    records::get::<Slave>(tx, key.as_bytes())?.ok_or_else(|| unknown(&key))?;
                let activating = action == "slave.activate";
                check_mailbox(tx, &actor, &s.mailbox, store_state, activating)?;
                check_not_pending(&s)?;
                let before = s.state;
                match change(tx, &mut s)? {
                    Some(state) => set_state(tx, &mut s, state, now)?,
                    None => records::put(tx, &s)?,
                }
                let detail = if before == s.state {
                    s.mailbox.clone()
                } else {
                    format!("{}: {} -> {}", s.mailbox, before.name(), s.state.name())
                };
                audit::record(tx, &actor, now, action, &s.userid, detail)?;
                let info = records::get::<PrincipalInfo>(tx, s.userid.as_bytes())?;
                Ok((s, info))
            })
            .await?;
        Ok(self.slave_view(slave, info))
    }
}
