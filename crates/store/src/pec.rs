//! The PEC side of the store: certification steps written in one atomic, durable commit (the
//! messages of a step, its legal log lines, the transaction's trace and its idempotency
//! key), the legal transaction log (PEC.md §10.5) and the per-recipient trace.

use serde::{Deserialize, Serialize};

use crate::types::{Appended, MailboxId};

/// One message put into a mailbox folder as part of a certification step.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub mailbox: MailboxId,
    pub folder: String,
    pub bytes: Vec<u8>,
}

/// One line of the legal transaction log (PEC.md §10.5): msgid, date and time, sender,
/// recipients, subject, event, ids of the generated messages, provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Unix seconds: the step's temporal reference (PEC.md §10.6).
    pub time: i64,
    /// What happened, e.g. `accettazione`, `consegna`, `mancata-consegna`, `anomalia`.
    pub event: String,
    /// The PEC msgid (identificativo), or the received Message-ID for mail outside PEC.
    pub pec_id: String,
    /// The client's Message-ID.
    pub msgid: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// Message-IDs of what the step emitted.
    pub generated: Vec<String>,
    /// The provider the event concerns (gestore).
    pub provider: String,
    /// Free text: an error, a finding.
    pub detail: String,
}

/// The state of one recipient of a certified message (PEC.md §6.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientTrace {
    pub address: String,
    /// `certificato` or `esterno`.
    pub certified: bool,
    /// Served by another provider: the envelope is relayed and receipts come back from
    /// there, so the timeouts of PEC.md §6.6 apply (certified) or nothing comes back
    /// (esterno, §6.8).
    pub remote: bool,
    /// One of the `STATE_*` constants (PEC.md §6.7).
    pub state: String,
    /// The 12 h warning was sent (PEC.md §6.6).
    pub warned: bool,
    /// Unix seconds of the last change.
    pub updated: i64,
    pub detail: String,
}

/// Recipient states (PEC.md §6.7). Waiting for the other provider:
pub const STATE_ACCEPTED: &str = "accepted";
/// The other provider sent its presa in carico.
pub const STATE_TAKEN: &str = "taken";
/// Final: the envelope is in the recipient's mailbox (avvenuta consegna).
pub const STATE_DELIVERED: &str = "delivered";
/// Final: a mancata consegna (ours or the other provider's), or per virus.
pub const STATE_ERROR: &str = "error";
/// Final: the 24 h notice went out.
pub const STATE_TIMED_OUT: &str = "timed-out";
/// Final: an esterno recipient; the envelope leaves as ordinary mail (§6.8).
pub const STATE_EXTERNAL: &str = "external";

impl RecipientTrace {
    /// Still waiting for a receipt from another provider (the timers run).
    pub fn open(&self) -> bool {
        self.remote && self.certified && (self.state == STATE_ACCEPTED || self.state == STATE_TAKEN)
    }
}

/// Everything known about one certified message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    pub pec_id: String,
    pub msgid: Option<String>,
    pub sender: String,
    pub subject: String,
    /// Unix seconds of acceptance.
    pub accepted: i64,
    /// Every To and Cc address with whether it is certified, as in the envelope's daticert.
    pub destinatari: Vec<(String, bool)>,
    /// daticert `risposte` of the transaction.
    pub risposte: String,
    /// The delivery-receipt type asked for (`completa`, `breve`, `sintetica`).
    pub receipt: String,
    /// The RCPT TO recipients.
    pub recipients: Vec<RecipientTrace>,
}

impl TraceRecord {
    /// Some recipient still waits for another provider's receipt (PEC.md §6.6).
    pub fn open(&self) -> bool {
        self.recipients.iter().any(RecipientTrace::open)
    }
}

