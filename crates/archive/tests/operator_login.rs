//! Operator logins (the HTTPS interface's): a remembered login answers only while the
//! operator still exists with the password hash it was verified against.

use std::sync::Arc;

use pecd_archive::model::Profile;
use pecd_archive::operators::NewOperator;
use pecd_archive::{Actor, Archive};
use pecd_common::config::Config;
use pecd_common::domains::LocalDomains;
use pecd_store::Store;

#[tokio::test]
async fn a_remembered_operator_login_ends_with_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let archive = Archive::open(
        store,
        Arc::new(Config::default()),
        Arc::new(LocalDomains::new(["pec.localhost"])),
    )
    .await
    .unwrap();
    let password = "Str0ng!Passw0rd";
    archive
        .create_operator(
            &Actor::Admin,
            NewOperator {
                userid: "op1".into(),
                profile: Profile::Amministratore,
                surname: "Rossi".into(),
                first_name: "Anna".into(),
                customer: None,
                account: None,
                cli_pattern: None,
                acc_pattern: None,
                may_choose_type: false,
                may_manage_massive: false,
                password: password.into(),
            },
        )
        .await
        .unwrap();
    for _ in 0..2 {
        let o = archive
            .operator_login("OP1", password.into())
            .await
            .unwrap();
        assert_eq!(o.userid, "op1");
    }
    assert!(archive.operator_login("op1", "wrong".into()).await.is_err());
    archive.delete_operator(&Actor::Admin, "op1").await.unwrap();
    assert!(
        archive
            .operator_login("op1", password.into())
            .await
            .is_err(),
        "a deleted operator's remembered login is not answered"
    );
}
