//! How a fuzz input becomes a provider push, shared by the `providers` target and its
//! corpus replay (`crates/waybill-providers/tests/fuzz_corpus.rs`): the first byte
//! chooses the provider, then header lines (`name: value`) up to a blank line, then
//! the body. Each push is verified (with a fixed secret) and parsed, whatever the
//! verification said: neither may panic on any input.

use waybill_core::Timestamp;
use waybill_providers::{Context, Inbound, Provider};

const NOW: Timestamp = Timestamp(1_800_000_000_000_000);

/// Whether the push parsed.
pub fn providers(data: &[u8]) -> bool {
    let Some((&pick, rest)) = data.split_first() else {
        return false;
    };
    let provider = Provider::ALL[usize::from(pick) % Provider::ALL.len()];
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (&[][..], rest),
    };
    let mut headers = http::HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    let req = Inbound {
        headers: &headers,
        body,
        path: "/v1/webhooks/fuzz",
        received_at: NOW,
    };
    let _ = provider.verify(b"fuzz-secret-0123456789", &req);
    provider
        .parse_push(&req, &Context::for_provider(provider))
        .is_ok()
}
