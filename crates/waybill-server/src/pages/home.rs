//! `/`: what a newcomer meets first in a browser. What this service is, and the ways in:
//! the dashboard, the customers' lookup form, the API's document, health and metrics.

use maud::{Markup, html};

use super::i18n::Lang;
use super::track;

/// The page, in `lang`, with a switch to the other language.
pub fn page(lang: Lang) -> Markup {
    let zh = lang == Lang::Zh;
    let links: [(&str, &str, &str); 5] = if zh {
        [
            (
                "/dashboard",
                "运营看板",
                "订单、异常与停滞的包裹（用 admin 或 read 密钥登录）",
            ),
            (
                "/track",
                "查询订单",
                "顾客用订单号和下单邮箱或手机号查询物流",
            ),
            (
                "/openapi.json",
                "OpenAPI 文档",
                "全部 /v1 接口（需 Bearer 密钥）",
            ),
            (
                "/readyz",
                "就绪检查",
                "/livez 表示进程存活，/readyz 表示可以接收写入",
            ),
            ("/metrics", "指标", "Prometheus 格式"),
        ]
    } else {
        [
            (
                "/dashboard",
                "Dashboard",
                "orders, exceptions and stalled parcels (sign in with an admin or read key)",
            ),
            (
                "/track",
                "Find an order",
                "customers look up an order by its number and their e-mail or phone",
            ),
            (
                "/openapi.json",
                "OpenAPI document",
                "every /v1 operation (Bearer key)",
            ),
            (
                "/readyz",
                "Readiness",
                "/livez says the process is up, /readyz that it takes writes",
            ),
            ("/metrics", "Metrics", "Prometheus text format"),
        ]
    };
    let about = if zh {
        "Waybill 是自托管的电商订单跟踪与物流事件处理引擎：接收承运商和聚合平台推送的事件，去重、排序、运行每个包裹的状态机，保存每一条事件，毫秒级回答“我的订单到哪了？”，并实时通知顾客和商家系统。"
    } else {
        "Waybill is a self-hosted engine for e-commerce order tracking: it takes carriers' and aggregators' events, deduplicates and orders them, runs each parcel's state machine, keeps every event, answers \"where is my order?\" in milliseconds, and tells customers and merchant systems the moment something changes."
    };
    let body = html! {
        h1 { "Waybill" }
        p { (about) }
        ul.home {
            @for (href, label, what) in links {
                li { a href=(href) { (label) } " — " (what) }
            }
        }
    };
    track::page(
        "Waybill",
        lang,
        body,
        None,
        &[
            ("中文", "/?lang=zh".to_owned()),
            ("English", "/?lang=en".to_owned()),
        ],
    )
}
