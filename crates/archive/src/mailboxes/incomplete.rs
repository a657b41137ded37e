//! Incomplete mailboxes (PROVISIONING.md §3 "Incomplete requests", pecd decision): a mailbox
//! made with `pecctl mailbox create` has no request, so its casella carries no contract data
//! (`codice attivazione: non definito`), no customer or account and no type (ordinary mail
//! follows the per-domain policy). It is `evasa` at once. Non-administrators see it but
//! cannot change it.

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
            history: Vec::new(),
        };
        let stored = casella.clone();
        self.transaction(move |tx| {
            if tx
                .get(Casella::FAMILY, stored.address.as_bytes())?
                .is_some()
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

    /// Forgets the casella of a mailbox deleted with `pecctl mailbox delete`.
    pub async fn forget_casella(&self, address: &str) -> Result<()> {
        let address = super::normalize(address)?;
        let now = self.now();
        self.transaction(move |tx| {
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
