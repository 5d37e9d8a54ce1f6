//! Providers' estimated delivery dates are kept beside the events of a push, for the
//! tracking page; a push without one keeps none.

mod common;

use common::{ctx, details, fixture};
use waybill_core::Timestamp;
use waybill_providers::checkpoint::ESTIMATED_DELIVERY;
use waybill_providers::{Inbound, Provider};

fn estimates(provider: Provider, folder: &str, name: &str) -> Vec<Option<String>> {
    let body = fixture(folder, name);
    let headers = http::HeaderMap::new();
    let req = Inbound {
        headers: &headers,
        body: body.as_bytes(),
        path: "/",
        received_at: Timestamp(1_800_000_000_000_000),
    };
    let push = provider.parse_push(&req, &ctx("UTC")).unwrap();
    assert!(!push.events.is_empty(), "{name}");
    push.events
        .iter()
        .map(|e| details(e)[ESTIMATED_DELIVERY].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn estimates_travel_with_the_events_that_carried_them() {
    for (provider, folder, name, expect) in [
        (
            Provider::EasyPost,
            "easypost",
            "tracker_updated.json",
            Some("2023-12-28T00:00:00Z"),
        ),
        (
            Provider::Shippo,
            "shippo",
            "track_updated_transit.json",
            Some("2023-07-23T00:00:00Z"),
        ),
        (
            Provider::SeventeenTrack,
            "17track",
            "tracking_updated.json",
            None,
        ),
    ] {
        let got = estimates(provider, folder, name);
        assert!(
            got.iter().all(|e| e.as_deref() == expect),
            "{name}: {got:?}"
        );
    }
}
