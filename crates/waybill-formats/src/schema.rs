//! Pieces of the OpenAPI document that derive cannot write: the statuses and event
//! types as enums drawn from the core's own lists (so the document cannot fall behind
//! them), and the character rules of identifiers as patterns.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};
use waybill_core::change::ChangeKind;
use waybill_core::{OrderStatus, ShipmentStatus};

/// The invisible formatting characters `waybill_core::ids::is_invisible_format` names,
/// as a regex class body. Written as themselves, not escaped, so that ECMA-262 and
/// Python read the class alike.
const INVISIBLE: &str = "\u{ad}\u{600}-\u{605}\u{61c}\u{6dd}\u{70f}\u{890}-\u{891}\u{8e2}\u{180e}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2060}-\u{2064}\u{2066}-\u{206f}\u{feff}\u{fff9}-\u{fffb}\u{110bd}\u{110cd}\u{13430}-\u{1343f}\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0001}\u{e0020}-\u{e007f}";

/// No control, whitespace or invisible formatting character: the rule of `OrderId`,
/// `TrackingNumber` and the other printable identifiers. Their limits are in bytes
/// (UTF-8), which JSON Schema cannot count: `maxLength` bounds the characters, the
/// description states the bytes.
pub fn printable_pattern() -> String {
    format!("^[^\\s\\x00-\\x1f\\x7f-\\x9f{INVISIBLE}]+$")
}

/// An event id: no control or invisible formatting character (spaces allowed).
fn event_id_pattern() -> String {
    format!("^[^\\x00-\\x1f\\x7f-\\x9f{INVISIBLE}]*$")
}

/// A carrier slug.
pub const SLUG: &str = "^[a-z0-9-]+$";

fn printable(max_bytes: usize, what: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max_bytes))
        .pattern(Some(printable_pattern()))
        .description(Some(format!(
            "{what}: 1–{max_bytes} bytes of printable UTF-8 (no control, whitespace or invisible formatting character)"
        )))
}

pub fn order_id() -> ObjectBuilder {
    printable(waybill_core::OrderId::MAX_LEN, "An order id")
}

pub fn tracking_number() -> ObjectBuilder {
    printable(waybill_core::TrackingNumber::MAX_LEN, "A tracking number")
}

pub fn carrier() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(waybill_core::Carrier::MAX_LEN))
        .pattern(Some(SLUG))
        .description(Some(
            "A carrier slug: lowercase letters, digits and '-', like sf-express",
        ))
}

fn names(values: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
}

/// `schema`, or null (a field that may be sent as null, read as absent).
pub fn or_null(schema: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(schema)
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    ))
}

/// An order's status.
pub fn order_status() -> ObjectBuilder {
    names(OrderStatus::ALL.map(OrderStatus::as_str))
}

/// A shipment's status, or null before any status-bearing event.
pub fn shipment_status_or_null() -> RefOr<Schema> {
    or_null(names(ShipmentStatus::ALL.map(ShipmentStatus::as_str)))
}

/// What an event may say it is: `created` (the order) or a shipment status.
pub fn event_status() -> ObjectBuilder {
    names(std::iter::once("created").chain(ShipmentStatus::ALL.map(ShipmentStatus::as_str)))
}

/// What a stored event is: an event status, or `unmapped` (a raw code with no status).
pub fn stored_event_status() -> ObjectBuilder {
    names(
        ["created", "unmapped"]
            .into_iter()
            .chain(ShipmentStatus::ALL.map(ShipmentStatus::as_str)),
    )
}

/// The seed's vocabulary.
pub fn seed_event_type() -> ObjectBuilder {
    names(["create", "ship", "received", "delivered"])
}

/// A domain event type, a family (`shipment.*`) or `*`: what a subscription or a
/// stream's `types` may name.
pub fn change_type() -> ObjectBuilder {
    let mut all: Vec<String> = vec!["*".into()];
    for k in ChangeKind::ALL {
        if let Some((family, _)) = k.as_str().split_once('.') {
            let family = format!("{family}.*");
            if !all.contains(&family) {
                all.push(family);
            }
        }
        all.push(k.as_str().into());
    }
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(all))
}

