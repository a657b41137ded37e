//! Services of mailboxes (PROVISIONING.md §4 "Services", §8): the security archive's size
//! from the fixed list (1, 2, 3, 5, 10 GB; public administration at least 2), SMS
//! notification, restoring the disk quota to the default; only on `evasa` or `da elaborare`
//! mailboxes. A batch cannot mix adding and removing, nor the two domain families: such a
//! batch is refused whole. Standard mailboxes cannot lose SMS nor have their quota lowered;
//! the archive is never removed. Outcome per mailbox: `Esito positivo`, or `Esito negativo`
//! for a state that does not allow it, a rule of its type, or a processing error.

use serde::{Deserialize, Serialize};

use super::{batch, check_change_all, pending_refusal, remember, Outcome};
use crate::error::{ArchiveError, Result};
use crate::model::{Casella, CasellaState, DomainFamily, MailboxType, Services};
use crate::scope::Actor;
use crate::{audit, caselle, check_code, records, Archive};

/// Security-archive sizes an operator may choose, in GB.
pub const ARCHIVE_SIZES: [u32; 5] = [1, 2, 3, 5, 10];

/// Smallest security archive of a public-administration mailbox, in GB.
pub const PA_MIN_ARCHIVE_GB: u32 = 2;

const PROCESSING_ERROR: &str = "errore di elaborazione: riprovare, poi contattare l'amministratore";

/// What `mailbox services` asks for every mailbox of the batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicesAsk {
    #[serde(default)]
    pub archive_gb: Option<u32>,
    #[serde(default)]
    pub sms: Option<bool>,
    #[serde(default)]
    pub restore_quota: bool,
    #[serde(default)]
    pub order: Option<String>,
}

/// Whether a change adds (or raises) a service or removes (or lowers) one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Add,
    Remove,
}

/// The services a casella would get, and what changed, or why it cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub services: Services,
    pub directions: Vec<Direction>,
    pub what: Vec<String>,
}

/// The plan for one casella (pure: the batch rules and the state are checked apart).
/// `default_quota` is the disk quota "restore" goes back to.
pub fn plan(c: &Casella, ask: &ServicesAsk, default_quota: u64) -> Result<Plan, String> {
    let mut s = c.services.clone();
    let (mut directions, mut what) = (Vec::new(), Vec::new());
    let base = c.kind == Some(MailboxType::Base);
    let standard = c.kind == Some(MailboxType::Standard);
    if let Some(gb) = ask.archive_gb {
        if gb != s.archive_gb {
            if base {
                return Err(
                    "casella base: l'archivio di sicurezza si attiva passando a \
                            standard (mailbox to-standard)"
                        .into(),
                );
            }
            directions.push(if gb > s.archive_gb {
                Direction::Add
            } else {
                Direction::Remove
            });
            what.push(format!("archivio {} -> {gb} GB", s.archive_gb));
            s.archive_gb = gb;
        }
    }
    if let Some(sms) = ask.sms {
        if sms != s.sms {
            if base && sms {
                return Err("casella base: l'SMS si attiva passando a standard \
                            (mailbox to-standard)"
                    .into());
            }
            if standard && !sms {
                return Err("casella standard: la notifica SMS non si può togliere".into());
            }
            directions.push(if sms {
                Direction::Add
            } else {
                Direction::Remove
            });
            what.push(format!("SMS {}", if sms { "sì" } else { "no" }));
            s.sms = sms;
        }
    }
    if ask.restore_quota && s.quota_bytes != default_quota {
        if standard && default_quota < s.quota_bytes {
            return Err("casella standard: la quota disco non si può ridurre".into());
        }
        directions.push(if default_quota > s.quota_bytes {
            Direction::Add
        } else {
            Direction::Remove
        });
        what.push(format!("quota {} -> {default_quota} byte", s.quota_bytes));
        s.quota_bytes = default_quota;
    }
    Ok(Plan {
        services: s,
        directions,
        what,
    })
}

