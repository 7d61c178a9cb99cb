//! Regression tests for crashes, hangs and unbounded allocations found by fuzzing and by the
//! reliability campaigns (see README, "Reliability"). Each test names what used to go wrong.

use clustermatch::input::{self, csv_records, jsonl_records, sheet_records, validate_records};
use clustermatch::Error;

fn messages(e: Error) -> Vec<String> {
    match e {
        Error::Input(i) => i.diagnostics.iter().map(|d| d.to_string()).collect(),
        other => vec![other.to_string()],
    }
}

/// A sheet with one value in A1 and one in the last cell (XFD1048576) made calamine's dense
/// range allocate 16384 x 1048576 cells (about 400 GB) and abort the process. Cells are now read
/// sparsely and far columns are a located error.
#[test]
fn far_away_cell_does_not_allocate_the_whole_grid() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["id", "name", "country"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("cell");
    }
    for (c, v) in ["far-a", "Far A", "FR"].iter().enumerate() {
        sheet.write_string(1, c as u16, *v).expect("cell");
    }
    sheet.write_string(1_048_575, 16_383, "x").expect("cell");
    let bytes = book.save_to_buffer().expect("save");
    let e = messages(sheet_records("far.xlsx", &bytes).expect_err("far cell"));
    assert_eq!(
        e,
        vec!["far.xlsx:1048576: sheet \"Sheet1\" has a value in column 16384 (at most 1024 columns are read)"]
    );
    // A far row alone is fine: rows are sparse.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["id", "name", "country"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("cell");
    }
    for (c, v) in ["far-b", "Far B", "DE"].iter().enumerate() {
        sheet.write_string(1_048_575, c as u16, *v).expect("cell");
    }
    let bytes = book.save_to_buffer().expect("save");
    let recs = sheet_records("far.xlsx", &bytes).expect("records");
    assert_eq!(recs[0].line, 1_048_576);
    let ps = validate_records("far.xlsx", &recs, &[]).expect("valid");
    assert_eq!(ps[0].profile.id, "far-b");
}

/// A JSONL file without newlines (or a binary file) used to be read into one growing line.
#[test]
fn a_line_without_end_is_bounded() {
    let data = vec![b'x'; input::MAX_RECORD_BYTES * 2 + 10];
    let e = messages(jsonl_records("f.jsonl", &data[..]).expect_err("too long"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("f.jsonl:1: line longer than 1 MiB"),
        "{e:?}"
    );
}

/// An unclosed quote made the CSV reader buffer the rest of the file as one field.
#[test]
fn an_unclosed_quote_is_bounded() {
    let mut data = b"id,name,country\n\"a,A,FR\n".to_vec();
    data.extend(std::iter::repeat_n(b'y', input::MAX_RECORD_BYTES * 2));
    let e = messages(csv_records("f.csv", &data[..], None).expect_err("too long"));
    assert_eq!(
        e,
        vec!["f.csv:2: record longer than 1 MiB (an unclosed quote?)"]
    );
}

/// Garbage that looks like a zip or a compound document is an error, not a panic.
#[test]
fn broken_spreadsheets_are_errors() {
    for bytes in [
        &b""[..],
        b"PK\x03\x04garbage",
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1garbage",
        b"id,name,country\n",
    ] {
        let e = sheet_records("f.xlsx", bytes).expect_err("broken");
        assert!(e.to_string().contains("cannot read spreadsheet"), "{e}");
    }
}

/// Found by `fuzz/run.sh` (target `xlsx`): a cell reference with a long run of letters overflows
/// calamine's column arithmetic (`col * 26`, calamine 0.38 `xlsx/mod.rs`), a panic in builds
/// with overflow checks. The file is now an unreadable spreadsheet, not a crash.
#[test]
fn calamine_overflow_on_a_long_cell_reference_is_an_error() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/regression/calamine_ref_overflow.xlsx");
    let bytes = std::fs::read(&path).expect("fixture");
    match sheet_records("f.xlsx", &bytes) {
        Ok(records) => {
            let _ = validate_records("f.xlsx", &records, &[]);
        }
        Err(e) => assert!(e.to_string().contains("f.xlsx: cannot read"), "{e}"),
    }
    // Through the file reader and the CLI's path too.
    let e = input::read_profiles(&path).map(|p| p.len());
    if let Err(e) = e {
        assert!(e.to_string().contains("calamine_ref_overflow.xlsx"), "{e}");
    }
}
