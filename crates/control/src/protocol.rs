//! The control socket's wire protocol, version 1.
//!
//! On connect the server sends one greeting line: `{"pecd_control":1,"server":"pecd X.Y.Z"}`.
//! Then the client sends requests, one JSON object per line, and reads one JSON line in reply
//! to each, in order: `{"ok":true,"result":...}` or `{"ok":false,"error":{"code":...,
//! "message":...,"details":[...]}}`. A `mailbox.import` request line is followed by exactly
//! `size` raw bytes of message. A request line longer than [`MAX_REQUEST_LINE`] is refused
//! and the connection closed, since the stream can no longer be trusted to be in step.

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Greeting {
    pub pecd_control: u32,
    pub server: String,
}

/// The per-mailbox sending limit as pecctl spells it: a number, or `default`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SenderLimit {
    PerMinute(u32),
    Default(DefaultWord),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultWord {
    Default,
}

impl SenderLimit {
    pub fn per_minute(self) -> Option<u32> {
        match self {
            SenderLimit::PerMinute(n) => Some(n),
            SenderLimit::Default(_) => None,
        }
    }
}

impl std::str::FromStr for SenderLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "default" {
            return Ok(SenderLimit::Default(DefaultWord::Default));
        }
        match s.parse::<u32>() {
            Ok(n) if n > 0 => Ok(SenderLimit::PerMinute(n)),
            _ => Err(format!(
                "{s:?}: expected a number of messages per minute (1 or more) or \"default\""
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Request {
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "mailbox.create")]
    MailboxCreate { address: String, password: String },
    #[serde(rename = "mailbox.list")]
    MailboxList,
    #[serde(rename = "mailbox.show")]
    MailboxShow { address: String },
    #[serde(rename = "mailbox.delete")]
    MailboxDelete { address: String },
    /// `must_change`: the password is expired at once, so the holder must change it at the
    /// first login (PROVISIONING.md §7).
    #[serde(rename = "mailbox.passwd")]
    MailboxPasswd {
        address: String,
        password: String,
        #[serde(default)]
        must_change: bool,
    },
    /// Followed on the stream by `size` bytes of RFC 5322 message.
    #[serde(rename = "mailbox.import")]
    MailboxImport {
        address: String,
        folder: Option<String>,
        size: u64,
    },
    #[serde(rename = "mailbox.set")]
    MailboxSet {
        address: String,
        sender_per_minute: SenderLimit,
    },
    /// The legal transaction log (PEC.md §10.5), oldest first. Times are Unix seconds.
    #[serde(rename = "log.search")]
    LogSearch {
        #[serde(default)]
        msgid: Option<String>,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        since: Option<i64>,
        #[serde(default)]
        until: Option<i64>,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Every recipient's state of one certified message, by PEC msgid or client Message-ID.
    #[serde(rename = "trace")]
    Trace { id: String },
    /// The provider index in force (PEC.md §8), our own entry included.
    #[serde(rename = "index.list")]
    IndexList,
    /// One provider, by name, managed domain or certificate hash.
    #[serde(rename = "index.show")]
    IndexShow { key: String },
    /// Our own provider entry (LDIF) with the domains served now (`pecd index export`).
    #[serde(rename = "index.export")]
    IndexExport,
    /// The relay queue (PEC.md §6.2), oldest first.
    #[serde(rename = "queue.list")]
    QueueList,
    #[serde(rename = "queue.show")]
    QueueShow { id: u64 },
    /// Makes one queued message (or all, without `id`) due now.
    #[serde(rename = "queue.retry")]
    QueueRetry {
        #[serde(default)]
        id: Option<u64>,
    },
    #[serde(rename = "queue.delete")]
    QueueDelete { id: u64 },
    /// Acts as the operator with this user id, with its scope, for the rest of the
    /// connection (`pecctl --as`); `null` goes back to the built-in administrator.
    #[serde(rename = "session.as")]
    SessionAs { userid: Option<String> },
}

/// One certificate of a provider entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    pub sha1: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// rfc822Name values: the From of the provider's messages.
    pub emails: Vec<String>,
}

/// A provider of the index, as `pecctl index list|show` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderView {
    pub name: String,
    pub mail_receipt: String,
    pub domains: Vec<String>,
    pub hashes: Vec<String>,
    /// Our own entry (made from the signing certificate), not read from the index file.
    pub ours: bool,
    pub certificates: Vec<CertificateView>,
}

