//! Lines of the legal transaction log (PEC.md §10.5): msgid, date and time, sender,
//! recipients, subject, event, ids of the generated messages, provider. They are written in
//! the same certification step as what they record, with its temporal reference (§10.6).

use pecd_signer::build::Facts;
use pecd_signer::Moment;
use pecd_store::{LogEvent, LogRecord};

/// The log line of `event` in the transaction of `facts`.
pub(crate) fn line(
    when: Moment,
    event: LogEvent,
    facts: &Facts,
    recipients: Vec<String>,
    generated: Vec<String>,
    provider: &str,
    detail: String,
) -> LogRecord {
    LogRecord {
        time: when.unix(),
        event,
        pec_id: facts.pec_id.clone(),
        msgid: facts.msgid.clone(),
        sender: facts.sender.clone(),
        recipients,
        subject: facts.subject.clone(),
        generated,
        provider: provider.into(),
        detail,
    }
}
