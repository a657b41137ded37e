//! Incomplete mailboxes (PROVISIONING.md §3 "Incomplete requests", pecd decision): a mailbox
//! made with `pecctl mailbox create` has no request, so its casella carries no contract data
//! (`codice attivazione: non definito`), no customer or account and no type (ordinary mail
//! follows the per-domain policy). It is `evasa` at once. Non-administrators see it but
//! cannot change it. An administrator may give it a customer, an account and a type
//! ([`Archive::assign`]).

use crate::error::{ArchiveError, Result};
use crate::model::{Casella, CasellaState, Domain, DomainFamily, Services};
use crate::records::{self, Record};
use crate::scope::Actor;
use crate::{audit, caselle, Archive};

impl Archive {
    /// The family of the domain of `address`: an archive domain's own, else by the
    /// configured parents.
    pub(crate) async fn family_of(&self, address: &str) -> Result<DomainFamily> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        match records::load::<Domain>(self.store(), domain.as_bytes()).await? {
            Some(d) => Ok(d.family),
            None => Ok(self.configured_family(domain)),
        }
    }

    /// Registers the casella of a mailbox just made by `pecctl mailbox create`: incomplete,
    /// `evasa`, activated now. Refused when the archive already has a casella of that address.
    pub async fn register_incomplete(&self, address: &str) -> Result<Casella> {
        let address = super::normalize(address)?;
        let now = self.now();
        let casella = Casella {
            address: address.clone(),
            userid: None,
            description: String::new(),
            kind: None,
            state: CasellaState::Evasa,
            pending: None,
            request: None,
            customer: None,
            account: None,
            family: self.family_of(&address).await?,
            expiry: None,
            inserted_at: now,
            activated_at: Some(now),
            massive: false,
            services: Services {
                archive_gb: 0,
                sms: false,
                quota_bytes: self.config().limits.mailbox_quota_bytes,
            },
            revoke_reason: None,
            revoked_at: None,
            purged_at: None,
            history: vec![crate::model::HistoryEntry {
                at: now,
                by: Actor::Admin.userid().to_string(),
                what: "creata senza richiesta (codice attivazione non definito)".into(),
            }],
        };
        let stored = casella.clone();
        self.transaction(move |tx| {
            // A cancelled request's line leaves its address free again.
            if records::get::<Casella>(tx, stored.address.as_bytes())?
                .is_some_and(|c| c.state != CasellaState::Annullata)
            {
                return Err(ArchiveError::conflict(format!(
                    "casella già presente nell'archivio: {}",
                    stored.address
                )));
            }
            caselle::save(tx, &stored, None)?;
            audit::record(
                tx,
                &Actor::Admin,
                now,
                "mailbox.create",
                &stored.address,
                "casella incompleta (senza richiesta)",
            )
        })
        .await?;
        Ok(casella)
    }

    /// Forgets the casella of a mailbox `pecctl mailbox delete` removes, with its slaves and
    /// its holder's data; run before the store's deletion, so that a failure leaves the
    /// mailbox whole and the command can be repeated.
    pub async fn forget_casella(&self, address: &str) -> Result<()> {
        let address = super::normalize(address)?;
        let now = self.now();
        self.transaction(move |tx| {
            // Slaves and the holder's data go even without a casella (a mailbox of an older
            // pecd): nothing of the address may outlive the mailbox.
            crate::slaves::follow::forget_mailbox(tx, &address)?;
            if tx.get(Casella::FAMILY, address.as_bytes())?.is_none() {
                return Ok(());
            }
            caselle::remove(tx, &address)?;
            tx.delete(super::PENDING, address.as_bytes())?;
            audit::record(tx, &Actor::Admin, now, "mailbox.delete", &address, "")
        })
        .await
    }
}

/// What an administrator gives an incomplete mailbox with `pecctl mailbox assign`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    pub customer: String,
    pub account: String,
    #[serde(default)]
    pub kind: Option<crate::model::MailboxType>,
}

impl Archive {
    /// An administrator's completion of an incomplete mailbox with its customer, account
    /// and type (pecd decision: the archive's own step for mailboxes made by `pecctl mailbox
    /// create`; the contract data stay `non definito` until a request lists it). The
    /// mailbox gets a master user id by the account's rule and the services of its type.
    pub async fn assign(&self, actor: &Actor, address: &str, a: Assignment) -> Result<Casella> {
        use crate::model::{Account, MailboxType};
        actor.check_admin("mailbox assign")?;
        let c = self.casella(actor, address).await?;
        if c.request.is_some() {
            return Err(ArchiveError::conflict(format!(
                "casella {}: ha già una richiesta ({})",
                c.address,
                c.request.unwrap_or_default()
            )));
        }
        let account = self.account(actor, &a.account).await?;
        if account.customer != a.customer {
            return Err(ArchiveError::invalid(format!(
                "l'account {} appartiene al cliente {}",
                account.code, account.customer
            )));
        }
        let domain = c.address.rsplit_once('@').map_or("", |(_, d)| d);
        let family = self
            .activation_domain(domain, Some(&account.customer), Some(&account.code))
            .await?;
        let kind = a.kind.unwrap_or(MailboxType::Standard);
        let defaults = self.family_defaults(family).clone();
        let services = match kind {
            MailboxType::Base => Services {
                archive_gb: 0,
                sms: false,
                quota_bytes: self.config().archive.base_quota_bytes,
            },
            MailboxType::Aperta => Services {
                archive_gb: 0,
                ..services_of(&defaults)
            },
            MailboxType::Standard => services_of(&defaults),
        };
        self.apply_quota(&c.address, services.quota_bytes).await?;
        let (actor, now, contact) = (
            actor.clone(),
            self.now(),
            self.config().archive.provider_contact.clone(),
        );
        let addr = c.address.clone();
        self.transaction(move |tx| {
            let mut c = super::get(tx, &addr)?;
            if records::get::<Account>(tx, account.code.as_bytes())?.is_none() {
                return Err(ArchiveError::not_found(format!(
                    "account inesistente: {}",
                    account.code
                )));
            }
            if c.userid.is_none() {
                c.userid = Some(crate::customers::assign_userid(
                    tx,
                    &account.code,
                    &contact,
                )?);
            }
            c.customer = Some(account.customer.clone());
            c.account = Some(account.code.clone());
            c.family = family;
            c.kind = Some(kind);
            c.services = services;
            let what = format!(
                "assegnata a cliente {} / account {}, tipo {}",
                account.customer,
                account.code,
                kind.name()
            );
            super::remember(&mut c, &actor, now, what.clone());
            caselle::save(tx, &c, None)?;
            audit::record(tx, &actor, now, "mailbox.assign", &addr, what)?;
            Ok(c)
        })
        .await
    }
}

fn services_of(d: &pecd_common::config::MailboxDefaults) -> Services {
    Services {
        archive_gb: d.archive_gb,
        sms: d.sms,
        quota_bytes: d.quota_bytes,
    }
}
