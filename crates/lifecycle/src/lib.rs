//! pecd-lifecycle: the scheduled jobs (ARCHITECTURE.md `lifecycle`), run by pecd every
//! `[lifecycle] interval_seconds` and at once by `pecctl jobs run`, on the engine's clock
//! (`pec.clock_offset_seconds` moves a whole server's time for drills and tests).
//!
//! One run, in order: expiry management (PROVISIONING.md §6: [`expiry`]), the archive's own
//! jobs (requests processed, address changes finished, revocations and reactivations
//! applied, slave transitions: `pecd_archive::Archive::run_jobs`), revocation notices and
//! retention ([`retention`]), the password campaign's reminders (§7: [`campaign`]),
//! new-mail and full-mailbox notices (§8: [`notify`]) and the daily SMS ([`sms`]). Notices are
//! real mail sent by the engine from the service address ([`pecd_engine::Notice`]), each with
//! a key that makes it go out once however many runs see it, so every job is idempotent and
//! a run stopped half-way (a crash, a kill -9) is finished by the next. Texts: [`texts`];
//! what runs remember: [`state`].

pub mod campaign;
pub mod expiry;
pub mod notify;
pub mod recovery;
pub mod retention;
pub mod sms;
pub mod state;
pub mod texts;

use std::sync::Arc;
use std::time::Duration;

use pecd_archive::report::JobReport;
use pecd_archive::{Archive, ArchiveError};
use pecd_common::config::Config;
use pecd_engine::{Engine, Notice, NoticeSent};

/// The job runner of one server: cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    archive: Archive,
    engine: Arc<Engine>,
    config: Arc<Config>,
}

impl Lifecycle {
    pub fn new(archive: Archive, engine: Arc<Engine>, config: Arc<Config>) -> Lifecycle {
        Lifecycle {
            archive,
            engine,
            config,
        }
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs every job once, in order. A job's failure on one record is reported and the
    /// others go on; the run as a whole fails only when the archive cannot be read.
    pub async fn run_jobs(&self) -> Result<JobReport, ArchiveError> {
        let result = self.run_all().await;
        let m = pecd_common::metrics::metrics();
        let outcome = match &result {
            Ok(r) if r.errors.is_empty() => "ok",
            Ok(_) => "partial",
            Err(_) => "failed",
        };
        pecd_common::metrics::count(&m.job_runs, "result", outcome);
        result
    }

    async fn run_all(&self) -> Result<JobReport, ArchiveError> {
        let mut report = JobReport::default();
        self.expiry(&mut report).await?;
        let archive = self.archive.run_due_jobs().await?;
        report.done.extend(archive.done);
        report.errors.extend(archive.errors);
        self.retention(&mut report).await?;
        self.campaign_reminders(&mut report).await?;
        self.notify(&mut report).await?;
        self.sms(&mut report).await?;
        Ok(report)
    }

    /// Runs the jobs every `interval` seconds (`[lifecycle] interval_seconds`; 0: never) for
    /// the process's life. A failed run is logged and retried at the next tick.
    pub async fn run_forever(self, interval: u64) {
        if interval == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(interval));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.run_jobs().await {
                Ok(report) => {
                    for item in &report.done {
                        tracing::info!(job = %item.job, target = %item.target, "scheduled job done");
                    }
                    for item in &report.errors {
                        tracing::warn!(job = %item.job, target = %item.target, error = %item.detail, "scheduled job failed; retried at the next run");
                    }
                }
                Err(e) => tracing::error!(error = %e, "scheduled jobs could not run"),
            }
        }
    }

    /// Sends the pending reminders of the password campaign now (`pecctl password block`
    /// does not wait for the next scheduled run).
    pub async fn send_campaign_reminders(
        &self,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        self.campaign_reminders(report).await
    }

    /// Sends a notice once per `key`; the error is a text for the job report.
    pub(crate) async fn send(
        &self,
        kind: &str,
        to: Vec<String>,
        (subject, text): (String, String),
        key: String,
    ) -> Result<NoticeSent, String> {
        self.engine
            .send_notice(Notice {
                kind: kind.to_string(),
                to,
                subject,
                text,
                key,
            })
            .await
            .map_err(|e| e.to_string())
    }
}

/// A short stable digest of a text, for notice keys made of many lines.
pub(crate) fn digest(text: &str) -> String {
    let d = openssl::sha::sha256(text.as_bytes());
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}
