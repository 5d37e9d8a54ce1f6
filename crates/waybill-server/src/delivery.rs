//! Outbound webhooks: the engine that delivers domain events to subscriptions.
//!
//! One task follows the outbox. For each enabled subscription it enqueues a delivery
//! per wanted domain event (in one transaction with the subscription's cursor, so a
//! crash neither loses nor doubles one), then sends what is due. Each send is its own
//! task with a timeout, and a subscription has at most `per_endpoint` sends in flight,
//! so a dead or slow endpoint never delays the others. Messages are signed per the
//! Standard Webhooks spec; `webhook-id` is the outbox id, the same on every retry.
//! Failures are retried on a schedule of about three days (with jitter, and never
//! sooner than a `Retry-After` asks); `410 Gone` disables the subscription; redirects
//! are not followed; private and loopback destinations are refused unless allowed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use waybill_formats::clock;

use rand::Rng;
use waybill_core::Timestamp;
use waybill_providers::standard_webhooks;
use waybill_store::{
    Attempt, Channel, Delivery, HookOp, OutboxRecord, Store, Submission, Subscription,
};

use crate::mail;
use crate::outbound::Resolver;
use crate::streams::{DomainEventView, TypeFilter};

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Deliver to loopback and private addresses (`WAYBILL_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Sends in flight per subscription.
    pub per_endpoint: usize,
    /// The pause before each retry; after the last, the delivery fails for good.
    pub schedule: Vec<Duration>,
    /// How often due retries are looked for when nothing new happens.
    pub poll: Duration,
    /// Customer e-mail, when an SMTP server is configured.
    pub mail: Option<mail::MailSettings>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(60 * n);
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            per_endpoint: 4,
            // About three days in all.
            schedule: vec![
                Duration::from_secs(5),
                m(5),
                m(30),
                m(120),
                m(300),
                m(600),
                m(840),
                m(1200),
                m(1200),
            ],
            poll: Duration::from_secs(1),
            mail: None,
        }
    }
}

/// A webhook URL as it may be shown: credentials in it (`https://user:secret@host/`,
/// or a token as the user name) are sent with every delivery but never shown again
/// after creation.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
            }
            if !u.username().is_empty() {
                let _ = u.set_username("redacted");
            }
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The body every delivery carries: the domain event.
pub fn body(record: &OutboxRecord) -> String {
    serde_json::to_string(&DomainEventView::from_record(record)).unwrap_or_default()
}

/// What one HTTP attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
}

/// Posts one signed message.
pub async fn send(
    client: &reqwest::Client,
    resolver: &Resolver,
    url: &str,
    secrets: &[&str],
    message_id: &str,
    body: String,
    settings: &DeliverySettings,
) -> Sent {
    // A name is checked where the client resolves it (`outbound`); an address, here.
    if let Err(e) = resolver.screen(url) {
        return Sent {
            status: None,
            error: Some(e.to_string()),
            retry_after: None,
        };
    }
    let now = clock::now().as_micros() / 1_000_000;
    // One signature per secret, space-separated (during a rotation's overlap, two).
    let signature = secrets
        .iter()
        .map(|s| standard_webhooks::sign(s.as_bytes(), message_id, now, body.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ");
    let result = client
        .post(url)
        .timeout(settings.timeout)
        .header("content-type", "application/json")
        .header("user-agent", concat!("waybill/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", message_id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Sent {
                status: Some(status),
                error: (!(200..300).contains(&status)).then(|| format!("answered {status}")),
                retry_after,
            }
        }
        Err(e) => Sent {
            status: None,
            // Without the URL: it may hold credentials, and the error is shown.
            error: Some(if e.is_timeout() {
                "timed out".into()
            } else if let Some(refused) = refusal(&e) {
                // The resolver refused the name at connection time: say why.
                refused.to_string()
            } else {
                format!("could not deliver: {}", e.without_url())
            }),
            retry_after: None,
        },
    }
}

/// The outbound rule's refusal inside a client error, if that is what it was.
fn refusal(e: &reqwest::Error) -> Option<crate::outbound::Destination> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(d) = c.downcast_ref::<crate::outbound::Destination>() {
            return Some(d.clone());
        }
        cause = c.source();
    }
    None
}

