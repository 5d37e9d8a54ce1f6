//! Customer e-mail: a message to the order's customer when the order ships, goes out
//! for delivery, is delivered, or runs into an exception.
//!
//! It is a built-in subscription (`sub_email`, to `order.status_changed`) sent by the
//! same delivery engine as webhooks: enqueued from the outbox in one transaction with
//! its cursor, retried on the same schedule. So a crash loses no e-mail; one that lands
//! between the SMTP server's acceptance and our record of it sends it again with the
//! same `Message-ID` (`<msg_<event id>@waybill>`), which mail clients treat as one.
//! Opt-in: only when an SMTP server is configured.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use waybill_core::OrderStatus;
use waybill_core::change::{ChangeKind, Status};
use waybill_store::OutboxRecord;

/// The id of the built-in e-mail subscription (its channel is `Channel::Email`), and
/// the label the API shows where a webhook has its URL.
pub const SUBSCRIPTION_ID: &str = "sub_email";
pub const CHANNEL_URL: &str = "email:customer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Zh,
    En,
}

impl Locale {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Self::Zh)
        } else if s.starts_with("en") {
            Some(Self::En)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://host:port` (plain), `smtp://…?tls=required` (STARTTLS) or `smtps://…`
    /// (TLS), with `user:password@` if the server wants it.
    pub smtp_url: String,
    pub from: String,
    /// For customers whose order says nothing (`metadata.locale` or `customer.locale`).
    pub default_locale: Locale,
    /// The signed tracking links, as in `tracking_url`.
    pub links: crate::pages::Links,
}

/// Which order statuses a customer hears about.
pub fn notifies(status: OrderStatus) -> bool {
    use OrderStatus as S;
    matches!(
        status,
        S::Shipped | S::OutForDelivery | S::Delivered | S::Exception
    )
}

/// The order status a domain event tells the customer of, if it is one they hear about.
pub fn mailed_status(record: &OutboxRecord) -> Option<OrderStatus> {
    match (record.kind, record.status) {
        (ChangeKind::OrderStatusChanged, Status::Order(s)) if notifies(s) => Some(s),
        _ => None,
    }
}

/// Subject and body for `status` in `locale`.
pub fn render(
    locale: Locale,
    status: OrderStatus,
    order_id: &str,
    link: &str,
) -> Option<(String, String)> {
    use OrderStatus as S;
    let (subject, line) = match (locale, status) {
        (Locale::Zh, S::Shipped) => (
            format!("您的订单 {order_id} 已发货"),
            "您的订单已发货，包裹正等待快递揽收。",
        ),
        (Locale::Zh, S::OutForDelivery) => (
            format!("您的订单 {order_id} 正在派送"),
            "快递员正在为您派送包裹，请保持电话畅通。",
        ),
        (Locale::Zh, S::Delivered) => (
            format!("您的订单 {order_id} 已签收"),
            "您的包裹已签收。感谢您的购买！",
        ),
        (Locale::Zh, S::Exception) => (
            format!("您的订单 {order_id} 物流异常"),
            "您的包裹在运输中遇到问题，我们正在跟进处理。",
        ),
        (Locale::En, S::Shipped) => (
            format!("Your order {order_id} has shipped"),
            "Your order has shipped; the carrier will pick the parcel up shortly.",
        ),
        (Locale::En, S::OutForDelivery) => (
            format!("Your order {order_id} is out for delivery"),
            "The courier is on the way with your parcel.",
        ),
        (Locale::En, S::Delivered) => (
            format!("Your order {order_id} has been delivered"),
            "Your parcel has been delivered. Thank you for your order!",
        ),
        (Locale::En, S::Exception) => (
            format!("A problem with the delivery of your order {order_id}"),
            "Your parcel ran into a problem on its way; we are looking into it.",
        ),
        _ => return None,
    };
    let track = match locale {
        Locale::Zh => "查看物流",
        Locale::En => "Track your parcel",
    };
    Some((subject, format!("{line}\n\n{track}: {link}\n")))
}

