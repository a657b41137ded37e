//! pecctl as the tests run it: human output expecting success, a `--json` document with an
//! expected exit code, and a refusal with its error code.

use super::{text, Server};

/// `pecctl ARGS` (human output) expecting exit code 0; returns standard output.
pub fn human(s: &Server, args: &[&str], stdin: &str) -> String {
    let out = s.pecctl(args, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "pecctl {args:?}: {}",
        text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `pecctl --json ARGS` expecting exit code `code`; returns the JSON document it printed.
pub fn json_exit(s: &Server, args: &[&str], stdin: &str, code: i32) -> serde_json::Value {
    let out = s.pecctl(&[&["--json"], args].concat(), stdin);
    assert_eq!(
        out.status.code(),
        Some(code),
        "pecctl {args:?}: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A refused command: exit code 1 and `{"error": {"code": CODE, ...}}` naming it.
pub fn refused(s: &Server, args: &[&str], stdin: &str, code: &str) -> serde_json::Value {
    let doc = json_exit(s, args, stdin, 1);
    assert_eq!(doc["error"]["code"], code, "{doc}");
    doc
}
