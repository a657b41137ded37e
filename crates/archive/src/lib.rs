//! The provisioning archive (PROVISIONING.md): operators and their scope, customers and
//! accounts, domains, requests and contracts, mailboxes (caselle) with their types, states
//! and services, and the audit log; and logins, the one place where a login becomes a
//! mailbox for SMTP, POP3 and IMAP alike, under the brute-force protection of
//! `pecd_common::throttle`.
//!
//! Every operation is a method of [`Archive`] that takes the acting [`scope::Actor`] and
//! checks its scope; the control socket (`pecctl`) and the HTTPS interface call the same
//! methods. Records persist through the store's keyed records ([`records`]); every change
//! and its audit entry ([`audit`]) commit in one transaction, durably, before the method
//! returns.
//!
//! Layout: [`model`] (the records), [`error`], [`records`] (how they are stored), [`scope`]
//! (profiles and patterns), [`audit`], [`caselle`] (a mailbox record and its indexes); one
//! module per family of operations: [`operators`], [`customers`] (and accounts, with the
//! user-id rule), [`domains`], [`mailboxes`] (caselle: transitions, changes, services,
//! search), [`slaves`] (multi-user); and [`login`] (login → principal → mailbox, password
//! expiry, last access).

pub mod audit;
pub mod campaign;
pub mod caselle;
pub mod customers;
pub mod domains;
pub mod error;
pub mod expiry;
pub mod holders;
pub mod jobs;
pub mod login;
pub mod mailboxes;
pub mod migration_window;
pub mod model;
pub mod operators;
pub mod records;
pub mod recovery;
pub mod report;
pub mod requests;
pub mod scope;
pub mod settings;
pub mod slaves;

use std::sync::Arc;

use pecd_common::config::Config;
use pecd_common::domains::LocalDomains;
use pecd_store::{RecordTx, Store};

pub use error::{ArchiveError, ErrorKind};
pub use scope::Actor;

/// The archive of one provider: cheap to clone.
#[derive(Clone)]
pub struct Archive {
    store: Store,
    config: Arc<Config>,
    domains: Arc<LocalDomains>,
    /// Every casella address as of a generation of [`caselle::ADDRESSES_GENERATION`]: the
    /// search by address part scans this instead of the store's keys.
    addresses: Arc<std::sync::Mutex<Option<AddressCopy>>>,
}

/// A generation of the casella addresses and the addresses as of it.
type AddressCopy = (u64, Arc<Vec<String>>);

impl Archive {
    /// The archive over `store`. The domains it has enabled are added to `domains` (which
    /// starts as `provider.domains`), the set every service checks addresses against.
    pub async fn open(
        store: Store,
        config: Arc<Config>,
        domains: Arc<LocalDomains>,
    ) -> error::Result<Archive> {
        let archive = Archive {
            store,
            config,
            domains,
            addresses: Arc::default(),
        };
        archive.load_enabled_domains().await?;
        Ok(archive)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The domains served now (`provider.domains` and the enabled ones).
    pub fn local_domains(&self) -> &Arc<LocalDomains> {
        &self.domains
    }

    /// Now on the engine's clock (`pec.clock_offset_seconds` moves it, for drills and tests),
    /// in Unix seconds.
    pub fn now(&self) -> i64 {
        chrono::Utc::now().timestamp() + self.config.pec.clock_offset_seconds
    }

    /// Today in Italy on the same clock.
    pub fn today(&self) -> chrono::NaiveDate {
        use chrono::TimeZone;
        chrono_tz::Europe::Rome
            .timestamp_opt(self.now(), 0)
            .single()
            .map_or_else(|| chrono::Utc::now().date_naive(), |t| t.date_naive())
    }

    /// Runs `f` as one serialised, durable transaction over the archive's records.
    pub async fn transaction<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn RecordTx) -> error::Result<T> + Send + 'static,
    ) -> error::Result<T> {
        self.store.records_transaction(f).await?
    }

    /// Every casella address, from memory while no casella was made, renamed or removed
    /// since the copy was taken (one store read to know), else read again from the store.
    pub async fn casella_addresses(&self) -> error::Result<Arc<Vec<String>>> {
        let generation = match self
            .store
            .record("counter", caselle::ADDRESSES_GENERATION.as_bytes())
            .await?
        {
            Some(v) => records::decode::<u64>("counter", &v)?,
            None => 0,
        };
        if let Some((g, list)) = &*self.addresses.lock().unwrap_or_else(|p| p.into_inner()) {
            if *g == generation {
                return Ok(list.clone());
            }
        }
        // Read after the generation: a change in between makes the copy newer than its
        // generation, which only costs a second read next time.
        let keys = self
            .store
            .record_keys(<model::Casella as records::Record>::FAMILY, b"")
            .await?;
        let list: Arc<Vec<String>> = Arc::new(
            keys.into_iter()
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .collect(),
        );
        *self.addresses.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((generation, list.clone()));
        Ok(list)
    }

    /// The actor for a control-socket or HTTPS request: the built-in administrator without a
    /// user id, else the operator with that user id.
    pub async fn actor(&self, userid: Option<&str>) -> error::Result<Actor> {
        let Some(userid) = userid else {
            return Ok(Actor::Admin);
        };
        let key = operators::userid_key(userid)?;
        match records::load::<model::Operator>(&self.store, key.as_bytes()).await? {
            Some(o) => Ok(Actor::Operator(Box::new(o))),
            None => Err(ArchiveError::not_found(format!(
                "operatore sconosciuto: {userid}"
            ))),
        }
    }
}

/// Checks a code (customer, account, order number): 1 to 32 letters, digits, `-`, `_`, `.`.
pub(crate) fn check_code(what: &str, code: &str) -> error::Result<()> {
    let ok = !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ArchiveError::invalid(format!(
            "{what} {code:?}: da 1 a 32 caratteri tra lettere, cifre, '-', '_' e '.'"
        )))
    }
}

/// Checks a free text (names, descriptions): not blank, at most `max` characters, no control
/// characters.
pub(crate) fn check_text(what: &str, text: &str, max: usize) -> error::Result<()> {
    if text.trim().is_empty() {
        return Err(ArchiveError::invalid(format!("{what}: obbligatorio")));
    }
    if text.chars().count() > max {
        return Err(ArchiveError::invalid(format!(
            "{what}: al massimo {max} caratteri"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ArchiveError::invalid(format!(
            "{what}: contiene caratteri di controllo"
        )));
    }
    Ok(())
}