/// Refuses a batch mixing families or adding with removing.
pub fn check_batch(caselle: &[Casella], plans: &[Result<Plan, String>]) -> Result<()> {
    if caselle.windows(2).any(|w| w[0].family != w[1].family) {
        return Err(ArchiveError::invalid(
            "un'operazione sui servizi non può riguardare insieme caselle dei due tipi di \
             dominio (ordinario e pubblica amministrazione): separarle",
        ));
    }
    let dirs: Vec<Direction> = plans
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .flat_map(|p| p.directions.iter().copied())
        .collect();
    if dirs.contains(&Direction::Add) && dirs.contains(&Direction::Remove) {
        return Err(ArchiveError::invalid(
            "un'operazione sui servizi non può insieme aggiungere e togliere servizi: \
             separarle",
        ));
    }
    Ok(())
}

fn state_refusal(c: &Casella) -> Option<String> {
    if let Some(r) = pending_refusal(c) {
        return Some(r);
    }
    match c.state {
        CasellaState::Evasa | CasellaState::DaElaborare => None,
        _ => Some(format!(
            "stato {}: servizi modificabili solo su caselle evase o da elaborare",
            c.shown_state()
        )),
    }
}

impl Archive {
    fn default_quota(&self, c: &Casella) -> u64 {
        if c.kind == Some(MailboxType::Base) {
            self.config().archive.base_quota_bytes
        } else {
            self.family_defaults(c.family).quota_bytes
        }
    }

