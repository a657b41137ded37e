//! `pecctl mailbox create|list|show|delete|passwd|import|set`: one test per command.

use super::support::*;
use super::{fixture, human, json_exit, refused};

const MARIO: &str = "mario.rossi@pec.localhost";

/// Creates MARIO and imports the LF fixture twice (INBOX, then Archive); returns the stored
/// size of one copy.
fn with_two_messages(s: &Server) -> u64 {
    s.create_mailbox(MARIO);
    let imported = s.json(&["mailbox", "import", MARIO, &fixture("plain-lf.eml")]);
    s.json(&[
        "mailbox",
        "import",
        MARIO,
        "--folder",
        "Archive",
        &fixture("plain-lf.eml"),
    ]);
    imported["imported"][0]["size"].as_u64().unwrap()
}

#[test]
fn mailbox_create_folds_the_address_and_makes_the_special_use_folders() {
    let s = server().start();
    let created = json_exit(
        &s,
        &[
            "mailbox",
            "create",
            "Mario.Rossi@PEC.localhost",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
        0,
    );
    assert_eq!(created["address"], MARIO);
    let out = human(
        &s,
        &[
            "mailbox",
            "create",
            "luigi@pec.localhost",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.starts_with("created luigi@pec.localhost\n"), "{out}");

    let shown = s.json(&["mailbox", "show", MARIO]);
    assert_eq!(shown["address"], MARIO);
    assert_eq!(shown["state"], "active");
    let folders: Vec<(String, Option<String>)> = shown["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().into(),
                f["special_use"].as_str().map(String::from),
            )
        })
        .collect();
    for (name, role) in [
        ("INBOX", None),
        ("Sent", Some("\\Sent")),
        ("Drafts", Some("\\Drafts")),
        ("Trash", Some("\\Trash")),
        ("Junk", Some("\\Junk")),
        ("Archive", Some("\\Archive")),
    ] {
        assert!(
            folders.contains(&(name.to_string(), role.map(String::from))),
            "{name} in {folders:?}"
        );
    }
}

#[test]
fn mailbox_list_shows_every_mailbox_with_its_figures() {
    let s = server().start();
    let size = with_two_messages(&s);
    let list = json_exit(&s, &["mailbox", "list"], "", 0);
    assert_eq!(list[0]["messages"], 2);
    assert_eq!(list[0]["used_bytes"].as_u64().unwrap(), 2 * size);
    // Ours and the provider's service mailbox.
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let out = human(&s, &["mailbox", "list"], "");
    assert!(
        out.contains(&format!("{MARIO}\tactive\t2 messages\t")),
        "{out}"
    );
}

#[test]
fn mailbox_show_gives_state_folders_and_settings() {
    let s = server().start();
    s.create_mailbox(MARIO);
    let shown = json_exit(&s, &["mailbox", "show", MARIO], "", 0);
    assert_eq!(shown["address"], MARIO);
    assert_eq!(shown["messages"], 0);
    assert_eq!(shown["effective_sender_per_minute"], 6);
    let out = human(&s, &["mailbox", "show", MARIO], "");
    assert!(
        out.starts_with(&format!("address: {MARIO}\nstate: active\n")),
        "{out}"
    );
    assert!(
        out.contains("sender limit: 6 per minute (default)"),
        "{out}"
    );
    let doc = refused(
        &s,
        &["mailbox", "show", "nobody@pec.localhost"],
        "",
        "no_mailbox",
    );
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no such mailbox"),
        "{doc}"
    );
}

