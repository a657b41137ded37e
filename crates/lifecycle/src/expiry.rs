//! Expiry management (PROVISIONING.md §6), for each account whose setting is on:
//!
//! 1. about three months before expiry (the expiry within three calendar months of today), a
//!    report to the report addresses listing the mailboxes not listed before for that expiry;
//! 2. with automatic revocation, from a week before, a notice into each mailbox;
//! 3. from the day after expiry, with automatic revocation, the revocation (reason contract
//!    expiry; the job runner applies it in the same run and [`crate::retention`] sends the
//!    holder the notice of the reason); without, tacit renewal by a year;
//! 4. the summary of revoked and renewed mailboxes to the report addresses.
//!
//! Every outcome of step 3 is first written as a [`SummaryLine`], then done; the summary lists
//! the lines whose outcome is visible and removes them after sending, so a run stopped
//! anywhere neither loses a line nor sends one twice (the notice keys catch a repeat).

use std::collections::HashMap;

use chrono::{Duration, Months, NaiveDate};
use pecd_archive::expiry::ExpiryConfig;
use pecd_archive::model::{Casella, CasellaState, RevokeReason, Transition};
use pecd_archive::records;
use pecd_archive::report::JobReport;
use pecd_archive::{Actor, ArchiveError};
use pecd_engine::NoticeSent;

use crate::notices::digest;
use crate::state::{mark_key, SummaryLine, REPORTED};
use crate::{texts, Lifecycle};

/// The expiry marks read at the start of a run: key -> value (the week notice's last day).
type Marks = HashMap<Vec<u8>, Vec<u8>>;

/// What step of §6 a casella is at today.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Within three months: to be reported (once per expiry).
    Report,
    /// Within a week, with automatic revocation: the notice (and the report if not yet).
    Week,
    /// Past its expiry: revoke or renew.
    Expired,
}

/// The step of a casella expiring on `expiry`, today.
pub fn due(expiry: NaiveDate, today: NaiveDate, auto_revoke: bool) -> Due {
    if today > expiry {
        return Due::Expired;
    }
    if auto_revoke && expiry - today <= Duration::days(7) {
        return Due::Week;
    }
    match today.checked_add_months(Months::new(3)) {
        Some(limit) if expiry <= limit => Due::Report,
        _ => Due::Nothing,
    }
}

impl Lifecycle {
    /// Runs §6 for every account whose expiry management is on.
    pub(crate) async fn expiry(&self, report: &mut JobReport) -> Result<(), ArchiveError> {
        let configs = self.archive.expiry_configs(&Actor::Jobs).await?;
        let enabled: HashMap<(&str, &str), &ExpiryConfig> = configs
            .iter()
            .filter(|c| c.enabled)
            .map(|c| ((c.customer.as_str(), c.account.as_str()), c))
            .collect();
        if enabled.is_empty() {
            return Ok(());
        }
        // One read of every casella and of the report marks, grouped by account: cheaper
        // than one read per casella of each account.
        let all = records::load_all::<Casella>(self.archive.store(), b"", usize::MAX).await?;
        let mut by_account: HashMap<(String, String), Vec<Casella>> = HashMap::new();
        for c in all {
            if c.state != CasellaState::Evasa || c.pending.is_some() || c.expiry.is_none() {
                continue;
            }
            let (Some(cu), Some(ac)) = (&c.customer, &c.account) else {
                continue;
            };
            if enabled.contains_key(&(cu.as_str(), ac.as_str())) {
                by_account
                    .entry((cu.clone(), ac.clone()))
                    .or_default()
                    .push(c);
            }
        }
        let reported: Marks = self
            .archive
            .store()
            .scan_records(REPORTED, b"", usize::MAX)
            .await?
            .into_iter()
            .collect();
        for cfg in enabled.values() {
            let caselle = by_account
                .remove(&(cfg.customer.clone(), cfg.account.clone()))
                .unwrap_or_default();
            if let Err(e) = self
                .expiry_of_account(cfg, &caselle, &reported, report)
                .await
            {
                report.failed("expiry", &cfg.account, e.message);
            }
        }
        Ok(())
    }

