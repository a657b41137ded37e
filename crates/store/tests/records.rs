//! The keyed records of the provisioning archive: all-or-nothing transactions that see their
//! own writes, prefix scans in key order, and durability across a reopen.

use pecd_store::{Store, StoreError};

#[tokio::test]
async fn a_failed_transaction_applies_none_of_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let out = store
        .records_transaction(|tx| {
            tx.put("fam", b"a", b"1".to_vec())?;
            tx.put("fam", b"b", b"2".to_vec())?;
            Err::<(), StoreError>(StoreError::Invalid("changed my mind".into()))
        })
        .await
        .unwrap();
    assert!(out.is_err());
    assert_eq!(store.record("fam", b"a").await.unwrap(), None);
    assert!(store.record_keys("fam", b"").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_transaction_sees_its_own_writes_and_deletes_in_scans() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .records_transaction(|tx| {
            tx.put("fam", b"k1", b"old".to_vec())?;
            tx.put("fam", b"k2", b"x".to_vec())?;
            tx.put("other", b"k1", b"not mine".to_vec())
        })
        .await
        .unwrap()
        .unwrap();
    let seen = store
        .records_transaction(|tx| {
            tx.put("fam", b"k1", b"new".to_vec())?;
            tx.delete("fam", b"k2")?;
            tx.put("fam", b"k3", b"y".to_vec())?;
            let got = tx.get("fam", b"k1")?;
            let scan = tx.scan("fam", b"k")?;
            Ok::<_, StoreError>((got, scan))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.0.as_deref(), Some(&b"new"[..]));
    assert_eq!(
        seen.1,
        vec![
            (b"k1".to_vec(), b"new".to_vec()),
            (b"k3".to_vec(), b"y".to_vec())
        ]
    );
    assert_eq!(
        store.record_keys("fam", b"").await.unwrap(),
        vec![b"k1".to_vec(), b"k3".to_vec()]
    );
    assert_eq!(store.scan_records("fam", b"", 1).await.unwrap().len(), 1);
    assert_eq!(
        store.record("other", b"k1").await.unwrap().as_deref(),
        Some(&b"not mine"[..])
    );
}

#[tokio::test]
async fn committed_records_are_there_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .records_transaction(|tx| tx.put("fam", b"durable", b"yes".to_vec()))
            .await
            .unwrap()
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.record("fam", b"durable").await.unwrap().as_deref(),
        Some(&b"yes"[..])
    );
}

#[tokio::test]
async fn bad_family_names_and_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.record("", b"k").await.is_err());
    assert!(store.record(&"f".repeat(33), b"k").await.is_err());
    let out = store
        .records_transaction(|tx| tx.put("fam", &[0u8; 600], Vec::new()))
        .await
        .unwrap();
    assert!(out.is_err());
}

#[tokio::test]
async fn a_range_scan_stays_in_its_family_and_reads_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .records_transaction(|tx| {
            for k in [1u8, 2, 3, 4] {
                tx.put("log", &[k], vec![k])?;
            }
            // Families whose names extend or follow "log" must not leak into its scans.
            tx.put("logs", &[0], b"other".to_vec())?;
            tx.put("loh", &[0], b"other".to_vec())?;
            tx.put("lof", &[9], b"other".to_vec())
        })
        .await
        .unwrap()
        .unwrap();
    let keys = |pairs: Vec<pecd_store::RecordPair>| {
        pairs.into_iter().map(|(k, _)| k[0]).collect::<Vec<_>>()
    };
    let all = store
        .scan_record_range("log", &[], None, 10, false)
        .await
        .unwrap();
    assert_eq!(keys(all), [1, 2, 3, 4]);
    let newest = store
        .scan_record_range("log", &[2], None, 2, true)
        .await
        .unwrap();
    assert_eq!(keys(newest), [4, 3]);
    let bounded = store
        .scan_record_range("log", &[2], Some(&[4]), 10, true)
        .await
        .unwrap();
    assert_eq!(keys(bounded), [3, 2]);
}
