//! Each provider's signature check and push parser on any input.
#![no_main]

#[path = "providers_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::providers(data);
});
