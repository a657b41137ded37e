//! `[sms]`: where pecd hands the SMS notifications it writes (PROVISIONING.md §8): a spool
//! directory (one JSON file per SMS, for a gateway to pick up) or a command that gets each
//! SMS as JSON on its standard input. pecd talks to no SMS gateway itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sms {
    /// Directory of outgoing SMS, one `<time>-<id>.json` file each, written durably (a
    /// temporary name, fsync, rename).
    pub spool: PathBuf,
    /// When set, each SMS is piped as JSON to this program (run without a shell, arguments
    /// split on white space) instead of written to the spool; a non-zero exit is retried at
    /// the next run.
    pub command: Option<String>,
}

impl Default for Sms {
    fn default() -> Self {
        Sms {
            spool: "data/sms".into(),
            command: None,
        }
    }
}
