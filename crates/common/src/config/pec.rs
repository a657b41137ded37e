//! The PEC rules that are the provider's choice (`[pec]`) and the relay to other providers
//! (`[relay]`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How ordinary (non-PEC) mail for a domain's mailboxes is treated (PEC.md §6.3, §12 item 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrdinaryMail {
    /// Open mailboxes: delivered inside a signed busta di anomalia.
    Anomaly,
    /// Closed (base) mailboxes: refused at the end of DATA with 550 5.7.1.
    Refuse,
}

/// PEC rules that are the provider's choice (PEC.md §10.3, §12).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pec {
    /// Limit on message size × number of recipients (PEC.md §10.3); above it the sender gets
    /// an avviso di non accettazione. At least 30 MiB, the figure the rules name.
    pub max_size_times_recipients: u64,
    /// Policy for ordinary mail to domains not listed in `ordinary_mail_domains`.
    pub ordinary_mail: OrdinaryMail,
    /// Per-domain policy: domain -> "anomaly" | "refuse".
    pub ordinary_mail_domains: BTreeMap<String, OrdinaryMail>,
    /// Seconds added to the system clock by the PEC engine (timers, queue, temporal
    /// references). For drills and tests of the 12 h / 24 h timeouts only; keep it 0.
    pub clock_offset_seconds: i64,
    /// How often the timeout timers (PEC.md §6.6) are checked, in seconds.
    pub timer_interval_seconds: u64,
}

/// The relay to other providers and to the Internet (PEC.md §6.2, §6.8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Relay {
    /// First retry delay after a temporary failure, in seconds; doubled at each attempt.
    pub retry_initial_seconds: u64,
    /// Longest retry delay, in seconds.
    pub retry_max_seconds: u64,
    /// How long a message may stay queued (PEC.md §6.2: at most 24 hours).
    pub max_queue_seconds: u64,
    /// How often the queue is scanned for due messages, in seconds.
    pub interval_seconds: u64,
    /// Timeout of each SMTP step (connect, command, reply), in seconds.
    pub timeout_seconds: u64,
    /// Extra roots (PEM) for the TLS certificates of peer SMTP servers, besides the public
    /// web roots and `peers.trust_anchors`.
    pub tls_roots: Option<PathBuf>,
}

impl Default for Relay {
    fn default() -> Self {
        Relay {
            retry_initial_seconds: 60,
            retry_max_seconds: 3600,
            max_queue_seconds: 86_400,
            interval_seconds: 5,
            timeout_seconds: 60,
            tls_roots: None,
        }
    }
}

/// The size rule's floor (PEC.md §10.3): 30 MiB.
pub const PEC_SIZE_FLOOR: u64 = 30 * 1024 * 1024;

impl Default for Pec {
    fn default() -> Self {
        Pec {
            max_size_times_recipients: PEC_SIZE_FLOOR,
            ordinary_mail: OrdinaryMail::Anomaly,
            ordinary_mail_domains: BTreeMap::new(),
            clock_offset_seconds: 0,
            timer_interval_seconds: 30,
        }
    }
}

impl Pec {
    /// The ordinary-mail policy of `domain`, case-insensitively.
    pub fn ordinary_mail_for(&self, domain: &str) -> OrdinaryMail {
        self.ordinary_mail_domains
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map_or(self.ordinary_mail, |(_, p)| *p)
    }
}
