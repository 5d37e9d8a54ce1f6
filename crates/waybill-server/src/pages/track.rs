//! The tracking page's HTML: the order's status in words, a stepper along the ordinary
//! path, each parcel with its timeline (newest first), explanations for exceptions. No
//! personal data: no customer, no metadata, no event details.

use std::fmt::Write as _;

use waybill_core::{OrderStatus, ShipmentStatus};
use waybill_store::{EventRecord, OrderRecord};

use super::esc;
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
pub fn fragment(order: &OrderRecord, timeline: &[EventRecord], lang: Lang) -> String {
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<h1>{} {}</h1><p class=\"status\" data-status=\"{}\">{}</p>",
        lang.word("order"),
        esc(&order.order_id),
        order.status.as_str(),
        lang.status(order.status)
    );
    if let Some(why) = lang.explain(order.status) {
        let _ = write!(h, "<p class=\"banner\" role=\"status\">{why}</p>");
    }
    let at = step_of(order.status);
    h.push_str("<ol class=\"stepper\">");
    for (i, step) in STEPS.iter().enumerate() {
        let class = match i.cmp(&at) {
            std::cmp::Ordering::Less => "done",
            std::cmp::Ordering::Equal => "done current",
            std::cmp::Ordering::Greater => "",
        };
        let _ = write!(
            h,
            "<li class=\"{class}\" data-step=\"{}\">{}</li>",
            step.as_str(),
            lang.status(*step)
        );
    }
    h.push_str("</ol>");

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
    for (carrier, number) in parcels {
        let shipment = order
            .shipments
            .iter()
            .find(|s| s.carrier.as_deref() == carrier && s.tracking_number.as_deref() == number);
        let mut events: Vec<&EventRecord> = timeline
            .iter()
            .filter(|e| e.carrier.as_deref() == carrier && e.tracking_number.as_deref() == number)
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.occurred_at));
        h.push_str("<section class=\"parcel\">");
        match (carrier, number) {
            (Some(c), Some(n)) => {
                let _ = write!(
                    h,
                    "<h2>{} · {} <span class=\"number\">{}</span></h2>",
                    lang.word("parcel"),
                    esc(c),
                    esc(n)
                );
            }
            _ => {
                let _ = write!(h, "<h2>{}</h2>", lang.word("parcel"));
            }
        }
        if let Some(s) = shipment {
            if let Some(status) = s.status {
                let _ = write!(
                    h,
                    "<p class=\"what\">{}</p>",
                    lang.status(OrderStatus::of_shipment(status))
                );
            }
            if let Some(loc) = &s.last_location {
                let _ = write!(
                    h,
                    "<p class=\"muted\">{}: {}</p>",
                    lang.word("last_location"),
                    esc(loc)
                );
            }
        }
        let done = shipment
            .and_then(|s| s.status)
            .is_some_and(ShipmentStatus::is_terminal);
        if !done && let Some(eta) = estimate(&events) {
            let _ = write!(
                h,
                "<p class=\"eta\">{}: <time datetime=\"{}\">{}</time></p>",
                lang.word("eta"),
                esc(&eta),
                esc(&eta)
            );
        }
        if events.is_empty() {
            let _ = write!(h, "<p class=\"muted\">{}</p>", lang.word("no_events"));
        } else {
            h.push_str("<ol class=\"timeline\">");
            for e in events {
                let when = format_instant(e.occurred_at, e.utc_offset);
                let _ = write!(
                    h,
                    "<li data-status=\"{}\"><span class=\"what\">{}</span> <time datetime=\"{}\">{}</time>",
                    e.kind.as_str(),
                    lang.event(e.kind),
                    esc(&when),
                    esc(&when)
                );
                if let Some(d) = &e.description {
                    let _ = write!(h, "<div>{}</div>", esc(d));
                }
                if let Some(l) = &e.location {
                    let _ = write!(h, "<div class=\"muted\">{}</div>", esc(l));
                }
                h.push_str("</li>");
            }
            h.push_str("</ol>");
        }
        h.push_str("</section>");
    }
    h
}

/// The whole page around `fragment`.
pub fn page(
    title: &str,
    lang: Lang,
    main: &str,
    stream: Option<(&str, &str)>,
    switch: &[(&str, String)],
) -> String {
    let mut h = String::with_capacity(main.len() + 1024);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/assets/track.css\"></head><body><header><strong>{}</strong><nav>",
        lang.code(),
        esc(title),
        esc(lang.word("title"))
    );
    for (label, href) in switch {
        let _ = write!(h, "<a href=\"{}\">{}</a>", esc(href), esc(label));
    }
    h.push_str("</nav></header>");
    match stream {
        Some((stream, fragment)) => {
            let _ = write!(
                h,
                "<main id=\"track\" data-stream=\"{}\" data-fragment=\"{}\">{main}</main>",
                esc(stream),
                esc(fragment)
            );
        }
        None => {
            let _ = write!(h, "<main>{main}</main>");
        }
    }
    h.push_str("<script src=\"/assets/track.js\" defer></script></body></html>");
    h
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
        );
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
