//! Orders: create, get, list, and the timeline.

use crate::auth::{Authorized, needs};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use waybill_core::engine::Rejection;
use waybill_core::event::Tracking;
use waybill_core::{Carrier, EventKind, OrderId, OrderStatus, TrackingEvent, TrackingNumber};
use waybill_formats::clock;
use waybill_providers::carriers;
use waybill_store::ListFilter;
use waybill_store::{ItemOutcome, Submission};

use crate::problem::{ApiError, Problem};
use crate::routes::{invalid, json_body, read_body};
use crate::views::{
    EventView, NewOrder, NewShipment, OrderAnswer, OrderDetails, OrderList, OrderView, Timeline,
};
use crate::{AppState, Role};
use waybill_formats::wire::parse_bound;
use waybill_formats::{schema, tokens};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(get_timeline))
        .routes(routes!(register_shipment))
}

fn path_order_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(id)| id)
        .map_err(|e| ApiError::BadQuery(format!("the order id in the path: {}", e.body_text())))
}

fn not_found(order_id: &str) -> ApiError {
    ApiError::NotFound(format!("no order {order_id:?}"))
}

/// Checks the optional customer contact (personal data: kept, never shown on the
/// tracking page) and metadata.
fn validate_new_order(order: &NewOrder) -> Result<(), ApiError> {
    if order
        .metadata
        .as_ref()
        .is_some_and(|m| !m.get().trim_start().starts_with('{'))
    {
        return Err(invalid("metadata must be a JSON object"));
    }
    let Some(c) = &order.customer else {
        return Ok(());
    };
    if let Some(email) = &c.email {
        let plausible = email.len() <= 254
            && email
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
            && !email
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control());
        if !plausible {
            return Err(invalid(format!(
                "customer.email {email:?} is not an e-mail address"
            )));
        }
    }
    if let Some(phone) = &c.phone {
        let plausible = (3..=32).contains(&phone.len())
            && phone
                .chars()
                .all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | '-' | ' ' | '(' | ')'));
        if !plausible {
            return Err(invalid(format!(
                "customer.phone {phone:?} is not a phone number"
            )));
        }
    }
    Ok(())
}

/// Create an order. Its first event (`created`) carries the customer and metadata.
///
/// If an event already created the order (a carrier's push often comes first), this
/// gives it its customer and metadata, once; after that, an `ingest` key gets 409. An
/// `admin` key (the merchant) may always set them: the customer and metadata it sends
/// replace those the order has (what it leaves out is kept), and the answer is 200.
#[utoipa::path(post, path = "/v1/orders", tag = "orders",
    security(("bearer" = [])),
    request_body = NewOrder,
    responses(
        (status = 201, description = "Created: the order for an admin key, without its customer, metadata and tracking link for an ingest key", body = OrderAnswer),
        (status = 200, description = "The order existed; an admin key set its customer and metadata", body = OrderAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order exists with its customer and metadata (ingest key)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_order(
    State(state): State<AppState>,
    Authorized(role, ..): Authorized<needs::Ingest>,
    body: Body,
) -> Result<(StatusCode, HeaderMap, Json<OrderAnswer>), ApiError> {
    let body = read_body(&state, body).await?;
    let req: NewOrder = json_body(&body)?;
    let order_id = OrderId::parse(&req.order_id).map_err(|e| invalid(e.to_string()))?;
    validate_new_order(&req)?;
    let customer = req
        .customer
        .as_ref()
        .map(serde_json::value::to_raw_value)
        .transpose()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let given = OrderDetails {
        customer,
        metadata: req.metadata,
    };
    let details = details_text(&given)?;
    let now = clock::now();
    let event = TrackingEvent {
        // Not the derived id of a seed `create`: an order that an event created first
        // can still receive its customer and metadata here.
        event_id: format!("order:{order_id}"),
        order_id: Some(order_id.clone()),
        tracking: None,
        kind: EventKind::OrderCreated,
        occurred_at: now,
        utc_offset_seconds: 0,
        received_at: now,
        location: None,
        description: None,
        raw_status: None,
        details: Some(details),
    };
    let outcome = state.store.submit(Submission::NewOrder(event)).await?;
    let mut status = StatusCode::CREATED;
    match outcome.first() {
        Some(ItemOutcome::Accepted) => {}
        Some(ItemOutcome::OrderExists) if role == Role::Admin => {
            set_details(&state, &order_id, &given, now).await?;
            status = StatusCode::OK;
        }
        Some(ItemOutcome::OrderExists | ItemOutcome::Duplicate) => {
            return Err(ApiError::Conflict(format!(
                "order {order_id} already exists"
            )));
        }
        other => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "unexpected outcome {other:?}"
            )));
        }
    }
    let id = order_id.to_string();
    let rec = state
        .store
        .order(&id)
        .await?
        .ok_or_else(|| not_found(order_id.as_str()))?;
    let view = OrderAnswer::new(rec, &state.links, role);
    let mut h = HeaderMap::new();
    if let Ok(loc) = format!(
        "/v1/orders/{}",
        crate::views::percent_encode(order_id.as_str())
    )
    .parse()
    {
        h.insert(header::LOCATION, loc);
    }
    Ok((status, h, Json(view)))
}

