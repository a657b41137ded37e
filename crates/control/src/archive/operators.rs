//! Operators, customers, accounts, domains and the audit log (PROVISIONING.md §2, §5).

use chrono::NaiveDate;
use pecd_archive::customers::NewAccount;
use pecd_archive::domains::DomainRequest;
use pecd_archive::model::{DomainFamily, Profile};
use pecd_archive::operators::NewOperator;
use pecd_archive::{audit::AuditQuery, Actor, Archive};
use serde::{Deserialize, Serialize};

use super::{json, refusal};
use crate::protocol::ControlError;

pub const COMMANDS: [&str; 13] = [
    "operator.create",
    "operator.list",
    "operator.show",
    "operator.delete",
    "customer.create",
    "customer.list",
    "account.create",
    "account.list",
    "domain.request",
    "domain.enable",
    "domain.list",
    "audit",
    "whoami",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Command {
    #[serde(rename = "operator.create")]
    OperatorCreate {
        userid: String,
        profile: Profile,
        surname: String,
        first_name: String,
        #[serde(default)]
        customer: Option<String>,
        #[serde(default)]
        account: Option<String>,
        #[serde(default)]
        cli_pattern: Option<String>,
        #[serde(default)]
        acc_pattern: Option<String>,
        #[serde(default)]
        may_choose_type: bool,
        #[serde(default)]
        may_manage_massive: bool,
        password: String,
    },
    #[serde(rename = "operator.list")]
    OperatorList,
    #[serde(rename = "operator.show")]
    OperatorShow { userid: String },
    #[serde(rename = "operator.delete")]
    OperatorDelete { userid: String },
    #[serde(rename = "customer.create")]
    CustomerCreate { code: String, name: String },
    #[serde(rename = "customer.list")]
    CustomerList,
    #[serde(rename = "account.create")]
    AccountCreate {
        code: String,
        customer: String,
        description: String,
        #[serde(default)]
        userid_prefix: Option<String>,
    },
    #[serde(rename = "account.list")]
    AccountList {
        #[serde(default)]
        customer: Option<String>,
    },
    #[serde(rename = "domain.request")]
    DomainRequest {
        name: String,
        family: DomainFamily,
        #[serde(default)]
        order: Option<String>,
        #[serde(default)]
        customer: Option<String>,
        #[serde(default)]
        account: Option<String>,
    },
    #[serde(rename = "domain.enable")]
    DomainEnable { name: String },
    #[serde(rename = "domain.list")]
    DomainList,
    /// The audit log, oldest first.
    #[serde(rename = "audit")]
    Audit {
        #[serde(default)]
        since: Option<NaiveDate>,
        #[serde(default)]
        operator: Option<String>,
        #[serde(default)]
        target: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// The acting operator (or the built-in administrator).
    #[serde(rename = "whoami")]
    Whoami,
}

/// `whoami`'s result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {
    pub userid: String,
    pub profile: Profile,
}

pub async fn dispatch(
    archive: &Archive,
    actor: &Actor,
    command: Command,
) -> Result<serde_json::Value, ControlError> {
    let a = archive;
    let result = match command {
        Command::OperatorCreate {
            userid,
            profile,
            surname,
            first_name,
            customer,
            account,
            cli_pattern,
            acc_pattern,
            may_choose_type,
            may_manage_massive,
            password,
        } => a
            .create_operator(
                actor,
                NewOperator {
                    userid,
                    profile,
                    surname,
                    first_name,
                    customer,
                    account,
                    cli_pattern,
                    acc_pattern,
                    may_choose_type,
                    may_manage_massive,
                    password,
                },
            )
            .await
            .map(json),
        Command::OperatorList => a.list_operators(actor).await.map(json),
        Command::OperatorShow { userid } => a.show_operator(actor, &userid).await.map(json),
        Command::OperatorDelete { userid } => a.delete_operator(actor, &userid).await.map(json),
        Command::CustomerCreate { code, name } => {
            a.create_customer(actor, &code, &name).await.map(json)
        }
        Command::CustomerList => a.list_customers(actor).await.map(json),
        Command::AccountCreate {
            code,
            customer,
            description,
            userid_prefix,
        } => a
            .create_account(
                actor,
                NewAccount {
                    code,
                    customer,
                    description,
                    userid_prefix,
                },
            )
            .await
            .map(json),
        Command::AccountList { customer } => {
            a.list_accounts(actor, customer.as_deref()).await.map(json)
        }
        Command::DomainRequest {
            name,
            family,
            order,
            customer,
            account,
        } => a
            .request_domain(
                actor,
                DomainRequest {
                    name,
                    family,
                    order,
                    customer,
                    account,
                },
            )
            .await
            .map(json),
        Command::DomainEnable { name } => a.enable_domain(actor, &name).await.map(json),
        Command::DomainList => a.list_domains(actor).await.map(json),
        Command::Audit {
            since,
            operator,
            target,
            limit,
        } => a
            .audit(
                actor,
                &AuditQuery {
                    since,
                    operator,
                    target,
                    limit,
                },
            )
            .await
            .map(json),
        Command::Whoami => Ok(json(Whoami {
            userid: actor.userid().to_string(),
            profile: actor.profile(),
        })),
    };
    result.map_err(refusal)
}
