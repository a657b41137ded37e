//! The PEC message kinds and the header values that name them (PEC.md §2.1, §3).

use serde::{Deserialize, Serialize};

/// One of the message kinds of PEC.md §2.1 (the master table's rows; the three delivery
/// receipts share [`Kind::Delivery`] and differ by [`ReceiptType`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// #1 busta di trasporto.
    Envelope,
    /// #2 ricevuta di accettazione.
    Acceptance,
    /// #3 avviso di non accettazione (eccezioni formali).
    NonAcceptance,
    /// #4 avviso di non accettazione per virus.
    NonAcceptanceVirus,
    /// #5 ricevuta di presa in carico.
    TakingCharge,
    /// #6 busta di anomalia.
    Anomaly,
    /// #7 avviso di rilevazione virus.
    VirusDetection,
    /// #8 avviso di mancata consegna per virus.
    NonDeliveryVirus,
    /// #9–#11 ricevuta di avvenuta consegna (completa, breve, sintetica).
    Delivery,
    /// #12 avviso di mancata consegna.
    NonDelivery,
    /// #13 avviso di mancata consegna per superamento dei tempi massimi (12 h and 24 h).
    Timeout,
}

/// The delivery-receipt type a sender asks for with `X-TipoRicevuta` (PEC.md §3.1, §6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptType {
    #[default]
    Completa,
    Breve,
    Sintetica,
}

impl ReceiptType {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptType::Completa => "completa",
            ReceiptType::Breve => "breve",
            ReceiptType::Sintetica => "sintetica",
        }
    }

    /// Parses an `X-TipoRicevuta` value, case-insensitively; anything else is `None`.
    pub fn parse(value: &str) -> Option<ReceiptType> {
        match value.trim().to_ascii_lowercase().as_str() {
            "completa" => Some(ReceiptType::Completa),
            "breve" => Some(ReceiptType::Breve),
            "sintetica" => Some(ReceiptType::Sintetica),
            _ => None,
        }
    }

    /// The receipt actually sent for one recipient (PEC.md §6.4 table, §4.5 last point): a
    /// Cc recipient always gets a sintetica one.
    pub fn for_recipient(self, in_cc_only: bool) -> ReceiptType {
        if in_cc_only {
            ReceiptType::Sintetica
        } else {
            self
        }
    }
}

/// The `errore` attribute of daticert (PEC.md §7.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Errore {
    #[default]
    Nessuno,
    NoDest,
    NoDominio,
    Virus,
    Altro,
}

impl Errore {
    pub fn as_str(self) -> &'static str {
        match self {
            Errore::Nessuno => "nessuno",
            Errore::NoDest => "no-dest",
            Errore::NoDominio => "no-dominio",
            Errore::Virus => "virus",
            Errore::Altro => "altro",
        }
    }

    pub fn parse(s: &str) -> Option<Errore> {
        Some(match s {
            "nessuno" => Errore::Nessuno,
            "no-dest" => Errore::NoDest,
            "no-dominio" => Errore::NoDominio,
            "virus" => Errore::Virus,
            "altro" => Errore::Altro,
            _ => return None,
        })
    }
}

impl Kind {
    /// Every kind, in the order of PEC.md §2.1.
    pub const ALL: [Kind; 11] = [
        Kind::Envelope,
        Kind::Acceptance,
        Kind::NonAcceptance,
        Kind::NonAcceptanceVirus,
        Kind::TakingCharge,
        Kind::Anomaly,
        Kind::VirusDetection,
        Kind::NonDeliveryVirus,
        Kind::Delivery,
        Kind::NonDelivery,
        Kind::Timeout,
    ];

    /// The type header and its value (PEC.md §2.1 "Type header(s)", §3.1, §3.2, §3.3).
    pub fn type_header(self) -> (&'static str, &'static str) {
        match self {
            Kind::Envelope => ("X-Trasporto", "posta-certificata"),
            Kind::Anomaly => ("X-Trasporto", "errore"),
            Kind::Acceptance => ("X-Ricevuta", "accettazione"),
            Kind::NonAcceptance | Kind::NonAcceptanceVirus => ("X-Ricevuta", "non-accettazione"),
            Kind::TakingCharge => ("X-Ricevuta", "presa-in-carico"),
            Kind::VirusDetection => ("X-Ricevuta", "rilevazione-virus"),
            Kind::NonDeliveryVirus | Kind::NonDelivery => ("X-Ricevuta", "errore-consegna"),
            Kind::Delivery => ("X-Ricevuta", "avvenuta-consegna"),
            Kind::Timeout => ("X-Ricevuta", "preavviso-errore-consegna"),
        }
    }

    /// Whether the kind carries `X-VerificaSicurezza: errore` (PEC.md §3.2: only #4 and #8).
    pub fn security_error(self) -> bool {
        matches!(self, Kind::NonAcceptanceVirus | Kind::NonDeliveryVirus)
    }

