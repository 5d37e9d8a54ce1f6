//! The provider-intake part of `waybill bench`: how fast pushes in the providers' own
//! formats are verified and read into canonical events, on one core, next to the
//! canonical parser on the same machine in the same run.
//!
//! Real pushes carry a parcel's whole history, so each synthetic push carries
//! `CHECKPOINTS` checkpoints, and the rate is given per push and per checkpoint.

use std::time::{Duration, Instant};
use waybill_formats::clock;

use serde_json::json;
use waybill_providers::{Context, Inbound, Provider, sign};

/// Checkpoints per push: a parcel a few days into its journey.
pub const CHECKPOINTS: usize = 8;
const SECRET: &[u8] = b"bench-webhook-secret";

/// One measured provider: pushes verified and parsed, and how long it took.
pub struct PushRate {
    pub provider: Provider,
    pub pushes: usize,
    pub events: usize,
    pub took: Duration,
}

struct Signed {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

fn kuaidi100(i: usize) -> Signed {
    let data: Vec<_> = (0..CHECKPOINTS)
        .rev()
        .map(|c| {
            json!({"context": format!("【深圳市】快件已到达 转运中心{c}"), "time": format!("2026-11-2{} 1{}:0{}:00", c % 7 + 1, c % 10, c % 10),
                "ftime": "", "status": "在途", "statusCode": if c == 0 { "1" } else { "0" }, "areaName": "广东,深圳市"})
        })
        .collect();
    let param = json!({"status": "polling", "billstatus": "got", "message": "",
        "lastResult": {"message": "ok", "state": "0", "status": "200", "ischeck": "0",
            "com": "zhongtong", "nu": format!("ZT{i:012}"), "data": data}})
    .to_string();
    let digest = sign::hex_upper(&sign::md5(&[param.as_bytes(), SECRET]));
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("param", &param)
        .append_pair("sign", &digest)
        .finish()
        .into_bytes();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    Signed { headers, body }
}

fn aftership(i: usize) -> Signed {
    let checkpoints: Vec<_> = (0..CHECKPOINTS)
        .map(|c| {
            json!({"checkpoint_time": format!("2026-11-2{}T1{}:00:00+08:00", c % 7 + 1, c % 10),
                "tag": "InTransit", "subtag": "InTransit_001", "message": format!("Arrived at facility {c}"),
                "location": "Shenzhen, Guangdong, CHN", "city": "Shenzhen", "country_iso3": "CHN"})
        })
        .collect();
    let body =
        json!({"event": "tracking_update", "event_id": format!("evt-{i}"), "ts": 1_795_800_000,
        "msg": {"tracking_number": format!("1Z{i:016}"), "slug": "ups", "tag": "InTransit",
            "subtag": "InTransit_001", "checkpoints": checkpoints}})
        .to_string()
        .into_bytes();
    let mut headers = http::HeaderMap::new();
    let mac = sign::base64(&sign::hmac_sha256(SECRET, &[&body]));
    headers.insert(
        "aftership-hmac-sha256",
        mac.parse().expect("base64 is ASCII"),
    );
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    Signed { headers, body }
}

/// Verifies and parses `n` pushes of each measured provider.
pub fn measure(n: usize) -> anyhow::Result<Vec<PushRate>> {
    let mut out = Vec::new();
    for (provider, make) in [
        (Provider::Kuaidi100, kuaidi100 as fn(usize) -> Signed),
        (Provider::AfterShip, aftership),
    ] {
        let pushes: Vec<Signed> = (0..n).map(make).collect();
        let ctx = Context::for_provider(provider);
        let received_at = clock::now();
        let started = Instant::now();
        let mut events = 0;
        for p in &pushes {
            let inbound = Inbound {
                headers: &p.headers,
                body: &p.body,
                path: "/v1/webhooks/bench",
                received_at,
            };
            provider
                .verify(SECRET, &inbound)
                .map_err(|e| anyhow::anyhow!("{provider}: {e}"))?;
            let push = provider
                .parse_push(&inbound, &ctx)
                .map_err(|e| anyhow::anyhow!("{provider}: {e}"))?;
            events += push.events.len();
        }
        out.push(PushRate {
            provider,
            pushes: n,
            events,
            took: started.elapsed(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synthetic_push_verifies_and_yields_all_its_checkpoints() {
        for rate in measure(3).unwrap() {
            assert_eq!(rate.events, 3 * CHECKPOINTS, "{}", rate.provider);
        }
    }
}
