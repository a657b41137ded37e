//! The password campaign (PROVISIONING.md §7): which user ids still have a password older
//! than 12 months, grouped by their last access (LIST1 over 12 months ago or never, LIST2 6–12
//! months, LIST3 3–6, LIST4 under 3), one row per mailbox and list, with the exact columns of
//! the source and `NOINFO` after a user id without security information; and the block of a
//! list: a reminder to each mailbox and the expiry of those passwords from a date, spread
//! over a week. Lists are recomputed at each call; a user id that changed its password
//! meanwhile drops out (of the lists, and of the block: see `login::expiry`).
//!
//! Ages are counted in days on the engine's clock: 12 months = 365 days, 6 = 182, 3 = 91.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::login::access::last_access;
use crate::login::expiry::PASSWORD_LIFETIME_SECONDS;
use crate::login::principal::{PrincipalInfo, Slave};
use crate::mailboxes::search::rome_start;
use crate::model::{Account, Casella, CasellaState};
use crate::records::{self, Record};
use crate::scope::Actor;
use crate::{audit, Archive};

const DAY: i64 = 86_400;

/// The CSV header, as the source names the columns.
pub const CSV_HEADER: &str = "DATA_ORA_LISTA;USER;CASELLA;SLAVE IMPATTATE;MASTER IMPATTATA;\
                              ACCOUNT;CLIENTE;DESCRIZIONE ACCOUNT;LISTA";

/// What follows a user id without security information.
pub const NOINFO: &str = "-NOINFO";

/// Reminders of a block not yet sent: campaign id ‖ 0 ‖ mailbox address -> ().
pub const REMINDERS_PENDING: &str = "campaign_reminder";

/// The four lists, by last access.
pub const LISTS: [&str; 4] = ["LIST1", "LIST2", "LIST3", "LIST4"];

/// The list of a last access at `now`.
pub fn list_of(last: Option<i64>, now: i64) -> &'static str {
    match last.map(|t| now - t) {
        None => LISTS[0],
        Some(age) if age > 365 * DAY => LISTS[0],
        Some(age) if age > 182 * DAY => LISTS[1],
        Some(age) if age > 91 * DAY => LISTS[2],
        Some(_) => LISTS[3],
    }
}

/// One row: a mailbox and a list, with the user ids of the mailbox in that list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignRow {
    pub list: String,
    /// The master user id (with `-NOINFO` when it has no security information).
    pub user: String,
    pub casella: String,
    /// Slave user ids of this mailbox in this list (each with `-NOINFO` where it applies).
    pub slaves: Vec<String>,
    /// Whether the master's own password is in this list.
    pub master: bool,
    pub account: String,
    pub customer: String,
    pub account_description: String,
    /// The identities in the row (master address and/or slave user ids), for the block.
    #[serde(skip)]
    pub identities: Vec<String>,
    /// The user ids of the row without suffixes, for the reminder.
    #[serde(skip)]
    pub userids: Vec<String>,
}

/// The campaign report as computed at `at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignReport {
    /// `DATA_ORA_LISTA`: when the lists were computed (Italy), `dd/mm/yyyy HH:MM:SS`.
    pub at: String,
    pub rows: Vec<CampaignRow>,
}

impl CampaignReport {
    /// The `;`-separated UTF-8 CSV with the source's header.
    pub fn csv(&self) -> String {
        let mut out = String::with_capacity(64 + self.rows.len() * 120);
        out.push_str(CSV_HEADER);
        out.push('\n');
        for r in &self.rows {
            let cells = [
                self.at.as_str(),
                &r.user,
                &r.casella,
                &r.slaves.join(","),
                if r.master { "SI" } else { "NO" },
                &r.account,
                &r.customer,
                &r.account_description,
                &r.list,
            ];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&line.join(";"));
            out.push('\n');
        }
        out
    }
}