/// The customer's address and language, from the order's details.
pub fn recipient(details: Option<&str>, default: Locale) -> (Option<String>, Locale) {
    // Typed, not a `Value`: the rest of the metadata is skipped unread, so a number
    // no f64 holds there (which a `Value` refuses) cannot cost the customer the mail.
    #[derive(serde::Deserialize, Default)]
    struct Part {
        email: Option<Box<serde_json::value::RawValue>>,
        locale: Option<Box<serde_json::value::RawValue>>,
    }
    let text = |raw: Option<Box<serde_json::value::RawValue>>| {
        raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok())
    };
    #[derive(serde::Deserialize, Default)]
    struct Details {
        #[serde(default)]
        customer: Option<Part>,
        #[serde(default)]
        metadata: Option<Part>,
    }
    let d: Details = details
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let (customer, metadata) = (
        d.customer.unwrap_or_default(),
        d.metadata.unwrap_or_default(),
    );
    let email = text(customer.email);
    let locale = [metadata.locale, customer.locale]
        .into_iter()
        .find_map(|l| Locale::parse(&text(l)?))
        .unwrap_or(default);
    (email, locale)
}

/// What a send came to.
pub enum Mailed {
    Sent,
    Skipped(String),
    Failed(String),
}

/// Sends the e-mail for one domain event, if it calls for one.
pub async fn send(
    settings: &MailSettings,
    record: &OutboxRecord,
    order_details: Option<&str>,
) -> Mailed {
    let Some(status) = mailed_status(record) else {
        return Mailed::Skipped(format!("{} {} is not mailed", record.kind, record.status));
    };
    let (Some(to), locale) = recipient(order_details, settings.default_locale) else {
        return Mailed::Skipped("the order has no customer e-mail".into());
    };
    let link = settings
        .links
        .url(&record.order_id, waybill_formats::clock::now());
    let Some((subject, body)) = render(locale, status, &record.order_id, &link) else {
        return Mailed::Skipped(format!("no template for {}", record.status));
    };
    let (Ok(from), Ok(to)) = (settings.from.parse::<Mailbox>(), to.parse::<Mailbox>()) else {
        return Mailed::Skipped(format!("{to:?} is not an e-mail address"));
    };
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<msg_{}@waybill>", record.id)))
        .header(ContentType::TEXT_PLAIN)
        .body(body);
    let message = match message {
        Ok(m) => m,
        Err(e) => return Mailed::Skipped(format!("could not build the message: {e}")),
    };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url) {
        Ok(t) => t.build(),
        Err(e) => return Mailed::Failed(format!("SMTP URL: {e}")),
    };
    match transport.send(message).await {
        Ok(_) => Mailed::Sent,
        Err(e) => Mailed::Failed(format!("SMTP: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_exist_for_every_mailed_status_in_both_languages() {
        for status in OrderStatus::ALL.into_iter().filter(|s| notifies(*s)) {
            for locale in [Locale::Zh, Locale::En] {
                let (subject, body) = render(locale, status, "A1", "https://x/track/A1").unwrap();
                assert!(subject.contains("A1"));
                assert!(body.contains("https://x/track/A1"));
            }
        }
        assert_eq!(
            OrderStatus::ALL
                .into_iter()
                .filter(|s| notifies(*s))
                .count(),
            4
        );
        assert!(render(Locale::En, OrderStatus::PickedUp, "A1", "l").is_none());
        assert!(
            render(Locale::Zh, OrderStatus::Delivered, "A1", "l")
                .unwrap()
                .0
                .contains("已签收")
        );
    }

    #[test]
    fn the_order_says_who_and_in_which_language() {
        let d = r#"{"customer":{"email":"li@example.com"},"metadata":{"locale":"en-GB"}}"#;
        assert_eq!(
            recipient(Some(d), Locale::Zh),
            (Some("li@example.com".into()), Locale::En)
        );
        assert_eq!(recipient(None, Locale::Zh), (None, Locale::Zh));
        let d = r#"{"customer":{"email":"a@b.c","locale":"zh-CN"}}"#;
        assert_eq!(recipient(Some(d), Locale::En).1, Locale::Zh);
        // A number no f64 holds elsewhere in the metadata costs nothing.
        let d = r#"{"customer":{"email":"a@b.cn"},"metadata":{"locale":"en","w":1e400}}"#;
        assert_eq!(
            recipient(Some(d), Locale::Zh),
            (Some("a@b.cn".into()), Locale::En)
        );
    }
}
