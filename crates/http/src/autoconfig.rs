//! Client autoconfig: what a mail client needs to set itself up for one of our addresses.
//! Thunderbird's `config-v1.1.xml` (at both of its paths), Outlook's autodiscover "POX"
//! answer, and an Apple configuration profile. Each names IMAP over TLS, SMTP over TLS, and
//! (where the format has room for an alternative) SMTP with STARTTLS, with the host names and
//! ports of `[http]`. Only addresses in the domains we serve are answered.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pecd_common::address::Address;
use serde::Deserialize;

use crate::api::Query;
use crate::error::ApiError;
use crate::HttpState;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(thunderbird),
        )
        .route("/mail/config-v1.1.xml", get(thunderbird))
        .route("/autodiscover/autodiscover.xml", post(outlook))
        .route("/Autodiscover/Autodiscover.xml", post(outlook))
        .route("/apple/mobileconfig", get(apple))
}

/// Escapes text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// One of our addresses, or a 404 that says why.
fn our_address(state: &HttpState, address: &str) -> Result<Address, ApiError> {
    let a = Address::parse(address.trim())
        .map_err(|e| ApiError::bad_request(format!("{address:?}: {e}")))?;
    if !state.archive.local_domains().serves_domain(a.domain()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} is not a domain of this provider", a.domain()),
        ));
    }
    Ok(a)
}

fn xml(body: String, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[derive(Deserialize)]
pub struct ThunderbirdQuery {
    emailaddress: Option<String>,
}

/// `GET /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ADDR` (and
/// `/mail/config-v1.1.xml` on the `autoconfig.` host).
async fn thunderbird(
    State(s): State<Arc<HttpState>>,
    Query(q): Query<ThunderbirdQuery>,
) -> Result<Response, ApiError> {
    let domains: Vec<String> = match &q.emailaddress {
        Some(a) => vec![our_address(&s, a)?.domain().to_string()],
        None => s.archive.local_domains().list(),
    };
    let h = &s.config.http;
    let (imap, smtp) = (
        xml_escape(&h.public_imap_host),
        xml_escape(&h.public_smtp_host),
    );
    let name = xml_escape(&s.config.provider.name);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n",
    );
    out.push_str(&format!(
        "  <emailProvider id=\"{}\">\n",
        xml_escape(domains.first().map_or("localhost", String::as_str))
    ));
    for d in &domains {
        out.push_str(&format!("    <domain>{}</domain>\n", xml_escape(d)));
    }
    out.push_str(&format!(
        "    <displayName>{name}</displayName>\n    <displayShortName>PEC</displayShortName>\n"
    ));
    let server = |kind: &str, tag: &str, host: &str, port: u16, socket: &str| {
        format!(
            "    <{tag} type=\"{kind}\">\n      <hostname>{host}</hostname>\n      <port>{port}</port>\n      <socketType>{socket}</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILADDRESS%</username>\n    </{tag}>\n"
        )
    };
    out.push_str(&server(
        "imap",
        "incomingServer",
        &imap,
        h.public_imap_port,
        "SSL",
    ));
    out.push_str(&server(
        "smtp",
        "outgoingServer",
        &smtp,
        h.public_submissions_port,
        "SSL",
    ));
    out.push_str(&server(
        "smtp",
        "outgoingServer",
        &smtp,
        h.public_smtp_port,
        "STARTTLS",
    ));
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    Ok(xml(out, "application/xml; charset=utf-8"))
}

/// The `<EMailAddress>` of an Outlook autodiscover request.
pub fn requested_address(body: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut inside = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            quick_xml::events::Event::Start(e) => {
                inside = e.local_name().as_ref() == b"EMailAddress";
            }
            quick_xml::events::Event::Text(t) if inside => {
                return t.unescape().ok().map(|s| s.trim().to_string());
            }
            quick_xml::events::Event::End(_) => inside = false,
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// Largest autodiscover request read (a real one is well under 1 KiB).
const MAX_AUTODISCOVER_BODY: usize = 16 * 1024;

/// `POST /autodiscover/autodiscover.xml`: Outlook's "POX" autodiscover.
async fn outlook(State(s): State<Arc<HttpState>>, body: Bytes) -> Result<Response, ApiError> {
    if body.len() > MAX_AUTODISCOVER_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "autodiscover request too large",
        ));
    }
    let address = requested_address(&body)
        .ok_or_else(|| ApiError::bad_request("no EMailAddress in the autodiscover request"))?;
    let a = our_address(&s, &address)?;
    let h = &s.config.http;
    let login = xml_escape(a.as_str());
    let protocol = |kind: &str, host: &str, port: u16, encryption: &str| {
        format!(
            "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{}</Server>\n        <Port>{port}</Port>\n        <DomainRequired>off</DomainRequired>\n        <LoginName>{login}</LoginName>\n        <SPA>off</SPA>\n        <Encryption>{encryption}</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
            xml_escape(host)
        )
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n    <User>\n");
    out.push_str(&format!(
        "      <DisplayName>{login}</DisplayName>\n    </User>\n    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n"
    ));
    out.push_str(&protocol(
        "IMAP",
        &h.public_imap_host,
        h.public_imap_port,
        "SSL",
    ));
    out.push_str(&protocol(
        "SMTP",
        &h.public_smtp_host,
        h.public_submissions_port,
        "SSL",
    ));
    out.push_str(&protocol(
        "SMTP",
        &h.public_smtp_host,
        h.public_smtp_port,
        "TLS",
    ));
    out.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    Ok(xml(out, "application/xml; charset=utf-8"))
}