#[test]
fn mailbox_import_stores_crlf_dates_and_folders() {
    let s = server().start();
    s.create_mailbox(MARIO);
    // Import: LF file stored in CRLF form, date taken from the Date header.
    let imported = json_exit(
        &s,
        &["mailbox", "import", MARIO, &fixture("plain-lf.eml")],
        "",
        0,
    );
    assert_eq!(imported["imported"][0]["uid"], 1);
    assert_eq!(imported["imported"][0]["folder"], "INBOX");
    assert_eq!(imported["failed"], serde_json::json!([]));
    let lf_len = std::fs::read(fixture("plain-lf.eml")).unwrap().len() as u64;
    let lines = std::fs::read(fixture("plain-lf.eml"))
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    assert_eq!(
        imported["imported"][0]["size"],
        lf_len + lines,
        "CRLF line endings counted"
    );
    let again = s.json(&[
        "mailbox",
        "import",
        MARIO,
        "--folder",
        "Archive",
        &fixture("plain-lf.eml"),
    ]);
    assert_eq!(again["imported"][0]["folder"], "Archive");
    let list = s.json(&["mailbox", "list"]);
    assert_eq!(list[0]["messages"], 2);
    assert_eq!(
        list[0]["used_bytes"].as_u64().unwrap(),
        2 * (lf_len + lines)
    );
    let out = human(
        &s,
        &[
            "mailbox",
            "import",
            MARIO,
            "--folder",
            "Sent",
            &fixture("plain-lf.eml"),
        ],
        "",
    );
    assert!(
        out.ends_with(&format!(": Sent uid 1 ({} bytes)\n", lf_len + lines)),
        "{out}"
    );
}

#[test]
fn mailbox_set_sender_per_minute_and_back_to_the_default() {
    let s = server().start();
    s.create_mailbox(MARIO);
    // Sender limit override, then back to the default.
    let set = json_exit(
        &s,
        &["mailbox", "set", MARIO, "--sender-per-minute", "30"],
        "",
        0,
    );
    assert_eq!(
        (
            set["sender_per_minute"].as_u64(),
            set["effective_sender_per_minute"].as_u64()
        ),
        (Some(30), Some(30))
    );
    let out = human(&s, &["mailbox", "show", MARIO], "");
    assert!(
        out.contains("sender limit: 30 per minute (mailbox setting)"),
        "{out}"
    );
    let set = s.json(&["mailbox", "set", MARIO, "--sender-per-minute", "default"]);
    assert!(set["sender_per_minute"].is_null());
    assert_eq!(set["effective_sender_per_minute"], 6);
}

#[test]
fn mailbox_passwd_refuses_a_weak_password_and_takes_a_strong_one() {
    let s = server().start();
    s.create_mailbox(MARIO);
    // A weak one is refused with every rule listed; a strong one is taken.
    let out = s.pecctl(&["mailbox", "passwd", MARIO, "--password-stdin"], "aaaa\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for rule in [
        "at least 8 characters",
        "upper-case",
        "digit",
        "special character",
        "repeated more than twice",
    ] {
        assert!(err.contains(rule), "{rule} missing from {err}");
    }
    refused(
        &s,
        &["mailbox", "passwd", MARIO, "--password-stdin"],
        "aaaa\n",
        "weak_password",
    );
    let out = s.pecctl(
        &["mailbox", "passwd", MARIO, "--password-stdin"],
        "Nuova-Pass7\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("password changed for {MARIO}\n")
    );
    assert!(s.json(&["mailbox", "show", MARIO])["password_changed_at"].is_string());
    let changed = json_exit(
        &s,
        &["mailbox", "passwd", MARIO, "--password-stdin"],
        "Altra-Pass8\n",
        0,
    );
    assert_eq!(changed["address"], MARIO);
}

#[test]
fn mailbox_delete_removes_the_mailbox_and_its_messages() {
    let s = server().start();
    with_two_messages(&s);
    let deleted = json_exit(&s, &["mailbox", "delete", MARIO], "", 0);
    assert_eq!(deleted["messages"], 2);
    let left = s.json(&["mailbox", "list"]);
    assert!(
        left.as_array()
            .unwrap()
            .iter()
            .all(|m| m["address"] != MARIO),
        "{left}"
    );
    let out = s.pecctl(&["mailbox", "show", MARIO], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such mailbox"),
        "{}",
        text(&out)
    );
    refused(&s, &["mailbox", "delete", MARIO], "", "no_mailbox");
    s.create_mailbox(MARIO);
    let out = human(&s, &["mailbox", "delete", MARIO], "");
    assert_eq!(out, format!("deleted {MARIO} (0 messages)\n"));
}
