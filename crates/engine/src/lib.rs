//! pecd-engine: the PEC rule book between `smtp` and `store` (PEC.md §6). It decides what a
//! message is and produces what the rules require, signed by `signer`, written to `store` in
//! one atomic, durable certification step per transaction. No sockets, no disk formats.
//!
//! Entry points: [`Engine::new`], [`Engine::submit`] (a user's submission at the Access
//! Point), [`Engine::receive`] (anything arriving at the Incoming Point from outside:
//! envelopes, receipts and notices of other providers, ordinary mail), and the two background
//! tasks [`Engine::run_relay`] (the queue to other providers) and [`Engine::run_timers`] (the
//! 12 h / 24 h timeouts).

pub mod clock;
mod delivery;
mod incoming;
mod relay;
pub mod scanner;
pub mod smtp_client;
mod submit;
mod timers;

use std::sync::{Arc, RwLock};

use openssl::x509::{X509Crl, X509};
use pecd_common::config::{Config, OrdinaryMail};
use pecd_signer::build::{self, Document, Facts, Provider};
use pecd_signer::smime::SignError;
use pecd_signer::{Moment, ProviderEntry, ProviderIndex, Signer};
use pecd_store::{
    Certification, Certified, Delivery, LogEvent, MailboxId, MailboxState, Store, StoreError,
    LOG_RETENTION_SECONDS,
};

pub use clock::{Clock, ManualClock, SystemClock};
pub use incoming::Incoming;
pub use pecd_signer::mime::MAX_MIME_DEPTH;
pub use scanner::{Eicar, Scanner};
pub use submit::{Outcome, Submission};

/// The folder of the service mailbox that keeps infected messages for 30 months (PEC.md
/// §10.4 "security archive").
pub const QUARANTINE: &str = "Quarantine";

/// How many trace locks the engine keeps (see `Engine::lock_trace`).
const TRACE_LOCK_STRIPES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    #[error("{0}")]
    Setup(String),
}

/// Our own entry of the provider index (PEC.md §8.2), made from the signing certificate and
/// `[provider]`: what `pecd index export` prints.
pub fn own_entry(config: &Config, cert: &X509) -> ProviderEntry {
    ProviderEntry::own(
        &config.provider.name,
        cert,
        &config.provider.service_address,
        &config.provider.domains,
    )
}

