//! `waybill order ORDER_ID`: status and timeline as a table, read from the embedded
//! store's rows, or from PostgreSQL when `WAYBILL_DATABASE_URL` is set.

use std::path::Path;

use anyhow::bail;
use waybill_formats::wire::format_instant;
use waybill_store::sqlite::overlay::Overlay;
use waybill_store::sqlite::read::{self, ReadPool};

/// From PostgreSQL.
pub async fn from_postgres(
    options: &waybill_store::PgOptions,
    order_id: &str,
) -> anyhow::Result<()> {
    let store = waybill_store::PgStore::connect(options).await?;
    let Some(order) = store.order(order_id).await? else {
        bail!("no order {order_id:?}");
    };
    let events = store.timeline(order_id).await?.unwrap_or_default();
    print(&order, events);
    Ok(())
}

pub fn run(data: &Path, order_id: &str) -> anyhow::Result<()> {
    let path = data.join("waybill.sqlite3");
    if !path.exists() {
        bail!(
            "no store in {} (run waybill serve or ingest first)",
            data.display()
        );
    }
    let pool = ReadPool::new(path);
    // Reads the rows alone: while a server runs they may lag its overlay by up to a
    // second, and after a crash until the next start catches them up.
    let at_rest = Overlay::default();
    let Some(order) = pool.with(|c| read::order(c, &at_rest, order_id))? else {
        bail!("no order {order_id:?}");
    };
    let events = pool
        .with(|c| read::timeline(c, &at_rest, order_id))?
        .unwrap_or_default();
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

/// `waybill order ORDER_ID`.
pub fn main(settings: &crate::settings::Settings, order_id: &str) -> anyhow::Result<()> {
    match settings.scale.postgres(true) {
        Some(pg) => super::runtime()?.block_on(from_postgres(&pg, order_id)),
        None => run(&settings.data, order_id),
    }
}
