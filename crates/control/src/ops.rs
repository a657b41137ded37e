//! The typed operations API behind the control socket. pecctl, the socket and any future UI
//! call these, so every rule (domains, password policy, message checks) is checked in one place.
//! (The socket server also refuses an announced import size early, before reading the bytes.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use pecd_common::address::Address;
use pecd_common::config::Config;
use pecd_common::message::{check_rfc5322, to_crlf};
use pecd_common::password;
use pecd_store::{Flags, Mailbox, MailboxState, NewMessage, Store, StoreError};

use crate::protocol::*;

pub struct Operations {
    store: Store,
    archive: pecd_archive::Archive,
    lifecycle: pecd_lifecycle::Lifecycle,
    engine: Arc<pecd_engine::Engine>,
    config: Arc<Config>,
    started: Instant,
    listeners: BTreeMap<String, String>,
    migrations: pecd_migrate::Migrations,
}

fn store_error(e: StoreError) -> ControlError {
    match e {
        StoreError::NoMailbox(m) => {
            ControlError::new(ErrorCode::NoMailbox, format!("no such mailbox: {m}"))
        }
        StoreError::NoFolder(f) => {
            ControlError::new(ErrorCode::NoFolder, format!("no such folder: {f}"))
        }
        StoreError::Exists(what) => {
            ControlError::new(ErrorCode::MailboxExists, format!("already exists: {what}"))
        }
        StoreError::OverQuota { used, quota, size } => ControlError::new(
            ErrorCode::OverQuota,
            format!("mailbox over quota: {used} of {quota} bytes used, message is {size} bytes"),
        ),
        StoreError::Invalid(what) => {
            ControlError::new(ErrorCode::InvalidValue, format!("invalid {what}"))
        }
        e if e.is_temporary() => {
            tracing::error!(error = %e, "store failure in a control operation");
            ControlError::new(
                ErrorCode::Unavailable,
                "the store is unavailable; try again later",
            )
        }
        e => {
            tracing::error!(error = %e, "store failure in a control operation");
            ControlError::new(ErrorCode::Internal, "internal error; see the server log")
        }
    }
}

fn engine_error(e: pecd_engine::EngineError) -> ControlError {
    match e {
        pecd_engine::EngineError::Store(e) => store_error(e),
        e => {
            tracing::error!(error = %e, "engine failure in a control operation");
            ControlError::new(ErrorCode::Internal, "internal error; see the server log")
        }
    }
}

