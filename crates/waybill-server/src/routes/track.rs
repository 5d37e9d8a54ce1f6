//! `/track/{order_id}`: the customer tracking page, its live stream, and its assets; the
//! lookup form at `/track`, and the home page at `/` (same layout and policy).
//! Reached through the signed `tracking_url`; a wrong or expired link is refused with
//! a page that says so. Every page carries a strict Content-Security-Policy: no inline
//! script or style, nothing from elsewhere.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use waybill_formats::clock;

use crate::AppState;
use crate::pages::i18n::Lang;
use maud::{Markup, html as markup};

use crate::pages::track;
use crate::routes::{ApiError, PathOf, QueryOf};
use crate::streams::{self, Scope};
use crate::views::percent_encode;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", axum::routing::get(home))
        .route("/track", axum::routing::get(lookup_form).post(lookup))
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

/// How far back (in domain events) the public page stream resumes.
const RESUME_WINDOW: i64 = 10_000;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    t: Option<String>,
    lang: Option<String>,
    fragment: Option<u8>,
}

fn html(status: StatusCode, body: Markup) -> Response {
    let mut r = (status, body.into_string()).into_response();
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

/// A page that says no, with the language switch leading back to the same link.
fn refusal(status: StatusCode, lang: Lang, what: &str, base: &str, token: &str) -> Response {
    let body = markup! { p.banner role="alert" { (lang.word(what)) } };
    let token = percent_encode(token);
    let switch = [
        ("中文", format!("{base}?t={token}&lang=zh")),
        ("English", format!("{base}?t={token}&lang=en")),
    ];
    html(
        status,
        track::page(lang.word("title"), lang, body, None, &switch),
    )
}

async fn page(
    State(state): State<AppState>,
    PathOf(order_id): PathOf<String>,
    QueryOf(q): QueryOf<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::choose(q.lang.as_deref(), accept);
    let base = format!("/track/{}", percent_encode(&order_id));
    let given = q.t.as_deref().unwrap_or_default();
    if state
        .links
        .verify(&order_id, q.t.as_deref(), clock::now())
        .is_err()
    {
        return refusal(StatusCode::FORBIDDEN, lang, "invalid", &base, given);
    }
    let found = async {
        let order = state.store.order(&order_id).await?;
        let timeline = state.store.timeline(&order_id).await?;
        Ok::<_, waybill_store::StoreError>(order.zip(timeline))
    }
    .await;
    let (order, timeline) = match found {
        Ok(Some(both)) => both,
        Ok(None) => return refusal(StatusCode::NOT_FOUND, lang, "not_found", &base, given),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let main = track::fragment(&order, &timeline, lang);
    if q.fragment == Some(1) {
        return html(StatusCode::OK, main);
    }
    let token = given;
    let stream = format!("{base}/events?t={token}");
    let fragment = format!("{base}?t={token}&lang={}&fragment=1", lang.code());
    let switch = [
        ("中文", format!("{base}?t={token}&lang=zh")),
        ("English", format!("{base}?t={token}&lang=en")),
    ];
    let title = format!("{} {}", lang.word("order"), order.order_id);
    html(
        StatusCode::OK,
        track::page(&title, lang, main, Some((&stream, &fragment)), &switch),
    )
}

/// The order's live stream, for the page: authorised by the link's token, not a key.
async fn events(
    State(state): State<AppState>,
    PathOf(order_id): PathOf<String>,
    QueryOf(q): QueryOf<PageQuery>,
    headers: HeaderMap,
) -> Response {
    if state
        .links
        .verify(&order_id, q.t.as_deref(), clock::now())
        .is_err()
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    // A page resumes after a short absence; a resume point far back (or made up) would
    // make this public stream scan the outbox, so it starts from now instead (the page
    // was rendered fresh anyway).
    let through = state.engines.hub.through();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0 && through - *id <= RESUME_WINDOW);
    Sse::new(streams::stream(
        &state.engines.hub,
        Scope::Order(order_id),
        last,
    ))
    .keep_alive(KeepAlive::new().interval(state.engines.hub.settings.heartbeat))
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

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

fn form(lang: Lang, message: Option<&str>) -> Markup {
    let body = markup! {
        h1 { (lang.word("lookup")) }
        @if let Some(m) = message {
            p.banner role="alert" { (m) }
        }
        form method="post" action=(format!("/track?lang={}", lang.code())) class="parcel" {
            p { label { (lang.word("order_number")) br; input name="order_id" required maxlength="128"; } }
            p { label { (lang.word("contact")) br; input name="contact" required maxlength="254"; } }
            p { button type="submit" { (lang.word("find")) } }
        }
    };
    track::page(
        lang.word("lookup"),
        lang,
        body,
        None,
        &[
            ("中文", "/track?lang=zh".to_owned()),
            ("English", "/track?lang=en".to_owned()),
        ],
    )
}

/// The home page: what this is, and the ways in (`pages::home`).
async fn home(QueryOf(q): QueryOf<LangQuery>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    html(
        StatusCode::OK,
        crate::pages::home::page(Lang::choose(q.lang.as_deref(), accept)),
    )
}

/// The lookup form: order number plus the e-mail or phone given with the order.
async fn lookup_form(QueryOf(q): QueryOf<LangQuery>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    html(
        StatusCode::OK,
        form(Lang::choose(q.lang.as_deref(), accept), None),
    )
}

#[derive(Debug, Deserialize)]
pub struct LookupForm {
    order_id: String,
    contact: String,
}

/// Digits only, so `+86 138-0000 0000` and `8613800000000` compare equal.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Whether `contact` is the order's customer e-mail (any case) or phone (its digits,
/// with or without a country code).
fn contact_matches(details: Option<&str>, contact: &str) -> bool {
    let v: serde_json::Value = details
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let contact = contact.trim();
    let email = v["customer"]["email"].as_str().unwrap_or("");
    if !email.is_empty() && email.eq_ignore_ascii_case(contact) {
        return true;
    }
    // The whole number: equal digits, or equal but for a country code (1–3 digits) on
    // one side. A tail of the number is not enough.
    let (phone, given) = (
        digits(v["customer"]["phone"].as_str().unwrap_or("")),
        digits(contact),
    );
    let (long, short) = if phone.len() >= given.len() {
        (&phone, &given)
    } else {
        (&given, &phone)
    };
    short.len() >= 7 && long.ends_with(short.as_str()) && long.len() - short.len() <= 3
}

/// Checks the pair and sends the customer to the order's signed page. A wrong order
/// number and a wrong contact get the same answer, so the form tells a stranger nothing.
async fn lookup(
    State(state): State<AppState>,
    QueryOf(q): QueryOf<LangQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let f: LookupForm = match crate::routes::form_body(&state, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::choose(q.lang.as_deref(), accept);
    let id = f.order_id.trim().to_owned();
    let found = state.store.order(&id).await;
    match found {
        Ok(Some(order)) if contact_matches(order.details.as_deref(), &f.contact) => {
            let url = state.links.url(&order.order_id, clock::now());
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Ok(_) => html(
            StatusCode::NOT_FOUND,
            form(lang, Some(lang.word("no_match"))),
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::contact_matches;

    #[test]
    fn contacts_match_by_email_or_phone_digits() {
        let d = r#"{"customer":{"email":"Li@Example.com","phone":"+86 138-0000-1234"}}"#;
        assert!(contact_matches(Some(d), "li@example.com"));
        assert!(contact_matches(Some(d), "13800001234"));
        assert!(contact_matches(Some(d), "+86 13800001234"));
        assert!(
            !contact_matches(Some(d), "1234"),
            "too few digits to mean anything"
        );
        assert!(!contact_matches(Some(d), "other@example.com"));
        assert!(!contact_matches(None, "li@example.com"));
        assert!(!contact_matches(Some(r#"{"customer":{}}"#), ""));
    }
}
