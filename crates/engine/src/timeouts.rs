//! The timeouts of the sending provider (PEC.md §6.6), per certified recipient of another
//! provider: the 12 h warning when neither a presa in carico nor a delivery receipt has come,
//! and the final notice when no delivery receipt has come. The clock starts at acceptance;
//! the state lives in the trace, so a restart keeps every deadline.

use std::sync::Arc;
use std::time::Duration;

use pecd_signer::build::Document;
use pecd_store::{Certification, LogEvent, StateEvent};

use crate::facts::{esteso, facts_of};
use crate::{Engine, EngineError};

/// When the warning goes out, after acceptance.
pub const WARNING_AFTER: i64 = 12 * 3600;
/// When the final notice goes out: inside the 22 h – 24 h window of §6.6, one minute before
/// its end so that a timer interval of up to a minute still lands in it.
pub const FINAL_AFTER: i64 = 24 * 3600 - 60;

/// How often the store drops what its retention no longer keeps (old idempotency keys,
/// change-log entries past the bound).
const PRUNE_EVERY: i64 = 3600;

impl Engine {
    /// Drops what the store's retention no longer keeps; run at start and every hour.
    pub(crate) async fn prune_store(&self) {
        match self.store.prune(self.clock.now()).await {
            Ok(p) if p.dedup_keys + p.changes > 0 => tracing::info!(
                dedup_keys = p.dedup_keys,
                changes = p.changes,
                "store pruned past its retention"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "pruning the store failed"),
        }
    }

    /// Checks the timers every `pec.timer_interval_seconds`, for ever.
    pub async fn run_timers(self: Arc<Self>) {
        let every = Duration::from_secs(self.config.pec.timer_interval_seconds);
        let mut last_prune = self.clock.now();
        loop {
            match self.check_timeouts().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(notices = n, "timeout notices sent"),
                Err(e) => tracing::error!(error = %e, "checking the PEC timeouts failed"),
            }
            if self.clock.now() - last_prune >= PRUNE_EVERY {
                last_prune = self.clock.now();
                self.prune_store().await;
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Emits every notice due now; returns how many.
    pub async fn check_timeouts(&self) -> Result<usize, EngineError> {
        let mut sent = 0;
        for id in self.store.pending().await? {
            // One transaction whose notice cannot be made or stored must not keep every
            // other transaction from its 12 h / 24 h notices.
            match self.check_timeout(&id).await {
                Ok(n) => sent += n,
                Err(e) => {
                    tracing::error!(pec_id = %id, error = %e, "timeout notices of one transaction failed; the others go on")
                }
            }
        }
        Ok(sent)
    }

    /// Emits the notices due now for the transaction `id`; returns how many.
    async fn check_timeout(&self, id: &str) -> Result<usize, EngineError> {
        let mut sent = 0;
        let _guard = self.lock_trace(id).await;
        let Some(mut trace) = self.store.trace(id).await? else {
            return Ok(0);
        };
        let now = self.now();
        let age = now.unix() - trace.accepted;
        // (recipient, final) in the order they go out.
        let mut due = Vec::new();
        for r in trace.recipients.iter().filter(|r| r.open()) {
            if age >= WARNING_AFTER && r.allows(StateEvent::Warning12h) {
                due.push((r.address.clone(), false));
            }
            if age >= FINAL_AFTER {
                due.push((r.address.clone(), true));
            }
        }
        if due.is_empty() {
            return Ok(0);
        }
        let facts = facts_of(&trace);
        let mut step = Certification {
            pec_id: trace.pec_id.clone(),
            ..Default::default()
        };
        for (recipient, last) in &due {
            let text = if *last {
                esteso(
                    "5.4.1",
                    &self.provider.name,
                    "nessuna ricevuta di avvenuta consegna entro 24 ore",
                )
            } else {
                esteso(
                    "4.4.1",
                    &self.provider.name,
                    "nessuna ricevuta di presa in carico o di consegna entro 12 ore",
                )
            };
            let doc = Document::Timeout {
                recipient: recipient.clone(),
                last: *last,
                esteso: text.clone(),
            };
            let (event, move_) = if *last {
                (LogEvent::MancataConsegnaTempo, StateEvent::Timeout24h)
            } else {
                (LogEvent::PreavvisoMancataConsegna, StateEvent::Warning12h)
            };
            self.notify_sender(&mut step, &facts, doc, event, recipient, text.clone())
                .await?;
            let r = trace
                .recipients
                .iter_mut()
                .find(|r| &r.address == recipient)
                .expect("due recipients come from the trace");
            if let Err(e) = r.apply(move_, now.unix(), text) {
                tracing::error!(pec_id = %id, error = %e, "timeout notice for a recipient that no longer waits");
            }
            sent += 1;
        }
        step.trace = Some(trace);
        self.commit(step).await?;
        Ok(sent)
    }
}
