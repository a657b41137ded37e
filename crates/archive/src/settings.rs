//! A mailbox holder's settings (PROVISIONING.md §8): new-mail notification addresses (at
//! most five, free for every mailbox), the SMS notification (number and hour; only where an
//! operator enabled the SMS service) and the security archive (on or off and the kinds kept;
//! only where an operator gave it a size). Family `casella_settings`, keyed by the mailbox
//! address. The holder sets them (HTTPS self-service), and an operator in scope with
//! `pecctl mailbox settings`; the lifecycle jobs and the engine read them.

use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::login::Principal;
use crate::model::Casella;
use crate::records::{self, Record};
use crate::scope::Actor;
use crate::{audit, Archive};

/// Most notification addresses (§8).
pub const MAX_NOTIFY: usize = 5;

/// What the security archive may keep (§8).
pub const ARCHIVE_KINDS: [&str; 6] = [
    "certified-in",
    "certified-out",
    "ordinary",
    "acceptance",
    "delivery",
    "notices",
];

/// The settings of one mailbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailboxSettings {
    pub address: String,
    /// New-mail notification addresses.
    #[serde(default)]
    pub notify: Vec<String>,
    #[serde(default)]
    pub sms: bool,
    #[serde(default)]
    pub sms_phone: Option<String>,
    /// Hour of the day (Italy) of the daily SMS, 0–23.
    #[serde(default = "default_hour")]
    pub sms_hour: u8,
    #[serde(default)]
    pub security_archive: bool,
    /// Kinds the security archive keeps (of [`ARCHIVE_KINDS`]).
    #[serde(default)]
    pub archive_kinds: Vec<String>,
    #[serde(default)]
    pub changed_at: i64,
}

fn default_hour() -> u8 {
    9
}

impl Record for MailboxSettings {
    const FAMILY: &'static str = "casella_settings";
    fn key(&self) -> Vec<u8> {
        self.address.as_bytes().to_vec()
    }
}

impl MailboxSettings {
    fn empty(address: &str) -> MailboxSettings {
        MailboxSettings {
            address: address.to_string(),
            sms_hour: default_hour(),
            ..MailboxSettings::default()
        }
    }

    /// Whether the security archive keeps messages of `kind` now.
    pub fn archives(&self, kind: &str) -> bool {
        self.security_archive && self.archive_kinds.iter().any(|k| k == kind)
    }
}

/// A change of settings; absent fields keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSet {
    /// The whole list of notification addresses (empty: none).
    #[serde(default)]
    pub notify: Option<Vec<String>>,
    #[serde(default)]
    pub sms: Option<bool>,
    #[serde(default)]
    pub sms_phone: Option<String>,
    #[serde(default)]
    pub sms_hour: Option<u8>,
    #[serde(default)]
    pub security_archive: Option<bool>,
    #[serde(default)]
    pub archive_kinds: Option<Vec<String>>,
}

/// Applies `set` to `s` for casella `c`, checking every rule; nothing is changed on error.
fn apply(c: &Casella, mut s: MailboxSettings, set: SettingsSet) -> Result<MailboxSettings> {
    if let Some(list) = set.notify {
        if list.len() > MAX_NOTIFY * 4 {
            return Err(ArchiveError::invalid(format!(
                "notifiche: al massimo {MAX_NOTIFY} indirizzi"
            )));
        }
        let mut out: Vec<String> = Vec::new();
        for a in list.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
            let a = crate::mailboxes::normalize(a)?;
            if a == c.address {
                return Err(ArchiveError::invalid(
                    "notifiche: indicare indirizzi diversi dalla casella stessa",
                ));
            }
            if !out.contains(&a) {
                out.push(a);
            }
        }
        if out.len() > MAX_NOTIFY {
            return Err(ArchiveError::invalid(format!(
                "notifiche: al massimo {MAX_NOTIFY} indirizzi"
            )));
        }
        s.notify = out;
    }
    if let Some(phone) = set.sms_phone {
        let phone = phone.trim().to_string();
        crate::slaves::check_recovery(&None, &Some(phone.clone()))
            .map_err(|_| ArchiveError::invalid(format!("numero SMS {phone:?} non valido")))?;
        s.sms_phone = Some(phone);
    }
    if let Some(h) = set.sms_hour {
        if h > 23 {
            return Err(ArchiveError::invalid("ora dell'SMS: da 0 a 23"));
        }
        s.sms_hour = h;
    }
    if let Some(on) = set.sms {
        if on && !c.services.sms {
            return Err(ArchiveError::invalid(
                "il servizio SMS non è attivo per questa casella",
            ));
        }
        s.sms = on;
    }
    if s.sms && s.sms_phone.is_none() {
        return Err(ArchiveError::invalid(
            "notifica SMS: indicare il numero di cellulare",
        ));
    }
    if let Some(kinds) = set.archive_kinds {
        for k in &kinds {
            if !ARCHIVE_KINDS.contains(&k.as_str()) {
                return Err(ArchiveError::invalid(format!(
                    "archivio di sicurezza: tipo {k:?} sconosciuto (tipi: {})",
                    ARCHIVE_KINDS.join(", ")
                )));
            }
        }
        s.archive_kinds = ARCHIVE_KINDS
            .iter()
            .filter(|k| kinds.iter().any(|x| x == *k))
            .map(|k| k.to_string())
            .collect();
    }
    if let Some(on) = set.security_archive {
        if on && c.services.archive_gb == 0 {
            return Err(ArchiveError::invalid(
                "l'archivio di sicurezza non è attivo per questa casella",
            ));
        }
        s.security_archive = on;
    }
    Ok(s)
}

