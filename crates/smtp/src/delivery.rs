//! The hand-off of an accepted message. Until the PEC engine lands, a message for our own
//! mailboxes is stored as it is in each recipient's INBOX; the engine replaces this one
//! function (issue: "make that hand-off one function").

use pecd_store::{Flags, MailboxId, NewMessage, Store, StoreError};

/// Stores `message` for every recipient and returns once every copy is durable. The caller
/// answers 250 only on `Ok`.
pub async fn hand_off(
    store: &Store,
    recipients: &[MailboxId],
    message: Vec<u8>,
) -> Result<(), StoreError> {
    for &mailbox in recipients {
        let copy = NewMessage {
            bytes: message.clone(),
            flags: Flags::default(),
            keywords: vec![],
            internal_date: None,
        };
        store.append(mailbox, "INBOX", copy).await?;
    }
    Ok(())
}
