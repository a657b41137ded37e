//! Domains (PROVISIONING.md §5): sub-domains of the provider's two families, at most 60
//! characters, requested for an account (listed at once) and enabled by an administrator;
//! an enabled domain joins [`LocalDomains`], so SMTP, IMAP, POP3 and our provider index entry
//! serve it at once. `provider.domains` are served from the start and every account may use
//! them.
//!
//! [`LocalDomains`]: pecd_common::domains::LocalDomains

use pecd_common::address::valid_domain;
use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::model::{Account, Domain, DomainFamily, DomainState, Profile};
use crate::records;
use crate::scope::Actor;
use crate::{audit, check_code, Archive};

/// Longest domain name a request may ask for (PROVISIONING.md §5).
pub const MAX_DOMAIN_LEN: usize = 60;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainRequest {
    pub name: String,
    pub family: DomainFamily,
    #[serde(default)]
    pub order: Option<String>,
    /// For administrators: the customer and account the domain is for (none: every account).
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
}

impl Archive {
    /// The family of a domain served from configuration: public administration when it is
    /// (or is below) a `pa` parent, else ordinary.
    pub fn configured_family(&self, domain: &str) -> DomainFamily {
        let below = |p: &String| domain == p || domain.ends_with(&format!(".{p}"));
        if self.config().archive.pa_parents.iter().any(below) {
            DomainFamily::Pa
        } else {
            DomainFamily::Ordinary
        }
    }

    pub(crate) async fn load_enabled_domains(&self) -> Result<()> {
        let all: Vec<Domain> = records::load_all(self.store(), b"", usize::MAX).await?;
        for d in all.iter().filter(|d| d.state == DomainState::Enabled) {
            self.local_domains().add(&d.name);
        }
        Ok(())
    }

    /// Where a request of `actor` places its record: its own customer and account for a
    /// cliente or intermediario, what it names (in scope) for an administrator.
    async fn domain_owner(
        &self,
        actor: &Actor,
        customer: Option<String>,
        account: Option<String>,
    ) -> Result<(Option<String>, Option<String>)> {
        if let Actor::Operator(o) = actor {
            let own_scope = matches!(o.profile, Profile::Intermediario | Profile::Cliente);
            if own_scope && (customer.is_some() || account.is_some()) {
                let c = customer.as_deref().or(o.customer.as_deref());
                actor.check_scope(c, account.as_deref().or(o.account.as_deref()))?;
            }
            match o.profile {
                Profile::Intermediario => return Ok((o.customer.clone(), o.account.clone())),
                Profile::Cliente if account.is_none() => return Ok((o.customer.clone(), None)),
                _ => {}
            }
        }
        if let Some(a) = &account {
            let acc: Account = self.account(actor, a).await?;
            if customer.as_ref().is_some_and(|c| *c != acc.customer) {
                return Err(ArchiveError::invalid(format!(
                    "l'account {a} appartiene al cliente {}",
                    acc.customer
                )));
            }
            return Ok((Some(acc.customer), Some(acc.code)));
        }
        if let Some(c) = &customer {
            check_code("codice cliente", c)?;
        }
        actor.check_scope(customer.as_deref(), None)?;
        if customer.is_none() && !actor.is_admin_like() {
            return Err(ArchiveError::invalid("indicare il cliente e l'account"));
        }
        Ok((customer, None))
    }

    pub async fn request_domain(&self, actor: &Actor, r: DomainRequest) -> Result<Domain> {
        let name = r.name.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.len() > MAX_DOMAIN_LEN {
            return Err(ArchiveError::invalid(format!(
                "dominio {name:?}: al massimo {MAX_DOMAIN_LEN} caratteri ({} dati)",
                name.len()
            )));
        }
        if !valid_domain(&name) {
            return Err(ArchiveError::invalid(format!(
                "dominio {name:?}: nome non valido"
            )));
        }
        let parents = match r.family {
            DomainFamily::Ordinary => &self.config().archive.ordinary_parents,
            DomainFamily::Pa => &self.config().archive.pa_parents,
        };
        if !parents.iter().any(|p| name.ends_with(&format!(".{p}"))) {
            return Err(ArchiveError::invalid(format!(
                "dominio {name:?}: deve essere un sotto-dominio di {}",
                parents.join(", ")
            )));
        }
        if let Some(o) = &r.order {
            check_code("numero d'ordine", o)?;
        }
        if self.config().provider.serves_domain(&name) {
            return Err(ArchiveError::conflict(format!(
                "dominio già esistente: {name}"
            )));
        }
        let (customer, account) = self.domain_owner(actor, r.customer, r.account).await?;
        let domain = Domain {
            name: name.clone(),
            family: r.family,
            state: DomainState::Requested,
            order: r.order,
            customer,
            account,
            requested_by: actor.userid().to_string(),
            requested_at: self.now(),
            enabled_at: None,
        };
        let (stored, actor) = (domain.clone(), actor.clone());
        self.transaction(move |tx| {
            if records::get::<Domain>(tx, name.as_bytes())?.is_some() {
                return Err(ArchiveError::conflict(format!(
                    "dominio già esistente: {name}"
                )));
            }
            records::put(tx, &stored)?;
            audit::record(tx, &actor, stored.requested_at, "domain.request", &name, "")
        })
        .await?;
        Ok(domain)
    }

