//! KDNiao (快递鸟) tracking push (推送, `RequestType` 101).
//!
//! KDNiao posts `application/x-www-form-urlencoded` with `RequestData` (the push as JSON
//! text), `DataSign`, `RequestType` and usually `EBusinessID`. `DataSign` is
//! base64 of the lowercase hex MD5 of `RequestData` followed by the AppKey (our secret),
//! then URL-encoded as any form value. The signed text is the JSON itself, before URL
//! encoding. Some senders URL-encode `RequestData` once more before form encoding; a
//! value that still starts with `%` after form decoding is decoded again, and that JSON
//! is what is signed and read. There is no timestamp, so no replay window: a replayed
//! push is a re-pushed history, and its checkpoints are duplicates by id.
//!
//! `RequestData.Data[]` holds one or more parcels; each parcel's `Traces[]` is its whole
//! history, oldest first. Each trace's code is its own `Action`. A trace without one
//! has no code of its own: the newest trace of the parcel gets the parcel's `StateEx`
//! (else `State`), what KDNiao says about the parcel now; older ones stay `unmapped`,
//! since the parcel's current state says nothing about them. That fallback code goes
//! into `details.parcel_state`, not `raw_status`: `raw_status` is part of the event id,
//! and the newest trace of one push is an older one in the next, which must still be
//! the same event.
//!
//! The payload is walked as a `serde_json::Value` rather than derived into structs, so
//! that a field of the wrong type is reported with its full path
//! (`RequestData.Data[1].Traces[3].AcceptTime`), and so that codes sent as numbers or as
//! strings read alike. Unknown fields are ignored, nulls and empty strings are absent.

use base64::Engine as _;
use serde_json::{Map, Value};
use waybill_core::{Carrier, OrderId, ShipmentStatus as S, TrackingNumber};

use crate::carriers::{self, CarrierCode};
use crate::checkpoint::{Checkpoint, clip};
use crate::codes::{self, Code, Mapped, code, no_status};
use crate::form::{Form, Twice};
use crate::json::{self, Text};
use crate::{
    AuthError, Context, Inbound, Outcome, ParseError, Provider, ProviderTime, Push, Reply, sign,
};

/// KDNiao's logistics states: `State`, and the finer `StateEx` / trace `Action` codes.
#[rustfmt::skip]
pub const TABLE: &[Code] = &[
    no_status("0",                     "暂无轨迹信息 — no tracking information yet"),
    code("10",  S::InfoReceived,       "待揽件 — waiting to be collected"),
    code("1",   S::PickedUp,           "已揽收 — collected by the carrier"),
    code("2",   S::InTransit,          "在途中 — in transit"),
    code("201", S::InTransit,          "到达派件城市 — arrived in the destination city"),
    code("204", S::InTransit,          "到达转运中心 — arrived at a transit hub"),
    code("205", S::InTransit,          "到达派件网点 — arrived at the delivering branch"),
    code("206", S::InTransit,          "寄件网点发件 — sent out by the origin branch"),
    code("202", S::OutForDelivery,     "派件中 — out for delivery"),
    code("211", S::AvailableForPickup, "已放入快递柜或驿站 — left in a parcel locker or pickup station"),
    code("3",   S::Delivered,          "已签收 — delivered"),
    code("301", S::Delivered,          "正常签收 — signed for"),
    code("302", S::Delivered,          "派件异常后最终签收 — delivered after an earlier delivery problem"),
    code("304", S::Delivered,          "代收签收 — signed for by a third party on the addressee's behalf"),
    code("311", S::Delivered,          "快递柜或驿站签收 — collected from a locker or pickup station"),
    code("4",   S::Exception,          "问题件 — problem shipment"),
    code("401", S::Exception,          "发货无信息 — shipped, but the carrier has no information"),
    code("402", S::Exception,          "超时未签收 — not signed for in time"),
    code("403", S::Exception,          "超时未更新 — no update for a long time"),
    code("404", S::Returning,          "拒收(退件) — refused, being returned"),
    code("405", S::FailedAttempt,      "派件异常 — the delivery attempt failed"),
    code("406", S::Returned,           "退货签收 — the return was signed for"),
    code("407", S::Returning,          "退货未签收 — being returned, not yet signed for"),
    code("412", S::Exception,          "快递柜或驿站超时未取 — not collected from the locker or station in time"),
    code("413", S::Exception,          "单号已拦截 — intercepted"),
    code("414", S::Exception,          "破损 — damaged"),
    code("415", S::Cancelled,          "客户取消发货 — the shipper cancelled the shipment"),
    code("416", S::FailedAttempt,      "无法联系 — the addressee could not be reached"),
    code("417", S::Exception,          "配送延迟 — delivery delayed"),
    no_status("418",                   "快件取出 — taken out of a locker or station, by whom is not said"),
    code("419", S::OutForDelivery,     "重新派送 — out for delivery again"),
    code("420", S::Exception,          "收货地址不详细 — incomplete delivery address"),
    code("421", S::Exception,          "收件人电话错误 — wrong addressee phone number"),
    code("422", S::Exception,          "错分件 — missorted"),
    code("423", S::Exception,          "超区件 — outside the carrier's service area"),
    code("5",   S::InTransit,          "转寄 — forwarded"),
    code("6",   S::InTransit,          "清关 — customs clearance"),
    code("601", S::InTransit,          "待清关 — waiting for customs clearance"),
    code("602", S::InTransit,          "清关中 — customs clearance in progress"),
    code("603", S::InTransit,          "已清关 — cleared customs"),
    code("604", S::Exception,          "清关异常 — customs problem"),
];

