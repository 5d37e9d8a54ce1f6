//! `/dashboard`: the operations dashboard, for admin keys. Signing in with an admin key
//! opens a session (an HTTP-only, same-site cookie); the page refreshes its numbers.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use waybill_formats::clock;
use waybill_store::{SignOut, Submission};

use crate::AppState;
use crate::auth::Role;
use crate::pages::dashboard;
use crate::pages::sessions::Session;
use crate::routes::{ApiError, QueryOf};

const COOKIE: &str = "wb_session";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";
/// How many rows each list shows.
const LIST: usize = 20;
/// The most recent events looked at for the ingest rate.
const RATE_WINDOW: i64 = 500_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", axum::routing::get(show))
        .route("/dashboard/login", axum::routing::post(login))
        .route("/dashboard/logout", axum::routing::post(logout))
        .route("/assets/dashboard.js", axum::routing::get(script))
}

fn html(status: StatusCode, body: maud::Markup) -> Response {
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
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
}

/// The request's session, if it is valid and was not signed out.
async fn session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, waybill_store::StoreError> {
    let Some(s) =
        session_of(headers).and_then(|id| state.sessions.check(&id, clock::now(), &state.keys))
    else {
        return Ok(None);
    };
    Ok((!state.store.is_signed_out(&s.nonce).await?).then_some(s))
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    fragment: Option<u8>,
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryOf(q): QueryOf<ShowQuery>,
) -> Response {
    let signed_in = match session(&state, &headers).await {
        Ok(s) => s.is_some(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !signed_in {
        if q.fragment == Some(1) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        return html(StatusCode::OK, dashboard::sign_in(None));
    }
    let now = clock::now();
    let minute_ago = waybill_core::Timestamp(now.as_micros() - 60_000_000);
    let found = async {
        let overview = state.store.overview(now, &state.stall, LIST).await?;
        let rate = state.store.received_since(minute_ago, RATE_WINDOW).await?;
        Ok::<_, waybill_store::StoreError>((overview, rate))
    }
    .await;
    let (overview, rate) = match found {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let main = dashboard::fragment(&overview, rate);
    if q.fragment == Some(1) {
        return html(StatusCode::OK, main);
    }
    html(StatusCode::OK, dashboard::page(main, true))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    key: String,
}

async fn login(State(state): State<AppState>, body: axum::body::Body) -> Response {
    let f: LoginForm = match crate::routes::form_body(&state, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let mut probe = HeaderMap::new();
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", f.key.trim())) else {
        return html(
            StatusCode::UNAUTHORIZED,
            dashboard::sign_in(Some("That is not a key.")),
        );
    };
    probe.insert(header::AUTHORIZATION, bearer);
    let key = f.key.trim();
    match state.keys.authorize(&probe, Role::Admin) {
        Ok(_) => {}
        Err(crate::problem::ApiError::Forbidden { .. }) => {
            return html(
                StatusCode::FORBIDDEN,
                dashboard::sign_in(Some("The dashboard needs an admin key.")),
            );
        }
        Err(_) => {
            return html(
                StatusCode::UNAUTHORIZED,
                dashboard::sign_in(Some("Unknown key.")),
            );
        }
    }
    let id = state.sessions.open(clock::now(), key);
    let secure = if state.links.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        state.sessions.ttl.as_secs()
    );
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/dashboard"));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Only a session that is valid now is recorded: anything else needs no sign-out, and
/// recording it would let anyone fill the store.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ended = async {
        if let Some(s) = session(&state, &headers).await? {
            let out = SignOut {
                nonce: s.nonce,
                until: s.expiry,
                at: clock::now(),
            };
            state.store.submit(Submission::SignOut(out)).await?;
        }
        Ok::<_, waybill_store::StoreError>(())
    }
    .await;
    if let Err(e) = ended {
        return ApiError::from(e).into_response();
    }
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/dashboard"));
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("wb_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

async fn script() -> Response {
    let mut r = include_str!("../../assets/dashboard.js").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}
