//! The exchanges and queues (docs/scaling.md), declared by every Waybill process that uses
//! them, so that whichever starts first finds them in place.
//!
//! - `waybill.intake`: a consistent-hash exchange. Producers publish with the routing
//!   key set to the `order_id`; the exchange hashes it onto one of the partition queues
//!   `waybill.intake.0` … `.N-1`, so one order's events always meet in one partition.
//! - Each partition is a quorum queue (replicated in a cluster, durable everywhere)
//!   with a single active consumer: one worker at a time applies a partition, in order;
//!   the others stand by and take over when it goes. A message redelivered more than
//!   the delivery limit (a worker that keeps dying on it) is dead-lettered, at least
//!   once, to `waybill.intake.dead`, where it is kept.
//! - `waybill.intake.dead`: a fanout exchange and a quorum queue of that name: messages
//!   no worker could apply, kept with the reason in their headers.
//! - `waybill.events`: a topic exchange of domain events, routing key = event type.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::BrokerError;

pub const INTAKE: &str = "waybill.intake";
pub const DEAD: &str = "waybill.intake.dead";
pub const EVENTS: &str = "waybill.events";

/// The shape of the intake.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Partition queues. Changing it moves where orders hash to: drain first.
    pub partitions: u16,
    /// Deliveries of one message before it is dead-lettered.
    pub delivery_limit: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            partitions: 8,
            delivery_limit: 20,
        }
    }
}

/// The name of partition `i`.
pub fn partition(i: u16) -> String {
    format!("{INTAKE}.{i}")
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// Whether the broker refused an exchange for its type (RabbitMQ closes the channel
/// with "unknown exchange type" when the type's plugin is not enabled).
pub fn is_unknown_exchange_type(e: &lapin::Error) -> bool {
    e.to_string().contains("unknown exchange type")
}

/// Declares everything (idempotent when the arguments agree).
pub async fn declare(ch: &Channel, t: &Topology) -> Result<(), BrokerError> {
    ch.exchange_declare(
        INTAKE.into(),
        ExchangeKind::Custom("x-consistent-hash".into()),
        durable_exchange(),
        FieldTable::default(),
    )
    .await
    .map_err(|e| match is_unknown_exchange_type(&e) {
        true => BrokerError::NoConsistentHash,
        false => BrokerError::Amqp(e),
    })?;
    ch.exchange_declare(
        DEAD.into(),
        ExchangeKind::Fanout,
        durable_exchange(),
        FieldTable::default(),
    )
    .await?;
    ch.exchange_declare(
        EVENTS.into(),
        ExchangeKind::Topic,
        durable_exchange(),
        FieldTable::default(),
    )
    .await?;
    let mut dead = FieldTable::default();
    dead.insert("x-queue-type".into(), text("quorum"));
    ch.queue_declare(DEAD.into(), durable_queue(), dead).await?;
    ch.queue_bind(
        DEAD.into(),
        DEAD.into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    for i in 0..t.partitions {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), text("quorum"));
        args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(t.delivery_limit.min(i32::MAX as u32) as i32),
        );
        args.insert("x-dead-letter-exchange".into(), text(DEAD));
        // At-least-once dead-lettering needs publishers to be refused, not messages
        // dropped, when a queue is full.
        args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
        args.insert("x-overflow".into(), text("reject-publish"));
        let name = partition(i);
        ch.queue_declare(name.as_str().into(), durable_queue(), args)
            .await?;
        // The binding key of a consistent-hash exchange is the queue's weight.
        ch.queue_bind(
            name.as_str().into(),
            INTAKE.into(),
            "1".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AsyncAPI document names what this code declares, with the same arguments.
    #[test]
    fn the_asyncapi_document_matches_the_topology() {
        let doc = include_str!("../../../docs/asyncapi.yaml");
        assert!(doc.starts_with("asyncapi: 3."), "an AsyncAPI 3 document");
        for (address, kind) in [(INTAKE, "x-consistent-hash"), (EVENTS, "topic")] {
            assert!(doc.contains(&format!("address: {address}\n")), "{address}");
            assert!(
                doc.contains(&format!("name: {address}\n          type: {kind}")),
                "{address} is a {kind} exchange"
            );
        }
        assert!(doc.contains(&format!("address: {DEAD}\n")));
        assert!(doc.contains(&format!("address: '{INTAKE}.{{partition}}'")));
        let t = Topology::default();
        for arg in [
            "`x-queue-type: quorum`".to_owned(),
            "`x-single-active-consumer: true`".to_owned(),
            format!("`x-delivery-limit: {}`", t.delivery_limit),
            format!("`x-dead-letter-exchange: {DEAD}`"),
            "`x-dead-letter-strategy: at-least-once`".to_owned(),
            "`x-overflow: reject-publish`".to_owned(),
        ] {
            assert!(doc.contains(&arg), "the document lists {arg}");
        }
        assert!(doc.contains(&format!(
            "`WAYBILL_PARTITIONS` quorum queues ({} by default)",
            t.partitions
        )));
    }
}
