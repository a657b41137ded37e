//! The lifecycle's commands (PROVISIONING.md §6, §7, §8): `jobs.run` (every scheduled job at
//! once), `expiry.config` / `expiry.list` (expiry management per customer and account),
//! `password.campaign` (the LIST1–4 report, or its CSV) and `password.block`, and
//! `mailbox.settings` (a holder's notifications, SMS and security archive, as an operator
//! sets them).

use pecd_archive::campaign::CampaignReport;
use pecd_archive::expiry::ExpirySet;
use pecd_archive::mailboxes::ops::parse_date;
use pecd_archive::settings::SettingsSet;
use pecd_archive::Actor;
use pecd_lifecycle::Lifecycle;
use serde::{Deserialize, Serialize};

use super::{json, refusal};
use crate::protocol::ControlError;

pub const COMMANDS: [&str; 6] = [
    "jobs.run",
    "expiry.config",
    "expiry.list",
    "password.campaign",
    "password.block",
    "mailbox.settings",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Command {
    #[serde(rename = "jobs.run")]
    JobsRun,
    #[serde(rename = "expiry.config")]
    ExpiryConfig {
        customer: String,
        account: String,
        enabled: bool,
        #[serde(default)]
        report: Option<String>,
        #[serde(default)]
        auto_revoke: Option<bool>,
    },
    #[serde(rename = "expiry.list")]
    ExpiryList,
    #[serde(rename = "password.campaign")]
    Campaign {
        #[serde(default)]
        account: Option<String>,
        /// Answer with the CSV instead of the rows.
        #[serde(default)]
        csv: bool,
    },
    #[serde(rename = "password.block")]
    Block { list: String, on: String },
    /// Shows the settings, or changes those given.
    #[serde(rename = "mailbox.settings")]
    Settings {
        address: String,
        #[serde(default)]
        notify: Option<Vec<String>>,
        #[serde(default)]
        sms: Option<bool>,
        #[serde(default)]
        sms_phone: Option<String>,
        #[serde(default)]
        sms_hour: Option<u8>,
        #[serde(default)]
        security_archive: Option<bool>,
        #[serde(default)]
        archive_kinds: Option<Vec<String>>,
    },
}

pub async fn dispatch(
    lifecycle: &Lifecycle,
    actor: &Actor,
    command: Command,
) -> Result<serde_json::Value, ControlError> {
    let archive = lifecycle.archive();
    match command {
        Command::JobsRun => {
            actor.check_admin("jobs run").map_err(refusal)?;
            let report = lifecycle.run_jobs().await.map_err(refusal)?;
            // The report shows the first passwords of the mailboxes it activated: once.
            archive
                .forget_reported_passwords(&report)
                .await
                .map_err(refusal)?;
            Ok(json(report))
        }
        Command::ExpiryConfig {
            customer,
            account,
            enabled,
            report,
            auto_revoke,
        } => {
            let set = ExpirySet {
                customer,
                account,
                enabled,
                report,
                auto_revoke,
            };
            Ok(json(
                archive
                    .set_expiry_config(actor, set)
                    .await
                    .map_err(refusal)?,
            ))
        }
        Command::ExpiryList => Ok(json(archive.expiry_configs(actor).await.map_err(refusal)?)),
        Command::Campaign { account, csv } => {
            let report: CampaignReport = archive
                .password_campaign(actor, account.as_deref())
                .await
                .map_err(refusal)?;
            Ok(if csv {
                serde_json::json!({ "csv": report.csv() })
            } else {
                json(report)
            })
        }
        Command::Block { list, on } => {
            let on = parse_date("--on", &on).map_err(refusal)?;
            let done = archive
                .password_block(actor, &list, on)
                .await
                .map_err(refusal)?;
            // The reminders go out at once, not at the next scheduled run.
            let mut report = pecd_archive::report::JobReport::default();
            if let Err(e) = lifecycle.send_campaign_reminders(&mut report).await {
                tracing::warn!(error = %e, "campaign reminders left for the next run");
            }
            Ok(json(done))
        }
        Command::Settings {
            address,
            notify,
            sms,
            sms_phone,
            sms_hour,
            security_archive,
            archive_kinds,
        } => {
            let set = SettingsSet {
                notify,
                sms,
                sms_phone,
                sms_hour,
                security_archive,
                archive_kinds,
            };
            let s = if set == SettingsSet::default() {
                archive.mailbox_settings(actor, &address).await
            } else {
                archive.set_mailbox_settings(actor, &address, set).await
            };
            Ok(json(s.map_err(refusal)?))
        }
    }
}
