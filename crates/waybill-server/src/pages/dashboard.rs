//! The operations dashboard's HTML: tiles, shipments by status as an SVG bar chart,
//! and the lists someone should act on. Server-rendered with maud.

use maud::{DOCTYPE, Markup, html};
use waybill_core::ShipmentStatus;
use waybill_store::{Flagged, Overview};

use waybill_formats::wire::format_instant;

fn bars(by_status: &[(Option<ShipmentStatus>, i64)]) -> Markup {
    let max = by_status.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
    let row = 22;
    let height = row * by_status.len().max(1);
    html! {
        svg.bars role="img" aria-label="shipments by status" viewBox=(format!("0 0 600 {height}")) width="100%" {
            @for (i, (status, n)) in by_status.iter().enumerate() {
                // A shipment that has no status yet is counted as `none`.
                @let status = status.map_or("none", ShipmentStatus::as_str);
                @let (y, w) = (i * row, (*n as f64 / max * 380.0).max(1.0));
                text x="0" y=(y + 13) { (status) }
                rect x="150" y=(y + 2) width=(format!("{w:.0}")) height="16" {}
                text x=(format!("{:.0}", 150.0 + w + 6.0)) y=(y + 13) data-status=(status) { (n) }
            }
        }
    }
}

fn table(rows: &[Flagged], empty: &str) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { (empty) }
        } @else {
            table {
                tr {
                    th { "order" } th { "carrier" } th { "tracking number" } th { "status" }
                    th { "last event received" } th { "last location" }
                }
                @for r in rows {
                    @let t = format_instant(r.updated_at.as_micros(), 0);
                    tr {
                        td { (r.order_id) }
                        td { (r.carrier.as_deref().unwrap_or("—")) }
                        td { (r.tracking_number.as_deref().unwrap_or("—")) }
                        td { (r.status.as_str()) }
                        td { time datetime=(t) { (t) } }
                        td { (r.last_location.as_deref().unwrap_or("")) }
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
            table {
                tr { th { "id" } th { "provider" } th { "reason" } th { "received" } }
                @for (id, provider, reason, at) in &o.quarantine_oldest {
                    tr {
                        td { (id) } td { (provider) } td { (reason) }
                        td { (format_instant(at.as_micros(), 0)) }
                    }
                }
            }
        }
        h2 { "Carriers" }
        @if o.carriers.is_empty() {
            p.muted { "None yet." }
        } @else {
            table {
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
                        td { (c.carrier) } td { (c.shipments) } td { (format!("{rate:.1}%")) }
                        td { (hours(c.transit_p50_hours)) } td { (hours(c.transit_p90_hours)) }
                        td { (c.delivered_sampled) }
                    }
                }
            }
        }
        h2 { "Webhook endpoints with failing deliveries" }
        @if o.failing.is_empty() {
            p.muted { "None." }
        } @else {
            table {
                tr {
                    th { "subscription" } th { "url" } th { "failed" } th { "retrying" }
                    th { "disabled" }
                }
                @for f in &o.failing {
                    tr {
                        td { (f.subscription_id) }
                        td { (crate::delivery::redacted(&f.url)) }
                        td { (f.failed) } td { (f.retrying) }
                        td { (if f.disabled { "yes" } else { "no" }) }
                    }
                }
            }
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
