//! The Italian texts of the provider's notices (PROVISIONING.md §6, §7, §8), written after
//! the provider's own notices, with the contact details from configuration
//! (`archive.provider_contact`, `auth.self_service_url`, `provider.name`). Each function
//! returns the subject and the text.

use chrono::NaiveDate;
use pecd_archive::model::RevokeReason;
use pecd_common::config::Config;

/// A date as the notices write it: `dd/mm/yyyy`.
pub fn date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// The closing lines of every notice.
fn closing(config: &Config) -> String {
    format!(
        "\nPer informazioni: {}.\n\n{}\n\nQuesto messaggio è generato automaticamente: non \
         rispondere a questo indirizzo.\n",
        config.archive.provider_contact, config.provider.name
    )
}

/// One line of the expiry report, as the source writes it.
pub fn expiry_line(userid: &str, address: &str, expiry: NaiveDate) -> String {
    format!(
        "User: {userid}; casella: {address}; scadenza: {};",
        date(expiry)
    )
}

/// §6 item 1: the report of the mailboxes expiring within about three months.
pub fn expiry_report(
    config: &Config,
    account: &str,
    lines: &[String],
    auto_revoke: bool,
) -> (String, String) {
    let renewal = if auto_revoke {
        "Per queste caselle è attiva la revoca automatica: il rinnovo non è tacito e, se il \
         canone annuale non viene pagato entro la scadenza, la casella sarà revocata."
    } else {
        "Il rinnovo è tacito: se non viene disattivato, alla scadenza ogni casella sarà \
         rinnovata per un altro anno."
    };
    let text = format!(
        "Gentile cliente,\n\nle seguenti caselle PEC dell'account {account} scadranno nei \
         prossimi tre mesi:\n\n{}\n\n{renewal}\n{}",
        lines.join("\n"),
        closing(config)
    );
    (format!("Caselle PEC in scadenza - account {account}"), text)
}

/// §6 item 2: the notice into the mailbox one week before expiry (automatic revocation).
pub fn expiry_week(config: &Config, address: &str, expiry: NaiveDate) -> (String, String) {
    let next = expiry.succ_opt().unwrap_or(expiry);
    let text = format!(
        "Gentile titolare,\n\nla casella PEC {address} scade il {}.\n\nIl canone annuale deve \
         essere pagato entro il {}: in caso contrario, dal {} la casella non potrà più inviare \
         né ricevere messaggi.\n\nPer il pagamento si rivolga al rivenditore presso cui ha \
         acquistato la casella.\n{}",
        date(expiry),
        date(expiry),
        date(next),
        closing(config)
    );
    (format!("Scadenza della casella PEC {address}"), text)
}

/// §6 item 3: the notice to the holder of a revoked mailbox, with the text of the reason.
pub fn revoked(config: &Config, address: &str, reason: Option<RevokeReason>) -> (String, String) {
    let why = match reason {
        Some(RevokeReason::Expiry) => {
            "il contratto relativo alla casella è cessato per scadenza".to_string()
        }
        Some(RevokeReason::NonPayment) => {
            "il contratto relativo alla casella è cessato per mancato pagamento del canone"
                .to_string()
        }
        Some(RevokeReason::CustomerRequest) | None => {
            "la casella è stata revocata come richiesto dal cliente".to_string()
        }
    };
    let text = format!(
        "Gentile titolare,\n\nla informiamo che la casella PEC {address} è stata revocata: \
         {why}.\n\nDa oggi la casella non può più inviare né ricevere messaggi; i messaggi \
         presenti restano consultabili per il periodo indicato nelle condizioni del servizio.\n{}",
        closing(config)
    );
    (format!("Revoca della casella PEC {address}"), text)
}

/// §6 items 3 and 4: the summary of what happened at expiry, for the report addresses.
pub fn expiry_summary(
    config: &Config,
    account: &str,
    revoked: &[String],
    renewed: &[String],
) -> (String, String) {
    let mut text = format!(
        "Gentile cliente,\n\nriepilogo delle caselle PEC scadute dell'account {account}.\n"
    );
    if !revoked.is_empty() {
        text.push_str(&format!(
            "\nCaselle revocate per scadenza del contratto:\n\n{}\n",
            revoked.join("\n")
        ));
    }
    if !renewed.is_empty() {
        text.push_str(&format!(
            "\nCaselle rinnovate tacitamente per un anno (nuova scadenza indicata):\n\n{}\n",
            renewed.join("\n")
        ));
    }
    text.push_str(&closing(config));
    (
        format!("Riepilogo scadenze caselle PEC - account {account}"),
        text,
    )
}