/// A cell: quoted when it holds the separator, a quote or a line end.
fn csv_cell(text: &str) -> String {
    if text.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A block recorded by `pecctl password block`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: u64,
    pub list: String,
    pub noticed_at: i64,
    pub block_on: NaiveDate,
    pub by: String,
    /// Each identity with the time its password is blocked from.
    pub members: Vec<(String, i64)>,
    /// The mailboxes reminded, each with its user ids in the list.
    pub caselle: Vec<(String, Vec<String>)>,
}

impl Record for Campaign {
    const FAMILY: &'static str = "campaign";
    fn key(&self) -> Vec<u8> {
        self.id.to_be_bytes().to_vec()
    }
}

/// Who a block reaches: the mailbox and its user ids in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockResult {
    pub campaign: u64,
    pub list: String,
    pub block_on: NaiveDate,
    pub userids: usize,
    pub caselle: usize,
}

/// What one identity's row needs.
struct Identity<'a> {
    casella: &'a Casella,
    slave: Option<&'a Slave>,
    changed_at: i64,
}

fn tagged(userid: &str, info: Option<&PrincipalInfo>) -> String {
    if info.is_none_or(PrincipalInfo::no_info) {
        format!("{userid}{NOINFO}")
    } else {
        userid.to_string()
    }
}

