//! The tracking page's HTML: the order's status in words, a stepper along the ordinary
//! path, each parcel with its timeline (newest first), explanations for exceptions. No
//! personal data: no customer, no metadata, no event details.

use maud::{DOCTYPE, Markup, html};
use waybill_core::{EventKind, OrderStatus, ShipmentStatus};
use waybill_store::{EventRecord, OrderRecord};

use super::i18n::Lang;
use waybill_formats::wire::format_instant;

/// The ordinary path (docs/state-machine.md), as the stepper shows it.
const STEPS: [OrderStatus; 6] = [
    OrderStatus::Created,
    OrderStatus::Shipped,
    OrderStatus::PickedUp,
    OrderStatus::InTransit,
    OrderStatus::OutForDelivery,
    OrderStatus::Delivered,
];

/// How far along the stepper an order status is. Exhaustive: a new status must say
/// where it stands.
fn step_of(status: OrderStatus) -> usize {
    use OrderStatus as S;
    match status {
        S::Created => 0,
        S::Shipped => 1,
        S::PickedUp => 2,
        S::InTransit | S::Exception | S::Returning | S::Returned | S::Cancelled => 3,
        S::OutForDelivery | S::FailedAttempt | S::AvailableForPickup | S::PartiallyDelivered => 4,
        S::Delivered => 5,
    }
}

/// The provider's estimated delivery from the parcel's latest push that gave one.
fn estimate(events: &[&EventRecord]) -> Option<String> {
    events
        .iter()
        .filter_map(|e| {
            // Typed: the other details are skipped unread, whatever numbers they hold.
            // The field is `waybill_providers::checkpoint::ESTIMATED_DELIVERY`.
            #[derive(serde::Deserialize)]
            struct Eta {
                estimated_delivery: Option<Box<serde_json::value::RawValue>>,
            }
            let d: Eta = serde_json::from_str(e.details.as_deref()?).ok()?;
            let eta: String = serde_json::from_str(d.estimated_delivery?.get()).ok()?;
            Some((e.received_at, eta))
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, eta)| eta)
}

/// The body of `<main>`: what a live update swaps in.
pub fn fragment(order: &OrderRecord, timeline: &[EventRecord], lang: Lang) -> Markup {
    let at = step_of(order.status);
    // Tracked parcels first, as they were registered; the order's default shipment
    // (events without a tracking number) last.
    let mut parcels: Vec<(Option<&str>, Option<&str>)> = order
        .shipments
        .iter()
        .map(|s| (s.carrier.as_deref(), s.tracking_number.as_deref()))
        .collect();
    if parcels.is_empty() {
        parcels.push((None, None));
    }
    html! {
        h1 { (lang.word("order")) " " (order.order_id) }
        p.status data-status=(order.status.as_str()) { (lang.status(order.status)) }
        @if let Some(why) = lang.explain(order.status) {
            p.banner role="status" { (why) }
        }
        ol.stepper data-status=(order.status.as_str()) {
            @for (i, step) in STEPS.iter().enumerate() {
                li class=(match i.cmp(&at) {
                    std::cmp::Ordering::Less => "done",
                    std::cmp::Ordering::Equal => "done current",
                    std::cmp::Ordering::Greater => "",
                }) data-step=(step.as_str()) { (lang.status(*step)) }
            }
        }
        @for (carrier, number) in parcels {
            (parcel(order, timeline, carrier, number, lang))
        }
    }
}

