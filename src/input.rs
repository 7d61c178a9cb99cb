//! Reading profile files: JSONL (one object a line), CSV (list fields `;`-separated; `,` or `;`
//! as delimiter, detected from the header) and spreadsheets (`.xlsx`, `.xls`, `.ods`: first sheet,
//! first row = column names). Every record is validated; a file with errors yields all of them
//! (up to a cap) and no profiles.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{Diagnostic, Error, InputErrors, Result, MAX_DIAGNOSTICS};
use crate::profile::{validate, Extras, Profile, RawRecord, RawValue};

/// The file formats profiles can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One JSON object a line (`.jsonl`, `.ndjson`, `.json`).
    Jsonl,
    /// Comma- or semicolon-separated values with a header row (`.csv`, `.txt`).
    Csv,
    /// A spreadsheet (`.xlsx`, `.xlsm`, `.xls`, `.ods`).
    Sheet,
}

impl InputFormat {
    /// The format of a path, from its extension.
    pub fn of(path: &Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(InputFormat::Jsonl),
            "csv" | "txt" => Some(InputFormat::Csv),
            "xlsx" | "xlsm" | "xls" | "ods" => Some(InputFormat::Sheet),
            _ => None,
        }
    }
}

/// A validated profile with its position and any extra fields the caller allowed.
#[derive(Debug, Clone)]
pub struct InputProfile {
    /// The profile.
    pub profile: Profile,
    /// Line or sheet row it came from.
    pub line: usize,
    /// Extra fields (e.g. `availability`), when allowed.
    pub extras: Extras,
}

/// Reads and validates every profile of a file.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("p.jsonl");
/// std::fs::write(&path, r#"{"id":"a","name":"A","country":"fr","sectors":["biotech"]}"#)?;
/// let profiles = clustermatch::input::read_profiles(&path)?;
/// assert_eq!(profiles[0].country, "FR");
/// assert_eq!(profiles[0].sectors, vec!["biopharmaceuticals"]);
/// # Ok(()) }
/// ```
pub fn read_profiles(path: &Path) -> Result<Vec<Profile>> {
    Ok(read_profiles_with(path, &[])?
        .into_iter()
        .map(|p| p.profile)
        .collect())
}

/// Reads and validates every profile of a file, passing through the extra fields named.
pub fn read_profiles_with(path: &Path, allowed_extra: &[&str]) -> Result<Vec<InputProfile>> {
    let label = path.display().to_string();
    let records = read_records(path)?;
    validate_records(&label, &records, allowed_extra)
}

/// Validates raw records from one file: every record, then duplicate ids.
pub fn validate_records(
    label: &str,
    records: &[RawRecord],
    allowed_extra: &[&str],
) -> Result<Vec<InputProfile>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(records.len());
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for r in records {
        match validate(label, r, allowed_extra) {
            Ok((profile, extras)) => {
                if let Some(prev) = first_line.insert(profile.id.clone(), r.line) {
                    errors.push(
                        Diagnostic::new(
                            label,
                            format!("duplicate id \"{}\" (first on line {prev})", profile.id),
                        )
                        .at_line(r.line)
                        .in_field("id"),
                    );
                }
                out.push(InputProfile {
                    profile,
                    line: r.line,
                    extras,
                });
            }
            Err(mut e) => errors.append(&mut e),
        }
        if errors.len() > MAX_DIAGNOSTICS * 4 {
            break;
        }
    }
    if records.is_empty() {
        errors.push(Diagnostic::new(label, "no profiles in file"));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Input(InputErrors::new(errors)))
    }
}

