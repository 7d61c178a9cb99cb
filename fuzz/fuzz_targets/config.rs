//! The TOML config (`config::Config::parse`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = clustermatch::config::Config::parse("f.toml", text) {
            let _ = config.to_toml();
        }
    }
});
