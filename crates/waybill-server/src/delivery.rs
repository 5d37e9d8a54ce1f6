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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Destination {
    #[error("the URL is not valid: {0}")]
    Invalid(String),
    #[error("only http and https URLs can receive webhooks")]
    Scheme,
    #[error(
        "{0} is not a public address (loopback, private, link-local, reserved or special-purpose); set WAYBILL_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    )]
    Private(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Whether an address may not receive webhooks: everything that is not globally
/// routable. Deny by default — a list of private ranges always misses one (`0.0.0.1`,
/// benchmarking, NAT64 and 6to4 forms of loopback), so only what is known to be public
/// unicast passes.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !is_global_v4(v4),
        IpAddr::V6(v6) => !is_global_v6(v6),
    }
}

/// IPv4 special-purpose ranges (IANA's registry, RFC 6890 and successors) that are not
/// global unicast, as (network, prefix length).
const V4_SPECIAL: [(u32, u32); 15] = [
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10/8 private
    (0x6440_0000, 10), // 100.64/10 carrier-grade NAT
    (0x7f00_0000, 8),  // 127/8 loopback
    (0xa9fe_0000, 16), // 169.254/16 link local (cloud metadata)
    (0xac10_0000, 12), // 172.16/12 private
    (0xc000_0000, 24), // 192.0.0/24 protocol assignments
    (0xc000_0200, 24), // 192.0.2/24 documentation
    (0xc058_6300, 24), // 192.88.99/24 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168/16 private
    (0xc612_0000, 15), // 198.18/15 benchmarking
    (0xc633_6400, 24), // 198.51.100/24 documentation
    (0xcb00_7100, 24), // 203.0.113/24 documentation
    (0xe000_0000, 4),  // 224/4 multicast
    (0xf000_0000, 4),  // 240/4 reserved, and the broadcast address
];

fn is_global_v4(v4: Ipv4Addr) -> bool {
    let bits = u32::from(v4);
    !V4_SPECIAL
        .iter()
        .any(|&(net, len)| bits >> (32 - len) == net >> (32 - len))
}

fn is_global_v6(v6: Ipv6Addr) -> bool {
    let seg = v6.segments();
    let low_v4 = Ipv4Addr::from(u128::from(v6) as u32);
    // The deprecated IPv4-compatible form (::a.b.c.d, which holds :: and ::1) is never
    // a real destination; the forms that carry an IPv4 address are judged by it:
    // mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16, the address in
    // bits 16..48).
    if seg[..6] == [0; 6] {
        return false;
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0xffff] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(low_v4);
    }
    if seg[0] == 0x2002 {
        return is_global_v4(Ipv4Addr::from(
            (u32::from(seg[1]) << 16) | u32::from(seg[2]),
        ));
    }
    // Only global unicast (2000::/3) is routable; inside it, the ranges IANA marks as
    // not global: protocol assignments (2001::/23, which holds Teredo and ORCHID) and
    // documentation (2001:db8::/32, 3fff::/20).
    let refused = match (seg[0], seg[1]) {
        (0x2001, s1) => s1 < 0x0200 || s1 == 0x0db8,
        (0x3fff, s1) => s1 < 0x1000,
        _ => false,
    };
    (seg[0] & 0xe000) == 0x2000 && !refused
}

/// Checks a webhook URL: its scheme, and (unless allowed) that every address it
/// resolves to is public.
pub async fn check_destination(url: &str, allow_private: bool) -> Result<url::Url, Destination> {
    let parsed = url::Url::parse(url).map_err(|e| Destination::Invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Destination::Scheme);
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| Destination::Invalid("no host".into()))?
        .trim_matches(['[', ']'])
        .to_owned();
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Destination::Unresolved(host.clone()))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Destination::Unresolved(host));
    }
    if let Some(ip) = addrs.into_iter().find(|ip| is_private(*ip)) {
        return Err(Destination::Private(ip.to_string()));
    }
    Ok(parsed)
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
    url: &str,
    secret: &str,
    message_id: &str,
    body: String,
    settings: &DeliverySettings,
) -> Sent {
    if let Err(e) = check_destination(url, settings.allow_private).await {
        return Sent {
            status: None,
            error: Some(e.to_string()),
            retry_after: None,
        };
    }
    let now = clock::now().as_micros() / 1_000_000;
    let signature = standard_webhooks::sign(secret.as_bytes(), message_id, now, body.as_bytes());
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
            } else {
                format!("could not deliver: {}", e.without_url())
            }),
            retry_after: None,
        },
    }
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
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .build()
            .expect("a TLS backend is compiled in");
        let d = Self {
            settings: Arc::new(settings),
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
            &sub.url,
            &sub.secret,
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
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    /// What the probe got through the old list of private ranges: reserved and
    /// special-purpose space, and IPv6 forms that embed a private IPv4 address.
    #[test]
    fn everything_not_globally_routable_is_refused() {
        for ip in [
            "0.0.0.1",
            "0.1.2.3",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "169.254.169.254",
            "::127.0.0.1",
            "::",
            "::ffff:169.254.169.254",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "ff02::1",
            "ff05::2",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "3fff:fff::1",
            "fc00::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip} should be refused");
        }
        // Public addresses, including the embedded forms of a public IPv4 address.
        for ip in [
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "223.255.255.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "3fff:1000::1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip} should pass");
        }
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

    #[tokio::test]
    async fn destinations_are_checked() {
        assert_eq!(
            check_destination("ftp://x.example/", false).await,
            Err(Destination::Scheme)
        );
        assert!(matches!(
            check_destination("not a url", false).await,
            Err(Destination::Invalid(_))
        ));
        assert!(matches!(
            check_destination("http://127.0.0.1:8080/hook", false).await,
            Err(Destination::Private(_))
        ));
        assert!(matches!(
            check_destination("http://[::1]/hook", false).await,
            Err(Destination::Private(_))
        ));
        assert!(
            check_destination("http://127.0.0.1:8080/hook", true)
                .await
                .is_ok()
        );
    }
}
