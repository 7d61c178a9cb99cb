//! CSV profile rows (`input::csv_records`, delimiter detected or given by the first byte) then
//! validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let delimiter = match first % 4 {
        0 => None,
        1 => Some(b','),
        2 => Some(b';'),
        _ => Some(b'\t'),
    };
    if let Ok(records) = clustermatch::input::csv_records("f.csv", rest, delimiter) {
        let _ = clustermatch::input::validate_records("f.csv", &records, &[]);
    }
});
