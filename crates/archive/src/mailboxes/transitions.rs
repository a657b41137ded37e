//! The job step that applies recorded transitions (PROVISIONING.md §4): a casella `in
//! revoca` becomes `revocata` (its store mailbox `Revoked`: it can neither send nor receive,
//! its holder still reads), one `in riattivazione` becomes `evasa` again (`Active`). The
//! store's state is set first, then the casella's in one transaction with its audit entry:
//! a run stopped in between is finished by the next (setting a state twice is harmless).

use pecd_store::MailboxState;

use crate::error::Result;
use crate::model::{CasellaState, Transition};
use crate::report::JobReport;
use crate::scope::Actor;
use crate::{audit, caselle, Archive};

use super::PENDING;

impl Archive {
    /// Applies every recorded transition; failures are reported and retried at the next run.
    pub async fn apply_transitions(&self, report: &mut JobReport) -> Result<()> {
        let pending = self.store().record_keys(PENDING, b"").await?;
        for key in pending {
            let address = String::from_utf8_lossy(&key).into_owned();
            match self.apply_transition(&address).await {
                Ok(Some((job, detail))) => report.did(job, &address, detail),
                Ok(None) => {}
                Err(e) => report.failed("mailbox.transition", &address, e.message),
            }
        }
        Ok(())
    }

    async fn apply_transition(&self, address: &str) -> Result<Option<(&'static str, String)>> {
        let Some(c) =
            crate::records::load::<crate::model::Casella>(self.store(), address.as_bytes()).await?
        else {
            let a = address.to_string();
            self.transaction(move |tx| Ok(tx.delete(PENDING, a.as_bytes())?))
                .await?;
            return Ok(None);
        };
        let Some(transition) = c.pending.clone() else {
            let a = address.to_string();
            self.transaction(move |tx| Ok(tx.delete(PENDING, a.as_bytes())?))
                .await?;
            return Ok(None);
        };
        let (state, stored_state, job) = match &transition {
            Transition::Revoke { .. } => (
                MailboxState::Revoked,
                CasellaState::Revocata,
                "mailbox.revoke",
            ),
            Transition::Reactivate { .. } => (
                MailboxState::Active,
                CasellaState::Evasa,
                "mailbox.reactivate",
            ),
        };
        if let Some(m) = self.store().find_mailbox(address).await? {
            self.store().set_state(m.id, state).await?;
        }
        let now = self.now();
        let a = address.to_string();
        let detail = self
            .transaction(move |tx| {
                let mut c = super::get(tx, &a)?;
                if c.pending.as_ref() != Some(&transition) {
                    // Changed meanwhile: the next run sees the new state.
                    return Ok(None);
                }
                c.pending = None;
                c.state = stored_state;
                let detail = match &transition {
                    Transition::Revoke { reason, .. } => {
                        c.revoke_reason = Some(*reason);
                        c.revoked_at = Some(now);
                        format!("revocata ({})", reason_name(*reason))
                    }
                    Transition::Reactivate { .. } => {
                        c.revoke_reason = None;
                        c.revoked_at = None;
                        c.purged_at = None;
                        "riattivata".to_string()
                    }
                };
                super::remember(&mut c, &Actor::Jobs, now, detail.clone());
                caselle::save(tx, &c, None)?;
                tx.delete(PENDING, a.as_bytes())?;
                audit::record(tx, &Actor::Jobs, now, job, &a, detail.clone())?;
                Ok(Some(detail))
            })
            .await?;
        Ok(detail.map(|d| (job, d)))
    }
}

/// A revocation reason as the CLI spells it.
pub fn reason_name(r: crate::model::RevokeReason) -> &'static str {
    use crate::model::RevokeReason::*;
    match r {
        Expiry => "expiry",
        NonPayment => "non-payment",
        CustomerRequest => "customer-request",
    }
}