/// A message to relay to another provider or to the Internet (PEC.md §6.2, §6.8), put in the
/// queue by the certification step that made it.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub pec_id: String,
    /// MAIL FROM.
    pub sender: String,
    /// RCPT TO, all in `domain`.
    pub recipients: Vec<String>,
    /// The destination domain (route key).
    pub domain: String,
    /// For a PEC provider (STARTTLS required) rather than an esterno address.
    pub certified: bool,
    /// What it is, for operators: "busta di trasporto", "ricevuta di avvenuta consegna"...
    pub label: String,
    /// Unix seconds; the first attempt is due at once.
    pub created: i64,
    pub bytes: Vec<u8>,
}

/// A queued message (`pecctl queue list|show`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: u64,
    pub pec_id: String,
    pub sender: String,
    /// Recipients not yet delivered.
    pub recipients: Vec<String>,
    pub domain: String,
    pub certified: bool,
    pub label: String,
    pub size: u64,
    pub blob: [u8; 16],
    pub created: i64,
    /// Unix seconds of the next attempt.
    pub next_attempt: i64,
    pub attempts: u32,
    pub last_error: String,
}

/// One certification step, written atomically and durably by [`crate::Store::certify`].
#[derive(Clone, Debug, Default)]
pub struct Certification {
    /// When set, the step is refused as a duplicate if the key was recorded before, and the
    /// key is recorded with `pec_id` otherwise (a retried submission is not certified twice).
    pub dedup_key: Option<Vec<u8>>,
    /// How long the dedup key is kept, in seconds; `None`: the store's retention for
    /// submissions (7 days by default). Keys that stop the replay of a signed document are
    /// kept as long as the legal log.
    pub dedup_keep_seconds: Option<i64>,
    pub pec_id: String,
    pub deliveries: Vec<Delivery>,
    pub log: Vec<LogRecord>,
    /// The transaction's trace, written (replacing any previous one of the same pec_id);
    /// while it is [`TraceRecord::open`] its id is among [`crate::Store::pending`].
    pub trace: Option<TraceRecord>,
    /// Messages to relay, queued in the same commit.
    pub queue: Vec<Outbound>,
    /// What a relay attempt did to its queue entry, written in the same commit as the
    /// notices it caused, so that a crash cannot leave the entry gone and the sender untold.
    pub queue_settle: Option<QueueSettle>,
}

/// The end of one relay attempt for a queue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueSettle {
    /// No recipient is left: the entry leaves the queue (its body goes after the commit).
    Remove(u64),
    /// Some recipients wait: the entry as rewritten, if it is still queued (an operator may
    /// have deleted it meanwhile).
    Update(QueueEntry),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Certified {
    /// Written: one [`Appended`] per delivery, in order.
    Stored(Vec<Appended>),
    /// The dedup key was already recorded, for this PEC msgid; nothing was written.
    Duplicate(String),
}

/// A search of the legal log (`pecctl log search`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogQuery {
    /// PEC msgid or client Message-ID (with or without angle brackets).
    pub id: Option<String>,
    /// Sender or recipient, case-insensitive.
    pub address: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// At most this many records, oldest first (0: no limit).
    pub limit: usize,
}

impl LogQuery {
    pub fn matches(&self, r: &LogRecord) -> bool {
        if let Some(id) = &self.id {
            let bare = id.trim_matches(['<', '>']);
            let msgid_bare = r.msgid.as_deref().map(|m| m.trim_matches(['<', '>']));
            if r.pec_id != bare && msgid_bare != Some(bare) {
                return false;
            }
        }
        if let Some(a) = &self.address {
            let a = a.to_ascii_lowercase();
            if r.sender.to_ascii_lowercase() != a
                && !r.recipients.iter().any(|x| x.to_ascii_lowercase() == a)
            {
                return false;
            }
        }
        self.since.is_none_or(|s| r.time >= s) && self.until.is_none_or(|u| r.time < u)
    }
}

/// How long log records are kept: 30 months (PEC.md §10.5), counted as 30 × 31 days so that
/// no record leaves early.
pub const LOG_RETENTION_SECONDS: i64 = 30 * 31 * 86_400;