impl Archive {
    /// The settings of a mailbox in the operator's scope.
    pub async fn mailbox_settings(&self, actor: &Actor, address: &str) -> Result<MailboxSettings> {
        let c = self.casella(actor, address).await?;
        self.settings_of(&c.address).await
    }

    /// The settings of a mailbox (defaults when never set).
    pub async fn settings_of(&self, address: &str) -> Result<MailboxSettings> {
        Ok(
            records::load::<MailboxSettings>(self.store(), address.as_bytes())
                .await?
                .unwrap_or_else(|| MailboxSettings::empty(address)),
        )
    }

    /// Every mailbox's stored settings (the jobs' list of who wants notices).
    pub async fn all_settings(&self) -> Result<Vec<MailboxSettings>> {
        records::load_all::<MailboxSettings>(self.store(), b"", usize::MAX).await
    }

    /// `pecctl mailbox settings`: an operator in scope changes a mailbox's settings.
    pub async fn set_mailbox_settings(
        &self,
        actor: &Actor,
        address: &str,
        set: SettingsSet,
    ) -> Result<MailboxSettings> {
        let c = self.casella(actor, address).await?;
        actor.check_change(c.customer.as_deref(), c.account.as_deref())?;
        self.save_settings(actor.userid().to_string(), c.address, set)
            .await
    }

    /// The holder changes its mailbox's settings: the master only (they are the mailbox's,
    /// and the security archive protects the master's mail from what its users delete).
    pub async fn set_holder_settings(
        &self,
        p: &Principal,
        set: SettingsSet,
    ) -> Result<MailboxSettings> {
        if p.slave {
            return Err(ArchiveError::forbidden(
                "solo il titolare della casella (utente master) può cambiarne le impostazioni",
            ));
        }
        let who = format!("holder:{}", p.identity);
        self.save_settings(who, p.mailbox.address.clone(), set)
            .await
    }

    async fn save_settings(
        &self,
        who: String,
        address: String,
        set: SettingsSet,
    ) -> Result<MailboxSettings> {
        let now = self.now();
        self.transaction(move |tx| {
            let c = crate::mailboxes::get(tx, &address)?;
            let old = records::get::<MailboxSettings>(tx, address.as_bytes())?
                .unwrap_or_else(|| MailboxSettings::empty(&address));
            let mut s = apply(&c, old, set)?;
            s.changed_at = now;
            records::put(tx, &s)?;
            let detail = format!(
                "notifiche={} sms={} archivio={}",
                s.notify.len(),
                if s.sms { "on" } else { "off" },
                if s.security_archive { "on" } else { "off" }
            );
            audit::record_as(tx, &who, now, "mailbox.settings", &address, &detail)?;
            Ok(s)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CasellaState, DomainFamily, Services};

    fn casella(sms: bool, archive_gb: u32) -> Casella {
        let mut c = crate::slaves::tests::casella("u1");
        c.state = CasellaState::Evasa;
        c.family = DomainFamily::Ordinary;
        c.services = Services {
            archive_gb,
            sms,
            quota_bytes: 1 << 30,
        };
        c
    }

    fn set() -> SettingsSet {
        SettingsSet::default()
    }

    #[test]
    fn at_most_five_notification_addresses_and_not_the_mailbox_itself() {
        let c = casella(false, 0);
        let five: Vec<String> = (0..5).map(|i| format!("n{i}@x.it")).collect();
        let mut ok = set();
        ok.notify = Some(five.clone());
        let s = apply(&c, MailboxSettings::empty(&c.address), ok).unwrap();
        assert_eq!(s.notify, five);
        let mut six = set();
        six.notify = Some((0..6).map(|i| format!("n{i}@x.it")).collect());
        assert!(apply(&c, MailboxSettings::empty(&c.address), six).is_err());
        let mut own = set();
        own.notify = Some(vec![c.address.to_uppercase()]);
        assert!(apply(&c, MailboxSettings::empty(&c.address), own).is_err());
    }

    #[test]
    fn sms_needs_the_operator_enabled_service_and_a_number() {
        let mut on = set();
        on.sms = Some(true);
        on.sms_phone = Some("+393331234567".into());
        assert!(apply(&casella(false, 0), MailboxSettings::empty("a"), on.clone()).is_err());
        let s = apply(&casella(true, 0), MailboxSettings::empty("a"), on).unwrap();
        assert!(s.sms);
        let mut no_number = set();
        no_number.sms = Some(true);
        assert!(apply(&casella(true, 0), MailboxSettings::empty("a"), no_number).is_err());
        let mut late = set();
        late.sms_hour = Some(24);
        assert!(apply(&casella(true, 0), MailboxSettings::empty("a"), late).is_err());
    }

    #[test]
    fn the_security_archive_needs_a_size_and_known_kinds() {
        let mut on = set();
        on.security_archive = Some(true);
        on.archive_kinds = Some(vec!["delivery".into(), "certified-in".into()]);
        assert!(apply(&casella(false, 0), MailboxSettings::empty("a"), on.clone()).is_err());
        let s = apply(&casella(false, 1), MailboxSettings::empty("a"), on).unwrap();
        assert_eq!(s.archive_kinds, vec!["certified-in", "delivery"]);
        assert!(s.archives("delivery") && !s.archives("ordinary"));
        let mut bad = set();
        bad.archive_kinds = Some(vec!["spam".into()]);
        assert!(apply(&casella(false, 1), MailboxSettings::empty("a"), bad).is_err());
    }
}
