//! Subscriptions (outbound webhooks to merchant systems), their deliveries, and the
//! operations on them, on either backend.

use waybill_core::Timestamp;
use waybill_core::change::ChangeKind;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// To be sent (again) at its next attempt time.
    Pending,
    Delivered,
    /// Given up after the last retry, or refused for good (410).
    Failed,
    /// Nothing to send (an e-mail for an order without an address).
    Skipped,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed, Self::Skipped]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// How a subscription's deliveries go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A signed POST to its URL.
    Webhook,
    /// The built-in customer e-mail: to the address in each order's details.
    Email,
}

impl Channel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(Self::Webhook),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub id: String,
    pub channel: Channel,
    /// Where a webhook goes; for e-mail, a label shown in the API.
    pub url: String,
    /// Comma-separated type patterns (`shipment.*`, `order.created`, `*`).
    pub event_types: String,
    pub description: Option<String>,
    pub secret: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub channel: Channel,
    pub url: String,
    pub event_types: String,
    pub description: Option<String>,
    pub secret: String,
    pub created_at: Timestamp,
    /// Domain events up to here have been considered (enqueued or not wanted).
    pub cursor: i64,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
    /// The secret a rotation replaced, still signing until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<Timestamp>,
}

impl Subscription {
    /// The secrets that sign a delivery made at `now`: the current one, and the one it
    /// replaced while their overlap lasts (Standard Webhooks sends one signature per
    /// secret, so a receiver holding either verifies it).
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_until)
            && now < until
        {
            secrets.push(old);
        }
        secrets
    }
}

/// What became of a delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: u16,
        at: Timestamp,
    },
    /// Try again at `next_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_at: Timestamp,
    },
    /// No more attempts (the schedule ran out, or the endpoint is gone).
    GaveUp {
        status: Option<u16>,
        error: String,
        at: Timestamp,
    },
    /// Nothing to send, for a reason (an order without a customer e-mail).
    Skipped {
        reason: String,
        at: Timestamp,
    },
}

/// A write to the subscriptions' tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOp {
    /// Starts after the outbox's current end: a new subscription gets what happens next.
    Create(NewSubscription),
    Delete(String),
    /// A new secret; with `previous_until`, the old one keeps signing until then.
    Rotate {
        id: String,
        secret: String,
        previous_until: Option<Timestamp>,
    },
    Enqueue {
        subscription: String,
        outbox_ids: Vec<i64>,
        cursor: i64,
        at: Timestamp,
    },
    Attempted {
        delivery: i64,
        attempt: Attempt,
    },
    Disable {
        subscription: String,
        reason: String,
        at: Timestamp,
    },
    /// Attempt again now: one delivery, or every delivery of events since a time.
    Redeliver {
        subscription: String,
        delivery: Option<i64>,
        since: Option<Timestamp>,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: String,
    pub outbox_id: i64,
    pub kind: ChangeKind,
    pub attempts: i64,
    pub state: DeliveryState,
    pub next_attempt_at: Timestamp,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}
