//! pecd-engine: the PEC rule book between `smtp` and `store` (PEC.md §6). It decides what a
//! message is and produces what the rules require, signed by `signer`, written to `store` in
//! one atomic, durable certification step per transaction. No sockets, no disk formats.
//!
//! Entry points: [`Engine::new`], [`Engine::submit`] (a user's submission at the Access
//! Point) and [`Engine::receive_ordinary`] (non-PEC mail at the Incoming Point).

pub mod scanner;
mod submit;

use std::sync::Arc;

use openssl::x509::X509;
use pecd_common::config::{Config, OrdinaryMail};
use pecd_signer::build::{self, Provider};
use pecd_signer::smime::SignError;
use pecd_signer::{Moment, ProviderEntry, ProviderIndex, Signer};
use pecd_store::{
    Certification, Certified, Delivery, LogRecord, MailboxId, MailboxState, Store, StoreError,
    LOG_RETENTION_SECONDS,
};

pub use scanner::{Eicar, Scanner};
pub use submit::{Outcome, Submission};

/// The folder of the service mailbox that keeps infected messages for 30 months (PEC.md
/// §10.4 "security archive").
pub const QUARANTINE: &str = "Quarantine";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    #[error("{0}")]
    Setup(String),
}

/// What happened to ordinary mail (PEC.md §6.3 last row).
#[derive(Debug, PartialEq, Eq)]
pub enum Ordinary {
    /// Delivered inside a busta di anomalia to every recipient.
    Delivered,
    /// The recipients' domain refuses ordinary mail (closed mailboxes).
    Refused,
    /// Malware found: refused, nothing stored (PEC.md §10.4: infected ordinary mail may be
    /// discarded; refusing tells the sender).
    Infected(String),
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
    if let Some(cert) = own_cert {
        index.push(own_entry(config, cert));
    }
    Ok(index)
}

pub struct Engine {
    config: Arc<Config>,
    store: Store,
    signer: Arc<Signer>,
    provider: Provider,
    index: Arc<ProviderIndex>,
    scanner: Arc<dyn Scanner>,
    /// Our service mailbox (provider address): presa in carico, quarantine.
    service: MailboxId,
}

impl Engine {
    /// Loads the signing identity and the provider index, makes sure the service mailbox and
    /// its quarantine folder exist, and prunes the legal log past its retention.
    pub async fn new(config: Arc<Config>, store: Store) -> Result<Arc<Engine>, EngineError> {
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
        let pruned = store
            .prune_log(Moment::now().unix() - LOG_RETENTION_SECONDS)
            .await?;
        if pruned > 0 {
            tracing::info!(
                pruned,
                "legal log records past their 30-month retention removed"
            );
        }
        Ok(Arc::new(Engine {
            provider: Provider {
                name: config.provider.name.clone(),
                service_address: config.provider.service_address.clone(),
            },
            config,
            store,
            signer: Arc::new(signer),
            index: Arc::new(index),
            scanner: Arc::new(Eicar),
            service,
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

    /// Ordinary mail for our mailboxes arriving on the SMTP port (PEC.md §6.3 last row,
    /// §3.3): by the recipients' domain policy, refused, or wrapped in one signed busta di
    /// anomalia delivered to each of them. The SMTP layer keeps one policy per transaction
    /// (see [`Engine::ordinary_policy`]).
    pub async fn receive_ordinary(
        &self,
        sender: &str,
        recipients: &[(String, MailboxId)],
        message: Vec<u8>,
    ) -> Result<Ordinary, EngineError> {
        let Some((first, _)) = recipients.first() else {
            return Ok(Ordinary::Delivered);
        };
        if self.ordinary_policy(first) == OrdinaryMail::Refuse {
            return Ok(Ordinary::Refused);
        }
        let signer = self.signer.clone();
        let provider = self.provider.clone();
        let scanner = self.scanner.clone();
        let sender_owned = sender.to_string();
        let when = Moment::now();
        let (finding, built, message) = tokio::task::spawn_blocking(move || {
            if let Some(f) = scanner.scan(&message) {
                return Ok::<_, SignError>((Some(f), None, message));
            }
            let built = build::anomaly(&signer, &provider, &message, &sender_owned, when)?;
            Ok((None, Some(built), message))
        })
        .await
        .map_err(|e| EngineError::Setup(format!("signing task: {e}")))??;
        if let Some(f) = finding {
            tracing::warn!(sender, finding = %f, "ordinary mail with malware refused");
            return Ok(Ordinary::Infected(f));
        }
        let built = built.expect("built when clean");
        let subject = build::decoded_subject(&message);
        let id = if built.message_id.is_empty() {
            self.new_id(when)
        } else {
            built.message_id.clone()
        };
        let step = Certification {
            dedup_key: None,
            pec_id: id.clone(),
            deliveries: recipients
                .iter()
                .map(|(_, m)| Delivery {
                    mailbox: *m,
                    folder: "INBOX".into(),
                    bytes: built.bytes.clone(),
                })
                .collect(),
            log: vec![LogRecord {
                time: when.unix(),
                event: "anomalia".into(),
                pec_id: id,
                msgid: Some(format!("<{}>", built.message_id))
                    .filter(|_| !built.message_id.is_empty()),
                sender: sender.to_string(),
                recipients: recipients.iter().map(|(a, _)| a.clone()).collect(),
                subject,
                generated: vec![],
                provider: self.provider.name.clone(),
                detail: "ordinary mail delivered in a busta di anomalia".into(),
            }],
            trace: None,
        };
        match self.store.certify(step).await? {
            Certified::Stored(_) | Certified::Duplicate(_) => Ok(Ordinary::Delivered),
        }
    }

    /// The ordinary-mail policy for a recipient address (PEC.md §12 item 9).
    pub fn ordinary_policy(&self, address: &str) -> OrdinaryMail {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        self.config.pec.ordinary_mail_for(domain)
    }

    /// Whether a mailbox can take an envelope of `size` bytes: state and free space.
    async fn recipient_state(&self, address: &str, size: u64) -> Result<Recipient, EngineError> {
        Ok(match self.store.find_mailbox(address).await? {
            None => Recipient::Missing,
            Some(m) if m.state != MailboxState::Active => Recipient::Revoked,
            Some(m) if m.used_bytes + size > m.quota_bytes => Recipient::Full,
            Some(m) => Recipient::Active(m.id),
        })
    }
}

/// A local recipient as the Delivery Point finds it (PEC.md §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recipient {
    Active(MailboxId),
    Missing,
    Revoked,
    Full,
}
