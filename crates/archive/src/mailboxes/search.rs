//! Search (PROVISIONING.md §4 "Search"): by part of the address (over the keys of the
//! `casella` family, without reading the records), by master user id (exact, through the
//! `casella_userid` index), by activation date range (days in Italy, through the
//! `casella_activated` index); criteria combine as an intersection, the result is what the
//! operator's scope sees (never an error for scope), sorted by address and bounded by
//! [`MAX_RESULTS`]. [`csv`] makes the report: `;`-separated, a header row, UTF-8.

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

use crate::caselle::{BY_ACTIVATION, BY_USERID};
use crate::error::{ArchiveError, Result};
use crate::model::Casella;
use crate::records::{self, Record};
use crate::scope::Actor;
use crate::Archive;

/// Most rows one search returns; past it the result says it was truncated.
pub const MAX_RESULTS: usize = 100_000;

/// Above this many candidates the records are read in one scan rather than one by one.
const SCAN_ABOVE: usize = 256;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Part of the address, case-insensitive.
    #[serde(default)]
    pub address: Option<String>,
    /// A master user id, exact.
    #[serde(default)]
    pub userid: Option<String>,
    /// First activation day (YYYY-MM-DD, Italian time), included.
    #[serde(default)]
    pub activated_from: Option<String>,
    /// Last activation day, included.
    #[serde(default)]
    pub activated_to: Option<String>,
    /// At most this many rows (and never more than [`MAX_RESULTS`]).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One found mailbox (`mailbox search --json`: address, userid, state, type, activated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchRow {
    pub address: String,
    pub userid: Option<String>,
    /// As PROVISIONING.md spells it, pending transitions included.
    pub state: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Activation day in Italy (YYYY-MM-DD).
    pub activated: Option<String>,
    pub customer: Option<String>,
    pub account: Option<String>,
    pub expiry: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchResult {
    pub rows: Vec<SearchRow>,
    /// More mailboxes matched than were returned.
    pub truncated: bool,
}

/// The day in Italy of a Unix time.
pub fn rome_day(at: i64) -> Option<NaiveDate> {
    chrono_tz::Europe::Rome
        .timestamp_opt(at, 0)
        .single()
        .map(|t| t.date_naive())
}

/// A time as Italian reports write it: `dd/mm/yyyy HH:MM:SS` in Italy.
pub fn rome_day_time(at: i64) -> String {
    chrono_tz::Europe::Rome
        .timestamp_opt(at, 0)
        .single()
        .map(|t| t.format("%d/%m/%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The Unix time at which `day` begins in Italy.
pub fn rome_start(day: NaiveDate) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    chrono_tz::Europe::Rome
        .from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc().timestamp(), |t| t.timestamp())
}

impl SearchRow {
    pub fn of(c: &Casella) -> SearchRow {
        SearchRow {
            address: c.address.clone(),
            userid: c.userid.clone(),
            state: c.shown_state().to_string(),
            kind: c.kind.map(|k| k.name().to_string()),
            activated: c.activated_at.and_then(rome_day).map(|d| d.to_string()),
            customer: c.customer.clone(),
            account: c.account.clone(),
            expiry: c.expiry.map(|d| d.to_string()),
        }
    }
}

/// One CSV field: quoted when it holds the separator, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV report of `rows`.
pub fn csv(rows: &[SearchRow]) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 96);
    out.push_str("address;userid;state;type;activated;customer;account;expiry\r\n");
    for r in rows {
        let cells = [
            Some(r.address.as_str()),
            r.userid.as_deref(),
            Some(r.state.as_str()),
            r.kind.as_deref(),
            r.activated.as_deref(),
            r.customer.as_deref(),
            r.account.as_deref(),
            r.expiry.as_deref(),
        ];
        let line: Vec<String> = cells.iter().map(|c| field(c.unwrap_or(""))).collect();
        out.push_str(&line.join(";"));
        out.push_str("\r\n");
    }
    out
}

fn intersect(acc: Option<BTreeSet<String>>, next: BTreeSet<String>) -> Option<BTreeSet<String>> {
    Some(match acc {
        None => next,
        Some(a) => a.intersection(&next).cloned().collect(),
    })
}

