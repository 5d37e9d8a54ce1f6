//! The configuration file (`waybill.toml`) as `waybill` reads it: the TOML into the
//! file's shape, then resolved into settings as every command resolves them (flags and
//! environment absent). Shared by the `config` fuzz target and its corpus replay (a
//! unit test in `crates/waybill/src/settings.rs`); both declare the binary's
//! `settings` module at their root, so `crate::settings` is the same code in each.

/// True when the text was a configuration `waybill` would run with.
pub fn config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(file) = toml::from_str::<crate::settings::FileConfig>(text) else {
        return false;
    };
    crate::settings::Settings::resolve(None, None, None, file).is_ok()
}
