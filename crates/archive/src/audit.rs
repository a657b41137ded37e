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
        let mut k = time_key(self.entry.at).to_vec();
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
    record_as(tx, actor.userid(), at, action, target, detail)
}

/// [`record`] for someone who is not an operator: a mailbox holder on the self-service
/// interface, named by the login identity (`holder:` and the address or slave user id).
pub fn record_as(
    tx: &mut dyn RecordTx,
    who: &str,
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
                operator: who.to_string(),
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

/// Entries read from the store per page while filtering.
const PAGE: usize = 1_000;

fn time_key(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

impl Archive {
    /// Audit entries, oldest first: the newest `limit` (at most [`MAX_AUDIT_ENTRIES`]) that
    /// match, read backwards from the end of the log page by page, so that a long log costs
    /// only what the answer needs. An amministratore reads every entry; other operators
    /// (LMXADM included: entries name other customers' records) read their own.
    pub async fn audit(&self, actor: &Actor, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let since = q
            .since
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(i64::MIN, |t| t.and_utc().timestamp());
        let own = (!actor.is_admin()).then(|| actor.userid().to_string());
        let limit = q.limit.unwrap_or(MAX_AUDIT_ENTRIES).min(MAX_AUDIT_ENTRIES);
        let wanted = |e: &AuditEntry| {
            own.as_deref().is_none_or(|u| e.operator == u)
                && q.operator.as_deref().is_none_or(|u| e.operator == u)
                && q.target
                    .as_deref()
                    .is_none_or(|t| e.target.eq_ignore_ascii_case(t))
        };
        let mut out = Vec::new();
        let mut before: Option<Vec<u8>> = None;
        while out.len() < limit {
            let page = self
                .store()
                .scan_record_range(
                    Stored::FAMILY,
                    &time_key(since),
                    before.as_deref(),
                    PAGE,
                    true,
                )
                .await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            before = Some(last.clone());
            let full = page.len() == PAGE;
            for (_, v) in &page {
                let stored: Stored = records::decode(Stored::FAMILY, v)?;
                if wanted(&stored.entry) && out.len() < limit {
                    out.push(stored.entry);
                }
            }
            if !full {
                break;
            }
        }
        out.reverse();
        Ok(out)
    }
}