impl Archive {
    /// The mailboxes matching `q` that `actor` sees.
    pub async fn search(&self, actor: &Actor, q: &SearchQuery) -> Result<SearchResult> {
        actor.check_has_customers()?;
        let from = q
            .activated_from
            .as_deref()
            .map(|d| super::ops::parse_date("--activated-from", d))
            .transpose()?;
        let to = q
            .activated_to
            .as_deref()
            .map(|d| super::ops::parse_date("--activated-to", d))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(ArchiveError::invalid(format!(
                    "--activated-from {f} è dopo --activated-to {t}"
                )));
            }
        }
        let limit = q.limit.unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS);
        let mut candidates: Option<BTreeSet<String>> = None;
        if let Some(part) = &q.address {
            let part = part.trim().to_ascii_lowercase();
            if part.is_empty() {
                return Err(ArchiveError::invalid(
                    "--address: indicare una parte dell'indirizzo",
                ));
            }
            let addresses = self.casella_addresses().await?;
            let found = addresses
                .iter()
                .filter(|a| memfind(a.as_bytes(), part.as_bytes()))
                .cloned()
                .collect();
            candidates = intersect(candidates, found);
        }
        if let Some(u) = &q.userid {
            let u = u.trim();
            let mut hit = self.store().record(BY_USERID, u.as_bytes()).await?;
            if hit.is_none() {
                let lower = u.to_ascii_lowercase();
                hit = self.store().record(BY_USERID, lower.as_bytes()).await?;
            }
            let found = hit
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .into_iter()
                .collect();
            candidates = intersect(candidates, found);
        }
        if from.is_some() || to.is_some() {
            let found = self.activated_between(from, to).await?;
            candidates = intersect(candidates, found);
        }
        let caselle = self.load_candidates(candidates).await?;
        let mut rows = Vec::new();
        let mut truncated = false;
        for c in caselle
            .iter()
            .filter(|c| actor.sees(c.customer.as_deref(), c.account.as_deref()))
        {
            if rows.len() == limit {
                truncated = true;
                break;
            }
            rows.push(SearchRow::of(c));
        }
        Ok(SearchResult { rows, truncated })
    }

    /// Addresses activated from the start of `from` to the end of `to` (Italian days).
    async fn activated_between(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<BTreeSet<String>> {
        let lo = from.map_or(i64::MIN, rome_start);
        let hi = to
            .and_then(|d| d.succ_opt())
            .map_or(i64::MAX, |d| rome_start(d) - 1);
        let (klo, khi) = (
            ((lo as u64) ^ (1 << 63)).to_be_bytes(),
            ((hi as u64) ^ (1 << 63)).to_be_bytes(),
        );
        let common = klo.iter().zip(&khi).take_while(|(a, b)| a == b).count();
        let keys = self
            .store()
            .record_keys(BY_ACTIVATION, &klo[..common])
            .await?;
        Ok(keys
            .into_iter()
            .filter(|k| k.len() > 8 && k[..8] >= klo[..] && k[..8] <= khi[..])
            .map(|k| String::from_utf8_lossy(&k[8..]).into_owned())
            .collect())
    }

    /// The caselle of `candidates` (every casella for `None`), in address order.
    async fn load_candidates(&self, candidates: Option<BTreeSet<String>>) -> Result<Vec<Casella>> {
        match candidates {
            Some(set) if set.len() <= SCAN_ABOVE => {
                let mut out = Vec::with_capacity(set.len());
                for a in set {
                    if let Some(c) = records::load::<Casella>(self.store(), a.as_bytes()).await? {
                        out.push(c);
                    }
                }
                Ok(out)
            }
            Some(set) => {
                let pairs = self
                    .store()
                    .scan_records(Casella::FAMILY, b"", usize::MAX)
                    .await?;
                pairs
                    .iter()
                    .filter(|(k, _)| set.contains(&*String::from_utf8_lossy(k)))
                    .map(|(_, v)| records::decode(Casella::FAMILY, v))
                    .collect()
            }
            None => records::load_all(self.store(), b"", usize::MAX).await,
        }
    }
}

/// Whether `needle` occurs in `hay`.
fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_would_break_a_row() {
        let row = SearchRow {
            address: "a@pec.localhost".into(),
            userid: Some("u1".into()),
            state: "in revoca".into(),
            kind: Some("standard".into()),
            activated: Some("2025-01-02".into()),
            customer: Some("C;1".into()),
            account: None,
            expiry: Some("2026-01-02".into()),
        };
        let text = csv(&[row]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "address;userid;state;type;activated;customer;account;expiry"
        );
        assert_eq!(
            lines[1],
            "a@pec.localhost;u1;in revoca;standard;2025-01-02;\"C;1\";;2026-01-02"
        );
    }

    #[test]
    fn days_are_italian_days() {
        // 2025-03-01 23:30 UTC is already 2 March in Rome.
        let t = chrono::NaiveDate::from_ymd_opt(2025, 3, 1)
            .unwrap()
            .and_hms_opt(23, 30, 0)
            .unwrap()
            .and_utc()
            .timestamp();
        assert_eq!(rome_day(t).unwrap().to_string(), "2025-03-02");
        let start = rome_start(NaiveDate::from_ymd_opt(2025, 3, 2).unwrap());
        assert!(start <= t && t - start < 3600);
    }
}
