//! Kuaidi100 (快递100) subscription push (订阅推送).
//!
//! Kuaidi100 posts `application/x-www-form-urlencoded` with two fields: `param`, the push
//! as JSON text, and `sign`, the uppercase hex MD5 of `param` followed by the salt given
//! at subscription (our secret). There is no timestamp, so no replay window: a replayed
//! push is a re-pushed history, and its checkpoints are duplicates by id.
//!
//! `param.lastResult` is the parcel's whole history, newest first; `destResult` (with
//! `interCom=1`) is the destination country's history of the same parcel. Each `data[]`
//! entry is one checkpoint. Its code is its own `statusCode` (`resultv2=4/6`), else its
//! `status` (a status *name* such as `干线` with `resultv2=1`, mapped through [`NAMES`]).
//! An entry with neither has no code of its own: the newest one gets the parcel's
//! `state` (what Kuaidi100 says about the parcel now); older ones stay `unmapped`, since
//! the parcel's current state says nothing about them. That fallback code goes into
//! `details.parcel_state`, not `raw_status`: `raw_status` is part of the event id, and
//! the newest checkpoint of one push is an older one in the next, which must still be
//! the same event.
//!
//! The payload is walked as a `serde_json::Value` rather than derived into structs, so
//! that a field of the wrong type is reported with its full path
//! (`param.lastResult.data[3].time`), and so that codes sent as numbers or as strings
//! read alike. Unknown fields are ignored, nulls and empty strings are absent.

use serde_json::{Map, Value};
use waybill_core::{Carrier, ShipmentStatus as S, TrackingNumber};

use crate::carriers::{self, CarrierCode};
use crate::checkpoint::{Checkpoint, clip};
use crate::codes::{self, Code, Mapped, code};
use crate::form::{Form, Twice};
use crate::json::{self, Text};
use crate::{
    AuthError, CarrierChange, Context, Inbound, Outcome, ParseError, Provider, ProviderTime, Push,
    Reply, sign,
};

/// Kuaidi100's status codes (`state`, `statusCode`): the ten basic states and the
/// sub-states behind `resultv2`, as listed in its subscription and query documentation.
#[rustfmt::skip]
pub const TABLE: &[Code] = &[
    code("0",    S::InTransit,          "在途 — in transit"),
    code("1001", S::InTransit,          "到达派件城市 — arrived in the destination city"),
    code("1002", S::InTransit,          "干线 — on the line haul between hubs"),
    code("1003", S::InTransit,          "转递 — sent on to a new delivery address"),
    code("1",    S::PickedUp,           "揽收 — collected by the carrier"),
    code("101",  S::InfoReceived,       "已下单 — shipment ordered"),
    code("102",  S::InfoReceived,       "待揽收 — waiting to be collected by the carrier"),
    code("103",  S::PickedUp,           "已揽收 — collected by the carrier"),
    code("5",    S::OutForDelivery,     "派件 — out for delivery"),
    code("501",  S::AvailableForPickup, "投柜或驿站 — left in a parcel locker or pickup station"),
    code("3",    S::Delivered,          "签收 — delivered"),
    code("301",  S::Delivered,          "本人签收 — signed for by the addressee"),
    code("302",  S::Delivered,          "派件异常后签收 — delivered after an earlier delivery problem"),
    code("303",  S::Delivered,          "代签 — signed for on the addressee's behalf"),
    code("304",  S::Delivered,          "投柜或站签收 — collected from a locker or pickup station"),
    code("6",    S::Returning,          "退回 — on its way back to the sender"),
    code("4",    S::Returned,           "退签 — returned and signed for by the sender"),
    code("401",  S::Cancelled,          "已销单 — waybill cancelled"),
    code("14",   S::Exception,          "拒签 — refused by the addressee"),
    code("7",    S::InTransit,          "转投 — handed over to another carrier"),
    code("2",    S::Exception,          "疑难 — problem shipment"),
    code("201",  S::Exception,          "超时未签收 — out for delivery for long without a signature"),
    code("202",  S::Exception,          "超时未更新 — no update for a long time"),
    code("203",  S::Exception,          "拒收 — refused, waiting for the sender's decision"),
    code("204",  S::FailedAttempt,      "派件异常 — the delivery attempt ran into a problem"),
    code("205",  S::Exception,          "柜或驿站超时未取 — not collected from the locker or station in time"),
    code("206",  S::FailedAttempt,      "无法联系 — the addressee could not be reached"),
    code("207",  S::Exception,          "超区 — outside the carrier's service area"),
    code("208",  S::Exception,          "滞留 — held at a branch, not sent out"),
    code("209",  S::Exception,          "破损 — damaged"),
    code("210",  S::Exception,          "销单 — the sender asked to cancel the shipment"),
    code("8",    S::InTransit,          "清关 — customs clearance"),
    code("10",   S::InTransit,          "待清关 — waiting for customs clearance"),
    code("11",   S::InTransit,          "清关中 — customs clearance in progress"),
    code("12",   S::InTransit,          "已清关 — cleared customs"),
    code("13",   S::Exception,          "清关异常 — customs problem"),
];

