//! `waybill publish FILES`: sends events to `waybill.intake` the way a producer would
//! (docs/scaling.md): one persistent message per event, routing key = its `order_id`,
//! confirmed by the broker. For the scale-out tour, tests and benchmarks; producers in
//! production use their own AMQP client the same way.

use crate::out::say;
use std::path::PathBuf;

use anyhow::Context;
use waybill_broker::Topology;
use waybill_broker::publish::{Message, Publisher, confirmed};
use waybill_broker::topology;

use crate::cmd::ingest::read_items;

/// Confirms awaited at once: enough to keep the broker busy.
const WINDOW: usize = 1000;

/// The routing key of an event: its order, else its parcel.
pub fn routing_key(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let key = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    key("order_id").or_else(|| key("tracking_number"))
}

/// Publishes every event in `files`; returns how many the broker confirmed.
pub async fn run(url: &str, partitions: u16, files: &[PathBuf]) -> anyhow::Result<usize> {
    let conn = waybill_broker::connect(url, "waybill-publish")
        .await
        .context("connecting to RabbitMQ (WAYBILL_AMQP_URL)")?;
    let publisher = Publisher::open(&conn).await?;
    topology::declare(
        publisher.channel(),
        &Topology {
            partitions,
            ..Topology::default()
        },
    )
    .await?;
    let mut sent = 0;
    let mut window = Vec::with_capacity(WINDOW);
    for path in files {
        for (n, item) in read_items(path)?.enumerate() {
            let json = item.map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))?;
            let key = routing_key(&json).with_context(|| {
                format!(
                    "{}:{}: no order_id or tracking_number",
                    path.display(),
                    n + 1
                )
            })?;
            window.push(
                publisher
                    .send(&Message {
                        exchange: topology::INTAKE,
                        routing_key: &key,
                        body: json.as_bytes(),
                        content_type: "application/json",
                        message_id: None,
                        headers: Vec::new(),
                    })
                    .await?,
            );
            if window.len() == WINDOW {
                for c in window.drain(..) {
                    confirmed(c).await?;
                    sent += 1;
                }
            }
        }
    }
    for c in window {
        confirmed(c).await?;
        sent += 1;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(sent)
}

/// `waybill publish FILE…`.
pub fn main(settings: &crate::settings::Settings, files: &[PathBuf]) -> anyhow::Result<()> {
    let url = settings
        .scale
        .amqp_url
        .clone()
        .ok_or_else(|| anyhow::anyhow!("waybill publish needs WAYBILL_AMQP_URL"))?;
    let n = super::runtime()?.block_on(run(&url, settings.scale.partitions, files))?;
    say!("published {n} events (confirmed by the broker)");
    Ok(())
}