/// The push type that carries tracking data; 107 (COD payment state) and others don't.
const TRACKING_PUSH: &str = "101";

/// Longest provider text copied into `details`.
const MAX_EXTRA: usize = 256;

type Obj<'a> = json::Obj<'a, Text>;

pub fn verify(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    let form = Form::parse(req.body);
    let data_sign = form
        .one("DataSign")
        .map_err(|Twice| AuthError::Malformed("the DataSign field appears more than once"))?
        .ok_or(AuthError::Missing("the `DataSign` form field"))?;
    let data = form
        .one("RequestData")
        .map_err(|Twice| AuthError::Malformed("the RequestData field appears more than once"))?
        .ok_or(AuthError::Malformed(
            "the body has no RequestData field for DataSign to cover",
        ))?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(data_sign.trim().as_bytes())
        .map_err(|_| AuthError::Malformed("DataSign is not base64"))?;
    let digest = String::from_utf8(digest)
        .ok()
        .filter(|d| d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(AuthError::Malformed(
            "DataSign does not hold an MD5 digest in hex",
        ))?;
    let json = json_text(data);
    let expected = sign::hex_lower(&sign::md5(&[json.as_bytes(), secret]));
    if sign::ct_eq_ignore_case(&digest, &expected) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

pub fn parse(req: &Inbound<'_>, ctx: &Context) -> Result<Push, ParseError> {
    let form = Form::parse(req.body);
    let request_type = form
        .one("RequestType")
        .map_err(|Twice| {
            ParseError::invalid("RequestType", "the form field appears more than once")
        })?
        .ok_or_else(|| ParseError::Missing("the `RequestType` form field".into()))?
        .trim();
    if request_type != TRACKING_PUSH {
        return Err(ParseError::UnsupportedType(clip_type(request_type)));
    }
    let data = form
        .one("RequestData")
        .map_err(|Twice| {
            ParseError::invalid("RequestData", "the form field appears more than once")
        })?
        .ok_or_else(|| ParseError::Missing("the `RequestData` form field".into()))?;
    let root: Value = serde_json::from_str(&json_text(data)).map_err(|e| ParseError::json(&e))?;
    let root = Obj::at(&root, "RequestData".into())?;
    // `Data` is documented as an array; a single parcel object is read as one.
    let parcels: Vec<&Value> = match root.get("Data") {
        None => return Err(ParseError::Missing(root.field("Data"))),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(other) => return Err(root.expected("Data", "an array", other)),
    };

    let mut push = Push::default();
    for (i, parcel) in parcels.into_iter().enumerate() {
        let parcel = Obj::at(parcel, root.field(&format!("Data[{i}]")))?;
        read_parcel(req, ctx, &parcel, &mut push)?;
    }
    Ok(push)
}

pub fn reply(req: &Inbound<'_>, outcome: &Outcome) -> Reply {
    let business_id = business_id(req.body).unwrap_or_default();
    let update_time = beijing_time(req.received_at);
    let (status, success, reason) = match outcome {
        Outcome::Ack => (200, true, String::new()),
        Outcome::Retry(why) => (503, false, why.clone()),
    };
    // Built by hand to keep KDNiao's field order.
    Reply {
        status,
        content_type: "application/json",
        body: format!(
            r#"{{"EBusinessID":{},"UpdateTime":{},"Success":{success},"Reason":{}}}"#,
            Value::String(business_id),
            Value::String(update_time),
            Value::String(reason),
        ),
    }
}

/// One parcel of the push: every trace becomes a checkpoint, oldest first.
fn read_parcel(
    req: &Inbound<'_>,
    ctx: &Context,
    parcel: &Obj<'_>,
    push: &mut Push,
) -> Result<(), ParseError> {
    let traces = parcel.array("Traces")?.unwrap_or_default();
    // `Success: false` ("三天无轨迹", …) comes without traces: nothing seen, nothing to add.
    if traces.is_empty() {
        return Ok(());
    }

    let number = parcel
        .loose_text("LogisticCode")?
        .ok_or_else(|| ParseError::Missing(parcel.field("LogisticCode")))?;
    let tracking_number = TrackingNumber::parse(number.trim())
        .map_err(|e| ParseError::invalid(parcel.field("LogisticCode"), e))?;
    let shipper = parcel
        .loose_text("ShipperCode")?
        .ok_or_else(|| ParseError::Missing(parcel.field("ShipperCode")))?;
    let carrier: Carrier = carriers::slug(Provider::Kdniao, CarrierCode::Text(&shipper))
        .map_err(|e| ParseError::invalid(parcel.field("ShipperCode"), e))?;
    // The merchant's order number, when the subscription gave one that is a valid id.
    let order_id = parcel
        .loose_text("OrderCode")?
        .and_then(|o| OrderId::parse(o.trim()).ok());
    let state = match parcel.loose_text("StateEx")? {
        Some(s) => Some(s),
        None => parcel.loose_text("State")?,
    };
    let callback = parcel.loose_text("CallBack")?;

    let mut items = Vec::with_capacity(traces.len());
    for (j, trace) in traces.iter().enumerate() {
        let trace = Obj::at(trace, parcel.field(&format!("Traces[{j}]")))?;
        let time_text = trace
            .loose_text("AcceptTime")?
            .ok_or_else(|| ParseError::Missing(trace.field("AcceptTime")))?;
        let time = ProviderTime::parse(&time_text, &ctx.zone)
            .map_err(|e| ParseError::invalid(trace.field("AcceptTime"), e))?;
        items.push((j, trace, time));
    }
    // The newest trace: the latest time; among equal times the one listed last.
    let newest = items
        .iter()
        .max_by(|a, b| a.2.instant.0.cmp(&b.2.instant.0).then(a.0.cmp(&b.0)))
        .map(|(j, ..)| *j);

    for (j, trace, time) in items {
        let mut extra = Map::new();
        let (raw_status, mapped) = match trace.loose_text("Action")? {
            Some(action) => {
                let action = action.trim().to_owned();
                let mapped = codes::lookup(TABLE, &action);
                (Some(action), mapped)
            }
            None => match (newest == Some(j), &state) {
                (true, Some(s)) => {
                    let s = s.trim();
                    put(&mut extra, "parcel_state", Some(s));
                    (None, codes::lookup(TABLE, s))
                }
                _ => (None, Mapped::Known(None)),
            },
        };
        if mapped == Mapped::Unknown {
            let unknown = raw_status
                .clone()
                .or_else(|| state.as_deref().map(|s| s.trim().to_owned()));
            push.unknown_codes.extend(unknown);
        }
        put(&mut extra, "remark", trace.loose_text("Remark")?.as_deref());
        put(&mut extra, "callback", callback.as_deref());

        let checkpoint = Checkpoint {
            provider: Provider::Kdniao,
            carrier: carrier.clone(),
            tracking_number: tracking_number.clone(),
            order_id: order_id.clone(),
            kind: mapped.kind(),
            raw_status,
            time,
            location: trace.loose_text("Location")?,
            description: trace.loose_text("AcceptStation")?,
            provider_event_id: None,
            extra,
        };
        push.events.push(checkpoint.into_event(req.received_at));
    }
    Ok(())
}

/// The JSON text of `RequestData`: decoded once more when it is still URL-encoded.
fn json_text(data: &str) -> String {
    if data.trim_start().starts_with('%')
        && let Some(decoded) = percent_decode(data.trim())
    {
        return decoded;
    }
    data.to_owned()
}

/// `%XX` escapes and `+` for space, as `application/x-www-form-urlencoded` writes them.
/// `None` when an escape is broken or the bytes are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `EBusinessID` for the answer: the one in `RequestData`, else the form field's.
fn business_id(body: &[u8]) -> Option<String> {
    let form = Form::parse(body);
    let from_data = form
        .one("RequestData")
        .ok()
        .flatten()
        .and_then(|d| serde_json::from_str::<Value>(&json_text(d)).ok())
        .and_then(|v| match v.get("EBusinessID") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
    from_data
        .or_else(|| form.one("EBusinessID").ok().flatten().map(str::to_owned))
        .and_then(|id| clip(Some(id), MAX_EXTRA))
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8 all year), as KDNiao writes times.
fn beijing_time(at: waybill_core::Timestamp) -> String {
    let zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(8));
    match jiff::Timestamp::from_microsecond(at.0) {
        Ok(ts) => ts.to_zoned(zone).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => String::new(),
    }
}

/// A push type is echoed into the quarantine reason: keep it short.
fn clip_type(t: &str) -> String {
    clip(Some(t.to_owned()), 32).unwrap_or_default()
}

fn put(extra: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = clip(value.map(str::to_owned), MAX_EXTRA) {
        extra.insert(key.to_owned(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::Timestamp;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("%7B%22a%22%3A1%7D").as_deref(),
            Some(r#"{"a":1}"#)
        );
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%E5%BF%AB").as_deref(), Some("快"));
        assert_eq!(percent_decode("%7"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(json_text("%7B%7D"), "{}");
        assert_eq!(json_text("{}"), "{}");
    }

    #[test]
    fn update_time_is_beijing_wall_clock() {
        // 2026-11-27T02:02:00Z
        let at = Timestamp(1_795_744_920_000_000);
        assert_eq!(beijing_time(at), "2026-11-27 10:02:00");
    }
}
