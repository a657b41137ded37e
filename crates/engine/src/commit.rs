//! Writing a certification step as the rules produced it, with the holders'
//! security-archive copies of what it delivers (`security_archive`, PROVISIONING.md
//! §8) in the same durable commit, then the archive notices those copies call for. Every
//! PEC rule commits through here; the provider's own notices, never copied, go straight to
//! `Engine::certify_step`.

use pecd_store::{Certification, Certified, MailboxId};

use crate::{Engine, EngineError};

impl Engine {
    /// Writes a certification step with the holders' security-archive copies of what it
    /// delivers (`security_archive`), then sends their archive notices.
    pub(crate) async fn commit(&self, step: Certification) -> Result<Certified, EngineError> {
        self.commit_with(step, None).await
    }

    /// [`Engine::commit`], also copying the transport envelope into the archive of
    /// `sender`, whose submission the step accepts (kind `certified-out`).
    pub(crate) async fn commit_with(
        &self,
        mut step: Certification,
        sender: Option<MailboxId>,
    ) -> Result<Certified, EngineError> {
        self.add_archive_copies(&mut step, sender).await;
        let heads: Vec<Vec<u8>> = step
            .archive
            .iter()
            .map(|c| c.bytes[..pecd_signer::mime::header_end(&c.bytes)].to_vec())
            .collect();
        let (done, outcomes) = self.certify_step(step).await?;
        if !outcomes.is_empty() {
            self.report_archiving(&heads, &outcomes).await;
        }
        Ok(done)
    }
}
