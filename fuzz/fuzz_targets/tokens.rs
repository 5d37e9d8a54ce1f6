//! The cursor, `Last-Event-ID` and tracking-token readers on any input.
#![no_main]

// The harness serves every target; each uses one of its functions.
#[allow(dead_code)]
#[path = "harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::tokens(data);
});