/// `queue.retry`: how many messages were made due.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retried {
    pub retried: usize,
}

/// The commands a version 1 server knows, for telling "unknown command" from "bad arguments".
pub const COMMANDS: [&str; 18] = [
    "status",
    "mailbox.create",
    "mailbox.list",
    "mailbox.show",
    "mailbox.delete",
    "mailbox.passwd",
    "mailbox.import",
    "mailbox.set",
    "log.search",
    "trace",
    "index.list",
    "index.show",
    "index.export",
    "queue.list",
    "queue.show",
    "queue.retry",
    "queue.delete",
    "session.as",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnknownCommand,
    RequestTooLong,
    InvalidAddress,
    ForeignDomain,
    WeakPassword,
    MailboxExists,
    NoMailbox,
    NotFound,
    NoFolder,
    NotRfc5322,
    TooLarge,
    OverQuota,
    InvalidValue,
    /// Outside the acting operator's scope or entitlements (PROVISIONING.md §2).
    Forbidden,
    /// The record's state does not allow it, or it exists already.
    Conflict,
    /// A temporary failure of the server (store I/O); retrying later may work.
    Unavailable,
    Internal,
}

/// A refusal as sent over the socket. `message` is safe to show; `details` lists items such
/// as every password rule not met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl ControlError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ControlError {
        ControlError {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<String>) -> ControlError {
        self.details = details;
        self
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ControlError>,
}

// ---- results --------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub uptime_seconds: u64,
    pub provider: String,
    pub domains: Vec<String>,
    pub store_path: String,
    pub mailboxes: u64,
    pub messages: u64,
    pub used_bytes: u64,
    pub commits: u64,
    pub committed_writes: u64,
    /// Listener name -> the address it is bound to (ports resolved when configured as 0).
    #[serde(default)]
    pub listeners: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxSummary {
    pub address: String,
    pub state: String,
    pub messages: u64,
    pub used_bytes: u64,
    pub quota_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderInfo {
    pub name: String,
    pub special_use: Option<String>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub messages: u32,
    pub size_bytes: u64,
    pub subscribed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxDetail {
    #[serde(flatten)]
    pub summary: MailboxSummary,
    pub created_at: String,
    pub password_changed_at: String,
    /// The per-mailbox override, `None` when the configured default applies.
    pub sender_per_minute: Option<u32>,
    /// The limit in force for this sender.
    pub effective_sender_per_minute: u32,
    pub folders: Vec<FolderInfo>,
    /// The provisioning archive's view (PROVISIONING.md §4): user id, type, state, request,
    /// customer, account, expiry, services, massive, slaves, history. Absent for a mailbox
    /// the archive has no record of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<pecd_archive::mailboxes::show::CasellaDetail>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    pub address: String,
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_in_their_wire_form() {
        let r: Request = serde_json::from_str(
            r#"{"command":"mailbox.set","address":"a@pec.localhost","sender_per_minute":"default"}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::MailboxSet {
                address: "a@pec.localhost".into(),
                sender_per_minute: SenderLimit::Default(DefaultWord::Default)
            }
        );
        let r: Request = serde_json::from_str(
            r#"{"command":"mailbox.set","address":"a@pec.localhost","sender_per_minute":20}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::MailboxSet {
                address: "a@pec.localhost".into(),
                sender_per_minute: SenderLimit::PerMinute(20)
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"command":"status"}"#
        );
        // Misspelt arguments are refused rather than silently ignored.
        assert!(serde_json::from_str::<Request>(
            r#"{"command":"mailbox.show","address":"a@pec.localhost","adress":"b"}"#
        )
        .is_err());
    }

    #[test]
    fn sender_limit_parses_like_the_cli() {
        assert_eq!("default".parse::<SenderLimit>().unwrap().per_minute(), None);
        assert_eq!("12".parse::<SenderLimit>().unwrap().per_minute(), Some(12));
        assert!("0".parse::<SenderLimit>().is_err());
        assert!("six".parse::<SenderLimit>().is_err());
    }
}
