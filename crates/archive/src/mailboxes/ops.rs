//! Operations on one mailbox or many (PROVISIONING.md §4): revoke (with its reason, and the
//! revocation form kept with the mailbox for an early revocation) and reactivate, recorded
//! as transitions that the job runner applies; and, only on an `evasa` mailbox with no
//! transition pending, the data changes: address (within `archive.address_change_days` of
//! the request's insertion), description, expiry, the massive flag, base → standard.
//!
//! A change that also touches the store (address, sending limit, quota) changes the store
//! first and the casella second, in one transaction with its audit entry; when the casella's
//! transaction fails the store change is undone.

use base64::Engine as _;
use chrono::NaiveDate;
use pecd_store::RecordTx;
use serde::{Deserialize, Serialize};

use super::{batch, check_change_all, pending_refusal, remember, Outcome, PENDING};
use crate::error::{ArchiveError, Result};
use crate::model::{Casella, CasellaState, MailboxType, RevokeReason, Transition};
use crate::records::{self, pair_key, Record};
use crate::scope::Actor;
use crate::{audit, caselle, check_text, Archive};

/// The revocation form of an early revocation, as uploaded (content in base64).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Form {
    pub name: String,
    pub content: String,
}

/// A revocation form kept with its mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredForm {
    pub address: String,
    pub name: String,
    /// The file, base64.
    pub content: String,
    pub size: u64,
    pub uploaded_by: String,
    pub at: i64,
}

impl Record for StoredForm {
    const FAMILY: &'static str = "casella_form";
    fn key(&self) -> Vec<u8> {
        pair_key(&self.address, self.name.as_bytes())
    }
}

/// Address changes the archive has committed and the store has not yet made: new address
/// -> old address (see [`Archive::finish_rename`]).
pub const RENAMING: &str = "casella_renaming";

/// What `mailbox change` changes; at least one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    #[serde(default)]
    pub new_address: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub expiry: Option<String>,
}

/// A date as operators write it: YYYY-MM-DD.
pub fn parse_date(what: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| ArchiveError::invalid(format!("{what} {s:?}: data non valida (AAAA-MM-GG)")))
}

