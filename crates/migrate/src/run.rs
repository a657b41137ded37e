//! One run of a migration, on the server as a tokio task: list the old folders, map them
//! ([`crate::folders`]), count what is there and what is here already, then import folder
//! by folder ([`crate::import`]). A connection lost midway is opened again (a few times,
//! with the password the run holds in memory and nowhere else) and the run goes on from
//! its progress; anything else ends the run `failed`, and `migrate start` resumes it.

use std::sync::Arc;
use std::time::Duration;

use pecd_store::{MailboxId, Store};

use crate::folders::{self, FolderPlan};
use crate::imap::frame::Limits;
use crate::imap::{Capabilities, Connection, ImapError, Server};
use crate::import::{self, ImportError, Listed, Target};
use crate::record::{self, FolderStatus, MigrationRecord, RunState};

/// Connections a run opens again after losing one.
const RECONNECTS: u32 = 5;

/// Everything a run needs; the old password lives here and dies with it.
pub struct Run {
    pub store: Store,
    pub mailbox: MailboxId,
    pub server: Server,
    pub login: String,
    pub password: String,
    pub roots: Arc<rustls::RootCertStore>,
    pub limits: Limits,
    pub timeout: Duration,
    pub batch_messages: usize,
    pub batch_bytes: u64,
    pub archive_folder: String,
    /// After cutover: the archive folder too.
    pub include_archive: bool,
}

/// An old folder counted, with what its import needs.
struct Surveyed {
    index: usize,
    plan: FolderPlan,
    validity: u32,
    listed: Vec<Listed>,
}

impl Run {
    /// A connection logged in to the old server.
    pub async fn connect(&self) -> Result<(Connection, Capabilities), ImapError> {
        let roots = self.roots.clone();
        let mut c = Connection::connect(&self.server, roots, self.limits, self.timeout).await?;
        let caps = c.login(&self.login, &self.password).await?;
        Ok((c, caps))
    }

    /// Runs to the end with `first` (the connection the credentials were checked on) and
    /// returns the record as saved last.
    pub async fn execute(
        self,
        first: (Connection, Capabilities),
        mut record: MigrationRecord,
    ) -> MigrationRecord {
        let mut next = Some(first);
        let mut lost = 0;
        loop {
            let (mut conn, caps) = match next.take() {
                Some(c) => c,
                None => match self.connect().await {
                    Ok(c) => c,
                    Err(e) => {
                        record.error(e.to_string());
                        record.state = RunState::Failed;
                        break;
                    }
                },
            };
            match self.pass(&mut conn, caps, &mut record).await {
                Ok(()) => {
                    conn.logout().await;
                    record.state = RunState::Done;
                    break;
                }
                Err(ImportError::Imap(ImapError::Lost(e))) if lost < RECONNECTS => {
                    lost += 1;
                    tracing::warn!(address = %record.address, error = %e, "migration: connection lost, resuming");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(lost))).await;
                }
                Err(e) => {
                    tracing::warn!(address = %record.address, error = %e, "migration failed");
                    record.error(e.to_string());
                    record.state = RunState::Failed;
                    break;
                }
            }
        }
        let now = chrono::Utc::now().timestamp();
        record.finished_at = Some(now);
        record.updated_at = now;
        if let Err(e) = record::save(&self.store, &record, None).await {
            tracing::error!(address = %record.address, error = %e, "migration: final record not saved");
        }
        record
    }

    /// One pass over the old mailbox on one connection.
    async fn pass(
        &self,
        conn: &mut Connection,
        caps: Capabilities,
        record: &mut MigrationRecord,
    ) -> Result<(), ImportError> {
        let listed = conn.list(&caps).await?;
        let ours = self.store.folders(self.mailbox).await?;
        let (plans, unreadable) = folders::plan(&listed, &ours, &self.archive_folder);
        if record.folders.is_empty() {
            for e in unreadable {
                record.error(e);
            }
        }
        let surveyed = self.survey(conn, plans, record).await?;
        let target = Target {
            store: &self.store,
            mailbox: self.mailbox,
            batch_messages: self.batch_messages,
            batch_bytes: self.batch_bytes,
            max_message: self.limits.literal,
        };
        for s in surveyed {
            let folder = (s.validity, s.listed);
            import::folder(conn, &target, &s.plan, s.index, folder, record).await?;
        }
        Ok(())
    }

    /// Lists every folder to import and counts its messages, and those already here.
    async fn survey(
        &self,
        conn: &mut Connection,
        plans: Vec<FolderPlan>,
        record: &mut MigrationRecord,
    ) -> Result<Vec<Surveyed>, ImportError> {
        let mut folders = Vec::with_capacity(plans.len());
        let mut surveyed = Vec::new();
        for plan in plans {
            let deferred = plan.archive && !self.include_archive;
            let mut status = FolderStatus {
                name: plan.name.clone(),
                target: plan.target.clone(),
                messages_total: 0,
                messages_done: 0,
                deferred,
            };
            if !deferred {
                let (validity, listed) = import::list(conn, &plan).await?;
                let progress =
                    record::load_folder(&self.store, &record.address, &plan.name).await?;
                status.messages_total = listed.len() as u64;
                status.messages_done = import::done_by_mark(&progress, validity, &listed);
                surveyed.push(Surveyed {
                    index: folders.len(),
                    plan,
                    validity,
                    listed,
                });
            }
            folders.push(status);
        }
        record.messages_total = folders.iter().map(|f| f.messages_total).sum();
        record.messages_done = folders.iter().map(|f| f.messages_done).sum();
        record.folders = folders;
        record.updated_at = chrono::Utc::now().timestamp();
        record::save(&self.store, record, None).await?;
        Ok(surveyed)
    }
}
