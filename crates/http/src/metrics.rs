//! The metrics listener (`[http] metrics_listen`, plain HTTP): `GET /metrics` answers the
//! process's registry ([`pecd_common::metrics`]) in the Prometheus text format; anything
//! else is a 404. It also counts the HTTPS listener's answers by status class.

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pecd_common::metrics::{count, metrics};

pub fn router() -> Router {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics().encode(),
    )
        .into_response()
}

/// Counts each answer of the HTTPS listener by status class.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let class = match response.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    count(&metrics().http_requests, "status", class);
    response
}