impl Archive {
    /// The campaign report for the operator's scope (and one account when given).
    pub async fn password_campaign(
        &self,
        actor: &Actor,
        account: Option<&str>,
    ) -> Result<CampaignReport> {
        let now = self.now();
        let accounts: HashMap<String, Account> =
            records::load_all::<Account>(self.store(), b"", usize::MAX)
                .await?
                .into_iter()
                .map(|a| (a.code.clone(), a))
                .collect();
        if let Some(a) = account {
            let acc = accounts
                .get(a)
                .ok_or_else(|| ArchiveError::not_found(format!("account inesistente: {a}")))?;
            actor.check_scope(Some(&acc.customer), Some(&acc.code))?;
        }
        let caselle: Vec<Casella> = records::load_all::<Casella>(self.store(), b"", usize::MAX)
            .await?
            .into_iter()
            .filter(|c| c.state == CasellaState::Evasa && c.userid.is_some())
            .filter(|c| account.is_none_or(|a| c.account.as_deref() == Some(a)))
            .filter(|c| actor.sees(c.customer.as_deref(), c.account.as_deref()))
            .collect();
        let passwords: HashMap<String, i64> = self
            .store()
            .list_mailboxes()
            .await?
            .into_iter()
            .map(|m| (m.address, m.password_changed_at))
            .collect();
        let infos: HashMap<String, PrincipalInfo> =
            records::load_all::<PrincipalInfo>(self.store(), b"", usize::MAX)
                .await?
                .into_iter()
                .map(|i| (i.identity.clone(), i))
                .collect();
        let slaves = records::load_all::<Slave>(self.store(), b"", usize::MAX).await?;
        let mut slaves_of: HashMap<&str, Vec<&Slave>> = HashMap::new();
        for s in slaves.iter().filter(|s| s.state.may_log_in()) {
            slaves_of.entry(s.mailbox.as_str()).or_default().push(s);
        }
        let mut rows: BTreeMap<(String, &'static str), CampaignRow> = BTreeMap::new();
        for c in &caselle {
            let Some(&master_changed) = passwords.get(&c.address) else {
                continue;
            };
            let mut ids = vec![Identity {
                casella: c,
                slave: None,
                changed_at: master_changed,
            }];
            for s in slaves_of.get(c.address.as_str()).into_iter().flatten() {
                ids.push(Identity {
                    casella: c,
                    slave: Some(s),
                    changed_at: s.password_changed_at,
                });
            }
            for id in ids {
                add_identity(&mut rows, &accounts, &infos, id, now);
            }
        }
        Ok(CampaignReport {
            at: crate::mailboxes::search::rome_day_time(now),
            rows: rows.into_values().collect(),
        })
    }

    /// `pecctl password block --list L --on DATE`: records the campaign, sets the expiry of
    /// every password of the list (from DATE, the user ids spread over seven days) and
    /// queues a reminder to each mailbox, which the lifecycle job sends at once.
    pub async fn password_block(
        &self,
        actor: &Actor,
        list: &str,
        on: NaiveDate,
    ) -> Result<BlockResult> {
        if !actor.is_admin_like() {
            return Err(ArchiveError::forbidden(
                "solo un amministratore può bloccare le password di una lista",
            ));
        }
        let list = LISTS
            .iter()
            .find(|l| l.eq_ignore_ascii_case(list))
            .ok_or_else(|| {
                ArchiveError::invalid(format!("lista {list:?}: LIST1, LIST2, LIST3 o LIST4"))
            })?;
        if on <= self.today() {
            return Err(ArchiveError::invalid(format!(
                "data di blocco {on}: deve essere successiva a oggi"
            )));
        }
        let report = self.password_campaign(actor, None).await?;
        let rows: Vec<CampaignRow> = report
            .rows
            .into_iter()
            .filter(|r| r.list == *list)
            .collect();
        let mut members = Vec::new();
        for (i, identity) in rows.iter().flat_map(|r| r.identities.iter()).enumerate() {
            members.push((identity.clone(), rome_start(spread(on, i))));
        }
        let caselle: Vec<(String, Vec<String>)> = rows
            .iter()
            .map(|r| (r.casella.clone(), r.userids.clone()))
            .collect();
        let (now, by, actor) = (self.now(), actor.userid().to_string(), actor.clone());
        let list = list.to_string();
        self.transaction(move |tx| {
            let id = records::next_counter(tx, "campaign")?;
            for (identity, at) in &members {
                let mut info = records::get::<PrincipalInfo>(tx, identity.as_bytes())?
                    .unwrap_or_else(|| PrincipalInfo {
                        identity: identity.clone(),
                        ..PrincipalInfo::default()
                    });
                info.password_expires_at = Some(*at);
                info.password_expiry_set_at = Some(now);
                records::put(tx, &info)?;
            }
            for (c, _) in &caselle {
                tx.put(
                    REMINDERS_PENDING,
                    &records::pair_key(&id.to_string(), c.as_bytes()),
                    Vec::new(),
                )?;
            }
            let campaign = Campaign {
                id,
                list: list.clone(),
                noticed_at: now,
                block_on: on,
                by,
                members,
                caselle,
            };
            records::put(tx, &campaign)?;
            let detail = format!(
                "{} dal {on}: {} user id, {} caselle",
                campaign.list,
                campaign.members.len(),
                campaign.caselle.len()
            );
            audit::record(tx, &actor, now, "password.block", &id.to_string(), detail)?;
            Ok(BlockResult {
                campaign: id,
                list,
                block_on: on,
                userids: campaign.members.len(),
                caselle: campaign.caselle.len(),
            })
        })
        .await
    }

    /// The reminders still to send: (campaign, mailbox address).
    pub async fn pending_reminders(&self) -> Result<Vec<(Campaign, String)>> {
        let keys = self.store().record_keys(REMINDERS_PENDING, b"").await?;
        let mut campaigns: HashMap<u64, Campaign> = HashMap::new();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let Some(sep) = k.iter().position(|b| *b == records::SEP) else {
                continue;
            };
            let id: u64 = String::from_utf8_lossy(&k[..sep]).parse().unwrap_or(0);
            let address = String::from_utf8_lossy(&k[sep + 1..]).into_owned();
            let campaign = match campaigns.entry(id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    match records::load::<Campaign>(self.store(), &id.to_be_bytes()).await? {
                        Some(c) => v.insert(c),
                        None => continue,
                    }
                }
            };
            out.push((campaign.clone(), address));
        }
        Ok(out)
    }

    /// Marks a campaign reminder sent.
    pub async fn reminder_sent(&self, campaign: u64, address: &str) -> Result<()> {
        let key = records::pair_key(&campaign.to_string(), address.as_bytes());
        self.transaction(move |tx| Ok(tx.delete(REMINDERS_PENDING, &key)?))
            .await
    }
}

