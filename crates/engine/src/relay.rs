//! The relay (PEC.md §6.2, §6.8): queued messages go to the other provider's SMTP server,
//! found in `peers.routes` or by MX, over STARTTLS (required between providers), several
//! messages per connection, with retries and a growing delay. A message leaves the queue
//! when every recipient is delivered or refused for good, or after `relay.max_queue_seconds`
//! (at most 24 h); the 24 h timeout notice then tells the sender (§6.6).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openssl::x509::X509;
use pecd_common::config::Config;
use pecd_relay::{send_batch, MxResolver, Outgoing, RcptOutcome, RootCertStore, Target, TlsPolicy};
use pecd_signer::build::Document;
use pecd_signer::Errore;
use pecd_store::{Certification, LogEvent, LogRecord, QueueEntry, QueueSettle, StateEvent};

use crate::facts::{esteso, facts_of};
use crate::{Engine, EngineError};

/// What the relay keeps between rounds.
pub(crate) struct RelayState {
    roots: RwLock<Arc<RootCertStore>>,
    mx: MxResolver,
}

/// Roots for peers' TLS certificates: the public web roots, the trust anchors of provider
/// certificates (a closed network of providers often uses one CA for both) and
/// `relay.tls_roots`.
fn tls_roots(config: &Config, anchors: &[X509]) -> Result<RootCertStore, String> {
    let mut extra: Vec<X509> = anchors.to_vec();
    if let Some(path) = &config.relay.tls_roots {
        extra.extend(crate::load_anchors(path)?);
    }
    let der = extra
        .iter()
        .map(|cert| cert.to_der().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    pecd_relay::trust_roots(&der)
}

impl RelayState {
    pub fn new(config: &Config, anchors: &[X509]) -> Result<RelayState, String> {
        Ok(RelayState {
            roots: RwLock::new(Arc::new(tls_roots(config, anchors)?)),
            mx: MxResolver::new(),
        })
    }

    pub fn set_roots(&self, config: &Config, anchors: &[X509]) -> Result<(), String> {
        let roots = tls_roots(config, anchors)?;
        *self.roots.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(roots);
        Ok(())
    }

    fn roots(&self) -> Arc<RootCertStore> {
        self.roots.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Delay before attempt `attempts + 1`: the initial delay doubled at each attempt, capped.
pub fn backoff(initial: u64, max: u64, attempts: u32) -> u64 {
    let factor = 1u64 << attempts.saturating_sub(1).min(20);
    initial.saturating_mul(factor).min(max)
}

/// The label of queued envelopes; their permanent refusal becomes a notice to the sender.
pub(crate) const ENVELOPE_LABEL: &str = "busta di trasporto";

impl Engine {
    /// Sends what is due, then waits `relay.interval_seconds` or until woken, for ever.
    pub async fn run_relay(self: Arc<Self>) {
        let every = Duration::from_secs(self.config.relay.interval_seconds);
        loop {
            if let Err(e) = self.relay_due().await {
                tracing::error!(error = %e, "relay round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.relay_wake.notified() => {}
            }
        }
    }

    /// Makes every queued message due now and wakes the relay (`pecctl queue retry`);
    /// `id` None means all. Returns how many.
    pub async fn queue_retry(&self, id: Option<u64>) -> Result<usize, EngineError> {
        let mut n = 0;
        for e in self.store.queue().await? {
            if id.is_some_and(|id| id != e.id) {
                continue;
            }
            if self.store.queue_reschedule(e.id, 0).await? {
                n += 1;
            }
        }
        self.relay_wake.notify_one();
        Ok(n)
    }

    /// Removes a queued message on an operator's order, logged (`pecctl queue delete`).
    pub async fn queue_delete(&self, id: u64) -> Result<Option<QueueEntry>, EngineError> {
        let Some(e) = self.store.queue_entry(id).await? else {
            return Ok(None);
        };
        let line = self.relay_log(
            &e,
            LogEvent::InoltroAnnullato,
            &e.recipients,
            "deleted by the operator",
        );
        Ok(self.store.queue_remove(id, vec![line]).await?)
    }

    fn relay_log(
        &self,
        e: &QueueEntry,
        event: LogEvent,
        recipients: &[String],
        detail: &str,
    ) -> LogRecord {
        LogRecord {
            time: self.clock.now(),
            event,
            pec_id: e.pec_id.clone(),
            msgid: None,
            sender: e.sender.clone(),
            recipients: recipients.to_vec(),
            subject: e.label.clone(),
            generated: vec![],
            provider: self.provider.name.clone(),
            detail: detail.into(),
        }
    }

    /// One round: expire what is too old, then one connection per destination domain with
    /// every message due for it. Returns how many messages were attempted.
    pub async fn relay_due(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let max_age = self.config.relay.max_queue_seconds as i64;
        let mut by_domain: BTreeMap<String, Vec<QueueEntry>> = BTreeMap::new();
        let queued = self.store.queue().await?;
        let m = pecd_common::metrics::metrics();
        m.queue_depth.set(queued.len() as i64);
        m.queue_oldest_seconds.set(
            queued
                .iter()
                .map(|e| now - e.created)
                .max()
                .unwrap_or(0)
                .max(0),
        );
        for e in queued {
            // A certified envelope never leaves after the final timeout notice told the
            // sender it failed (PEC.md §6.2, §6.6).
            let max_age = if e.certified && e.label == ENVELOPE_LABEL {
                max_age.min(crate::timeouts::FINAL_AFTER)
            } else {
                max_age
            };
            if now - e.created >= max_age {
                tracing::warn!(id = e.id, pec_id = %e.pec_id, domain = %e.domain, "queued message expired");
                let line = self.relay_log(
                    &e,
                    LogEvent::InoltroScaduto,
                    &e.recipients,
                    &format!("not delivered within {max_age} s: {}", e.last_error),
                );
                self.store.queue_remove(e.id, vec![line]).await?;
            } else if e.next_attempt <= now {
                by_domain.entry(e.domain.clone()).or_default().push(e);
            }
        }
        let mut attempted = 0;
        for (domain, batch) in by_domain {
            attempted += batch.len();
            if let Err(e) = self.relay_domain(&domain, batch).await {
                tracing::error!(domain, error = %e, "relaying to a domain failed; next round retries");
            }
        }
        Ok(attempted)
    }

    /// Where mail for `domain` goes: its `peers.routes` entry, else its MX servers.
    async fn resolve(&self, domain: &str) -> Vec<Target> {
        if let Some((_, route)) = self
            .config
            .peers
            .routes
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
        {
            return vec![Target::from_addr(route.clone())];
        }
        self.relay_state.mx.lookup(domain).await
    }

    async fn relay_domain(&self, domain: &str, batch: Vec<QueueEntry>) -> Result<(), EngineError> {
        let mut bodies = Vec::with_capacity(batch.len());
        for e in &batch {
            bodies.push(self.store.queue_body(e.clone()).await?);
        }
        let outgoing: Vec<Outgoing<'_>> = batch
            .iter()
            .zip(&bodies)
            .map(|(e, b)| Outgoing {
                sender: &e.sender,
                recipients: &e.recipients,
                bytes: b,
            })
            .collect();
        let tls = TlsPolicy {
            required: batch.iter().any(|e| e.certified),
            roots: self.relay_state.roots(),
        };
        let timeout = Duration::from_secs(self.config.relay.timeout_seconds);
        let targets = self.resolve(domain).await;
        let mut failure = format!("no mail server found for {domain}");
        for t in &targets {
            match send_batch(
                &t.addr,
                &t.name,
                &self.config.smtp.hostname,
                &tls,
                &outgoing,
                timeout,
            )
            .await
            {
                Ok(results) => {
                    for (e, outcomes) in batch.iter().zip(results) {
                        self.settle(e, &t.addr, outcomes).await?;
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(server = %t.addr, domain, error = %e, "relay connection failed");
                    failure = format!("{}: {e}", t.addr);
                }
            }
        }
        for e in &batch {
            let outcomes = e
                .recipients
                .iter()
                .map(|_| RcptOutcome::Temporary(failure.clone()))
                .collect();
            self.settle(e, "-", outcomes).await?;
        }
        Ok(())
    }

    /// Records one message's attempt: delivered and refused recipients leave the entry (and
    /// the entry leaves the queue when none is left); the others wait for the next attempt.
    async fn settle(
        &self,
        e: &QueueEntry,
        server: &str,
        outcomes: Vec<RcptOutcome>,
    ) -> Result<(), EngineError> {
        let mut delivered = Vec::new();
        let mut refused = Vec::new();
        let mut waiting = Vec::new();
        let mut last_error = String::new();
        for (r, o) in e.recipients.iter().zip(outcomes) {
            match o {
                RcptOutcome::Delivered(reply) => delivered.push((r.clone(), reply)),
                RcptOutcome::Permanent(reply) => refused.push((r.clone(), reply)),
                RcptOutcome::Temporary(reply) => {
                    last_error = reply;
                    waiting.push(r.clone());
                }
            }
        }
        let mut lines = Vec::new();
        for (r, reply) in &delivered {
            tracing::info!(id = e.id, pec_id = %e.pec_id, recipient = %r, server, "relayed");
            lines.push(self.relay_log(
                e,
                LogEvent::Inoltro,
                std::slice::from_ref(r),
                &format!("{server}: {reply}"),
            ));
        }
        for (r, reply) in &refused {
            tracing::warn!(id = e.id, pec_id = %e.pec_id, recipient = %r, server, %reply, "relay refused");
            lines.push(self.relay_log(
                e,
                LogEvent::InoltroRifiutato,
                std::slice::from_ref(r),
                &format!("{server}: {reply}"),
            ));
        }
        let settle = if waiting.is_empty() {
            QueueSettle::Remove(e.id)
        } else {
            let mut next = e.clone();
            next.recipients = waiting;
            next.attempts += 1;
            next.last_error = last_error;
            next.next_attempt = self.clock.now()
                + backoff(
                    self.config.relay.retry_initial_seconds,
                    self.config.relay.retry_max_seconds,
                    next.attempts,
                ) as i64;
            QueueSettle::Update(next)
        };
        if e.certified && e.label == ENVELOPE_LABEL && !refused.is_empty() {
            // The queue change and the notices in one commit (PEC.md §6.7).
            return self.envelope_refused(e, &refused, settle, lines).await;
        }
        match settle {
            QueueSettle::Remove(id) => {
                self.store.queue_remove(id, lines).await?;
            }
            QueueSettle::Update(next) => {
                self.store.queue_update(next, lines).await?;
            }
        }
        Ok(())
    }

    /// The other provider refused our envelope for some recipients for good: the sender gets
    /// an avviso di mancata consegna for each, and their trace closes (PEC.md §6.7 FAILED).
    /// `settle` (what becomes of the queue entry) and the relay's log `lines` are written in
    /// the same commit as the notices.
    async fn envelope_refused(
        &self,
        e: &QueueEntry,
        refused: &[(String, String)],
        settle: QueueSettle,
        lines: Vec<LogRecord>,
    ) -> Result<(), EngineError> {
        let _guard = self.lock_trace(&e.pec_id).await;
        let mut step = Certification {
            pec_id: e.pec_id.clone(),
            log: lines.clone(),
            queue_settle: Some(settle),
            ..Default::default()
        };
        let Some(mut trace) = self.store.trace(&e.pec_id).await? else {
            self.commit(step).await?;
            return Ok(());
        };
        let when = self.now();
        let facts = facts_of(&trace);
        for (recipient, reply) in refused {
            let Some(r) = trace.recipients.iter_mut().find(|r| {
                &r.address == recipient && r.open() && r.allows(StateEvent::ErroreConsegna)
            }) else {
                continue;
            };
            let text = esteso(
                "5.0.0",
                &self.provider.name,
                &format!("rifiutato dal gestore del destinatario: {reply}"),
            );
            let doc = Document::NonDelivery {
                recipient: recipient.clone(),
                errore: Errore::Altro,
                esteso: text.clone(),
            };
            self.notify_sender(
                &mut step,
                &facts,
                doc,
                LogEvent::MancataConsegna,
                recipient,
                text.clone(),
            )
            .await?;
            if let Err(illegal) = r.apply(StateEvent::ErroreConsegna, when.unix(), text) {
                tracing::error!(pec_id = %e.pec_id, error = %illegal, "refusal for a recipient that no longer waits");
            }
        }
        step.trace = Some(trace);
        let settle = step.queue_settle.clone();
        match self.commit(step).await {
            // A step the store can never take (a mailbox gone meanwhile, say) must not keep
            // the envelope going back to the peer for ever: the queue is settled alone and
            // the 12 h / 24 h timers tell the sender.
            Err(EngineError::Store(err)) if !err.is_temporary() => {
                tracing::error!(pec_id = %e.pec_id, error = %err, "refusal notices could not be stored; the queue entry is settled without them");
                // The relay's own log lines (inoltro, inoltro-rifiutato) still go in.
                match settle {
                    Some(QueueSettle::Remove(id)) => {
                        self.store.queue_remove(id, lines).await?;
                    }
                    Some(QueueSettle::Update(next)) => {
                        self.store.queue_update(next, lines).await?;
                    }
                    None => {}
                }
                Ok(())
            }
            done => done.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=8).map(|a| backoff(60, 3600, a)).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(60, 3600, 1000), 3600);
    }
}
