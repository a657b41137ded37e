//! Expiry management settings and the archive's side of its jobs (PROVISIONING.md §6).
//!
//! Per customer and account ([`ExpiryConfig`], family `expiry_config`, keyed customer ‖ 0 ‖
//! account): on or off, the report addresses, automatic revocation at expiry yes or no. The
//! lifecycle jobs read the enabled settings, the caselle of each account, and call
//! [`Archive::renew_expiry`] (tacit renewal) and [`Archive::purge_revoked`] (retention);
//! revocation at expiry goes through [`Archive::revoke`] as the job runner.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::mailboxes::{normalize, remember};
use crate::model::{Account, Casella, CasellaState};
use crate::records::{self, pair_key, Record};
use crate::scope::Actor;
use crate::{audit, caselle, check_code, Archive};

/// Most report addresses one setting may name.
pub const MAX_REPORT_ADDRESSES: usize = 10;

/// The expiry management of one customer's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpiryConfig {
    pub customer: String,
    pub account: String,
    pub enabled: bool,
    /// Where the 3-month report and the summaries go.
    pub report: Vec<String>,
    /// Revoke at expiry (after a notice a week before); otherwise tacit renewal by a year.
    pub auto_revoke: bool,
    pub changed_by: String,
    pub changed_at: i64,
}

impl Record for ExpiryConfig {
    const FAMILY: &'static str = "expiry_config";
    fn key(&self) -> Vec<u8> {
        pair_key(&self.customer, self.account.as_bytes())
    }
}

/// `pecctl expiry config`: what to set; absent fields keep their stored value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpirySet {
    pub customer: String,
    pub account: String,
    pub enabled: bool,
    /// Report addresses separated by `;`.
    #[serde(default)]
    pub report: Option<String>,
    #[serde(default)]
    pub auto_revoke: Option<bool>,
}