/// Adds one identity to its (mailbox, list) row when its password is older than 12 months
/// (a first password never changed counts from the mailbox's activation).
fn add_identity(
    rows: &mut BTreeMap<(String, &'static str), CampaignRow>,
    accounts: &HashMap<String, Account>,
    infos: &HashMap<String, PrincipalInfo>,
    id: Identity<'_>,
    now: i64,
) {
    let c = id.casella;
    let since = if id.changed_at > 0 {
        id.changed_at
    } else {
        c.activated_at.unwrap_or(now)
    };
    if now - since <= PASSWORD_LIFETIME_SECONDS {
        return;
    }
    let identity = id.slave.map_or(c.address.as_str(), |s| s.userid.as_str());
    let info = infos.get(identity);
    let list = list_of(last_access(info, identity), now);
    let master_userid = c.userid.clone().unwrap_or_default();
    let account = c.account.clone().unwrap_or_default();
    let row = rows
        .entry((c.address.clone(), list))
        .or_insert_with(|| CampaignRow {
            list: list.to_string(),
            user: tagged(&master_userid, infos.get(&c.address)),
            casella: c.address.clone(),
            slaves: Vec::new(),
            master: false,
            account: account.clone(),
            customer: c.customer.clone().unwrap_or_default(),
            account_description: accounts
                .get(&account)
                .map(|a| a.description.clone())
                .unwrap_or_default(),
            identities: Vec::new(),
            userids: Vec::new(),
        });
    match id.slave {
        Some(s) => {
            row.slaves.push(tagged(&s.userid, info));
            row.userids.push(s.userid.clone());
        }
        None => {
            row.master = true;
            row.userids.insert(0, master_userid.clone());
        }
    }
    row.identities.push(identity.to_string());
}

/// When a block moves one member: `start` plus its day of the spread.
pub fn spread(start: NaiveDate, i: usize) -> NaiveDate {
    start + Duration::days(i as i64 % 7)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn lists_follow_the_last_access_age() {
        assert_eq!(list_of(None, NOW), "LIST1", "never logged in");
        assert_eq!(list_of(Some(NOW - 400 * DAY), NOW), "LIST1");
        assert_eq!(list_of(Some(NOW - 200 * DAY), NOW), "LIST2");
        assert_eq!(list_of(Some(NOW - 100 * DAY), NOW), "LIST3");
        assert_eq!(list_of(Some(NOW - 10 * DAY), NOW), "LIST4");
    }

    #[test]
    fn the_csv_has_the_source_columns_and_quotes_the_separator() {
        let report = CampaignReport {
            at: "05/12/2026 10:00:00".into(),
            rows: vec![CampaignRow {
                list: "LIST2".into(),
                user: "rn0000001-NOINFO".into(),
                casella: "a@pec.x.it".into(),
                slaves: vec!["rn0000001.01".into(), "rn0000001.02-NOINFO".into()],
                master: true,
                account: "A1".into(),
                customer: "C1".into(),
                account_description: "Rossi; filiale".into(),
                identities: vec![],
                userids: vec![],
            }],
        };
        let csv = report.csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), CSV_HEADER);
        assert_eq!(
            lines.next().unwrap(),
            "05/12/2026 10:00:00;rn0000001-NOINFO;a@pec.x.it;rn0000001.01,rn0000001.02-NOINFO;SI;\
             A1;C1;\"Rossi; filiale\";LIST2"
        );
    }

    #[test]
    fn a_block_spreads_its_members_over_seven_days() {
        let d = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        assert_eq!(spread(d, 0), d);
        assert_eq!(spread(d, 6), d + Duration::days(6));
        assert_eq!(spread(d, 7), d);
    }
}