/// §7: the campaign reminder to a mailbox whose user ids' passwords will be blocked.
pub fn password_reminder(
    config: &Config,
    address: &str,
    userids: &[String],
    from: NaiveDate,
    to: NaiveDate,
) -> (String, String) {
    let text = format!(
        "Gentile titolare,\n\nla password dei seguenti user id della casella PEC {address} non \
         è stata cambiata da più di 12 mesi:\n\n{}\n\nPer la sicurezza della casella va cambiata: \
         finché non lo sarà, l'accesso con la password attuale è rifiutato come scaduto e, in \
         ogni caso, tra il {} e il {} queste password saranno bloccate. La può cambiare alla \
         pagina {}, dove si accede anche con la password scaduta.\n\nSulla \
         stessa pagina può indicare le informazioni di sicurezza (un indirizzo e-mail o un \
         numero di cellulare) con cui recuperare la password se la dimentica.\n{}",
        userids.join("\n"),
        date(from),
        date(to),
        config.auth.self_service_url,
        closing(config)
    );
    (
        format!("Cambio della password della casella PEC {address}"),
        text,
    )
}

/// §8: the new-mail notification to the holder's external addresses.
pub fn new_mail(config: &Config, address: &str, unread: usize) -> (String, String) {
    let text = format!(
        "Gentile titolare,\n\nnella casella PEC {address} sono presenti {unread} messaggi di \
         posta certificata non letti.\n\nPer leggerli acceda alla casella con il suo programma \
         di posta o con la webmail del gestore.\n{}",
        closing(config)
    );
    (format!("Nuovi messaggi PEC nella casella {address}"), text)
}

/// §8: the text of the daily SMS.
pub fn sms(address: &str, new: usize) -> String {
    format!("PEC {address}: {new} nuovi messaggi di posta certificata ricevuti.")
}

/// §8 (beyond the sources): the full-mailbox notice at 90 % and at 100 %.
pub fn mailbox_full(config: &Config, address: &str, used: u64, quota: u64) -> (String, String) {
    let percent = used.saturating_mul(100) / quota.max(1);
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1_048_576.0);
    let (subject, state) = if used >= quota {
        (
            format!("Casella PEC {address} piena"),
            "è piena".to_string(),
        )
    } else {
        (
            format!("Casella PEC {address} quasi piena"),
            format!("ha raggiunto il {percent}% dello spazio disponibile"),
        )
    };
    let text = format!(
        "Gentile titolare,\n\nla casella PEC {address} {state} ({} occupati su {}).\n\nQuando \
         la casella è piena i messaggi in arrivo non vengono consegnati e il mittente riceve \
         un avviso di mancata consegna. Liberi spazio cancellando o archiviando i messaggi che \
         non le servono più.\n{}",
        mb(used),
        mb(quota),
        closing(config)
    );
    (subject, text)
}

/// §7: the one-time code for a forgotten password, by e-mail.
pub fn recovery(config: &Config, login: &str, code: &str, minutes: i64) -> (String, String) {
    let text = format!(
        "Gentile titolare,\n\nè stato chiesto il recupero della password dell'utente {login}.\n\n\
         Codice: {code}\n\nIl codice vale {minutes} minuti e una sola volta: lo inserisca alla \
         pagina {} insieme alla nuova password. Se non ha chiesto lei il recupero, ignori \
         questo messaggio: la password attuale resta valida.\n{}",
        config.auth.self_service_url,
        closing(config)
    );
    (
        format!("Codice per il recupero della password PEC ({login})"),
        text,
    )
}

/// §7: the one-time code for a forgotten password, by SMS.
pub fn recovery_sms(login: &str, code: &str, minutes: i64) -> String {
    format!("PEC: codice di recupero password per {login}: {code} (valido {minutes} minuti).")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_line_is_the_source_format() {
        let d = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        assert_eq!(
            expiry_line("rn0000001", "a@pec.x.it", d),
            "User: rn0000001; casella: a@pec.x.it; scadenza: 01/03/2027;"
        );
    }

    #[test]
    fn the_week_notice_names_the_day_after_expiry() {
        let d = NaiveDate::from_ymd_opt(2027, 2, 28).unwrap();
        let (_, text) = expiry_week(&Config::default(), "a@pec.x.it", d);
        assert!(text.contains("entro il 28/02/2027"), "{text}");
        assert!(text.contains("dal 01/03/2027"), "{text}");
        assert!(
            text.contains("il servizio clienti del gestore"),
            "contact from config"
        );
    }

    #[test]
    fn revocation_texts_follow_the_reason() {
        let c = Config::default();
        let (_, e) = revoked(&c, "a@x", Some(RevokeReason::Expiry));
        assert!(e.contains("cessato per scadenza"));
        let (_, p) = revoked(&c, "a@x", Some(RevokeReason::NonPayment));
        assert!(p.contains("mancato pagamento"));
        let (_, r) = revoked(&c, "a@x", Some(RevokeReason::CustomerRequest));
        assert!(r.contains("come richiesto dal cliente"));
    }

    #[test]
    fn the_full_notice_says_almost_full_or_full() {
        let c = Config::default();
        assert!(mailbox_full(&c, "a@x", 95, 100).0.contains("quasi piena"));
        assert!(mailbox_full(&c, "a@x", 95, 100).1.contains("95%"));
        assert!(!mailbox_full(&c, "a@x", 100, 100).0.contains("quasi"));
    }
}