/// What to record after an attempt. `attempts` counts the earlier ones.
pub fn judge(sent: &Sent, attempts: usize, settings: &DeliverySettings, now: Timestamp) -> Attempt {
    if let (Some(status @ 200..=299), None) = (sent.status, &sent.error) {
        return Attempt::Delivered { status, at: now };
    }
    let error = sent.error.clone().unwrap_or_default();
    if sent.status == Some(410) {
        return Attempt::GaveUp {
            status: sent.status,
            error: "410 Gone: the endpoint is disabled".into(),
            at: now,
        };
    }
    let Some(pause) = settings.schedule.get(attempts) else {
        return Attempt::GaveUp {
            status: sent.status,
            error,
            at: now,
        };
    };
    // ±20% so that many failed deliveries do not come back at once.
    let jitter = rand::rng().random_range(0.8..1.2);
    let mut wait = pause.mul_f64(jitter);
    if let Some(asked) = sent.retry_after {
        wait = wait.max(asked.min(Duration::from_secs(24 * 3600)));
    }
    Attempt::Retry {
        status: sent.status,
        error,
        next_at: Timestamp(now.as_micros() + wait.as_micros() as i64),
    }
}

/// The engine's handle: nothing to do with it but keep it, and its task runs.
#[derive(Clone)]
pub struct Dispatcher {
    pub settings: Arc<DeliverySettings>,
    /// What every outbound URL is checked with, and the client resolves through.
    pub resolver: Resolver,
    pub client: reqwest::Client,
}

impl Dispatcher {
    /// Starts delivering (see [`crate::engines`]). Must run inside a tokio runtime; the
    /// task ends when `stop` turns true, once the sends in flight have finished.
    pub fn start(
        store: &Store,
        settings: DeliverySettings,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let resolver = Resolver::system(settings.allow_private);
        let client = resolver.client(settings.timeout);
        let d = Self {
            settings: Arc::new(settings),
            resolver,
            client,
        };
        let task = tokio::spawn(run(store.clone(), d.clone(), stop));
        (d, task)
    }
}

/// A read's value, or `None` after logging why there is none (the next round retries).
fn logged<T>(read: Result<T, waybill_store::StoreError>) -> Option<T> {
    match read {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "delivery engine could not read the store");
            None
        }
    }
}

/// Which deliveries are being sent. A finished send is forgotten only at the start of
/// the next round, before `due` is read again: by then its result is committed, so a
/// `due` read that began before the result landed can never send it twice.
#[derive(Default)]
struct Flights {
    sending: HashSet<i64>,
    per_sub: HashMap<String, usize>,
    finished: Vec<(i64, String)>,
}

/// Creates the built-in e-mail channel when mail is configured (from now on: no old
/// news mailed), and removes it when not (so nothing piles up for later).
async fn email_channel(store: &Store, d: &Dispatcher) {
    let op = match &d.settings.mail {
        Some(_) => HookOp::Create(waybill_store::NewSubscription {
            id: mail::SUBSCRIPTION_ID.into(),
            channel: Channel::Email,
            url: mail::CHANNEL_URL.into(),
            event_types: "order.status_changed".into(),
            description: Some("customer e-mail".into()),
            secret: "-".into(),
            created_at: clock::now(),
        }),
        None => HookOp::Delete(mail::SUBSCRIPTION_ID.into()),
    };
    if let Err(e) = store.submit(Submission::Hook(op)).await {
        tracing::warn!(error = %e, "could not set up the e-mail channel");
    }
}

