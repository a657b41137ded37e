//! `[archive]`: the provisioning archive's choices (PROVISIONING.md §2–§5).

use serde::{Deserialize, Serialize};

/// Disk quota, security archive and SMS of a new mailbox of one domain family
/// (PROVISIONING.md §4 "Defaults").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailboxDefaults {
    pub quota_bytes: u64,
    pub archive_gb: u32,
    pub sms: bool,
}

impl Default for MailboxDefaults {
    fn default() -> Self {
        MailboxDefaults {
            quota_bytes: 1 << 30,
            archive_gb: 1,
            sms: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Archive {
    /// Parent domains of the ordinary family: a requested domain is a sub-domain of one of
    /// them. `provider.domains` are served from the start whatever their parent.
    pub ordinary_parents: Vec<String>,
    /// Parent domains of the public-administration family.
    pub pa_parents: Vec<String>,
    /// Sending limit of a mailbox with the massive flag (PROVISIONING.md §8).
    pub massive_sender_per_minute: u32,
    /// A new standard (or aperta) mailbox of the ordinary family.
    pub ordinary: MailboxDefaults,
    /// A new mailbox of the public-administration family (2 GB of security archive).
    pub pa: MailboxDefaults,
    /// Disk quota of a base (closed) mailbox; it rises to `ordinary.quota_bytes` when the
    /// mailbox becomes standard.
    pub base_quota_bytes: u64,
    /// Largest contract document (bytes).
    pub contract_max_bytes: u64,
    /// Contract documents one request may hold.
    pub contracts_per_request: usize,
    /// Days within which a mailbox's address may still be changed after the request was
    /// inserted (PROVISIONING.md §4: 15).
    pub address_change_days: i64,
    /// Who to contact, appended to the "account configuration" refusal of §2.
    pub provider_contact: String,
    /// Days after its revocation when a revoked mailbox's messages are deleted
    /// (PROVISIONING.md §6); 0 keeps them for ever. The legal log keeps its 30 months.
    pub revoked_retention_days: u32,
    /// Bytes of one unit of a mailbox's security-archive size (`archive_gb`): 1 GiB. Only a
    /// test or a drill sets it smaller, to fill an archive with a few messages.
    pub security_archive_unit_bytes: u64,
}

impl Default for Archive {
    fn default() -> Self {
        Archive {
            ordinary_parents: vec!["pec.localhost".into()],
            pa_parents: vec!["pa.pec.localhost".into()],
            massive_sender_per_minute: 60,
            ordinary: MailboxDefaults::default(),
            pa: MailboxDefaults {
                archive_gb: 2,
                ..MailboxDefaults::default()
            },
            base_quota_bytes: 100 << 20,
            contract_max_bytes: 20 << 20,
            contracts_per_request: 20,
            address_change_days: 15,
            provider_contact: "il servizio clienti del gestore".into(),
            revoked_retention_days: 30,
            security_archive_unit_bytes: 1 << 30,
        }
    }
}
