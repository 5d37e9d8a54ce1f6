//! Helpers shared by the provider test suites: reading events back, building form
//! bodies, and the fuzzers' structural mutations of a fixture's JSON.

// Each test crate compiles this module whole and uses only some of it.
#![allow(dead_code)]

use proptest::sample::Index;
use serde_json::{Value, json};
use waybill_core::TrackingEvent;
use waybill_providers::{Context, Push};

/// A fixture file's text: `tests/fixtures/{folder}/{name}`.
pub fn fixture(folder: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/{folder}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parsing with times that carry no offset read in `zone`.
pub fn ctx(zone: &str) -> Context {
    Context {
        zone: jiff::tz::TimeZone::get(zone).unwrap(),
    }
}

/// An event's `details`, parsed.
pub fn details(ev: &TrackingEvent) -> Value {
    serde_json::from_str(ev.details.as_deref().unwrap()).unwrap()
}

pub fn ids(push: &Push) -> Vec<String> {
    push.events.iter().map(|e| e.event_id.clone()).collect()
}

pub fn micros(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

/// An `application/x-www-form-urlencoded` body with these fields, in this order.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

// ---------------------------------------------------------------- fuzzing

/// One step of a path into a JSON value.
#[derive(Debug, Clone)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Every path to a value in `v`, in pre-order: the root (the empty path) first.
pub fn paths(v: &Value) -> Vec<Vec<Seg>> {
    fn walk(v: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        out.push(prefix.clone());
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    prefix.push(Seg::Key(k.clone()));
                    walk(c, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    prefix.push(Seg::Index(i));
                    walk(c, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// The value at `path`, if there is one.
pub fn node<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

/// Removes the field or element at `path`; the root, or a path that leads nowhere, is
/// left alone.
pub fn remove(v: &mut Value, path: &[Seg]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (node(v, parent), last) {
        (Some(Value::Object(m)), Seg::Key(k)) => {
            m.remove(k);
        }
        (Some(Value::Array(a)), Seg::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// One structural mutation at the `target`-th node (pre-order), with fixed values: `op`
/// 0 removes it (the root: nulls it), 7 repeats it; ops 4 and 8 write `flag` and
/// `bad_time`, which each suite picks.
pub fn mutate_fixed(root: &mut Value, target: usize, op: u8, flag: bool, bad_time: &str) {
    let all = paths(root);
    let path = &all[target % all.len()];
    if op == 0 && !path.is_empty() {
        remove(root, path);
        return;
    }
    let Some(n) = node(root, path) else { return };
    *n = match op {
        0 | 1 => Value::Null,
        2 => json!(-1.5e300),
        3 => Value::String("9".repeat(100_000)),
        4 => json!(flag),
        5 => json!({}),
        6 => json!([]),
        7 => match n.take() {
            Value::Array(a) => Value::Array(a.iter().chain(&a).chain(&a).cloned().collect()),
            other => json!([other.clone(), other]),
        },
        8 => json!(bad_time),
        9 => Value::String("x".repeat(70)),
        _ => json!(u64::MAX),
    };
}

/// One mutation at the node `pick` chooses, with generated values: `how` 0 removes it
/// (not the root), 2, 3 and 8 write `n` as a number, a boolean and `n / divisor`, 9
/// writes `text`, 4 writes `long_text`; each suite picks the last two.
pub fn mutate_generated(
    v: &mut Value,
    pick: Index,
    how: u8,
    n: i64,
    text: &str,
    long_text: &str,
    divisor: f64,
) {
    let path = pick.get(&paths(v)).clone();
    if how == 0 {
        remove(v, &path);
        return;
    }
    let Some(target) = node(v, &path) else { return };
    *target = match how {
        1 => Value::Null,
        2 => n.into(),
        3 => (n % 2 == 0).into(),
        4 => long_text.into(),
        5 => Value::Array(vec![]),
        6 => Value::Object(Default::default()),
        7 => match target.take() {
            Value::Array(a) => Value::Array(a.iter().chain(a.iter()).cloned().collect()),
            Value::String(s) => s.repeat(3).into(),
            other => Value::Array(vec![other.clone(), other]),
        },
        8 => (n as f64 / divisor).into(),
        _ => text.into(),
    };
}
