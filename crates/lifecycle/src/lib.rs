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
//! what runs remember: [`state`]; how a job sends a notice: [`notices`].

pub mod campaign;
pub mod expiry;
pub mod notices;
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
use pecd_engine::Engine;

/// The job runner of one server: cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    archive: Archive,
    engine: Arc<Engine>,
    config: Arc<Config>,
    /// One run at a time, whoever starts it (the schedule, `pecctl jobs run`, the API): the
    /// jobs read, decide and write per mailbox, which two runs at once would do twice.
    running: Arc<tokio::sync::Mutex<()>>,
}

impl Lifecycle {
    pub fn new(archive: Archive, engine: Arc<Engine>, config: Arc<Config>) -> Lifecycle {
        Lifecycle {
            archive,
            engine,
            config,
            running: Arc::default(),
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
        self.run_scheduled(true).await
    }

    /// One run as the schedule makes it, counted in the metrics; `full` includes the jobs
    /// that read every mailbox.
    pub async fn run_scheduled(&self, full: bool) -> Result<JobReport, ArchiveError> {
        let _one_at_a_time = self.running.lock().await;
        let result = self.run_all(full).await;
        let m = pecd_common::metrics::metrics();
        let outcome = match &result {
            Ok(r) if r.errors.is_empty() => "ok",
            Ok(_) => "partial",
            Err(_) => "failed",
        };
        pecd_common::metrics::count(&m.job_runs, "result", outcome);
        result
    }

    /// Every job, in order. Without `full`, the jobs that read every mailbox (expiry
    /// management, retention, full-mailbox notices) are left out and only the revocations
    /// applied in this run are announced.
    async fn run_all(&self, full: bool) -> Result<JobReport, ArchiveError> {
        let mut report = JobReport::default();
        if full {
            self.expiry(&mut report).await?;
        }
        let archive = self.archive.run_due_jobs().await?;
        let revoked: Vec<String> = archive
            .done
            .iter()
            .filter(|i| i.job == "mailbox.revoke")
            .map(|i| i.target.clone())
            .collect();
        report.done.extend(archive.done);
        report.errors.extend(archive.errors);
        if full {
            self.retention(&mut report).await?;
        } else {
            self.revocation_notices(&revoked, &mut report).await?;
        }
        self.campaign_reminders(&mut report).await?;
        self.notify(&mut report, full).await?;
        self.sms(&mut report).await?;
        Ok(report)
    }

    /// Runs the jobs every `[lifecycle] interval_seconds` (0: never) for the process's life,
    /// those that read every mailbox at most every `scan_interval_seconds` (and on the first
    /// tick). A failed run is logged and retried at the next tick.
    pub async fn run_forever(self) {
        let interval = self.config.lifecycle.interval_seconds;
        if interval == 0 {
            return;
        }
        let scan = Duration::from_secs(self.config.lifecycle.scan_interval_seconds);
        let mut last_scan: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(interval));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let full = last_scan.is_none_or(|t| t.elapsed() >= scan);
            let result = self.run_scheduled(full).await;
            if full && result.is_ok() {
                last_scan = Some(tokio::time::Instant::now());
            }
            match result {
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
}
