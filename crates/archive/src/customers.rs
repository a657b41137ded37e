//! Customers and their reseller accounts (PROVISIONING.md §1, §2), and the account's user-id
//! naming rule: a prefix and a sequence number. An account without a rule refuses new
//! activations with the manual's text.

use pecd_store::RecordTx;
use serde::{Deserialize, Serialize};

use crate::caselle::BY_USERID;
use crate::error::{ArchiveError, Result};
use crate::model::{Account, Customer};
use crate::records::{self, pair_key};
use crate::scope::Actor;
use crate::{audit, check_code, check_text, Archive};

/// Index family of accounts by customer: customer ‖ 0 ‖ account -> ().
const ACCOUNT_BY_CUSTOMER: &str = "account_customer";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub code: String,
    pub customer: String,
    pub description: String,
    #[serde(default)]
    pub userid_prefix: Option<String>,
}

fn check_prefix(p: &str) -> Result<()> {
    if p.is_empty() || p.len() > 16 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ArchiveError::invalid(format!(
            "--userid-prefix {p:?}: da 1 a 16 lettere o cifre"
        )));
    }
    Ok(())
}

/// The §2 refusal of an account whose configuration cannot activate mailboxes.
pub fn account_misconfigured(contact: &str) -> ArchiveError {
    ArchiveError::conflict(format!(
        "[!] Attenzione: ci sono problemi nella configurazione del suo account. Non è \
         possibile effettuare nuove attivazioni. Contatti il suo referente ({contact})"
    ))
}

/// Gives the next master user id of `account` by its rule, inside the transaction that
/// creates the mailbox: the prefix (lower case) and a seven-digit sequence, skipping numbers
/// already in use.
pub fn assign_userid(tx: &mut dyn RecordTx, account: &str, contact: &str) -> Result<String> {
    let Some(mut acc) = records::get::<Account>(tx, account.as_bytes())? else {
        return Err(ArchiveError::not_found(format!(
            "account inesistente: {account}"
        )));
    };
    let Some(prefix) = acc.userid_prefix.clone() else {
        return Err(account_misconfigured(contact));
    };
    loop {
        acc.userids_assigned += 1;
        let userid = format!("{}{:07}", prefix.to_ascii_lowercase(), acc.userids_assigned);
        if tx.get(BY_USERID, userid.as_bytes())?.is_none()
            && tx.get("operator", userid.as_bytes())?.is_none()
        {
            records::put(tx, &acc)?;
            return Ok(userid);
        }
    }
}

impl Archive {
    pub async fn create_customer(&self, actor: &Actor, code: &str, name: &str) -> Result<Customer> {
        actor.check_admin("customer create")?;
        check_code("codice cliente", code)?;
        check_text("name", name, 200)?;
        let c = Customer {
            code: code.to_string(),
            name: name.trim().to_string(),
            created_at: self.now(),
        };
        let (stored, actor) = (c.clone(), actor.clone());
        self.transaction(move |tx| {
            if records::get::<Customer>(tx, stored.code.as_bytes())?.is_some() {
                return Err(ArchiveError::conflict(format!(
                    "cliente già esistente: {}",
                    stored.code
                )));
            }
            records::put(tx, &stored)?;
            audit::record(
                tx,
                &actor,
                stored.created_at,
                "customer.create",
                &stored.code,
                &stored.name,
            )
        })
        .await?;
        Ok(c)
    }

    /// Customers in the operator's scope: those it sees directly or through an account.
    pub async fn list_customers(&self, actor: &Actor) -> Result<Vec<Customer>> {
        actor.check_has_customers()?;
        let customers: Vec<Customer> = records::load_all(self.store(), b"", usize::MAX).await?;
        let accounts: Vec<Account> = records::load_all(self.store(), b"", usize::MAX).await?;
        Ok(customers
            .into_iter()
            .filter(|c| {
                actor.sees(Some(&c.code), None)
                    || accounts
                        .iter()
                        .any(|a| a.customer == c.code && actor.sees(Some(&c.code), Some(&a.code)))
            })
            .collect())
    }

    pub async fn create_account(&self, actor: &Actor, n: NewAccount) -> Result<Account> {
        actor.check_admin("account create")?;
        check_code("codice account", &n.code)?;
        check_code("codice cliente", &n.customer)?;
        check_text("description", &n.description, 200)?;
        if let Some(p) = &n.userid_prefix {
            check_prefix(p)?;
        }
        let a = Account {
            code: n.code,
            customer: n.customer,
            description: n.description.trim().to_string(),
            userid_prefix: n.userid_prefix,
            userids_assigned: 0,
            created_at: self.now(),
        };
        let (stored, actor) = (a.clone(), actor.clone());
        self.transaction(move |tx| {
            if records::get::<Customer>(tx, stored.customer.as_bytes())?.is_none() {
                return Err(ArchiveError::not_found(format!(
                    "cliente inesistente: {}",
                    stored.customer
                )));
            }
            if records::get::<Account>(tx, stored.code.as_bytes())?.is_some() {
                return Err(ArchiveError::conflict(format!(
                    "account già esistente: {}",
                    stored.code
                )));
            }
            records::put(tx, &stored)?;
            tx.put(
                ACCOUNT_BY_CUSTOMER,
                &pair_key(&stored.customer, stored.code.as_bytes()),
                Vec::new(),
            )?;
            let detail = format!("cliente {}", stored.customer);
            audit::record(
                tx,
                &actor,
                stored.created_at,
                "account.create",
                &stored.code,
                detail,
            )
        })
        .await?;
        Ok(a)
    }

    /// Accounts in the operator's scope, of one customer when given.
    pub async fn list_accounts(
        &self,
        actor: &Actor,
        customer: Option<&str>,
    ) -> Result<Vec<Account>> {
        actor.check_has_customers()?;
        if let Some(c) = customer {
            check_code("codice cliente", c)?;
            if records::load::<Customer>(self.store(), c.as_bytes())
                .await?
                .is_none()
            {
                return Err(ArchiveError::not_found(format!("cliente inesistente: {c}")));
            }
        }
        let all: Vec<Account> = records::load_all(self.store(), b"", usize::MAX).await?;
        Ok(all
            .into_iter()
            .filter(|a| customer.is_none_or(|c| a.customer == c))
            .filter(|a| actor.sees(Some(&a.customer), Some(&a.code)))
            .collect())
    }

    /// One account, checked against the operator's scope.
    pub async fn account(&self, actor: &Actor, code: &str) -> Result<Account> {
        check_code("codice account", code)?;
        let acc = records::load::<Account>(self.store(), code.as_bytes())
            .await?
            .ok_or_else(|| ArchiveError::not_found(format!("account inesistente: {code}")))?;
        actor.check_scope(Some(&acc.customer), Some(&acc.code))?;
        Ok(acc)
    }
}
