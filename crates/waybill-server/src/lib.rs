//! Waybill's HTTP API.
//!
//! The server is a library: [`app`] builds the router from an injected [`AppState`], and
//! [`run`] serves it on a listener the caller bound, until the caller's shutdown future
//! resolves. Tests bind port 0 and drive it like any client.
//!
//! - [`views`]: response bodies (request formats are `waybill_formats`').
//! - [`intake`]: provider webhook settings.
//! - [`auth`]: API keys and roles; [`problem`]: RFC 9457 errors, mapped once.
//! - [`routes`]: one module per resource; [`telemetry`]: Prometheus metrics.
//! - [`transport`]: accepting connections, with limits on what each may hold.

pub mod auth;
pub mod cluster;
pub mod delivery;
pub mod engines;
pub mod intake;
pub mod mail;
pub mod outbound;
pub mod pages;
pub mod problem;
pub mod routes;
pub mod streams;
pub mod telemetry;
pub mod transport;
pub mod views;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use waybill_store::Store;

pub use auth::{ApiKeys, Role};

/// Limits on what one request may carry, and on what connections may hold.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_batch_items: usize,
    pub transport: transport::Transport,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_batch_items: 10_000,
            transport: Default::default(),
        }
    }
}

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub keys: Arc<ApiKeys>,
    /// Signed tracking links (`tracking_url`), and the base URL they start with.
    pub links: Arc<pages::Links>,
    pub limits: Limits,
    /// The bytes of request bodies being read; [`run`] sizes it from `limits`.
    pub bodies: transport::BodyBudget,
    /// Provider webhook secrets and zones.
    pub webhooks: Arc<intake::Webhooks>,
    /// The stream hub and the delivery engine, stopped by [`run`] on shutdown.
    pub engines: engines::Engines,
    /// Dashboard sessions.
    pub sessions: pages::Sessions,
    /// How long a shipment may go without a scan, per status, before the dashboard
    /// calls it stalled.
    pub stall: Arc<waybill_store::StallRules>,
    /// Redis, when several nodes share a PostgreSQL store: the order cache.
    pub cluster: Option<Arc<cluster::Cluster>>,
}

/// The whole API, with its OpenAPI document served at `/openapi.json`.
pub fn app(state: AppState) -> Router {
    let (router, api) = documented();
    let api = Arc::new(api);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .merge(routes::track::router())
        .merge(routes::dashboard::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(telemetry::track_requests))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> problem::ApiError {
    problem::ApiError::NotFound(format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> problem::ApiError {
    problem::ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// The documented routes; `split_for_parts` yields the router and its OpenAPI document.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(routes::ApiDoc::openapi())
        .merge(routes::events::router())
        .merge(routes::orders::router())
        .merge(routes::webhooks::router())
        .merge(routes::quarantine::router())
        .merge(routes::stream::router())
        .merge(routes::subscriptions::router())
        .merge(routes::health::router())
}

/// The documented routes and their document, with the answers the routes share added
/// to every operation (after the merge: a modifier on `ApiDoc` would see no paths).
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut api) = api_router().split_for_parts();
    utoipa::Modify::modify(&routes::shared_answers::SharedAnswers, &mut api);
    utoipa::Modify::modify(&routes::resource_links::ResourceLinks, &mut api);
    (router, api)
}

/// The OpenAPI document alone (for `waybill openapi` and tests).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().1
}

/// Serves the API until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    mut state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    telemetry::install();
    let transport = state.limits.transport.clone();
    state.bodies = transport::BodyBudget::new(transport.max_inflight_body_bytes);
    let engines = state.engines.clone();
    let served = transport::serve(listener, app(state), &transport, shutdown).await;
    engines.stop(ENGINE_GRACE).await;
    served
}

/// How long a shutdown waits for the engines' work in flight (a webhook being sent)
/// once the API has drained.
pub const ENGINE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
