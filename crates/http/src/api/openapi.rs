//! The OpenAPI 3.1 document of the JSON API (issue 18), generated from the handlers'
//! `#[utoipa::path]` annotations and the `ToSchema` derives of the types they take and give,
//! and served without login at `GET /api/v1/openapi.json`. Every route registered under
//! `/api/v1/` must be listed in [`ApiDoc`]: a unit test reads the routers' source and fails
//! on a route without its documentation (and on documentation without its route).
//!
//! Security: a session token as `Authorization: Bearer`, or the `pecd_session` cookie, which
//! on requests that change something needs the session's `X-CSRF-Token` header as well.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{archive, holders, lifecycle, mailboxes, migration, requests, security_archive};
use crate::auth;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the `token` of POST /api/v1/login (operators) or /api/v1/me/login \
                         (holders)",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::COOKIE,
                "the session cookie set at login (HttpOnly, Secure, SameSite=Strict)",
            ))),
        );
        c.add_security_scheme(
            "csrf_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "the `csrf_token` of the login answer: needed with the cookie on every request \
                 but GET",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pecd JSON API",
        description = "Operators' (PROVISIONING.md §2-§8) and holders' (§7) API of pecd. \
                       Errors are JSON documents `{\"error\": {\"code\", \"message\", \
                       \"details\"}}` with a stable code and, where PROVISIONING.md has one, \
                       the Italian message."
    ),
    paths(
        document,
        auth::login,
        auth::logout,
        archive::whoami,
        archive::list_operators,
        archive::create_operator,
        archive::show_operator,
        archive::delete_operator,
        archive::list_customers,
        archive::create_customer,
        archive::list_accounts,
        archive::create_account,
        archive::list_domains,
        archive::request_domain,
        archive::enable_domain,
        archive::audit,
        archive::run_jobs,
        requests::create,
        requests::search,
        requests::recent,
        requests::show,
        requests::modify,
        requests::duplicate,
        requests::cancel,
        requests::complete,
        requests::confirm,
        requests::contracts,
        requests::add_contract,
        requests::contract,
        requests::delete_contract,
        requests::slaves,
        requests::add_slave,
        requests::activate_slave,
        requests::deactivate_slave,
        requests::slave_password,
        mailboxes::search,
        mailboxes::report,
        mailboxes::revoke,
        mailboxes::reactivate,
        mailboxes::services,
        mailboxes::show,
        mailboxes::change,
        mailboxes::massive,
        mailboxes::to_standard,
        lifecycle::list_expiry,
        lifecycle::set_expiry,
        lifecycle::campaign,
        lifecycle::block,
        lifecycle::mailbox_settings,
        lifecycle::set_mailbox_settings,
        lifecycle::my_settings,
        lifecycle::set_my_settings,
        lifecycle::recovery,
        lifecycle::recovery_confirm,
        migration::start,
        migration::status,
        security_archive::list,
        security_archive::message,
        holders::holder_login,
        holders::me,
        holders::change_password,
        holders::security,
    ),
    components(
        schemas(crate::error::ErrorDocument, crate::error::ErrorBody),
        responses(crate::error::ErrorDocument)
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "session", description = "operators' login and logout"),
        (name = "operators", description = "operators, customers, accounts, domains, audit, jobs"),
        (name = "requests", description = "requests and their contract documents (§3)"),
        (name = "slaves", description = "slave user ids (§4)"),
        (name = "mailboxes", description = "mailboxes (§4)"),
        (name = "lifecycle", description = "expiry, password campaign, notification settings (§6-§8)"),
        (name = "holders", description = "the holders' own API (§7)"),
    )
)]
pub struct ApiDoc;

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "session",
    security(()),
    responses((status = 200, description = "the OpenAPI 3.1 document of this API", body = serde_json::Value))
)]
pub async fn document() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

#[cfg(test)]
mod tests;
