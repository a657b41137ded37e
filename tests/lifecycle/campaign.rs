//! The password campaign (PROVISIONING.md §7): a fixture of 40 user ids (10 mailboxes, each
//! a master and three slaves) whose passwords are over 12 months old, with last accesses
//! spread over the four lists, and half of the slaves with security information; the CSV
//! with the source's columns and NOINFO; the block with its reminders.

use super::*;

const LOGIN: &str = r#"
import imaplib, ssl, sys
ca, port = sys.argv[1:3]
for user in sys.argv[3:]:
    m = imaplib.IMAP4_SSL('localhost', int(port), ssl_context=ssl.create_default_context(cafile=ca))
    m.login(user, PASSWORD)
    m.logout()
"#;

/// Logs each user id in over IMAP (their last access is now, on the server's clock).
fn log_in(s: &Server, userids: &[String]) {
    if userids.is_empty() {
        return;
    }
    let script = LOGIN.replace("PASSWORD", &format!("'{}'", support::PASSWORD));
    let port = s.listener("imaps").port().to_string();
    let ca = s.ca();
    let mut args = vec!["-c", &script, ca.to_str().unwrap(), &port];
    args.extend(userids.iter().map(String::as_str));
    tool(std::process::Command::new("python3").args(args));
    jobs(s); // writes the noted last accesses
}

/// The fixture: `(list, userid, casella, slave, has_info)` for each of the 40 user ids.
struct Fixture {
    ids: Vec<(usize, String, String, bool, bool)>,
}

fn fixture(s: &Server) -> Fixture {
    customer(s);
    let mut ids = Vec::new();
    for i in 0..10 {
        let address = format!("c{i}@pec.localhost");
        let master = assign(s, &address);
        ids.push((0, master, address.clone(), false, false));
        for j in 1..4 {
            let mut args = vec![
                "slave",
                "add",
                &address,
                "--first-name",
                "Anna",
                "--last-name",
                "Bianchi",
                "--password-stdin",
            ];
            let with_info = j % 2 == 1;
            if with_info {
                args.extend(["--recovery-email", "recupero@example.com"]);
            }
            let added = json_exit(s, &args, &format!("{PASSWORD}\n"), 0);
            let userid = added["userid"].as_str().unwrap().to_string();
            ids.push((0, userid, address.clone(), true, with_info));
        }
    }
    jobs(s); // the slaves become active
    for (n, id) in ids.iter_mut().enumerate() {
        id.0 = n % 4; // LIST1..LIST4 by position
    }
    Fixture { ids }
}

impl Fixture {
    fn in_list(&self, list: usize) -> Vec<String> {
        self.ids
            .iter()
            .filter(|i| i.0 == list)
            .map(|i| i.1.clone())
            .collect()
    }
}

#[test]
fn the_campaign_csv_of_40_user_ids_over_the_four_lists_with_noinfo() {
    let users: Vec<String> = (0..10).map(|i| format!("c{i}@pec.localhost")).collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let mut s = server().users(&refs).extra(NO_SCHEDULE).start();
    let f = fixture(&s);
    // Passwords set today; last accesses: LIST2 at day 100, LIST3 at 250, LIST4 at 340,
    // LIST1 never; the report at day 400 (every password over 12 months old).
    for (list, at) in [(1, 100), (2, 250), (3, 340)] {
        restart_at(&mut s, at, "");
        log_in(&s, &f.in_list(list));
    }
    restart_at(&mut s, 400, "");
    let out = human(&s, &["password", "campaign", "--csv"], "");
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "DATA_ORA_LISTA;USER;CASELLA;SLAVE IMPATTATE;MASTER IMPATTATA;ACCOUNT;CLIENTE;\
         DESCRIZIONE ACCOUNT;LISTA"
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(';').map(str::to_string).collect())
        .collect();
    // Every user id appears once, in its list, with NOINFO exactly where it has no info.
    let mut seen = 0;
    for (list, userid, casella, slave, info) in &f.ids {
        let name = if *info {
            userid.clone()
        } else {
            format!("{userid}-NOINFO")
        };
        let row = rows
            .iter()
            .find(|r| r[2] == *casella && r[8] == format!("LIST{}", list + 1))
            .unwrap_or_else(|| panic!("{casella} in LIST{}: {out}", list + 1));
        assert_eq!(row.len(), 9);
        assert_eq!(
            (&row[5][..], &row[6][..], &row[7][..]),
            ("A1", "C1", "Rivenditore Nord")
        );
        if *slave {
            assert!(row[3].split(',').any(|x| x == name), "{name} in {row:?}");
        } else {
            assert_eq!(row[4], "SI", "{row:?}");
            assert_eq!(row[1], name, "the master's user id, NOINFO: {row:?}");
        }
        seen += 1;
    }
    assert_eq!(seen, 40);
    let ids_in_csv: usize = rows
        .iter()
        .map(|r| usize::from(r[4] == "SI") + r[3].split(',').filter(|x| !x.is_empty()).count())
        .sum();
    assert_eq!(ids_in_csv, 40, "no user id twice");
    assert!(
        rows[0][0].contains('/'),
        "DATA_ORA_LISTA dd/mm/yyyy: {:?}",
        rows[0]
    );

    // The JSON form and an account filter agree; an unknown account is refused.
    let doc = s.json(&["password", "campaign", "--account", "A1"]);
    assert_eq!(doc["rows"].as_array().unwrap().len(), rows.len());
    refused(
        &s,
        &["password", "campaign", "--account", "ZZ"],
        "",
        "not_found",
    );

    // Block LIST4: a reminder to each of its mailboxes at once, naming the user ids.
    let on = day(400 + 14).to_string();
    let b = json_exit(
        &s,
        &["password", "block", "--list", "LIST4", "--on", &on],
        "",
        0,
    );
    assert_eq!(b["userids"], 10, "{b}");
    assert_eq!(count(&jobs(&s), "password.reminder"), 0, "not again");
    refused(
        &s,
        &["password", "block", "--list", "LIST9", "--on", &on],
        "",
        "invalid_value",
    );
    let past = day(399).to_string();
    refused(
        &s,
        &["password", "block", "--list", "LIST1", "--on", &past],
        "",
        "invalid_value",
    );
    // The passwords are expired by now: the reminders are read from the store.
    let (_, first, casella, _, _) = f.ids.iter().find(|i| i.0 == 3).unwrap();
    let in_list: Vec<String> = f
        .ids
        .iter()
        .filter(|i| i.0 == 3 && i.2 == *casella)
        .map(|i| i.1.clone())
        .collect();
    let reminders = stored_notices(&mut s, casella, "password.reminder");
    assert_eq!(reminders.len(), 1, "reminded once, at once");
    for u in &in_list {
        assert!(
            reminders[0].text.contains(u.as_str()),
            "{u}: {}",
            reminders[0].text
        );
    }
    assert!(reminders[0].text.contains(first.as_str()));
    assert!(reminders[0].subject.contains(casella.as_str()));
    let from = chrono::NaiveDate::parse_from_str(&on, "%Y-%m-%d").unwrap();
    assert!(reminders[0]
        .text
        .contains(&from.format("%d/%m/%Y").to_string()));
}
