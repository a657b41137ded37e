//! The archive's records (PROVISIONING.md §1–§5), as stored (JSON, see [`crate::records`]) and
//! as `pecctl --json` and the HTTPS API show them. Field names and state spellings are a
//! contract (ARCHITECTURE.md "Interfaces"): add fields with `#[serde(default)]`, rename none.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An operator's profile (PROVISIONING.md §2), highest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Amministratore,
    Lmxadm,
    Cliente,
    Intermediario,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Amministratore => "amministratore",
            Profile::Lmxadm => "lmxadm",
            Profile::Cliente => "cliente",
            Profile::Intermediario => "intermediario",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "amministratore" => Ok(Profile::Amministratore),
            "lmxadm" => Ok(Profile::Lmxadm),
            "cliente" => Ok(Profile::Cliente),
            "intermediario" => Ok(Profile::Intermediario),
            _ => Err(format!(
                "{s:?}: expected amministratore, lmxadm, cliente or intermediario"
            )),
        }
    }
}

/// Someone who logs in to the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operator {
    pub userid: String,
    pub surname: String,
    pub first_name: String,
    pub profile: Profile,
    /// The customer of a `cliente` or `intermediario`.
    #[serde(default)]
    pub customer: Option<String>,
    /// The account of an `intermediario`.
    #[serde(default)]
    pub account: Option<String>,
    /// LMXADM: customer codes it sees (SQL-like `%`).
    #[serde(default)]
    pub cli_pattern: Option<String>,
    /// LMXADM: account codes it sees (SQL-like `%`).
    #[serde(default)]
    pub acc_pattern: Option<String>,
    #[serde(default)]
    pub may_choose_type: bool,
    #[serde(default)]
    pub may_manage_massive: bool,
    /// argon2id PHC string; never shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(ignore)]
    pub password_hash: String,
    #[serde(default)]
    pub password_changed_at: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub code: String,
    pub name: String,
    pub created_at: i64,
}

/// A reseller account of a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub code: String,
    pub customer: String,
    pub description: String,
    /// The user-id naming rule: user ids are this prefix and a sequence number. Without it
    /// the account refuses activations (PROVISIONING.md §2).
    #[serde(default)]
    pub userid_prefix: Option<String>,
    /// User ids given so far under the rule.
    #[serde(default)]
    pub userids_assigned: u64,
    pub created_at: i64,
}

/// The two domain families (PROVISIONING.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainFamily {
    Ordinary,
    Pa,
}

impl std::str::FromStr for DomainFamily {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ordinary" => Ok(DomainFamily::Ordinary),
            "pa" => Ok(DomainFamily::Pa),
            _ => Err(format!("{s:?}: expected ordinary or pa")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainState {
    /// Listed at once, not yet usable for activations.
    Requested,
    /// Served by SMTP/IMAP/POP3 and in our provider index entry.
    Enabled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Domain {
    pub name: String,
    pub family: DomainFamily,
    pub state: DomainState,
    #[serde(default)]
    pub order: Option<String>,
    /// The customer and account it was requested for; `None` for `provider.domains`, which
    /// every account may use.
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    pub requested_by: String,
    pub requested_at: i64,
    #[serde(default)]
    pub enabled_at: Option<i64>,
}

/// The three mailbox types (PROVISIONING.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MailboxType {
    /// Closed: receives certified mail only; ordinary mail is refused.
    Base,
    /// Open, anti-spam.
    Aperta,
    /// Open, anti-spam and the security archive.
    Standard,
}

impl MailboxType {
    pub fn name(self) -> &'static str {
        match self {
            MailboxType::Base => "base",
            MailboxType::Aperta => "aperta",
            MailboxType::Standard => "standard",
        }
    }
}

impl std::str::FromStr for MailboxType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "base" => Ok(MailboxType::Base),
            "aperta" => Ok(MailboxType::Aperta),
            "standard" => Ok(MailboxType::Standard),
            _ => Err(format!("{s:?}: expected base, aperta or standard")),
        }
    }
}

