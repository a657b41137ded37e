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

    /// The INBOX of `state`'s mailbox past the UID `after` picks from the state. On first
    /// sight, or when its UIDVALIDITY changed, the state starts at the INBOX's current end:
    /// what was there before is not announced as new. `None` when the mailbox cannot receive,
    /// or (with `skip_unchanged`) when nothing changed in the INBOX since the last look.
    pub(crate) async fn inbox_for(
        &self,
        state: &mut NotifyState,
        after: impl Fn(&NotifyState) -> Uid,
        skip_unchanged: bool,
    ) -> Result<Option<Inbox>, ArchiveError> {
        let store = self.archive.store();
        let Some(m) = store.find_mailbox(&state.address).await? else {
            return Ok(None);
        };
        if m.state != MailboxState::Active {
            return Ok(None);
        }
        let Some(folder) = store.folder(m.id, "INBOX").await? else {
            return Ok(None);
        };
        if folder.uidvalidity != state.uidvalidity {
            state.restart(folder.uidvalidity);
            let end = folder.uidnext.saturating_sub(1);
            state.notified_uid = end;
            state.sms_uid = end;
        } else if skip_unchanged && folder.highestmodseq == state.inbox_modseq {
            return Ok(None);
        }
        state.inbox_modseq = folder.highestmodseq;
        let after = after(state);
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
        Ok(Some(Inbox {
            metas,
            certified_new,
            highest,
        }))
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
        // Nothing to read when the INBOX did not change and nothing waits for a notice.
        let skip = state.waiting.is_empty() || state.notified_today >= NOTICES_PER_DAY;
        let Some(inbox) = self.inbox_for(&mut state, |s| s.notified_uid, skip).await? else {
            return self.save(state).await;
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

    /// §8 (beyond the sources): a notice when a mailbox passes 90 % of its quota and when it
    /// is full, once per crossing (the level noticed is kept in `full_notice` until the
    /// mailbox drops below 90 %), at most one a day.
    async fn full_mailboxes(
        &self,
        today: NaiveDate,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let store = self.archive.store();
        let noticed: std::collections::HashMap<String, u8> = store
            .scan_records(FULL_NOTICE, b"", usize::MAX)
            .await?
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    v.first().copied().unwrap_or(0),
                )
            })
            .collect();
        for m in store.list_mailboxes().await? {
            let level = full_level(m.used_bytes, m.quota_bytes);
            let before = noticed.get(&m.address).copied().unwrap_or(0);
            if level == 0 && before > 0 {
                let a = m.address.clone();
                self.archive
                    .transaction(move |tx| Ok(tx.delete(FULL_NOTICE, a.as_bytes())?))
                    .await?;
            }
            if level <= before
                || m.state != MailboxState::Active
                || m.address == self.config.provider.service_address
            {
                continue;
            }
            let mail = texts::mailbox_full(&self.config, &m.address, m.used_bytes, m.quota_bytes);
            let key = format!("mailbox.full|{}|{today}", m.address);
            match self
                .send("mailbox.full", vec![m.address.clone()], mail, key)
                .await
            {
                Ok(sent) => {
                    if sent == NoticeSent::Sent {
                        let pct = m.used_bytes.saturating_mul(100) / m.quota_bytes;
                        report.did("mailbox.full", &m.address, format!("{pct}%"));
                    }
                    let a = m.address.clone();
                    self.archive
                        .transaction(move |tx| {
                            Ok(tx.put(FULL_NOTICE, a.as_bytes(), vec![level])?)
                        })
                        .await?;
                }
                Err(e) => report.failed("mailbox.full", &m.address, e),
            }
        }
        Ok(())
    }
}

/// Mailboxes whose fullness was noticed: address -> the level (90 or 100).
pub const FULL_NOTICE: &str = "full_notice";

/// 100 when full, 90 past 90 % of the quota, else 0.
pub fn full_level(used: u64, quota: u64) -> u8 {
    if quota == 0 {
        0
    } else if used >= quota {
        100
    } else if used.saturating_mul(10) >= quota.saturating_mul(9) {
        90
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fullness_levels_at_90_and_100_percent() {
        assert_eq!(full_level(89, 100), 0);
        assert_eq!(full_level(90, 100), 90);
        assert_eq!(full_level(100, 100), 100);
        assert_eq!(full_level(5, 0), 0, "no quota, never full");
    }

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