/// The provider index in force (PEC.md §8.3): the entries of `peers.index` when the file
/// exists, plus our own entry when our signing certificate is given. `pecd serve` and
/// `pecd verify` both read it here.
pub fn load_index(config: &Config, own_cert: Option<&X509>) -> Result<ProviderIndex, String> {
    let path = &config.peers.index;
    let mut index = if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ProviderIndex::parse_ldif(&String::from_utf8_lossy(&bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        ProviderIndex::default()
    };
    for e in index.entries() {
        if e.domains.is_empty() {
            // §9.3: such a provider's envelopes all become anomalies (their sender is in no
            // domain it manages).
            tracing::warn!(provider = %e.name, "provider index entry without managedDomains: its envelopes will be anomalies");
        }
    }
    if let Some(cert) = own_cert {
        index.push(own_entry(config, cert));
    }
    Ok(index)
}

/// The CA certificates of `path` (PEM); none when the file does not exist, which means the
/// system's trust store (real providers chain to public roots, PEC.md §9.2).
pub fn load_anchors(path: &std::path::Path) -> Result<Vec<X509>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    X509::stack_from_pem(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The revocation lists of `paths` (`peers.crls`; each file PEM or DER), in order. A file
/// that is missing or does not parse is an error naming it: pecd does not start with it, and
/// a SIGHUP keeps the lists in force. A list past its nextUpdate is kept and logged (the
/// operator's fetch job has stopped; what it revokes stays revoked).
pub fn load_crls(paths: &[std::path::PathBuf]) -> Result<Vec<X509Crl>, String> {
    let mut all = Vec::new();
    let now = openssl::asn1::Asn1Time::days_from_now(0).map_err(|e| e.to_string())?;
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let crls = pecd_signer::smime::parse_crls(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for crl in &crls {
            if crl.next_update().is_some_and(|next| next < now) {
                tracing::warn!(
                    path = %path.display(),
                    next_update = %crl.next_update().map(|t| t.to_string()).unwrap_or_default(),
                    "revocation list past its nextUpdate: fetch a fresh one"
                );
            }
        }
        all.extend(crls);
    }
    Ok(all)
}

/// What peers are trusted with, reloaded together on SIGHUP (PEC.md §8.3, §9.3).
struct Trust {
    index: Arc<ProviderIndex>,
    anchors: Arc<Vec<X509>>,
    crls: Arc<Vec<X509Crl>>,
}

pub struct Engine {
    config: Arc<Config>,
    store: Store,
    signer: Arc<Signer>,
    provider: Provider,
    trust: RwLock<Trust>,
    scanner: Arc<dyn Scanner>,
    clock: Arc<dyn Clock>,
    /// Our service mailbox (provider address): presa in carico, quarantine.
    service: MailboxId,
    /// Serialise the read-modify-write of a trace (receipts, timers, relay failures): one
    /// lock per stripe of PEC msgids, so that a transaction signing and syncing holds up only
    /// the few that share its stripe, never every other one.
    trace_locks: Vec<tokio::sync::Mutex<()>>,
    /// Wakes the relay when something is queued or an operator asks for a retry.
    relay_wake: tokio::sync::Notify,
    relay_state: relay::RelayState,
}

impl Engine {
    /// [`Engine::with_clock`] on the system clock, moved by `pec.clock_offset_seconds`.
    pub async fn new(config: Arc<Config>, store: Store) -> Result<Arc<Engine>, EngineError> {
        let clock = Arc::new(SystemClock::with_offset(config.pec.clock_offset_seconds));
        Engine::with_clock(config, store, clock).await
    }

    /// Loads the signing identity, the provider index and the trust anchors, makes sure the
    /// service mailbox and its quarantine folder exist, and prunes the legal log past its
    /// retention. Every time the engine reads comes from `clock`.
    pub async fn with_clock(
        config: Arc<Config>,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Engine>, EngineError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| EngineError::Setup(format!("{}: {e}", p.display())))
        };
        let chain = if config.signing.chain.exists() {
            read(&config.signing.chain)?
        } else {
            Vec::new()
        };
        let signer = Signer::from_pem(
            &read(&config.signing.cert)?,
            &read(&config.signing.key)?,
            &chain,
        )?;
        let index = load_index(&config, Some(signer.certificate())).map_err(EngineError::Setup)?;
        let anchors = load_anchors(&config.peers.trust_anchors).map_err(EngineError::Setup)?;
        let crls = load_crls(&config.peers.crls).map_err(EngineError::Setup)?;
        let relay_state = relay::RelayState::new(&config, &anchors).map_err(EngineError::Setup)?;
        let service = match store.find_mailbox(&config.provider.service_address).await? {
            Some(m) => m.id,
            // "!" is no password hash: nobody logs in until an operator sets one.
            None => {
                store
                    .create_mailbox(
                        &config.provider.service_address,
                        "!",
                        config.limits.mailbox_quota_bytes,
                    )
                    .await?
                    .id
            }
        };
        if store.folder(service, QUARANTINE).await?.is_none() {
            store.create_folder(service, QUARANTINE, None).await?;
        }
        let pruned = store.prune_log(clock.now() - LOG_RETENTION_SECONDS).await?;
        if pruned > 0 {
            tracing::info!(
                pruned,
                "legal log records past their 30-month retention removed"
            );
        }
        let engine = Arc::new(Engine {
            provider: Provider {
                name: config.provider.name.clone(),
                service_address: config.provider.service_address.clone(),
            },
            config,
            store,
            signer: Arc::new(signer),
            trust: RwLock::new(Trust {
                index: Arc::new(index),
                anchors: Arc::new(anchors),
                crls: Arc::new(crls),
            }),
            scanner: Arc::new(Eicar),
            clock,
            service,
            trace_locks: (0..TRACE_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            relay_wake: tokio::sync::Notify::new(),
            relay_state,
        });
        engine.prune_store().await;
        Ok(engine)
    }

    /// The provider index in force.
    pub fn index(&self) -> Arc<ProviderIndex> {
        self.trust
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .index
            .clone()
    }

    /// The SHA-1 hashes of our signing certificate (our entry of the index).
    pub fn own_hashes(&self) -> Vec<String> {
        vec![pecd_signer::smime::cert_sha1(self.signer.certificate())]
    }

    fn anchors(&self) -> Arc<Vec<X509>> {
        self.trust
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .anchors
            .clone()
    }

    fn crls(&self) -> Arc<Vec<X509Crl>> {
        self.trust
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .crls
            .clone()
    }

    /// Reads `peers.index`, `peers.trust_anchors` and `peers.crls` again (SIGHUP); on an
    /// error the old ones stay in force. Returns the number of index entries and of
    /// revocation lists.
    pub fn reload_trust(&self) -> Result<(usize, usize), String> {
        let index = load_index(&self.config, Some(self.signer.certificate()))?;
        let anchors = load_anchors(&self.config.peers.trust_anchors)?;
        let crls = load_crls(&self.config.peers.crls)?;
        self.relay_state.set_roots(&self.config, &anchors)?;
        let counts = (index.entries().len(), crls.len());
        *self.trust.write().unwrap_or_else(|p| p.into_inner()) = Trust {
            index: Arc::new(index),
            anchors: Arc::new(anchors),
            crls: Arc::new(crls),
        };
        Ok(counts)
    }

    /// Writes a certification step; wakes the relay when the step queued something.
    async fn commit(&self, step: Certification) -> Result<Certified, EngineError> {
        let queued = !step.queue.is_empty();
        let done = self.store.certify(step).await?;
        if queued && matches!(done, Certified::Stored(_)) {
            self.relay_wake.notify_one();
        }
        Ok(done)
    }

    /// Signs a notice for our sender about one recipient of the transaction of `facts` (a
    /// mancata consegna, per virus or by timeout) and adds it, with its log line `event`, to
    /// `step`. Signing runs off the async threads.
    async fn notify_sender(
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
        let built =
            off_thread(move || build::build(&signer, &provider, &owned, &doc, when, &id)).await??;
        self.route(&facts.sender, &facts.pec_id, built.kind.name(), built.bytes)
            .await?
            .add_to(step);
        step.log.push(submit::log(
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

    /// Holds the trace of `pec_id` for a read-modify-write.
    async fn lock_trace(&self, pec_id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pec_id.hash(&mut h);
        let stripe = (h.finish() % self.trace_locks.len() as u64) as usize;
        self.trace_locks[stripe].lock().await
    }

    /// Now, as the engine's clock tells it.
    fn now(&self) -> Moment {
        Moment::from_unix(self.clock.now())
    }

    /// Whether `address` is in one of our domains.
    fn is_local(&self, address: &str) -> bool {
        self.config.provider.serves_domain(domain_of(address))
    }

    /// Whether a provider of the index (we included) manages the domain of `address`.
    fn is_certified(&self, address: &str) -> bool {
        self.index().by_domain(domain_of(address)).is_some()
    }

    /// Whether `address` belongs to another PEC provider of the index: mail from such a
    /// reverse path may be an envelope or receipt, so its recipients are decided at the end
    /// of DATA (an unknown one gets an avviso di mancata consegna, PEC.md §6.4).
    pub fn is_peer_address(&self, address: &str) -> bool {
        !self.is_local(address) && self.is_certified(address)
    }

    /// Where a message we generate for `to` goes: the mailbox, when `to` is ours (none when
    /// it does not exist), or the relay queue.
    async fn route(
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
                    bytes,
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
            bytes,
        }))
    }

    /// A fresh identifier of ours: `pecd.<local time>.<random>@<first PEC domain>` (PEC.md §5:
    /// unique across the PEC system).
    fn new_id(&self, when: Moment) -> String {
        let domain = self
            .config
            .provider
            .domains
            .first()
            .map_or("localhost", String::as_str);
        format!(
            "pecd.{}.{}@{domain}",
            when.compact(),
            &uuid::Uuid::new_v4().simple().to_string()[..20]
        )
    }

    /// The ordinary-mail policy for a recipient address (PEC.md §12 item 9).
    pub fn ordinary_policy(&self, address: &str) -> OrdinaryMail {
        self.config.pec.ordinary_mail_for(domain_of(address))
    }

    /// Whether a mailbox can take an envelope of `size` bytes: state and free space.
    async fn recipient_state(&self, address: &str, size: u64) -> Result<Recipient, EngineError> {
        if !self.is_local(address) {
            return Ok(if self.is_certified(address) {
                Recipient::Remote
            } else {
                Recipient::External
            });
        }
        Ok(match self.store.find_mailbox(address).await? {
            None => Recipient::Missing,
            Some(m) if m.state != MailboxState::Active => Recipient::Revoked,
            Some(m) if m.used_bytes + size > m.quota_bytes => Recipient::Full,
            Some(m) => Recipient::Active(m.id),
        })
    }
}

/// Runs blocking work (signing, verification) off the async threads.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EngineError::Setup(format!("blocking task: {e}")))
}

/// The domain part of an address ("" without one).
pub(crate) fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// A recipient as the Access Point classifies it (PEC.md §6.1 step 4) and, when ours, as the
/// Delivery Point finds it (§6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recipient {
    Active(MailboxId),
    Missing,
    Revoked,
    Full,
    /// Of another PEC provider: the envelope is relayed (§6.2).
    Remote,
    /// Of no PEC provider: the envelope leaves as ordinary mail (§6.8).
    External,
}

/// Where a generated message goes.
enum Route {
    Local(Delivery),
    Relay(pecd_store::Outbound),
    /// To a mailbox of ours that does not exist.
    Nowhere,
}

impl Route {
    /// Adds the message to a certification step.
    fn add_to(self, step: &mut Certification) {
        match self {
            Route::Local(d) => step.deliveries.push(d),
            Route::Relay(o) => step.queue.push(o),
            Route::Nowhere => {}
        }
    }
}
