//! The holder's security archive over HTTPS (PROVISIONING.md §8, the self-service page's
//! data): `GET /api/v1/me/archive` lists the copies, newest first, a page at a time, with
//! an optional search `q` on subject and sender; `GET /api/v1/me/archive/{uid}` gives one
//! copy as `message/rfc822`, byte for byte as kept. Read only, like its IMAP folder; a
//! session opened with an expired password may only change it.
//!
//! A search reads the header block of the newest [`SEARCH_MAX`] copies (the archive keeps no
//! index of its own; `truncated` says when older ones were left out); a page without `q`
//! reads only its own messages. Bodies are read in batches of at most [`BATCH_BYTES`], only
//! their header blocks kept.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pecd_archive::model::Casella;
use pecd_archive::settings::MailboxSettings;
use pecd_archive::ArchiveError;
use pecd_store::{Folder, MessageMeta, Store, SECURITY_ARCHIVE_FOLDER};
use serde::{Deserialize, Serialize};

use super::holders::Holder;
use super::Query;
use crate::error::{ApiError, ApiResult};
use crate::HttpState;

/// Messages a page holds by default, and at most.
const PER_PAGE: usize = 50;
const MAX_PER_PAGE: usize = 200;
/// Bytes of bodies read in one blocking task (a single larger body is read alone).
const BATCH_BYTES: u64 = 32 << 20;
/// Copies a search looks at, newest first.
const SEARCH_MAX: usize = 20_000;
/// Longest search text.
const MAX_QUERY: usize = 200;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/v1/me/archive", get(list))
        .route("/api/v1/me/archive/{uid}", get(message))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Case-insensitive text searched in the subject and the sender.
    #[serde(default)]
    q: Option<String>,
    /// 1-based.
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    per_page: Option<usize>,
}

/// One copy in a listing.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub uid: u32,
    pub size: u64,
    /// When the copy was kept (RFC 3339).
    pub archived_at: String,
    pub subject: String,
    pub from: String,
    /// The message's own Date field, as written.
    pub date: String,
    /// `X-Ricevuta` or `X-Trasporto`, when the message has one.
    pub pec_type: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Listing {
    pub address: String,
    /// Whether the holder has the archive on now.
    pub enabled: bool,
    pub kinds: Vec<String>,
    pub used_bytes: u64,
    /// The archive's size (0: the operator gave it none).
    pub limit_bytes: u64,
    /// Copies matching, on every page.
    pub total: usize,
    /// A search looked at the newest [`SEARCH_MAX`] copies only.
    pub truncated: bool,
    pub page: usize,
    pub per_page: usize,
    pub messages: Vec<Entry>,
}

fn store_error(e: pecd_store::StoreError) -> ApiError {
    ApiError::from(ArchiveError::from(e))
}

/// The archive folder of the holder's mailbox, when a copy was ever kept.
async fn folder_of(store: &Store, h: &Holder) -> Result<Option<Folder>, ApiError> {
    let f = store
        .folder(h.principal.mailbox.id, SECURITY_ARCHIVE_FOLDER)
        .await
        .map_err(store_error)?;
    Ok(f.filter(Folder::is_security_archive))
}

/// `GET /api/v1/me/archive`: the copies kept, newest first, optionally searched.
#[utoipa::path(
    get,
    path = "/api/v1/me/archive",
    tag = "holders",
    params(ListQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "the security archive's copies", body = Listing),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
pub(crate) async fn list(
    State(s): State<Arc<HttpState>>,
    h: Holder,
    Query(q): Query<ListQuery>,
) -> ApiResult<Listing> {
    Ok(Json(listing(&s, &h, q.q, q.page, q.per_page).await?))
}

