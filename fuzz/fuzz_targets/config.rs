//! The configuration file reader on any input (built without a sanitizer: it links the
//! server and store crates, whose C parts gain nothing from one; see README.md).
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/waybill/src/settings.rs"]
mod settings;

#[path = "config_harness.rs"]
mod config_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    config_harness::config(data);
});