async fn run(store: Store, d: Dispatcher, mut stop: tokio::sync::watch::Receiver<bool>) {
    email_channel(&store, &d).await;
    // Sends in flight. A stop lets them finish; if it cannot wait that long, dropping
    // this set cuts them off, and an attempt cut off was never recorded: the delivery
    // is still due, and is sent again after a restart.
    let mut sends = tokio::task::JoinSet::new();
    let mut announced = store.announced();
    let flights: Arc<Mutex<Flights>> = Arc::default();
    // A finished send starts a new round at once: its slot is free.
    let wake = Arc::new(tokio::sync::Notify::new());
    // On PostgreSQL every API node runs an engine; one at a time sends.
    let mut lease: Option<waybill_store::pg::Lease> = None;
    loop {
        tokio::select! {
            changed = announced.changed() => if changed.is_err() { break },
            () = wake.notified() => {}
            () = tokio::time::sleep(d.settings.poll) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        while sends.try_join_next().is_some() {}
        if let Store::Postgres(p) = &store {
            let held = match &lease {
                Some(l) => l.held().await,
                None => false,
            };
            if !held {
                lease = p.lease("deliveries").await.ok().flatten();
                if lease.is_none() {
                    continue;
                }
            }
        }
        {
            let mut f = flights.lock().expect("not poisoned");
            for (id, sub) in std::mem::take(&mut f.finished) {
                f.sending.remove(&id);
                if let Some(n) = f.per_sub.get_mut(&sub) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        let Some(subs) = logged(store.subscriptions().await) else {
            continue;
        };
        let through = *announced.borrow_and_update();
        for sub in subs
            .iter()
            .filter(|s| s.disabled_at.is_none() && s.cursor < through)
        {
            enqueue(&store, sub).await;
        }
        let now = clock::now();
        // Twice the window per endpoint: its sends in flight are still due, and the rest
        // of the window is what it may take next.
        let per_sub = d.settings.per_endpoint * 2;
        let Some(due) = logged(store.due_deliveries(now, per_sub, 500).await) else {
            continue;
        };
        let subs: HashMap<String, Subscription> =
            subs.into_iter().map(|s| (s.id.clone(), s)).collect();
        for delivery in due {
            let Some(sub) = subs.get(&delivery.subscription_id).cloned() else {
                continue;
            };
            {
                let mut f = flights.lock().expect("not poisoned");
                let busy = f.per_sub.get(&sub.id).copied().unwrap_or(0);
                if busy >= d.settings.per_endpoint || f.sending.contains(&delivery.id) {
                    continue;
                }
                f.sending.insert(delivery.id);
                *f.per_sub.entry(sub.id.clone()).or_default() += 1;
            }
            let (store, d, flights, wake) =
                (store.clone(), d.clone(), flights.clone(), wake.clone());
            sends.spawn(async move {
                attempt(&store, &d, &sub, &delivery).await;
                flights
                    .lock()
                    .expect("not poisoned")
                    .finished
                    .push((delivery.id, sub.id));
                wake.notify_one();
            });
        }
    }
    while sends.join_next().await.is_some() {}
}

/// Records an attempt's result, retrying while the writer is busy: until it is recorded
/// the delivery stays in flight, so it is not sent again.
async fn record_attempt(store: &Store, subscription: &str, op: HookOp) {
    let mut pause = Duration::from_millis(20);
    for _ in 0..40 {
        match store.submit(Submission::Hook(op.clone())).await {
            Ok(_) => return,
            Err(waybill_store::StoreError::Busy) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                tracing::warn!(subscription, error = %e, "could not record a delivery attempt");
                return;
            }
        }
    }
    tracing::warn!(
        subscription,
        "the writer stayed busy: a delivery attempt went unrecorded"
    );
}

/// Enqueues a subscription's wanted domain events past its cursor, a page at a time.
async fn enqueue(store: &Store, sub: &Subscription) {
    let Ok(types) = TypeFilter::parse(&sub.event_types) else {
        return;
    };
    let after = sub.cursor;
    let Some(page) = logged(store.outbox_after(after, 1000).await) else {
        return;
    };
    let Some(last) = page.last().map(|r| r.id) else {
        return;
    };
    let email = sub.channel == Channel::Email;
    let outbox_ids = page
        .iter()
        .filter(|r| types.matches(r.kind) && (!email || mail::mailed_status(r).is_some()))
        .map(|r| r.id)
        .collect();
    let op = HookOp::Enqueue {
        subscription: sub.id.clone(),
        outbox_ids,
        cursor: last,
        at: clock::now(),
    };
    if let Err(e) = store.submit(Submission::Hook(op)).await {
        tracing::warn!(subscription = %sub.id, error = %e, "could not enqueue deliveries");
    }
}

async fn attempt(store: &Store, d: &Dispatcher, sub: &Subscription, delivery: &Delivery) {
    let id = delivery.outbox_id;
    let Some(Some(record)) = logged(store.outbox_record(id).await) else {
        return;
    };
    let now;
    let sent;
    let outcome = if sub.channel == Channel::Email {
        let Some(settings) = &d.settings.mail else {
            return;
        };
        let details = logged(store.order(&record.order_id).await)
            .flatten()
            .and_then(|o| o.details);
        let mailed = mail::send(settings, &record, details.as_deref()).await;
        now = clock::now();
        sent = Sent {
            status: None,
            error: None,
            retry_after: None,
        };
        match mailed {
            mail::Mailed::Sent => Attempt::Delivered {
                status: 250,
                at: now,
            },
            mail::Mailed::Skipped(reason) => Attempt::Skipped { reason, at: now },
            mail::Mailed::Failed(error) => judge(
                &Sent {
                    status: None,
                    error: Some(error),
                    retry_after: None,
                },
                delivery.attempts as usize,
                &d.settings,
                now,
            ),
        }
    } else {
        sent = send(
            &d.client,
            &d.resolver,
            &sub.url,
            &sub.signing_secrets(clock::now()),
            &format!("msg_{}", record.id),
            body(&record),
            &d.settings,
        )
        .await;
        now = clock::now();
        judge(&sent, delivery.attempts as usize, &d.settings, now)
    };
    crate::telemetry::delivery(match &outcome {
        Attempt::Delivered { .. } => "delivered",
        Attempt::Retry { .. } => "retry",
        Attempt::GaveUp { .. } => "failed",
        Attempt::Skipped { .. } => "skipped",
    });
    let mut ops = vec![HookOp::Attempted {
        delivery: delivery.id,
        attempt: outcome,
    }];
    if sent.status == Some(410) {
        ops.push(HookOp::Disable {
            subscription: sub.id.clone(),
            reason: "the endpoint answered 410 Gone".into(),
            at: now,
        });
    }
    for op in ops {
        record_attempt(store, &sub.id, op).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(status: Option<u16>, retry_after: Option<u64>) -> Sent {
        Sent {
            status,
            error: status
                .filter(|s| !(200..300).contains(s))
                .map(|s| format!("answered {s}"))
                .or(status.is_none().then(|| "refused".to_owned())),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn answers_decide_what_comes_next() {
        let s = DeliverySettings::default();
        let now = Timestamp(1_000_000_000);
        assert!(matches!(
            judge(&sent(Some(204), None), 0, &s, now),
            Attempt::Delivered { status: 204, .. }
        ));
        assert!(matches!(
            judge(&sent(Some(410), None), 0, &s, now),
            Attempt::GaveUp { .. }
        ));
        let Attempt::Retry { next_at, .. } = judge(&sent(Some(500), None), 0, &s, now) else {
            panic!()
        };
        let wait = next_at.as_micros() - now.as_micros();
        assert!((4_000_000..=6_000_000).contains(&wait), "{wait}");
        let Attempt::Retry { next_at, .. } = judge(&sent(Some(429), Some(600)), 0, &s, now) else {
            panic!()
        };
        assert!(
            next_at.as_micros() - now.as_micros() >= 600_000_000,
            "Retry-After respected"
        );
        assert!(matches!(
            judge(&sent(None, None), s.schedule.len(), &s, now),
            Attempt::GaveUp { .. }
        ));
        let total: Duration = s.schedule.iter().sum();
        assert!(total > Duration::from_secs(60 * 3600) && total < Duration::from_secs(80 * 3600));
    }

    #[test]
    fn passwords_in_webhook_urls_are_not_shown() {
        assert_eq!(
            redacted("https://hook:s3cret@example.com/in?x=1"),
            "https://redacted:redacted@example.com/in?x=1"
        );
        assert_eq!(
            redacted("https://tok_123@example.com/in"),
            "https://redacted@example.com/in"
        );
        assert_eq!(redacted("https://example.com/in"), "https://example.com/in");
    }
}
