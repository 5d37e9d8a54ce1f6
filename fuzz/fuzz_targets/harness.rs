//! How a fuzz input becomes a parser call, shared by the fuzz targets and the corpus
//! replay (`crates/waybill-formats/tests/fuzz_corpus.rs`): the first byte chooses the
//! content type or mode, the rest is the body (and, for binary CloudEvents, the `ce-*`
//! headers first, one a line).

use waybill_core::Timestamp;
use waybill_formats::{cloudevents, tokens, wire};

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

/// `waybill ingest FILE.csv`: a header row and rows, each row an event for the same
/// validator as every other format. True when some row became an event.
pub fn csv(data: &[u8]) -> bool {
    let Ok(rows) = wire::csv_items(data) else {
        return false;
    };
    let mut any = false;
    for json in rows.take(MAX_ITEMS).flatten() {
        any |= wire::parse_one(&json, NOW).is_ok();
    }
    any
}

/// The tokens read back from clients: the first byte chooses a page cursor, a
/// `Last-Event-ID` or a tracking link's token; the rest is the text. What reads back
/// must be what would have been written.
pub fn tokens(data: &[u8]) -> bool {
    let Some((&pick, rest)) = data.split_first() else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return false;
    };
    match pick % 3 {
        0 => tokens::decode_cursor(text)
            .inspect(|n| {
                let written = tokens::encode_cursor(*n);
                assert_eq!(tokens::decode_cursor(&written), Some(*n), "{text:?}");
            })
            .is_some(),
        1 => tokens::last_event_id(text)
            .inspect(|n| assert!(*n >= 0))
            .is_some(),
        _ => tokens::split_link_token(text)
            .inspect(|(expiry, mac)| {
                assert!(
                    *expiry >= 0 && !mac.is_empty() && text.ends_with(mac),
                    "{text:?}"
                );
            })
            .is_some(),
    }
}
