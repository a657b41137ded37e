//! The records of a request (richiesta, PROVISIONING.md §3): the contract's people, its
//! mailbox lines, its state and its contract documents, as stored and as shown. Field names
//! and state spellings are a contract (ARCHITECTURE.md "Interfaces"): add fields with
//! `#[serde(default)]`, rename none.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::MailboxType;
use crate::records::Record;

/// The three states of a request (PROVISIONING.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RequestState {
    /// Accepted, waiting for its contract and the job runner.
    #[serde(rename = "da elaborare")]
    DaElaborare,
    /// Every mailbox of it activated.
    #[serde(rename = "evasa")]
    Evasa,
    #[serde(rename = "annullata")]
    Annullata,
}

impl RequestState {
    pub fn name(self) -> &'static str {
        match self {
            RequestState::DaElaborare => "da elaborare",
            RequestState::Evasa => "evasa",
            RequestState::Annullata => "annullata",
        }
    }
}

/// The richiedente: the natural person who signs the contract.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub surname: String,
    pub first_name: String,
    pub tax_code: String,
    pub email: String,
    pub phone: String,
}

/// The titolare: the owner of the contract (person, company, public body, professional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Titolare {
    /// Name or company name.
    pub name: String,
    /// Tax code or VAT number.
    pub tax_code: String,
    pub address: String,
    /// PEC contact e-mail.
    pub email: String,
}

/// One mailbox line of a request: exactly one address and one description (the display
/// name), and a type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLine {
    pub address: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: MailboxType,
}

/// A contract document kept with its request; the bytes are in [`CONTRACT_DATA`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contract {
    pub name: String,
    pub size: u64,
    pub uploaded_at: i64,
    pub uploaded_by: String,
}

/// The first password of a mailbox the job runner activated, kept until an operator in
/// scope has seen it once (`request show`); then wiped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InitialPassword {
    pub address: String,
    pub userid: String,
    pub password: String,
}

/// Records family of the contract documents' bytes: code ‖ 0 ‖ name -> raw bytes.
pub const CONTRACT_DATA: &str = "contract_data";

/// A request (richiesta): one activation contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Codice attivazione.
    pub code: u64,
    pub state: RequestState,
    pub customer: String,
    pub account: String,
    /// The reseller's order number.
    #[serde(default)]
    pub order: Option<String>,
    /// One expiry date for all its mailboxes.
    pub expiry: NaiveDate,
    pub richiedente: Person,
    pub titolare: Titolare,
    pub lines: Vec<RequestLine>,
    /// The filing reference of the paper contract; once set, `request complete` is closed.
    #[serde(default)]
    pub collocazione: Option<String>,
    #[serde(default)]
    pub contracts: Vec<Contract>,
    /// When the contract documents were confirmed (acquired): the request is then processed.
    #[serde(default)]
    pub confirmed_at: Option<i64>,
    #[serde(default)]
    pub processed_at: Option<i64>,
    #[serde(default)]
    pub initial_passwords: Vec<InitialPassword>,
    pub created_by: String,
    pub created_at: i64,
}

impl Record for Request {
    const FAMILY: &'static str = "request";
    fn key(&self) -> Vec<u8> {
        request_key(self.code)
    }
}

/// Requests are keyed by their code in big-endian, so a scan reads them oldest first.
pub fn request_key(code: u64) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// One mailbox of a request as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailboxView {
    pub address: String,
    pub userid: Option<String>,
    pub state: String,
    #[serde(rename = "type")]
    pub kind: Option<MailboxType>,
    pub description: String,
}

/// A request as `request create|show|search` and the HTTPS console show it. `code` is
/// `None` for an incomplete mailbox (`codice attivazione: non definito`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestView {
    pub code: Option<u64>,
    /// `None` for an incomplete mailbox, which has no request.
    pub state: Option<RequestState>,
    pub customer: Option<String>,
    pub account: Option<String>,
    pub order: Option<String>,
    pub expiry: Option<NaiveDate>,
    pub richiedente: Option<Person>,
    pub titolare: Option<Titolare>,
    pub collocazione: Option<String>,
    pub confirmed: bool,
    pub contracts: Vec<Contract>,
    pub mailboxes: Vec<MailboxView>,
    /// First passwords, shown once (see [`InitialPassword`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_passwords: Vec<InitialPassword>,
    /// The manual's warning, on a modification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub created_at: Option<i64>,
    pub created_by: Option<String>,
}

impl RequestView {
    /// The view of an incomplete mailbox: no request, `codice attivazione: non definito`.
    pub fn incomplete(c: &crate::model::Casella) -> RequestView {
        RequestView {
            code: None,
            state: None,
            customer: None,
            account: None,
            order: None,
            expiry: c.expiry,
            richiedente: None,
            titolare: None,
            collocazione: None,
            confirmed: false,
            contracts: Vec::new(),
            mailboxes: vec![MailboxView {
                address: c.address.clone(),
                userid: c.userid.clone(),
                state: c.shown_state().to_string(),
                kind: c.kind,
                description: c.description.clone(),
            }],
            initial_passwords: Vec::new(),
            warning: None,
            created_at: Some(c.inserted_at),
            created_by: None,
        }
    }
}
