//! JSONL profile lines: parsing (`input::jsonl_records`) then validation (`validate_records`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = clustermatch::input::jsonl_records("f.jsonl", data) {
        let _ = clustermatch::input::validate_records("f.jsonl", &records, &["availability"]);
    }
});
