//! New-mail and full-mailbox notices (PROVISIONING.md §8).
//!
//! New mail: a mailbox with notification addresses (at most five) gets a notice at those
//! addresses when unread certified messages (transport envelopes, `X-Trasporto:
//! posta-certificata`) arrived in its INBOX since the last notice, at most twice a day. The
//! INBOX is read from where the last run stopped ([`NotifyState`]), at most
//! [`MAX_EXAMINED`] new messages a run, one body at a time.
//!
//! Full mailbox: an active mailbox past 90 % of its quota, or full, gets a notice inside it,
//! at most once a day (senders get a mancata consegna when it is full).

use chrono::NaiveDate;
use pecd_archive::records;
use pecd_archive::report::JobReport;
use pecd_archive::settings::MailboxSettings;
use pecd_archive::ArchiveError;
use pecd_engine::NoticeSent;
use pecd_store::{Flags, MailboxState, MessageMeta, Uid};

use crate::state::NotifyState;
use crate::{texts, Lifecycle};

/// New-mail notifications a mailbox gets a day at most (§8).
pub const NOTICES_PER_DAY: u32 = 2;

/// New messages one run reads per mailbox at most; the rest wait for the next run.
pub const MAX_EXAMINED: usize = 500;

/// Certified messages waiting for a notice that one state remembers at most.
const MAX_WAITING: usize = 10_000;

/// Whether a message is a certified message for its recipient: a transport envelope.
pub fn is_certified(message: &[u8]) -> bool {
    pecd_signer::mime::header(message, "X-Trasporto")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("posta-certificata"))
}

/// The INBOX of a mailbox, what changed since `state`, and the certified messages among
/// the new ones.
pub(crate) struct Inbox {
    pub metas: Vec<MessageMeta>,
    pub certified_new: Vec<Uid>,
    pub highest: Uid,
}

impl Lifecycle {
    pub(crate) async fn notify(
        &self,
        report: &mut JobReport,
        full: bool,
    ) -> Result<(), ArchiveError> {
        let today = self.archive.today();
        for s in self.archive.all_settings().await? {
            if s.notify.is_empty() {
                continue;
            }
            if let Err(e) = self.new_mail(&s, today, report).await {
                report.failed("notify.mail", &s.address, e.message);
            }
        }
        if full {
            self.full_mailboxes(today, report).await?;
        }
        Ok(())
    }

    /// The INBOX of `state`'s mailbox past the UID `after` picks from the state; when its
    /// UIDVALIDITY changed (or on the first run) the state restarts and it is read from the
    /// start.
    pub(crate) async fn inbox_for(
        &self,
        state: &mut NotifyState,
        after: impl Fn(&NotifyState) -> Uid,
    ) -> Result<Option<Inbox>, ArchiveError> {
        let Some((validity, inbox)) = self.inbox(&state.address, after(state)).await? else {
            return Ok(None);
        };
        if validity == state.uidvalidity {
            return Ok(Some(inbox));
        }
        state.restart(validity);
        Ok(self.inbox(&state.address, 0).await?.map(|(_, i)| i))
    }

    /// Reads the INBOX of `address` past UID `after`: every message's metadata, and which
    /// new ones are certified.
    async fn inbox(&self, address: &str, after: Uid) -> Result<Option<(u32, Inbox)>, ArchiveError> {
        let store = self.archive.store();
        let Some(m) = store.find_mailbox(address).await? else {
            return Ok(None);
        };
        if m.state != MailboxState::Active {
            return Ok(None);
        }
        let Some(folder) = store.folder(m.id, "INBOX").await? else {
            return Ok(None);
        };
        let metas = store.messages(folder.id).await?;
        let mut certified_new = Vec::new();
        let mut highest = after;
        for meta in metas.iter().filter(|m| m.uid > after).take(MAX_EXAMINED) {
            highest = highest.max(meta.uid);
            // A body that cannot be read now is not certified for this run's purpose.
            if let Ok(body) = store.read_body(meta.clone()).await {
                if is_certified(&body) {
                    certified_new.push(meta.uid);
                }
            }
        }
        Ok(Some((
            folder.uidvalidity,
            Inbox {
                metas,
                certified_new,
                highest,
            },
        )))
    }

    async fn new_mail(
        &self,
        s: &MailboxSettings,
        today: NaiveDate,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let mut state = records::load::<NotifyState>(self.archive.store(), s.address.as_bytes())
            .await?
            .unwrap_or_else(|| NotifyState::new(&s.address));
        if state.day != Some(today) {
            state.day = Some(today);
            state.notified_today = 0;
        }
        let Some(inbox) = self.inbox_for(&mut state, |s| s.notified_uid).await? else {
            return Ok(());
        };
        state.notified_uid = inbox.highest;
        state.waiting.extend(inbox.certified_new);
        // Only what is still there and still unread counts.
        let unread: std::collections::HashSet<Uid> = inbox
            .metas
            .iter()
            .filter(|m| !m.flags.contains(Flags::SEEN) && !m.flags.contains(Flags::DELETED))
            .map(|m| m.uid)
            .collect();
        state.waiting.retain(|u| unread.contains(u));
        state.waiting.truncate(MAX_WAITING);
        if !state.waiting.is_empty() && state.notified_today < NOTICES_PER_DAY {
            let n = state.notified_today + 1;
            let mail = texts::new_mail(&self.config, &s.address, state.waiting.len());
            let key = format!("notify.mail|{}|{today}|{n}", s.address);
            match self.send("notify.mail", s.notify.clone(), mail, key).await {
                Ok(sent) => {
                    if sent == NoticeSent::Sent {
                        report.did(
                            "notify.mail",
                            &s.address,
                            format!("{} non letti", state.waiting.len()),
                        );
                    }
                    state.notified_today = n;
                    state.waiting.clear();
                }
                Err(e) => report.failed("notify.mail", &s.address, e),
            }
        }
        self.save(state).await
    }

    async fn save(&self, state: NotifyState) -> Result<(), ArchiveError> {
        self.archive
            .transaction(move |tx| records::put(tx, &state))
            .await
    }

    /// §8 (beyond the sources): the full-mailbox notice, once a day.
    async fn full_mailboxes(
        &self,
        today: NaiveDate,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        for m in self.archive.store().list_mailboxes().await? {
            let over = m.quota_bytes > 0
                && m.state == MailboxState::Active
                && m.used_bytes.saturating_mul(10) >= m.quota_bytes.saturating_mul(9);
            if !over || m.address == self.config.provider.service_address {
                continue;
            }
            let mail = texts::mailbox_full(&self.config, &m.address, m.used_bytes, m.quota_bytes);
            let key = format!("mailbox.full|{}|{today}", m.address);
            match self
                .send("mailbox.full", vec![m.address.clone()], mail, key)
                .await
            {
                Ok(NoticeSent::Sent) => {
                    let pct = m.used_bytes.saturating_mul(100) / m.quota_bytes;
                    report.did("mailbox.full", &m.address, format!("{pct}%"));
                }
                Ok(_) => {}
                Err(e) => report.failed("mailbox.full", &m.address, e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_envelopes_are_certified_messages() {
        assert!(is_certified(
            b"X-Trasporto: posta-certificata\r\nSubject: a\r\n\r\nb"
        ));
        assert!(!is_certified(b"X-Trasporto: errore\r\n\r\n"));
        assert!(!is_certified(b"X-Ricevuta: avvenuta-consegna\r\n\r\n"));
        assert!(!is_certified(
            b"Subject: ordinary\r\n\r\nX-Trasporto: posta-certificata"
        ));
    }
}
