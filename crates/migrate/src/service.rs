//! `migrate start` and `migrate status` (ARCHITECTURE.md "Interfaces"; PROVISIONING.md §9),
//! the one implementation behind the control socket and the HTTPS API.
//!
//! A start, in order: the mailbox must be ours and in the migration window (before cutover
//! for the first run; after it only if it was started before, for the archive folder); the
//! old server must accept the holder's credentials over TLS; the password to keep is the
//! old one if it meets the policy (PROVISIONING.md §7), else the new one given, else the
//! start is refused listing every rule the old one breaks. The password is then set (usable
//! from cutover: [`pecd_archive::migration_window`]), the start noted, and the import runs
//! as a task of the server ([`crate::run`]); the caller gets the record at once and polls
//! [`Migrations::status`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pecd_archive::migration_window;
use pecd_common::config::Config;
use pecd_common::password;
use pecd_store::{Store, StoreError};

use crate::imap::frame::Limits;
use crate::imap::{client, ImapError, Server};
use crate::record::{self, MigrationRecord, Pass, RunState};
use crate::run::Run;

/// What `migrate start` is given. The passwords are dropped with it (the old one travels
/// on into the import task and is dropped when the task ends).
#[derive(Clone)]
pub struct StartRequest {
    pub address: String,
    /// `imaps://HOST:PORT`.
    pub from: String,
    /// The login at the old provider; the address when `None`.
    pub login: Option<String>,
    pub password: String,
    pub new_password: Option<String>,
}

impl std::fmt::Debug for StartRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartRequest")
            .field("address", &self.address)
            .field("from", &self.from)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A bad argument, or a password that breaks the policy (`details`: every rule).
    Invalid,
    /// No such mailbox, or no migration for it.
    NotFound,
    /// The old provider refused the credentials.
    Credentials,
    /// The old server cannot be reached or its certificate is not trusted.
    OldServer,
    /// Not allowed now: outside the window, or already running.
    Conflict,
    /// Our store failed.
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MigrateError {
    pub kind: Kind,
    pub message: String,
    pub details: Vec<String>,
}

impl MigrateError {
    fn new(kind: Kind, message: impl Into<String>) -> MigrateError {
        MigrateError {
            kind,
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl From<StoreError> for MigrateError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure in a migration");
        MigrateError::new(
            Kind::Unavailable,
            "archivio non disponibile: riprovare più tardi",
        )
    }
}

impl From<ImapError> for MigrateError {
    fn from(e: ImapError) -> Self {
        let kind = match e {
            ImapError::Refused(_) => Kind::Credentials,
            _ => Kind::OldServer,
        };
        MigrateError::new(kind, e.to_string())
    }
}

/// The migrations of this node: cheap to make and to clone (the control socket and the
/// HTTPS API each hold one; the running imports are the process's, [`live`]).
#[derive(Clone)]
pub struct Migrations {
    store: Store,
    config: Arc<Config>,
}

/// Addresses whose import task runs now in this process.
fn live() -> std::sync::MutexGuard<'static, HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Takes an address out of the live set when its task (or a failed start) ends.
struct LiveGuard {
    address: String,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        live().remove(&self.address);
    }
}

impl Migrations {
    pub fn new(store: Store, config: Arc<Config>) -> Migrations {
        Migrations { store, config }
    }

