//! Contract documents (PROVISIONING.md §3, M§3.3): accepted types and sizes, deletion only
//! before the confirmation, and the confirmation's rules.

use super::support::cli::*;
use super::support::*;
use super::{create, line, request_doc, setup, write};

#[test]
fn contract_types_and_sizes() {
    let s = server()
        .extra("\n[archive]\ncontract_max_bytes = 1000\ncontracts_per_request = 2\n")
        .start();
    setup(&s);
    let code = super::code(&create(
        &s,
        None,
        &request_doc("A1", serde_json::json!([line("c@pec.localhost")])),
    ));
    let exe = write(&s, "programma.exe", b"MZ...");
    let e = json_exit(&s, &["request", "contract", "add", &code, &exe], "", 1);
    assert!(
        e["failed"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tipo di file non ammesso"),
        "{e}"
    );
    // An oversized document is refused and the next file of the same command is uploaded.
    let big = write(&s, "grande.pdf", &vec![b'x'; 2000]);
    let ok = write(&s, "Contratto.P7M", b"firmato");
    let out = s.pecctl(&["request", "contract", "add", &code, &big, &ok], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Upload del file:Contratto.P7M completato"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2000"),
        "{}",
        text(&out)
    );
    let tif = write(&s, "scansione.tif", b"II*\0");
    let r = json_exit(&s, &["request", "contract", "add", &code, &tif], "", 0);
    assert_eq!(
        r["uploaded"][0]["message"],
        "Upload del file:scansione.tif completato"
    );
    // At most contracts_per_request documents.
    let txt = write(&s, "nota.txt", b"nota");
    json_exit(&s, &["request", "contract", "add", &code, &txt], "", 1);
    let list = json_exit(&s, &["request", "contract", "list", &code], "", 0);
    let names: Vec<&str> = list["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Contratto.P7M", "scansione.tif"]);
    assert_eq!(list["contracts"][0]["size"], 7);
    // A request that does not exist, a code that is not one.
    json_exit(&s, &["request", "contract", "add", "999", &tif], "", 1);
    refused(
        &s,
        &["request", "contract", "list", "abc"],
        "",
        "invalid_value",
    );
}

#[test]
fn contract_delete_only_before_confirm() {
    let s = server().start();
    setup(&s);
    let code = super::code(&create(
        &s,
        None,
        &request_doc("A1", serde_json::json!([line("d@pec.localhost")])),
    ));
    let e = refused(
        &s,
        &["request", "contract", "confirm", &code],
        "",
        "conflict",
    );
    assert!(
        e.to_string().contains("caricare almeno un documento"),
        "{e}"
    );
    let pdf = write(&s, "contratto.pdf", b"%PDF");
    human(&s, &["request", "contract", "add", &code, &pdf], "");
    let d = json_exit(
        &s,
        &["request", "contract", "delete", &code, "contratto.pdf"],
        "",
        0,
    );
    assert!(d["contracts"].as_array().unwrap().is_empty());
    refused(
        &s,
        &["request", "contract", "delete", &code, "contratto.pdf"],
        "",
        "not_found",
    );
    human(&s, &["request", "contract", "add", &code, &pdf], "");
    let c = json_exit(&s, &["request", "contract", "confirm", &code], "", 0);
    assert_eq!(
        c["message"],
        "[!] Operazione avvenuta con successo: file acquisiti dal sistema"
    );
    assert_eq!(c["confirmed"], true);
    let e = refused(
        &s,
        &["request", "contract", "delete", &code, "contratto.pdf"],
        "",
        "conflict",
    );
    assert!(e.to_string().contains("già stati acquisiti"), "{e}");
    json_exit(&s, &["request", "contract", "add", &code, &pdf], "", 1);
    refused(
        &s,
        &["request", "contract", "confirm", &code],
        "",
        "conflict",
    );
    // Kept: still listed after a restart of pecd.
    let mut s = s;
    s.kill9();
    s.spawn();
    let list = json_exit(&s, &["request", "contract", "list", &code], "", 0);
    assert_eq!(list["contracts"][0]["name"], "contratto.pdf");
    assert_eq!(list["confirmed"], true);
}
