//! The detail of a mailbox (PROVISIONING.md §4 "Search": the detail lists every service,
//! whether enabled, and its quantity; slave counts), as `pecctl mailbox show` adds it to the
//! store's view: user id, type, state, codice attivazione (or `non definito`), customer,
//! account, expiry, services, massive flag, slave counts, history.

use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::model::{Casella, HistoryEntry, MailboxType, Transition};
use crate::records;
use crate::scope::Actor;
use crate::Archive;

/// What operators without the entitlement to choose the type read for a base mailbox.
pub const CLOSED_NOTE: &str = "Casella chiusa (può ricevere solo messaggi di posta certificata)";

/// One service of a mailbox: whether enabled and its quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceLine {
    pub name: String,
    pub enabled: bool,
    /// e.g. `2 GB`, `1073741824 byte`; empty when the service has no quantity.
    pub quantity: String,
}

/// Slave user ids of a mailbox: every one, and those `attiva` or `in attivazione`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaveCounts {
    pub total: u32,
    pub active: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CasellaDetail {
    pub address: String,
    pub userid: Option<String>,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// [`CLOSED_NOTE`] for a base mailbox seen by an operator who may not choose the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_note: Option<String>,
    pub state: String,
    /// The codice attivazione, or `non definito`.
    pub request: String,
    pub customer: Option<String>,
    pub account: Option<String>,
    pub family: String,
    pub expiry: Option<String>,
    pub activated: Option<String>,
    pub massive: bool,
    /// The reason of the revocation in force or pending.
    pub revoke_reason: Option<String>,
    /// The revocation form kept with the mailbox, if any.
    pub revoke_form: Option<String>,
    pub services: Vec<ServiceLine>,
    pub slaves: SlaveCounts,
    pub history: Vec<HistoryEntry>,
}

impl CasellaDetail {
    pub fn of(c: &Casella, actor: &Actor) -> CasellaDetail {
        let pending_reason = match &c.pending {
            Some(Transition::Revoke { reason, form, .. }) => Some((*reason, form.clone())),
            _ => None,
        };
        let reason = pending_reason
            .as_ref()
            .map(|(r, _)| *r)
            .or(c.revoke_reason)
            .map(|r| super::transitions::reason_name(r).to_string());
        let s = &c.services;
        CasellaDetail {
            address: c.address.clone(),
            userid: c.userid.clone(),
            description: c.description.clone(),
            kind: c.kind.map(|k| k.name().to_string()),
            type_note: (c.kind == Some(MailboxType::Base) && !actor.may_choose_type())
                .then(|| CLOSED_NOTE.to_string()),
            state: c.shown_state().to_string(),
            request: c
                .request
                .map_or_else(|| "non definito".to_string(), |r| r.to_string()),
            customer: c.customer.clone(),
            account: c.account.clone(),
            family: match c.family {
                crate::model::DomainFamily::Ordinary => "ordinary".into(),
                crate::model::DomainFamily::Pa => "pa".into(),
            },
            expiry: c.expiry.map(|d| d.to_string()),
            activated: c
                .activated_at
                .and_then(super::search::rome_day)
                .map(|d| d.to_string()),
            massive: c.massive,
            revoke_reason: reason,
            revoke_form: pending_reason.and_then(|(_, f)| f),
            services: vec![
                ServiceLine {
                    name: "archivio di sicurezza".into(),
                    enabled: s.archive_gb > 0,
                    quantity: format!("{} GB", s.archive_gb),
                },
                ServiceLine {
                    name: "notifica SMS".into(),
                    enabled: s.sms,
                    quantity: String::new(),
                },
                ServiceLine {
                    name: "quota disco".into(),
                    enabled: true,
                    quantity: format!("{} byte", s.quota_bytes),
                },
            ],
            slaves: SlaveCounts::default(),
            history: c.history.clone(),
        }
    }
}

impl Archive {
    /// The archive's detail of a mailbox in `actor`'s scope; `None` when the archive has no
    /// casella of that address (a mailbox older than the archive).
    pub async fn casella_detail(
        &self,
        actor: &Actor,
        address: &str,
    ) -> Result<Option<CasellaDetail>> {
        let address = super::normalize(address)?;
        let Some(c) = records::load::<Casella>(self.store(), address.as_bytes()).await? else {
            return Ok(None);
        };
        actor.check_scope(c.customer.as_deref(), c.account.as_deref())?;
        let mut detail = CasellaDetail::of(&c, actor);
        let counts = self.slave_counts(&c.address).await?;
        detail.slaves = SlaveCounts {
            total: counts.total as u32,
            active: counts.active_or_activating as u32,
        };
        Ok(Some(detail))
    }

    /// The casella of `address` in `actor`'s scope.
    pub async fn casella(&self, actor: &Actor, address: &str) -> Result<Casella> {
        let address = super::normalize(address)?;
        let c = records::load::<Casella>(self.store(), address.as_bytes())
            .await?
            .ok_or_else(|| ArchiveError::not_found(format!("casella inesistente: {address}")))?;
        actor.check_scope(c.customer.as_deref(), c.account.as_deref())?;
        Ok(c)
    }
}