    /// Enables a requested domain (administrators): served at once.
    pub async fn enable_domain(&self, actor: &Actor, name: &str) -> Result<Domain> {
        if !actor.is_admin_like() {
            actor.check_admin("domain enable")?;
        }
        let name = name.trim().to_ascii_lowercase();
        let (actor, now) = (actor.clone(), self.now());
        let domain = self
            .transaction(move |tx| {
                let Some(mut d) = records::get::<Domain>(tx, name.as_bytes())? else {
                    return Err(ArchiveError::not_found(format!(
                        "dominio inesistente: {name}"
                    )));
                };
                actor.check_change(d.customer.as_deref(), d.account.as_deref())?;
                if d.state == DomainState::Enabled {
                    return Err(ArchiveError::conflict(format!(
                        "dominio già abilitato: {name}"
                    )));
                }
                d.state = DomainState::Enabled;
                d.enabled_at = Some(now);
                records::put(tx, &d)?;
                audit::record(tx, &actor, now, "domain.enable", &name, "")?;
                Ok(d)
            })
            .await?;
        self.local_domains().add(&domain.name);
        tracing::info!(domain = %domain.name, "domain enabled: served from now on");
        Ok(domain)
    }

    /// The domains the operator may use: `provider.domains` (for everyone) and the requested
    /// or enabled ones in its scope.
    pub async fn list_domains(&self, actor: &Actor) -> Result<Vec<Domain>> {
        actor.check_has_customers()?;
        let mut out: Vec<Domain> = self
            .config()
            .provider
            .domains
            .iter()
            .map(|d| Domain {
                name: d.to_ascii_lowercase(),
                family: self.configured_family(d),
                state: DomainState::Enabled,
                order: None,
                customer: None,
                account: None,
                requested_by: "config".into(),
                requested_at: 0,
                enabled_at: Some(0),
            })
            .collect();
        let stored: Vec<Domain> = records::load_all(self.store(), b"", usize::MAX).await?;
        // A domain of the whole customer (no account) is every one of its accounts' too.
        let own_account = match actor {
            Actor::Operator(o) => o.account.clone(),
            _ => None,
        };
        out.extend(stored.into_iter().filter(|d| {
            let account = d.account.as_deref().or(own_account.as_deref());
            actor.sees(d.customer.as_deref(), account)
        }));
        Ok(out)
    }

    /// The family of the domain of `address` if `customer` + `account` may activate
    /// mailboxes in it: enabled, and theirs or one of every account's.
    pub async fn activation_domain(
        &self,
        address_domain: &str,
        customer: Option<&str>,
        account: Option<&str>,
    ) -> Result<DomainFamily> {
        let d = address_domain.to_ascii_lowercase();
        if self.config().provider.serves_domain(&d) {
            return Ok(self.configured_family(&d));
        }
        match records::load::<Domain>(self.store(), d.as_bytes()).await? {
            Some(dom)
                if dom.state == DomainState::Enabled
                    && (dom.customer.is_none() || dom.customer.as_deref() == customer)
                    && (dom.account.is_none() || dom.account.as_deref() == account) =>
            {
                Ok(dom.family)
            }
            Some(dom) if dom.state == DomainState::Requested => Err(ArchiveError::invalid(
                format!("dominio {d} non ancora abilitato"),
            )),
            _ => Err(ArchiveError::invalid(format!(
                "dominio {d} non disponibile per questo account"
            ))),
        }
    }
}
