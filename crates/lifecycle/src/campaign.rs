//! The password campaign's reminders (PROVISIONING.md §7): when `pecctl password block`
//! records a block, each mailbox of the list gets a reminder at once, naming its user ids and
//! the days their passwords stop working. Pending reminders are kept by the archive until sent.

use pecd_archive::report::JobReport;
use pecd_archive::ArchiveError;
use pecd_engine::NoticeSent;

use crate::{texts, Lifecycle};

impl Lifecycle {
    pub(crate) async fn campaign_reminders(
        &self,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        for (campaign, address) in self.archive.pending_reminders().await? {
            let userids = campaign
                .caselle
                .iter()
                .find(|(a, _)| *a == address)
                .map(|(_, u)| u.clone())
                .unwrap_or_default();
            let last = pecd_archive::campaign::spread(campaign.block_on, 6);
            let mail =
                texts::password_reminder(&self.config, &address, &userids, campaign.block_on, last);
            let key = format!("password.reminder|{}|{address}", campaign.id);
            match self
                .send("password.reminder", vec![address.clone()], mail, key)
                .await
            {
                Ok(sent) => {
                    self.archive.reminder_sent(campaign.id, &address).await?;
                    if sent == NoticeSent::Sent {
                        report.did("password.reminder", &address, campaign.list.clone());
                    }
                }
                Err(e) => report.failed("password.reminder", &address, e),
            }
        }
        Ok(())
    }
}
