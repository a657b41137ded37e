//! The store's own types: what protocol crates see. No sled type appears here, so a second
//! backend can produce the same values.

use serde::{Deserialize, Serialize};

pub type MailboxId = u64;
pub type FolderId = u64;
pub type Uid = u32;
pub type ModSeq = u64;

/// Administrative state of a mailbox (the provisioning archive maps its richer states here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxState {
    /// Sends, receives and can be read.
    Active,
    /// Cannot send or receive; the holder can still read (PROVISIONING.md §4 `revocata`).
    Revoked,
}

/// Per-mailbox settings that override provider-wide configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxSettings {
    /// Messages a minute this sender may submit; `None` means `limits.sender_per_minute`.
    pub sender_per_minute: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub id: MailboxId,
    /// Lower-case address; also the login until the provisioning archive adds user ids.
    pub address: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds of the last password change (passwords expire after 12 months).
    pub password_changed_at: i64,
    pub quota_bytes: u64,
    pub used_bytes: u64,
    pub message_count: u64,
    pub state: MailboxState,
    pub settings: MailboxSettings,
    pub created_at: i64,
    /// Highest modification sequence given to any change of this mailbox.
    pub modseq: ModSeq,
}

/// Special-use roles of RFC 6154.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialUse {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    /// The holder's security archive (PROVISIONING.md §8): copies kept by the engine, read
    /// only, their bytes outside the mailbox's quota (see [`SECURITY_ARCHIVE_FOLDER`]).
    SecurityArchive,
}

impl SpecialUse {
    /// The RFC 6154 attribute, or `None` for INBOX, which has no attribute.
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            SpecialUse::Inbox => None,
            SpecialUse::Sent => Some("\\Sent"),
            SpecialUse::Drafts => Some("\\Drafts"),
            SpecialUse::Trash => Some("\\Trash"),
            SpecialUse::Junk => Some("\\Junk"),
            SpecialUse::Archive => Some("\\Archive"),
            // Not RFC 6154's \Archive: clients must not file mail into it.
            SpecialUse::SecurityArchive => None,
        }
    }
}

/// The folders every new mailbox gets, created up front because Outlook 2010 ignores
/// special-use and Apple Mail invents its own names when they are missing (CLIENTS.md §1).
pub const DEFAULT_FOLDERS: [(&str, SpecialUse); 6] = [
    ("INBOX", SpecialUse::Inbox),
    ("Sent", SpecialUse::Sent),
    ("Drafts", SpecialUse::Drafts),
    ("Trash", SpecialUse::Trash),
    ("Junk", SpecialUse::Junk),
    ("Archive", SpecialUse::Archive),
];

/// The folder of a holder's security archive (PROVISIONING.md §8), created with the role
/// [`SpecialUse::SecurityArchive`] when the first copy is kept. Only certification steps
/// write into it ([`crate::ArchiveCopy`]); appends, copies or moves into it, flag changes,
/// expunges, moves out of it, deletion and renaming are refused with
/// [`StoreError::Invalid`]. Its messages count in its own `size_bytes` (the archive's usage,
/// bounded by each copy's limit), never in the mailbox's `used_bytes`. No other folder may
/// take this name.
pub const SECURITY_ARCHIVE_FOLDER: &str = "Archivio di sicurezza";

/// INBOX is case-insensitive (RFC 3501 §5.1); every other name is kept as given.
pub fn normalize_folder_name(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub id: FolderId,
    pub mailbox_id: MailboxId,
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: Uid,
    pub highestmodseq: ModSeq,
    pub subscribed: bool,
    pub role: Option<SpecialUse>,
    pub message_count: u32,
    pub size_bytes: u64,
}

impl Folder {
    /// Whether this is the holder's security archive (read only; see
    /// [`SECURITY_ARCHIVE_FOLDER`]).
    pub fn is_security_archive(&self) -> bool {
        self.role == Some(SpecialUse::SecurityArchive)
    }
}

/// IMAP system flags as a bit set (\Recent is per session and not stored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flags(pub u8);

impl Flags {
    pub const SEEN: Flags = Flags(1);
    pub const ANSWERED: Flags = Flags(2);
    pub const FLAGGED: Flags = Flags(4);
    pub const DELETED: Flags = Flags(8);
    pub const DRAFT: Flags = Flags(16);

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

/// Keywords a message may carry at most, and their longest name: bounds that keep every
/// metadata record small enough for sled to keep inline in its log.
pub const MAX_KEYWORDS: usize = 64;
pub const MAX_KEYWORD_LEN: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub uid: Uid,
    pub folder_id: FolderId,
    /// Name of the body file.
    pub blob: [u8; 16],
    pub size: u64,
    /// Unix seconds.
    pub internal_date: i64,
    pub flags: Flags,
    pub keywords: Vec<String>,
    pub modseq: ModSeq,
}

