//! Publishing with confirms. `confirm_select` comes first: without it the broker never
//! says whether it took a message, and a "sent" message may be lost.

use lapin::PublisherConfirm;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};

use crate::BrokerError;

/// A message to publish.
pub struct Message<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub content_type: &'a str,
    pub message_id: Option<&'a str>,
    /// Extra headers (text values).
    pub headers: Vec<(&'a str, String)>,
}

/// A channel in confirm mode.
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    pub async fn open(conn: &Connection) -> Result<Self, BrokerError> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self { channel })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Sends a persistent message; the returned confirm says whether the broker took
    /// it. Await many at once to keep the channel busy.
    pub async fn send(&self, m: &Message<'_>) -> Result<PublisherConfirm, BrokerError> {
        let routing_key = lapin::types::ShortString::try_new(m.routing_key)
            .map_err(|e| BrokerError::Closed(format!("routing key: {e}")))?;
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(m.content_type.into());
        if let Some(id) = m.message_id {
            props = props.with_message_id(id.into());
        }
        if !m.headers.is_empty() {
            let mut h = FieldTable::default();
            for (k, v) in &m.headers {
                h.insert((*k).into(), AMQPValue::LongString(v.as_str().into()));
            }
            props = props.with_headers(h);
        }
        Ok(self
            .channel
            .basic_publish(
                m.exchange.into(),
                routing_key,
                BasicPublishOptions::default(),
                m.body,
                props,
            )
            .await?)
    }

    /// Sends every message, in order, without waiting for each to be written before
    /// queueing the next: one wake of the connection's I/O thread for many messages
    /// instead of a round trip between threads per message. Returns their confirms,
    /// in the same order.
    pub async fn send_all(
        &self,
        messages: &[Message<'_>],
    ) -> Result<Vec<PublisherConfirm>, BrokerError> {
        let mut sends: Vec<_> = messages.iter().map(|m| Box::pin(self.send(m))).collect();
        let mut done: Vec<Option<Result<PublisherConfirm, BrokerError>>> =
            messages.iter().map(|_| None).collect();
        // Every pass polls in index order, so each send is first polled — which is when
        // it queues its frames — after the one before it: the broker gets them in order.
        std::future::poll_fn(|cx| {
            let mut waiting = false;
            for (send, out) in sends.iter_mut().zip(done.iter_mut()) {
                if out.is_none() {
                    match send.as_mut().poll(cx) {
                        std::task::Poll::Ready(r) => *out = Some(r),
                        std::task::Poll::Pending => waiting = true,
                    }
                }
            }
            if waiting {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        // The pass above ends only once every send has its answer.
        done.into_iter().flatten().collect()
    }

    /// Sends and waits for the broker's answer.
    pub async fn publish(&self, m: &Message<'_>) -> Result<(), BrokerError> {
        confirmed(self.send(m).await?).await
    }
}

/// Waits for one confirm: only an ack means the broker has the message.
pub async fn confirmed(c: PublisherConfirm) -> Result<(), BrokerError> {
    if c.await?.is_ack() {
        Ok(())
    } else {
        Err(BrokerError::Refused)
    }
}
