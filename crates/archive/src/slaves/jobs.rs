//! The job runner's step for slaves (PROVISIONING.md §4 multi-user, §7): completes every
//! pending transition (`in attivazione` → `attiva`, `in disattivazione` → `disattivata`),
//! found through the `slave_pending` index so a run costs nothing when none is pending, and
//! writes the last accesses noted since the last run ([`crate::login::access`]). Each slave
//! changes in its own transaction with its audit entry: a run stopped half-way is finished
//! by the next, and a second run finds nothing to do.

use crate::login::access;
use crate::login::principal::{Slave, SlaveState, SLAVE_PENDING};
use crate::records;
use crate::report::JobReport;
use crate::scope::Actor;
use crate::{audit, Archive};

impl Archive {
    /// Completes pending slave transitions and flushes last accesses, into `report`.
    pub async fn apply_slave_transitions(&self, report: &mut JobReport) {
        match access::log().flush(self.store()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(identities = n, "last accesses written"),
            Err(e) => report.failed("login.last_access", "-", e.message),
        }
        let pending = match self.store().record_keys(SLAVE_PENDING, b"").await {
            Ok(keys) => keys,
            Err(e) => {
                report.failed("slave.transition", "-", e.to_string());
                return;
            }
        };
        for key in pending {
            let userid = String::from_utf8_lossy(&key).into_owned();
            match self.complete_transition(key).await {
                Ok(Some((job, state))) => report.did(job, &userid, state),
                Ok(None) => {}
                Err(e) => report.failed("slave.transition", &userid, e.message),
            }
        }
    }

    /// Completes one slave's transition; `None` when it had none (the index entry goes).
    async fn complete_transition(
        &self,
        key: Vec<u8>,
    ) -> crate::error::Result<Option<(&'static str, &'static str)>> {
        let now = self.now();
        self.transaction(move |tx| {
            let Some(mut s) = records::get::<Slave>(tx, &key)? else {
                tx.delete(SLAVE_PENDING, &key)?;
                return Ok(None);
            };
            let (job, next) = match s.state {
                SlaveState::InAttivazione => ("slave.activate", SlaveState::Attiva),
                SlaveState::InDisattivazione => ("slave.deactivate", SlaveState::Disattivata),
                SlaveState::Attiva | SlaveState::Disattivata => {
                    tx.delete(SLAVE_PENDING, &key)?;
                    return Ok(None);
                }
            };
            let detail = format!("{}: {} -> {}", s.mailbox, s.state.name(), next.name());
            s.state = next;
            s.state_changed_at = now;
            records::put(tx, &s)?;
            tx.delete(SLAVE_PENDING, &key)?;
            audit::record(tx, &Actor::Jobs, now, job, &s.userid, detail)?;
            Ok(Some((job, next.name())))
        })
        .await
    }
}
