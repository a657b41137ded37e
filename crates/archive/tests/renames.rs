//! An address change interrupted between the archive's commit and the store's rename (a
//! crash) is finished by the job runner: the store mailbox gets the new address.

use std::sync::Arc;

use pecd_archive::mailboxes::ops::RENAMING;
use pecd_archive::Archive;
use pecd_common::config::Config;
use pecd_common::domains::LocalDomains;
use pecd_store::Store;

#[tokio::test]
async fn a_rename_a_crash_interrupted_is_finished_by_the_job_runner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = Arc::new(Config::default());
    let archive = Archive::open(
        store.clone(),
        config,
        Arc::new(LocalDomains::new(["pec.localhost"])),
    )
    .await
    .unwrap();
    store
        .create_mailbox("old@pec.localhost", "hash", 1 << 20)
        .await
        .unwrap();
    // What `mailbox change` leaves when the process dies after the archive's commit.
    archive
        .transaction(|tx| {
            tx.put(
                RENAMING,
                b"new@pec.localhost",
                b"old@pec.localhost".to_vec(),
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let report = archive.run_jobs().await.unwrap();
    assert!(
        report
            .done
            .iter()
            .any(|i| i.job == "mailbox.rename" && i.target == "new@pec.localhost"),
        "{report:?}"
    );
    assert!(store
        .find_mailbox("old@pec.localhost")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_mailbox("new@pec.localhost")
        .await
        .unwrap()
        .is_some());
    assert!(store.record_keys(RENAMING, b"").await.unwrap().is_empty());
    let again = archive.run_jobs().await.unwrap();
    assert!(
        again.done.iter().all(|i| i.job != "mailbox.rename"),
        "idempotent"
    );
}
