//! The daily SMS notification (PROVISIONING.md §8): for a mailbox whose SMS service an
//! operator enabled and whose holder switched it on with a number and an hour, once a day
//! from that hour (Italy), an SMS when new certified messages (transport envelopes: not
//! receipts, not ordinary mail) arrived since the last one. pecd hands SMS to a gateway
//! through `[sms]`: one JSON file per SMS in the spool directory (written durably under a
//! name fixed by mailbox and day, so a repeated run rewrites the same file), or piped to
//! `[sms] command`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Timelike};
use pecd_archive::model::Casella;
use pecd_archive::records;
use pecd_archive::report::JobReport;
use pecd_archive::settings::MailboxSettings;
use pecd_archive::ArchiveError;
use serde::{Deserialize, Serialize};

use crate::notices::digest;
use crate::state::NotifyState;
use crate::{texts, Lifecycle};

/// How long `[sms] command` may take for one SMS.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One SMS as the gateway gets it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sms {
    /// Stable for a mailbox and a day.
    pub id: String,
    /// The holder's mobile number.
    pub to: String,
    pub text: String,
    pub mailbox: String,
    /// New certified messages it announces.
    pub messages: usize,
    /// RFC 3339, on the engine's clock.
    pub created: String,
}

impl Lifecycle {
    pub(crate) async fn sms(&self, report: &mut JobReport) -> Result<(), ArchiveError> {
        let now = self.archive.now();
        let Some(local) = chrono_tz::Europe::Rome.timestamp_opt(now, 0).single() else {
            return Ok(());
        };
        let today = local.date_naive();
        for s in self.archive.all_settings().await? {
            if !s.sms || u32::from(s.sms_hour) > local.hour() {
                continue;
            }
            if let Err(e) = self.sms_for(&s, today, now, report).await {
                report.failed("notify.sms", &s.address, e.message);
            }
        }
        Ok(())
    }

    async fn sms_for(
        &self,
        s: &MailboxSettings,
        today: NaiveDate,
        now: i64,
        report: &mut JobReport,
    ) -> Result<(), ArchiveError> {
        let Some(phone) = s.sms_phone.clone() else {
            return Ok(());
        };
        // The operator may have turned the service off since.
        let casella = records::load::<Casella>(self.archive.store(), s.address.as_bytes()).await?;
        if !casella.is_some_and(|c| c.services.sms) {
            return Ok(());
        }
        let mut state = records::load::<NotifyState>(self.archive.store(), s.address.as_bytes())
            .await?
            .unwrap_or_else(|| NotifyState::new(&s.address));
        if state.sms_day == Some(today) {
            return Ok(());
        }
        let Some(inbox) = self.inbox_for(&mut state, |s| s.sms_uid, false).await? else {
            return Ok(());
        };
        let new = inbox.certified_new.len();
        if new > 0 {
            let sms = Sms {
                id: format!("{today}-{}", digest(&s.address)),
                to: phone,
                text: texts::sms(&s.address, new),
                mailbox: s.address.clone(),
                messages: new,
                created: chrono::DateTime::from_timestamp(now, 0)
                    .unwrap_or_default()
                    .to_rfc3339(),
            };
            if let Err(e) = self.hand_over(&sms).await {
                report.failed("notify.sms", &s.address, e);
                return Ok(());
            }
            report.did("notify.sms", &s.address, format!("{new} nuovi"));
        }
        state.sms_uid = inbox.highest;
        state.sms_day = Some(today);
        self.archive
            .transaction(move |tx| records::put(tx, &state))
            .await
    }

    /// Writes the SMS to the spool or pipes it to the command.
    pub(crate) async fn hand_over(&self, sms: &Sms) -> Result<(), String> {
        let json = serde_json::to_vec(sms).map_err(|e| e.to_string())?;
        match self.config.sms.command.clone() {
            Some(command) => pipe(&command, json).await,
            None => {
                let dir = self.config.sms.spool.clone();
                let name = format!("{}.json", sms.id);
                tokio::task::spawn_blocking(move || spool(&dir, &name, &json))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("[sms] spool: {e}"))
            }
        }
    }
}

/// Writes `name` in `dir` durably: a temporary file, fsync, rename, fsync of the directory.
pub fn spool(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Runs `[sms] command` (split on white space, no shell) with the SMS on its standard input.
async fn pipe(command: &str, json: Vec<u8>) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut words = command.split_whitespace();
    let program = words.next().ok_or("[sms] command is empty")?;
    let mut child = tokio::process::Command::new(program)
        .args(words)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("[sms] command {program}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("[sms] command: no stdin")?;
    let run = async {
        // A program that exits without reading it all is judged by its exit status alone.
        let _ = stdin.write_all(&json).await;
        drop(stdin);
        child.wait().await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(COMMAND_TIMEOUT, run).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("[sms] command {program}: {status}")),
        Ok(Err(e)) => Err(format!("[sms] command {program}: {e}")),
        Err(_) => Err(format!("[sms] command {program}: no answer in 30 s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_sms_is_one_whole_file_and_a_rewrite_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("sms");
        spool(&spool_dir, "a.json", b"{\"n\":1}").unwrap();
        spool(&spool_dir, "a.json", b"{\"n\":2}").unwrap();
        let names: Vec<_> = std::fs::read_dir(&spool_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["a.json".to_string()], "no temporary file left");
        assert_eq!(
            std::fs::read(spool_dir.join("a.json")).unwrap(),
            b"{\"n\":2}"
        );
    }

    #[tokio::test]
    async fn a_failing_command_is_an_error_to_retry() {
        assert!(pipe("true", b"{}".to_vec()).await.is_ok());
        assert!(pipe("sh -c cat>/dev/null", b"{}".to_vec()).await.is_ok());
        assert!(pipe("false", b"{}".to_vec()).await.is_err());
        assert!(pipe("/nonexistent/sms", b"{}".to_vec()).await.is_err());
    }
}
