//! `pecctl index`: the provider index in force (PEC.md §8).

use clap::Subcommand;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{ProviderView, Request};

use crate::output::{print, Done};

#[derive(Subcommand)]
pub enum IndexCommand {
    /// Every provider: name, mailReceipt, managed domains.
    List,
    /// One provider with its certificates.
    Show {
        /// Provider name, managed domain or certificate SHA-1.
        key: String,
    },
}

fn provider_text(p: &ProviderView, full: bool) -> String {
    let mut out = format!(
        "{}{}\n  mailReceipt: {}\n  domains: {}\n",
        p.name,
        if p.ours { " (ours)" } else { "" },
        p.mail_receipt,
        p.domains.join(", ")
    );
    if full {
        for c in &p.certificates {
            out.push_str(&format!(
                "  certificate {}\n    subject: {}\n    issuer: {}\n    valid: {} .. {}\n    e-mail: {}\n",
                c.sha1,
                c.subject,
                c.issuer,
                c.not_before,
                c.not_after,
                c.emails.join(", ")
            ));
        }
    }
    out
}

pub async fn index(
    client: &mut Client,
    json: bool,
    cmd: &IndexCommand,
) -> Result<Done, ClientError> {
    match cmd {
        IndexCommand::List => {
            let list: Vec<ProviderView> = client.call(&Request::IndexList).await?;
            print(json, &list, |l| {
                l.iter().map(|p| provider_text(p, false)).collect()
            });
        }
        IndexCommand::Show { key } => {
            let p: ProviderView = client
                .call(&Request::IndexShow { key: key.clone() })
                .await?;
            print(json, &p, |p| provider_text(p, true));
        }
    }
    Ok(Done::Ok)
}
