//! Waybill on RabbitMQ: the broker interface of docs/scaling.md.
//!
//! - [`topology`]: the exchanges and queues Waybill declares for itself.
//! - [`publish`]: a channel with publisher confirms, for everything Waybill publishes.
//! - [`worker`]: consumes the intake partitions and applies what arrives, acknowledging
//!   each message only after the store committed it; [`acks`]: those acknowledgements,
//!   one frame per batch.
//! - [`relay`]: copies the outbox's domain events to `waybill.events`.
//!
//! This crate moves bytes and decides when to acknowledge; it does not read events
//! (the caller hands the worker a decoder) or write rows (it goes through the store).

pub mod acks;
pub mod publish;
pub mod relay;
pub mod topology;
pub mod worker;

pub use publish::Publisher;
pub use topology::Topology;

/// Why talking to the broker failed. Each ends the session; the caller's loop
/// reconnects, except after a [fatal](BrokerError::is_fatal) one, which no reconnect
/// mends.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused a message (nack)")]
    Refused,
    #[error("{0}")]
    Closed(String),
    /// The broker has no consistent-hash exchange type: the intake cannot be declared.
    #[error(
        "RabbitMQ has no x-consistent-hash exchange type, which Waybill's intake needs: \
         enable it with `rabbitmq-plugins enable rabbitmq_consistent_hash_exchange`"
    )]
    NoConsistentHash,
}

impl BrokerError {
    /// Whether trying again can help: a missing plugin stays missing.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::NoConsistentHash)
    }
}

/// Connects with Waybill's name on the connection (it shows in the management UI).
pub async fn connect(url: &str, name: &str) -> Result<lapin::Connection, BrokerError> {
    let props = lapin::ConnectionProperties::default().with_connection_name(name.into());
    Ok(lapin::Connection::connect(url, props).await?)
}

/// Waits `backoff`, doubling it up to a ceiling: the pause between reconnects.
pub(crate) async fn pause(backoff: &mut std::time::Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(std::time::Duration::from_secs(5));
}
