//! Password policy (PROVISIONING.md §7) and argon2id hashing.
//!
//! Hashing and verifying are deliberately slow: callers on async threads must run them with
//! `spawn_blocking`.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// One rule of the policy that a candidate password does not meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyViolation {
    TooShort,
    NoUppercase,
    NoLowercase,
    NoDigit,
    NoSpecial,
    RepeatedCharacters,
}

impl PolicyViolation {
    /// Every rule, in the order the policy lists them.
    pub const ALL: [PolicyViolation; 6] = [
        PolicyViolation::TooShort,
        PolicyViolation::NoUppercase,
        PolicyViolation::NoLowercase,
        PolicyViolation::NoDigit,
        PolicyViolation::NoSpecial,
        PolicyViolation::RepeatedCharacters,
    ];

    /// The rule as the holders' pages state it (Italian).
    pub fn regola(self) -> &'static str {
        match self {
            PolicyViolation::TooShort => "almeno 8 caratteri",
            PolicyViolation::NoUppercase => "almeno una lettera maiuscola",
            PolicyViolation::NoLowercase => "almeno una lettera minuscola",
            PolicyViolation::NoDigit => "almeno una cifra",
            PolicyViolation::NoSpecial => "almeno un carattere speciale (per esempio ! ? - _ @)",
            PolicyViolation::RepeatedCharacters => {
                "nessun carattere ripetuto più di due volte di seguito"
            }
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            PolicyViolation::TooShort => "at least 8 characters",
            PolicyViolation::NoUppercase => "at least one upper-case letter",
            PolicyViolation::NoLowercase => "at least one lower-case letter",
            PolicyViolation::NoDigit => "at least one digit",
            PolicyViolation::NoSpecial => "at least one special character",
            PolicyViolation::RepeatedCharacters => "no character repeated more than twice in a row",
        }
    }
}

pub const MIN_LENGTH: usize = 8;

/// Checks every rule and returns all the ones not met, so a refusal can list them at once.
pub fn check_policy(password: &str) -> Result<(), Vec<PolicyViolation>> {
    let mut violations = Vec::new();
    if password.chars().count() < MIN_LENGTH {
        violations.push(PolicyViolation::TooShort);
    }
    if !password.chars().any(char::is_uppercase) {
        violations.push(PolicyViolation::NoUppercase);
    }
    if !password.chars().any(char::is_lowercase) {
        violations.push(PolicyViolation::NoLowercase);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        violations.push(PolicyViolation::NoDigit);
    }
    if !password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        violations.push(PolicyViolation::NoSpecial);
    }
    if has_run_longer_than(password, 2) {
        violations.push(PolicyViolation::RepeatedCharacters);
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

fn has_run_longer_than(s: &str, max: usize) -> bool {
    let mut run = 0;
    let mut prev = None;
    for c in s.chars() {
        run = if prev == Some(c) { run + 1 } else { 1 };
        if run > max {
            return true;
        }
        prev = Some(c);
    }
    false
}

/// Hashes a password with argon2id and a fresh random salt into a PHC string.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters and a generated salt cannot fail")
        .to_string()
}

/// Verifies a password against a PHC string; a malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PolicyViolation::*;

    #[test]
    fn strong_password_passes() {
        assert_eq!(check_policy("Pec-Strong9"), Ok(()));
        assert_eq!(check_policy("aaBB11!!x"), Ok(()));
    }

    #[test]
    fn refusal_lists_every_rule_not_met() {
        assert_eq!(
            check_policy("aaa"),
            Err(vec![
                TooShort,
                NoUppercase,
                NoDigit,
                NoSpecial,
                RepeatedCharacters
            ])
        );
        assert_eq!(
            check_policy("password"),
            Err(vec![NoUppercase, NoDigit, NoSpecial])
        );
        assert_eq!(check_policy("Passsword1!"), Err(vec![RepeatedCharacters]));
        assert_eq!(
            check_policy(""),
            Err(vec![TooShort, NoUppercase, NoLowercase, NoDigit, NoSpecial])
        );
    }

    #[test]
    fn hash_verifies_only_the_right_password() {
        let phc = hash("Pec-Strong9");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("Pec-Strong9", &phc));
        assert!(!verify("Pec-Strong8", &phc));
        assert!(!verify("Pec-Strong9", "not a hash"));
    }
}
