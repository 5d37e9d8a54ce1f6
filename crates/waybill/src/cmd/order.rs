//! `waybill order ORDER_ID`: status and timeline as a table, read from the store
//! (`cmd::store::read_order` says from where).

use anyhow::bail;
use waybill_formats::wire::format_instant;

use super::table;

pub fn main(settings: &crate::settings::Settings, order_id: &str) -> anyhow::Result<()> {
    let Some((order, events)) = super::store::read_order(settings, order_id)? else {
        bail!("no order {order_id:?}");
    };
    crate::out::print(&render(&order, &events))?;
    Ok(())
}

/// A time the store has, in UTC; `-` for one it does not (stored as 0, never a date).
fn instant(micros: i64) -> String {
    if micros == 0 {
        "-".to_owned()
    } else {
        format_instant(micros, 0)
    }
}

fn render(order: &waybill_store::OrderRecord, events: &[waybill_store::EventRecord]) -> String {
    let mut out = String::new();
    out.push_str(&table::render(
        &["order", &order.order_id],
        &[
            vec!["status".into(), order.status.as_str().into()],
            vec!["created".into(), instant(order.created_at)],
            vec!["updated".into(), instant(order.updated_at)],
        ],
    ));
    if !order.shipments.is_empty() {
        out.push('\n');
        let parcels: Vec<Vec<String>> = order
            .shipments
            .iter()
            .map(|s| {
                vec![
                    s.carrier.clone().unwrap_or_else(|| "-".into()),
                    s.tracking_number
                        .clone()
                        .unwrap_or_else(|| "(default)".into()),
                    s.status.map_or("-", |s| s.as_str()).into(),
                    s.last_location.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table::render(
            &["CARRIER", "TRACKING", "STATUS", "LAST LOCATION"],
            &parcels,
        ));
    }
    out.push('\n');
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let status = match &e.flag {
            Some(_) => format!("{} (!)", e.kind.as_str()),
            None => e.kind.as_str().to_owned(),
        };
        rows.push(vec![
            format_instant(e.occurred_at, e.utc_offset),
            status,
            e.tracking_number.clone().unwrap_or_else(|| "-".into()),
            e.location.clone().unwrap_or_default(),
            e.description.clone().unwrap_or_default(),
        ]);
    }
    let timeline = table::render(
        &["OCCURRED", "STATUS", "TRACKING", "LOCATION", "DESCRIPTION"],
        &rows,
    );
    // A flagged event's reason goes under its row, indented, outside the columns. (One
    // line per row: `table::render` keeps line breaks out of the cells.)
    let mut lines = timeline.lines();
    if let Some(header) = lines.next() {
        out.push_str(header);
        out.push('\n');
    }
    for (line, e) in lines.zip(events) {
        out.push_str(line);
        out.push('\n');
        if let Some(flag) = &e.flag {
            out.push_str(&format!("    (!) not applied: {flag}\n"));
        }
    }
    out
}
