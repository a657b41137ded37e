//! Expiry management (PROVISIONING.md §6) with the server's clock moved: the 3-month report,
//! the week notice, revocation at expiry with the holder's notice and the summary, tacit
//! renewal, and the deletion of a revoked mailbox's messages after the retention.

use super::*;

const A: &str = "anna@pec.localhost";
const B: &str = "bruno@pec.localhost";
const REPORT: &str = "report@pec.localhost";
const OUTSIDE: &str = "amministrazione@example.com";

/// A server where A expires in 80 days and B in 300, both of C1/A1, with expiry management
/// on for A1 (report to a mailbox of ours and an address elsewhere).
fn setup(auto_revoke: &str) -> (Server, String) {
    let s = server().users(&[A, B, REPORT]).extra(NO_SCHEDULE).start();
    customer(&s);
    let userid = assign(&s, A);
    assign(&s, B);
    for (address, days) in [(A, 80), (B, 300)] {
        let expiry = day(days).to_string();
        human(&s, &["mailbox", "change", address, "--expiry", &expiry], "");
    }
    let report = format!("{REPORT};{OUTSIDE}");
    let c = json_exit(
        &s,
        &[
            "expiry",
            "config",
            "--customer",
            "C1",
            "--account",
            "A1",
            "on",
            "--report",
            &report,
            "--auto-revoke",
            auto_revoke,
        ],
        "",
        0,
    );
    assert_eq!(c["enabled"], true);
    assert_eq!(c["report"], serde_json::json!([REPORT, OUTSIDE]));
    (s, userid)
}

fn expiry_of(s: &Server, address: &str) -> String {
    s.json(&["mailbox", "show", address])["archive"]["expiry"]
        .as_str()
        .unwrap()
        .to_string()
}

