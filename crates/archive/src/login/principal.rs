//! The records behind a login (PROVISIONING.md §1, §4 multi-user, §7): slave user ids
//! ([`Slave`], family `slave`, keyed by user id) and what every login identity carries beside
//! its password ([`PrincipalInfo`], family `principal`, keyed by the identity: the master's
//! mailbox address, or the slave's user id). The master's password stays on the store's
//! mailbox record; a slave's is on its own record.

use serde::{Deserialize, Serialize};

use crate::records::{pair_key, Record};

/// Index of the slaves of a mailbox: address ‖ 0 ‖ user id -> ().
pub const SLAVE_BY_MAILBOX: &str = "slave_mailbox";

/// Index of the slaves whose state change waits for the job runner: user id -> ().
pub const SLAVE_PENDING: &str = "slave_pending";

/// The four states of a slave user id (PROVISIONING.md §4), spelled as the manual does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SlaveState {
    #[serde(rename = "in attivazione")]
    InAttivazione,
    #[serde(rename = "attiva")]
    Attiva,
    #[serde(rename = "in disattivazione")]
    InDisattivazione,
    #[serde(rename = "disattivata")]
    Disattivata,
}

impl SlaveState {
    pub fn name(self) -> &'static str {
        match self {
            SlaveState::InAttivazione => "in attivazione",
            SlaveState::Attiva => "attiva",
            SlaveState::InDisattivazione => "in disattivazione",
            SlaveState::Disattivata => "disattivata",
        }
    }

    /// Whether the job runner still has to complete a transition.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            SlaveState::InAttivazione | SlaveState::InDisattivazione
        )
    }

    /// Whether it counts against the 25 per mailbox.
    pub fn counts(self) -> bool {
        matches!(self, SlaveState::InAttivazione | SlaveState::Attiva)
    }

    /// Whether a slave in this state may log in.
    pub fn may_log_in(self) -> bool {
        matches!(self, SlaveState::Attiva | SlaveState::InDisattivazione)
    }
}

/// A slave user id: an extra login that opens its master's mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slave {
    pub userid: String,
    /// The master mailbox's address.
    pub mailbox: String,
    pub first_name: String,
    pub last_name: String,
    pub description: String,
    pub state: SlaveState,
    /// argon2id PHC string; never shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password_hash: String,
    /// Unix seconds on the engine's clock; 0 = a first password to change at first login.
    #[serde(default)]
    pub password_changed_at: i64,
    pub created_at: i64,
    /// When the state last changed.
    #[serde(default)]
    pub state_changed_at: i64,
}

impl Record for Slave {
    const FAMILY: &'static str = "slave";
    fn key(&self) -> Vec<u8> {
        self.userid.as_bytes().to_vec()
    }
}

impl Slave {
    /// Its key in [`SLAVE_BY_MAILBOX`].
    pub fn mailbox_key(&self) -> Vec<u8> {
        pair_key(&self.mailbox, self.userid.as_bytes())
    }
}

/// What a login identity carries beside its password (PROVISIONING.md §7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalInfo {
    /// The master's address or the slave's user id.
    pub identity: String,
    /// Last successful login (any protocol), Unix seconds on the engine's clock.
    #[serde(default)]
    pub last_access: Option<i64>,
    /// Security information: a recovery e-mail address.
    #[serde(default)]
    pub recovery_email: Option<String>,
    /// Security information: a recovery mobile number.
    #[serde(default)]
    pub recovery_mobile: Option<String>,
    /// An explicit expiry of the password in force when it was set (a campaign's block):
    /// from this time that password is expired; a password changed after
    /// `password_expiry_set_at` is not.
    #[serde(default)]
    pub password_expires_at: Option<i64>,
    #[serde(default)]
    pub password_expiry_set_at: Option<i64>,
}

impl Record for PrincipalInfo {
    const FAMILY: &'static str = "principal";
    fn key(&self) -> Vec<u8> {
        self.identity.as_bytes().to_vec()
    }
}

impl PrincipalInfo {
    /// Whether it has no security information (`NOINFO` in reports).
    pub fn no_info(&self) -> bool {
        self.recovery_email.is_none() && self.recovery_mobile.is_none()
    }
}
