//! What the jobs remember between runs, in the archive's keyed records: which mailboxes an
//! expiry report already listed ([`REPORTED`]), the expiry outcomes waiting for their summary
//! ([`SummaryLine`]), and per mailbox where the notification jobs stopped ([`NotifyState`]).
//! Sending is made idempotent by the notices' own keys (`pecd_engine::Notice::key`); these
//! records make the aggregated mails (a report, a summary) list each mailbox once.

use chrono::NaiveDate;
use pecd_archive::records::{pair_key, Record};
use serde::{Deserialize, Serialize};

/// What the expiry job already did for a mailbox and its expiry: listed it in a 3-month
/// report (`report` -> ()), sent its week notice (`week` -> the last day of service it
/// announced), revoked it (`revoked` -> ()): address ‖ 0 ‖ expiry|stage. Read once per
/// run, so a run with nothing due signs nothing.
pub const REPORTED: &str = "expiry_reported";

/// The key of [`REPORTED`] for a mailbox, its expiry and a stage.
pub fn mark_key(address: &str, expiry: NaiveDate, stage: &str) -> Vec<u8> {
    pair_key(address, format!("{expiry}|{stage}").as_bytes())
}

/// What happened to a mailbox at expiry, waiting to be listed in its account's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub account: String,
    pub address: String,
    pub userid: String,
    pub expiry: NaiveDate,
    /// Revoked (automatic revocation) or renewed (tacit renewal).
    pub revoke: bool,
}

impl Record for SummaryLine {
    const FAMILY: &'static str = "expiry_summary";
    fn key(&self) -> Vec<u8> {
        pair_key(&self.account, self.address.as_bytes())
    }
}

/// Where the notification jobs stopped for one mailbox (its INBOX).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyState {
    pub address: String,
    /// The INBOX's UIDVALIDITY these UIDs belong to; another one starts again from 0.
    pub uidvalidity: u32,
    /// Highest UID a new-mail notification covered.
    pub notified_uid: u32,
    /// The day (Italy) of `notified_today`.
    pub day: Option<NaiveDate>,
    /// New-mail notifications sent on `day` (at most two).
    pub notified_today: u32,
    /// Highest UID the last SMS covered.
    pub sms_uid: u32,
    /// The last day the SMS job looked at this mailbox.
    pub sms_day: Option<NaiveDate>,
    /// Certified messages arrived since the last new-mail notice (UIDs), still unread when
    /// last seen.
    #[serde(default)]
    pub waiting: Vec<u32>,
    /// The INBOX's highest modification sequence when the new-mail job last read it.
    #[serde(default)]
    pub inbox_modseq: u64,
}

impl Record for NotifyState {
    const FAMILY: &'static str = "notify_state";
    fn key(&self) -> Vec<u8> {
        self.address.as_bytes().to_vec()
    }
}

impl NotifyState {
    pub fn new(address: &str) -> NotifyState {
        NotifyState {
            address: address.to_string(),
            ..NotifyState::default()
        }
    }

    /// Another UIDVALIDITY: UIDs start again, for both jobs.
    pub fn restart(&mut self, validity: u32) {
        self.uidvalidity = validity;
        self.notified_uid = 0;
        self.sms_uid = 0;
        self.waiting.clear();
    }
}
