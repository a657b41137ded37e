//! Sending a password-recovery code (PROVISIONING.md §7) to the holder's recovery contact:
//! a signed notice to the recovery e-mail address (through the relay when it is elsewhere,
//! like any mail) and an SMS to the recovery mobile number through the SMS channel.

use pecd_archive::recovery::{CodeToSend, CODE_SECONDS};

use crate::sms::Sms;
use crate::{texts, Lifecycle};

impl Lifecycle {
    /// Sends `c.code` to every contact it has; an error names the channel that failed.
    pub async fn send_recovery_code(&self, c: &CodeToSend) -> Result<(), String> {
        let minutes = CODE_SECONDS / 60;
        let login = c
            .principal
            .userid
            .clone()
            .unwrap_or_else(|| c.principal.mailbox.address.clone());
        let key = c.id.clone();
        if let Some(email) = &c.email {
            let mail = texts::recovery(&self.config, &login, &c.code, minutes);
            self.send(
                "password.recovery",
                vec![email.clone()],
                mail,
                format!("recovery|{key}"),
            )
            .await?;
        }
        if let Some(mobile) = &c.mobile {
            let now = self.archive.now();
            let sms = Sms {
                id: format!("recovery-{key}"),
                to: mobile.clone(),
                text: texts::recovery_sms(&login, &c.code, minutes),
                mailbox: c.principal.mailbox.address.clone(),
                messages: 0,
                created: chrono::DateTime::from_timestamp(now, 0)
                    .unwrap_or_default()
                    .to_rfc3339(),
            };
            self.hand_over(&sms).await?;
        }
        Ok(())
    }
}
