//! What mailbox holders do for themselves (PROVISIONING.md §7): change their password (also
//! an expired one: that is what it may still be used for) and set their security
//! information. The holder is the proven login ([`crate::login::Proven`]): the master (the
//! mailbox address or master user id) or a slave; each changes only its own password.
//! Changes are in the audit log under `holder:<identity>`.

use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::login::principal::{PrincipalInfo, Slave};
use crate::login::Principal;
use crate::operators::checked_hash;
use crate::records;
use crate::slaves::check_recovery;
use crate::{audit, Archive};

/// A holder's view of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HolderView {
    pub mailbox: String,
    /// The user id logged in with; `None` when the login was the address.
    pub userid: Option<String>,
    pub slave: bool,
    pub identity: String,
    pub password_expired: bool,
    pub recovery_email: Option<String>,
    pub recovery_mobile: Option<String>,
}

/// Security information as the holder sets it (both replaced; `None` clears).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityInfo {
    #[serde(default)]
    pub recovery_email: Option<String>,
    #[serde(default)]
    pub recovery_mobile: Option<String>,
}

fn who(p: &Principal) -> String {
    format!("holder:{}", p.identity)
}

impl Archive {
    /// The holder's own data.
    pub async fn holder_view(&self, p: &Principal, expired: bool) -> Result<HolderView> {
        let info = records::load::<PrincipalInfo>(self.store(), p.identity.as_bytes()).await?;
        Ok(HolderView {
            mailbox: p.mailbox.address.clone(),
            userid: p.userid.clone(),
            slave: p.slave,
            identity: p.identity.clone(),
            password_expired: expired,
            recovery_email: info.as_ref().and_then(|i| i.recovery_email.clone()),
            recovery_mobile: info.and_then(|i| i.recovery_mobile),
        })
    }

    /// Sets the holder's own password: the policy of §7 (every unmet rule listed), and not
    /// the one it replaces. Dated on the engine's clock; an explicit expiry of the old
    /// password no longer applies.
    pub async fn change_own_password(
        &self,
        p: &Principal,
        current: String,
        new: String,
    ) -> Result<()> {
        if current == new {
            return Err(
                ArchiveError::invalid("Password non valida").with_details(vec![
                    "la nuova password deve essere diversa dalla attuale".into(),
                ]),
            );
        }
        let hash = checked_hash(new).await?;
        self.store_own_password(p, hash, "holder.password").await
    }

    /// Writes a holder's new password hash (the master's on its store mailbox, a slave's on
    /// its record), dated on the engine's clock, with its audit entry `action`.
    pub(crate) async fn store_own_password(
        &self,
        p: &Principal,
        hash: String,
        action: &'static str,
    ) -> Result<()> {
        let now = self.now();
        if !p.slave {
            self.store()
                .set_password_at(p.mailbox.id, &hash, now)
                .await?;
            let who = who(p);
            let target = p.mailbox.address.clone();
            return self
                .transaction(move |tx| audit::record_as(tx, &who, now, action, &target, ""))
                .await;
        }
        let (identity, who) = (p.identity.clone(), who(p));
        self.transaction(move |tx| {
            let mut s = records::get::<Slave>(tx, identity.as_bytes())?
                .ok_or_else(|| ArchiveError::not_found("userid sconosciuto"))?;
            s.password_hash = hash;
            s.password_changed_at = now;
            records::put(tx, &s)?;
            audit::record_as(tx, &who, now, action, &identity, "")
        })
        .await
    }

    /// Sets the holder's security information (a recovery e-mail and/or mobile number).
    pub async fn set_security_info(&self, p: &Principal, info: SecurityInfo) -> Result<()> {
        check_recovery(&info.recovery_email, &info.recovery_mobile)?;
        let (identity, who, now) = (p.identity.clone(), who(p), self.now());
        self.transaction(move |tx| {
            let mut stored = records::get::<PrincipalInfo>(tx, identity.as_bytes())?
                .unwrap_or_else(|| PrincipalInfo {
                    identity: identity.clone(),
                    ..PrincipalInfo::default()
                });
            stored.recovery_email = info.recovery_email;
            stored.recovery_mobile = info.recovery_mobile;
            records::put(tx, &stored)?;
            audit::record_as(tx, &who, now, "holder.security", &identity, "")
        })
        .await
    }
}
