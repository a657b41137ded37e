//! Loading, defaults and validation of the configuration, against the shipped files.

use super::*;
use crate::address::Address;

#[test]
fn shipped_file_equals_embedded_defaults() {
    let text = include_str!("../../../../config/pecd.toml");
    assert_eq!(
        Config::parse(text, "config/pecd.toml").unwrap(),
        Config::default()
    );
}

#[test]
fn production_example_is_a_valid_configuration() {
    let text = include_str!("../../../../config/production.example.toml");
    let c = Config::parse(text, "config/production.example.toml").unwrap();
    assert_eq!(c.listen.smtp.port(), 25);
    assert!(!c.tls.dev_certificates);
}

#[test]
fn unknown_key_is_named() {
    let e = Config::parse("[listen]\nsmtpp = \"127.0.0.1:25\"\n", "x.toml").unwrap_err();
    assert_eq!(e.file, "x.toml");
    assert_eq!(e.key, "listen.smtpp");
    assert!(e.message.contains("unknown field `smtpp`"), "{e}");
    let e = Config::parse("colour = 1\n", "x.toml").unwrap_err();
    assert!(e.to_string().contains("unknown field `colour`"), "{e}");
}

#[test]
fn bad_values_are_named() {
    let e = Config::parse("[limits]\nsender_per_minute = \"six\"\n", "x.toml").unwrap_err();
    assert_eq!(e.key, "limits.sender_per_minute");
    let e = Config::parse("[listen]\nimaps = \"localhost\"\n", "x.toml").unwrap_err();
    assert_eq!(e.key, "listen.imaps");
    let e = Config::parse("[limits]\nsender_per_minute = 0\n", "x.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml: limits.sender_per_minute: must be at least 1"
    );
    let e = Config::parse("[provider]\ndomains = [\"bad domain\"]\n", "x.toml").unwrap_err();
    assert_eq!(e.key, "provider.domains");
    let e = Config::parse("[peers.routes]\n\"pec.other.it\" = \"mx\"\n", "x.toml").unwrap_err();
    assert_eq!(e.key, "peers.routes.pec.other.it");
    let e = Config::parse("[limits]\nmax_message_bytes = 99999999999\n", "x.toml").unwrap_err();
    assert_eq!(e.key, "limits.max_message_bytes");
    let e = Config::parse("[listen]\nimaps = \"127.0.0.1:2525\"\n", "x.toml").unwrap_err();
    assert_eq!(e.key, "listen.imaps");
    let long = format!("[control]\nsocket = \"/{}/pecd.sock\"\n", "d".repeat(120));
    assert_eq!(
        Config::parse(&long, "x.toml").unwrap_err().key,
        "control.socket"
    );
    let name = format!("[provider]\nname = \"{}\"\n", "N".repeat(65));
    assert_eq!(
        Config::parse(&name, "x.toml").unwrap_err().key,
        "provider.name"
    );
    let e = Config::parse("[limits\n", "x.toml").unwrap_err();
    assert_eq!(e.file, "x.toml");
}

#[test]
fn serves_only_configured_domains() {
    let p = Provider::default();
    assert!(p.serves(&Address::parse("a@PEC.localhost").unwrap()));
    assert!(!p.serves(&Address::parse("a@example.com").unwrap()));
}

/// `auth_failures_per_minute` predates `[auth]`: configurations that set it still load,
/// and it still lowers the per-login limit.
#[test]
fn legacy_auth_failures_per_minute_still_loads_and_counts() {
    let c = Config::parse(
        "[smtp]\nauth_failures_per_minute = 7\n[imap]\nauth_failures_per_minute = 4\n",
        "x.toml",
    )
    .unwrap();
    assert_eq!(c.effective_auth().failures_per_login, 4);
    assert_eq!(Config::default().effective_auth(), Config::default().auth);
    for key in ["smtp", "pop3", "imap"] {
        let e = Config::parse(
            &format!("[{key}]\nauth_failures_per_minute = 0\n"),
            "x.toml",
        )
        .unwrap_err();
        assert_eq!(e.key, format!("{key}.auth_failures_per_minute"));
    }
}

