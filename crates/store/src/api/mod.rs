//! The [`crate::Store`] facade's operations, one module per record family. Each operation
//! matches on the store's backend; what every backend shares (argument checks that need no
//! data, clock readings, lower-casing an address) happens before the match.

mod certify;
mod copy_move;
mod folders;
mod mailboxes;
mod messages;
mod queue;
mod records;
mod upkeep;

use std::sync::Arc;

use crate::sled::SledStore;
use crate::types::StoreError;

/// Runs a call of the synchronous sled backend on tokio's blocking pool, so that protocol
/// sessions never wait on disk on an async thread.
async fn blocking<T, F>(store: &Arc<SledStore>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&SledStore) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| StoreError::Io(format!("store task failed: {e}")))?
}