/// Parses report addresses separated by `;` (blanks ignored), each a valid address.
pub fn parse_report(text: &str) -> Result<Vec<String>> {
    if text.split(';').count() > MAX_REPORT_ADDRESSES * 4 {
        return Err(ArchiveError::invalid(format!(
            "indirizzi di report: al massimo {MAX_REPORT_ADDRESSES}"
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let a = normalize(part)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.len() > MAX_REPORT_ADDRESSES {
        return Err(ArchiveError::invalid(format!(
            "indirizzi di report: al massimo {MAX_REPORT_ADDRESSES}"
        )));
    }
    Ok(out)
}

impl Archive {
    /// Sets the expiry management of an account (the account must exist and be the
    /// customer's, in the operator's scope). Turning it on needs at least one report address.
    pub async fn set_expiry_config(&self, actor: &Actor, set: ExpirySet) -> Result<ExpiryConfig> {
        check_code("codice cliente", &set.customer)?;
        check_code("codice account", &set.account)?;
        actor.check_change(Some(&set.customer), Some(&set.account))?;
        let report = set.report.as_deref().map(parse_report).transpose()?;
        let (who, now) = (actor.userid().to_string(), self.now());
        let audit_actor = actor.clone();
        self.transaction(move |tx| {
            let acc = records::get::<Account>(tx, set.account.as_bytes())?
                .filter(|a| a.customer == set.customer)
                .ok_or_else(|| {
                    ArchiveError::not_found(format!(
                        "account {} inesistente per il cliente {}",
                        set.account, set.customer
                    ))
                })?;
            let key = pair_key(&acc.customer, acc.code.as_bytes());
            let old = records::get::<ExpiryConfig>(tx, &key)?;
            let c = ExpiryConfig {
                customer: acc.customer.clone(),
                account: acc.code.clone(),
                enabled: set.enabled,
                report: report
                    .or_else(|| old.as_ref().map(|o| o.report.clone()))
                    .unwrap_or_default(),
                auto_revoke: set
                    .auto_revoke
                    .or(old.as_ref().map(|o| o.auto_revoke))
                    .unwrap_or(false),
                changed_by: who,
                changed_at: now,
            };
            if c.enabled && c.report.is_empty() {
                return Err(ArchiveError::invalid(
                    "gestione scadenze attiva: indicare almeno un indirizzo di report (--report)",
                ));
            }
            records::put(tx, &c)?;
            let detail = format!(
                "{} report={} revoca automatica={}",
                if c.enabled { "on" } else { "off" },
                c.report.join(";"),
                if c.auto_revoke { "sì" } else { "no" }
            );
            let target = format!("{}/{}", c.customer, c.account);
            audit::record(tx, &audit_actor, now, "expiry.config", &target, detail)?;
            Ok(c)
        })
        .await
    }

    /// The settings the operator sees, by customer and account.
    pub async fn expiry_configs(&self, actor: &Actor) -> Result<Vec<ExpiryConfig>> {
        let all = records::load_all::<ExpiryConfig>(self.store(), b"", usize::MAX).await?;
        Ok(all
            .into_iter()
            .filter(|c| actor.sees(Some(&c.customer), Some(&c.account)))
            .collect())
    }

    /// Tacit renewal (§6 item 4): moves the expiry of an `evasa` casella from `from` one year
    /// on (as many years as it takes to pass today, for one long past), with its history and
    /// audit entry. `None` when the casella changed meanwhile
    /// (another expiry, another state, a transition pending): nothing is done.
    pub async fn renew_expiry(&self, address: &str, from: NaiveDate) -> Result<Option<NaiveDate>> {
        let (a, now, today) = (address.to_string(), self.now(), self.today());
        self.transaction(move |tx| {
            let Some(mut c) = records::get::<Casella>(tx, a.as_bytes())? else {
                return Ok(None);
            };
            if c.expiry != Some(from) || c.state != CasellaState::Evasa || c.pending.is_some() {
                return Ok(None);
            }
            let mut to = from;
            while to < today || to == from {
                to = to
                    .checked_add_months(Months::new(12))
                    .ok_or_else(|| ArchiveError::invalid("data di scadenza fuori scala"))?;
            }
            c.expiry = Some(to);
            let what = format!("rinnovo tacito: scadenza dal {from} al {to}");
            remember(&mut c, &Actor::Jobs, now, what.clone());
            caselle::save(tx, &c, None)?;
            audit::record(tx, &Actor::Jobs, now, "mailbox.renew", &a, what)?;
            Ok(Some(to))
        })
        .await
    }

    /// Retention (§6, pecd decision): deletes every message of a revoked casella's store
    /// mailbox and records it, once (`purged_at`). `false` when the casella is not revoked
    /// (reactivated meanwhile) or was purged before.
    pub async fn purge_revoked(&self, address: &str) -> Result<bool> {
        let Some(c) = records::load::<Casella>(self.store(), address.as_bytes()).await? else {
            return Ok(false);
        };
        if c.state != CasellaState::Revocata || c.pending.is_some() || c.purged_at.is_some() {
            return Ok(false);
        }
        let mut deleted = 0usize;
        if let Some(m) = self.store().find_mailbox(address).await? {
            for f in self.store().folders(m.id).await? {
                let uids: Vec<_> = self
                    .store()
                    .messages(f.id)
                    .await?
                    .iter()
                    .map(|m| m.uid)
                    .collect();
                if !uids.is_empty() {
                    deleted += uids.len();
                    self.store().delete_messages(m.id, f.id, uids).await?;
                }
            }
        }
        let (a, now) = (address.to_string(), self.now());
        self.transaction(move |tx| {
            let mut c = crate::mailboxes::get(tx, &a)?;
            c.purged_at = Some(now);
            let what = format!("messaggi cancellati dopo la revoca ({deleted})");
            remember(&mut c, &Actor::Jobs, now, what.clone());
            caselle::save(tx, &c, None)?;
            audit::record(tx, &Actor::Jobs, now, "mailbox.purge", &a, what)?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_addresses_are_split_on_semicolons_and_checked() {
        assert_eq!(
            parse_report(" A@x.it; b@y.it ;;a@x.it").unwrap(),
            vec!["a@x.it".to_string(), "b@y.it".to_string()]
        );
        assert!(parse_report("a@x.it;not an address").is_err());
        let many: Vec<String> = (0..11).map(|i| format!("r{i}@x.it")).collect();
        assert!(parse_report(&many.join(";")).is_err());
    }
}
