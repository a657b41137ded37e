//! The archive's due work, run by `pecctl jobs run` at once and by pecd every minute: requests
//! whose contract is confirmed are processed (PROVISIONING.md §3), recorded state transitions
//! (`in revoca`, `in riattivazione`) are applied (§4). Each step is idempotent: a run that
//! stops half-way (a crash, a kill -9) is finished by the next, and a run with nothing due
//! changes nothing.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::Archive;

/// One thing a run did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItem {
    /// `request.process`, `mailbox.revoke`, `mailbox.reactivate`...
    pub job: String,
    /// The request code or address it was done to.
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What one run did, and what it could not do (left for the next run).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    pub done: Vec<JobItem>,
    pub errors: Vec<JobItem>,
}

impl JobReport {
    pub fn did(&mut self, job: &str, target: &str, detail: impl Into<String>) {
        self.done.push(JobItem {
            job: job.to_string(),
            target: target.to_string(),
            detail: detail.into(),
        });
    }

    pub fn failed(&mut self, job: &str, target: &str, error: impl Into<String>) {
        self.errors.push(JobItem {
            job: job.to_string(),
            target: target.to_string(),
            detail: error.into(),
        });
    }
}

impl Archive {
    /// Runs every due job of the archive once, in order; a job's failure on one record is
    /// reported and the others go on.
    pub async fn run_jobs(&self) -> Result<JobReport> {
        let mut report = JobReport::default();
        // Each family of work adds its step here: request processing, then transitions.
        self.process_requests(&mut report).await?;
        self.apply_transitions(&mut report).await?;
        self.apply_slave_transitions(&mut report).await;
        Ok(report)
    }
}
