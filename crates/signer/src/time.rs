//! The temporal reference of a transaction (PEC.md §10.6): one instant, shown in Italian legal
//! time (Europe/Rome, CET/CEST) with its offset.

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Europe::Rome;

/// One instant, taken once per processing step and used by every artefact of that step
/// (PEC.md §10.6: receipt, envelope, log lines carry the same instant). Second precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Moment(i64);

impl Moment {
    pub fn now() -> Moment {
        Moment(Utc::now().timestamp())
    }

    pub fn from_unix(secs: i64) -> Moment {
        Moment(secs)
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    fn rome(self) -> DateTime<chrono_tz::Tz> {
        let utc = Utc
            .timestamp_opt(self.0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        utc.with_timezone(&Rome)
    }

    /// daticert `giorno`: `dd/mm/yyyy` (PEC.md §7.2).
    pub fn giorno(self) -> String {
        self.rome().format("%d/%m/%Y").to_string()
    }

    /// daticert `ora`: `hh:mm:ss`, local time (PEC.md §7.2).
    pub fn ora(self) -> String {
        self.rome().format("%H:%M:%S").to_string()
    }

    /// daticert `zona`: `+hhmm` (PEC.md §7.2, §10.6): `+0100` in winter, `+0200` in summer.
    pub fn zona(self) -> String {
        let secs = self.rome().offset().fix().local_minus_utc();
        let sign = if secs < 0 { '-' } else { '+' };
        let m = secs.abs() / 60;
        format!("{sign}{:02}{:02}", m / 60, m % 60)
    }

    /// An RFC 5322 `Date:` value in Italian local time.
    pub fn rfc5322(self) -> String {
        self.rome().format("%a, %d %b %Y %H:%M:%S %z").to_string()
    }

    /// The form of the human-readable texts: `05/03/2026 alle 10:15:42 (+0100)` (PEC.md §4.2).
    pub fn text(self) -> String {
        format!("{} alle {} ({})", self.giorno(), self.ora(), self.zona())
    }

    /// `YYYYMMDDhhmmss` in local time, for identifiers.
    pub fn compact(self) -> String {
        self.rome().format("%Y%m%d%H%M%S").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winter_and_summer_offsets() {
        // 2026-03-05 09:15:42 UTC is 10:15:42 in Rome (CET).
        let winter = Moment::from_unix(1_772_702_142);
        assert_eq!(winter.giorno(), "05/03/2026");
        assert_eq!(winter.ora(), "10:15:42");
        assert_eq!(winter.zona(), "+0100");
        assert_eq!(winter.text(), "05/03/2026 alle 10:15:42 (+0100)");
        assert!(winter.rfc5322().ends_with("10:15:42 +0100"));
        // 2026-07-01 12:00:00 UTC is 14:00:00 in Rome (CEST).
        let summer = Moment::from_unix(1_782_907_200);
        assert_eq!(summer.ora(), "14:00:00");
        assert_eq!(summer.zona(), "+0200");
        assert_eq!(summer.compact(), "20260701140000");
    }
}
