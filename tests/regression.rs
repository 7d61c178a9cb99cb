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

/// A BIFF record: type, length, data.
fn biff(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

/// An `.xls` cell record at (row, col): a Label for text, a Number otherwise.
fn xls_cell(out: &mut Vec<u8>, row: u16, col: u16, value: &str) {
    let mut d = Vec::new();
    d.extend_from_slice(&row.to_le_bytes());
    d.extend_from_slice(&col.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    match value.parse::<f64>() {
        Ok(f) => {
            d.extend_from_slice(&f.to_le_bytes());
            biff(out, 0x0203, &d);
        }
        Err(_) => {
            d.extend_from_slice(&(value.len() as u16).to_le_bytes());
            d.push(0);
            d.extend_from_slice(value.as_bytes());
            biff(out, 0x0204, &d);
        }
    }
}

/// A one-sheet BIFF8 `.xls` workbook (a compound file with a `Workbook` stream) whose sheet
/// holds `records`.
fn xls(records: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let bof = |dt: u16| {
        let mut d = vec![0u8; 16];
        d[..2].copy_from_slice(&0x0600u16.to_le_bytes());
        d[2..4].copy_from_slice(&dt.to_le_bytes());
        d
    };
    let name = b"People";
    let mut globals = Vec::new();
    biff(&mut globals, 0x0809, &bof(0x0005));
    let mut sheet8 = vec![0u8; 6];
    sheet8.extend_from_slice(&[name.len() as u8, 0]);
    sheet8.extend_from_slice(name);
    let at = globals.len() + 4;
    biff(&mut globals, 0x0085, &sheet8);
    biff(&mut globals, 0x000A, &[]);
    let pos = globals.len() as u32;
    globals[at..at + 4].copy_from_slice(&pos.to_le_bytes());
    biff(&mut globals, 0x0809, &bof(0x0010));
    globals.extend_from_slice(records);
    biff(&mut globals, 0x000A, &[]);
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).expect("cfb");
    {
        let mut s = file.create_stream("/Workbook").expect("stream");
        s.write_all(&globals).expect("write");
    }
    file.flush().expect("flush");
    file.into_inner().into_inner()
}

/// The cells of a small people sheet: header and two rows.
fn people(cell: &mut dyn FnMut(u16, u16, &str)) {
    for (r, row) in [
        ["id", "name", "country", "max_meetings"],
        ["xa", "Xls A", "FR", "3"],
        ["xb", "Xls B", "DE", "4"],
    ]
    .iter()
    .enumerate()
    {
        for (c, v) in row.iter().enumerate() {
            cell(r as u16, c as u16, v);
        }
    }
}

/// `.xls` sheets were laid out by calamine as dense grids when the workbook was opened: a value
/// at A1 and one at IV65536 asked for 16.7 million cells, and a DIMENSIONS record reserved the
/// rows × columns it declares (a reversed range wrapped around to billions and aborted the
/// process). Both are now checked before calamine reads the file; normal files still read.
#[test]
fn xls_far_cell_and_declared_range_are_bounded() {
    let mut sheet = Vec::new();
    people(&mut |r, c, v| xls_cell(&mut sheet, r, c, v));
    let ok = xls(&sheet);
    let recs = sheet_records("p.xls", &ok).expect("records");
    let ps = validate_records("p.xls", &recs, &["max_meetings"]).expect("valid");
    assert_eq!(ps.len(), 2);
    assert_eq!((ps[1].profile.id.as_str(), ps[1].line), ("xb", 3));
    assert_eq!(ps[0].extras["max_meetings"].as_text().as_deref(), Some("3"));

    let mut far = sheet.clone();
    xls_cell(&mut far, 65_535, 255, "1");
    let e = messages(sheet_records("far.xls", &xls(&far)).expect_err("far cell"));
    assert_eq!(
        e,
        vec![format!(
            "far.xls:65536: sheet \"People\" has a value in cell IV65536, which spreads it over 65536 rows × 256 columns; at most {} cells are read from .xls files (in all sheets): remove the far-away value or save the sheet as .xlsx or CSV",
            input::MAX_GRID_CELLS
        )]
    );

    // DIMENSIONS: first row 10, last row + 1 = 2 (reversed), columns 0 to 4.
    let mut dims = Vec::new();
    let mut d = Vec::new();
    for v in [10u32, 2] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    for v in [0u16, 4, 0] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    biff(&mut dims, 0x0200, &d);
    dims.extend_from_slice(&sheet);
    let e = messages(sheet_records("dims.xls", &xls(&dims)).expect_err("reversed range"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("dims.xls:2: sheet \"People\" declares its cells to run up to D2, 17179869152 cells; at most"),
        "{e:?}"
    );
}

/// A minimal `.ods` whose first table has `rows` (the `<table:table-row>` elements).
fn ods(rows: &str) -> Vec<u8> {
    use std::io::Write;
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="People">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file("mimetype", o).expect("zip");
    z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .expect("zip");
    z.start_file("META-INF/manifest.xml", o).expect("zip");
    z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#)
        .expect("zip");
    z.start_file("content.xml", o).expect("zip");
    z.write_all(content.as_bytes()).expect("zip");
    z.finish().expect("zip").into_inner()
}

fn ods_rows() -> String {
    let mut rows = String::new();
    let mut row: Vec<String> = Vec::new();
    let mut last = 0;
    people(&mut |r, _, v| {
        if r != last {
            rows.push_str(&format!(
                "<table:table-row>{}</table:table-row>",
                row.join("")
            ));
            row.clear();
            last = r;
        }
        row.push(format!(
            r#"<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>"#
        ));
    });
    // What spreadsheet programs write after the data: empty cells and rows, repeated.
    format!(
        r#"{rows}<table:table-row>{}<table:table-cell table:number-columns-repeated="16380"/></table:table-row><table:table-row table:number-rows-repeated="1048573"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#,
        row.join("")
    )
}

/// `.ods` tables were laid out by calamine as dense grids when the workbook was opened: a value
/// far below and to the right of the data (after a repeated empty row and repeated empty cells,
/// a few dozen bytes) made it lay out up to its own cap of 100 million cells (over 3 GB). The table's extent is now checked while
/// streaming `content.xml`, before calamine reads it; normal files (with the trailing repeated
/// empty rows and cells spreadsheet programs write) still read.
#[test]
fn ods_far_cell_is_bounded() {
    let ok = ods(&ods_rows());
    let recs = sheet_records("p.ods", &ok).expect("records");
    let ps = validate_records("p.ods", &recs, &["max_meetings"]).expect("valid");
    assert_eq!(ps.len(), 2);
    assert_eq!((ps[1].profile.id.as_str(), ps[1].line), ("xb", 3));

    let far = format!(
        r#"{}<table:table-row table:number-rows-repeated="1000000"><table:table-cell/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="16000"/><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>"#,
        ods_rows()
            .split("<table:table-row table:number-rows-repeated")
            .next()
            .unwrap_or_default()
    );
    let e = messages(sheet_records("far.ods", &ods(&far)).expect_err("far cell"));
    assert_eq!(
        e,
        vec![format!(
            "far.ods:1000004: sheet \"People\" has a value in cell WQK1000004, which spreads it over 1000004 rows × 16001 columns; at most {} cells are read from .ods files (in all sheets): remove the far-away value or save the sheet as .xlsx or CSV",
            input::MAX_GRID_CELLS
        )]
    );
}

/// A slot length in hours was multiplied by 60 without a check: `71582789h` wrapped around to
/// 44 minutes in release builds (and panicked in debug builds).
#[test]
fn slot_length_in_hours_does_not_wrap() {
    use clustermatch::event::SessionSpec;
    let e = SessionSpec::parse("09:00-10:00/71582789h").expect_err("too long");
    assert_eq!(
        e,
        "slot length \"71582789h\" in \"09:00-10:00/71582789h\" is longer than the session"
    );
    let e = SessionSpec::parse("09:00-10:00/4294967295h").expect_err("too long");
    assert!(e.contains("longer than the session"), "{e}");
    let s = SessionSpec::parse("09:00-11:00/1h").expect("1h");
    assert_eq!(s.slot_minutes, 60);
}

/// The `jsonl` target timed out (10 s, on a loaded machine) on a 1 KB line with 18 unknown
/// sectors of up to 250 bytes: each "did you mean" compares the value with every code and alias
/// (about 3 ms for a long value), and a 1 MiB record could hold thousands of them — seconds of
/// CPU for one upload. Suggestions are now computed only for the first `MAX_DIAGNOSTICS`
/// problems of a record (the others are cut from the report anyway).
#[test]
fn suggestions_stop_once_a_record_has_enough_problems() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/regression/many_unknown_sectors.jsonl");
    let bytes = std::fs::read(path).expect("fixture");
    let records = jsonl_records("f.jsonl", bytes.as_slice()).expect("parses");
    let e = messages(validate_records("f.jsonl", &records, &[]).expect_err("invalid"));
    assert!(e.len() > 10, "{e:?}");
    assert!(
        e.iter().all(|m| m.starts_with("f.jsonl:1: field ")),
        "{e:?}"
    );

    let sectors: Vec<String> = (0..120).map(|i| format!("biopharmx{i}")).collect();
    let line = serde_json::json!({"id": "x", "name": "X", "country": "FR", "sectors": sectors})
        .to_string();
    let records = jsonl_records("f.jsonl", line.as_bytes()).expect("parses");
    let all = clustermatch::profile::validate("f.jsonl", &records[0], &[]).expect_err("invalid");
    assert_eq!(all.len(), 120);
    let max = clustermatch::error::MAX_DIAGNOSTICS;
    assert!(all[..max]
        .iter()
        .all(|d| d.suggestion.as_deref() == Some("biopharmaceuticals")));
    assert!(all[max..].iter().all(|d| d.suggestion.is_none()));
}

/// The `planner` fuzz target planned the same event twice in one process and got two agendas
/// whose `upper_bound` differed in the last bits: the schedule's edges were in the order of
/// index rows, which depend on how tantivy's indexing threads split the participants into
/// segments, and the bound sums over the edges in that order. Edges now follow the
/// participants' order.
#[test]
fn planning_twice_gives_the_same_agenda() {
    use clustermatch::event::{plan, EventShape, Participant, PlanOptions};
    use clustermatch::Profile;
    // Six look-alike organisations (equal scores, many ties) and two others, as in the input
    // the fuzzer found.
    let participants: Vec<Participant> = (0..8)
        .map(|i| {
            let alike = i < 6;
            Participant {
                profile: Profile {
                    id: [
                        "acme", "beta", "gamma", "eps", "eta", "zeta", "delta", "theta",
                    ][i]
                        .into(),
                    name: format!("P{i}"),
                    country: if alike { "DE" } else { ["IT", "ES"][i - 6] }.into(),
                    description: "treatment".into(),
                    sectors: vec![if alike {
                        "medical_devices"
                    } else {
                        "environmental_services"
                    }
                    .into()],
                    target_countries: if alike { vec!["DE".into()] } else { Vec::new() },
                    ..Profile::default()
                },
                availability: (i == 7).then(Vec::new),
                max_meetings: Some(if alike { 5 } else { 3 - (i - 6) * 2 }),
            }
        })
        .collect();
    let mut shape =
        EventShape::parse_flags(&["08:00-09:00/15m".into()], &[], Some(4)).expect("shape");
    shape.min_score = 0.0;
    let stable = |a: &clustermatch::event::Agenda| {
        let mut a = a.clone();
        a.stats.seconds = Default::default();
        serde_json::to_string(&a).expect("json")
    };
    let first = stable(&plan(&participants, &[], &shape, &PlanOptions::default()).expect("plan"));
    for _ in 0..30 {
        let again = plan(&participants, &[], &shape, &PlanOptions::default()).expect("plan");
        assert_eq!(stable(&again), first);
    }
}

/// The `planner` fuzz target found that two kept meetings of the same pair (in slots 3 and 1,
/// the pair written both ways round) were accepted and one was silently dropped: a pair meets
/// once. Such a list is now refused with a message naming both slots; one kept meeting of the
/// pair is still kept where it was put.
#[test]
fn a_pair_kept_twice_is_refused_not_dropped() {
    use clustermatch::event::{plan, EventShape, LockedMeeting, Participant, PlanOptions};
    use clustermatch::Profile;
    let participants: Vec<Participant> = ["theta", "zeta", "acme", "beta"]
        .iter()
        .map(|id| Participant {
            profile: Profile {
                id: (*id).into(),
                name: id.to_uppercase(),
                country: "DE".into(),
                description: "water treatment".into(),
                sectors: vec!["environmental_services".into()],
                ..Profile::default()
            },
            availability: None,
            max_meetings: None,
        })
        .collect();
    let shape = EventShape::parse_flags(&["08:00-09:00/15m".into()], &[], Some(4)).expect("shape");
    let kept = |slot, table, a: &str, b: &str| LockedMeeting {
        slot,
        table,
        a: a.into(),
        b: b.into(),
    };
    let opts = PlanOptions {
        locked: vec![kept(3, 4, "zeta", "theta"), kept(1, 3, "theta", "zeta")],
        ..PlanOptions::default()
    };
    let err = plan(&participants, &[], &shape, &opts).expect_err("a pair kept twice");
    let text = err.to_string();
    assert!(
        text.contains("slot 1") && text.contains("already has a kept meeting in slot 3"),
        "{text}"
    );
    let opts = PlanOptions {
        locked: vec![kept(3, 4, "zeta", "theta")],
        ..PlanOptions::default()
    };
    let agenda = plan(&participants, &[], &shape, &opts).expect("one kept meeting");
    let m = agenda
        .meetings
        .iter()
        .find(|m| m.a == "theta" && m.b == "zeta")
        .expect("kept meeting in the agenda");
    assert_eq!((m.slot, m.table, m.locked), (3, 4, true));
}