/// The status names Kuaidi100 writes into `data[].status` (with `resultv2`), and the code
/// each one stands for. Used when a checkpoint has a name but no `statusCode`.
pub const NAMES: &[(&str, &str)] = &[
    ("在途", "0"),
    ("到达派件城市", "1001"),
    ("干线", "1002"),
    ("转递", "1003"),
    ("揽收", "1"),
    ("已下单", "101"),
    ("待揽收", "102"),
    ("已揽收", "103"),
    ("派件", "5"),
    ("投柜或驿站", "501"),
    ("签收", "3"),
    ("本人签收", "301"),
    ("派件异常后签收", "302"),
    ("代签", "303"),
    ("投柜或站签收", "304"),
    ("退回", "6"),
    ("退签", "4"),
    ("已销单", "401"),
    ("拒签", "14"),
    ("转投", "7"),
    ("疑难", "2"),
    ("超时未签收", "201"),
    ("超时未更新", "202"),
    ("拒收", "203"),
    ("派件异常", "204"),
    ("柜或驿站超时未取", "205"),
    ("无法联系", "206"),
    ("超区", "207"),
    ("滞留", "208"),
    ("破损", "209"),
    ("销单", "210"),
    ("清关", "8"),
    ("待清关", "10"),
    ("清关中", "11"),
    ("已清关", "12"),
    ("清关异常", "13"),
];

/// The answer that stops Kuaidi100 from pushing again, byte for byte as documented.
const ACK_BODY: &str = r#"{"result":true,"returnCode":"200","message":"成功"}"#;

/// Longest provider text copied into `details`.
const MAX_EXTRA: usize = 256;

type Obj<'a> = json::Obj<'a, Text>;

pub fn verify(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    let form = Form::parse(req.body);
    let sign = form
        .one("sign")
        .map_err(|Twice| AuthError::Malformed("the sign field appears more than once"))?
        .ok_or(AuthError::Missing("the `sign` form field"))?
        .trim();
    if sign.len() != 32 || !sign.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Malformed(
            "sign is not an MD5 digest in 32 hex digits",
        ));
    }
    let param = form
        .one("param")
        .map_err(|Twice| AuthError::Malformed("the param field appears more than once"))?
        .ok_or(AuthError::Malformed(
            "the body has no param field for the sign to cover",
        ))?;
    let expected = sign::hex_upper(&sign::md5(&[param.as_bytes(), secret]));
    if sign::ct_eq_ignore_case(sign, &expected) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

