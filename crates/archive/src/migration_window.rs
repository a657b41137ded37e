//! The migration window's rule on logins and deliveries (PROVISIONING.md §9; `[migration]`
//! in `pecd_common::config::Migration`): a mailbox of a domain in `[migration] domains` is
//! closed before the cutover (its new password is usable only from then), and from the
//! cutover on it is open only if its holder started the migration. The start is noted here,
//! family `migration_window`, keyed by address, by the migration itself (crate `migrate`),
//! once the old provider has accepted the holder's credentials.

use pecd_common::config::Migration;
use pecd_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

pub const FAMILY: &str = "migration_window";

/// A migration started for a mailbox in the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub address: String,
    /// Unix seconds (engine clock) of the first start.
    pub started_at: i64,
}

/// Notes that the migration of `address` started at `now`; a later start keeps the first.
pub async fn mark_started(store: &Store, address: &str, now: i64) -> Result<(), StoreError> {
    let address = address.to_ascii_lowercase();
    store
        .records_transaction(move |tx| {
            if tx.get(FAMILY, address.as_bytes())?.is_none() {
                let value = Started {
                    address: address.clone(),
                    started_at: now,
                };
                let bytes = serde_json::to_vec(&value).expect("serializes");
                tx.put(FAMILY, address.as_bytes(), bytes)?;
            }
            Ok::<_, StoreError>(())
        })
        .await?
}

/// Whether the migration of `address` was ever started.
pub async fn started(store: &Store, address: &str) -> Result<bool, StoreError> {
    let key = address.to_ascii_lowercase();
    Ok(store.record(FAMILY, key.as_bytes()).await?.is_some())
}

/// Why `address` may not log in, send or receive at `now` (Unix seconds, engine clock), or
/// `None` when the window does not concern it. The text is ASCII: it goes into IMAP, POP3
/// and SMTP replies as it is.
pub async fn refusal(
    store: &Store,
    config: &Migration,
    address: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let Some(cutover) = config.cutover_unix() else {
        return Ok(None);
    };
    if !config.in_window(address) {
        return Ok(None);
    }
    let when = config.cutover.as_deref().unwrap_or_default();
    if now < cutover {
        return Ok(Some(format!(
            "Casella in migrazione da un altro gestore: utilizzabile dal {when} \
             (mailbox being migrated: usable from the cutover)"
        )));
    }
    if started(store, address).await? {
        return Ok(None);
    }
    Ok(Some(format!(
        "Casella non migrata: migrazione dal precedente gestore mai avviata prima del \
         {when}; contattare l'assistenza (mailbox not migrated: not usable after the \
         cutover)"
    )))
}