fn details_text(d: &OrderDetails) -> Result<String, ApiError> {
    serde_json::to_string(d).map_err(|e| ApiError::Internal(e.into()))
}

/// The merchant's customer and metadata for an existing order: the store lays what was
/// sent over what the order has, in its writer, so two requests at once cannot undo
/// each other. A request that changes nothing records nothing.
async fn set_details(
    state: &AppState,
    order_id: &OrderId,
    given: &OrderDetails,
    now: waybill_core::Timestamp,
) -> Result<(), ApiError> {
    if given.customer.is_none() && given.metadata.is_none() {
        return Ok(());
    }
    let record = TrackingEvent::details_set(order_id.clone(), details_text(given)?, now);
    match state
        .store
        .submit(Submission::Events(vec![record]))
        .await?
        .first()
    {
        Some(ItemOutcome::Accepted | ItemOutcome::Duplicate) => Ok(()),
        Some(ItemOutcome::Rejected(Rejection::UnknownOrder(_))) => {
            Err(not_found(order_id.as_str()))
        }
        other => Err(ApiError::Internal(anyhow::anyhow!(
            "unexpected outcome {other:?}"
        ))),
    }
}

/// Get an order with its shipments and derived status.
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "orders",
    security(("bearer" = [])),
    params(("order_id" = String, Path, description = "The merchant's order id")),
    responses(
        (status = 200, body = OrderView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_order(
    State(state): State<AppState>,
    _: Authorized<needs::Read>,
    order_id: Result<Path<String>, PathRejection>,
) -> Result<Json<OrderView>, ApiError> {
    let order_id = path_order_id(order_id)?;
    let rec = cached_order(&state, &order_id)
        .await?
        .ok_or_else(|| not_found(&order_id))?;
    Ok(Json(OrderView::from_record(rec, &state.links)))
}

/// An order, from the cluster's cache when there is one (see `crate::cluster`).
async fn cached_order(
    state: &AppState,
    id: &str,
) -> Result<Option<waybill_store::OrderRecord>, ApiError> {
    use crate::cluster::Lookup;
    let Some(cluster) = &state.cluster else {
        return Ok(state.store.order(id).await?);
    };
    match cluster.lookup(id).await {
        Lookup::Hit(rec) => Ok(Some(rec)),
        Lookup::Miss(tag) => {
            let rec = state.store.order(id).await?;
            if let Some(r) = &rec {
                cluster.fill(id, &tag, r).await;
            }
            Ok(rec)
        }
        Lookup::Bypass => Ok(state.store.order(id).await?),
    }
}

/// The order's timeline: every event of every shipment, ordered by `occurred_at`.
/// Events the state machine did not apply are included, flagged.
#[utoipa::path(get, path = "/v1/orders/{order_id}/events", tag = "orders",
    security(("bearer" = [])),
    params(("order_id" = String, Path, description = "The merchant's order id")),
    responses(
        (status = 200, body = Timeline),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_timeline(
    State(state): State<AppState>,
    _: Authorized<needs::Read>,
    order_id: Result<Path<String>, PathRejection>,
) -> Result<Json<Timeline>, ApiError> {
    let order_id = path_order_id(order_id)?;
    let id = order_id.clone();
    let events = state
        .store
        .timeline(&id)
        .await?
        .ok_or_else(|| not_found(&order_id))?;
    Ok(Json(Timeline {
        order_id,
        events: events.into_iter().map(EventView::from_record).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// An order status, e.g. `in_transit` or `exception`.
    #[param(schema_with = schema::order_status)]
    status: Option<String>,
    /// Orders with at least one shipment of this carrier.
    carrier: Option<String>,
    /// RFC 3339: orders updated at or after this instant.
    #[param(schema_with = schema::instant)]
    updated_since: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^o[0-9a-f]{1,15}$")]
    cursor: Option<String>,
}

fn decode_cursor(c: &str) -> Result<i64, ApiError> {
    tokens::decode_cursor(c)
        .ok_or_else(|| ApiError::BadQuery(format!("cursor {c:?} is not one this API handed out")))
}

/// Search orders, oldest first, one page at a time.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = OrderList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_orders(
    State(state): State<AppState>,
    _: Authorized<needs::Read>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OrderList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s)
                .ok_or_else(|| ApiError::BadQuery(format!("unknown order status {s:?}")))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadQuery(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let updated_since = q
        .updated_since
        .as_deref()
        .map(|s| {
            parse_bound("updated_since", s)
                .map(|t| t.as_micros())
                .map_err(|e| match s.contains(' ') {
                    // A raw `+` in a query string arrives as a space.
                    true => format!("{e} (write the + of an offset as %2B in a URL)"),
                    false => e,
                })
        })
        .transpose()
        .map_err(ApiError::BadQuery)?;
    let filter = ListFilter {
        status,
        // The same names as events: `zto` finds `zto-express`.
        carrier: q.carrier.map(|c| {
            Carrier::parse(&c)
                .map(carriers::canonical)
                .map_or(c, |c| c.to_string())
        }),
        updated_since,
        after: q.cursor.as_deref().map(decode_cursor).transpose()?,
        limit,
    };
    let page = state.store.list_orders(&filter).await?;
    Ok(Json(OrderList {
        orders: page
            .orders
            .into_iter()
            .map(|o| OrderView::from_record(o, &state.links))
            .collect(),
        next_cursor: page.next.map(tokens::encode_cursor),
    }))
}

/// Register a parcel with an order before (or after) any event names it.
///
/// From then on, events and provider pushes for this carrier and tracking number belong
/// to the order without naming it. A parcel that pushes already reached while no order
/// had claimed it joins the order with its whole timeline. Registering it again is
/// harmless (200); a parcel that belongs to another order is a conflict (409).
#[utoipa::path(post, path = "/v1/orders/{order_id}/shipments", tag = "orders",
    security(("bearer" = [])),
    params(("order_id" = String, Path, description = "The merchant's order id")),
    request_body = NewShipment,
    responses(
        (status = 201, description = "Linked: the order for an admin key, without its customer, metadata and tracking link for an ingest key", body = OrderAnswer),
        (status = 200, description = "Already linked to this order", body = OrderAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The parcel belongs to another order", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn register_shipment(
    State(state): State<AppState>,
    Authorized(role, ..): Authorized<needs::Ingest>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<(StatusCode, Json<OrderAnswer>), ApiError> {
    let order_id = path_order_id(path)?;
    let order_id = OrderId::parse(&order_id).map_err(|_| not_found(&order_id))?;
    let body = read_body(&state, body).await?;
    let req: NewShipment = json_body(&body)?;
    let tracking = Tracking {
        carrier: carriers::canonical(
            Carrier::parse(&req.carrier).map_err(|e| invalid(e.to_string()))?,
        ),
        tracking_number: TrackingNumber::parse(&req.tracking_number)
            .map_err(|e| invalid(e.to_string()))?,
    };
    let link = TrackingEvent::link(order_id.clone(), tracking, clock::now());
    let outcome = state.store.submit(Submission::Events(vec![link])).await?;
    let status = match outcome.into_iter().next() {
        Some(ItemOutcome::Accepted) => StatusCode::CREATED,
        Some(ItemOutcome::Duplicate) => StatusCode::OK,
        Some(ItemOutcome::Rejected(Rejection::UnknownOrder(_))) => {
            return Err(not_found(order_id.as_str()));
        }
        Some(ItemOutcome::Rejected(r)) => return Err(ApiError::Conflict(r.to_string())),
        other => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "unexpected outcome {other:?}"
            )));
        }
    };
    let id = order_id.to_string();
    let rec = state
        .store
        .order(&id)
        .await?
        .ok_or_else(|| not_found(order_id.as_str()))?;
    Ok((status, Json(OrderAnswer::new(rec, &state.links, role))))
}
