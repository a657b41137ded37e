//! The sections that say where pecd runs: `[provider]`, `[listen]`, `[tls]`, `[signing]`,
//! `[peers]`, `[store]`, `[control]` and `[limits]`, with their development defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::address::Address;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Provider {
    /// The gestore-emittente name, as in the provider index and the signing certificate.
    pub name: String,
    /// The PEC domains whose mailboxes we hold.
    pub domains: Vec<String>,
    /// The From address of every message the provider itself emits.
    pub service_address: String,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            name: "pecd development provider".into(),
            domains: vec!["pec.localhost".into()],
            service_address: "posta-certificata@pec.localhost".into(),
        }
    }
}

impl Provider {
    /// Whether `address` belongs to one of our domains.
    pub fn serves(&self, address: &Address) -> bool {
        self.serves_domain(address.domain())
    }

    /// Whether `domain` is one of ours, case-insensitively.
    pub fn serves_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    pub smtp: SocketAddr,
    pub submissions: SocketAddr,
    pub imaps: SocketAddr,
    pub pop3s: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            smtp: ([127, 0, 0, 1], 2525).into(),
            submissions: ([127, 0, 0, 1], 4465).into(),
            imaps: ([127, 0, 0, 1], 9993).into(),
            pop3s: ([127, 0, 0, 1], 9995).into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Server certificate chain (leaf first, then intermediates), PEM.
    pub cert: PathBuf,
    /// Server private key, PEM.
    pub key: PathBuf,
    /// Create a development CA and certificates where the files are missing. Production
    /// configurations set this to false so that a missing file is an error instead.
    pub dev_certificates: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: "data/certs/server.pem".into(),
            key: "data/certs/server.key".into(),
            dev_certificates: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Signing {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Issuer chain included in every signature; the development CA is created here.
    pub chain: PathBuf,
}

impl Default for Signing {
    fn default() -> Self {
        Signing {
            cert: "data/certs/signer.pem".into(),
            key: "data/certs/signer.key".into(),
            chain: "data/certs/ca.pem".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Peers {
    /// Trusted provider index (LDIF, IGPEC schema).
    pub index: PathBuf,
    /// CAs that issue provider signing certificates.
    pub trust_anchors: PathBuf,
    /// Certificate revocation lists (PEM or DER) of those CAs, fetched by the operator and
    /// reloaded on SIGHUP; a certificate is checked against the lists its issuer signed.
    pub crls: Vec<PathBuf>,
    /// Static routes: PEC domain -> "host:port", tried before MX records.
    pub routes: BTreeMap<String, String>,
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            index: "certs/providers.ldif".into(),
            trust_anchors: "data/certs/ca.pem".into(),
            crls: Vec::new(),
            routes: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Store {
    pub path: PathBuf,
    /// Bytes of metadata pages the store keeps in memory (sled's page cache): a bound on
    /// memory, not a working set; pages not kept are read again from the page cache of the
    /// kernel.
    pub cache_bytes: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            path: "data/store".into(),
            cache_bytes: 32 << 20,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Control {
    pub socket: PathBuf,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: "data/pecd.sock".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Messages a sender may submit per minute (burst of the same size).
    pub sender_per_minute: u32,
    /// Largest message accepted, in bytes (advertised in SMTP SIZE).
    pub max_message_bytes: u64,
    /// Disk quota given to a new mailbox, in bytes.
    pub mailbox_quota_bytes: u64,
    /// Reply code when a sender is over its limit: 550 (permanent, the provider's documented
    /// behaviour) or 451 (temporary: the client keeps the message in its Outbox and retries).
    pub sender_over_limit_code: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sender_per_minute: 6,
            max_message_bytes: 31_457_280,
            mailbox_quota_bytes: 1 << 30,
            sender_over_limit_code: 550,
        }
    }
}
