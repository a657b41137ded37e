//! The request file of `request create|modify|complete --file` (PROVISIONING.md §3,
//! ARCHITECTURE.md "Interfaces"): TOML or JSON with the same keys. A key the file format does
//! not know (a typo) refuses the whole file, naming it, instead of being silently ignored.
//! Values are checked afterwards, line by line ([`super::validate`]).

use serde::{Deserialize, Serialize};

use super::model::{Person, Titolare};
use crate::error::{ArchiveError, Result};

/// Longest request file accepted (the control socket's line bounds it anyway).
pub const MAX_FILE_BYTES: usize = 60 * 1024;

/// Most mailbox lines one request may carry.
pub const MAX_LINES: usize = 500;

/// One mailbox line as written in the file; checked by [`super::validate`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineFile {
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub description: String,
    /// `base`, `aperta` or `standard` (default).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A request file. `customer` and `account` default to the operator's own (an
/// intermediario's); `expiry` to one year from today.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub order: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub expiry: Option<String>,
    #[serde(default)]
    pub richiedente: Person,
    #[serde(default)]
    pub titolare: Titolare,
    #[serde(default)]
    pub mailboxes: Vec<LineFile>,
    /// `request complete`: the filing reference of the paper contract.
    #[serde(default)]
    pub collocazione: Option<String>,
}

/// Parses a request file: JSON when it starts with `{`, TOML otherwise.
pub fn parse(text: &str) -> Result<RequestFile> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ArchiveError::invalid(format!(
            "file della richiesta: al massimo {MAX_FILE_BYTES} byte"
        )));
    }
    let value: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| ArchiveError::invalid(format!("file della richiesta (JSON): {e}")))?
    } else {
        let doc: toml::Table = text
            .parse()
            .map_err(|e| ArchiveError::invalid(format!("file della richiesta (TOML): {e}")))?;
        toml_to_json(toml::Value::Table(doc))
    };
    let file: RequestFile = serde_json::from_value(value)
        .map_err(|e| ArchiveError::invalid(format!("file della richiesta: {e}")))?;
    if file.mailboxes.len() > MAX_LINES {
        return Err(ArchiveError::invalid(format!(
            "file della richiesta: al massimo {MAX_LINES} caselle"
        )));
    }
    Ok(file)
}

/// TOML as JSON, dates as their `YYYY-MM-DD` text (an unquoted TOML date is a date value).
fn toml_to_json(v: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => J::from(f),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            J::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
customer = "C1"
account = "A1"
expiry = 2030-01-31
[richiedente]
surname = "Rossi"
first_name = "Mario"
tax_code = "RSSMRA80A01H501U"
email = "mario@example.it"
phone = "+39 06 1234567"
[titolare]
name = "Rossi S.r.l."
tax_code = "01234567890"
address = "Via Roma 1"
email = "amm@example.it"
[[mailboxes]]
address = "info@pec.localhost"
description = "Rossi"
type = "base"
"#;

    #[test]
    fn toml_and_json_files_read_the_same() {
        let t = parse(TOML).unwrap();
        assert_eq!(t.expiry.as_deref(), Some("2030-01-31"));
        assert_eq!(t.mailboxes[0].kind.as_deref(), Some("base"));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(parse(&json).unwrap(), t);
    }

    #[test]
    fn a_typo_key_is_refused_by_name() {
        let e = parse(&TOML.replace("first_name", "frist_name")).unwrap_err();
        assert!(e.message.contains("frist_name"), "{}", e.message);
        let e = parse(r#"{"mailboxes":[{"adress":"a@b.it"}]}"#).unwrap_err();
        assert!(e.message.contains("adress"), "{}", e.message);
        let e = parse(r#"{"ordine":"7"}"#).unwrap_err();
        assert!(e.message.contains("ordine"), "{}", e.message);
    }
}