    /// Changes the services of each mailbox; the outcome per mailbox.
    pub async fn set_services(
        &self,
        actor: &Actor,
        addresses: &[String],
        ask: ServicesAsk,
    ) -> Result<Vec<Outcome>> {
        let addresses = batch(addresses)?;
        if ask.archive_gb.is_none() && ask.sms.is_none() && !ask.restore_quota {
            return Err(ArchiveError::invalid(
                "indicare almeno un servizio (--archive-gb, --sms, --restore-quota)",
            ));
        }
        if let Some(gb) = ask.archive_gb {
            if !ARCHIVE_SIZES.contains(&gb) {
                return Err(ArchiveError::invalid(format!(
                    "--archive-gb {gb}: valori ammessi 1, 2, 3, 5, 10"
                )));
            }
        }
        if let Some(o) = &ask.order {
            check_code("numero d'ordine", o)?;
        }
        let mut all = Vec::with_capacity(addresses.len());
        for a in &addresses {
            all.push(
                records::load::<Casella>(self.store(), a.as_bytes())
                    .await?
                    .ok_or_else(|| ArchiveError::not_found(format!("casella inesistente: {a}")))?,
            );
        }
        check_change_all(actor, &all)?;
        if let (Some(gb), Some(c)) = (ask.archive_gb, all.first()) {
            if c.family == DomainFamily::Pa && gb < PA_MIN_ARCHIVE_GB {
                return Err(ArchiveError::invalid(format!(
                    "--archive-gb {gb}: le caselle della pubblica amministrazione hanno \
                     almeno {PA_MIN_ARCHIVE_GB} GB di archivio"
                )));
            }
        }
        let plans: Vec<Result<Plan, String>> = all
            .iter()
            .map(|c| plan(c, &ask, self.default_quota(c)))
            .collect();
        check_batch(&all, &plans)?;
        let mut outcomes = Vec::with_capacity(all.len());
        let mut todo = Vec::new();
        for (c, p) in all.into_iter().zip(plans) {
            match (state_refusal(&c), p) {
                (Some(r), _) | (None, Err(r)) => outcomes.push(Outcome::negative(&c.address, r)),
                (None, Ok(p)) => todo.push((c, p)),
            }
        }
        let (actor, now, order) = (actor.clone(), self.now(), ask.order.clone());
        let done = self
            .transaction(move |tx| {
                let mut out = Vec::with_capacity(todo.len());
                for (c, p) in todo {
                    let mut fresh = super::get(tx, &c.address)?;
                    if let Some(r) = state_refusal(&fresh) {
                        out.push((Outcome::negative(&c.address, r), None));
                        continue;
                    }
                    let mut what = if p.what.is_empty() {
                        "servizi: nessuna variazione".to_string()
                    } else {
                        format!("servizi: {}", p.what.join("; "))
                    };
                    if let Some(o) = &order {
                        what.push_str(&format!(" (ordine {o})"));
                    }
                    fresh.services = p.services;
                    remember(&mut fresh, &actor, now, what.clone());
                    caselle::save(tx, &fresh, None)?;
                    audit::record(tx, &actor, now, "mailbox.services", &c.address, what)?;
                    out.push((
                        Outcome::positive(&c.address),
                        Some(fresh.services.quota_bytes),
                    ));
                }
                Ok(out)
            })
            .await?;
        // The archive records what was ordered; the store's quota follows it, and a failure
        // here is reported for a retry, which compares with the store's own quota again.
        for (outcome, quota) in done {
            let Some(quota) = quota else {
                outcomes.push(outcome);
                continue;
            };
            match self.apply_quota(&outcome.address, quota).await {
                Ok(()) => outcomes.push(outcome),
                Err(e) => {
                    tracing::error!(address = %outcome.address, error = %e, "services: store quota not changed");
                    outcomes.push(Outcome::negative(&outcome.address, PROCESSING_ERROR));
                }
            }
        }
        let order: std::collections::HashMap<&str, usize> = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| (a.as_str(), i))
            .collect();
        outcomes.sort_by_key(|o| order.get(o.address.as_str()).copied());
        Ok(outcomes)
    }

    /// Brings the store's quota of `address` to `quota` when it differs and the mailbox
    /// exists (a `da elaborare` mailbox gets it when it is made).
    pub(crate) async fn apply_quota(&self, address: &str, quota: u64) -> Result<()> {
        if let Some(m) = self.store().find_mailbox(address).await? {
            if m.quota_bytes != quota {
                self.store().set_quota(m.id, quota).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CasellaState;

    fn casella(kind: Option<MailboxType>, family: DomainFamily) -> Casella {
        Casella {
            address: "a@pec.localhost".into(),
            userid: None,
            description: String::new(),
            kind,
            state: CasellaState::Evasa,
            pending: None,
            request: Some(1),
            customer: Some("C".into()),
            account: Some("A".into()),
            family,
            expiry: None,
            inserted_at: 0,
            activated_at: Some(0),
            massive: false,
            services: Services {
                archive_gb: 1,
                sms: true,
                quota_bytes: 1 << 30,
            },
            revoke_reason: None,
            revoked_at: None,
            purged_at: None,
            history: vec![],
        }
    }

    #[test]
    fn standard_mailboxes_keep_sms_and_quota() {
        let c = casella(Some(MailboxType::Standard), DomainFamily::Ordinary);
        let off = ServicesAsk {
            sms: Some(false),
            ..Default::default()
        };
        assert!(plan(&c, &off, 1 << 30).unwrap_err().contains("SMS"));
        let restore = ServicesAsk {
            restore_quota: true,
            ..Default::default()
        };
        assert!(plan(&c, &restore, 100 << 20).unwrap_err().contains("quota"));
        let aperta = casella(Some(MailboxType::Aperta), DomainFamily::Ordinary);
        let p = plan(&aperta, &off, 1 << 30).unwrap();
        assert_eq!(p.directions, vec![Direction::Remove]);
        assert!(!p.services.sms);
    }

    #[test]
    fn a_batch_cannot_mix_adding_and_removing_nor_families() {
        let a = casella(Some(MailboxType::Aperta), DomainFamily::Ordinary);
        let mut b = a.clone();
        b.services.archive_gb = 5;
        let ask = ServicesAsk {
            archive_gb: Some(3),
            ..Default::default()
        };
        let plans = vec![plan(&a, &ask, 1 << 30), plan(&b, &ask, 1 << 30)];
        assert!(check_batch(&[a.clone(), b.clone()], &plans).is_err());
        let c = casella(Some(MailboxType::Aperta), DomainFamily::Pa);
        let plans = vec![plan(&a, &ask, 1 << 30), plan(&c, &ask, 1 << 30)];
        assert!(check_batch(&[a.clone(), c], &plans).is_err());
        let plans = vec![plan(&a, &ask, 1 << 30)];
        assert!(check_batch(&[a], &plans).is_ok());
    }

    #[test]
    fn base_mailboxes_get_services_only_by_becoming_standard() {
        let mut c = casella(Some(MailboxType::Base), DomainFamily::Ordinary);
        c.services.archive_gb = 0;
        c.services.sms = false;
        let ask = ServicesAsk {
            archive_gb: Some(2),
            ..Default::default()
        };
        assert!(plan(&c, &ask, 100 << 20)
            .unwrap_err()
            .contains("to-standard"));
    }
}
