//! `/track/{order_id}`: the customer tracking page, its live stream, and its assets.
//! Reached through the signed `tracking_url`; a wrong or expired link is refused with
//! a page that says so. Every page carries a strict Content-Security-Policy: no inline
//! script or style, nothing from elsewhere.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::pages::i18n::Lang;
use crate::pages::{esc, track};
use crate::routes::read as read_store;
use crate::streams::{self, Scope};
use crate::views::percent_encode;
use crate::{AppState, wire};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/track/{order_id}", axum::routing::get(page))
        .route("/track/{order_id}/events", axum::routing::get(events))
        .route("/assets/track.js", axum::routing::get(script))
        .route("/assets/track.css", axum::routing::get(style))
        // Browsers ask for it on every page; "nothing" is a fine answer, a 404 is noise.
        .route(
            "/favicon.ico",
            axum::routing::get(|| async {
                (
                    StatusCode::NO_CONTENT,
                    [(header::CACHE_CONTROL, "public, max-age=86400")],
                )
            }),
        )
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    t: Option<String>,
    lang: Option<String>,
    fragment: Option<u8>,
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The link carries its token: never hand it to another site, never cache it shared.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    r
}

fn refusal(status: StatusCode, lang: Lang, what: &str) -> Response {
    let body = format!(
        "<p class=\"banner\" role=\"alert\">{}</p>",
        esc(lang.word(what))
    );
    html(
        status,
        track::page(lang.word("title"), lang, &body, None, &[]),
    )
}

async fn page(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::choose(q.lang.as_deref(), accept);
    if state
        .links
        .verify(&order_id, q.t.as_deref(), wire::now())
        .is_err()
    {
        return refusal(StatusCode::FORBIDDEN, lang, "invalid");
    }
    let id = order_id.clone();
    let found = read_store(&state, move |s| Ok(s.order(&id)?.zip(s.timeline(&id)?))).await;
    let (order, timeline) = match found {
        Ok(Some(both)) => both,
        Ok(None) => return refusal(StatusCode::NOT_FOUND, lang, "not_found"),
        Err(e) => return e.into_response(),
    };
    let main = track::fragment(&order, &timeline, lang);
    if q.fragment == Some(1) {
        return html(StatusCode::OK, main);
    }
    let token = q.t.unwrap_or_default();
    let base = format!("/track/{}", percent_encode(&order_id));
    let stream = format!("{base}/events?t={token}");
    let fragment = format!("{base}?t={token}&lang={}&fragment=1", lang.code());
    let switch = [
        ("中文", format!("{base}?t={token}&lang=zh")),
        ("English", format!("{base}?t={token}&lang=en")),
    ];
    let title = format!("{} {}", lang.word("order"), order.order_id);
    html(
        StatusCode::OK,
        track::page(&title, lang, &main, Some((&stream, &fragment)), &switch),
    )
}

/// The order's live stream, for the page: authorised by the link's token, not a key.
async fn events(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    if state
        .links
        .verify(&order_id, q.t.as_deref(), wire::now())
        .is_err()
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    Sse::new(streams::stream(&state.hub, Scope::Order(order_id), last))
        .keep_alive(KeepAlive::new().interval(state.hub.settings.heartbeat))
        .into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn script() -> Response {
    asset(
        include_str!("../../assets/track.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn style() -> Response {
    asset(
        include_str!("../../assets/track.css"),
        "text/css; charset=utf-8",
    )
}
