//! The CAPA reply (RFC 2449 §5), computed in one place and golden-tested.

/// Capabilities advertised; USER and SASL are also offered before login.
pub fn capabilities() -> Vec<&'static str> {
    vec![
        "USER",                // RFC 2449 §6.8: USER/PASS
        "SASL PLAIN",          // RFC 5034
        "TOP",                 // RFC 2449 §6.1
        "UIDL",                // RFC 2449 §6.7
        "RESP-CODES",          // RFC 2449 §6.4
        "PIPELINING",          // RFC 2449 §6.6
        "EXPIRE NEVER",        // RFC 2449 §6.5: pecd never deletes on its own
        "IMPLEMENTATION pecd", // RFC 2449 §6.9
    ]
}

pub fn reply() -> String {
    let mut out = String::from("+OK Capability list follows\r\n");
    for c in capabilities() {
        out.push_str(c);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn golden() {
        assert_eq!(
            super::reply(),
            "+OK Capability list follows\r\nUSER\r\nSASL PLAIN\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION pecd\r\n.\r\n"
        );
    }
}
