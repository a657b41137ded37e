//! What can go wrong in the engine, and what it means on the wire: each error says whether
//! retrying later may succeed and which SMTP reply (code, RFC 3463 enhanced code, safe text)
//! the service gives for it. Details (paths, store messages) stay in the log.

use pecd_signer::smime::SignError;
use pecd_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    #[error("{0}")]
    Setup(String),
    /// The authenticated holder's mailbox was deleted during the session.
    #[error("sender mailbox {0} is gone")]
    SenderGone(String),
    /// Mail from outside for a domain that is not ours (we never relay it).
    #[error("{0}: not one of our domains")]
    NoRelay(String),
    /// Ordinary mail for a mailbox of ours that does not exist.
    #[error("{0}: no such mailbox")]
    NoSuchMailbox(String),
    /// Ordinary mail for a mailbox that is not active.
    #[error("{0}: mailbox disabled")]
    MailboxDisabled(String),
    /// Ordinary mail for a mailbox with no room left.
    #[error("{0}: mailbox full")]
    MailboxFull(String),
    /// Ordinary mail whose recipients' domains have different ordinary-mail policies: the end
    /// of DATA can answer only once.
    #[error("recipients with different ordinary-mail policies")]
    PolicyMismatch,
}

/// An SMTP reply: code, enhanced status code (RFC 3463) and a text safe to show the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl SmtpReply {
    fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> SmtpReply {
        SmtpReply {
            code,
            enhanced,
            text: text.into(),
        }
    }
}

impl EngineError {
    /// Whether retrying later, with no operator's action, may succeed.
    pub fn is_temporary(&self) -> bool {
        match self {
            EngineError::Store(e) => e.is_temporary(),
            EngineError::MailboxFull(_) | EngineError::PolicyMismatch => true,
            EngineError::Sign(_)
            | EngineError::Setup(_)
            | EngineError::SenderGone(_)
            | EngineError::NoRelay(_)
            | EngineError::NoSuchMailbox(_)
            | EngineError::MailboxDisabled(_) => false,
        }
    }

    /// A failure of pecd itself (store, signing, setup) rather than a rule's refusal: worth an
    /// error in the log wherever it is answered.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            EngineError::Store(_) | EngineError::Sign(_) | EngineError::Setup(_)
        )
    }

    /// The reply an SMTP client gets for this error.
    ///
    /// Internal failures (store, signing, setup) answer 451 4.3.0 whatever their kind: no rule
    /// refused the message, so the client keeps it and comes back once the cause is fixed.
    /// A holder whose mailbox is gone answers 550 5.7.1, as MAIL FROM does for the same
    /// mailbox: the address is still well formed and ours (so not X.1.x), but its holder is no
    /// longer authorised to send (RFC 3463 X.7.1 "delivery not authorized, message refused"),
    /// and no retry will change that.
    pub fn smtp_reply(&self) -> SmtpReply {
        match self {
            EngineError::Store(_) | EngineError::Sign(_) | EngineError::Setup(_) => SmtpReply::new(
                451,
                "4.3.0",
                "Temporary failure storing the message; try again later",
            ),
            EngineError::SenderGone(_) => SmtpReply::new(
                550,
                "5.7.1",
                "Mailbox no longer exists: it can no longer send",
            ),
            EngineError::NoRelay(a) => SmtpReply::new(
                550,
                "5.7.1",
                format!("<{a}>: relaying to domains other than ours is not available"),
            ),
            EngineError::NoSuchMailbox(a) => {
                SmtpReply::new(550, "5.1.1", format!("<{a}>: no such mailbox"))
            }
            EngineError::MailboxDisabled(a) => {
                SmtpReply::new(550, "5.2.1", format!("<{a}>: mailbox disabled"))
            }
            EngineError::MailboxFull(a) => {
                SmtpReply::new(452, "4.2.2", format!("<{a}>: mailbox full"))
            }
            EngineError::PolicyMismatch => SmtpReply::new(
                452,
                "4.5.3",
                "Recipients of domains with another ordinary-mail policy: send them in a separate transaction",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_sender_is_refused_for_good_not_deferred() {
        let e = EngineError::SenderGone("mario@pec.localhost".into());
        assert!(!e.is_temporary());
        let r = e.smtp_reply();
        assert_eq!((r.code, r.enhanced), (550, "5.7.1"));
    }

    #[test]
    fn replies_agree_with_temporariness_for_recipient_refusals() {
        for e in [
            EngineError::NoRelay("a@x".into()),
            EngineError::NoSuchMailbox("a@x".into()),
            EngineError::MailboxDisabled("a@x".into()),
            EngineError::MailboxFull("a@x".into()),
            EngineError::PolicyMismatch,
        ] {
            let r = e.smtp_reply();
            assert_eq!(e.is_temporary(), r.code < 500, "{e}");
            assert_eq!(r.enhanced.starts_with('4'), r.code < 500, "{e}");
        }
        let io = EngineError::Store(StoreError::Io("disk".into()));
        assert!(io.is_temporary());
        assert_eq!(io.smtp_reply().code, 451);
    }
}