/// Reads the raw records of a file in its format, without validating fields.
pub fn read_records(path: &Path) -> Result<Vec<RawRecord>> {
    let label = path.display().to_string();
    let format = InputFormat::of(path).ok_or_else(|| {
        Error::input(Diagnostic::new(
            &label,
            "unknown file type: use .jsonl, .csv or .xlsx",
        ))
    })?;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    match format {
        InputFormat::Jsonl => {
            let file = File::open(path).map_err(io)?;
            jsonl_records(&label, BufReader::new(file))
        }
        InputFormat::Csv => {
            let file = File::open(path).map_err(io)?;
            csv_records(&label, BufReader::new(file), None)
        }
        InputFormat::Sheet => sheet_records(&label, path),
    }
}

fn finish(label: &str, records: Vec<RawRecord>, errors: Vec<Diagnostic>) -> Result<Vec<RawRecord>> {
    let _ = label;
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(Error::Input(InputErrors::new(errors)))
    }
}

fn utf8_line(label: &str, line: usize, bytes: Vec<u8>) -> std::result::Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        Diagnostic::new(
            label,
            format!(
                "not valid UTF-8 at byte {} of the line (Latin-1 or Windows-1252?); save the file as UTF-8",
                e.utf8_error().valid_up_to() + 1
            ),
        )
        .at_line(line)
    })
}

/// Parses JSONL from a reader: one object a line, blank lines skipped, a leading BOM ignored.
pub fn jsonl_records<R: BufRead>(label: &str, mut reader: R) -> Result<Vec<RawRecord>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::Io {
                path: label.into(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line += 1;
        let bytes = if line == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            buf[3..].to_vec()
        } else {
            std::mem::take(&mut buf)
        };
        let text = match utf8_line(label, line, bytes) {
            Ok(t) => t,
            Err(d) => {
                errors.push(d);
                continue;
            }
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match json_record(text, line) {
            Ok(r) => records.push(r),
            Err(msg) => errors.push(Diagnostic::new(label, msg).at_line(line)),
        }
        if errors.len() > MAX_DIAGNOSTICS * 4 {
            break;
        }
    }
    finish(label, records, errors)
}

fn json_record(text: &str, line: usize) -> std::result::Result<RawRecord, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("broken JSON: {e}"))?;
    record_from_json(value, line)
}

/// Turns one parsed JSON object into a raw record (for [`validate_records`]), the way JSONL lines
/// are read: `null` fields are skipped, arrays become lists. Used by the HTTP service, whose
/// bodies are already parsed.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clustermatch::input::{record_from_json, validate_records};
/// let value = serde_json::json!({"id": "a", "name": "A", "country": "fr"});
/// let record = record_from_json(value, 1)?;
/// let profiles = validate_records("request", &[record], &[])?;
/// assert_eq!(profiles[0].profile.country, "FR");
/// # Ok(()) }
/// ```
pub fn record_from_json(
    value: serde_json::Value,
    line: usize,
) -> std::result::Result<RawRecord, String> {
    let serde_json::Value::Object(map) = value else {
        return Err("expected one JSON object on the line".into());
    };
    let mut fields = Vec::with_capacity(map.len());
    for (k, v) in map {
        let raw = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => RawValue::Text(s),
            serde_json::Value::Number(n) => RawValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        serde_json::Value::String(s) => list.push(s),
                        serde_json::Value::Number(n) => list.push(n.to_string()),
                        _ => {
                            list.clear();
                            break;
                        }
                    }
                }
                RawValue::List(list)
            }
            serde_json::Value::Bool(_) => RawValue::Invalid("a boolean"),
            serde_json::Value::Object(_) => RawValue::Invalid("an object"),
        };
        fields.push((k, raw));
    }
    Ok(RawRecord { line, fields })
}

fn detect_delimiter(header: &[u8]) -> u8 {
    let line = header.split(|b| *b == b'\n').next().unwrap_or(header);
    let count = |d: u8| line.iter().filter(|b| **b == d).count();
    if count(b';') > count(b',') {
        b';'
    } else if count(b'\t') > count(b',') {
        b'\t'
    } else {
        b','
    }
}

