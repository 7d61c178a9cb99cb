//! Real-world file quirks, each with a fixture under `tests/data/quirks/`: accepted correctly, or
//! rejected with a message naming the file and line.

mod common;

use std::path::PathBuf;

use clustermatch::input::{self, read_profiles, read_records_with};
use clustermatch::{Error, Profile};
use common::{run, Workspace};

fn quirk(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/quirks")
        .join(name)
}

fn profiles(name: &str) -> Vec<Profile> {
    read_profiles(&quirk(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn errors(name: &str) -> Vec<String> {
    match read_profiles(&quirk(name)) {
        Err(Error::Input(e)) => e.diagnostics.iter().map(|d| d.to_string()).collect(),
        other => panic!("{name}: expected input errors, got {other:?}"),
    }
}

#[test]
fn utf8_bom_is_ignored_in_jsonl_and_csv() {
    for name in ["bom.jsonl", "bom.csv"] {
        let ps = profiles(name);
        assert_eq!(ps.len(), 2, "{name}");
        assert_eq!(
            ps[0].id, "bom-a",
            "{name}: the BOM must not stick to the first key"
        );
        assert_eq!(ps[0].sectors, vec!["biopharmaceuticals"], "{name}");
    }
}

#[test]
fn crlf_line_ends_are_accepted_and_stripped() {
    let ps = profiles("crlf.jsonl");
    assert_eq!(ps.len(), 2);
    let ps = profiles("crlf.csv");
    assert_eq!(ps[0].description, "solar power");
    assert_eq!(ps[1].description, "wine,\r\nand spirits");
}

#[test]
fn latin1_bytes_are_an_error_naming_the_line() {
    let e = errors("latin1.csv");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("latin1.csv:3: field \"name\": not valid UTF-8 at byte 4 of the cell"),
        "{e:?}"
    );
    assert!(e[0].contains("save the file as UTF-8"), "{e:?}");
    let e = errors("latin1.jsonl");
    assert!(e[0].contains("latin1.jsonl:2: not valid UTF-8"), "{e:?}");
}

#[test]
fn utf16_text_is_an_error_saying_so() {
    let e = errors("utf16.csv");
    assert!(e[0].contains("utf16.csv:1: the file is UTF-16"), "{e:?}");
}

#[test]
fn quoted_fields_hold_semicolons_commas_quotes_and_newlines() {
    let ps = profiles("quoted.csv");
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].name, "Quoted, A");
    assert_eq!(ps[0].sectors, vec!["biopharmaceuticals", "medical_devices"]);
    assert_eq!(
        ps[0].description,
        "Line one;\nline two, with comma\nand \"quotes\""
    );
    // The second record starts on line 5 of the file, after the three-line description.
    let recs = read_records_with(&quirk("quoted.csv"), None).expect("records");
    assert_eq!(recs[1].line, 5);
}

#[test]
fn semicolon_exports_are_detected() {
    let ps = profiles("semicolon.csv");
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].name, "Pôle Eau");
    assert_eq!(ps[0].members, Some(120));
    assert_eq!(ps[0].description, "Traitement des eaux, membranes");
    assert!(ps[0]
        .sectors
        .contains(&"environmental_services".to_string()));
    assert!(ps[0].sectors.len() >= 2, "{:?}", ps[0].sectors);
}

#[test]
fn empty_rows_and_trailing_empty_columns_are_skipped() {
    let ps = profiles("empty_rows.csv");
    let ids: Vec<&str> = ps.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec!["q-a", "q-b", "q-c"]);
    let e = errors("stray.csv");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].ends_with("stray.csv:3: value \"oops\" in column 4 which has no name in the header"),
        "{e:?}"
    );
}

#[test]
fn an_overlong_line_is_a_located_error_and_reading_goes_on() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("long.jsonl");
    let mut data = br#"{"id":"ok-a","name":"Ok A","country":"FR"}"#.to_vec();
    data.extend_from_slice(b"\n{\"id\":\"big\",\"name\":\"");
    data.extend(std::iter::repeat_n(b'x', input::MAX_RECORD_BYTES));
    data.extend_from_slice(b"\"}\n{broken\n");
    std::fs::write(&path, data).expect("write");
    let e = match read_profiles(&path) {
        Err(Error::Input(e)) => e.diagnostics,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].line, Some(2));
    assert!(e[0].message.contains("longer than 1 MiB"), "{e:?}");
    assert_eq!(e[1].line, Some(3), "{e:?}");
}

