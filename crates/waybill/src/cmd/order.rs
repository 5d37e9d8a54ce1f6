//! `waybill order ORDER_ID`: status and timeline as a table, read from the store
//! (`cmd::store::read_order` says from where).

use anyhow::bail;
use waybill_formats::wire::format_instant;

pub fn main(settings: &crate::settings::Settings, order_id: &str) -> anyhow::Result<()> {
    let Some((order, events)) = super::store::read_order(settings, order_id)? else {
        bail!("no order {order_id:?}");
    };
    print(&order, events);
    Ok(())
}

fn print(order: &waybill_store::OrderRecord, events: Vec<waybill_store::EventRecord>) {
    println!("order    {}", order.order_id);
    println!("status   {}", order.status);
    println!("created  {}", format_instant(order.created_at, 0));
    println!("updated  {}", format_instant(order.updated_at, 0));
    println!();
    for s in &order.shipments {
        println!(
            "parcel   {:<12} {:<22} {:<20} {}",
            s.carrier.as_deref().unwrap_or("-"),
            s.tracking_number.as_deref().unwrap_or("(default)"),
            s.status.map_or("-", |s| s.as_str()),
            s.last_location.as_deref().unwrap_or("")
        );
    }
    println!();
    println!(
        "{:<26} {:<20} {:<22} {:<24} DESCRIPTION",
        "OCCURRED", "STATUS", "TRACKING", "LOCATION"
    );
    for e in events {
        let status = match &e.flag {
            Some(_) => format!("{} (!)", e.kind.as_str()),
            None => e.kind.as_str().to_owned(),
        };
        println!(
            "{:<26} {:<20} {:<22} {:<24} {}",
            format_instant(e.occurred_at, e.utc_offset),
            status,
            e.tracking_number.as_deref().unwrap_or("-"),
            e.location.as_deref().unwrap_or(""),
            e.description.as_deref().unwrap_or("")
        );
        if let Some(flag) = e.flag {
            println!("{:<26} (!) not applied: {flag}", "");
        }
    }
}
