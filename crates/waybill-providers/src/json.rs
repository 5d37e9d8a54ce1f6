//! Reading a push's JSON as a `serde_json::Value` with the path that led to each object,
//! so that a field of the wrong type is refused with its full name
//! (`msg.checkpoints[2].checkpoint_time`) and everything else is tolerated: unknown
//! fields, nulls, absent optional parts.
//!
//! The provider readers were written apart and word their refusals apart. Each keeps the
//! wording it had ([`Wording`]): the reason is what a quarantined push is stored with.
//! What a reader takes as text differs too, and is said by the method it calls:
//! [`Obj::text`] takes strings and numbers, [`Obj::loose_text`] booleans as well and
//! reads blank text as absent, [`Obj::str`] takes strings only.

use std::marker::PhantomData;

use serde_json::{Map, Value};

use crate::ParseError;

/// How a reader's refusals name what they found.
pub(crate) trait Wording {
    /// What a JSON string is called.
    const STRING: &'static str;
    /// What a body that is not a JSON object is told it should be.
    const BODY: &'static str;

    /// `v`'s type, as in "expected …, found a number".
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => Self::STRING,
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// A JSON string is "text" (these readers take a number as text too), and the body must
/// be "a JSON object": AfterShip, Shippo, Kuaidi100, KDNiao.
pub(crate) enum Text {}

impl Wording for Text {
    const STRING: &'static str = "text";
    const BODY: &'static str = "a JSON object";
}

/// A JSON string is "a string" (these readers take nothing else as text), and the body
/// must be "an object": EasyPost, 17TRACK.
pub(crate) enum Strings {}

impl Wording for Strings {
    const STRING: &'static str = "a string";
    const BODY: &'static str = "an object";
}

/// A JSON object and the path that led to it, so that every refusal names its field.
pub(crate) struct Obj<'a, W: Wording> {
    map: &'a Map<String, Value>,
    path: String,
    wording: PhantomData<W>,
}

impl<'a, W: Wording> Obj<'a, W> {
    /// The body itself: refused as `body`, its fields named by their bare keys.
    pub(crate) fn root(value: &'a Value) -> Result<Self, ParseError> {
        match value {
            Value::Object(map) => Ok(Self::new(map, String::new())),
            other => Err(ParseError::invalid(
                "body",
                format!("expected {}, found {}", W::BODY, W::kind(other)),
            )),
        }
    }

    /// An object found at `path`.
    pub(crate) fn at(value: &'a Value, path: String) -> Result<Self, ParseError> {
        match value {
            Value::Object(map) => Ok(Self::new(map, path)),
            other => Err(ParseError::invalid(
                path,
                format!("expected an object, found {}", W::kind(other)),
            )),
        }
    }

    fn new(map: &'a Map<String, Value>, path: String) -> Self {
        Self {
            map,
            path,
            wording: PhantomData,
        }
    }

    /// The path to this object; empty for the body.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The full name of one of this object's fields.
    pub(crate) fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The refusal of field `key` for holding `found` where `expected` belongs.
    pub(crate) fn expected(&self, key: &str, expected: &str, found: &Value) -> ParseError {
        ParseError::invalid(
            self.field(key),
            format!("expected {expected}, found {}", W::kind(found)),
        )
    }

    /// A present, non-null value.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn object(&self, key: &str) -> Result<Option<Obj<'a, W>>, ParseError> {
        self.get(key)
            .map(|v| Obj::at(v, self.field(key)))
            .transpose()
    }

    /// An array; absent or null is `None` (`unwrap_or_default` reads it as empty).
    pub(crate) fn array(&self, key: &str) -> Result<Option<&'a [Value]>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.expected(key, "an array", other)),
        }
    }

    pub(crate) fn flag(&self, key: &str) -> Result<Option<bool>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.expected(key, "true or false", other)),
        }
    }
}