    /// The daticert `tipo` (PEC.md §7.1); the anomaly envelope has no daticert (§2.1 #6).
    pub fn tipo(self) -> Option<&'static str> {
        match self {
            Kind::Anomaly => None,
            Kind::Envelope => Some("posta-certificata"),
            other => Some(other.type_header().1),
        }
    }

    /// The subject prefix (PEC.md §2.1 "Subject prefix").
    pub fn subject_prefix(self) -> &'static str {
        match self {
            Kind::Envelope => "POSTA CERTIFICATA: ",
            Kind::Acceptance => "ACCETTAZIONE: ",
            Kind::NonAcceptance => "AVVISO DI NON ACCETTAZIONE: ",
            Kind::NonAcceptanceVirus => "AVVISO DI NON ACCETTAZIONE PER VIRUS: ",
            Kind::TakingCharge => "PRESA IN CARICO: ",
            Kind::Anomaly => "ANOMALIA MESSAGGIO: ",
            Kind::VirusDetection => "PROBLEMA DI SICUREZZA: ",
            Kind::NonDeliveryVirus => "AVVISO DI MANCATA CONSEGNA PER VIRUS: ",
            Kind::Delivery => "CONSEGNA: ",
            Kind::NonDelivery => "AVVISO DI MANCATA CONSEGNA: ",
            Kind::Timeout => "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: ",
        }
    }

    /// A short English name, used in logs, `pecd verify` and `pecctl trace`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Envelope => "busta di trasporto",
            Kind::Acceptance => "ricevuta di accettazione",
            Kind::NonAcceptance => "avviso di non accettazione",
            Kind::NonAcceptanceVirus => "avviso di non accettazione per virus",
            Kind::TakingCharge => "ricevuta di presa in carico",
            Kind::Anomaly => "busta di anomalia",
            Kind::VirusDetection => "avviso di rilevazione virus",
            Kind::NonDeliveryVirus => "avviso di mancata consegna per virus",
            Kind::Delivery => "ricevuta di avvenuta consegna",
            Kind::NonDelivery => "avviso di mancata consegna",
            Kind::Timeout => "avviso di mancata consegna per superamento dei tempi massimi",
        }
    }

    /// Classifies a message by its type headers only (PEC.md §2.1 last paragraph: by
    /// `X-Ricevuta` / `X-Trasporto`, then `X-VerificaSicurezza`; never by the subject).
    /// `None` when neither header carries a known value: not a PEC message.
    pub fn from_headers(
        x_trasporto: Option<&str>,
        x_ricevuta: Option<&str>,
        x_verifica_sicurezza: Option<&str>,
    ) -> Option<Kind> {
        let security =
            x_verifica_sicurezza.is_some_and(|v| v.trim().eq_ignore_ascii_case("errore"));
        if let Some(t) = x_trasporto {
            return match t.trim().to_ascii_lowercase().as_str() {
                "posta-certificata" => Some(Kind::Envelope),
                "errore" => Some(Kind::Anomaly),
                _ => None,
            };
        }
        let r = x_ricevuta?.trim().to_ascii_lowercase();
        Some(match r.as_str() {
            "accettazione" => Kind::Acceptance,
            "non-accettazione" if security => Kind::NonAcceptanceVirus,
            "non-accettazione" => Kind::NonAcceptance,
            "presa-in-carico" => Kind::TakingCharge,
            "avvenuta-consegna" => Kind::Delivery,
            "errore-consegna" if security => Kind::NonDeliveryVirus,
            "errore-consegna" => Kind::NonDelivery,
            "preavviso-errore-consegna" => Kind::Timeout,
            "rilevazione-virus" => Kind::VirusDetection,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_for_every_kind() {
        for kind in Kind::ALL {
            let (name, value) = kind.type_header();
            let security = kind.security_error().then_some("errore");
            let back = if name == "X-Trasporto" {
                Kind::from_headers(Some(value), None, security)
            } else {
                Kind::from_headers(None, Some(value), security)
            };
            assert_eq!(back, Some(kind), "{kind:?}");
        }
    }

    #[test]
    fn seven_ricevuta_values_and_no_mancata_consegna() {
        let mut values: Vec<&str> = Kind::ALL
            .iter()
            .filter(|k| k.type_header().0 == "X-Ricevuta")
            .map(|k| k.type_header().1)
            .collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), 7);
        assert_eq!(
            Kind::from_headers(None, Some("mancata-consegna"), None),
            None
        );
        assert_eq!(Kind::from_headers(None, None, None), None);
        // Case-insensitive values, as observed in the wild.
        assert_eq!(
            Kind::from_headers(Some(" Posta-Certificata"), None, None),
            Some(Kind::Envelope)
        );
    }

    #[test]
    fn cc_recipients_get_sintetica() {
        assert_eq!(
            ReceiptType::Completa.for_recipient(true),
            ReceiptType::Sintetica
        );
        assert_eq!(ReceiptType::Breve.for_recipient(false), ReceiptType::Breve);
        assert_eq!(ReceiptType::parse("BREVE"), Some(ReceiptType::Breve));
        assert_eq!(ReceiptType::parse("other"), None);
    }
}
