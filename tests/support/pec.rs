//! Checks every PEC message with the tools the rules name: OpenSSL (`openssl smime -verify`),
//! GnuTLS (`certtool --p7-verify`) against the CA, and libxml2 (`xmllint --dtdvalid`) for its
//! daticert.xml against ../shared/spec/daticert.dtd.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

use super::{tool, Server};

use pecd_signer::inspect::entity_part;
use pecd_signer::smime::split_signed;
use pecd_signer::Daticert;

pub fn dtd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/daticert.dtd")
}

/// A self-signed provider signing certificate made with the openssl command, for
/// identities a test controls: O=`org`, rfc822Name `email`, keyUsage critical
/// digitalSignature, valid `days` days. Returns the certificate and key files.
pub fn provider_identity(dir: &Path, org: &str, email: &str, days: u32) -> (PathBuf, PathBuf) {
    let cert = dir.join("identity.pem");
    let key = dir.join("identity.key");
    tool(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        &days.to_string(),
        "-subj",
        &format!("/O={org}/CN=Posta Certificata"),
        "-addext",
        &format!("subjectAltName=email:{email}"),
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]));
    (cert, key)
}

/// Verifies `message` with OpenSSL and GnuTLS against `ca` and, when it carries one, its
/// daticert.xml against the DTD; returns the parsed daticert.
pub fn assert_valid_pec(message: &[u8], ca: &Path) -> Option<Daticert> {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("message.eml");
    std::fs::write(&eml, message).unwrap();
    tool(Command::new("openssl").args([
        "smime",
        "-verify",
        "-in",
        eml.to_str().unwrap(),
        "-CAfile",
        ca.to_str().unwrap(),
        "-out",
        "/dev/null",
    ]));
    let (entity, signature, _) = split_signed(message).expect("multipart/signed");
    let data = dir.path().join("entity.bin");
    let p7 = dir.path().join("smime.p7s");
    std::fs::write(&data, &entity).unwrap();
    std::fs::write(&p7, &signature).unwrap();
    tool(Command::new("certtool").args([
        "--p7-verify",
        "--inder",
        "--infile",
        p7.to_str().unwrap(),
        "--load-data",
        data.to_str().unwrap(),
        "--load-ca-certificate",
        ca.to_str().unwrap(),
    ]));
    let xml = entity_part(&entity, "daticert.xml")?;
    let file = dir.path().join("daticert.xml");
    std::fs::write(&file, &xml).unwrap();
    tool(Command::new("xmllint").args([
        "--noout",
        "--dtdvalid",
        dtd().to_str().unwrap(),
        file.to_str().unwrap(),
    ]));
    Some(Daticert::parse(&xml).expect("daticert parses"))
}

const IMAP_DUMP: &str = r#"
import imaplib, ssl, sys, json, base64
ca, port, user, pw = sys.argv[1:5]
m = imaplib.IMAP4_SSL('localhost', int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, pw)
out = []
typ, _ = m.select(FOLDER)
assert typ == 'OK'
typ, data = m.uid('SEARCH', None, 'ALL')
for uid in data[0].split():
    typ, d = m.uid('FETCH', uid, '(BODY.PEEK[])')
    out.append(base64.b64encode(d[0][1]).decode())
m.logout()
print(json.dumps(out))
"#;

/// Decodes the JSON list of base64 messages the python dump scripts print.
pub fn decode(json: &str) -> Vec<Vec<u8>> {
    let list: Vec<String> = serde_json::from_str(json.trim()).unwrap();
    list.iter()
        .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap())
        .collect()
}

/// Every message of `folder` of `user`, read with python's imaplib.
pub fn imap(s: &Server, user: &str, folder: &str) -> Vec<Vec<u8>> {
    decode(&s.python(
        &IMAP_DUMP.replace("FOLDER", &format!("'{folder}'")),
        "imaps",
        user,
    ))
}
