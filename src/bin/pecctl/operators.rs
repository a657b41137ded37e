//! `pecctl operator | customer | account | domain | audit | whoami`: who works on the archive
//! and on which customers (PROVISIONING.md §2, §5).

use clap::Subcommand;
use pecd_archive::model::{Account, AuditEntry, Customer, Domain, DomainFamily, Operator, Profile};
use pecd_control::archive::operators::{Command as Call, Whoami};
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{ControlError, ErrorCode};

use crate::output::{local, print, read_password, Done};

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Create an operator (amministratori only).
    Create {
        userid: String,
        #[arg(long, value_parser = clap::value_parser!(Profile))]
        profile: Profile,
        #[arg(long)]
        surname: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        account: Option<String>,
        /// LMXADM: customer codes it sees, SQL-like `%` (111%, %111, %111%).
        #[arg(long)]
        cli_pattern: Option<String>,
        /// LMXADM: account codes it sees, SQL-like `%`.
        #[arg(long)]
        acc_pattern: Option<String>,
        /// May choose the mailbox type (otherwise standard only).
        #[arg(long)]
        may_choose_type: bool,
        /// May manage massive mailboxes.
        #[arg(long)]
        may_manage_massive: bool,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Every operator (an operator that is not an amministratore sees itself).
    List,
    Show {
        userid: String,
    },
    Delete {
        userid: String,
    },
}

#[derive(Subcommand)]
pub enum CustomerCommand {
    Create {
        code: String,
        #[arg(long)]
        name: String,
    },
    /// Customers in the acting operator's scope.
    List,
}

