//! What every pecctl command shares: the exit codes of ARCHITECTURE.md "Interfaces" (0 done,
//! 1 refused, 2 usage, 3 unreachable), the JSON-or-text printing of a result, the report of a
//! failed call, and local times.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use pecd_control::client::ClientError;
use serde::Serialize;

/// Exit codes: 0 done, 1 refused by the server, 2 usage, 3 cannot reach pecd.
pub const REFUSED: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNREACHABLE: u8 = 3;

/// How a command ended when the server did not refuse it outright.
pub enum Done {
    Ok,
    /// Partly refused, and already reported: exit with this code.
    Reported(u8),
}

pub fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("results serialize")
        );
    } else {
        print!("{}", human(value));
    }
}

pub fn report(json: bool, e: &ClientError) -> ExitCode {
    let code = match e {
        ClientError::Refused(_) => REFUSED,
        _ => UNREACHABLE,
    };
    if json {
        let doc = match e {
            ClientError::Refused(err) => serde_json::json!({ "error": err }),
            other => {
                serde_json::json!({ "error": { "code": "unreachable", "message": other.to_string() } })
            }
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("errors serialize")
        );
    }
    match e {
        ClientError::Refused(err) if !err.details.is_empty() => {
            eprintln!("pecctl: {err}:");
            for d in &err.details {
                eprintln!("  - {d}");
            }
        }
        other => eprintln!("pecctl: {other}"),
    }
    ExitCode::from(code)
}

pub fn local(t: i64) -> String {
    pecd_signer::Moment::from_unix(t).text()
}

/// The first line of standard input, as `--password-stdin` reads it.
pub fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}