#[test]
fn an_unclosed_quote_in_csv_is_located_not_slurped() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("open.csv");
    let mut data = b"id,name,country\nok-a,\"Ok A,FR\n".to_vec();
    data.extend(std::iter::repeat_n(b"x,y,z\n".as_slice(), 250_000).flatten());
    std::fs::write(&path, data).expect("write");
    let e = match read_profiles(&path) {
        Err(Error::Input(e)) => e.diagnostics,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.len(), 1, "{e:?}");
    let msg = e[0].to_string();
    assert!(
        msg.ends_with("open.csv:2: record longer than 1 MiB (an unclosed quote?)"),
        "{msg}"
    );
}

/// Writes `tests/data/quirks/excel_types.xlsx` (run with `--ignored` to regenerate it).
#[test]
#[ignore]
fn regenerate_xlsx_fixture() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let header = [
        "id", "name", "country", "region", "members", "keywords", "", "",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(1, c as u16, *h).expect("cell");
    }
    // Row 3: a number where text is expected (name), a date (region), a whole number as float.
    sheet.write_number(2, 0, 1001.0).expect("cell");
    sheet.write_number(2, 1, 1848.0).expect("cell");
    sheet.write_string(2, 2, "fr").expect("cell");
    let d = ExcelDateTime::from_ymd(2024, 3, 1).expect("date");
    sheet
        .write_datetime_with_format(2, 3, &d, &date)
        .expect("cell");
    sheet.write_number(2, 4, 120.0).expect("cell");
    sheet.write_number(2, 5, 5.5).expect("cell");
    // Row 4 empty; row 5 a normal row with booleans in keywords.
    sheet.write_string(4, 0, "xl-b").expect("cell");
    sheet.write_string(4, 1, "XL B").expect("cell");
    sheet.write_string(4, 2, "DE").expect("cell");
    sheet.write_boolean(4, 5, true).expect("cell");
    // A formatted but empty trailing column and an empty string cell.
    sheet.write_string(4, 7, "").expect("cell");
    book.save(quirk("excel_types.xlsx")).expect("save");
}

#[test]
fn excel_numbers_and_dates_become_text() {
    let ps = profiles("excel_types.xlsx");
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].id, "1001");
    assert_eq!(ps[0].name, "1848");
    assert_eq!(ps[0].region, "2024-03-01");
    assert_eq!(ps[0].members, Some(120));
    assert_eq!(ps[0].keywords, vec!["5.5"]);
    assert_eq!(ps[1].keywords, vec!["true"]);
    // Rows are numbered as in the spreadsheet: header on row 2, data on rows 3 and 5.
    let recs = read_records_with(&quirk("excel_types.xlsx"), None).expect("records");
    let lines: Vec<usize> = recs.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 5]);
}

#[test]
fn cli_detects_semicolons_and_takes_a_delimiter() {
    let ws = Workspace::empty();
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(quirk("semicolon.csv"));
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let mut c = ws.cmd();
    c.args(["index", "--delimiter", "|", "--input"])
        .arg(quirk("pipe.csv"));
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let mut c = ws.cmd();
    c.args(["show", "p-a"]);
    let (_, out, _) = run(c);
    assert!(out.contains("\"name\": \"Pipe A, Inc\""), "{out}");
    let mut c = ws.cmd();
    c.args(["index", "--delimiter", "ab", "--input"])
        .arg(quirk("pipe.csv"));
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("use one character"), "{err}");
    // A wrong delimiter makes one column: a located message, nothing stored.
    let mut c = ws.cmd();
    c.args(["index", "--delimiter", ";", "--input"])
        .arg(quirk("bom.csv"));
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("bom.csv:2: field \"id,name,country,sectors\": unknown field"),
        "{err}"
    );
}

#[test]
fn cli_reports_latin1_with_the_line_and_stores_nothing() {
    let ws = Workspace::empty();
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(quirk("latin1.csv"));
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("1 problem found; nothing was stored"), "{err}");
    assert!(
        err.contains("latin1.csv:3: field \"name\": not valid UTF-8"),
        "{err}"
    );
    assert!(
        !clustermatch::ProfileIndex::exists(&ws.path("idx")) || {
            let idx = clustermatch::ProfileIndex::open(&ws.path("idx")).expect("open");
            idx.is_empty()
        }
    );
}
