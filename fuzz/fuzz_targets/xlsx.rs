//! Spreadsheets held in memory (`input::sheet_records`: xlsx, xlsb, xls, ods through calamine)
//! then validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = clustermatch::input::sheet_records("f.xlsx", data) {
        let _ = clustermatch::input::validate_records("f.xlsx", &records, &[]);
    }
});
