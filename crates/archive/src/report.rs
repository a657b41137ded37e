//! What a run of the scheduled jobs did ([`JobReport`]): the one type every job step
//! writes into, below the steps and the runner ([`crate::jobs`]) alike.

use serde::{Deserialize, Serialize};

/// One thing a run did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobItem {
    /// `request.process`, `mailbox.revoke`, `mailbox.reactivate`...
    pub job: String,
    /// The request code or address it was done to.
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What one run did, and what it could not do (left for the next run).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