#[test]
fn auth_and_connection_bounds() {
    for (text, key) in [
        (
            "[auth]\nfailures_per_login = 0\n",
            "auth.failures_per_login",
        ),
        ("[auth]\nfailures_per_ip = 0\n", "auth.failures_per_ip"),
        ("[auth]\nblock_seconds = 0\n", "auth.block_seconds"),
        (
            "[auth]\nblock_seconds = 60\nmax_block_seconds = 30\n",
            "auth.max_block_seconds",
        ),
        ("[auth]\nmax_tracked = 5\n", "auth.max_tracked"),
        ("[auth]\ncache_seconds = 86401\n", "auth.cache_seconds"),
        ("[auth]\ncache_entries = 0\n", "auth.cache_entries"),
        ("[store]\ncache_bytes = 1024\n", "store.cache_bytes"),
        (
            "[pop3]\nprelogin_timeout_seconds = 0\n",
            "pop3.prelogin_timeout_seconds",
        ),
        (
            "[pop3]\nwrite_timeout_seconds = 0\n",
            "pop3.write_timeout_seconds",
        ),
        (
            "[smtp]\nwrite_timeout_seconds = 0\n",
            "smtp.write_timeout_seconds",
        ),
        (
            "[pop3]\nmax_connections_per_ip = 0\n",
            "pop3.max_connections_per_ip",
        ),
        ("[smtp]\nmax_connections = 0\n", "smtp.max_connections"),
    ] {
        assert_eq!(
            Config::parse(text, "x.toml").unwrap_err().key,
            key,
            "{text}"
        );
    }
    let ok = Config::parse(
        "[auth]\nblock_seconds = 1\nmax_block_seconds = 1\n",
        "x.toml",
    )
    .unwrap();
    assert_eq!(ok.auth.max_block_seconds, 1);
}

/// Review item: a configuration that raised a per-address cap above the default total
/// (which came later) was refused; it loads, and the total is raised to the cap.
#[test]
fn existing_configs_may_stop_loading() {
    let c = Config::parse(
        "[smtp]\nmax_connections_per_ip = 5000\n[pop3]\nmax_connections_per_ip = 2500\n\
         [imap]\nmax_connections_per_ip = 20000\n",
        "x.toml",
    )
    .unwrap();
    assert_eq!(c.smtp.connection_total(), 5000);
    assert_eq!(c.pop3.connection_total(), 2500);
    assert_eq!(c.imap.connection_total(), 20000);
    let c = Config::parse(
        "[smtp]\nmax_connections_per_ip = 10\nmax_connections = 5\n",
        "x.toml",
    )
    .unwrap();
    assert_eq!(c.smtp.connection_total(), 10);
    let d = Config::default();
    assert_eq!(d.smtp.connection_total(), d.smtp.max_connections);
    assert_eq!(d.pop3.connection_total(), d.pop3.max_connections);
    assert_eq!(d.imap.connection_total(), d.imap.max_connections);
}

#[test]
fn imap_bounds() {
    for (text, key) in [
        (
            "[imap]\nidle_timeout_seconds = 60\n",
            "imap.idle_timeout_seconds",
        ),
        (
            "[imap]\nidle_heartbeat_seconds = 0\n",
            "imap.idle_heartbeat_seconds",
        ),
        (
            "[imap]\nmax_connections_per_user = 5\n",
            "imap.max_connections_per_user",
        ),
        ("[imap]\nmax_command_bytes = 10\n", "imap.max_command_bytes"),
        (
            "[imap]\nmax_connections_per_ip = 0\n",
            "imap.max_connections_per_ip",
        ),
        ("[imap]\nmax_connections = 0\n", "imap.max_connections"),
        (
            "[imap]\nprelogin_timeout_seconds = 0\n",
            "imap.prelogin_timeout_seconds",
        ),
        (
            "[imap]\nwrite_timeout_seconds = 0\n",
            "imap.write_timeout_seconds",
        ),
        (
            "[imap]\nwrite_timeout_seconds = 86400\n",
            "imap.write_timeout_seconds",
        ),
    ] {
        assert_eq!(
            Config::parse(text, "x.toml").unwrap_err().key,
            key,
            "{text}"
        );
    }
    let ok = Config::parse("[imap]\nmax_connections_per_user = 10\n", "x.toml").unwrap();
    assert_eq!(ok.imap.max_connections_per_user, 10);
}
