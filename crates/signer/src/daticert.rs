//! daticert.xml, the certification data (PEC.md §7): written with quick-xml in the element
//! order the DTD fixes, and read back for verification and classification.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;

use crate::kind::{Errore, ReceiptType};
use crate::time::Moment;

/// A `destinatari` element (PEC.md §7.2): `certificato` when its domain is a PEC domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Destinatario {
    pub address: String,
    pub certificato: bool,
}

/// The content of one daticert.xml (PEC.md §7.1, §7.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Daticert {
    pub tipo: String,
    pub errore: Errore,
    pub mittente: String,
    pub destinatari: Vec<Destinatario>,
    pub risposte: String,
    pub oggetto: Option<String>,
    pub gestore_emittente: String,
    pub zona: String,
    pub giorno: String,
    pub ora: String,
    pub identificativo: String,
    pub msgid: Option<String>,
    pub ricevuta: Option<ReceiptType>,
    pub consegna: Option<String>,
    pub ricezione: Vec<String>,
    pub errore_esteso: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DaticertError {
    #[error("daticert.xml is not well-formed XML: {0}")]
    Xml(String),
    #[error("daticert.xml lacks the {0} element")]
    Missing(&'static str),
    #[error("daticert.xml has an invalid value for {0}")]
    Invalid(&'static str),
}

impl Daticert {
    /// Fills the `data` element from the transaction's instant (PEC.md §10.6).
    pub fn set_time(&mut self, when: Moment) {
        self.zona = when.zona();
        self.giorno = when.giorno();
        self.ora = when.ora();
    }

    /// The XML document, UTF-8, in the DTD's element order (PEC.md §7.1); no DOCTYPE, as in
    /// observed files.
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(1024);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<postacert tipo=\"{}\" errore=\"{}\">\n",
            esc(&self.tipo),
            self.errore.as_str()
        ));
        x.push_str("  <intestazione>\n");
        element(&mut x, 4, "mittente", &self.mittente);
        for d in &self.destinatari {
            let tipo = if d.certificato {
                "certificato"
            } else {
                "esterno"
            };
            x.push_str(&format!(
                "    <destinatari tipo=\"{tipo}\">{}</destinatari>\n",
                esc(&d.address)
            ));
        }
        element(&mut x, 4, "risposte", &self.risposte);
        if let Some(o) = &self.oggetto {
            element(&mut x, 4, "oggetto", o);
        }
        x.push_str("  </intestazione>\n  <dati>\n");
        element(&mut x, 4, "gestore-emittente", &self.gestore_emittente);
        x.push_str(&format!("    <data zona=\"{}\">\n", esc(&self.zona)));
        element(&mut x, 6, "giorno", &self.giorno);
        element(&mut x, 6, "ora", &self.ora);
        x.push_str("    </data>\n");
        element(&mut x, 4, "identificativo", &self.identificativo);
        if let Some(m) = &self.msgid {
            element(&mut x, 4, "msgid", m);
        }
        if let Some(r) = self.ricevuta {
            x.push_str(&format!("    <ricevuta tipo=\"{}\"/>\n", r.as_str()));
        }
        if let Some(c) = &self.consegna {
            element(&mut x, 4, "consegna", c);
        }
        for r in &self.ricezione {
            element(&mut x, 4, "ricezione", r);
        }
        if let Some(e) = &self.errore_esteso {
            element(&mut x, 4, "errore-esteso", e);
        }
        x.push_str("  </dati>\n</postacert>\n");
        x
    }

    /// Reads a daticert.xml. Element order is not enforced here (that is the DTD's job in the
    /// test suite); required elements and enumerated values are.
    pub fn parse(xml: &[u8]) -> Result<Daticert, DaticertError> {
        let mut reader = Reader::from_reader(xml);
        reader.config_mut().trim_text(true);
        let mut d = Daticert {
            tipo: String::new(),
            errore: Errore::Nessuno,
            mittente: String::new(),
            destinatari: Vec::new(),
            risposte: String::new(),
            oggetto: None,
            gestore_emittente: String::new(),
            zona: String::new(),
            giorno: String::new(),
            ora: String::new(),
            identificativo: String::new(),
            msgid: None,
            ricevuta: None,
            consegna: None,
            ricezione: Vec::new(),
            errore_esteso: None,
        };
        let mut buf = Vec::new();
        let mut current: Option<String> = None;
        let mut dest_certificato = true;
        let mut seen_root = false;
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|e| DaticertError::Xml(e.to_string()))?;
            match event {
                Event::Start(e) | Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    let attr = |key: &str| -> Result<Option<String>, DaticertError> {
                        match e.try_get_attribute(key) {
                            Ok(Some(a)) => a
                                .unescape_value()
                                .map(|v| Some(v.into_owned()))
                                .map_err(|e| DaticertError::Xml(e.to_string())),
                            Ok(None) => Ok(None),
                            Err(e) => Err(DaticertError::Xml(e.to_string())),
                        }
                    };
                    match name.as_str() {
                        "postacert" => {
                            seen_root = true;
                            d.tipo = attr("tipo")?.ok_or(DaticertError::Missing("tipo"))?;
                            if let Some(e) = attr("errore")? {
                                d.errore =
                                    Errore::parse(&e).ok_or(DaticertError::Invalid("errore"))?;
                            }
                        }
                        "destinatari" => {
                            dest_certificato = attr("tipo")?.as_deref() != Some("esterno");
                        }
                        "data" => d.zona = attr("zona")?.ok_or(DaticertError::Missing("zona"))?,
                        "ricevuta" => {
                            let t = attr("tipo")?.ok_or(DaticertError::Missing("ricevuta"))?;
                            d.ricevuta = Some(
                                ReceiptType::parse(&t).ok_or(DaticertError::Invalid("ricevuta"))?,
                            );
                        }
                        _ => {}
                    }
                    current = Some(name);
                }
                Event::Text(t) => {
                    let text = t
                        .unescape()
                        .map_err(|e| DaticertError::Xml(e.to_string()))?
                        .into_owned();
                    match current.as_deref() {
                        Some("mittente") => d.mittente = text,
                        Some("destinatari") => d.destinatari.push(Destinatario {
                            address: text,
                            certificato: dest_certificato,
                        }),
                        Some("risposte") => d.risposte = text,
                        Some("oggetto") => d.oggetto = Some(text),
                        Some("gestore-emittente") => d.gestore_emittente = text,
                        Some("giorno") => d.giorno = text,
                        Some("ora") => d.ora = text,
                        Some("identificativo") => d.identificativo = text,
                        Some("msgid") => d.msgid = Some(text),
                        Some("consegna") => d.consegna = Some(text),
                        Some("ricezione") => d.ricezione.push(text),
                        Some("errore-esteso") => d.errore_esteso = Some(text),
                        _ => {}
                    }
                }
                Event::End(_) => current = None,
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        if !seen_root {
            return Err(DaticertError::Missing("postacert"));
        }
        for (value, name) in [
            (&d.mittente, "mittente"),
            (&d.identificativo, "identificativo"),
            (&d.gestore_emittente, "gestore-emittente"),
            (&d.giorno, "giorno"),
            (&d.ora, "ora"),
        ] {
            if value.is_empty() {
                return Err(DaticertError::Missing(name));
            }
        }
        if d.destinatari.is_empty() {
            return Err(DaticertError::Missing("destinatari"));
        }
        Ok(d)
    }
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn element(x: &mut String, indent: usize, name: &str, value: &str) {
    x.push_str(&" ".repeat(indent));
    x.push_str(&format!("<{name}>{}</{name}>\n", esc(value)));
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Daticert {
        let mut d = Daticert {
            tipo: "avvenuta-consegna".into(),
            errore: Errore::Nessuno,
            mittente: "mario.rossi@pec.example.it".into(),
            destinatari: vec![
                Destinatario {
                    address: "anna.bianchi@pec.example.net".into(),
                    certificato: true,
                },
                Destinatario {
                    address: "info@example.com".into(),
                    certificato: false,
                },
            ],
            risposte: "mario.rossi@pec.example.it".into(),
            oggetto: Some("Offerta n. 12 <è> & \"altro\"".into()),
            gestore_emittente: "Example Net PEC S.r.l.".into(),
            zona: String::new(),
            giorno: String::new(),
            ora: String::new(),
            identificativo: "opec1.20260305101542.4711.1.1@pec.example.it".into(),
            msgid: Some("<a81f3c2e@client.example>".into()),
            ricevuta: Some(ReceiptType::Completa),
            consegna: Some("anna.bianchi@pec.example.net".into()),
            ricezione: vec![],
            errore_esteso: None,
        };
        d.set_time(Moment::from_unix(1_772_702_147));
        d
    }

    #[test]
    fn writes_the_spec_example_shape_and_reads_it_back() {
        let d = sample();
        let xml = d.to_xml();
        assert!(xml.contains("<postacert tipo=\"avvenuta-consegna\" errore=\"nessuno\">"));
        assert!(xml.contains("<msgid>&lt;a81f3c2e@client.example&gt;</msgid>"));
        assert!(xml.contains(
            "<data zona=\"+0100\">\n      <giorno>05/03/2026</giorno>\n      <ora>10:15:47</ora>"
        ));
        assert!(xml.contains("<destinatari tipo=\"esterno\">info@example.com</destinatari>"));
        assert!(xml.contains("<ricevuta tipo=\"completa\"/>"));
        assert_eq!(Daticert::parse(xml.as_bytes()).unwrap(), d);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Daticert::parse(b"").is_err());
        assert!(Daticert::parse(b"<postacert>").is_err());
        assert!(Daticert::parse(b"<postacert tipo=\"x\" errore=\"bad\"/>").is_err());
        assert!(Daticert::parse(&[0xff, 0xfe, 0x00]).is_err());
        let xml = sample().to_xml();
        for cut in (0..xml.len()).step_by(7) {
            let _ = Daticert::parse(&xml.as_bytes()[..cut]);
        }
    }
}
