//! Who is acting, and what they may see and change (PROVISIONING.md §2). Every operation
//! takes an [`Actor`] and checks the customer + account of each record it touches; out of
//! scope is a [`ErrorKind::Forbidden`] refusal, never a silently empty result.
//!
//! [`ErrorKind::Forbidden`]: crate::error::ErrorKind::Forbidden

use crate::error::{ArchiveError, Result};
use crate::model::{Operator, Profile};

/// User id the audit log gives the control socket's built-in administrator.
pub const BUILTIN_ADMIN: &str = "admin";

/// User id the audit log gives the job runner.
pub const JOB_RUNNER: &str = "jobs";

/// The one acting.
#[derive(Clone, Debug)]
pub enum Actor {
    /// The control socket without `--as`: an amministratore with every entitlement.
    Admin,
    /// The scheduled jobs (request processing, transitions): the whole archive.
    Jobs,
    Operator(Box<Operator>),
}

impl Actor {
    pub fn userid(&self) -> &str {
        match self {
            Actor::Admin => BUILTIN_ADMIN,
            Actor::Jobs => JOB_RUNNER,
            Actor::Operator(o) => &o.userid,
        }
    }

    pub fn profile(&self) -> Profile {
        match self {
            Actor::Admin | Actor::Jobs => Profile::Amministratore,
            Actor::Operator(o) => o.profile,
        }
    }

    /// amministratore (the built-in one included).
    pub fn is_admin(&self) -> bool {
        self.profile() == Profile::Amministratore
    }

    /// amministratore or LMXADM: the profiles that work on any customer in their scope.
    pub fn is_admin_like(&self) -> bool {
        matches!(self.profile(), Profile::Amministratore | Profile::Lmxadm)
    }

    pub fn may_choose_type(&self) -> bool {
        match self {
            Actor::Admin | Actor::Jobs => true,
            Actor::Operator(o) => o.may_choose_type,
        }
    }

    pub fn may_manage_massive(&self) -> bool {
        match self {
            Actor::Admin | Actor::Jobs => true,
            Actor::Operator(o) => o.may_manage_massive,
        }
    }

    /// Whether a record of `customer` + `account` is in scope. A record with no customer (an
    /// incomplete mailbox, a domain of `provider.domains`) is visible to every profile but
    /// changeable only by administrators ([`Actor::check_change`]).
    pub fn sees(&self, customer: Option<&str>, account: Option<&str>) -> bool {
        let Actor::Operator(o) = self else {
            return true;
        };
        match o.profile {
            Profile::Amministratore => true,
            Profile::Lmxadm => {
                let cli = o.cli_pattern.as_deref();
                let acc = o.acc_pattern.as_deref();
                matches!((cli, customer), (Some(p), Some(c)) if like(p, c))
                    || matches!((acc, account), (Some(p), Some(a)) if like(p, a))
            }
            Profile::Cliente => customer.is_none() || customer == o.customer.as_deref(),
            Profile::Intermediario => {
                customer.is_none()
                    || (customer == o.customer.as_deref() && account == o.account.as_deref())
            }
        }
    }

    /// Refuses an operator that has no customer at all: an LMXADM without patterns, with
    /// the manual's text (PROVISIONING.md §2).
    pub fn check_has_customers(&self) -> Result<()> {
        if let Actor::Operator(o) = self {
            if o.profile == Profile::Lmxadm && o.cli_pattern.is_none() && o.acc_pattern.is_none() {
                return Err(ArchiveError::forbidden(format!(
                    "[!] Attenzione: Non esistono clienti associati allo userid: {} {} {}",
                    o.userid, o.surname, o.first_name
                )));
            }
        }
        Ok(())
    }

    /// Refuses a record of `customer` + `account` outside the scope.
    pub fn check_scope(&self, customer: Option<&str>, account: Option<&str>) -> Result<()> {
        self.check_has_customers()?;
        if self.sees(customer, account) {
            return Ok(());
        }
        Err(ArchiveError::forbidden(format!(
            "[!] Attenzione: operazione non consentita: cliente {} / account {} fuori \
             dall'ambito dello userid {}",
            customer.unwrap_or("-"),
            account.unwrap_or("-"),
            self.userid()
        )))
    }

