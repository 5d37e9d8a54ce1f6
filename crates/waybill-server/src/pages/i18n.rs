//! The tracking page's words, in Chinese and English.

use waybill_core::{EventKind, OrderStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// `?lang=` first, then the first of `Accept-Language` we speak; Chinese otherwise.
    pub fn choose(query: Option<&str>, accept_language: Option<&str>) -> Self {
        let pick = |s: &str| {
            let s = s.trim().to_ascii_lowercase();
            if s.starts_with("zh") {
                Some(Self::Zh)
            } else if s.starts_with("en") {
                Some(Self::En)
            } else {
                None
            }
        };
        query
            .and_then(pick)
            .or_else(|| {
                accept_language.and_then(|a| {
                    a.split(',')
                        .find_map(|t| pick(t.split(';').next().unwrap_or("")))
                })
            })
            .unwrap_or(Self::Zh)
    }

    /// The words for an order status (a shipment's are its order status's: see
    /// [`Lang::event`]).
    pub fn status(self, status: OrderStatus) -> &'static str {
        use OrderStatus as S;
        match (self, status) {
            (Self::Zh, S::Created) => "已下单",
            (Self::Zh, S::Shipped) => "已发货",
            (Self::Zh, S::PickedUp) => "已揽收",
            (Self::Zh, S::InTransit) => "运输中",
            (Self::Zh, S::OutForDelivery) => "派送中",
            (Self::Zh, S::AvailableForPickup) => "待取件",
            (Self::Zh, S::FailedAttempt) => "投递失败",
            (Self::Zh, S::PartiallyDelivered) => "部分签收",
            (Self::Zh, S::Delivered) => "已签收",
            (Self::Zh, S::Exception) => "异常",
            (Self::Zh, S::Returning) => "退回中",
            (Self::Zh, S::Returned) => "已退回",
            (Self::Zh, S::Cancelled) => "已取消",
            (Self::En, S::Created) => "Order placed",
            (Self::En, S::Shipped) => "Shipped",
            (Self::En, S::PickedUp) => "Picked up",
            (Self::En, S::InTransit) => "In transit",
            (Self::En, S::OutForDelivery) => "Out for delivery",
            (Self::En, S::AvailableForPickup) => "Ready for pickup",
            (Self::En, S::FailedAttempt) => "Delivery attempt failed",
            (Self::En, S::PartiallyDelivered) => "Partly delivered",
            (Self::En, S::Delivered) => "Delivered",
            (Self::En, S::Exception) => "Problem in transit",
            (Self::En, S::Returning) => "Returning to sender",
            (Self::En, S::Returned) => "Returned to sender",
            (Self::En, S::Cancelled) => "Cancelled",
        }
    }

    /// What the customer should know when something went wrong.
    pub fn explain(self, status: OrderStatus) -> Option<&'static str> {
        use OrderStatus as S;
        Some(match (self, status) {
            (Self::Zh, S::Exception) => {
                "包裹在运输中遇到问题（如地址不详、海关查验或破损）。商家已收到通知并在跟进处理。"
            }
            (Self::Zh, S::FailedAttempt) => {
                "快递员尝试派送未成功，通常会再次派送，请留意电话或短信。"
            }
            (Self::Zh, S::Returning) => "包裹正在退回寄件人。如有疑问请联系商家。",
            (Self::Zh, S::Returned) => "包裹已退回寄件人。请联系商家了解后续安排。",
            (Self::Zh, S::Cancelled) => "该运单已取消。",
            (Self::Zh, S::AvailableForPickup) => "包裹已到达自提点或快递柜，请及时取件。",
            (Self::En, S::Exception) => {
                "Your parcel ran into a problem on its way (an unclear address, a customs check or damage). The shop has been told and is looking into it."
            }
            (Self::En, S::FailedAttempt) => {
                "The courier tried to deliver and could not; they usually try again, so keep an eye on your phone."
            }
            (Self::En, S::Returning) => {
                "Your parcel is on its way back to the sender. Contact the shop if you have questions."
            }
            (Self::En, S::Returned) => {
                "Your parcel is back with the sender. Contact the shop about what happens next."
            }
            (Self::En, S::Cancelled) => "This shipment was cancelled.",
            (Self::En, S::AvailableForPickup) => {
                "Your parcel is waiting at a pickup point or locker."
            }
            _ => return None,
        })
    }

    /// The words for a timeline entry: its status's, or a plain "update" for what has
    /// none (an unmapped carrier code, a record).
    pub fn event(self, kind: EventKind) -> &'static str {
        match (self, kind) {
            (_, EventKind::Status(s)) => self.status(OrderStatus::of_shipment(s)),
            (_, EventKind::OrderCreated) => self.status(OrderStatus::Created),
            (Self::Zh, _) => "物流更新",
            (Self::En, _) => "Update",
        }
    }

    pub fn word(self, key: &str) -> &'static str {
        match (self, key) {
            (Self::Zh, "title") => "物流跟踪",
            (Self::Zh, "order") => "订单",
            (Self::Zh, "parcel") => "包裹",
            (Self::Zh, "last_location") => "最新位置",
            (Self::Zh, "no_events") => "暂无物流信息",
            (Self::Zh, "invalid") => "此跟踪链接无效或已过期。请向商家索取新的链接。",
            (Self::Zh, "not_found") => "找不到该订单。",
            (Self::Zh, "lookup") => "查询订单",
            (Self::Zh, "eta") => "预计送达",
            (Self::Zh, "order_number") => "订单号",
            (Self::Zh, "contact") => "下单时的邮箱或手机号",
            (Self::Zh, "find") => "查询",
            (Self::Zh, "no_match") => "没有找到与该订单号和联系方式相符的订单。",
            (Self::En, "title") => "Track your order",
            (Self::En, "order") => "Order",
            (Self::En, "parcel") => "Parcel",
            (Self::En, "last_location") => "Last seen",
            (Self::En, "no_events") => "No tracking updates yet",
            (Self::En, "invalid") => {
                "This tracking link is not valid or has expired. Ask the shop for a new one."
            }
            (Self::En, "not_found") => "There is no such order.",
            (Self::En, "lookup") => "Find your order",
            (Self::En, "eta") => "Estimated delivery",
            (Self::En, "order_number") => "Order number",
            (Self::En, "contact") => "E-mail or phone number used for the order",
            (Self::En, "find") => "Find",
            (Self::En, "no_match") => "No order matches that number and contact.",
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_switch_then_the_browser() {
        assert_eq!(Lang::choose(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(
            Lang::choose(None, Some("fr-FR,en;q=0.8,zh;q=0.5")),
            Lang::En
        );
        assert_eq!(Lang::choose(None, Some("zh-TW")), Lang::Zh);
        assert_eq!(Lang::choose(None, None), Lang::Zh);
        assert_eq!(Lang::choose(Some("xx"), Some("en-US")), Lang::En);
    }

    #[test]
    fn every_status_has_words_in_both_languages() {
        for s in waybill_core::ShipmentStatus::ALL {
            let kind = EventKind::Status(s);
            assert_ne!(Lang::Zh.event(kind), "物流更新", "{s:?}");
            assert_ne!(Lang::En.event(kind), "Update", "{s:?}");
        }
        assert_eq!(Lang::En.event(EventKind::Unmapped), "Update");
        assert_eq!(Lang::Zh.event(EventKind::OrderCreated), "已下单");
    }
}
