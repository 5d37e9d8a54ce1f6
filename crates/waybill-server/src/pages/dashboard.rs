//! The operations dashboard's HTML: tiles, shipments by status as an SVG bar chart,
//! and the lists someone should act on. Server-rendered; no library.

use std::fmt::Write as _;

use waybill_core::ShipmentStatus;
use waybill_store::{Flagged, Overview};

use super::esc;
use waybill_formats::wire::format_instant;

fn bars(by_status: &[(Option<ShipmentStatus>, i64)]) -> String {
    let max = by_status.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
    let row = 22;
    let height = row * by_status.len().max(1);
    let mut s = format!(
        "<svg class=\"bars\" role=\"img\" aria-label=\"shipments by status\" viewBox=\"0 0 600 {height}\" width=\"100%\">"
    );
    for (i, (status, n)) in by_status.iter().enumerate() {
        // A shipment that has no status yet is counted as `none`.
        let status = status.map_or("none", ShipmentStatus::as_str);
        let y = i * row;
        let w = (*n as f64 / max * 380.0).max(1.0);
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"150\" y=\"{}\" width=\"{w:.0}\" height=\"16\"></rect><text x=\"{:.0}\" y=\"{}\" data-status=\"{}\">{n}</text>",
            y + 13,
            status,
            y + 2,
            150.0 + w + 6.0,
            y + 13,
            status,
        );
    }
    s.push_str("</svg>");
    s
}

fn table(rows: &[Flagged], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"muted\">{empty}</p>");
    }
    let mut s = String::from(
        "<table><tr><th>order</th><th>carrier</th><th>tracking number</th><th>status</th><th>last event received</th><th>last location</th></tr>",
    );
    for r in rows {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><time datetime=\"{t}\">{t}</time></td><td>{}</td></tr>",
            esc(&r.order_id),
            esc(r.carrier.as_deref().unwrap_or("—")),
            esc(r.tracking_number.as_deref().unwrap_or("—")),
            r.status.as_str(),
            esc(r.last_location.as_deref().unwrap_or("")),
            t = format_instant(r.updated_at.as_micros(), 0),
        );
    }
    s.push_str("</table>");
    s
}

/// The part the page refreshes.
pub fn fragment(o: &Overview, ingest_per_minute: i64) -> String {
    let total: i64 = o.by_status.iter().map(|(_, n)| n).sum();
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<div class=\"tiles\">\
         <div class=\"tile\"><strong id=\"ingest\">{ingest_per_minute}</strong>events in the last minute</div>\
         <div class=\"tile\"><strong id=\"shipments\">{total}</strong>shipments</div>\
         <div class=\"tile\"><strong id=\"exceptions\">{}</strong>exceptions and failed attempts</div>\
         <div class=\"tile\"><strong id=\"stalled\">{}</strong>stalled</div>\
         <div class=\"tile\"><strong id=\"quarantined\">{}</strong>pushes in quarantine</div>\
         <div class=\"tile\"><strong id=\"failing\">{}</strong>failing webhook endpoints</div></div>",
        o.exceptions.len(),
        o.stalled.len(),
        o.quarantined,
        o.failing.len()
    );
    let _ = write!(h, "<h2>Shipments by status</h2>{}", bars(&o.by_status));
    let _ = write!(
        h,
        "<h2>Exceptions and failed attempts</h2>{}",
        table(&o.exceptions, "None.")
    );
    let _ = write!(
        h,
        "<h2>Stalled (no scan for longer than their status allows)</h2>{}",
        table(&o.stalled, "None.")
    );
    h.push_str("<h2>Quarantine (oldest waiting)</h2>");
    if o.quarantine_oldest.is_empty() {
        h.push_str("<p class=\"muted\">Empty.</p>");
    } else {
        h.push_str("<table><tr><th>id</th><th>provider</th><th>reason</th><th>received</th></tr>");
        for (id, provider, reason, at) in &o.quarantine_oldest {
            let _ = write!(
                h,
                "<tr><td>{id}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(provider),
                esc(reason),
                format_instant(at.as_micros(), 0)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Carriers</h2>");
    if o.carriers.is_empty() {
        h.push_str("<p class=\"muted\">None yet.</p>");
    } else {
        h.push_str(
            "<table><tr><th>carrier</th><th>shipments</th><th>exception rate</th>\
             <th>pick-up → delivery p50</th><th>p90</th><th>deliveries measured</th></tr>",
        );
        let hours = |v: Option<f64>| v.map_or("—".to_owned(), |h| format!("{h:.1} h"));
        for c in &o.carriers {
            let rate = if c.shipments > 0 {
                100.0 * c.exceptions as f64 / c.shipments as f64
            } else {
                0.0
            };
            let _ = write!(
                h,
                "<tr data-carrier=\"{}\"><td>{}</td><td>{}</td><td>{rate:.1}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.carrier),
                esc(&c.carrier),
                c.shipments,
                hours(c.transit_p50_hours),
                hours(c.transit_p90_hours),
                c.delivered_sampled
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Webhook endpoints with failing deliveries</h2>");
    if o.failing.is_empty() {
        h.push_str("<p class=\"muted\">None.</p>");
    } else {
        h.push_str("<table><tr><th>subscription</th><th>url</th><th>failed</th><th>retrying</th><th>disabled</th></tr>");
        for f in &o.failing {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.subscription_id),
                esc(&crate::delivery::redacted(&f.url)),
                f.failed,
                f.retrying,
                if f.disabled { "yes" } else { "no" }
            );
        }
        h.push_str("</table>");
    }
    h
}

/// A page around `main` for the dashboard (English: it is for the operations team).
pub fn page(main: &str, signed_in: bool) -> String {
    let nav = if signed_in {
        "<form method=\"post\" action=\"/dashboard/logout\"><button type=\"submit\">Sign out</button></form>"
    } else {
        ""
    };
    let id = if signed_in { " id=\"dashboard\"" } else { "" };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Waybill operations</title><link rel=\"stylesheet\" href=\"/assets/track.css\"></head>\
         <body class=\"wide\"><header><strong>Waybill operations</strong>{nav}</header>\
         <main{id}>{main}</main><script src=\"/assets/dashboard.js\" defer></script></body></html>"
    )
}

/// The sign-in form.
pub fn sign_in(message: Option<&str>) -> String {
    let mut h = String::from("<h1>Sign in</h1>");
    if let Some(m) = message {
        let _ = write!(h, "<p class=\"banner\" role=\"alert\">{}</p>", esc(m));
    }
    h.push_str(
        "<form method=\"post\" action=\"/dashboard/login\" class=\"parcel\">\
         <p><label>Admin API key<br><input name=\"key\" type=\"password\" required autocomplete=\"off\"></label></p>\
         <p><button type=\"submit\">Sign in</button></p></form>",
    );
    page(&h, false)
}