    async fn expiry_of_account(
        &self,
        cfg: &ExpiryConfig,
        caselle: &[Casella],
        reported: &Marks,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let today = self.archive.today();
        let mut to_report = Vec::new();
        for c in caselle {
            let Some(expiry) = c.expiry else { continue };
            let week = reported
                .get(&mark_key(&c.address, expiry, "week"))
                .and_then(|v| String::from_utf8_lossy(v).parse::<NaiveDate>().ok());
            match due(expiry, today, cfg.auto_revoke) {
                Due::Nothing => {}
                Due::Report => to_report.push(c),
                Due::Week => {
                    to_report.push(c);
                    if week.is_none() {
                        self.week_notice(c, expiry, expiry, report).await?;
                    }
                }
                Due::Expired if !cfg.auto_revoke => self.at_expiry(cfg, c, expiry, report).await?,
                Due::Expired => {
                    if reported.contains_key(&mark_key(&c.address, expiry, "revoked")) {
                        // Revoked at this expiry before and reactivated by an
                        // administrator since: not revoked again for the same date.
                        continue;
                    }
                    match week {
                        // Never warned (expiry management turned on late, a server
                        // stopped through the week): warned now, revoked a week on.
                        None => {
                            let last = today + Duration::days(6);
                            self.week_notice(c, expiry, last, report).await?;
                        }
                        Some(last) if today > last => {
                            self.at_expiry(cfg, c, expiry, report).await?
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        self.three_month_report(cfg, &to_report, reported, report)
            .await?;
        self.summary(cfg, report).await
    }

    /// §6 item 1: one report of the mailboxes not yet listed for their expiry.
    async fn three_month_report(
        &self,
        cfg: &ExpiryConfig,
        candidates: &[&Casella],
        reported: &Marks,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let mut listed = Vec::new();
        for c in candidates {
            let expiry = c.expiry.expect("filtered on an expiry");
            let key = mark_key(&c.address, expiry, "report");
            if !reported.contains_key(&key) {
                listed.push((
                    c.address.clone(),
                    expiry,
                    key,
                    c.userid.clone().unwrap_or_default(),
                ));
            }
        }
        if listed.is_empty() {
            return Ok(());
        }
        listed.sort();
        let lines: Vec<String> = listed
            .iter()
            .map(|(a, e, _, u)| texts::expiry_line(u, a, *e))
            .collect();
        let mail = texts::expiry_report(&self.config, &cfg.account, &lines, cfg.auto_revoke);
        let key = format!(
            "expiry.report|{}|{}",
            cfg.account,
            digest(&lines.join("\n"))
        );
        match self
            .send("expiry.report", cfg.report.clone(), mail, key)
            .await
        {
            Ok(_) => {
                let keys: Vec<Vec<u8>> = listed.iter().map(|l| l.2.clone()).collect();
                self.archive
                    .transaction(move |tx| {
                        for k in &keys {
                            tx.put(REPORTED, k, Vec::new())?;
                        }
                        Ok(())
                    })
                    .await?;
                report.did(
                    "expiry.report",
                    &cfg.account,
                    format!("{} caselle", lines.len()),
                );
            }
            Err(e) => report.failed("expiry.report", &cfg.account, e),
        }
        Ok(())
    }

    /// §6 item 2: the notice into the mailbox, once per expiry (the notice's key makes it
    /// once; the mark spares later runs from building it again).
    /// `last` is the last day of service the notice announces: the expiry, or a week from a
    /// late notice.
    async fn week_notice(
        &self,
        c: &Casella,
        expiry: NaiveDate,
        last: NaiveDate,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let mail = texts::expiry_week(&self.config, &c.address, last);
        let key = format!("expiry.week|{}|{expiry}", c.address);
        match self
            .send("expiry.week", vec![c.address.clone()], mail, key)
            .await
        {
            Ok(sent) => {
                if sent == NoticeSent::Sent {
                    report.did("expiry.week", &c.address, expiry.to_string());
                }
                let mark = mark_key(&c.address, expiry, "week");
                let value = last.to_string().into_bytes();
                self.archive
                    .transaction(move |tx| Ok(tx.put(REPORTED, &mark, value)?))
                    .await?;
            }
            Err(e) => report.failed("expiry.week", &c.address, e),
        }
        Ok(())
    }

    /// §6 items 3 and 4 for one casella: the summary line first, then the revocation or the
    /// renewal.
    async fn at_expiry(
        &self,
        cfg: &ExpiryConfig,
        c: &Casella,
        expiry: NaiveDate,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let line = SummaryLine {
            account: cfg.account.clone(),
            address: c.address.clone(),
            userid: c.userid.clone().unwrap_or_default(),
            expiry,
            revoke: cfg.auto_revoke,
        };
        self.archive
            .transaction(move |tx| records::put(tx, &line))
            .await?;
        if cfg.auto_revoke {
            let outcome = self
                .archive
                .revoke(
                    &Actor::Jobs,
                    std::slice::from_ref(&c.address),
                    RevokeReason::Expiry,
                    None,
                )
                .await?;
            match outcome.first() {
                Some(o) if o.is_positive() => {
                    report.did("expiry.revoke", &c.address, expiry.to_string())
                }
                Some(o) => report.failed(
                    "expiry.revoke",
                    &c.address,
                    o.reason.clone().unwrap_or_default(),
                ),
                None => {}
            }
        } else if let Some(to) = self.archive.renew_expiry(&c.address, expiry).await? {
            report.did("expiry.renew", &c.address, format!("{expiry} -> {to}"));
        }
        Ok(())
    }

    /// §6 items 3 and 4: the summary of the account's outcomes whose effect is visible.
    async fn summary(
        &self,
        cfg: &ExpiryConfig,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let prefix = records::pair_key(&cfg.account, b"");
        let lines =
            records::load_all::<SummaryLine>(self.archive.store(), &prefix, usize::MAX).await?;
        let (mut revoked, mut renewed, mut done) = (Vec::new(), Vec::new(), Vec::new());
        for l in lines {
            let now = records::load::<Casella>(self.archive.store(), l.address.as_bytes()).await?;
            let Some(c) = now else {
                done.push(l);
                continue;
            };
            let revoking = matches!(c.pending, Some(Transition::Revoke { .. }))
                || c.state == CasellaState::Revocata;
            if l.revoke && revoking {
                revoked.push(texts::expiry_line(&l.userid, &l.address, l.expiry));
                done.push(l);
            } else if !l.revoke && c.expiry.is_some_and(|e| e > l.expiry) {
                let e = c.expiry.expect("checked");
                renewed.push(texts::expiry_line(&l.userid, &l.address, e));
                done.push(l);
            } else if !l.revoke && c.expiry != Some(l.expiry) {
                // Changed by an operator meanwhile: nothing to report.
                done.push(l);
            }
        }
        if !revoked.is_empty() || !renewed.is_empty() {
            revoked.sort();
            renewed.sort();
            let mail = texts::expiry_summary(&self.config, &cfg.account, &revoked, &renewed);
            let all = format!("{}\n{}", revoked.join("\n"), renewed.join("\n"));
            let key = format!("expiry.summary|{}|{}", cfg.account, digest(&all));
            if let Err(e) = self
                .send("expiry.summary", cfg.report.clone(), mail, key)
                .await
            {
                report.failed("expiry.summary", &cfg.account, e);
                return Ok(());
            }
            report.did(
                "expiry.summary",
                &cfg.account,
                format!("{} revocate, {} rinnovate", revoked.len(), renewed.len()),
            );
        }
        if !done.is_empty() {
            self.archive
                .transaction(move |tx| {
                    for l in &done {
                        if l.revoke {
                            let mark = mark_key(&l.address, l.expiry, "revoked");
                            tx.put(REPORTED, &mark, Vec::new())?;
                        }
                        tx.delete(
                            <SummaryLine as records::Record>::FAMILY,
                            &records::Record::key(l),
                        )?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_steps_of_section_6_by_date() {
        let expiry = d(2027, 6, 30);
        assert_eq!(due(expiry, d(2027, 3, 29), true), Due::Nothing);
        assert_eq!(
            due(expiry, d(2027, 3, 30), true),
            Due::Report,
            "three months before"
        );
        assert_eq!(due(expiry, d(2027, 6, 22), true), Due::Report);
        assert_eq!(
            due(expiry, d(2027, 6, 23), true),
            Due::Week,
            "a week before"
        );
        assert_eq!(
            due(expiry, d(2027, 6, 23), false),
            Due::Report,
            "no notice without auto-revoke"
        );
        assert_eq!(
            due(expiry, d(2027, 6, 30), true),
            Due::Week,
            "still valid on its last day"
        );
        assert_eq!(due(expiry, d(2027, 7, 1), true), Due::Expired);
        assert_eq!(due(expiry, d(2027, 7, 1), false), Due::Expired);
    }
}