impl<'a> Obj<'a, Text> {
    /// Text; a number is taken as its decimal text (postal codes sometimes are numbers).
    /// Blank text is kept as it is.
    pub(crate) fn text(&self, key: &str) -> Result<Option<String>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.expected(key, Text::STRING, other)),
        }
    }

    /// A field that the Chinese aggregators send as text, sometimes as a number or a
    /// boolean: either is taken as its text, and blank text is `None` like null and absent.
    pub(crate) fn loose_text(&self, key: &str) -> Result<Option<String>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.expected(key, Text::STRING, other)),
        }
    }
}

impl<'a> Obj<'a, Strings> {
    /// A string, and nothing else. Absent or null: `None`; blank text is kept as it is.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.expected(key, Strings::STRING, other)),
        }
    }

    /// A string that is not blank; anything less is missing.
    pub(crate) fn req_str(&self, key: &str) -> Result<&'a str, ParseError> {
        match self.str(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(ParseError::Missing(self.field(key))),
        }
    }
}

/// Text with its surrounding white space trimmed; `None` when nothing is left.
pub(crate) fn nonempty(s: String) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else if t.len() == s.len() {
        Some(s)
    } else {
        Some(t.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The refusal, as it is stored with a quarantined push.
    fn refusal<T>(r: Result<T, ParseError>) -> String {
        r.err().expect("a refusal").to_string()
    }

    #[test]
    fn refusals_keep_each_readers_wording() {
        let body = json!("x");
        assert_eq!(
            refusal(Obj::<Text>::root(&body)),
            "body: expected a JSON object, found text"
        );
        assert_eq!(
            refusal(Obj::<Strings>::root(&body)),
            "body: expected an object, found a string"
        );

        let v = json!({"a": {"b": [1, true, " ", "s"]}});
        let root = Obj::<Text>::root(&v).unwrap();
        let a = root.object("a").unwrap().unwrap();
        assert_eq!(a.field("b"), "a.b");
        assert_eq!(a.array("b").unwrap().unwrap().len(), 4);
        assert_eq!(a.array("none").unwrap(), None);
        assert_eq!(refusal(a.text("b")), "a.b: expected text, found an array");
        assert_eq!(
            refusal(root.array("a")),
            "a: expected an array, found an object"
        );
        assert_eq!(
            refusal(root.flag("a")),
            "a: expected true or false, found an object"
        );

        let s = Obj::<Strings>::root(&v).unwrap();
        assert_eq!(refusal(s.str("a")), "a: expected a string, found an object");
        assert_eq!(
            s.req_str("none").unwrap_err(),
            ParseError::Missing("none".into())
        );
    }

    #[test]
    fn text_readers_differ_as_documented() {
        let v = json!({"n": 7, "b": true, "blank": "  ", "null": null});
        let t = Obj::<Text>::at(&v, "p".into()).unwrap();
        assert_eq!(t.text("n").unwrap().as_deref(), Some("7"));
        assert_eq!(t.text("blank").unwrap().as_deref(), Some("  "));
        assert!(t.text("b").is_err());
        assert_eq!(t.text("null").unwrap(), None);
        assert_eq!(t.loose_text("n").unwrap().as_deref(), Some("7"));
        assert_eq!(t.loose_text("b").unwrap().as_deref(), Some("true"));
        assert_eq!(t.loose_text("blank").unwrap(), None);

        let s = Obj::<Strings>::at(&v, "p".into()).unwrap();
        assert_eq!(s.str("blank").unwrap(), Some("  "));
        assert_eq!(
            s.str("n").unwrap_err(),
            ParseError::invalid("p.n", "expected a string, found a number")
        );
        assert_eq!(
            s.req_str("blank").unwrap_err(),
            ParseError::Missing("p.blank".into())
        );

        assert_eq!(nonempty(" a ".into()).as_deref(), Some("a"));
        assert_eq!(nonempty(" \t".into()), None);
    }
}