/// Stored mailbox states (PROVISIONING.md §4); `in revoca` and `in riattivazione` are
/// [`Casella::pending`] transitions shown over `evasa` / `revocata`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CasellaState {
    #[serde(rename = "da elaborare")]
    DaElaborare,
    #[serde(rename = "evasa")]
    Evasa,
    #[serde(rename = "annullata")]
    Annullata,
    #[serde(rename = "revocata")]
    Revocata,
}

impl CasellaState {
    pub fn name(self) -> &'static str {
        match self {
            CasellaState::DaElaborare => "da elaborare",
            CasellaState::Evasa => "evasa",
            CasellaState::Annullata => "annullata",
            CasellaState::Revocata => "revocata",
        }
    }
}

/// The three reasons of a revocation (PROVISIONING.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeReason {
    /// Contract expiry.
    Expiry,
    /// Missed payment.
    NonPayment,
    /// Early revocation at the customer's request: needs an uploaded form.
    CustomerRequest,
}

impl std::str::FromStr for RevokeReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "expiry" => Ok(RevokeReason::Expiry),
            "non-payment" => Ok(RevokeReason::NonPayment),
            "customer-request" => Ok(RevokeReason::CustomerRequest),
            _ => Err(format!(
                "{s:?}: expected expiry, non-payment or customer-request"
            )),
        }
    }
}

/// A recorded state change waiting for the job runner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transition {
    Revoke {
        reason: RevokeReason,
        /// Name of the revocation form kept with the mailbox (customer-request).
        #[serde(default)]
        form: Option<String>,
        by: String,
        at: i64,
    },
    Reactivate {
        by: String,
        at: i64,
    },
}

/// Services of a mailbox (PROVISIONING.md §4, §8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Services {
    /// Security archive quota in GB; 0 = none (base mailboxes).
    pub archive_gb: u32,
    pub sms: bool,
    /// Disk quota in bytes.
    pub quota_bytes: u64,
}

/// One entry of a mailbox's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub at: i64,
    pub by: String,
    pub what: String,
}

/// The archive's view of a mailbox (casella). The store's mailbox record exists from the
/// moment the request is processed (state `evasa`); before that the casella is a line of its
/// request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Casella {
    pub address: String,
    /// The master user id; `None` until the request is processed.
    #[serde(default)]
    pub userid: Option<String>,
    pub description: String,
    /// `None`: an incomplete mailbox made by `pecctl mailbox create`, whose ordinary-mail
    /// handling follows the per-domain policy.
    #[serde(default)]
    pub kind: Option<MailboxType>,
    pub state: CasellaState,
    #[serde(default)]
    pub pending: Option<Transition>,
    /// Codice attivazione of its request; `None` = incomplete (`non definito`).
    #[serde(default)]
    pub request: Option<u64>,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    pub family: DomainFamily,
    #[serde(default)]
    pub expiry: Option<NaiveDate>,
    /// When its request was inserted (the 15-day address-change window starts here).
    pub inserted_at: i64,
    /// When it became `evasa` the first time.
    #[serde(default)]
    pub activated_at: Option<i64>,
    #[serde(default)]
    pub massive: bool,
    pub services: Services,
    #[serde(default)]
    pub revoke_reason: Option<RevokeReason>,
    /// When the revocation was applied (the retention of §6 counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// When the retention job deleted the messages of the revoked mailbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purged_at: Option<i64>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

impl Casella {
    /// The state as PROVISIONING.md spells it, pending transitions included.
    pub fn shown_state(&self) -> &'static str {
        match (&self.pending, self.state) {
            (Some(Transition::Revoke { .. }), _) => "in revoca",
            (Some(Transition::Reactivate { .. }), _) => "in riattivazione",
            (None, s) => s.name(),
        }
    }
}

/// One entry of the audit log: who did what to which record, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: i64,
    /// Operator user id (`admin` for the control socket's built-in administrator, `jobs` for
    /// the job runner).
    pub operator: String,
    /// Dotted operation name, e.g. `mailbox.revoke`.
    pub action: String,
    /// The record: an address, a request code, a domain, an operator user id...
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}