    /// Refuses a change of a record of `customer` + `account`: out of scope, or (for an
    /// incomplete record, one with no customer) not an administrator.
    pub fn check_change(&self, customer: Option<&str>, account: Option<&str>) -> Result<()> {
        self.check_scope(customer, account)?;
        if customer.is_none() && !self.is_admin_like() {
            return Err(ArchiveError::forbidden(
                "[!] Attenzione: solo un amministratore può modificare dati senza contratto",
            ));
        }
        Ok(())
    }

    /// Refuses what only an amministratore may do.
    pub fn check_admin(&self, what: &str) -> Result<()> {
        if self.is_admin() {
            return Ok(());
        }
        Err(ArchiveError::forbidden(format!(
            "[!] Attenzione: {what}: operazione riservata agli amministratori (userid {}, \
             profilo {})",
            self.userid(),
            self.profile().name()
        )))
    }
}

/// SQL `LIKE` with `%` (any run of characters, also empty) and `_` (one character),
/// ASCII case-insensitive, iterative (a pattern of many `%` cannot make it slow).
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(profile: Profile) -> Operator {
        Operator {
            userid: "op1".into(),
            surname: "Rossi".into(),
            first_name: "Anna".into(),
            profile,
            customer: Some("111".into()),
            account: Some("A1".into()),
            cli_pattern: None,
            acc_pattern: None,
            may_choose_type: false,
            may_manage_massive: false,
            password_hash: String::new(),
            password_changed_at: 0,
            created_at: 0,
        }
    }

    #[test]
    fn like_patterns_of_the_manual() {
        assert!(like("111%", "1119"));
        assert!(like("%111", "9111"));
        assert!(like("%111%", "91119"));
        assert!(!like("111%", "9111"));
        assert!(!like("%111", "1119"));
        assert!(like("%", ""));
        assert!(like("a_c", "ABC"));
        assert!(!like("abc", "abcd"));
        assert!(like(&"%".repeat(5000), "x"));
        assert!(!like(&"%a".repeat(200), &"a".repeat(150)));
    }

    #[test]
    fn lmxadm_sees_customers_or_accounts_matching_either_pattern() {
        let mut o = operator(Profile::Lmxadm);
        o.cli_pattern = Some("111%".into());
        o.acc_pattern = Some("%ZZ".into());
        let a = Actor::Operator(Box::new(o));
        assert!(a.sees(Some("1112"), Some("X")));
        assert!(a.sees(Some("999"), Some("AZZ")));
        assert!(!a.sees(Some("999"), Some("X")));
        assert!(a.check_scope(Some("999"), Some("X")).is_err());
    }

    #[test]
    fn lmxadm_without_patterns_is_told_it_has_no_customers() {
        let a = Actor::Operator(Box::new(operator(Profile::Lmxadm)));
        let e = a.check_scope(Some("111"), Some("A1")).unwrap_err();
        assert_eq!(
            e.message,
            "[!] Attenzione: Non esistono clienti associati allo userid: op1 Rossi Anna"
        );
    }

    #[test]
    fn cliente_sees_every_account_of_its_customer_intermediario_only_its_own() {
        let c = Actor::Operator(Box::new(operator(Profile::Cliente)));
        assert!(c.sees(Some("111"), Some("A2")));
        assert!(!c.sees(Some("112"), Some("A1")));
        let i = Actor::Operator(Box::new(operator(Profile::Intermediario)));
        assert!(i.sees(Some("111"), Some("A1")));
        assert!(!i.sees(Some("111"), Some("A2")));
        assert!(
            i.check_change(None, None).is_err(),
            "incomplete records: admins only"
        );
        assert!(Actor::Admin.check_change(None, None).is_ok());
    }
}
