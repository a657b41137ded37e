//! Where the messages we generate go (PEC.md §1.3 same-domain rule, §6.2): into a mailbox of
//! ours in the same certification step, or into the relay queue for another provider; and
//! the notices we sign for our own sender about one recipient after acceptance (kinds #8,
//! #12, #13: §6.5, §6.6).

use pecd_signer::build::{self, Document, Facts};
use pecd_store::{Certification, Delivery, LogEvent};

use crate::{domain_of, legal_log, off_thread, Engine, EngineError};

/// Where a generated message goes.
pub(crate) enum Route {
    Local(Delivery),
    Relay(pecd_store::Outbound),
    /// To a mailbox of ours that does not exist.
    Nowhere,
}

impl Route {
    /// Adds the message to a certification step.
    pub(crate) fn add_to(self, step: &mut Certification) {
        match self {
            Route::Local(d) => step.deliveries.push(d),
            Route::Relay(o) => step.queue.push(o),
            Route::Nowhere => {}
        }
    }
}

impl Engine {
    /// Where a message we generate for `to` goes: the mailbox, when `to` is ours (none when
    /// it does not exist), or the relay queue.
    pub(crate) async fn route(
        &self,
        to: &str,
        pec_id: &str,
        label: &str,
        bytes: Vec<u8>,
    ) -> Result<Route, EngineError> {
        if self.is_local(to) {
            return Ok(match self.store.find_mailbox(to).await? {
                Some(m) => Route::Local(Delivery {
                    mailbox: m.id,
                    folder: "INBOX".into(),
                    bytes: bytes.into(),
                }),
                None => Route::Nowhere,
            });
        }
        Ok(Route::Relay(pecd_store::Outbound {
            pec_id: pec_id.to_string(),
            sender: self.provider.service_address.clone(),
            recipients: vec![to.to_ascii_lowercase()],
            domain: domain_of(to).to_ascii_lowercase(),
            certified: self.is_certified(to),
            label: label.to_string(),
            created: self.clock.now(),
            bytes: bytes.into(),
        }))
    }

    /// Signs a notice for our sender about one recipient of the transaction of `facts` (a
    /// mancata consegna, per virus or by timeout) and adds it, with its log line `event`, to
    /// `step`. Signing runs off the async threads.
    pub(crate) async fn notify_sender(
        &self,
        step: &mut Certification,
        facts: &Facts,
        doc: Document<'static>,
        event: LogEvent,
        recipient: &str,
        detail: String,
    ) -> Result<(), EngineError> {
        let when = self.now();
        let id = self.new_id(when);
        let (signer, provider, owned) = (self.signer.clone(), self.provider.clone(), facts.clone());
        let built = off_thread(move || {
            let unsigned = build::prepare(&provider, &owned, &doc, when, &id);
            crate::sign_pool::seal(&signer, unsigned)
        })
        .await??;
        self.route(&facts.sender, &facts.pec_id, built.kind.name(), built.bytes)
            .await?
            .add_to(step);
        step.log.push(legal_log::line(
            when,
            event,
            facts,
            vec![recipient.to_string()],
            vec![built.message_id],
            &self.provider.name,
            detail,
        ));
        Ok(())
    }
}