/// The copies of the holder's archive, newest first, optionally searched (the API's and
/// the self-service page's).
pub(crate) async fn listing(
    s: &HttpState,
    h: &Holder,
    q: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
) -> Result<Listing, ApiError> {
    h.check_not_expired(s)?;
    let page = page.unwrap_or(1).max(1);
    let per_page = per_page.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE);
    let needle = q.map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty());
    if needle.as_ref().is_some_and(|t| t.len() > MAX_QUERY) {
        return Err(ApiError::bad_request(format!(
            "q: at most {MAX_QUERY} bytes"
        )));
    }
    let store = s.archive.store();
    let address = h.principal.mailbox.address.clone();
    let key = address.as_bytes();
    let settings = pecd_archive::records::load::<MailboxSettings>(store, key).await?;
    let casella = pecd_archive::records::load::<Casella>(store, key).await?;
    let units = casella.map_or(0, |c| u64::from(c.services.archive_gb));
    let mut listing = Listing {
        enabled: settings.as_ref().is_some_and(|s| s.security_archive),
        kinds: settings.map(|s| s.archive_kinds).unwrap_or_default(),
        address,
        used_bytes: 0,
        limit_bytes: units.saturating_mul(s.config.archive.security_archive_unit_bytes),
        total: 0,
        truncated: false,
        page,
        per_page,
        messages: Vec::new(),
    };
    let Some(folder) = folder_of(store, h).await? else {
        return Ok(listing);
    };
    listing.used_bytes = folder.size_bytes;
    let mut metas = store.messages(folder.id).await.map_err(store_error)?;
    metas.reverse();
    let entries = match needle {
        None => {
            listing.total = metas.len();
            let skip = (page - 1).saturating_mul(per_page);
            let wanted: Vec<MessageMeta> = metas.into_iter().skip(skip).take(per_page).collect();
            described(store, wanted).await?
        }
        Some(needle) => {
            listing.truncated = metas.len() > SEARCH_MAX;
            metas.truncate(SEARCH_MAX);
            let found: Vec<Entry> = described(store, metas)
                .await?
                .into_iter()
                .filter(|e| {
                    e.subject.to_lowercase().contains(&needle)
                        || e.from.to_lowercase().contains(&needle)
                })
                .collect();
            listing.total = found.len();
            let skip = (page - 1).saturating_mul(per_page);
            found.into_iter().skip(skip).take(per_page).collect()
        }
    };
    listing.messages = entries;
    Ok(listing)
}

/// The entries of `metas`, in order, from their header blocks, reading the bodies in
/// batches of at most [`BATCH_BYTES`].
async fn described(store: &Store, metas: Vec<MessageMeta>) -> Result<Vec<Entry>, ApiError> {
    let mut out = Vec::with_capacity(metas.len());
    let mut rest = metas.as_slice();
    while !rest.is_empty() {
        let mut bytes = 0u64;
        let n = rest
            .iter()
            .take_while(|m| {
                bytes = bytes.saturating_add(m.size);
                bytes <= BATCH_BYTES
            })
            .count()
            .max(1);
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        let bodies = store
            .read_bodies(batch.to_vec())
            .await
            .map_err(store_error)?;
        for (m, body) in batch.iter().zip(bodies) {
            // A copy whose body cannot be read is listed with what its record says.
            out.push(entry(m, &body.unwrap_or_default()));
        }
    }
    Ok(out)
}

fn entry(meta: &MessageMeta, raw: &[u8]) -> Entry {
    let parsed = mail_parser::MessageParser::default().parse_headers(raw);
    let text = |name: &str| {
        parsed
            .as_ref()
            .and_then(|m| m.header_raw(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let subject = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .map(str::to_string)
        .unwrap_or_default();
    let mut pec_type = text("X-Ricevuta");
    if pec_type.is_empty() {
        pec_type = text("X-Trasporto");
    }
    Entry {
        uid: meta.uid,
        size: meta.size,
        archived_at: chrono::DateTime::from_timestamp(meta.internal_date, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default(),
        subject,
        from: text("From"),
        date: text("Date"),
        pec_type,
    }
}

/// One copy, as kept.
#[utoipa::path(
    get,
    path = "/api/v1/me/archive/{uid}",
    tag = "holders",
    params(("uid" = u32, Path, description = "the copy's UID in the archive folder")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "the copy, byte for byte", content((String = "message/rfc822"))),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
pub(crate) async fn message(
    State(s): State<Arc<HttpState>>,
    h: Holder,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = copy(&s, &h, &uid).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"archivio-{uid}.eml\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// One copy of the holder's archive, byte for byte (the API's and the self-service page's);
/// a `uid` that is not a number is not found.
pub(crate) async fn copy(s: &HttpState, h: &Holder, uid: &str) -> Result<Vec<u8>, ApiError> {
    h.check_not_expired(s)?;
    let store = s.archive.store();
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such message");
    // Parsed here, so that a path that is not a UID gets the JSON 404 like any other.
    let uid: u32 = uid.parse().map_err(|_| not_found())?;
    let folder = folder_of(store, h).await?.ok_or_else(not_found)?;
    let meta = store
        .message_metas(folder.id, vec![uid])
        .await
        .map_err(store_error)?
        .pop()
        .ok_or_else(not_found)?;
    store.read_body(meta).await.map_err(store_error)
}
