//! `[lifecycle]`: when pecd runs the scheduled jobs (ARCHITECTURE.md `lifecycle`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifecycle {
    /// Seconds between two runs of the due jobs (request processing, state transitions);
    /// `pecctl jobs run` runs them at once. 0 turns the schedule off.
    pub interval_seconds: u64,
    /// The jobs that read every mailbox (expiry management, retention, full-mailbox
    /// notices) run at most this often on the schedule, and on its first run; `pecctl jobs
    /// run` always runs them.
    pub scan_interval_seconds: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            interval_seconds: 60,
            scan_interval_seconds: 3600,
        }
    }
}
