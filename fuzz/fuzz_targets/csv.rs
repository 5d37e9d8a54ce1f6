//! The CSV event reader (`waybill ingest FILE.csv`) on any input.
#![no_main]

// The harness serves every target; each uses one of its functions.
#[allow(dead_code)]
#[path = "harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::csv(data);
});