    /// Unix seconds on the engine's clock (`pec.clock_offset_seconds`).
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp() + self.config.pec.clock_offset_seconds
    }

    /// Checks, sets the password and starts the import; returns the record as it starts.
    pub async fn start(&self, req: StartRequest) -> Result<MigrationRecord, MigrateError> {
        let address = req.address.trim().to_ascii_lowercase();
        let server = Server::parse(&req.from).map_err(|e| MigrateError::new(Kind::Invalid, e))?;
        let mailbox = self.store.find_mailbox(&address).await?.ok_or_else(|| {
            MigrateError::new(
                Kind::NotFound,
                format!("casella {address} inesistente su pecd"),
            )
        })?;
        let pass = self.pass(&address).await?;
        let guard = self.claim(&address)?;
        let m = &self.config.migration;
        let roots = client::trust_roots(m.tls_roots.as_deref()).map_err(|e| {
            tracing::error!(error = %e, "migration.tls_roots unreadable");
            MigrateError::new(Kind::Unavailable, format!("migration.tls_roots: {e}"))
        })?;
        let run = Run {
            store: self.store.clone(),
            mailbox: mailbox.id,
            server,
            login: req.login.clone().unwrap_or_else(|| address.clone()),
            password: req.password.clone(),
            roots: Arc::new(roots),
            limits: Limits {
                literal: self.config.limits.max_message_bytes,
                ..Limits::default()
            },
            timeout: Duration::from_secs(m.timeout_seconds),
            batch_messages: m.batch_messages,
            batch_bytes: m.batch_bytes,
            archive_folder: m.archive_folder.clone(),
            include_archive: pass == Pass::AfterCutover,
        };
        let first = run.connect().await?;
        let mut password_kept = true;
        if pass == Pass::BeforeCutover {
            password_kept = self.set_password(mailbox.id, &req).await?;
            migration_window::mark_started(&self.store, &address, self.now()).await?;
        }
        let now = self.now();
        let previous = record::load(&self.store, &address).await?;
        let record = MigrationRecord {
            address: address.clone(),
            server: run.server.url(),
            login: run.login.clone(),
            state: RunState::Running,
            pass,
            started_at: now,
            updated_at: now,
            finished_at: None,
            runs: previous.as_ref().map_or(0, |p| p.runs) + 1,
            folders: previous.map(|p| p.folders).unwrap_or_default(),
            messages_total: 0,
            messages_done: 0,
            imported: 0,
            bytes: 0,
            errors: 0,
            error_texts: Vec::new(),
            password_kept: password_kept && pass == Pass::BeforeCutover,
        };
        record::save(&self.store, &record, None).await?;
        tracing::info!(%address, server = %record.server, ?pass, "L'importazione dei suoi messaggi PEC è iniziata");
        let started = record.clone();
        tokio::spawn(async move {
            let _guard = guard;
            run.execute(first, record).await;
        });
        Ok(started)
    }

    /// The run this start is: before cutover the first (or a resumed one); after it, only
    /// for a mailbox whose migration started before, the archive folder's.
    async fn pass(&self, address: &str) -> Result<Pass, MigrateError> {
        let m = &self.config.migration;
        let (Some(cutover), true) = (m.cutover_unix(), m.in_window(address)) else {
            return Err(MigrateError::new(
                Kind::Conflict,
                "casella fuori dalle finestre di migrazione ([migration] domains)",
            ));
        };
        if self.now() < cutover {
            return Ok(Pass::BeforeCutover);
        }
        if migration_window::started(&self.store, address).await? {
            return Ok(Pass::AfterCutover);
        }
        Err(MigrateError::new(
            Kind::Conflict,
            "migrazione non avviata prima del passaggio (cutover): la casella non è utilizzabile",
        ))
    }

    fn claim(&self, address: &str) -> Result<LiveGuard, MigrateError> {
        let mut live = live();
        if live.len() >= self.config.migration.max_running {
            return Err(MigrateError::new(
                Kind::Conflict,
                "troppe migrazioni in corso: riprovare più tardi",
            ));
        }
        if !live.insert(address.to_string()) {
            return Err(MigrateError::new(
                Kind::Conflict,
                "migrazione già in corso per questa casella",
            ));
        }
        Ok(LiveGuard {
            address: address.to_string(),
        })
    }

    /// Sets the password the holder keeps: the old one when it meets the policy, else the
    /// new one given; true when the old one is kept.
    async fn set_password(&self, mailbox: u64, req: &StartRequest) -> Result<bool, MigrateError> {
        let (chosen, kept) = match (&req.new_password, password::check_policy(&req.password)) {
            (Some(new), _) => (new.clone(), false),
            (None, Ok(())) => (req.password.clone(), true),
            (None, Err(violations)) => {
                return Err(MigrateError {
                    kind: Kind::Invalid,
                    message: "Password non valida: la password attuale non rispetta le regole; \
                              sceglierne una nuova (--new-password-stdin)"
                        .into(),
                    details: violations.iter().map(|v| v.text().to_string()).collect(),
                })
            }
        };
        if let Err(violations) = password::check_policy(&chosen) {
            return Err(MigrateError {
                kind: Kind::Invalid,
                message: "Password non valida".into(),
                details: violations.iter().map(|v| v.text().to_string()).collect(),
            });
        }
        let hash = tokio::task::spawn_blocking(move || password::hash(&chosen))
            .await
            .map_err(|_| MigrateError::new(Kind::Unavailable, "password hashing failed"))?;
        self.store
            .set_password_at(mailbox, &hash, self.now())
            .await?;
        Ok(kept)
    }

    /// The migration of `address` as saved last; a run that was `running` when its server
    /// stopped shows as `failed`, to be resumed by `migrate start`.
    pub async fn status(&self, address: &str) -> Result<MigrationRecord, MigrateError> {
        let address = address.trim().to_ascii_lowercase();
        let mut record = record::load(&self.store, &address).await?.ok_or_else(|| {
            MigrateError::new(Kind::NotFound, format!("nessuna migrazione per {address}"))
        })?;
        let live = live().contains(&address);
        if record.state == RunState::Running && !live {
            record.state = RunState::Failed;
            record.error("importazione interrotta (server riavviato): rieseguire migrate start per riprendere");
        }
        Ok(record)
    }
}