/// A message to append.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub bytes: Vec<u8>,
    pub flags: Flags,
    pub keywords: Vec<String>,
    /// Unix seconds; `None` means now.
    pub internal_date: Option<i64>,
}

/// What an append produced (UIDPLUS needs the first two).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub uidvalidity: u32,
    pub uid: Uid,
    pub modseq: ModSeq,
    pub folder_id: FolderId,
    pub size: u64,
}

/// What a COPY or MOVE produced (UIDPLUS's COPYUID needs the first two).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    /// The destination folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// (source UID, new UID in the destination), ascending by source UID; empty when none of
    /// the requested UIDs existed.
    pub pairs: Vec<(Uid, Uid)>,
    /// The mailbox's modseq after the operation.
    pub modseq: ModSeq,
}

/// How a flag update applies (IMAP STORE FLAGS, +FLAGS, -FLAGS).
#[derive(Clone, Debug)]
pub enum FlagOp {
    Set(Flags, Vec<String>),
    Add(Flags, Vec<String>),
    Remove(Flags, Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Appended,
    FlagsChanged,
    Expunged,
    FolderCreated,
    /// The folder and its messages are gone (each message also logged as `Expunged`).
    FolderDeleted,
    /// The folder has a new name; its id, UIDVALIDITY and messages are unchanged.
    FolderRenamed,
}

/// One entry of a mailbox's change log, in modseq order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub modseq: ModSeq,
    pub folder_id: FolderId,
    /// 0 for folder-level changes.
    pub uid: Uid,
    pub kind: ChangeKind,
}

/// A mailbox's change log after some modseq, as far back as the log still reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeLog {
    /// The compaction floor: the highest modseq whose entry may have been removed (0 when
    /// the log was never compacted).
    pub floor: ModSeq,
    /// Whether `changes` holds every change after the modseq asked for. When not (the
    /// modseq is below `floor`), a reader compares with the folders themselves: RFC 7162
    /// §3.2.5.2 lets QRESYNC report as vanished UIDs the client may never have seen.
    pub complete: bool,
    /// The entries kept after the modseq asked for, oldest first.
    pub changes: Vec<Change>,
}

/// How much the store keeps of the records that would otherwise only grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Change-log entries kept per mailbox. A write that leaves more than this plus a
    /// quarter compacts the log back to this many, so a log holds at most 1.25 times it.
    pub change_log_entries: u64,
    /// Seconds a submission's idempotency key is kept: a retry within this window is
    /// recognised as a duplicate, a later one is certified again.
    pub dedup_seconds: i64,
}

/// Change-log entries kept per mailbox by default: months of a busy PEC mailbox (each entry
/// is a few tens of bytes, so at most about 400 KB a mailbox).
pub const DEFAULT_CHANGE_LOG_ENTRIES: u64 = 10_000;
/// How long submission idempotency keys are kept by default: 7 days, far beyond any client's
/// or the relay's retry of a submission.
pub const DEFAULT_DEDUP_SECONDS: i64 = 7 * 86_400;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            change_log_entries: DEFAULT_CHANGE_LOG_ENTRIES,
            dedup_seconds: DEFAULT_DEDUP_SECONDS,
        }
    }
}

/// The message bodies as stored: what the body index refers to and what the segment files
/// hold (their difference is dead bytes, left for compaction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyStats {
    /// Distinct bodies referred to.
    pub bodies: u64,
    /// References to them (messages and relay queue entries).
    pub references: u64,
    /// Bytes of the bodies referred to, each counted once.
    pub live_bytes: u64,
    /// Segment files, and their total length.
    pub segments: u64,
    pub segment_bytes: u64,
}

/// What one [`crate::Store::prune`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Idempotency keys past their keep.
    pub dedup_keys: usize,
    /// Change-log entries compacted away.
    pub changes: usize,
    /// Body segments compacted (their live bodies copied, the file deleted).
    pub segments: usize,
}

/// Broadcast after a change is durable, for sessions waiting in IDLE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeNotice {
    pub mailbox_id: MailboxId,
    pub modseq: ModSeq,
}

/// Figures for `pecctl status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub mailboxes: u64,
    pub messages: u64,
    pub used_bytes: u64,
    /// Group commits performed since start, and the writes they made durable.
    pub commits: u64,
    pub committed_writes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such mailbox: {0}")]
    NoMailbox(String),
    #[error("no such folder: {0}")]
    NoFolder(String),
    #[error("already exists: {0}")]
    Exists(String),
    #[error("over quota: {used} of {quota} bytes used, message of {size} bytes")]
    OverQuota { used: u64, quota: u64, size: u64 },
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("store directory {0} is in use by another pecd process")]
    Locked(String),
    #[error("store I/O error: {0}")]
    Io(String),
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether retrying later may succeed (SMTP 4xx rather than 5xx).
    pub fn is_temporary(&self) -> bool {
        matches!(self, StoreError::Io(_) | StoreError::Locked(_))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}
