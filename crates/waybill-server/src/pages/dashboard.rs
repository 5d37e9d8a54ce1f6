//! The operations dashboard's HTML: tiles, shipments by status as bars,
//! and the lists someone should act on. Server-rendered with maud.

use maud::{DOCTYPE, Markup, html};
use waybill_core::{OrderStatus, ShipmentStatus};
use waybill_store::{Flagged, Overview};

use super::i18n::Lang;
use waybill_formats::wire::format_instant;

/// A shipment status in words (the dashboard is in English).
fn word(status: Option<ShipmentStatus>) -> &'static str {
    match status {
        Some(s) => Lang::En.status(OrderStatus::of_shipment(s)),
        None => "No scan yet",
    }
}

/// A carrier's name for people; the slug for one the table does not know.
fn carrier(slug: Option<&str>) -> &str {
    slug.map_or("—", |c| {
        waybill_providers::carriers::name(c, false).unwrap_or(c)
    })
}

/// A time to the minute, in UTC: what an operator reads at a glance (the full
/// instant stays in the element's `datetime`).
fn when(micros: i64) -> Markup {
    let full = format_instant(micros, 0);
    let short = jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| full.clone());
    html! { time datetime=(full) { (short) } }
}

/// Shipments by status as bars that stay readable at any width: a table of
/// `<meter>`s (no inline style, which the page's policy forbids).
fn bars(by_status: &[(Option<ShipmentStatus>, i64)]) -> Markup {
    let max = by_status.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    html! {
        table.bars aria-label="shipments by status" {
            @for (status, n) in by_status {
                @let slug = status.map_or("none", ShipmentStatus::as_str);
                tr {
                    th scope="row" { (word(*status)) }
                    td.bar { meter min="0" max=(max) value=(n) { (n) } }
                    td.n data-status=(slug) { (n) }
                }
            }
        }
    }
}

fn table(rows: &[Flagged], empty: &str) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { (empty) }
        } @else {
            div.scroll {
                table {
                    tr {
                        th { "order" } th { "carrier" } th { "tracking number" } th { "status" }
                        th { "last event received (UTC)" } th { "last location" }
                    }
                    @for r in rows {
                        tr {
                            td.id { (r.order_id) }
                            td data-carrier=[r.carrier.as_deref()] { (carrier(r.carrier.as_deref())) }
                            td.id { (r.tracking_number.as_deref().unwrap_or("—")) }
                            td data-status=(r.status.as_str()) { (word(Some(r.status))) }
                            td.id { (when(r.updated_at.as_micros())) }
                            td { (r.last_location.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// The part the page refreshes.
pub fn fragment(o: &Overview, ingest_per_minute: i64) -> Markup {
    let total: i64 = o.by_status.iter().map(|(_, n)| n).sum();
    let hours = |v: Option<f64>| v.map_or("—".to_owned(), |h| format!("{h:.1} h"));
    html! {
        div.tiles {
            div.tile { strong #ingest { (ingest_per_minute) } "events in the last minute" }
            div.tile { strong #shipments { (total) } "shipments" }
            div.tile { strong #exceptions { (o.exceptions.len()) } "exceptions and failed attempts" }
            div.tile { strong #stalled { (o.stalled.len()) } "stalled" }
            div.tile { strong #quarantined { (o.quarantined) } "pushes in quarantine" }
            div.tile { strong #failing { (o.failing.len()) } "failing webhook endpoints" }
        }
        h2 { "Shipments by status" } (bars(&o.by_status))
        h2 { "Exceptions and failed attempts" } (table(&o.exceptions, "None."))
        h2 { "Stalled (no scan for longer than their status allows)" } (table(&o.stalled, "None."))
        h2 { "Quarantine (oldest waiting)" }
        @if o.quarantine_oldest.is_empty() {
            p.muted { "Empty." }
        } @else {
            div.scroll { table {
                tr { th { "id" } th { "provider" } th { "reason" } th { "received (UTC)" } }
                @for (id, provider, reason, at) in &o.quarantine_oldest {
                    tr {
                        td.id { (id) } td { (provider) } td { (reason) }
                        td.id { (when(at.as_micros())) }
                    }
                }
            } }
        }
        h2 { "Carriers" }
        @if o.carriers.is_empty() {
            p.muted { "None yet." }
        } @else {
            div.scroll { table {
                tr {
                    th { "carrier" } th { "shipments" } th { "exception rate" }
                    th { "pick-up → delivery p50" } th { "p90" } th { "deliveries measured" }
                }
                @for c in &o.carriers {
                    @let rate = if c.shipments > 0 {
                        100.0 * c.exceptions as f64 / c.shipments as f64
                    } else {
                        0.0
                    };
                    tr data-carrier=(c.carrier) {
                        td { (carrier(Some(&c.carrier))) } td { (c.shipments) } td { (format!("{rate:.1}%")) }
                        td { (hours(c.transit_p50_hours)) } td { (hours(c.transit_p90_hours)) }
                        td { (c.delivered_sampled) }
                    }
                }
            } }
        }
        h2 { "Webhook endpoints with failing deliveries" }
        @if o.failing.is_empty() {
            p.muted { "None." }
        } @else {
            div.scroll { table {
                tr {
                    th { "subscription" } th { "url" } th { "failed" } th { "retrying" }
                    th { "disabled" }
                }
                @for f in &o.failing {
                    tr {
                        td.id { (f.subscription_id) }
                        td { (crate::delivery::redacted(&f.url)) }
                        td { (f.failed) } td { (f.retrying) }
                        td { (if f.disabled { "yes" } else { "no" }) }
                    }
                }
            } }
        }
    }
}

/// A page around `main` for the dashboard (English: it is for the operations team).
pub fn page(main: Markup, signed_in: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { "Waybill operations" }
                link rel="stylesheet" href="/assets/track.css";
            }
            body.wide {
                header {
                    strong { "Waybill operations" }
                    @if signed_in {
                        form method="post" action="/dashboard/logout" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id=[signed_in.then_some("dashboard")] { (main) }
                script src="/assets/dashboard.js" defer {}
            }
        }
    }
}

/// The sign-in form.
pub fn sign_in(message: Option<&str>) -> Markup {
    page(
        html! {
            h1 { "Sign in" }
            @if let Some(m) = message {
                p.banner role="alert" { (m) }
            }
            form method="post" action="/dashboard/login" class="parcel" {
                p { label { "Admin API key" br; input name="key" type="password" required autocomplete="off"; } }
                p { button type="submit" { "Sign in" } }
            }
        },
        false,
    )
}
