//! Revoked mailboxes (PROVISIONING.md §6 item 3 and the retention decision): the holder of a
//! mailbox revoked in the last week is told so, with the text of the reason, once per
//! revocation; `archive.revoked_retention_days` after its revocation a revoked mailbox's
//! messages are deleted (`Archive::purge_revoked`, in the audit log; 0 keeps them).

use pecd_archive::model::{Casella, CasellaState};
use pecd_archive::records;
use pecd_archive::report::JobReport;
use pecd_archive::ArchiveError;
use pecd_engine::NoticeSent;

use crate::{texts, Lifecycle};

const DAY: i64 = 86_400;

/// How long after a revocation its notice is still sent (a server stopped for days catches
/// up; an old revocation is not announced late).
const NOTICE_WINDOW: i64 = 7 * DAY;

impl Lifecycle {
    pub(crate) async fn retention(&self, report: &mut JobReport) -> Result<(), ArchiveError> {
        let now = self.archive.now();
        let days = i64::from(self.config.archive.revoked_retention_days);
        let revoked: Vec<Casella> =
            records::load_all::<Casella>(self.archive.store(), b"", usize::MAX)
                .await?
                .into_iter()
                .filter(|c| c.state == CasellaState::Revocata && c.pending.is_none())
                .collect();
        for c in revoked {
            let Some(at) = c.revoked_at else { continue };
            if now - at <= NOTICE_WINDOW {
                self.revocation_notice(&c, at, report).await;
            }
            if days > 0 && c.purged_at.is_none() && now - at >= days * DAY {
                match self.archive.purge_revoked(&c.address).await {
                    Ok(true) => report.did("mailbox.purge", &c.address, ""),
                    Ok(false) => {}
                    Err(e) => report.failed("mailbox.purge", &c.address, e.message),
                }
            }
        }
        Ok(())
    }

    /// The notices of the revocations just applied (the scheduler's short runs; the full
    /// run's scan catches any a crash left out).
    pub(crate) async fn revocation_notices(
        &self,
        addresses: &[String],
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        for a in addresses {
            let Some(c) = records::load::<Casella>(self.archive.store(), a.as_bytes()).await?
            else {
                continue;
            };
            if let (CasellaState::Revocata, Some(at)) = (c.state, c.revoked_at) {
                self.revocation_notice(&c, at, report).await;
            }
        }
        Ok(())
    }

    async fn revocation_notice(&self, c: &Casella, at: i64, report: &mut JobReport) {
        let mail = texts::revoked(&self.config, &c.address, c.revoke_reason);
        let key = format!("mailbox.revoked|{}|{at}", c.address);
        match self
            .send("mailbox.revoked", vec![c.address.clone()], mail, key)
            .await
        {
            Ok(NoticeSent::Sent) => report.did("mailbox.revoked-notice", &c.address, ""),
            Ok(_) => {}
            Err(e) => report.failed("mailbox.revoked-notice", &c.address, e),
        }
    }
}