#[derive(Deserialize)]
pub struct AppleQuery {
    email: String,
}

/// A stable UUID for a profile part: the same address gets the same profile every time, so
/// installing it again replaces rather than duplicates.
fn stable_uuid(parts: &[&str]) -> String {
    let h = openssl::sha::sha256(parts.join("\n").as_bytes());
    let hex: String = h[..16].iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// `GET /apple/mobileconfig?email=ADDR`: an Apple configuration profile with one mail account.
async fn apple(
    State(s): State<Arc<HttpState>>,
    Query(q): Query<AppleQuery>,
) -> Result<Response, ApiError> {
    let a = our_address(&s, &q.email)?;
    let h = &s.config.http;
    let addr = xml_escape(a.as_str());
    let provider = xml_escape(&s.config.provider.name);
    let id = format!("pecd.{}", a.domain());
    let plist = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>EmailAccountDescription</key><string>PEC {addr}</string>
      <key>EmailAccountName</key><string>{addr}</string>
      <key>EmailAccountType</key><string>EmailTypeIMAP</string>
      <key>EmailAddress</key><string>{addr}</string>
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>IncomingMailServerHostName</key><string>{imap}</string>
      <key>IncomingMailServerPortNumber</key><integer>{imap_port}</integer>
      <key>IncomingMailServerUseSSL</key><true/>
      <key>IncomingMailServerUsername</key><string>{addr}</string>
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingMailServerHostName</key><string>{smtp}</string>
      <key>OutgoingMailServerPortNumber</key><integer>{smtp_port}</integer>
      <key>OutgoingMailServerUseSSL</key><true/>
      <key>OutgoingMailServerUsername</key><string>{addr}</string>
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
      <key>PayloadDescription</key><string>PEC mail account</string>
      <key>PayloadDisplayName</key><string>{addr}</string>
      <key>PayloadIdentifier</key><string>{id}.mail.{addr}</string>
      <key>PayloadType</key><string>com.apple.mail.managed</string>
      <key>PayloadUUID</key><string>{mail_uuid}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDescription</key><string>{provider}: PEC mailbox {addr}</string>
  <key>PayloadDisplayName</key><string>PEC {addr}</string>
  <key>PayloadIdentifier</key><string>{id}.{addr}</string>
  <key>PayloadOrganization</key><string>{provider}</string>
  <key>PayloadRemovalDisallowed</key><false/>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>{profile_uuid}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
"#,
        imap = xml_escape(&h.public_imap_host),
        imap_port = h.public_imap_port,
        smtp = xml_escape(&h.public_smtp_host),
        smtp_port = h.public_submissions_port,
        mail_uuid = stable_uuid(&["mail", a.as_str()]),
        profile_uuid = stable_uuid(&["profile", a.as_str()]),
    );
    let disposition = format!(
        "attachment; filename=\"{}.mobileconfig\"",
        a.local().replace(['"', '\\'], "_")
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/x-apple-aspen-config".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        plist,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outlook_request_address_is_read_from_its_xml() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress> mario@pec.localhost </EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request></Autodiscover>"#;
        assert_eq!(
            requested_address(body).as_deref(),
            Some("mario@pec.localhost")
        );
        assert_eq!(requested_address(b"<a><b>x</b></a>"), None);
        assert_eq!(requested_address(b"<<<not xml"), None);
    }

    #[test]
    fn xml_escape_and_stable_uuids() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        let u = stable_uuid(&["x"]);
        assert_eq!(u, stable_uuid(&["x"]));
        assert_ne!(u, stable_uuid(&["y"]));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
