//! What pecd adds to or checks in a message at the end of DATA: the From header against the
//! authenticated mailbox, a Message-ID when the client sent none, and the Received: header.

use mail_parser::{HeaderValue, MessageParser};

/// The addresses of the From header fields, lower-cased.
pub fn from_addresses(message: &[u8]) -> Vec<String> {
    let Some(parsed) = MessageParser::new().parse_headers(message) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for header in parsed.headers() {
        if !header.name().eq_ignore_ascii_case("From") {
            continue;
        }
        if let HeaderValue::Address(addr) = header.value() {
            out.extend(
                addr.iter()
                    .filter_map(|a| a.address())
                    .map(|a| a.to_ascii_lowercase()),
            );
        }
    }
    out
}

pub fn has_message_id(message: &[u8]) -> bool {
    MessageParser::new()
        .parse_headers(message)
        .is_some_and(|m| m.message_id().is_some())
}

/// Everything the session knows for the Received: header (RFC 5321 §4.4, RFC 3848).
pub struct Trace<'a> {
    pub helo: &'a str,
    pub peer_ip: std::net::IpAddr,
    pub hostname: &'a str,
    pub tls: bool,
    pub authenticated: bool,
    pub id: &'a str,
}

/// Prepends Received: and, when missing, Message-ID: to the message.
pub fn prepare(message: Vec<u8>, trace: &Trace<'_>, add_message_id: bool) -> Vec<u8> {
    let with = match (trace.tls, trace.authenticated) {
        (true, true) => "ESMTPSA",
        (true, false) => "ESMTPS",
        (false, true) => "ESMTPA",
        (false, false) => "ESMTP",
    };
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000");
    let mut head = format!(
        "Received: from {} ([{}])\r\n\tby {} (pecd) with {} id {};\r\n\t{}\r\n",
        trace.helo, trace.peer_ip, trace.hostname, with, trace.id, date
    );
    if add_message_id {
        head.push_str(&format!(
            "Message-ID: <{}@{}>\r\n",
            trace.id, trace.hostname
        ));
    }
    let mut out = head.into_bytes();
    out.extend_from_slice(&message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_addresses_are_found_and_lowercased() {
        let m = b"From: \"Mario\" <Mario@PEC.localhost>\r\nTo: a@b.it\r\n\r\nx\r\n";
        assert_eq!(from_addresses(m), vec!["mario@pec.localhost".to_string()]);
        let two = b"From: a@pec.localhost, b@pec.localhost\r\n\r\n";
        assert_eq!(from_addresses(two).len(), 2);
        assert!(from_addresses(b"Subject: none\r\n\r\n").is_empty());
    }

    #[test]
    fn message_id_added_only_when_asked() {
        let trace = Trace {
            helo: "client",
            peer_ip: [127, 0, 0, 1].into(),
            hostname: "mail.pec.localhost",
            tls: true,
            authenticated: true,
            id: "abc123",
        };
        let out = String::from_utf8(prepare(
            b"Subject: x\r\n\r\nbody\r\n".to_vec(),
            &trace,
            true,
        ))
        .unwrap();
        assert!(out.starts_with("Received: from client ([127.0.0.1])\r\n\tby mail.pec.localhost (pecd) with ESMTPSA id abc123;"));
        assert!(out.contains("\r\nMessage-ID: <abc123@mail.pec.localhost>\r\nSubject: x\r\n"));
        assert!(has_message_id(out.as_bytes()));
        assert!(!has_message_id(b"Subject: x\r\n\r\n"));
    }
}
