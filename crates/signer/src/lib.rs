//! pecd-signer: the PEC message kinds (PEC.md §2), their headers (§3), MIME structure (§4),
//! identifiers (§5), daticert.xml (§7), the provider index (§8) and S/MIME signatures (§9).
//! Pure functions over bytes: no file or network access, so every rule is unit-testable.
//!
//! Entry points: [`build::build`] and [`build::anomaly`] make signed messages,
//! [`inspect::check`] classifies and verifies one, [`breve::substitute`] makes the original of
//! a ricevuta breve.

pub mod breve;
pub mod build;
pub mod cms;
pub mod daticert;
pub mod index;
pub mod inspect;
pub mod kind;
pub mod mime;
pub mod postacert;
pub mod smime;
pub mod time;

pub use build::{Built, Document, Facts, Provider};
pub use daticert::{Daticert, Destinatario};
pub use index::{ProviderEntry, ProviderIndex};
pub use kind::{Errore, Kind, ReceiptType};
pub use smime::{ChainTime, Signer};
pub use time::Moment;