#[derive(Subcommand)]
pub enum AccountCommand {
    Create {
        code: String,
        #[arg(long)]
        customer: String,
        #[arg(long)]
        description: String,
        /// User-id rule: user ids are this prefix and a sequence number. Without it the
        /// account cannot activate mailboxes.
        #[arg(long)]
        userid_prefix: Option<String>,
    },
    List {
        #[arg(long)]
        customer: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum DomainCommand {
    /// Request a sub-domain of one of the provider's two families (at most 60 characters).
    Request {
        name: String,
        #[arg(long, value_parser = clap::value_parser!(DomainFamily))]
        family: DomainFamily,
        #[arg(long)]
        order: Option<String>,
        /// Administrators: the customer and account the domain is for.
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        account: Option<String>,
    },
    /// Enable a requested domain: served at once (administrators).
    Enable { name: String },
    /// Domains the acting operator may use.
    List,
}

fn operator_text(o: &Operator) -> String {
    let mut scope = Vec::new();
    for (k, v) in [
        ("customer", &o.customer),
        ("account", &o.account),
        ("cli-pattern", &o.cli_pattern),
        ("acc-pattern", &o.acc_pattern),
    ] {
        if let Some(v) = v {
            scope.push(format!("{k} {v}"));
        }
    }
    if o.may_choose_type {
        scope.push("may choose type".into());
    }
    if o.may_manage_massive {
        scope.push("may manage massive".into());
    }
    format!(
        "{}\t{} {}\t{}\t{}\n",
        o.userid,
        o.surname,
        o.first_name,
        o.profile.name(),
        scope.join(", ")
    )
}

fn domain_text(d: &Domain) -> String {
    let family = match d.family {
        DomainFamily::Ordinary => "ordinary",
        DomainFamily::Pa => "pa",
    };
    let state = match d.state {
        pecd_archive::model::DomainState::Requested => "requested",
        pecd_archive::model::DomainState::Enabled => "enabled",
    };
    format!(
        "{}\t{family}\t{state}\t{}{}\n",
        d.name,
        match (&d.customer, &d.account) {
            (Some(c), Some(a)) => format!("cliente {c} account {a}"),
            (Some(c), None) => format!("cliente {c}"),
            _ => "tutti gli account".into(),
        },
        d.order
            .as_ref()
            .map(|o| format!(" ordine {o}"))
            .unwrap_or_default()
    )
}

pub async fn operator(
    client: &mut Client,
    json: bool,
    cmd: &OperatorCommand,
) -> Result<Done, ClientError> {
    match cmd {
        OperatorCommand::Create {
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
            ..
        } => {
            let password =
                read_password().map_err(|e| ControlError::new(ErrorCode::BadRequest, e))?;
            let o: Operator = client
                .call(&Call::OperatorCreate {
                    userid: userid.clone(),
                    profile: *profile,
                    surname: surname.clone(),
                    first_name: first_name.clone(),
                    customer: customer.clone(),
                    account: account.clone(),
                    cli_pattern: cli_pattern.clone(),
                    acc_pattern: acc_pattern.clone(),
                    may_choose_type: *may_choose_type,
                    may_manage_massive: *may_manage_massive,
                    password,
                })
                .await?;
            print(json, &o, |o| format!("created {}", operator_text(o)));
        }
        OperatorCommand::List => {
            let list: Vec<Operator> = client.call(&Call::OperatorList).await?;
            print(json, &list, |l| l.iter().map(operator_text).collect());
        }
        OperatorCommand::Show { userid } => {
            let o: Operator = client
                .call(&Call::OperatorShow {
                    userid: userid.clone(),
                })
                .await?;
            print(json, &o, operator_text);
        }
        OperatorCommand::Delete { userid } => {
            let o: Operator = client
                .call(&Call::OperatorDelete {
                    userid: userid.clone(),
                })
                .await?;
            print(json, &o, |o| format!("deleted {}", operator_text(o)));
        }
    }
    Ok(Done::Ok)
}

pub async fn customer(
    client: &mut Client,
    json: bool,
    cmd: &CustomerCommand,
) -> Result<Done, ClientError> {
    let text = |c: &Customer| format!("{}\t{}\n", c.code, c.name);
    match cmd {
        CustomerCommand::Create { code, name } => {
            let c: Customer = client
                .call(&Call::CustomerCreate {
                    code: code.clone(),
                    name: name.clone(),
                })
                .await?;
            print(json, &c, |c| format!("created {}", text(c)));
        }
        CustomerCommand::List => {
            let list: Vec<Customer> = client.call(&Call::CustomerList).await?;
            print(json, &list, |l| l.iter().map(text).collect());
        }
    }
    Ok(Done::Ok)
}

pub async fn account(
    client: &mut Client,
    json: bool,
    cmd: &AccountCommand,
) -> Result<Done, ClientError> {
    let text = |a: &Account| {
        format!(
            "{}\tcliente {}\t{}\t{}\n",
            a.code,
            a.customer,
            a.description,
            a.userid_prefix
                .as_ref()
                .map_or("nessuna regola userid".to_string(), |p| format!(
                    "userid {p}NNNNNNN"
                ))
        )
    };
    match cmd {
        AccountCommand::Create {
            code,
            customer,
            description,
            userid_prefix,
        } => {
            let a: Account = client
                .call(&Call::AccountCreate {
                    code: code.clone(),
                    customer: customer.clone(),
                    description: description.clone(),
                    userid_prefix: userid_prefix.clone(),
                })
                .await?;
            print(json, &a, |a| format!("created {}", text(a)));
        }
        AccountCommand::List { customer } => {
            let list: Vec<Account> = client
                .call(&Call::AccountList {
                    customer: customer.clone(),
                })
                .await?;
            print(json, &list, |l| l.iter().map(text).collect());
        }
    }
    Ok(Done::Ok)
}

pub async fn domain(
    client: &mut Client,
    json: bool,
    cmd: &DomainCommand,
) -> Result<Done, ClientError> {
    match cmd {
        DomainCommand::Request {
            name,
            family,
            order,
            customer,
            account,
        } => {
            let d: Domain = client
                .call(&Call::DomainRequest {
                    name: name.clone(),
                    family: *family,
                    order: order.clone(),
                    customer: customer.clone(),
                    account: account.clone(),
                })
                .await?;
            print(json, &d, |d| format!("requested {}", domain_text(d)));
        }
        DomainCommand::Enable { name } => {
            let d: Domain = client
                .call(&Call::DomainEnable { name: name.clone() })
                .await?;
            print(json, &d, |d| format!("enabled {}", domain_text(d)));
        }
        DomainCommand::List => {
            let list: Vec<Domain> = client.call(&Call::DomainList).await?;
            print(json, &list, |l| l.iter().map(domain_text).collect());
        }
    }
    Ok(Done::Ok)
}

pub async fn audit(
    client: &mut Client,
    json: bool,
    since: Option<chrono::NaiveDate>,
    operator: &Option<String>,
    target: &Option<String>,
) -> Result<Done, ClientError> {
    let list: Vec<AuditEntry> = client
        .call(&Call::Audit {
            since,
            operator: operator.clone(),
            target: target.clone(),
            limit: None,
        })
        .await?;
    print(json, &list, |l| {
        l.iter()
            .map(|e| {
                format!(
                    "{}  {:<12} {:<20} {}{}\n",
                    local(e.at),
                    e.operator,
                    e.action,
                    e.target,
                    if e.detail.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", e.detail)
                    }
                )
            })
            .collect()
    });
    Ok(Done::Ok)
}

pub async fn whoami(client: &mut Client, json: bool) -> Result<Done, ClientError> {
    let w: Whoami = client.call(&Call::Whoami).await?;
    print(json, &w, |w| {
        format!("{} ({})\n", w.userid, w.profile.name())
    });
    Ok(Done::Ok)
}

pub async fn jobs_run(client: &mut Client, json: bool) -> Result<Done, ClientError> {
    let r: pecd_archive::jobs::JobReport = client
        .call(&pecd_control::archive::lifecycle::Command::JobsRun)
        .await?;
    print(json, &r, |r| {
        let mut out = String::new();
        for i in &r.done {
            out.push_str(&format!("{:<20} {}  {}\n", i.job, i.target, i.detail));
        }
        for i in &r.errors {
            out.push_str(&format!(
                "{:<20} {}  FAILED: {}\n",
                i.job, i.target, i.detail
            ));
        }
        if out.is_empty() {
            out.push_str("nothing due\n");
        }
        out
    });
    Ok(Done::Ok)
}