fn dmy(d: chrono::NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

#[test]
fn expiry_with_automatic_revocation_reports_warns_revokes_and_summarises_once_each() {
    let (mut s, userid) = setup("yes");
    let expiry = day(80);

    // About three months before: the report lists A (not B), once.
    let r = jobs(&s);
    assert_eq!(count(&r, "expiry.report"), 1, "{r}");
    assert_eq!(
        count(&jobs(&s), "expiry.report"),
        0,
        "run twice, notify once"
    );
    let reports = notices_of(&s, REPORT, "expiry.report");
    assert_eq!(reports.len(), 1);
    let line = format!("User: {userid}; casella: {A}; scadenza: {};", dmy(expiry));
    assert!(reports[0].text.contains(&line), "{}", reports[0].text);
    assert!(!reports[0].text.contains(B), "B expires later");
    assert!(reports[0].text.contains("revoca automatica"));
    assert_eq!(
        queued(&s, "expiry.report"),
        vec![vec![OUTSIDE.to_string()]],
        "the address elsewhere goes through the relay"
    );

    // A week before: the notice in the mailbox, with the payment date and the day after.
    restart_at(&mut s, 75, "");
    let r = jobs(&s);
    assert_eq!(
        done(&r),
        vec![("expiry.week".to_string(), A.to_string())],
        "{r}"
    );
    assert_eq!(count(&jobs(&s), "expiry.week"), 0);
    let week = notices_of(&s, A, "expiry.week");
    assert_eq!(week.len(), 1);
    assert!(week[0].text.contains(&format!("entro il {}", dmy(expiry))));
    let next = expiry + chrono::Duration::days(1);
    assert!(
        week[0].text.contains(&format!("dal {}", dmy(next))),
        "{}",
        week[0].text
    );
    assert!(week[0].text.contains("rivenditore"));
    assert!(week[0].subject.contains(A));

    // After expiry: revoked, the holder told why, the report addresses the summary.
    restart_at(&mut s, 82, "");
    let r = jobs(&s);
    for job in [
        "expiry.revoke",
        "mailbox.revoke",
        "mailbox.revoked-notice",
        "expiry.summary",
    ] {
        assert_eq!(count(&r, job), 1, "{job}: {r}");
    }
    let again = jobs(&s);
    assert_eq!(done(&again), vec![], "nothing twice: {again}");
    assert_eq!(
        s.json(&["mailbox", "show", A])["archive"]["state"],
        "revocata"
    );
    assert_eq!(s.json(&["mailbox", "show", B])["archive"]["state"], "evasa");
    let notice = notices_of(&s, A, "mailbox.revoked");
    assert_eq!(notice.len(), 1);
    assert!(
        notice[0].text.contains("cessato per scadenza"),
        "{}",
        notice[0].text
    );
    let summary = notices_of(&s, REPORT, "expiry.summary");
    assert_eq!(summary.len(), 1);
    assert!(summary[0].text.contains("revocate"));
    assert!(summary[0].text.contains(&line), "{}", summary[0].text);

    // Reactivated by an administrator, it is not revoked again for the same expiry.
    human(&s, &["mailbox", "reactivate", A], "");
    let r = jobs(&s);
    assert_eq!(count(&r, "mailbox.reactivate"), 1, "{r}");
    assert_eq!(count(&jobs(&s), "expiry.revoke"), 0);
    assert_eq!(s.json(&["mailbox", "show", A])["archive"]["state"], "evasa");
    json_exit(
        &s,
        &["mailbox", "revoke", A, "--reason", "non-payment"],
        "",
        0,
    );
    jobs(&s);

    // The retention (30 days by default) then deletes A's messages, once, in the audit log.
    restart_at(&mut s, 82 + 31, "");
    let r = jobs(&s);
    assert_eq!(
        done(&r),
        vec![("mailbox.purge".to_string(), A.to_string())],
        "{r}"
    );
    assert_eq!(done(&jobs(&s)), vec![]);
    assert_eq!(s.json(&["mailbox", "show", A])["messages"], 0);
    let audit = s.json(&["audit", "--target", A]);
    let last = audit.as_array().unwrap().last().unwrap();
    assert_eq!(last["action"], "mailbox.purge", "{audit}");
    assert_eq!(last["operator"], "jobs");
}

#[test]
fn without_automatic_revocation_the_renewal_is_tacit_and_reported() {
    let (mut s, userid) = setup("no");
    let expiry = day(80);
    let r = jobs(&s);
    assert_eq!(count(&r, "expiry.report"), 1, "{r}");
    let report = &notices_of(&s, REPORT, "expiry.report")[0];
    assert!(
        report.text.contains("Il rinnovo è tacito"),
        "{}",
        report.text
    );

    // No week notice without automatic revocation.
    restart_at(&mut s, 75, "");
    assert_eq!(done(&jobs(&s)), vec![]);

    restart_at(&mut s, 82, "");
    let r = jobs(&s);
    assert_eq!(count(&r, "expiry.renew"), 1, "{r}");
    assert_eq!(count(&r, "expiry.summary"), 1, "{r}");
    assert_eq!(done(&jobs(&s)), vec![], "renewed once");
    let renewed = expiry.checked_add_months(chrono::Months::new(12)).unwrap();
    assert_eq!(expiry_of(&s, A), renewed.to_string());
    assert_eq!(s.json(&["mailbox", "show", A])["archive"]["state"], "evasa");
    let summary = &notices_of(&s, REPORT, "expiry.summary")[0];
    assert!(summary.text.contains("rinnovate"), "{}", summary.text);
    let line = format!("User: {userid}; casella: {A}; scadenza: {};", dmy(renewed));
    assert!(summary.text.contains(&line), "{}", summary.text);
    assert!(notices_of(&s, A, "mailbox.revoked").is_empty());
}

#[test]
fn a_mailbox_never_warned_is_warned_first_and_revoked_a_week_later() {
    let mut s = server().users(&[A, REPORT]).extra(NO_SCHEDULE).start();
    customer(&s);
    assign(&s, A);
    let expiry = day(3).to_string();
    human(&s, &["mailbox", "change", A, "--expiry", &expiry], "");
    // Expiry management is turned on when the expiry is already past.
    restart_at(&mut s, 10, "");
    human(
        &s,
        &[
            "expiry",
            "config",
            "--customer",
            "C1",
            "--account",
            "A1",
            "on",
            "--report",
            REPORT,
            "--auto-revoke",
            "yes",
        ],
        "",
    );
    let r = jobs(&s);
    assert_eq!(count(&r, "expiry.week"), 1, "warned first: {r}");
    assert_eq!(count(&r, "expiry.revoke"), 0, "{r}");
    let week = notices_of(&s, A, "expiry.week");
    let last = day(10 + 6).format("%d/%m/%Y").to_string();
    assert!(
        week[0].text.contains(&format!("entro il {last}")),
        "{}",
        week[0].text
    );
    restart_at(&mut s, 16, "");
    assert_eq!(
        count(&jobs(&s), "expiry.revoke"),
        0,
        "not before the announced day"
    );
    restart_at(&mut s, 17, "");
    assert_eq!(
        count(&jobs(&s), "expiry.revoke"),
        1,
        "the day after the announced one"
    );
}

#[test]
fn expiry_config_is_refused_without_a_report_address_and_out_of_scope() {
    let s = server().users(&[A]).extra(NO_SCHEDULE).start();
    customer(&s);
    let e = refused(
        &s,
        &[
            "expiry",
            "config",
            "--customer",
            "C1",
            "--account",
            "A1",
            "on",
        ],
        "",
        "invalid_value",
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("report"),
        "{e}"
    );
    refused(
        &s,
        &[
            "expiry",
            "config",
            "--customer",
            "C1",
            "--account",
            "NOPE",
            "off",
        ],
        "",
        "not_found",
    );
    refused(
        &s,
        &[
            "expiry",
            "config",
            "--customer",
            "C1",
            "--account",
            "A1",
            "on",
            "--report",
            "not an address",
        ],
        "",
        "invalid_value",
    );
    assert_eq!(
        s.json(&["expiry", "list"]),
        serde_json::json!([]),
        "nothing stored"
    );
}

/// A kill -9 in the middle of a run that revokes many mailboxes: after the restart the next
/// run finishes the work, every mailbox is revoked once, every holder told once, and the
/// summaries list each mailbox exactly once.
#[test]
fn a_kill_9_in_the_middle_of_a_job_run_leaves_no_half_applied_state() {
    const N: usize = 40;
    let users: Vec<String> = (0..N).map(|i| format!("u{i:02}@pec.localhost")).collect();
    let mut all: Vec<&str> = users.iter().map(String::as_str).collect();
    all.push(REPORT);
    let mut s = server().users(&all).extra(NO_SCHEDULE).start();
    customer(&s);
    let expiry = day(5).to_string();
    for u in &users {
        assign(&s, u);
        human(&s, &["mailbox", "change", u, "--expiry", &expiry], "");
    }
    human(
        &s,
        &[
            "expiry",
            "config",
            "--customer",
            "C1",
            "--account",
            "A1",
            "on",
            "--report",
            REPORT,
            "--auto-revoke",
            "yes",
        ],
        "",
    );
    // The week's notices first (a mailbox is revoked only after its notice), then the run
    // after expiry.
    restart_at(&mut s, 3, "");
    assert_eq!(count(&jobs(&s), "expiry.week"), N);
    restart_at(&mut s, 7, "");
    // Start a run and kill the server while it works.
    let child = std::process::Command::new(PECCTL)
        .arg("--socket")
        .arg(s.socket())
        .args(["jobs", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill as soon as the run has started revoking (the job runner's first audit entry).
    let began = std::time::Instant::now();
    while began.elapsed() < std::time::Duration::from_secs(20) {
        let audit = s.json(&["audit", "--operator", "jobs"]);
        if !audit.as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    s.kill9();
    drop(child);
    s.spawn();
    let started = users
        .iter()
        .filter(|u| s.json(&["mailbox", "show", u])["archive"]["state"] != "evasa")
        .count();
    eprintln!("killed with {started} of {N} mailboxes revoked or in revoca");
    jobs(&s);
    assert_eq!(done(&jobs(&s)), vec![], "all finished");
    let mut summarised = Vec::new();
    for n in notices_of(&s, REPORT, "expiry.summary") {
        for u in &users {
            if n.text.contains(&format!("casella: {u};")) {
                summarised.push(u.clone());
            }
        }
    }
    summarised.sort();
    assert_eq!(summarised, users, "each mailbox in exactly one summary");
    for u in &users {
        assert_eq!(
            s.json(&["mailbox", "show", u])["archive"]["state"],
            "revocata",
            "{u}"
        );
        assert_eq!(
            notices_of(&s, u, "mailbox.revoked").len(),
            1,
            "{u} told once"
        );
    }
}
