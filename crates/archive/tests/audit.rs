//! The audit log read back through its pages: the newest matching entries, oldest first,
//! whatever the log's length.

use std::sync::Arc;

use pecd_archive::audit::{self, AuditQuery};
use pecd_archive::{Actor, Archive};
use pecd_common::config::Config;
use pecd_common::domains::LocalDomains;
use pecd_store::Store;

#[tokio::test]
async fn audit_reads_the_newest_matching_entries_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = Arc::new(Config::default());
    let archive = Archive::open(
        store,
        config,
        Arc::new(LocalDomains::new(["pec.localhost"])),
    )
    .await
    .unwrap();
    archive
        .transaction(|tx| {
            for i in 0..2_500i64 {
                let target = if i % 10 == 0 { "rare" } else { "common" };
                audit::record(
                    tx,
                    &Actor::Admin,
                    1_000_000 + i,
                    "test.op",
                    target,
                    i.to_string(),
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let q = AuditQuery {
        target: Some("rare".into()),
        limit: Some(30),
        ..AuditQuery::default()
    };
    let got = archive.audit(&Actor::Admin, &q).await.unwrap();
    let details: Vec<i64> = got.iter().map(|e| e.detail.parse().unwrap()).collect();
    let want: Vec<i64> = (2_200..2_500).step_by(10).collect();
    assert_eq!(details, want, "the 30 newest rare entries, oldest first");
    let all = archive
        .audit(&Actor::Admin, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2_500);
    assert!(all.windows(2).all(|w| w[0].at < w[1].at));
    let since = AuditQuery {
        since: chrono::NaiveDate::from_ymd_opt(2100, 1, 1),
        ..AuditQuery::default()
    };
    assert!(archive
        .audit(&Actor::Admin, &since)
        .await
        .unwrap()
        .is_empty());
}
