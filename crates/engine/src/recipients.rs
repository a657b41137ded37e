//! Deciding a recipient at RCPT TO, once (PEC.md §6.1 step 4, §6.3, §6.4; §12 item 9 for the
//! ordinary-mail policy). SMTP asks [`Engine::decide_recipient`] and carries the decision
//! with the transaction; the end of DATA reuses it, reading again only the mailboxes of ours
//! it found (see [`Engine::recheck`]).

use pecd_common::config::OrdinaryMail;
use pecd_store::{MailboxId, MailboxState};

use crate::{Engine, EngineError, Recipient};

/// Who is sending, as SMTP knows it at RCPT TO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderContext<'a> {
    /// An authenticated holder at the Access Point (PEC.md §6.1): any recipient is taken;
    /// ours get a receipt or an avviso di mancata consegna, the others are relayed.
    Holder,
    /// Mail from outside at the Incoming Point (§6.3), with its reverse path (empty for the
    /// null one): only our domains are served.
    Outside { reverse_path: &'a str },
}

/// What the engine decided about one RCPT TO address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientDecision {
    /// Lower case.
    pub address: String,
    /// Ours (and how the mailbox stands), another provider's, or esterno.
    pub found: Recipient,
    /// Our mailbox of that address, whatever its state.
    pub mailbox: Option<MailboxId>,
    /// The ordinary-mail policy of its mailbox's type, else of its domain.
    pub policy: OrdinaryMail,
    /// The reverse path is of another PEC provider: an envelope or a receipt may come, so an
    /// unknown, disabled or full mailbox is not refused here but gets its avviso di mancata
    /// consegna at the end of DATA (§6.4).
    pub from_peer: bool,
}

impl Engine {
    /// Decides one recipient at RCPT TO. `earlier` are the transaction's recipients decided
    /// so far. An error is a refusal of this recipient, with its SMTP reply
    /// ([`EngineError::smtp_reply`]).
    ///
    /// Ordinary mail (from outside, not from a PEC provider) must find an existing, active
    /// mailbox with room, and share the first recipient's ordinary-mail policy, since the
    /// end of DATA can only answer once.
    pub async fn decide_recipient(
        &self,
        sender: &SenderContext<'_>,
        rcpt: &str,
        earlier: &[RecipientDecision],
    ) -> Result<RecipientDecision, EngineError> {
        let address = rcpt.to_ascii_lowercase();
        let reverse_path = match sender {
            SenderContext::Holder => None,
            SenderContext::Outside { reverse_path } => Some(*reverse_path),
        };
        if reverse_path.is_some() && !self.is_local(&address) {
            return Err(EngineError::NoRelay(address));
        }
        let from_peer = reverse_path.is_some_and(|r| self.is_peer_address(r));
        // At RCPT a mailbox is full when it has no byte left (the size comes with DATA).
        let (found, mailbox) = self.classify(&address, 1).await?;
        let policy = if self.is_local(&address) {
            self.recipient_policy(&address).await
        } else {
            self.ordinary_policy(&address)
        };
        if reverse_path.is_some() && !from_peer {
            match found {
                Recipient::Missing => return Err(EngineError::NoSuchMailbox(address)),
                Recipient::Revoked | Recipient::NotMigrated => {
                    return Err(EngineError::MailboxDisabled(address))
                }
                Recipient::Full => return Err(EngineError::MailboxFull(address)),
                _ => {}
            }
            if earlier.first().is_some_and(|first| first.policy != policy) {
                return Err(EngineError::PolicyMismatch);
            }
        }
        Ok(RecipientDecision {
            address,
            found,
            mailbox,
            policy,
            from_peer,
        })
    }

    /// The decision at the end of DATA, for a message of `size` bytes. A mailbox of ours that
    /// RCPT found is read again by id (one read): the quota check needs the size, known only
    /// now, and a mailbox revoked or deleted since RCPT must get its avviso di mancata
    /// consegna rather than make the whole certification step fail. An address RCPT found no
    /// mailbox for (or whose mailbox is gone) is looked up again by address, so a mailbox
    /// created meanwhile is served; another provider's or an esterno address is classified
    /// again against the index of now, the one the envelope's daticert is written from.
    pub(crate) async fn recheck(
        &self,
        d: &RecipientDecision,
        size: u64,
    ) -> Result<Recipient, EngineError> {
        if let Some(id) = d.mailbox {
            if let Some(m) = self.store.mailbox(id).await? {
                return self.within_window(&m, standing(&m, size)).await;
            }
        }
        Ok(self.classify(&d.address, size).await?.0)
    }

    /// Whether `address` can take a message of `size` bytes: ours (by mailbox state and free
    /// space), another provider's, or esterno; with our mailbox when there is one. For an
    /// addressee that no RCPT TO decided (a receipt's, PEC.md §6.5).
    pub(crate) async fn classify(
        &self,
        address: &str,
        size: u64,
    ) -> Result<(Recipient, Option<MailboxId>), EngineError> {
        if !self.is_local(address) {
            let found = if self.is_certified(address) {
                Recipient::Remote
            } else {
                Recipient::External
            };
            return Ok((found, None));
        }
        Ok(match self.store.find_mailbox(address).await? {
            None => (Recipient::Missing, None),
            Some(m) => (
                self.within_window(&m, standing(&m, size)).await?,
                Some(m.id),
            ),
        })
    }

    /// `found` for mailbox `m`, unless the migration window closes it now
    /// (PROVISIONING.md §9, `pecd_archive::migration_window`): then it receives as a
    /// disabled mailbox does, with its own text.
    async fn within_window(
        &self,
        m: &pecd_store::Mailbox,
        found: Recipient,
    ) -> Result<Recipient, EngineError> {
        let now = self.clock.now();
        let config = &self.config.migration;
        match pecd_archive::migration_window::refusal(&self.store, config, &m.address, now).await? {
            Some(text) => {
                tracing::info!(mailbox = %m.address, reason = %text, "recipient refused by the migration window");
                Ok(Recipient::NotMigrated)
            }
            None => Ok(found),
        }
    }
}

/// How a mailbox of ours stands for a message of `size` bytes.
fn standing(m: &pecd_store::Mailbox, size: u64) -> Recipient {
    if m.state != MailboxState::Active {
        Recipient::Revoked
    } else if m.used_bytes + size > m.quota_bytes {
        Recipient::Full
    } else {
        Recipient::Active(m.id)
    }
}
