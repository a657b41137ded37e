//! `pecctl expiry config | list`, `pecctl password campaign | block` and `pecctl mailbox
//! settings`: expiry management, the password campaign and holders' notification settings
//! (PROVISIONING.md §6, §7, §8).

use clap::Subcommand;
use pecd_archive::campaign::{BlockResult, CampaignReport};
use pecd_archive::expiry::ExpiryConfig;
use pecd_archive::settings::MailboxSettings;
use pecd_control::archive::lifecycle::Command as Call;
use pecd_control::client::{Client, ClientError};

use crate::mailbox::archive::on_off;
use crate::output::{print, Done};

#[derive(Subcommand)]
pub enum ExpiryCommand {
    /// Turn expiry management of a customer's account on or off.
    Config {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        account: String,
        #[arg(value_parser = on_off, value_name = "on|off", action = clap::ArgAction::Set)]
        enabled: bool,
        /// Report addresses separated by `;`.
        #[arg(long, value_name = "\"a@x;b@y\"")]
        report: Option<String>,
        /// Revoke at expiry (after a notice a week before) instead of renewing tacitly.
        #[arg(long, value_parser = yes_no, value_name = "yes|no")]
        auto_revoke: Option<bool>,
    },
    /// The expiry management settings in scope.
    List,
}

#[derive(Subcommand)]
pub enum PasswordCommand {
    /// User ids whose password is older than 12 months, by last access (LIST1..LIST4).
    Campaign {
        #[arg(long)]
        account: Option<String>,
        /// The `;`-separated CSV report.
        #[arg(long)]
        csv: bool,
    },
    /// Remind the mailboxes of a list now and expire its passwords from DATE, over a week.
    Block {
        #[arg(long, value_name = "LIST1|LIST2|LIST3|LIST4")]
        list: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        on: String,
    },
}

pub fn yes_no(s: &str) -> Result<bool, String> {
    match s {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("{s:?}: expected yes or no")),
    }
}

fn config_line(c: &ExpiryConfig) -> String {
    format!(
        "{}\t{}\t{}\treport {}\trevoca automatica {}\n",
        c.customer,
        c.account,
        if c.enabled { "on" } else { "off" },
        if c.report.is_empty() {
            "-".to_string()
        } else {
            c.report.join(";")
        },
        if c.auto_revoke { "sì" } else { "no" }
    )
}

pub async fn expiry(
    client: &mut Client,
    json: bool,
    cmd: &ExpiryCommand,
) -> Result<Done, ClientError> {
    match cmd {
        ExpiryCommand::Config {
            customer,
            account,
            enabled,
            report,
            auto_revoke,
        } => {
            let c: ExpiryConfig = client
                .call(&Call::ExpiryConfig {
                    customer: customer.clone(),
                    account: account.clone(),
                    enabled: *enabled,
                    report: report.clone(),
                    auto_revoke: *auto_revoke,
                })
                .await?;
            print(json, &c, config_line);
        }
        ExpiryCommand::List => {
            let list: Vec<ExpiryConfig> = client.call(&Call::ExpiryList).await?;
            print(json, &list, |l| l.iter().map(config_line).collect());
        }
    }
    Ok(Done::Ok)
}

pub async fn password(
    client: &mut Client,
    json: bool,
    cmd: &PasswordCommand,
) -> Result<Done, ClientError> {
    match cmd {
        PasswordCommand::Campaign { account, csv } => {
            let call = Call::Campaign {
                account: account.clone(),
                csv: *csv,
            };
            if *csv {
                let v: serde_json::Value = client.call(&call).await?;
                print!("{}", v["csv"].as_str().unwrap_or_default());
                return Ok(Done::Ok);
            }
            let r: CampaignReport = client.call(&call).await?;
            print(json, &r, |r| {
                let mut out = String::new();
                for row in &r.rows {
                    out.push_str(&format!(
                        "{}\t{}\t{}\tslave {}\tmaster {}\t{}/{}\n",
                        row.list,
                        row.user,
                        row.casella,
                        if row.slaves.is_empty() {
                            "-".to_string()
                        } else {
                            row.slaves.join(",")
                        },
                        if row.master { "SI" } else { "NO" },
                        row.customer,
                        row.account
                    ));
                }
                out.push_str(&format!("{} righe al {}\n", r.rows.len(), r.at));
                out
            });
        }
        PasswordCommand::Block { list, on } => {
            let r: BlockResult = client
                .call(&Call::Block {
                    list: list.clone(),
                    on: on.clone(),
                })
                .await?;
            print(json, &r, |r| {
                format!(
                    "campagna {}: {} dal {}, {} user id in {} caselle avvisate\n",
                    r.campaign, r.list, r.block_on, r.userids, r.caselle
                )
            });
        }
    }
    Ok(Done::Ok)
}

/// What `pecctl mailbox settings` changes (nothing: it shows them).
pub struct SettingsArgs<'a> {
    pub address: &'a str,
    pub notify: Option<&'a str>,
    pub sms: Option<bool>,
    pub sms_phone: Option<&'a str>,
    pub sms_hour: Option<u8>,
    pub security_archive: Option<bool>,
    pub archive_kinds: Option<&'a str>,
}

fn list(text: &str, sep: char) -> Vec<String> {
    text.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn settings(
    client: &mut Client,
    json: bool,
    a: SettingsArgs<'_>,
) -> Result<Done, ClientError> {
    let s: MailboxSettings = client
        .call(&Call::Settings {
            address: a.address.to_string(),
            notify: a.notify.map(|n| list(n, ';')),
            sms: a.sms,
            sms_phone: a.sms_phone.map(str::to_string),
            sms_hour: a.sms_hour,
            security_archive: a.security_archive,
            archive_kinds: a.archive_kinds.map(|k| list(k, ',')),
        })
        .await?;
    print(json, &s, |s| {
        format!(
            "address: {}\nnotifiche: {}\nsms: {}{}\narchivio di sicurezza: {}{}\n",
            s.address,
            if s.notify.is_empty() {
                "-".to_string()
            } else {
                s.notify.join(";")
            },
            if s.sms { "on" } else { "off" },
            s.sms_phone
                .as_ref()
                .map_or(String::new(), |p| format!(" ({p}, ore {})", s.sms_hour)),
            if s.security_archive { "on" } else { "off" },
            if s.archive_kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", s.archive_kinds.join(","))
            }
        )
    });
    Ok(Done::Ok)
}
