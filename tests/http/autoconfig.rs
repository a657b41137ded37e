//! Client autoconfig read by its consumers: Thunderbird's XML by python's XML parser and then
//! by imaplib and smtplib, which set themselves up from it alone and send a certified message;
//! Outlook's POX answer; the Apple profile by python's plistlib.

use std::process::Command;

use super::support::https::Https;
use super::support::*;

const MARIO: &str = "mario@pec.localhost";

/// Reads the Thunderbird document, connects where it says, sends a message to the same
/// mailbox over SMTPS, and waits for the ricevuta di accettazione in the INBOX over IMAPS.
const FROM_AUTOCONFIG: &str = r#"
import imaplib, smtplib, ssl, sys, time
import xml.etree.ElementTree as ET
ca, path, user, password = sys.argv[1:5]
provider = ET.parse(path).getroot().find("emailProvider")
imap = [s for s in provider.findall("incomingServer") if s.get("type") == "imap"][0]
smtp = [s for s in provider.findall("outgoingServer") if s.findtext("socketType") == "SSL"][0]
login = lambda s: s.findtext("username").replace("%EMAILADDRESS%", user)
ctx = ssl.create_default_context(cafile=ca)
out = smtplib.SMTP_SSL(smtp.findtext("hostname"), int(smtp.findtext("port")), context=ctx)
out.login(login(smtp), password)
msg = "From: %s\r\nTo: %s\r\nSubject: configured by autoconfig\r\n\r\nciao\r\n" % (user, user)
out.sendmail(user, [user], msg)
out.quit()
box = imaplib.IMAP4_SSL(imap.findtext("hostname"), int(imap.findtext("port")), ssl_context=ctx)
box.login(login(imap), password)
for _ in range(100):
    box.select("INBOX")
    typ, data = box.search(None, "SUBJECT", "ACCETTAZIONE")
    if data[0].split():
        print("accepted")
        break
    time.sleep(0.1)
box.logout()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_client_configured_from_autoconfig_alone_sends_certified_mail() {
    let (imaps, submissions) = (free_port(), free_port());
    let s = server()
        .config(|c| c.client_ports(imaps, submissions))
        .users(&[MARIO])
        .start();
    let h = Https::new(&s);
    let r = h
        .client
        .get(h.url("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=mario@pec.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("xml"));
    let xml = r.text().await.unwrap();
    let other = h
        .client
        .get(h.url("/mail/config-v1.1.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "the second Thunderbird path");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config-v1.1.xml");
    std::fs::write(&path, &xml).unwrap();
    tool(Command::new("xmllint").args(["--noout", path.to_str().unwrap()]));
    let out = tool(Command::new("python3").args([
        "-c",
        FROM_AUTOCONFIG,
        s.ca().to_str().unwrap(),
        path.to_str().unwrap(),
        MARIO,
        PASSWORD,
    ]));
    assert_eq!(out.trim(), "accepted", "{xml}");
}

#[tokio::test(flavor = "multi_thread")]
async fn outlook_and_apple_documents_name_the_servers_for_our_addresses_only() {
    let s = server().start();
    let h = Https::new(&s);
    let request = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>mario@pec.localhost</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request></Autodiscover>"#;
    let r = h
        .client
        .post(h.url("/autodiscover/autodiscover.xml"))
        .header("content-type", "text/xml")
        .body(request)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pox = r.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pox_path = dir.path().join("pox.xml");
    std::fs::write(&pox_path, &pox).unwrap();
    let check_pox = r#"
import sys, xml.etree.ElementTree as ET
ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
root = ET.parse(sys.argv[1]).getroot()
for p in root.iterfind(".//r:Protocol", ns):
    print(p.findtext("r:Type", namespaces=ns), p.findtext("r:Port", namespaces=ns), p.findtext("r:Encryption", namespaces=ns), p.findtext("r:LoginName", namespaces=ns))
"#;
    let protocols =
        tool(Command::new("python3").args(["-c", check_pox, pox_path.to_str().unwrap()]));
    assert_eq!(
        protocols,
        "IMAP 9993 SSL mario@pec.localhost\nSMTP 4465 SSL mario@pec.localhost\nSMTP 2525 TLS mario@pec.localhost\n"
    );
    let r = h
        .client
        .get(h.url("/apple/mobileconfig?email=mario@pec.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/x-apple-aspen-config"
    );
    let plist_path = dir.path().join("mario.mobileconfig");
    std::fs::write(&plist_path, r.bytes().await.unwrap()).unwrap();
    let check_plist = r#"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
m = p["PayloadContent"][0]
print(p["PayloadType"], m["PayloadType"], m["EmailAddress"], m["IncomingMailServerPortNumber"], m["IncomingMailServerUseSSL"], m["OutgoingMailServerPortNumber"], m["OutgoingMailServerUseSSL"])
"#;
    let fields =
        tool(Command::new("python3").args(["-c", check_plist, plist_path.to_str().unwrap()]));
    assert_eq!(
        fields.trim(),
        "Configuration com.apple.mail.managed mario@pec.localhost 9993 True 4465 True"
    );
    for path in [
        "/apple/mobileconfig?email=someone@example.com",
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@example.com",
    ] {
        let r = h.client.get(h.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}: not one of our domains");
    }
    let r = h
        .client
        .get(h.url("/apple/mobileconfig?email=not-an-address"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
