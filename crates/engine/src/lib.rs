//! pecd-engine: the PEC rule book between `smtp` and `store` (PEC.md §6). It decides what a
//! message is and produces what the rules require, signed by `signer`, written to `store` in
//! one atomic, durable certification step per transaction. It never opens a socket itself:
//! the queue policy here (retries, batching, the 24 h limit) drives the `relay` crate's SMTP
//! client. Everything it keeps goes through `store`'s typed API; the only files it reads
//! itself are the configured signing key, provider index, trust anchors and CRLs.
//!
//! Entry points: [`Engine::new`], [`Engine::submit`] (a user's submission at the Access
//! Point), [`Engine::receive`] (anything arriving at the Incoming Point from outside:
//! envelopes, receipts and notices of other providers, ordinary mail), and the two background
//! tasks [`Engine::run_relay`] (the queue to other providers) and [`Engine::run_timers`] (the
//! 12 h / 24 h timeouts).
//!
//! One module per PEC rule, each naming its PEC.md section: `submit` (the Access Point
//! entry, §6.1) calls `acceptance` (§6.1, §10.1–§10.4), `transport_envelope` (§3.1),
//! `taking_charge` (§6.3) and `delivery` (§6.4); `incoming` (§6.3) classifies what comes
//! from outside and hands it to `taking_charge`, `sender_side` (receipts coming back, §6.5)
//! or `anomaly` (§3.3); `timeouts` (§6.6) and `relay` (§6.2) run in the background. Below
//! them: `facts` (what a transaction is about), `legal_log` (§10.5), `routing` (where a
//! generated message goes), `loaders` (index, anchors, CRLs), `recipients` (the one decision
//! about a recipient at RCPT TO, [`Engine::decide_recipient`]), `sign_pool` (the bounded
//! pool, one thread per core, that signs the documents of a step in parallel), `commit`
//! (every rule's step written with its archive copies), `notice` (the
//! provider's own signed notices), `security_archive` (the holders' copies added to every
//! step that delivers, PROVISIONING.md §8) and `error` (errors with their SMTP meaning).
//! The per-recipient state machine of §6.7 is `pecd_store::RecipientState`.

mod acceptance;
mod anomaly;
pub mod clock;
mod commit;
mod delivery;
mod error;
mod facts;
mod incoming;
mod legal_log;
mod loaders;
mod notice;
mod recipients;
mod relay;
mod routing;
pub mod scanner;
mod security_archive;
mod sender_side;
mod sign_pool;
mod submit;
mod taking_charge;
mod timeouts;
mod transport_envelope;

use std::sync::{Arc, RwLock};

use openssl::x509::{X509Crl, X509};
use pecd_common::config::{Config, OrdinaryMail};
use pecd_common::domains::LocalDomains;
use pecd_signer::build::Provider;
use pecd_signer::{Kind, Moment, ProviderIndex, Signer};
use pecd_store::{Certification, Certified, MailboxId, Store, LOG_RETENTION_SECONDS};

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{EngineError, SmtpReply};
pub use loaders::{load_anchors, load_crls, load_index, own_entry, own_entry_for};
pub use notice::{Notice, NoticeSent, NOTICE_KEY_SECONDS};
pub use pecd_signer::mime::MAX_MIME_DEPTH;
pub use recipients::{RecipientDecision, SenderContext};
pub use scanner::{Eicar, Scanner};
pub use submit::{Outcome, Submission};

/// The folder of the service mailbox that keeps infected messages for 30 months (PEC.md
/// §10.4 "security archive").
pub const QUARANTINE: &str = "Quarantine";

/// How many trace locks the engine keeps (see `Engine::lock_trace`).
const TRACE_LOCK_STRIPES: usize = 64;

