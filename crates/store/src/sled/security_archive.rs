//! The holders' security archive (PROVISIONING.md §8): the folder
//! [`SECURITY_ARCHIVE_FOLDER`] with the role [`SpecialUse::SecurityArchive`], created when
//! first needed; the copies a certification step keeps in it when they fit the archive's
//! size ([`tx_archive_copies`], called inside the step's transaction); and the refusal of
//! every other write into or out of it ([`refuse_security_archive`]).
//!
//! Accounting: a copy counts in the archive folder's `size_bytes` (the archive's usage) and
//! `message_count`, and in the mailbox's `message_count`, never in its `used_bytes` (the
//! mailbox quota): [`super::tx::tx_insert_message`] leaves it out. Since nothing but the
//! deletion of the whole mailbox removes a copy, the usage only grows.

use std::collections::HashMap;

use super::codec::*;
use super::tx::*;
use super::SledStore;
use crate::bodies::BlobId;
use crate::pec::ArchiveOutcome;
use crate::types::*;

/// One copy of a certification step, planned: where it goes and which body it refers to.
pub(super) struct PlannedCopy {
    pub(super) mailbox: MailboxId,
    pub(super) folder: FolderId,
    pub(super) blob: BlobId,
    pub(super) size: u64,
    pub(super) limit: u64,
}

/// Refuses `what` on the security archive: nothing but a certification step writes there.
pub(super) fn refuse_security_archive(folder: &Folder, what: &str) -> Result<(), StoreError> {
    if folder.is_security_archive() {
        return Err(StoreError::Invalid(format!(
            "{what}: {} is read-only",
            folder.name
        )));
    }
    Ok(())
}

/// Refuses a folder other than the archive itself that would take its name or role.
pub(super) fn check_reserved(name: &str, role: Option<SpecialUse>) -> Result<(), StoreError> {
    let named = name == SECURITY_ARCHIVE_FOLDER;
    let archive_role = role == Some(SpecialUse::SecurityArchive);
    if named != archive_role {
        return Err(StoreError::Invalid(format!(
            "the name {SECURITY_ARCHIVE_FOLDER:?} is reserved for the security archive"
        )));
    }
    Ok(())
}

impl SledStore {
    /// The mailbox's security archive folder, created when missing. A folder of that name
    /// without the role (made before the name was reserved) is `Invalid`.
    pub fn security_archive(&self, mailbox: MailboxId) -> Result<Folder, StoreError> {
        for _ in 0..2 {
            if let Some(f) = self.folder(mailbox, SECURITY_ARCHIVE_FOLDER)? {
                refuse_foreign(&f)?;
                return Ok(f);
            }
            match self.create_folder(
                mailbox,
                SECURITY_ARCHIVE_FOLDER,
                Some(SpecialUse::SecurityArchive),
            ) {
                Ok(f) => return Ok(f),
                // Created meanwhile by another step: read it again.
                Err(StoreError::Exists(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Exists(SECURITY_ARCHIVE_FOLDER.into()))
    }
}

/// A folder named like the archive that is not it.
fn refuse_foreign(f: &Folder) -> Result<(), StoreError> {
    if f.is_security_archive() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{} exists and is not the security archive",
            f.name
        )))
    }
}

/// Inside a certification step's transaction: keeps each copy that fits its archive (usage
/// plus size within the limit, earlier copies of the step counted), dated `now` and
/// unflagged. Returns what became of each copy, and how many references each body lost to
/// the copies that did not fit (the plan counted them all).
pub(super) fn tx_archive_copies(
    trees: MessageTrees,
    copies: &[PlannedCopy],
    now: i64,
) -> TxResult<(Vec<ArchiveOutcome>, HashMap<BlobId, u32>)> {
    let (mbx, fld, ..) = trees;
    let mut outcomes = Vec::with_capacity(copies.len());
    let mut dropped: HashMap<BlobId, u32> = HashMap::new();
    for c in copies {
        let f = tx_owned_folder(fld, c.mailbox, c.folder)?;
        let fits = f.size_bytes.saturating_add(c.size) <= c.limit;
        let stored = if fits {
            let m = tx_mailbox(mbx, c.mailbox)?;
            let record = NewRecord {
                blob: c.blob,
                size: c.size,
                internal_date: now,
                flags: Flags::default(),
                keywords: Vec::new(),
            };
            Some(tx_insert_message(trees, m, c.folder, record)?)
        } else {
            *dropped.entry(c.blob).or_default() += 1;
            None
        };
        outcomes.push(ArchiveOutcome {
            mailbox: c.mailbox,
            stored,
            size: c.size,
            used_bytes: if fits {
                f.size_bytes + c.size
            } else {
                f.size_bytes
            },
            limit_bytes: c.limit,
        });
    }
    Ok((outcomes, dropped))
}
