//! The audit log: one entry per change, written in the same transaction as the change, so
//! that no change goes unrecorded and no entry records a change that did not happen. Keys are
//! time ‖ sequence, so entries read back in the order they were made.

use chrono::NaiveDate;
use pecd_store::RecordTx;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::AuditEntry;
use crate::records::{self, Record};
use crate::scope::Actor;
use crate::Archive;

/// The stored form: the entry and its place in the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Stored {
    seq: u64,
    #[serde(flatten)]
    entry: AuditEntry,
}

impl Record for Stored {
    const FAMILY: &'static str = "audit";
    fn key(&self) -> Vec<u8> {
        let mut k = ((self.entry.at as u64) ^ (1 << 63)).to_be_bytes().to_vec();
        k.extend_from_slice(&self.seq.to_be_bytes());
        k
    }
}

/// Records that `actor` did `action` to `target` at `at`, inside the change's transaction.
pub fn record(
    tx: &mut dyn RecordTx,
    actor: &Actor,
    at: i64,
    action: &str,
    target: &str,
    detail: impl Into<String>,
) -> Result<()> {
    let seq = records::next_counter(tx, "audit")?;
    records::put(
        tx,
        &Stored {
            seq,
            entry: AuditEntry {
                at,
                operator: actor.userid().to_string(),
                action: action.to_string(),
                target: target.to_string(),
                detail: detail.into(),
            },
        },
    )
}

/// Which entries `pecctl audit` shows.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub since: Option<NaiveDate>,
    pub operator: Option<String>,
    pub target: Option<String>,
    pub limit: Option<usize>,
}

/// Most entries one query returns (the newest of them).
pub const MAX_AUDIT_ENTRIES: usize = 10_000;

impl Archive {
    /// Audit entries, oldest first. Administrators (amministratore, LMXADM) read every
    /// entry; other operators read their own.
    pub async fn audit(&self, actor: &Actor, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let since = q
            .since
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(i64::MIN, |t| t.and_utc().timestamp());
        let all: Vec<Stored> = records::load_all(self.store(), b"", usize::MAX).await?;
        let own = (!actor.is_admin_like()).then(|| actor.userid().to_string());
        let limit = q.limit.unwrap_or(MAX_AUDIT_ENTRIES).min(MAX_AUDIT_ENTRIES);
        let mut out: Vec<AuditEntry> = all
            .into_iter()
            .map(|s| s.entry)
            .filter(|e| e.at >= since)
            .filter(|e| own.as_deref().is_none_or(|u| e.operator == u))
            .filter(|e| q.operator.as_deref().is_none_or(|u| e.operator == u))
            .filter(|e| {
                q.target
                    .as_deref()
                    .is_none_or(|t| e.target.eq_ignore_ascii_case(t))
            })
            .collect();
        if out.len() > limit {
            out.drain(..out.len() - limit);
        }
        Ok(out)
    }
}
