//! `waybill dead-letters [--replay]`: what `waybill.intake.dead` keeps, and why; with
//! `--replay`, each message is published to `waybill.intake` again (confirmed), then
//! removed from the dead letters. Without it nothing is removed: the messages read are
//! given back to the queue when this command disconnects.

use crate::out::say;
use anyhow::Context;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::AMQPValue;
use waybill_broker::Topology;
use waybill_broker::publish::{Message, Publisher};
use waybill_broker::topology;

/// A header's text, if it has one.
fn text(headers: Option<&lapin::types::FieldTable>, key: &str) -> Option<String> {
    match headers?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Why RabbitMQ itself dead-lettered a message (the first `x-death` entry's reason).
fn death(headers: Option<&lapin::types::FieldTable>) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = headers?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    let reason = text(Some(first), "reason")?;
    let queue = text(Some(first), "queue").unwrap_or_default();
    Some(format!("{reason} in {queue}"))
}

pub async fn run(url: &str, partitions: u16, replay: bool, limit: usize) -> anyhow::Result<()> {
    let conn = waybill_broker::connect(url, "waybill-dead-letters")
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
    let ch = conn.create_channel().await?;
    let mut seen = 0;
    while seen < limit {
        let Some(m) = ch
            .basic_get(topology::DEAD.into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        seen += 1;
        let d = &m.delivery;
        let headers = d.properties.headers().as_ref();
        let why = text(headers, "x-waybill-error")
            .or_else(|| death(headers))
            .unwrap_or_else(|| "no reason recorded".into());
        let body = String::from_utf8_lossy(&d.data);
        let shown: String = body.chars().take(300).collect();
        say!("routing key {}: {why}", d.routing_key);
        say!(
            "  {shown}{}",
            if body.len() > shown.len() { " …" } else { "" }
        );
        if replay {
            let content_type = d
                .properties
                .content_type()
                .as_ref()
                .map_or("application/json", |c| c.as_str())
                .to_owned();
            publisher
                .publish(&Message {
                    exchange: topology::INTAKE,
                    routing_key: d.routing_key.as_str(),
                    body: &d.data,
                    content_type: &content_type,
                    message_id: None,
                    headers: Vec::new(),
                })
                .await?;
            d.acker.ack(BasicAckOptions::default()).await?;
            say!("  → published to {} again", topology::INTAKE);
        }
    }
    say!(
        "{seen} dead letter(s){}",
        if replay {
            " published again"
        } else {
            " (left in place)"
        }
    );
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// `waybill dead-letters [--replay]`.
pub fn main(
    settings: &crate::settings::Settings,
    args: &crate::cli::DeadLettersArgs,
) -> anyhow::Result<()> {
    let url = settings
        .scale
        .amqp_url
        .clone()
        .ok_or_else(|| anyhow::anyhow!("waybill dead-letters needs WAYBILL_AMQP_URL"))?;
    super::runtime()?.block_on(run(
        &url,
        settings.scale.partitions,
        args.replay,
        args.limit,
    ))
}