/// One parcel: its status, last location, the provider's estimate, its timeline.
fn parcel(
    order: &OrderRecord,
    timeline: &[EventRecord],
    carrier: Option<&str>,
    number: Option<&str>,
    lang: Lang,
) -> Markup {
    let shipment = order
        .shipments
        .iter()
        .find(|s| s.carrier.as_deref() == carrier && s.tracking_number.as_deref() == number);
    let mut events: Vec<&EventRecord> = timeline
        .iter()
        .filter(|e| e.carrier.as_deref() == carrier && e.tracking_number.as_deref() == number)
        .collect();
    // An order is placed once: a `create` sent for an order that already existed (the
    // seed's first event, after `POST /v1/orders`) stays in the log, not on the page.
    events.sort_by_key(|e| e.occurred_at);
    let mut placed = false;
    events.retain(|e| e.kind != EventKind::OrderCreated || !std::mem::replace(&mut placed, true));
    events.reverse();
    let done = shipment
        .and_then(|s| s.status)
        .is_some_and(ShipmentStatus::is_terminal);
    let eta = if done { None } else { estimate(&events) };
    html! {
        section.parcel {
            @match (carrier, number) {
                (Some(c), Some(n)) => {
                    @let name = waybill_providers::carriers::name(c, lang == Lang::Zh).unwrap_or(c);
                    h2 { (lang.word("parcel")) " · " span.carrier data-carrier=(c) { (name) } " " span.number { (n) } }
                }
                _ => { h2 { (lang.word("parcel")) } }
            }
            @if let Some(s) = shipment {
                @if let Some(status) = s.status {
                    p.what { (lang.status(OrderStatus::of_shipment(status))) }
                }
                @if let Some(loc) = &s.last_location {
                    p.muted { (lang.word("last_location")) ": " (loc) }
                }
            }
            @if let Some(eta) = &eta {
                p.eta { (lang.word("eta")) ": " time datetime=(eta) { (eta) } }
            }
            @if events.is_empty() {
                p.muted { (lang.word("no_events")) }
            } @else {
                ol.timeline {
                    @for e in &events {
                        @let when = format_instant(e.occurred_at, e.utc_offset);
                        li data-status=(e.kind.as_str()) {
                            span.what { (lang.event(e.kind)) }
                            " "
                            time datetime=(when) { (when) }
                            @if let Some(d) = &e.description { div { (d) } }
                            @if let Some(l) = &e.location { div.muted { (l) } }
                        }
                    }
                }
            }
        }
    }
}

/// The whole page around `fragment`.
pub fn page(
    title: &str,
    lang: Lang,
    main: Markup,
    stream: Option<(&str, &str)>,
    switch: &[(&str, String)],
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/assets/track.css";
            }
            body {
                header {
                    strong { (lang.word("title")) }
                    nav { @for (label, href) in switch { a href=(href) { (label) } } }
                }
                @match stream {
                    Some((stream, fragment)) => {
                        main #track data-stream=(stream) data-fragment=(fragment) { (main) }
                    }
                    None => { main { (main) } }
                }
                script src="/assets/track.js" defer {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_store::ShipmentRecord;

    #[test]
    fn the_page_shows_parcels_newest_first_and_no_personal_data() {
        let order = OrderRecord {
            order_id: "o<1>".into(),
            status: OrderStatus::Exception,
            created_at: 0,
            updated_at: 0,
            details: Some(r#"{"customer":{"email":"li@example.com"}}"#.into()),
            shipments: vec![ShipmentRecord {
                carrier: Some("sf-express".into()),
                tracking_number: Some("SF1".into()),
                status: Some(ShipmentStatus::Exception),
                status_at: None,
                last_event_at: None,
                last_location: Some("深圳".into()),
            }],
        };
        let ev = |kind: &str, at: i64| EventRecord {
            event_id: format!("{kind}{at}"),
            order_id: "o<1>".into(),
            carrier: Some("sf-express".into()),
            tracking_number: Some("SF1".into()),
            kind: waybill_core::EventKind::parse(kind).unwrap(),
            occurred_at: at,
            utc_offset: 8 * 3600,
            received_at: at,
            location: None,
            description: Some("<b>scan</b>".into()),
            raw_status: None,
            details: Some(r#"{"phone":"123","w":1e400,"estimated_delivery":"2026-11-30"}"#.into()),
            flag: None,
        };
        let html = fragment(
            &order,
            &[ev("picked_up", 1_000_000), ev("exception", 2_000_000)],
            Lang::En,
        )
        .into_string();
        assert!(html.contains("o&lt;1&gt;"));
        assert!(html.contains("&lt;b&gt;scan&lt;/b&gt;"));
        assert!(
            html.find("data-status=\"exception\"><span").unwrap()
                < html.find("data-status=\"picked_up\"").unwrap()
        );
        assert!(html.contains("class=\"banner\""));
        assert!(!html.contains("li@example.com") && !html.contains("123"));
        assert!(html.contains("SF1") && html.contains("深圳"));
        assert!(html.contains("Estimated delivery: <time datetime=\"2026-11-30\">"));
    }
}
