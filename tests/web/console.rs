//! The operators' console under /console/: an intermediario enters a request with one bad
//! mailbox line, sees the error beside that line with everything typed kept, fixes it,
//! uploads a contract, confirms, finds the new mailbox by search and adds a slave; an LMXADM
//! operator sees only the customers of its pattern and is refused the others' request.

use fantoccini::{Client, Locator};

use crate::browser::*;
use crate::support::cli::human;
use crate::support::*;

const OPERATOR_PASSWORD: &str = "Str0ng!Passw0rd";

fn operator(s: &Server, userid: &str, profile: &str, extra: &[&str]) {
    let mut args = vec![
        "operator",
        "create",
        userid,
        "--profile",
        profile,
        "--surname",
        "Verdi",
        "--first-name",
        "Luca",
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    human(s, &args, &format!("{OPERATOR_PASSWORD}\n"));
}

/// Customers C1 (account A1) and C2 (account B1); an intermediario of C1/A1 and an LMXADM
/// whose pattern matches only C2.
fn setup(s: &Server) {
    for (customer, account, prefix) in [("C1", "A1", "uno"), ("C2", "B1", "due")] {
        human(s, &["customer", "create", customer, "--name", customer], "");
        human(
            s,
            &[
                "account",
                "create",
                account,
                "--customer",
                customer,
                "--description",
                "Sede",
                "--userid-prefix",
                prefix,
            ],
            "",
        );
    }
    operator(
        s,
        "int1",
        "intermediario",
        &["--customer", "C1", "--account", "A1"],
    );
    operator(s, "lmx2", "lmxadm", &["--cli-pattern", "C2%"]);
}

/// Clicks the submit button of the form matched by `form` (a CSS selector).
async fn submit_form(c: &Client, form: &str) -> Result<(), String> {
    let css = format!("{form} button[type=submit]");
    let button = c
        .find(Locator::Css(&css))
        .await
        .map_err(|e| format!("{css}: {e}"))?;
    match button.click().await {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("stale element") => Ok(()),
        Err(e) => Err(format!("{css} click: {e}")),
    }
}

async fn value_of(c: &Client, id: &str) -> Result<String, String> {
    let field = c
        .find(Locator::Id(id))
        .await
        .map_err(|e| format!("#{id}: {e}"))?;
    field
        .prop("value")
        .await
        .map_err(|e| e.to_string())
        .map(Option::unwrap_or_default)
}

async fn log_in(c: &Client, base: &str, userid: &str) -> Result<String, String> {
    c.goto(&format!("{base}/console/"))
        .await
        .map_err(|e| format!("goto console: {e}"))?;
    wait_for(c, "Nome utente").await?;
    fill(c, "userid", userid).await?;
    fill(c, "password", OPERATOR_PASSWORD).await?;
    submit(c).await?;
    wait_for(c, "Domini disponibili").await
}

/// The new-request form filled with a good line 1 and a bad line 2.
async fn enter_request(c: &Client) -> Result<(), String> {
    for (id, v) in [
        ("order", "ORD-77"),
        ("r_surname", "Rossi"),
        ("r_first_name", "Mario"),
        ("r_tax_code", "RSSMRA80A01H501U"),
        ("r_email", "mario@example.it"),
        ("r_phone", "+39 06 1234567"),
        ("t_name", "Rossi S.r.l."),
        ("t_tax_code", "01234567890"),
        ("t_address", "Via Roma 1, Roma"),
        ("t_email", "amministrazione@example.it"),
        ("address_1", "ufficio@pec.localhost"),
        ("description_1", "Ufficio"),
        ("address_2", "non è un indirizzo"),
        ("description_2", "Segreteria"),
    ] {
        fill(c, id, v).await?;
    }
    submit_form(c, "main form").await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intermediario_enters_a_request_fixes_a_bad_line_confirms_and_adds_a_slave() {
    let s = server().start();
    setup(&s);
    let base = format!("https://localhost:{}", s.listener("https").port());
    let contract = s.dir.path().join("contratto.pdf");
    std::fs::write(&contract, b"%PDF-1.4\n% contratto firmato\n").unwrap();
    let b = browser().await;
    let c = &b.client;
    let axe = axe_source();
    let axe = axe.as_str();
    with_screenshot(&s, &b, || async {
        c.goto(&format!("{base}/console/login"))
            .await
            .map_err(|e| e.to_string())?;
        check_page(c, axe, "console-login").await?;
        let welcome = log_in(c, &base, "int1").await?;
        expect(
            welcome.contains("pec.localhost"),
            format!("domains listed: {welcome}"),
        )?;
        check_page(c, axe, "console-welcome").await?;

        c.goto(&format!("{base}/console/requests/new"))
            .await
            .map_err(|e| e.to_string())?;
        enter_request(c).await?;
        wait_for(c, "Righe con errori").await?;
        let line_error = c
            .find(Locator::Id("line_error_2"))
            .await
            .map_err(|e| format!("no error beside line 2: {e}"))?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        expect(!line_error.is_empty(), "line 2's error has a text".into())?;
        expect(
            c.find(Locator::Id("line_error_1")).await.is_err(),
            "line 1 is good and has no error".into(),
        )?;
        expect(
            value_of(c, "address_1").await? == "ufficio@pec.localhost"
                && value_of(c, "t_name").await? == "Rossi S.r.l.",
            "everything typed is kept".into(),
        )?;
        check_page(c, axe, "console-request-error").await?;

        fill(c, "address_2", "segreteria@pec.localhost").await?;
        submit_form(c, "main form").await?;
        let detail = wait_for(c, "Richiesta inserita").await?;
        expect(
            detail.contains("ORD-77"),
            "the summary shows the order".into(),
        )?;
        // The modification form of the pending request, then back to its detail.
        let here = c.current_url().await.map_err(|e| e.to_string())?;
        c.goto(&format!("{base}{}/edit", here.path()))
            .await
            .map_err(|e| e.to_string())?;
        let edit = wait_for(c, "La modifica sostituisce").await?;
        expect(
            value_of(c, "address_2").await? == "segreteria@pec.localhost",
            format!("the form holds the request's lines: {edit}"),
        )?;
        check_page(c, axe, "console-request-edit").await?;
        c.goto(here.as_str()).await.map_err(|e| e.to_string())?;
        wait_for(c, "Documenti del contratto").await?;
        let upload = c
            .find(Locator::Id("document"))
            .await
            .map_err(|e| format!("upload field: {e}"))?;
        upload
            .send_keys(contract.to_str().unwrap())
            .await
            .map_err(|e| format!("file: {e}"))?;
        submit_form(c, "form[action$='/contracts']").await?;
        let detail = wait_for(c, "Documento caricato").await?;
        expect(
            detail.contains("contratto.pdf"),
            "the document is listed".into(),
        )?;
        check_page(c, axe, "console-request").await?;
        submit_form(c, "form[action$='/confirm']").await?;
        wait_for(c, "Contratto confermato: la richiesta sarà elaborata").await?;
        Ok(())
    })
    .await;

    // The job runner processes the confirmed request: the mailboxes are activated.
    human(&s, &["jobs", "run"], "");

    with_screenshot(&s, &b, || async {
        c.goto(&format!("{base}/console/mailboxes"))
            .await
            .map_err(|e| e.to_string())?;
        fill(c, "address", "ufficio").await?;
        submit_form(c, "form[role=search]").await?;
        let found = wait_for(c, "Scarica il report CSV").await?;
        expect(
            found.contains("ufficio@pec.localhost") && !found.contains("segreteria@"),
            format!("the search finds the mailbox: {found}"),
        )?;
        check_page(c, axe, "console-mailbox-search").await?;
        c.find(Locator::LinkText("ufficio@pec.localhost"))
            .await
            .map_err(|e| e.to_string())?
            .click()
            .await
            .map_err(|e| e.to_string())?;
        wait_for(c, "Multiutenza").await?;
        check_page(c, axe, "console-mailbox").await?;
        fill(c, "first_name", "Giulia").await?;
        fill(c, "last_name", "Bianchi").await?;
        fill(c, "slave_password", "Prima!Passw0rd1").await?;
        submit_form(c, "form[action$='/slaves']").await?;
        let panel = wait_for(c, "Utenza aggiunta").await?;
        expect(
            panel.contains("Giulia Bianchi") && panel.contains("in attivazione"),
            format!("the slave is listed, activating: {panel}"),
        )?;
        Ok(())
    })
    .await;
    let slaves = s.json(&["slave", "list", "ufficio@pec.localhost"]);
    assert_eq!(slaves.as_array().map(Vec::len), Some(1), "{slaves}");
    let audit = s.json(&["audit", "--operator", "int1"]);
    assert!(
        audit.to_string().contains("request.contract"),
        "the console's operations are audited under the operator: {audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_lmxadm_sees_only_its_patterns_customers_in_the_console() {
    let s = server().start();
    setup(&s);
    // A request of C1, out of the LMXADM's pattern.
    let file = s.dir.path().join("request.json");
    let body = serde_json::json!({
        "customer": "C1", "account": "A1",
        "richiedente": {"surname": "Rossi", "first_name": "Mario", "tax_code": "RSSMRA80A01H501U",
                         "email": "mario@example.it", "phone": "061234567"},
        "titolare": {"name": "Rossi", "tax_code": "01234567890", "address": "Via Roma 1",
                     "email": "amm@example.it"},
        "mailboxes": [{"address": "rossi@pec.localhost", "description": "Rossi"}]
    });
    std::fs::write(&file, body.to_string()).unwrap();
    let created = s.json(&["request", "create", "--file", file.to_str().unwrap()]);
    let code = created["code"].as_u64().expect("a code");
    let base = format!("https://localhost:{}", s.listener("https").port());
    let b = browser().await;
    let c = &b.client;
    with_screenshot(&s, &b, || async {
        log_in(c, &base, "lmx2").await?;
        let choices = c
            .find(Locator::Id("choice"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        expect(
            choices.contains("C2 / B1") && !choices.contains("C1"),
            format!("only C2's account is offered: {choices}"),
        )?;
        c.goto(&format!("{base}/console/requests/{code}"))
            .await
            .map_err(|e| e.to_string())?;
        let refused = page_text(c).await?;
        let alert = c
            .find(Locator::Css("main .error[role=alert]"))
            .await
            .map_err(|e| format!("no refusal on C1's request: {e}: {refused}"))?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        expect(!alert.is_empty(), "the refusal says why".into())?;
        expect(
            !refused.contains("Rossi") && !refused.contains("rossi@pec.localhost"),
            format!("C1's request is not shown: {refused}"),
        )?;
        c.goto(&format!("{base}/console/requests"))
            .await
            .map_err(|e| e.to_string())?;
        let recent = wait_for(c, "Richieste recenti").await?;
        expect(
            !recent.contains(&code.to_string()),
            format!("C1's request is not among the recent: {recent}"),
        )?;
        Ok(())
    })
    .await;
}

/// Waits (five seconds at most) until the page no longer shows `needle`: the answer to a
/// form that reloads the same page has arrived.
async fn wait_without(c: &Client, needle: &str) -> Result<String, String> {
    for _ in 0..50 {
        if let Ok(text) = page_text(c).await {
            if !text.contains(needle) {
                return Ok(text);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("{needle:?} still shown"))
}

/// Selects `value` in the `<select>` of `id`.
async fn choose(c: &Client, id: &str, value: &str) -> Result<(), String> {
    let css = format!("#{id} option[value='{value}']");
    c.find(Locator::Css(&css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .click()
        .await
        .map_err(|e| format!("{css} click: {e}"))
}

async fn click(c: &Client, css: &str) -> Result<(), String> {
    c.find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .click()
        .await
        .map_err(|e| format!("{css} click: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_works_on_a_chosen_account_in_batches_and_reads_every_console_page() {
    const ONE: &str = "anna@pec.localhost";
    const TWO: &str = "bruno@pec.localhost";
    let s = server().users(&[ONE, TWO]).start();
    setup(&s);
    operator(&s, "adm", "amministratore", &[]);
    for m in [ONE, TWO] {
        human(
            &s,
            &[
                "mailbox",
                "assign",
                m,
                "--customer",
                "C1",
                "--account",
                "A1",
                "--type",
                "standard",
            ],
            "",
        );
    }
    let base = format!("https://localhost:{}", s.listener("https").port());
    let b = browser().await;
    let c = &b.client;
    let axe = axe_source();
    let axe = axe.as_str();
    with_screenshot(&s, &b, || async {
        log_in(c, &base, "adm").await?;
        choose(c, "choice", "C1/A1").await?;
        submit_form(c, "main form").await?;
        wait_for(c, "Sta lavorando su cliente C1").await?;

        // Domains: requested for the chosen account, then enabled.
        c.goto(&format!("{base}/console/domains"))
            .await
            .map_err(|e| e.to_string())?;
        fill(c, "name", "rossi.pec.localhost").await?;
        submit_form(c, "form[action='/console/domains']").await?;
        wait_for(c, "Abilita rossi.pec.localhost").await?;
        check_page(c, axe, "console-domains").await?;
        submit_form(c, "form[action$='/enable']").await?;
        wait_without(c, "Abilita rossi.pec.localhost").await?;

        // Expiry management of C1/A1.
        c.goto(&format!("{base}/console/expiry"))
            .await
            .map_err(|e| e.to_string())?;
        wait_for(c, "Gestione scadenze attiva").await?;
        check_page(c, axe, "console-expiry").await?;
        click(c, "#enabled-C1-A1").await?;
        click(c, "#auto-C1-A1").await?;
        fill(c, "report-C1-A1", "scadenze@example.com").await?;
        submit_form(c, "form:has(#report-C1-A1)").await?;
        wait_for(c, "Ultima modifica").await?;

        // Both mailboxes revoked in one batch, each with its outcome.
        c.goto(&format!("{base}/console/mailboxes?address=pec.localhost"))
            .await
            .map_err(|e| e.to_string())?;
        wait_for(c, "Scarica il report CSV").await?;
        click(c, "#select_all").await?;
        choose(c, "action", "revoke-non-payment").await?;
        submit_form(c, "form[method=post]").await?;
        // Nothing is revoked before the confirmation, which lists both mailboxes.
        let asked = wait_for(c, "Revocare 2 caselle per mancato pagamento").await?;
        expect(
            asked.contains(ONE) && asked.contains(TWO),
            format!("the confirmation lists the mailboxes: {asked}"),
        )?;
        check_page(c, axe, "console-batch-confirm").await?;
        submit_form(c, "main form").await?;
        let outcomes = wait_for(c, "Esito per casella").await?;
        expect(
            outcomes.matches("Esito positivo").count() == 2,
            format!("two positive outcomes: {outcomes}"),
        )?;
        check_page(c, axe, "console-batch-outcomes").await?;
        for (path, name, needle) in [
            ("/console/requests", "console-requests", "Richieste recenti"),
            (
                "/console/requests/new",
                "console-request-new",
                "Richiedente",
            ),
            ("/console/campaign", "console-campaign", "Liste calcolate"),
            (
                "/console/audit?operator=adm",
                "console-audit",
                "domain.enable",
            ),
            ("/console/logout", "console-logout", "Esci dalla console"),
        ] {
            c.goto(&format!("{base}{path}"))
                .await
                .map_err(|e| e.to_string())?;
            wait_for(c, needle).await?;
            check_page(c, axe, name).await?;
        }
        Ok(())
    })
    .await;
    let expiry = s.json(&["expiry", "list"]);
    let c1 = expiry
        .as_array()
        .and_then(|l| l.iter().find(|e| e["account"] == "A1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(c1["enabled"], true, "{expiry}");
    assert_eq!(c1["auto_revoke"], true, "{expiry}");
    assert_eq!(c1["report"], serde_json::json!(["scadenze@example.com"]));
    human(&s, &["jobs", "run"], "");
    for m in [ONE, TWO] {
        let shown = s.json(&["mailbox", "show", m]);
        assert!(
            shown.to_string().contains("revocata"),
            "{m} revoked by the batch: {shown}"
        );
    }
}