pub fn parse(req: &Inbound<'_>, ctx: &Context) -> Result<Push, ParseError> {
    let form = Form::parse(req.body);
    let param = form
        .one("param")
        .map_err(|Twice| ParseError::invalid("param", "the form field appears more than once"))?
        .ok_or_else(|| ParseError::Missing("the `param` form field".into()))?;
    let root: Value = serde_json::from_str(param).map_err(|e| ParseError::json(&e))?;
    let root = Obj::at(&root, "param".into())?;

    let status = root.loose_text("status")?;
    let auto_check = root.loose_text("autoCheck")?;
    let com_old = root.loose_text("comOld")?;
    let com_new = root.loose_text("comNew")?;
    let last = root.object("lastResult")?;
    let dest = root.object("destResult")?;

    let Some(last) = last else {
        // `abort` ("3天查询无记录", "60天无变化") and `shutdown` may come without a result:
        // the subscription ended, nothing was seen.
        return match status.as_deref() {
            Some("abort" | "shutdown") => Ok(Push::default()),
            _ => Err(ParseError::Missing("param.lastResult".into())),
        };
    };

    // A corrected carrier: Kuaidi100 re-subscribed the number under `comNew`.
    let correction = match (auto_check.as_deref(), &com_old, &com_new) {
        (Some("1"), Some(old), Some(new)) if !old.trim().eq_ignore_ascii_case(new.trim()) => {
            Some((old.as_str(), new.as_str()))
        }
        _ => None,
    };

    let last_data = last.array("data")?.unwrap_or_default();
    let dest_data = match &dest {
        Some(d) => d.array("data")?.unwrap_or_default(),
        None => &[],
    };
    if last_data.is_empty() && dest_data.is_empty() && correction.is_none() {
        return Ok(Push::default());
    }

    let nu = last
        .loose_text("nu")?
        .ok_or_else(|| ParseError::Missing(last.field("nu")))?;
    let tracking_number =
        TrackingNumber::parse(nu.trim()).map_err(|e| ParseError::invalid(last.field("nu"), e))?;

    let mut push = Push::default();
    let carrier = match correction {
        Some((old, new)) => {
            let from = slug(old, "param.comOld")?;
            let to = slug(new, "param.comNew")?;
            if from != to {
                push.carrier_change = Some(CarrierChange {
                    tracking_number: tracking_number.clone(),
                    from,
                    to: to.clone(),
                });
            }
            to
        }
        None => {
            let com = last
                .loose_text("com")?
                .ok_or_else(|| ParseError::Missing(last.field("com")))?;
            slug(&com, &last.field("com"))?
        }
    };

    let parcel = Parcel {
        carrier,
        tracking_number,
        subscription: status,
    };
    read_result(req, ctx, &parcel, &last, last_data, &mut push)?;
    if let Some(dest) = &dest {
        read_result(req, ctx, &parcel, dest, dest_data, &mut push)?;
    }
    Ok(push)
}

pub fn reply(_req: &Inbound<'_>, outcome: &Outcome) -> Reply {
    match outcome {
        Outcome::Ack => Reply {
            status: 200,
            content_type: "application/json",
            body: ACK_BODY.to_owned(),
        },
        // Built by hand, like the Ack, to keep Kuaidi100's field order.
        Outcome::Retry(why) => Reply {
            status: 503,
            content_type: "application/json",
            body: format!(
                r#"{{"result":false,"returnCode":"500","message":{}}}"#,
                Value::String(why.clone())
            ),
        },
    }
}

/// What every checkpoint of the push shares.
struct Parcel {
    carrier: Carrier,
    tracking_number: TrackingNumber,
    /// `param.status`: polling, shutdown, abort, updateall.
    subscription: Option<String>,
}

/// One history (`lastResult` or `destResult`): newest first as Kuaidi100 lists it, added
/// to `push` oldest first.
fn read_result(
    req: &Inbound<'_>,
    ctx: &Context,
    parcel: &Parcel,
    result: &Obj<'_>,
    data: &[Value],
    push: &mut Push,
) -> Result<(), ParseError> {
    let state = result.loose_text("state")?;
    let dest_com = if result.path().ends_with("destResult") {
        result.loose_text("com")?
    } else {
        None
    };

    let mut items = Vec::with_capacity(data.len());
    for (i, item) in data.iter().enumerate() {
        let item = Obj::at(item, result.field(&format!("data[{i}]")))?;
        let time = checkpoint_time(&item, ctx)?;
        items.push((i, item, time));
    }
    // The newest checkpoint: the latest time; among equal times the one listed first.
    let newest = items
        .iter()
        .max_by(|a, b| a.2.instant.0.cmp(&b.2.instant.0).then(b.0.cmp(&a.0)))
        .map(|(i, ..)| *i);

    for (i, item, time) in items.into_iter().rev() {
        let status_code = item.loose_text("statusCode")?;
        let status_name = item.loose_text("status")?;
        let mut extra = Map::new();
        let (raw_status, mapped) = if let Some(c) = &status_code {
            (Some(c.trim().to_owned()), codes::lookup(TABLE, c.trim()))
        } else if let Some(name) = &status_name {
            let name = name.trim();
            let mapped = if name.bytes().all(|b| b.is_ascii_digit()) {
                codes::lookup(TABLE, name)
            } else {
                NAMES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(Mapped::Unknown, |(_, c)| codes::lookup(TABLE, c))
            };
            (Some(name.to_owned()), mapped)
        } else if let (true, Some(s)) = (newest == Some(i), &state) {
            let s = s.trim();
            put(&mut extra, "parcel_state", Some(s));
            (None, codes::lookup(TABLE, s))
        } else {
            (None, Mapped::Known(None))
        };
        if mapped == Mapped::Unknown {
            let unknown = raw_status
                .clone()
                .or_else(|| state.as_deref().map(|s| s.trim().to_owned()));
            push.unknown_codes.extend(unknown);
        }

        if status_code.is_some() {
            put(&mut extra, "status_name", status_name.as_deref());
        }
        put(
            &mut extra,
            "area_code",
            item.loose_text("areaCode")?.as_deref(),
        );
        let location = match item.loose_text("location")? {
            Some(l) => Some(l),
            None => item.loose_text("areaName")?,
        };
        put(&mut extra, "subscription", parcel.subscription.as_deref());
        if let Some(com) = &dest_com {
            put(&mut extra, "result", Some("destResult"));
            put(&mut extra, "result_com", Some(com));
        }

        let checkpoint = Checkpoint {
            provider: Provider::Kuaidi100,
            carrier: parcel.carrier.clone(),
            tracking_number: parcel.tracking_number.clone(),
            order_id: None,
            kind: mapped.kind(),
            raw_status,
            time,
            location,
            description: item.loose_text("context")?,
            provider_event_id: None,
            extra,
        };
        push.events.push(checkpoint.into_event(req.received_at));
    }
    Ok(())
}

