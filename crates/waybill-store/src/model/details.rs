//! An order's details (its customer and metadata, and whatever else the `created`
//! event that gave them held): a JSON object kept as text, so that numbers keep every
//! digit. A `details_set` record names only the fields an admin sent; they replace the
//! order's, the rest stays.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// The details after `given` is laid over `current`; `None` when nothing changes (or
/// `given` is not an object, which the API never writes).
pub fn merged(current: Option<&str>, given: &str) -> Option<String> {
    let given: BTreeMap<&str, &RawValue> = serde_json::from_str(given).ok()?;
    let mut fields: BTreeMap<&str, &RawValue> = current
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    let mut changed = false;
    for (k, v) in given {
        if v.get() != "null" && fields.get(k).map(|c| c.get()) != Some(v.get()) {
            fields.insert(k, v);
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    serde_json::to_string(&fields).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_sent_replaces_and_the_rest_stays() {
        let now = r#"{"customer":{"email":"a@x.cn"},"metadata":{"n":1e400},"channel":"shop"}"#;
        let out = merged(Some(now), r#"{"customer":{"email":"b@x.cn"}}"#).unwrap();
        assert_eq!(
            out,
            r#"{"channel":"shop","customer":{"email":"b@x.cn"},"metadata":{"n":1e400}}"#
        );
        assert_eq!(
            merged(Some(&out), r#"{"customer":{"email":"b@x.cn"}}"#),
            None
        );
        assert_eq!(merged(Some(&out), r#"{"metadata":null}"#), None);
        assert_eq!(
            merged(None, r#"{"metadata":{"k":1}}"#).as_deref(),
            Some(r#"{"metadata":{"k":1}}"#)
        );
        assert_eq!(merged(Some(now), "[1]"), None);
    }
}
