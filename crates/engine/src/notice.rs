//! The provider's own notices (PROVISIONING.md §6, §7, §8): expiry reports and notices,
//! password reminders, new-mail notifications, full-mailbox and security-archive warnings.
//! They are plain-text messages from the provider's service address, signed with the
//! provider's key (S/MIME, so a holder can check they are ours), delivered into a mailbox of
//! ours or queued to the relay for any other address, like every message we generate.
//!
//! Each notice carries a deduplication key: a notice whose key was sent before is not sent
//! again, so a job that runs twice, or is finished after a crash, notifies once. The key and
//! the deliveries commit in one durable step.

use pecd_signer::mime;
use pecd_store::{Certification, Certified};

use crate::routing::Route;
use crate::{off_thread, Engine, EngineError};

/// How long a notice's deduplication key is kept: longer than any job's period (a year and
/// a bit, so the next year's expiry notice of the same mailbox has its own key anyway).
pub const NOTICE_KEY_SECONDS: i64 = 400 * 86_400;

/// One notice to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// What it is (`expiry.report`, `mailbox.full`...): the relay queue's label and the
    /// `X-Pecd-Notice` header.
    pub kind: String,
    /// Recipients: our mailboxes or any other address.
    pub to: Vec<String>,
    pub subject: String,
    /// Plain text, lines separated by `\n`.
    pub text: String,
    /// Sent at most once per key.
    pub key: String,
}

/// What became of a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeSent {
    /// Delivered or queued now.
    Sent,
    /// Its key was sent before: nothing was sent again.
    Before,
    /// No recipient exists (a mailbox of ours that is gone): nothing to send.
    Nowhere,
}

impl Engine {
    /// Sends `notice` once per key: builds and signs it, routes it to each recipient and
    /// commits the deliveries, queue entries and the key durably together.
    pub async fn send_notice(&self, notice: Notice) -> Result<NoticeSent, EngineError> {
        let when = self.now();
        let id = self.new_id(when);
        let headers = notice_headers(&self.provider.service_address, &notice, &id, when);
        let entity = text_entity(&notice.text);
        let signer = self.signer.clone();
        let bytes = off_thread(move || signer.seal_at(&headers, &entity, when.unix()))
            .await?
            .map_err(|e| EngineError::Setup(format!("signing a notice: {e}")))?;
        let mut step = Certification {
            dedup_key: Some(format!("notice\0{}", notice.key).into_bytes()),
            dedup_keep_seconds: Some(NOTICE_KEY_SECONDS),
            pec_id: id.clone(),
            ..Certification::default()
        };
        let mut any = false;
        for to in &notice.to {
            let route = self.route(to, &id, &notice.kind, bytes.clone()).await?;
            any |= !matches!(route, Route::Nowhere);
            route.add_to(&mut step);
        }
        if !any {
            return Ok(NoticeSent::Nowhere);
        }
        // Never copied to a security archive (see crate::security_archive).
        Ok(match self.certify_step(step).await?.0 {
            Certified::Stored(_) => NoticeSent::Sent,
            Certified::Duplicate(_) => NoticeSent::Before,
        })
    }
}

/// The header block of a notice (the signature adds MIME-Version and Content-Type).
fn notice_headers(from: &str, n: &Notice, id: &str, when: pecd_signer::Moment) -> String {
    format!(
        "Date: {}\r\nFrom: {from}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{id}>\r\n\
         X-Pecd-Notice: {}\r\nAuto-Submitted: auto-generated\r\n",
        when.rfc5322(),
        n.to.join(",\r\n "),
        mime::header_text(&n.subject),
        n.kind,
    )
}

/// The signed entity: UTF-8 plain text, base64 so that any relay carries it unchanged.
fn text_entity(text: &str) -> Vec<u8> {
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        mime::base64_lines(text.as_bytes())
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_text_is_base64_utf8_with_crlf_lines() {
        let e = String::from_utf8(text_entity("Gentile cliente,\nè scaduta.")).unwrap();
        assert!(e.starts_with("Content-Type: text/plain; charset=utf-8\r\n"));
        let body = e.split("\r\n\r\n").nth(1).unwrap();
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body.replace("\r\n", ""))
            .unwrap();
        assert_eq!(decoded, "Gentile cliente,\r\nè scaduta.".as_bytes());
    }

    #[test]
    fn notice_headers_encode_a_non_ascii_subject_and_name_the_kind() {
        let n = Notice {
            kind: "expiry.week".into(),
            to: vec!["a@x.it".into(), "b@y.it".into()],
            subject: "Scadenza della casella: è ora".into(),
            text: String::new(),
            key: "k".into(),
        };
        let h = notice_headers(
            "posta-certificata@pec.x.it",
            &n,
            "id@x",
            pecd_signer::Moment::from_unix(0),
        );
        assert!(h.contains("Subject: =?UTF-8?B?"), "{h}");
        assert!(h.contains("To: a@x.it,\r\n b@y.it\r\n"), "{h}");
        assert!(h.contains("X-Pecd-Notice: expiry.week\r\n"), "{h}");
        assert!(h.ends_with("\r\n"));
    }
}