/// Free text: at most `max_bytes` bytes (stated; `maxLength` bounds the characters), no
/// NUL (no store keeps it faithfully).
fn text(max_bytes: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_bytes))
        .pattern(Some("^[^\\x00]*$"))
        .description(Some(format!("At most {max_bytes} bytes")))
}

/// The fields of an event as it arrives, each of which may be null (read as absent).
pub mod event {
    use super::*;

    pub fn event_id() -> RefOr<Schema> {
        or_null(
            super::text(256)
                .pattern(Some(event_id_pattern()))
                .description(Some(
                    "At most 256 bytes; derived from the content when absent",
                )),
        )
    }
    pub fn order_id() -> RefOr<Schema> {
        or_null(super::order_id())
    }
    pub fn carrier() -> RefOr<Schema> {
        or_null(super::carrier())
    }
    pub fn tracking_number() -> RefOr<Schema> {
        or_null(super::tracking_number())
    }
    pub fn status() -> RefOr<Schema> {
        or_null(event_status())
    }
    pub fn event_type() -> RefOr<Schema> {
        or_null(seed_event_type())
    }
    pub fn occurred_at() -> RefOr<Schema> {
        or_null(instant().description(Some(
            "RFC 3339 with an offset, from 2000-01-01 to a day past the time of receipt; the time of receipt when absent",
        )))
    }
    pub fn text() -> RefOr<Schema> {
        or_null(super::text(2048))
    }
    pub fn raw_status() -> RefOr<Schema> {
        or_null(super::text(128))
    }
}

/// A comma-separated list of [`change_type`]'s names (spaces around them and
/// empty entries ignored; empty: every type), as a stream's `types` takes it.
pub fn change_type_list() -> ObjectBuilder {
    let names = change_type().build();
    let alternatives: Vec<String> = names
        .enum_values
        .iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .map(|n| n.replace('.', "\\.").replace('*', "\\*"))
        .collect();
    let one = format!("\\s*({})?\\s*", alternatives.join("|"));
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{one}(,{one})*$")))
}

/// An RFC 3339 instant.
pub fn instant() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime,
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family the core's types fall into is offered, and nothing else is.
    #[test]
    fn the_change_patterns_cover_every_type_and_family() {
        let schema = serde_json::to_value(change_type().build()).unwrap();
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for k in ChangeKind::ALL {
            assert!(listed.contains(&k.as_str()), "{k:?}");
            let family = format!("{}.*", k.as_str().split('.').next().unwrap());
            assert!(listed.contains(&family.as_str()), "{family}");
        }
        assert_eq!(listed.len(), ChangeKind::ALL.len() + 1 + families());
    }

    fn families() -> usize {
        let mut f: Vec<&str> = ChangeKind::ALL
            .iter()
            .map(|k| k.as_str().split('.').next().unwrap())
            .collect();
        f.sort();
        f.dedup();
        f.len()
    }

    /// The pattern, read by a real regex engine, refuses what `OrderId::parse` refuses,
    /// for the characters it names.
    #[test]
    fn the_printable_pattern_agrees_with_the_identifier_rule() {
        let re = regex::Regex::new(&printable_pattern()).unwrap();
        for s in ["order1", "订单-42", "a\u{1F600}b"] {
            assert!(re.is_match(s), "{s:?}");
            assert!(waybill_core::OrderId::parse(s).is_ok());
        }
        for s in [
            "a b",
            "a\tb",
            "a\u{200b}b",
            "a\u{feff}",
            "\u{85}x",
            "",
            "a\u{e0041}",
        ] {
            assert!(!re.is_match(s), "{s:?}");
            assert!(waybill_core::OrderId::parse(s).is_err());
        }
    }
}
