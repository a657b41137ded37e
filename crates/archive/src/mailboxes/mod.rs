//! Mailboxes (caselle) as the archive manages them (PROVISIONING.md §4): incomplete mailboxes
//! made by `pecctl mailbox create` ([`incomplete`]), the recorded transitions revoke and
//! reactivate and the data changes ([`ops`]), the job step that applies transitions
//! ([`transitions`]), services ([`services`]), search and its CSV report ([`search`]) and the
//! detail ([`show`]).
//!
//! Every operation checks the acting operator's scope on each casella it touches; a casella
//! without contract data (incomplete) is changed only by administrators, others get the §3
//! text listing the caselle. A batch over many addresses reports an outcome per mailbox
//! ([`Outcome`]).

pub mod incomplete;
pub mod ops;
pub mod search;
pub mod services;
pub mod show;
pub mod transitions;

use pecd_store::RecordTx;
use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::model::{Casella, HistoryEntry};
use crate::records;
use crate::scope::Actor;

/// Index of caselle with a recorded transition (address -> ()), so the job runner finds them
/// without reading every casella.
pub const PENDING: &str = "casella_pending";

/// Most addresses one batch may name.
pub const MAX_BATCH: usize = 10_000;

/// `Esito positivo`: the operation was done (or recorded) for this mailbox.
pub const POSITIVE: &str = "Esito positivo";
/// `Esito negativo`: not done; [`Outcome::reason`] says why.
pub const NEGATIVE: &str = "Esito negativo";

/// The §3 refusal of a change to caselle without contract data, for non-administrators.
pub const INCOMPLETE: &str = "Servizi NON attivati, per le seguenti caselle, perchè le \
                              informazioni del contratto sono incomplete";

/// The outcome of a batch operation for one mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub address: String,
    /// [`POSITIVE`] or [`NEGATIVE`].
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Outcome {
    pub fn positive(address: &str) -> Outcome {
        Outcome {
            address: address.to_string(),
            outcome: POSITIVE.to_string(),
            reason: None,
        }
    }

    pub fn negative(address: &str, reason: impl Into<String>) -> Outcome {
        Outcome {
            address: address.to_string(),
            outcome: NEGATIVE.to_string(),
            reason: Some(reason.into()),
        }
    }

    pub fn is_positive(&self) -> bool {
        self.outcome == POSITIVE
    }
}

/// An address as the archive keys it: trimmed, lower case, with one `@`.
pub fn normalize(address: &str) -> Result<String> {
    let a = address.trim().to_ascii_lowercase();
    match pecd_common::address::Address::parse(&a) {
        Ok(p) => Ok(p.as_str().to_ascii_lowercase()),
        Err(e) => Err(ArchiveError::invalid(format!("indirizzo {address:?}: {e}"))),
    }
}

/// The addresses of a batch, normalised, without repeats, in the order given.
pub(crate) fn batch(addresses: &[String]) -> Result<Vec<String>> {
    if addresses.is_empty() {
        return Err(ArchiveError::invalid("indicare almeno una casella"));
    }
    if addresses.len() > MAX_BATCH {
        return Err(ArchiveError::invalid(format!(
            "al massimo {MAX_BATCH} caselle per operazione ({} date)",
            addresses.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(addresses.len());
    for a in addresses {
        let a = normalize(a)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// The casella of `address` inside a transaction, or not found.
pub(crate) fn get(tx: &dyn RecordTx, address: &str) -> Result<Casella> {
    records::get::<Casella>(tx, address.as_bytes())?
        .ok_or_else(|| ArchiveError::not_found(format!("casella inesistente: {address}")))
}

/// Refuses a change of `caselle` by `actor`: any out of scope (an authorization error naming
/// it), or any incomplete one for a non-administrator (the §3 text and the list).
pub(crate) fn check_change_all(actor: &Actor, caselle: &[Casella]) -> Result<()> {
    for c in caselle {
        actor.check_scope(c.customer.as_deref(), c.account.as_deref())?;
    }
    if actor.is_admin_like() {
        return Ok(());
    }
    let incomplete: Vec<String> = caselle
        .iter()
        .filter(|c| c.customer.is_none() || c.request.is_none())
        .map(|c| c.address.clone())
        .collect();
    if incomplete.is_empty() {
        return Ok(());
    }
    Err(
        ArchiveError::forbidden(format!("{INCOMPLETE}: {}", incomplete.join(", ")))
            .with_details(incomplete),
    )
}

/// Appends a history entry to a casella.
pub(crate) fn remember(c: &mut Casella, actor: &Actor, at: i64, what: impl Into<String>) {
    c.history.push(HistoryEntry {
        at,
        by: actor.userid().to_string(),
        what: what.into(),
    });
}

/// Why a casella with a transition pending refuses any other operation.
pub(crate) fn pending_refusal(c: &Casella) -> Option<String> {
    c.pending.as_ref().map(|_| {
        format!(
            "casella {}: operazione non consentita mentre è {}",
            c.address,
            c.shown_state()
        )
    })
}