/// What became of a message at the Incoming Point.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A valid envelope of another provider: taken in charge, delivered, receipts queued.
    Envelope { pec_id: String },
    /// The same envelope was taken in charge before (the peer retried after a lost reply).
    Duplicate { pec_id: String },
    /// A valid envelope carrying malware: quarantined, rilevazione virus queued (§6.3).
    VirusDetected { pec_id: String, finding: String },
    /// A valid receipt or notice of another provider, delivered unchanged.
    Receipt { kind: Kind },
    /// Delivered inside a busta di anomalia: ordinary mail by policy, or a message signed by a
    /// listed provider that is not formally correct (the reason).
    Anomaly { reason: String },
    /// Ordinary mail the recipients' domain refuses.
    Refused,
    /// Ordinary mail with malware, refused.
    Infected(String),
    /// No recipient has a mailbox here.
    NoMailbox,
    /// MIME containers nested deeper than [`pecd_signer::mime::MAX_MIME_DEPTH`]: refused
    /// before any parser walks it.
    TooDeep,
    /// The same receipt or notice was delivered before (a peer's retry, or a replay).
    RepeatedReceipt { kind: Kind },
    /// A receipt or notice sent to recipients it is not addressed to (its daticert names
    /// another addressee): delivered to nobody.
    Misaddressed,
    /// The addressee of a receipt has no room for it now; the peer should retry.
    MailboxFull,
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
    /// The domains served now: `provider.domains` and those the archive enables (shared
    /// with it: see [`Engine::local_domains`]).
    domains: Arc<LocalDomains>,
    /// Security archives whose 70 % warning went out for their size (`security_archive`).
    archive_warned: security_archive::Warned,
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
            domains: Arc::new(LocalDomains::new(&config.provider.domains)),
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
            archive_warned: Default::default(),
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

    /// The domains the engine serves now. pecd gives this same set to the provisioning
    /// archive, which adds the domains it enables: they are served at once.
    pub fn local_domains(&self) -> &Arc<LocalDomains> {
        &self.domains
    }

    /// Our own entry of the provider index with the domains served now (`pecd index
    /// export`, `pecctl index list`).
    pub fn own_entry(&self) -> pecd_signer::ProviderEntry {
        loaders::own_entry_for(
            &self.config,
            self.signer.certificate(),
            &self.domains.list(),
        )
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
        let mut index = load_index(&self.config, None)?;
        index.push(self.own_entry());
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

    /// Writes a certification step as it is; wakes the relay when the step queued something.
    pub(crate) async fn certify_step(
        &self,
        step: Certification,
    ) -> Result<(Certified, Vec<pecd_store::ArchiveOutcome>), EngineError> {
        let queued = !step.queue.is_empty();
        let done = self.store.certify_archiving(step).await?;
        if queued && matches!(done.0, Certified::Stored(_)) {
            self.relay_wake.notify_one();
        }
        Ok(done)
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

    /// Whether `address` is in one of our domains (as served now).
    fn is_local(&self, address: &str) -> bool {
        self.domains.serves_domain(domain_of(address))
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

    /// The ordinary-mail policy of a recipient's domain (PEC.md §12 item 9).
    pub fn ordinary_policy(&self, address: &str) -> OrdinaryMail {
        self.config.pec.ordinary_mail_for(domain_of(address))
    }

    /// The ordinary-mail policy of a recipient (PROVISIONING.md §4): its mailbox's own type
    /// when the archive knows it (base refuses, aperta and standard get the anomaly
    /// envelope), else its domain's policy (mailboxes without a type, addresses without a
    /// mailbox).
    pub async fn recipient_policy(&self, address: &str) -> OrdinaryMail {
        use pecd_archive::model::{Casella, MailboxType};
        match pecd_archive::records::load::<Casella>(&self.store, address.as_bytes()).await {
            Ok(Some(c)) => match c.kind {
                Some(MailboxType::Base) => OrdinaryMail::Refuse,
                Some(MailboxType::Aperta | MailboxType::Standard) => OrdinaryMail::Anomaly,
                None => self.ordinary_policy(address),
            },
            Ok(None) => self.ordinary_policy(address),
            Err(e) => {
                tracing::warn!(address, error = %e, "mailbox type unreadable: the domain's ordinary-mail policy applies");
                self.ordinary_policy(address)
            }
        }
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
pub enum Recipient {
    /// Our mailbox, active, with room.
    Active(MailboxId),
    /// Of our domains, with no mailbox.
    Missing,
    /// Our mailbox, not active.
    Revoked,
    /// Our mailbox, closed by the migration window: its migration from another provider
    /// never started before the cutover (PROVISIONING.md §9).
    NotMigrated,
    /// Our mailbox, with no room.
    Full,
    /// Of another PEC provider: the envelope is relayed (§6.2).
    Remote,
    /// Of no PEC provider: the envelope leaves as ordinary mail (§6.8).
    External,
}
