//! What a migration keeps in the store's keyed records (the pattern of
//! `pecd_archive::records`: JSON values, `#[serde(default)]` for fields added later).
//!
//! - family `migration`, keyed by address: [`MigrationRecord`], the state and counters that
//!   `migrate status` shows;
//! - family `migration_folder`, keyed by address ‖ 0 ‖ old folder name: [`FolderProgress`],
//!   the old folder's UIDVALIDITY, the highest UID whose message is stored (UIDs are imported
//!   in ascending order, so that mark is the whole imported set), and the batch in flight.
//!
//! Both are written in one transaction after each batch's messages are durable, so progress
//! never counts a message that a crash could lose; a crash between the two leaves the batch
//! `pending`, and the next run looks for its messages before fetching them again.

use pecd_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

pub const FAMILY: &str = "migration";
pub const FOLDER_FAMILY: &str = "migration_folder";

/// Most error texts a record keeps (the count goes on).
pub const MAX_ERROR_TEXTS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Done,
    Failed,
}

/// Which run: the one before cutover (everything but the archive folder) or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    BeforeCutover,
    AfterCutover,
}

/// One mailbox's migration, as `migrate status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MigrationRecord {
    pub address: String,
    /// `imaps://host:port` of the old provider.
    pub server: String,
    /// The login used there.
    pub login: String,
    pub state: RunState,
    pub pass: Pass,
    /// Unix seconds (engine clock).
    pub started_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub finished_at: Option<i64>,
    /// Runs so far (a rerun resumes).
    #[serde(default)]
    pub runs: u32,
    #[serde(default)]
    pub folders: Vec<FolderStatus>,
    /// Messages of the imported folders on the old server, and how many of them are here.
    pub messages_total: u64,
    pub messages_done: u64,
    /// Messages and bytes stored by this run.
    #[serde(default)]
    pub imported: u64,
    #[serde(default)]
    pub bytes: u64,
    /// Problems met (a folder with an unreadable name, a message refused); `error_texts`
    /// keeps the first [`MAX_ERROR_TEXTS`].
    pub errors: u64,
    #[serde(default)]
    pub error_texts: Vec<String>,
    /// Whether the holder kept the old password (it met the policy).
    #[serde(default)]
    pub password_kept: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FolderStatus {
    /// The old folder's name (UTF-8).
    pub name: String,
    /// Ours.
    pub target: String,
    pub messages_total: u64,
    pub messages_done: u64,
    /// Left for the run after cutover (the old provider's archive folder).
    #[serde(default)]
    pub deferred: bool,
}

impl MigrationRecord {
    pub fn error(&mut self, text: impl Into<String>) {
        self.errors += 1;
        if self.error_texts.len() < MAX_ERROR_TEXTS {
            self.error_texts.push(text.into());
        }
    }
}

/// How far one old folder is imported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderProgress {
    /// 0 before the first run.
    pub uidvalidity: u32,
    /// Every message of the old folder up to this UID is stored.
    pub imported_through: u32,
    #[serde(default)]
    pub pending: Option<Pending>,
}

/// A batch being stored: if a run stops before its progress is written, the next one
/// looks for these messages among ours from `target_uidnext` on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub uids: Vec<u32>,
    pub target_uidnext: u32,
}

pub fn folder_key(address: &str, folder: &str) -> Vec<u8> {
    let mut k = address.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(folder.as_bytes());
    k
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("migration records serialize")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("unreadable migration record: {e}")))
}

pub async fn load(store: &Store, address: &str) -> Result<Option<MigrationRecord>, StoreError> {
    match store.record(FAMILY, address.as_bytes()).await? {
        Some(v) => decode(&v).map(Some),
        None => Ok(None),
    }
}

pub async fn load_folder(
    store: &Store,
    address: &str,
    folder: &str,
) -> Result<FolderProgress, StoreError> {
    match store
        .record(FOLDER_FAMILY, &folder_key(address, folder))
        .await?
    {
        Some(v) => decode(&v),
        None => Ok(FolderProgress::default()),
    }
}

/// Writes the record, and a folder's progress with it when given, in one transaction.
pub async fn save(
    store: &Store,
    record: &MigrationRecord,
    folder: Option<(&str, &FolderProgress)>,
) -> Result<(), StoreError> {
    let key = record.address.as_bytes().to_vec();
    let value = encode(record);
    let folder = folder.map(|(name, p)| (folder_key(&record.address, name), encode(p)));
    store
        .records_transaction(move |tx| {
            tx.put(FAMILY, &key, value)?;
            if let Some((k, v)) = folder {
                tx.put(FOLDER_FAMILY, &k, v)?;
            }
            Ok::<_, StoreError>(())
        })
        .await?
}
