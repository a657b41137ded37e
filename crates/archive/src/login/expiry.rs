//! When a password is expired (PROVISIONING.md §7): a first password set by the system
//! (`password_changed_at` 0), a password older than 12 months, or one past an explicit expiry
//! set while it was in force (a campaign's block). Judged on the engine's clock, for master
//! and slave user ids alike and each on its own dates.

use super::principal::PrincipalInfo;

/// Passwords older than this are expired.
pub const PASSWORD_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

/// Whether the password changed at `changed_at` is expired at `now`, given the identity's
/// `info`.
pub fn password_expired(changed_at: i64, info: Option<&PrincipalInfo>, now: i64) -> bool {
    if changed_at == 0 || now - changed_at > PASSWORD_LIFETIME_SECONDS {
        return true;
    }
    let Some(info) = info else {
        return false;
    };
    match (info.password_expires_at, info.password_expiry_set_at) {
        (Some(at), set) => now >= at && set.is_none_or(|set| changed_at <= set),
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn block(at: i64, set: i64) -> PrincipalInfo {
        PrincipalInfo {
            password_expires_at: Some(at),
            password_expiry_set_at: Some(set),
            ..PrincipalInfo::default()
        }
    }

    #[test]
    fn a_system_set_first_password_is_expired() {
        assert!(password_expired(0, None, NOW));
    }

    #[test]
    fn a_password_older_than_12_months_is_expired_and_a_younger_one_is_not() {
        assert!(!password_expired(
            NOW - PASSWORD_LIFETIME_SECONDS,
            None,
            NOW
        ));
        assert!(password_expired(
            NOW - PASSWORD_LIFETIME_SECONDS - 1,
            None,
            NOW
        ));
        assert!(!password_expired(NOW - 3600, None, NOW));
    }

    #[test]
    fn an_explicit_expiry_applies_from_its_date_to_the_password_it_was_set_on() {
        let changed = NOW - 30 * 86400;
        let info = block(NOW + 60, NOW - 86400);
        assert!(!password_expired(changed, Some(&info), NOW), "not yet");
        assert!(password_expired(changed, Some(&info), NOW + 60));
        // A password changed after the block was set drops out of it.
        assert!(!password_expired(NOW - 3600, Some(&info), NOW + 60));
    }
}
