//! How a fuzz input becomes a parser call, shared by the fuzz targets and the corpus
//! replay (`crates/waybill-formats/tests/fuzz_corpus.rs`): the first byte chooses the
//! content type or mode, the rest is the body (and, for binary CloudEvents, the `ce-*`
//! headers first, one a line).

use waybill_core::Timestamp;
use waybill_formats::{cloudevents, wire};

/// A fixed "now", so that a crash found once replays the same.
const NOW: Timestamp = Timestamp(1_800_000_000_000_000);
const MAX_ITEMS: usize = 64;

/// `POST /v1/events`: JSON object or array, NDJSON, JSON-seq, no type, another type.
pub fn wire(data: &[u8]) -> bool {
    let Some((&pick, body)) = data.split_first() else {
        return false;
    };
    let content_type = [
        Some("application/json"),
        Some("application/x-ndjson"),
        Some("application/json-seq"),
        None,
        Some("text/plain; charset=utf-8"),
    ][usize::from(pick) % 5];
    wire::parse_events(content_type, body, NOW, MAX_ITEMS).is_ok()
}

/// `POST /v1/webhooks/cloudevents`: structured, batch, binary.
pub fn cloudevents(data: &[u8]) -> bool {
    let Some((&pick, rest)) = data.split_first() else {
        return false;
    };
    match pick % 3 {
        0 => cloudevents::parse(
            cloudevents::Mode::Structured,
            |_| None,
            rest,
            NOW,
            MAX_ITEMS,
        ),
        1 => cloudevents::parse(cloudevents::Mode::Batch, |_| None, rest, NOW, MAX_ITEMS),
        _ => {
            // Five header lines (specversion, id, source, type, time), then the body.
            let mut parts = rest.splitn(6, |b| *b == b'\n');
            let mut values: Vec<&str> = Vec::new();
            for _ in 0..5 {
                values.push(
                    parts
                        .next()
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .unwrap_or(""),
                );
            }
            let body = parts.next().unwrap_or_default();
            let names = ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time"];
            let header = |name: &str| {
                names
                    .iter()
                    .position(|n| *n == name)
                    .map(|i| values[i])
                    .filter(|v| !v.is_empty())
            };
            cloudevents::parse(cloudevents::Mode::Binary, header, body, NOW, MAX_ITEMS)
        }
    }
    .is_ok()
}