/// Parses CSV from a reader: header row of field names, `;`-separated lists inside cells,
/// delimiter `,`, `;` or tab detected from the header unless given.
pub fn csv_records<R: BufRead>(
    label: &str,
    mut reader: R,
    delimiter: Option<u8>,
) -> Result<Vec<RawRecord>> {
    let io = |source| Error::Io {
        path: label.into(),
        source,
    };
    let head = reader.fill_buf().map_err(io)?;
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(&head[if bom { 3 } else { 0 }..]));
    if bom {
        reader.consume(3);
    }
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(reader);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut row = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                errors.push(Diagnostic::new(label, format!("broken CSV: {e}")).at_line(line));
                break;
            }
        }
        let line = row.position().map(|p| p.line() as usize).unwrap_or(0);
        let mut cells = Vec::with_capacity(row.len());
        let mut bad = false;
        for cell in row.iter() {
            match utf8_line(label, line, cell.to_vec()) {
                Ok(s) => cells.push(s),
                Err(d) => {
                    errors.push(d);
                    bad = true;
                    break;
                }
            }
        }
        if bad {
            continue;
        }
        match &header {
            None => match header_names(label, line, cells) {
                Ok(h) => header = Some(h),
                Err(d) => {
                    errors.push(d);
                    break;
                }
            },
            Some(names) => {
                if let Some(r) = table_row(label, line, names, cells, &mut errors) {
                    records.push(r);
                }
            }
        }
        if errors.len() > MAX_DIAGNOSTICS * 4 {
            break;
        }
    }
    finish(label, records, errors)
}

fn header_names(
    label: &str,
    line: usize,
    cells: Vec<String>,
) -> std::result::Result<Vec<String>, Diagnostic> {
    let names: Vec<String> = cells.iter().map(|c| c.trim().to_lowercase()).collect();
    if names.iter().all(|n| n.is_empty()) {
        return Err(Diagnostic::new(label, "the first row must name the columns").at_line(line));
    }
    for (i, n) in names.iter().enumerate() {
        if !n.is_empty() && names[..i].contains(n) {
            return Err(Diagnostic::new(label, "column appears twice")
                .at_line(line)
                .in_field(n.clone()));
        }
    }
    Ok(names)
}

/// Turns one table row into a record: empty cells are missing values, empty rows are skipped,
/// cells under unnamed columns must be empty.
fn table_row(
    label: &str,
    line: usize,
    names: &[String],
    cells: Vec<String>,
    errors: &mut Vec<Diagnostic>,
) -> Option<RawRecord> {
    if cells.iter().all(|c| c.trim().is_empty()) {
        return None;
    }
    let mut fields = Vec::new();
    for (i, cell) in cells.into_iter().enumerate() {
        let cell = cell.trim().to_string();
        if cell.is_empty() {
            continue;
        }
        match names.get(i).filter(|n| !n.is_empty()) {
            Some(name) => fields.push((name.clone(), RawValue::Text(cell))),
            None => errors.push(
                Diagnostic::new(
                    label,
                    format!(
                        "value \"{cell}\" in column {} which has no name in the header",
                        i + 1
                    ),
                )
                .at_line(line),
            ),
        }
    }
    Some(RawRecord { line, fields })
}

