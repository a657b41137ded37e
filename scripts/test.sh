#!/usr/bin/env bash
# Runs the whole pecd test suite: unit tests, end-to-end tests against the real pecd and
# pecctl binaries, and every bench once in test mode. Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: libssl-dev and pkg-config build the openssl crate; strace shows the
# fsync-before-acknowledgement order; swaks, openssl and python3 are the SMTP clients of
# tests/smtp_clients.rs; curl and fetchmail (with python3's poplib) the POP3 clients of
# tests/pop3.rs; isync (mbsync) the IMAP synchroniser of tests/imap_clients.rs; gnutls-bin
# (certtool --p7-verify) and libxml2-utils (xmllint --dtdvalid) check every PEC message in
# tests/pec.rs and tests/pec_kinds.rs; chromium and chromium-driver (headless, through
# WebDriver) drive the self-service pages in tests/web.rs, which fetches axe-core with npm;
# dovecot-imapd is the old provider's IMAP server of tests/migrate.rs.
needed=()
for pkg in libssl-dev pkg-config strace swaks openssl python3 curl fetchmail isync gnutls-bin libxml2-utils chromium chromium-driver npm dovecot-imapd; do
    command -v "$pkg" >/dev/null 2>&1 && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
    echo "installing: ${needed[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${needed[@]}"
fi

# schemathesis (PyPI) fuzzes the JSON API against its OpenAPI document in tests/http/openapi.rs.
if ! command -v schemathesis >/dev/null 2>&1; then
    echo "installing: schemathesis"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip
    fi
    $sudo python3 -m pip install --quiet "schemathesis==4.32.5" 2>/dev/null \
        || $sudo python3 -m pip install --quiet --break-system-packages "schemathesis==4.32.5"
fi

cargo test --workspace --all-targets --locked
