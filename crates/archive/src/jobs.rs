//! The archive's due work, run by `pecctl jobs run` at once and by pecd every minute: requests
//! whose contract is confirmed are processed (PROVISIONING.md §3), recorded state transitions
//! (`in revoca`, `in riattivazione`) are applied (§4). Each step is idempotent: a run that
//! stops half-way (a crash, a kill -9) is finished by the next, and a run with nothing due
//! changes nothing.

use crate::error::Result;
use crate::Archive;

pub use crate::report::{JobItem, JobReport};

impl Archive {
    /// Runs every due job of the archive once, in order; a job's failure on one record is
    /// reported and the others go on.
    pub async fn run_jobs(&self) -> Result<JobReport> {
        let result = self.run_due_jobs().await;
        let m = pecd_common::metrics::metrics();
        let outcome = match &result {
            Ok(r) if r.errors.is_empty() => "ok",
            Ok(_) => "partial",
            Err(_) => "failed",
        };
        pecd_common::metrics::count(&m.job_runs, "result", outcome);
        result
    }

    /// The archive's jobs without counting a run (the lifecycle runner counts its own).
    pub async fn run_due_jobs(&self) -> Result<JobReport> {
        let mut report = JobReport::default();
        // Each family of work adds its step here: request processing, then transitions.
        self.process_requests(&mut report).await?;
        self.finish_renames(&mut report).await?;
        self.apply_transitions(&mut report).await?;
        self.apply_slave_transitions(&mut report).await;
        Ok(report)
    }
}