/// `time` is the carrier's original text, `ftime` Kuaidi100's formatted copy; either is
/// a Beijing wall-clock time without an offset.
fn checkpoint_time(item: &Obj<'_>, ctx: &Context) -> Result<ProviderTime, ParseError> {
    let time = item.loose_text("time")?;
    let ftime = item.loose_text("ftime")?;
    let mut first_error = None;
    for (field, value) in [("time", time), ("ftime", ftime)] {
        if let Some(v) = value {
            match ProviderTime::parse(&v, &ctx.zone) {
                Ok(t) => return Ok(t),
                Err(e) => {
                    first_error.get_or_insert((field, e));
                }
            }
        }
    }
    Err(match first_error {
        Some((field, e)) => ParseError::invalid(item.field(field), e),
        None => ParseError::Missing(item.field("time")),
    })
}

fn slug(code: &str, field: &str) -> Result<Carrier, ParseError> {
    carriers::slug(Provider::Kuaidi100, CarrierCode::Text(code))
        .map_err(|e| ParseError::invalid(field, e))
}

fn put(extra: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = clip(value.map(str::to_owned), MAX_EXTRA) {
        extra.insert(key.to_owned(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::{EventKind, Timestamp};

    fn form(param: &str, sign: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("param", param)
            .append_pair("sign", sign)
            .finish()
            .into_bytes()
    }

    fn inbound<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> Inbound<'a> {
        Inbound {
            headers,
            body,
            path: "/v1/webhooks/kuaidi100",
            received_at: Timestamp(1_800_000_000_000_000),
        }
    }

    #[test]
    fn a_duplicated_field_is_refused() {
        let h = http::HeaderMap::new();
        let mut body = form("{}", &"A".repeat(32));
        body.extend_from_slice(b"&sign=00000000000000000000000000000000");
        assert!(matches!(
            verify(b"salt", &inbound(&h, &body)),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn names_map_onto_documented_codes() {
        for (name, c) in NAMES {
            assert!(
                TABLE.iter().any(|row| row.code == *c),
                "{name} → {c} is not in TABLE"
            );
        }
        for (i, (name, _)) in NAMES.iter().enumerate() {
            assert!(NAMES[..i].iter().all(|(n, _)| n != name), "{name} twice");
        }
    }

    #[test]
    fn an_older_checkpoint_without_a_code_is_unmapped_and_the_newest_takes_the_state() {
        let h = http::HeaderMap::new();
        let param = r#"{"status":"polling","lastResult":{"state":"5","com":"yunda","nu":"YD1","data":[
            {"time":"2026-11-27 10:02:00","context":"派送中"},
            {"time":"2026-11-26 08:00:00","context":"已揽收"}]}}"#;
        let body = form(param, "");
        let push = parse(
            &inbound(&h, &body),
            &Context::for_provider(Provider::Kuaidi100),
        )
        .unwrap();
        assert_eq!(push.events.len(), 2);
        assert_eq!(push.events[0].kind, EventKind::Unmapped);
        assert_eq!(push.events[0].raw_status, None);
        assert_eq!(push.events[1].kind, EventKind::Status(S::OutForDelivery));
        assert_eq!(push.events[1].raw_status, None);
        assert!(
            push.events[1]
                .details
                .as_deref()
                .unwrap()
                .contains(r#""parcel_state":"5""#)
        );
    }
}