fn sheet_records(label: &str, path: &Path) -> Result<Vec<RawRecord>> {
    use calamine::{open_workbook_auto, Data, Reader};
    let bad = |msg: String| Error::input(Diagnostic::new(label, msg));
    let mut book =
        open_workbook_auto(path).map_err(|e| bad(format!("cannot read spreadsheet: {e}")))?;
    let Some(first) = book.sheet_names().first().cloned() else {
        return Err(bad("the workbook has no sheet".into()));
    };
    let range = book
        .worksheet_range(&first)
        .map_err(|e| bad(format!("cannot read sheet \"{first}\": {e}")))?;
    let start_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let start_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for (i, row) in range.rows().enumerate() {
        let line = start_row + i + 1;
        let mut cells: Vec<String> = vec![String::new(); start_col];
        for cell in row {
            cells.push(match cell {
                Data::Empty => String::new(),
                Data::String(s) => s.clone(),
                Data::Float(f) => RawValue::Number(*f).as_text().unwrap_or_default(),
                Data::Int(n) => n.to_string(),
                Data::Bool(b) => b.to_string(),
                Data::DateTime(d) => d.to_string(),
                Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
                Data::Error(e) => {
                    errors.push(
                        Diagnostic::new(label, format!("sheet \"{first}\" has an error cell: {e}"))
                            .at_line(line),
                    );
                    String::new()
                }
            });
        }
        match &header {
            None => {
                if cells.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                match header_names(label, line, cells) {
                    Ok(h) => header = Some(h),
                    Err(d) => return Err(Error::input(d)),
                }
            }
            Some(names) => {
                if let Some(r) = table_row(label, line, names, cells, &mut errors) {
                    records.push(r);
                }
            }
        }
    }
    finish(label, records, errors)
}

/// Reads a whole small file to a string, with the path in the error.
pub fn read_text(path: &Path) -> Result<String> {
    let mut s = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(e: Error) -> Vec<String> {
        match e {
            Error::Input(i) => i.diagnostics.iter().map(|d| d.to_string()).collect(),
            other => vec![other.to_string()],
        }
    }

    #[test]
    fn csv_with_semicolon_lists_and_bom() {
        let data = "\u{feff}id,name,country,sectors\nx,X,de,\"biotech;medical_devices\"\n\n";
        let recs = csv_records("p.csv", data.as_bytes(), None).unwrap();
        let out = validate_records("p.csv", &recs, &[]).unwrap();
        assert_eq!(out[0].profile.sectors.len(), 2);
        assert_eq!(out[0].line, 2);
    }

    #[test]
    fn csv_semicolon_delimited_export_is_detected() {
        let data = "id;name;country\r\nx;X;de\r\n";
        let recs = csv_records("p.csv", data.as_bytes(), None).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].fields[2].1, RawValue::Text("de".into()));
    }

    #[test]
    fn jsonl_reports_broken_lines_and_latin1_with_line_numbers() {
        let mut data = b"{\"id\":\"a\",\"name\":\"A\",\"country\":\"FR\"}\n{broken\n".to_vec();
        data.extend_from_slice(b"{\"id\":\"b\",\"name\":\"Caf\xe9\",\"country\":\"FR\"}\n");
        let e = msgs(jsonl_records("p.jsonl", &data[..]).unwrap_err());
        assert_eq!(e.len(), 2);
        assert!(e[0].starts_with("p.jsonl:2: broken JSON"), "{e:?}");
        assert!(e[1].starts_with("p.jsonl:3: not valid UTF-8"), "{e:?}");
    }

    #[test]
    fn duplicate_ids_are_errors() {
        let data = "id,name,country\na,A,FR\na,B,DE\n";
        let recs = csv_records("p.csv", data.as_bytes(), None).unwrap();
        let e = msgs(validate_records("p.csv", &recs, &[]).unwrap_err());
        assert_eq!(
            e,
            vec!["p.csv:3: field \"id\": duplicate id \"a\" (first on line 2)"]
        );
    }

    #[test]
    fn json_shapes_that_are_not_text_are_errors() {
        let data = br#"{"id":"a","name":{"x":1},"country":"FR"}"#;
        let recs = jsonl_records("p.jsonl", &data[..]).unwrap();
        let e = msgs(validate_records("p.jsonl", &recs, &[]).unwrap_err());
        assert!(
            e[0].contains("field \"name\": expected text, found an object"),
            "{e:?}"
        );
    }

    #[test]
    fn values_under_unnamed_columns_are_errors() {
        let data = "id,name,country\na,A,FR,oops\n";
        let e = msgs(csv_records("p.csv", data.as_bytes(), None).unwrap_err());
        assert!(e[0].contains("column 4 which has no name"), "{e:?}");
    }
}
