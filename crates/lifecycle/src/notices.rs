//! How a job sends a notice: through the engine, once per key ([`pecd_engine::Notice`]),
//! the failure turned into a text for the job report; and the digest that keys notices made
//! of many lines.

use pecd_engine::{Notice, NoticeSent};

use crate::Lifecycle;

impl Lifecycle {
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
