//! Slaves on an archive over a temporary store: the user-id rule against taken user ids,
//! the 25 limit, and the states with the job runner.

use std::sync::Arc;

use pecd_common::config::Config;
use pecd_common::domains::LocalDomains;
use pecd_store::Store;

use super::*;
use crate::caselle;
use crate::model::{DomainFamily, Operator, Profile, Services};

pub(crate) const ADDRESS: &str = "mario@pec.example.it";
pub(crate) const PASSWORD: &str = "Pec-Strong9!";

pub(crate) async fn archive(dir: &tempfile::TempDir) -> Archive {
    let store = Store::open(&dir.path().join("store")).unwrap();
    store
        .create_mailbox(ADDRESS, &pecd_common::password::hash(PASSWORD), 1 << 20)
        .await
        .unwrap();
    let config = Arc::new(Config::default());
    let domains = Arc::new(LocalDomains::new(["pec.example.it"]));
    Archive::open(store, config, domains).await.unwrap()
}

/// An `evasa` casella of [`ADDRESS`] with the master user id `userid`.
pub(crate) fn casella(userid: &str) -> Casella {
    Casella {
        address: ADDRESS.into(),
        userid: Some(userid.into()),
        description: "Studio Rossi".into(),
        kind: None,
        state: CasellaState::Evasa,
        pending: None,
        request: Some(1),
        customer: Some("111".into()),
        account: Some("A1".into()),
        family: DomainFamily::Ordinary,
        expiry: None,
        inserted_at: 0,
        activated_at: Some(0),
        massive: false,
        services: Services {
            archive_gb: 1,
            sms: false,
            quota_bytes: 1 << 20,
        },
        revoke_reason: None,
        revoked_at: None,
        purged_at: None,
        history: Vec::new(),
    }
}

fn new_slave() -> NewSlave {
    NewSlave {
        address: ADDRESS.into(),
        first_name: "Anna".into(),
        last_name: "Bianchi".into(),
        description: None,
        password: PASSWORD.into(),
        must_change: false,
        recovery_email: None,
        recovery_mobile: None,
    }
}

#[tokio::test]
async fn slave_userids_follow_the_master_userid_and_skip_taken_ones() {
    let dir = tempfile::tempdir().unwrap();
    let a = archive(&dir).await;
    let c = casella("abc0000001");
    a.transaction(move |tx| {
        caselle::save(tx, &c, None)?;
        records::put(
            tx,
            &Operator {
                userid: "abc0000001.02".into(),
                surname: "Verdi".into(),
                first_name: "Op".into(),
                profile: Profile::Amministratore,
                customer: None,
                account: None,
                cli_pattern: None,
                acc_pattern: None,
                may_choose_type: false,
                may_manage_massive: false,
                password_hash: String::new(),
                password_changed_at: 0,
                created_at: 0,
            },
        )
    })
    .await
    .unwrap();
    let first = a.add_slave(&Actor::Admin, new_slave()).await.unwrap();
    assert_eq!(first.userid, "abc0000001.01");
    assert_eq!(
        first.description, "Studio Rossi",
        "the master's description"
    );
    assert_eq!(first.state, SlaveState::InAttivazione);
    let second = a.add_slave(&Actor::Admin, new_slave()).await.unwrap();
    assert_eq!(second.userid, "abc0000001.03", "an operator holds .02");
}

#[tokio::test]
async fn a_mailbox_without_casella_names_slaves_after_its_local_part() {
    let dir = tempfile::tempdir().unwrap();
    let a = archive(&dir).await;
    let mut n = new_slave();
    n.description = Some("Segreteria".into());
    let s = a.add_slave(&Actor::Admin, n).await.unwrap();
    assert_eq!(
        (s.userid.as_str(), s.description.as_str()),
        ("mario.01", "Segreteria")
    );
    let listed = a.list_slaves(&Actor::Admin, ADDRESS).await.unwrap();
    assert_eq!(listed, vec![s]);
}

#[tokio::test]
async fn the_job_runner_completes_each_transition_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = archive(&dir).await;
    let s = a.add_slave(&Actor::Admin, new_slave()).await.unwrap();
    let refused = a
        .deactivate_slave(&Actor::Admin, &s.userid)
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind,
        crate::ErrorKind::Conflict,
        "pending: {refused}"
    );
    let report = a.run_jobs().await.unwrap();
    assert_eq!(report.done.len(), 1, "{report:?}");
    assert_eq!(report.done[0].detail, "attiva");
    assert!(a.run_jobs().await.unwrap().done.is_empty(), "nothing left");
    let s = a.deactivate_slave(&Actor::Admin, &s.userid).await.unwrap();
    assert_eq!(s.state, SlaveState::InDisattivazione);
    a.run_jobs().await.unwrap();
    let listed = a.list_slaves(&Actor::Admin, ADDRESS).await.unwrap();
    assert_eq!(listed[0].state, SlaveState::Disattivata);
}

#[tokio::test]
async fn only_an_evasa_casella_without_pending_transition_gets_slaves() {
    use crate::model::{RevokeReason, Transition};
    let dir = tempfile::tempdir().unwrap();
    let a = archive(&dir).await;
    let mut revoked = casella("abc0000001");
    revoked.state = CasellaState::Revocata;
    let mut revoking = casella("abc0000001");
    revoking.pending = Some(Transition::Revoke {
        reason: RevokeReason::NonPayment,
        form: None,
        by: "admin".into(),
        at: 0,
    });
    for c in [revoked, revoking] {
        let shown = c.shown_state();
        a.transaction(move |tx| caselle::save(tx, &c, None))
            .await
            .unwrap();
        let e = a.add_slave(&Actor::Admin, new_slave()).await.unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Conflict);
        assert!(e.message.contains(shown), "{e}");
    }
    assert_eq!(
        a.slave_counts(ADDRESS).await.unwrap(),
        SlaveCounts::default(),
        "nothing stored"
    );
    let c = casella("abc0000001");
    a.transaction(move |tx| caselle::save(tx, &c, None))
        .await
        .unwrap();
    a.add_slave(&Actor::Admin, new_slave()).await.unwrap();
    a.run_jobs().await.unwrap();
    a.add_slave(&Actor::Admin, new_slave()).await.unwrap();
    assert_eq!(
        a.slave_counts(ADDRESS).await.unwrap(),
        SlaveCounts {
            total: 2,
            active_or_activating: 2
        }
    );
}