fn check_form(form: &Form, max: u64) -> Result<Vec<u8>> {
    let name = form.name.rsplit('/').next().unwrap_or_default();
    check_text("nome del modulo di revoca", name, 200)?;
    if name != form.name || name.starts_with('.') {
        return Err(ArchiveError::invalid(format!(
            "nome del modulo di revoca {:?}: solo il nome del file",
            form.name
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(form.content.as_bytes())
        .map_err(|_| ArchiveError::invalid("modulo di revoca: contenuto non in base64"))?;
    if bytes.is_empty() {
        return Err(ArchiveError::invalid(format!(
            "modulo di revoca {name}: file vuoto"
        )));
    }
    if bytes.len() as u64 > max {
        return Err(ArchiveError::invalid(format!(
            "modulo di revoca {name}: al massimo {max} byte"
        )));
    }
    Ok(bytes)
}

/// Refuses anything but an `evasa` casella with no transition pending.
pub(crate) fn check_evasa(c: &Casella, what: &str) -> Result<()> {
    if let Some(r) = pending_refusal(c) {
        return Err(ArchiveError::conflict(r));
    }
    if c.state != CasellaState::Evasa {
        return Err(ArchiveError::conflict(format!(
            "casella {}: {what} solo su una casella evasa (stato: {})",
            c.address,
            c.shown_state()
        )));
    }
    Ok(())
}

/// A transition request for a batch: which state it needs and what it records.
struct TransitionAsk {
    from: CasellaState,
    action: &'static str,
    detail: String,
    transition: Transition,
    form: Option<StoredForm>,
}

impl Archive {
    /// Records the revocation of each mailbox (only from `evasa`); the job runner applies it.
    pub async fn revoke(
        &self,
        actor: &Actor,
        addresses: &[String],
        reason: RevokeReason,
        form: Option<Form>,
    ) -> Result<Vec<Outcome>> {
        let addresses = batch(addresses)?;
        let now = self.now();
        let form = match (reason, form) {
            (RevokeReason::CustomerRequest, None) => {
                return Err(ArchiveError::invalid(
                    "la revoca anticipata su richiesta del cliente richiede il modulo di \
                     revoca (--form FILE)",
                ))
            }
            (RevokeReason::CustomerRequest, Some(f)) => {
                let bytes = check_form(&f, self.config().archive.contract_max_bytes)?;
                Some(StoredForm {
                    address: String::new(),
                    name: f.name,
                    content: f.content,
                    size: bytes.len() as u64,
                    uploaded_by: actor.userid().to_string(),
                    at: now,
                })
            }
            (_, Some(_)) => {
                return Err(ArchiveError::invalid(
                    "il modulo di revoca si allega solo alla revoca su richiesta del cliente",
                ))
            }
            (_, None) => None,
        };
        let name = super::transitions::reason_name(reason);
        let ask = TransitionAsk {
            from: CasellaState::Evasa,
            action: "mailbox.revoke",
            detail: format!("richiesta di revoca ({name})"),
            transition: Transition::Revoke {
                reason,
                form: form.as_ref().map(|f| f.name.clone()),
                by: actor.userid().to_string(),
                at: now,
            },
            form,
        };
        self.record_transitions(actor, addresses, ask, now).await
    }

    /// Records the reactivation of each mailbox (only from `revocata`).
    pub async fn reactivate(&self, actor: &Actor, addresses: &[String]) -> Result<Vec<Outcome>> {
        let addresses = batch(addresses)?;
        let now = self.now();
        let ask = TransitionAsk {
            from: CasellaState::Revocata,
            action: "mailbox.reactivate",
            detail: "richiesta di riattivazione".to_string(),
            transition: Transition::Reactivate {
                by: actor.userid().to_string(),
                at: now,
            },
            form: None,
        };
        self.record_transitions(actor, addresses, ask, now).await
    }

    async fn record_transitions(
        &self,
        actor: &Actor,
        addresses: Vec<String>,
        ask: TransitionAsk,
        now: i64,
    ) -> Result<Vec<Outcome>> {
        let actor = actor.clone();
        self.transaction(move |tx| {
            let all = addresses
                .iter()
                .map(|a| super::get(tx, a))
                .collect::<Result<Vec<_>>>()?;
            check_change_all(&actor, &all)?;
            let mut out = Vec::with_capacity(all.len());
            for mut c in all {
                if let Some(r) = pending_refusal(&c) {
                    out.push(Outcome::negative(&c.address, r));
                    continue;
                }
                if c.state != ask.from {
                    out.push(Outcome::negative(
                        &c.address,
                        format!(
                            "stato {}: operazione possibile solo da {}",
                            c.shown_state(),
                            ask.from.name()
                        ),
                    ));
                    continue;
                }
                c.pending = Some(ask.transition.clone());
                remember(&mut c, &actor, now, ask.detail.clone());
                caselle::save(tx, &c, None)?;
                tx.put(PENDING, c.address.as_bytes(), Vec::new())?;
                if let Some(f) = &ask.form {
                    let mut f = f.clone();
                    f.address = c.address.clone();
                    records::put(tx, &f)?;
                }
                audit::record(tx, &actor, now, ask.action, &c.address, ask.detail.clone())?;
                out.push(Outcome::positive(&c.address));
            }
            Ok(out)
        })
        .await
    }

    /// A casella in the actor's scope that it may change, read outside a transaction.
    pub(crate) async fn casella_for_change(&self, actor: &Actor, address: &str) -> Result<Casella> {
        let address = super::normalize(address)?;
        let c = records::load::<Casella>(self.store(), address.as_bytes())
            .await?
            .ok_or_else(|| ArchiveError::not_found(format!("casella inesistente: {address}")))?;
        check_change_all(actor, std::slice::from_ref(&c))?;
        Ok(c)
    }

    /// Changes the address (within the window), the description or the expiry of an
    /// `evasa` mailbox.
    pub async fn change(&self, actor: &Actor, address: &str, ch: Change) -> Result<Casella> {
        if ch.new_address.is_none() && ch.description.is_none() && ch.expiry.is_none() {
            return Err(ArchiveError::invalid(
                "indicare almeno un dato da cambiare (--new-address, --description, --expiry)",
            ));
        }
        if let Some(d) = &ch.description {
            check_text("descrizione", d, 200)?;
        }
        let expiry = match &ch.expiry {
            Some(e) => {
                let d = parse_date("--expiry", e)?;
                if d < self.today() {
                    return Err(ArchiveError::invalid(format!(
                        "--expiry {d}: la scadenza non può essere nel passato"
                    )));
                }
                Some(d)
            }
            None => None,
        };
        let c = self.casella_for_change(actor, address).await?;
        check_evasa(&c, "cambio dati")?;
        let now = self.now();
        let new_address = match &ch.new_address {
            Some(n) => Some(self.check_new_address(&c, n, now).await?),
            None => None,
        };
        if let Some(n) = &new_address {
            if self.store().find_mailbox(n).await?.is_some() {
                return Err(ArchiveError::conflict(format!("indirizzo già in uso: {n}")));
            }
        }
        let (actor2, old, desc) = (actor.clone(), c.address.clone(), ch.description.clone());
        let renamed = new_address.clone();
        let result = self
            .transaction(move |tx| {
                let mut c = super::get(tx, &old)?;
                check_evasa(&c, "cambio dati")?;
                let mut what = Vec::new();
                if let Some(n) = &renamed {
                    if tx.get(Casella::FAMILY, n.as_bytes())?.is_some() {
                        return Err(ArchiveError::conflict(format!(
                            "casella già esistente: {n}"
                        )));
                    }
                    what.push(format!("indirizzo {old} -> {n}"));
                    c.address = n.clone();
                }
                if let Some(d) = &desc {
                    what.push(format!("descrizione {:?} -> {:?}", c.description, d.trim()));
                    c.description = d.trim().to_string();
                }
                if let Some(e) = expiry {
                    let before = c.expiry.map_or("-".to_string(), |d| d.to_string());
                    what.push(format!("scadenza {before} -> {e}"));
                    c.expiry = Some(e);
                }
                let what = what.join("; ");
                remember(&mut c, &actor2, now, what.clone());
                caselle::save(tx, &c, Some(&old))?;
                move_pending_key(tx, &old, &c.address)?;
                if c.address != old {
                    crate::slaves::follow::move_mailbox(tx, &old, &c.address)?;
                    // The store's rename follows this commit; until it is done the marker
                    // lets the job runner finish it after a crash.
                    tx.put(RENAMING, c.address.as_bytes(), old.as_bytes().to_vec())?;
                }
                audit::record(tx, &actor2, now, "mailbox.change", &old, what)?;
                Ok(c)
            })
            .await;
        let changed = result?;
        if changed.address != c.address {
            self.finish_rename(&c.address, &changed.address).await?;
        }
        Ok(changed)
    }

    /// The store's side of an address change the archive has committed: the store mailbox
    /// of `old` becomes `new` (unless it already is), then the marker goes. Run by `change`
    /// and, for a change a crash interrupted, by the job runner ([`Archive::finish_renames`]).
    pub(crate) async fn finish_rename(&self, old: &str, new: &str) -> Result<()> {
        if self.store().find_mailbox(new).await?.is_none() {
            if let Some(m) = self.store().find_mailbox(old).await? {
                self.store().rename_mailbox(m.id, new).await?;
            }
        }
        let new = new.to_string();
        self.transaction(move |tx| {
            tx.delete(RENAMING, new.as_bytes())?;
            Ok(())
        })
        .await
    }

    /// Finishes the address changes a crash left half done (job runner step).
    pub async fn finish_renames(&self, report: &mut crate::report::JobReport) -> Result<()> {
        for (new, old) in self.store().scan_records(RENAMING, b"", usize::MAX).await? {
            let (new, old) = (
                String::from_utf8_lossy(&new).into_owned(),
                String::from_utf8_lossy(&old).into_owned(),
            );
            match self.finish_rename(&old, &new).await {
                Ok(()) => report.did("mailbox.rename", &new, format!("da {old}")),
                Err(e) => report.failed("mailbox.rename", &new, e.message),
            }
        }
        Ok(())
    }

    async fn check_new_address(&self, c: &Casella, new: &str, now: i64) -> Result<String> {
        let n = super::normalize(new)?;
        if n == c.address {
            return Err(ArchiveError::invalid(format!(
                "--new-address {n}: è già l'indirizzo della casella"
            )));
        }
        let days = self.config().archive.address_change_days;
        // The window opens with the request's insertion (PROVISIONING.md §4), also for lines
        // a modification or a completion added later; an incomplete mailbox has its own.
        let inserted = match c.request {
            Some(code) => self
                .load_request(code)
                .await
                .map_or(c.inserted_at, |r| r.created_at.min(c.inserted_at)),
            None => c.inserted_at,
        };
        if now - inserted > days * 86_400 {
            return Err(ArchiveError::conflict(format!(
                "casella {}: l'indirizzo si può cambiare solo entro {days} giorni \
                 dall'inserimento della richiesta",
                c.address
            )));
        }
        let domain = n.rsplit_once('@').map_or("", |(_, d)| d);
        let family = self
            .activation_domain(domain, c.customer.as_deref(), c.account.as_deref())
            .await?;
        if family != c.family {
            return Err(ArchiveError::invalid(format!(
                "--new-address {n}: il dominio è di un'altra famiglia"
            )));
        }
        if records::load::<Casella>(self.store(), n.as_bytes())
            .await?
            .is_some()
        {
            return Err(ArchiveError::conflict(format!(
                "casella già esistente: {n}"
            )));
        }
        Ok(n)
    }

    /// Sets or clears the massive flag (operators entitled to it): the sending limit becomes
    /// `archive.massive_sender_per_minute`, or the default again.
    pub async fn set_massive(&self, actor: &Actor, address: &str, on: bool) -> Result<Casella> {
        if !actor.may_manage_massive() {
            return Err(ArchiveError::forbidden(format!(
                "[!] Attenzione: lo userid {} non è abilitato alla gestione delle caselle massive",
                actor.userid()
            )));
        }
        let c = self.casella_for_change(actor, address).await?;
        check_evasa(&c, "flag massiva")?;
        if c.massive == on {
            return Ok(c);
        }
        let limit = on.then_some(self.config().archive.massive_sender_per_minute);
        let mailbox = self.store().find_mailbox(&c.address).await?;
        if let Some(m) = &mailbox {
            self.store()
                .update_settings(m.id, move |s| s.sender_per_minute = limit)
                .await?;
        }
        let (actor2, now, addr) = (actor.clone(), self.now(), c.address.clone());
        let result = self
            .transaction(move |tx| {
                let mut c = super::get(tx, &addr)?;
                check_evasa(&c, "flag massiva")?;
                c.massive = on;
                let what = if on { "massiva: sì" } else { "massiva: no" };
                remember(&mut c, &actor2, now, what);
                caselle::save(tx, &c, None)?;
                audit::record(tx, &actor2, now, "mailbox.massive", &addr, what)?;
                Ok(c)
            })
            .await;
        if let (Err(_), Some(m)) = (&result, mailbox) {
            let previous = m.settings.sender_per_minute;
            let _ = self
                .store()
                .update_settings(m.id, move |s| s.sender_per_minute = previous)
                .await;
        }
        result
    }

    /// A base mailbox becomes standard (only `evasa`): open, with the family's security
    /// archive and SMS, and its disk quota raised to the family's where lower.
    pub async fn to_standard(&self, actor: &Actor, address: &str) -> Result<Casella> {
        let c = self.casella_for_change(actor, address).await?;
        check_evasa(&c, "passaggio a standard")?;
        if c.kind != Some(MailboxType::Base) {
            return Err(ArchiveError::conflict(format!(
                "casella {}: solo una casella base può diventare standard (tipo: {})",
                c.address,
                c.kind.map_or("non definito", |k| k.name())
            )));
        }
        let defaults = self.family_defaults(c.family).clone();
        let mailbox = self.store().find_mailbox(&c.address).await?;
        let quota = defaults.quota_bytes.max(c.services.quota_bytes);
        if let Some(m) = mailbox.as_ref().filter(|m| m.quota_bytes < quota) {
            self.store().set_quota(m.id, quota).await?;
        }
        let (actor2, now, addr) = (actor.clone(), self.now(), c.address.clone());
        let result = self
            .transaction(move |tx| {
                let mut c = super::get(tx, &addr)?;
                check_evasa(&c, "passaggio a standard")?;
                c.kind = Some(MailboxType::Standard);
                c.services.archive_gb = c.services.archive_gb.max(defaults.archive_gb);
                c.services.sms = true;
                c.services.quota_bytes = quota;
                let what = format!(
                    "base -> standard (archivio {} GB, SMS, quota {} byte)",
                    c.services.archive_gb, quota
                );
                remember(&mut c, &actor2, now, what.clone());
                caselle::save(tx, &c, None)?;
                audit::record(tx, &actor2, now, "mailbox.to-standard", &addr, what)?;
                Ok(c)
            })
            .await;
        if let (Err(_), Some(m)) = (&result, mailbox) {
            let _ = self.store().set_quota(m.id, m.quota_bytes).await;
        }
        result
    }

    /// The default services of a family (PROVISIONING.md §4 "Defaults").
    pub fn family_defaults(
        &self,
        family: crate::model::DomainFamily,
    ) -> &pecd_common::config::MailboxDefaults {
        match family {
            crate::model::DomainFamily::Ordinary => &self.config().archive.ordinary,
            crate::model::DomainFamily::Pa => &self.config().archive.pa,
        }
    }
}

/// Keeps the pending-transition index in step with a casella that changed address.
fn move_pending_key(tx: &mut dyn RecordTx, old: &str, new: &str) -> Result<()> {
    if old != new && tx.get(PENDING, old.as_bytes())?.is_some() {
        tx.delete(PENDING, old.as_bytes())?;
        tx.put(PENDING, new.as_bytes(), Vec::new())?;
    }
    Ok(())
}