fn provider_view(e: &pecd_signer::ProviderEntry, own: &[String]) -> ProviderView {
    let text = |n: &openssl::x509::X509NameRef| {
        n.entries()
            .map(|e| {
                format!(
                    "{}={}",
                    e.object().nid().short_name().unwrap_or("?"),
                    e.data().to_string().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    ProviderView {
        name: e.name.clone(),
        mail_receipt: e.mail_receipt.clone(),
        domains: e.domains.clone(),
        hashes: e.hashes.clone(),
        ours: e.hashes.iter().any(|h| own.contains(h)),
        certificates: e
            .certificates
            .iter()
            .filter_map(|der| openssl::x509::X509::from_der(der).ok())
            .map(|c| CertificateView {
                sha1: pecd_signer::smime::cert_sha1(&c),
                subject: text(c.subject_name()),
                issuer: text(c.issuer_name()),
                not_before: c.not_before().to_string(),
                not_after: c.not_after().to_string(),
                emails: pecd_signer::inspect::certificate_emails(&c),
            })
            .collect(),
    }
}

fn time(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

fn state_name(state: MailboxState) -> &'static str {
    match state {
        MailboxState::Active => "active",
        MailboxState::Revoked => "revoked",
    }
}

fn summary(m: &Mailbox) -> MailboxSummary {
    MailboxSummary {
        address: m.address.clone(),
        state: state_name(m.state).into(),
        messages: m.message_count,
        used_bytes: m.used_bytes,
        quota_bytes: m.quota_bytes,
    }
}

async fn checked_hash(password: String) -> Result<String, ControlError> {
    if let Err(violations) = password::check_policy(&password) {
        return Err(ControlError::new(
            ErrorCode::WeakPassword,
            "the password does not meet the policy",
        )
        .with_details(violations.iter().map(|v| v.text().to_string()).collect()));
    }
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|_| ControlError::new(ErrorCode::Internal, "password hashing failed"))
}

impl Operations {
    /// `listeners` maps each listener's name to the address it is bound to, for status.
    pub fn new(
        store: Store,
        lifecycle: pecd_lifecycle::Lifecycle,
        engine: Arc<pecd_engine::Engine>,
        config: Arc<Config>,
        listeners: BTreeMap<String, String>,
    ) -> Operations {
        Operations {
            migrations: pecd_migrate::Migrations::new(store.clone(), config.clone()),
            store,
            archive: lifecycle.archive().clone(),
            lifecycle,
            engine,
            config,
            started: Instant::now(),
            listeners,
        }
    }

    /// The job runner (and through it the archive) the archive commands run on.
    pub fn lifecycle(&self) -> &pecd_lifecycle::Lifecycle {
        &self.lifecycle
    }

    /// Migrations from other providers (`migrate.*`).
    pub fn migrations(&self) -> &pecd_migrate::Migrations {
        &self.migrations
    }

    /// The provisioning archive the archive commands run on.
    pub fn archive(&self) -> &pecd_archive::Archive {
        &self.archive
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Parses an address and checks that it belongs to one of our domains.
    fn our_address(&self, address: &str) -> Result<Address, ControlError> {
        let parsed = Address::parse(address).map_err(|e| {
            ControlError::new(ErrorCode::InvalidAddress, format!("{address:?}: {e}"))
        })?;
        // The domains served now: provider.domains and those the archive enabled.
        let domains = self.archive.local_domains();
        if !domains.serves_domain(parsed.domain()) {
            return Err(ControlError::new(
                ErrorCode::ForeignDomain,
                format!(
                    "{parsed}: domain {} is not one of ours ({})",
                    parsed.domain(),
                    domains.list().join(", ")
                ),
            ));
        }
        Ok(parsed)
    }

    async fn existing(&self, address: &str) -> Result<Mailbox, ControlError> {
        let parsed = self.our_address(address)?;
        self.store
            .find_mailbox(parsed.as_str())
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                ControlError::new(ErrorCode::NoMailbox, format!("no such mailbox: {parsed}"))
            })
    }

    pub async fn status(&self) -> Result<Status, ControlError> {
        let stats = self.store.stats().await.map_err(store_error)?;
        Ok(Status {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: self.started.elapsed().as_secs(),
            provider: self.config.provider.name.clone(),
            domains: self.archive.local_domains().list(),
            store_path: self.store.path().display().to_string(),
            mailboxes: stats.mailboxes,
            messages: stats.messages,
            used_bytes: stats.used_bytes,
            commits: stats.commits,
            committed_writes: stats.committed_writes,
            listeners: self.listeners.clone(),
        })
    }

    pub async fn create_mailbox(
        &self,
        address: &str,
        password: String,
    ) -> Result<MailboxDetail, ControlError> {
        let parsed = self.our_address(address)?;
        let hash = checked_hash(password).await?;
        let m = self
            .store
            .create_mailbox(
                parsed.as_str(),
                &hash,
                self.config.limits.mailbox_quota_bytes,
            )
            .await
            .map_err(|e| match e {
                StoreError::Exists(_) => ControlError::new(
                    ErrorCode::MailboxExists,
                    format!("mailbox {parsed} already exists"),
                ),
                e => store_error(e),
            })?;
        // A mailbox made without a request is an incomplete one of the archive
        // (PROVISIONING.md §3); an address the archive already holds (a request's line) is
        // refused, and the mailbox just made removed.
        if let Err(e) = self.archive.register_incomplete(&m.address).await {
            if let Err(undo) = self.store.delete_mailbox(m.id).await {
                tracing::error!(address = %m.address, error = %undo, "could not undo a mailbox creation");
            }
            return Err(crate::archive::refusal(e));
        }
        tracing::info!(address = %m.address, "mailbox created");
        self.detail(m).await
    }

    pub async fn list_mailboxes(&self) -> Result<Vec<MailboxSummary>, ControlError> {
        let all = self.store.list_mailboxes().await.map_err(store_error)?;
        Ok(all.iter().map(summary).collect())
    }

    /// The mailbox as the store and the archive know it; an operator acting with `--as`
    /// sees only the mailboxes of its scope.
    pub async fn show_mailbox(
        &self,
        address: &str,
        actor: Option<&pecd_archive::Actor>,
    ) -> Result<MailboxDetail, ControlError> {
        let m = self.existing(address).await?;
        match actor.filter(|a| !a.is_admin()) {
            None => self.detail(m).await,
            Some(actor) => {
                let archive = self
                    .archive
                    .casella_detail(actor, &m.address)
                    .await
                    .map_err(crate::archive::refusal)?;
                if archive.is_none() {
                    actor
                        .check_admin("casella senza dati nell'archivio")
                        .map_err(crate::archive::refusal)?;
                }
                let mut d = self.store_detail(m).await?;
                d.archive = archive;
                Ok(d)
            }
        }
    }

    async fn detail(&self, m: Mailbox) -> Result<MailboxDetail, ControlError> {
        let archive = self
            .archive
            .casella_detail(&pecd_archive::Actor::Admin, &m.address)
            .await
            .map_err(crate::archive::refusal)?;
        let mut d = self.store_detail(m).await?;
        d.archive = archive;
        Ok(d)
    }

    async fn store_detail(&self, m: Mailbox) -> Result<MailboxDetail, ControlError> {
        let mut folders = self.store.folders(m.id).await.map_err(store_error)?;
        // INBOX first, then the special-use folders, then the rest by name.
        folders.sort_by_key(|f| (f.role.is_none(), f.name != "INBOX", f.name.clone()));
        Ok(MailboxDetail {
            summary: summary(&m),
            created_at: time(m.created_at),
            password_changed_at: time(m.password_changed_at),
            sender_per_minute: m.settings.sender_per_minute,
            effective_sender_per_minute: m
                .settings
                .sender_per_minute
                .unwrap_or(self.config.limits.sender_per_minute),
            folders: folders
                .into_iter()
                .map(|f| FolderInfo {
                    special_use: f.role.and_then(|r| r.attribute()).map(str::to_string),
                    name: f.name,
                    uidvalidity: f.uidvalidity,
                    uidnext: f.uidnext,
                    highestmodseq: f.highestmodseq,
                    messages: f.message_count,
                    size_bytes: f.size_bytes,
                    subscribed: f.subscribed,
                })
                .collect(),
            archive: None,
        })
    }

    pub async fn delete_mailbox(&self, address: &str) -> Result<MailboxSummary, ControlError> {
        let m = self.existing(address).await?;
        // The archive first: its slaves must not outlive the mailbox, and a failure here
        // leaves the mailbox whole (the command can be run again).
        self.archive
            .forget_casella(&m.address)
            .await
            .map_err(crate::archive::refusal)?;
        let removed = self.store.delete_mailbox(m.id).await.map_err(store_error)?;
        tracing::info!(address = %removed.address, messages = removed.message_count, "mailbox deleted");
        Ok(summary(&removed))
    }

    /// Sets a mailbox's password; with `must_change` it is expired at once (the holder
    /// must change it at the first login).
    pub async fn set_password(
        &self,
        address: &str,
        password: String,
        must_change: bool,
    ) -> Result<MailboxSummary, ControlError> {
        let m = self.existing(address).await?;
        let hash = checked_hash(password).await?;
        let m = if must_change {
            self.store.set_expired_password(m.id, &hash).await
        } else {
            self.store
                .set_password_at(m.id, &hash, self.archive.now())
                .await
        }
        .map_err(store_error)?;
        tracing::info!(address = %m.address, must_change, "password changed");
        Ok(summary(&m))
    }

    pub async fn set_sender_limit(
        &self,
        address: &str,
        limit: SenderLimit,
    ) -> Result<MailboxDetail, ControlError> {
        if limit.per_minute() == Some(0) {
            return Err(ControlError::new(
                ErrorCode::InvalidValue,
                "sender_per_minute must be at least 1",
            ));
        }
        let m = self.existing(address).await?;
        let per_minute = limit.per_minute();
        let m = self
            .store
            .update_settings(m.id, move |s| s.sender_per_minute = per_minute)
            .await
            .map_err(store_error)?;
        tracing::info!(address = %m.address, limit = ?m.settings.sender_per_minute, "sender limit set");
        self.detail(m).await
    }

    /// Largest message an import may carry.
    /// `pecctl log search`: the legal log records matching the query, oldest first.
    pub async fn log_search(
        &self,
        q: pecd_store::LogQuery,
    ) -> Result<Vec<pecd_store::LogRecord>, ControlError> {
        self.store.log_search(q).await.map_err(store_error)
    }

    /// `pecctl trace ID`: by PEC msgid, or by client Message-ID through the log.
    pub async fn trace(&self, id: &str) -> Result<pecd_store::TraceRecord, ControlError> {
        let bare = id.trim().trim_matches(['<', '>']);
        if let Some(t) = self.store.trace(bare).await.map_err(store_error)? {
            return Ok(t);
        }
        let found = self
            .store
            .log_search(pecd_store::LogQuery {
                id: Some(bare.to_string()),
                limit: 1,
                ..Default::default()
            })
            .await
            .map_err(store_error)?;
        if let Some(r) = found.first() {
            if let Some(t) = self.store.trace(&r.pec_id).await.map_err(store_error)? {
                return Ok(t);
            }
        }
        Err(ControlError::new(
            ErrorCode::NotFound,
            format!("no certified message with id {bare}"),
        ))
    }

    /// `pecctl index list`: every provider of the index in force.
    pub fn index_list(&self) -> Vec<ProviderView> {
        let own = self.engine.own_hashes();
        self.index_entries()
            .iter()
            .map(|e| provider_view(e, &own))
            .collect()
    }

    /// The index in force, our own entry with the domains served now (an enabled domain is
    /// in it at once).
    fn index_entries(&self) -> Vec<pecd_signer::ProviderEntry> {
        let own = self.engine.own_hashes();
        let ours = self.engine.own_entry();
        self.engine
            .index()
            .entries()
            .iter()
            .map(|e| {
                if e.hashes.iter().any(|h| own.contains(h)) {
                    ours.clone()
                } else {
                    e.clone()
                }
            })
            .collect()
    }

    /// `pecd index export`: our own provider entry with the domains served now.
    pub fn index_export(&self) -> String {
        self.engine.own_entry().to_ldif()
    }

    /// `pecctl index show KEY`: by provider name, managed domain or certificate hash.
    pub fn index_show(&self, key: &str) -> Result<ProviderView, ControlError> {
        let k = key.trim().to_ascii_lowercase().replace(':', "");
        let own = self.engine.own_hashes();
        self.index_entries()
            .iter()
            .find(|e| {
                e.name.to_ascii_lowercase() == k || e.domains.contains(&k) || e.hashes.contains(&k)
            })
            .map(|e| provider_view(e, &own))
            .ok_or_else(|| {
                ControlError::new(
                    ErrorCode::NotFound,
                    format!("no provider with name, domain or hash {key:?}"),
                )
            })
    }

    pub async fn queue_list(&self) -> Result<Vec<pecd_store::QueueEntry>, ControlError> {
        self.store.queue().await.map_err(store_error)
    }

    fn no_entry(id: u64) -> ControlError {
        ControlError::new(ErrorCode::NotFound, format!("no queued message {id}"))
    }

    pub async fn queue_show(&self, id: u64) -> Result<pecd_store::QueueEntry, ControlError> {
        self.store
            .queue_entry(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Self::no_entry(id))
    }

    pub async fn queue_retry(&self, id: Option<u64>) -> Result<Retried, ControlError> {
        let retried = self.engine.queue_retry(id).await.map_err(engine_error)?;
        match id {
            Some(id) if retried == 0 => Err(Self::no_entry(id)),
            _ => Ok(Retried { retried }),
        }
    }

    pub async fn queue_delete(&self, id: u64) -> Result<pecd_store::QueueEntry, ControlError> {
        let removed = self.engine.queue_delete(id).await.map_err(engine_error)?;
        let e = removed.ok_or_else(|| Self::no_entry(id))?;
        tracing::info!(id, pec_id = %e.pec_id, "queued message deleted by the operator");
        Ok(e)
    }

    pub fn max_message_bytes(&self) -> u64 {
        self.config.limits.max_message_bytes
    }

    /// Appends one RFC 5322 message; returns once it is durable.
    pub async fn import(
        &self,
        address: &str,
        folder: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<Imported, ControlError> {
        let m = self.existing(address).await?;
        check_rfc5322(&bytes).map_err(|e| {
            ControlError::new(
                ErrorCode::NotRfc5322,
                format!("not an RFC 5322 message: {e}"),
            )
        })?;
        // The limit applies to the message as stored, after LF line endings become CRLF.
        let bytes = to_crlf(&bytes);
        if bytes.len() as u64 > self.max_message_bytes() {
            return Err(ControlError::new(
                ErrorCode::TooLarge,
                format!(
                    "message of {} bytes (with CRLF line endings) exceeds limits.max_message_bytes ({})",
                    bytes.len(),
                    self.max_message_bytes()
                ),
            ));
        }
        let internal_date = mail_parser::MessageParser::new()
            .parse_headers(&bytes)
            .and_then(|msg| msg.date().map(|d| d.to_timestamp()));
        let folder = folder.unwrap_or("INBOX");
        let appended = self
            .store
            .append(
                m.id,
                folder,
                NewMessage {
                    bytes,
                    flags: Flags::default(),
                    keywords: vec![],
                    internal_date,
                },
            )
            .await
            .map_err(store_error)?;
        let folder = pecd_store::normalize_folder_name(folder);
        tracing::debug!(address = %m.address, folder, uid = appended.uid, "message imported");
        Ok(Imported {
            address: m.address,
            folder,
            uidvalidity: appended.uidvalidity,
            uid: appended.uid,
            size: appended.size,
        })
    }
}
