//! Reading profile files: JSONL (one object a line), CSV (list fields `;`-separated; `,` or `;`
//! as delimiter, detected from the header) and spreadsheets (`.xlsx`, `.xls`, `.ods`: first sheet,
//! first row = column names). Every record is validated; a file with errors yields all of them
//! (up to a cap) and no profiles.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

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
    let mut check = ProfileCheck::new(allowed_extra);
    check.start_file(label);
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if let Some((profile, extras)) = check.check(r) {
            out.push(InputProfile {
                profile,
                line: r.line,
                extras,
            });
        }
        if check.is_full() {
            break;
        }
    }
    check.end_file();
    check.finish().map(|_| out)
}

/// Validation of a stream of records from one or more files, one record at a time, keeping only
/// the ids seen (for duplicate detection) and the problems found — never the profiles — so that
/// files of any size can be checked with bounded memory.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clustermatch::input::{jsonl_each, ProfileCheck};
/// let text = "{\"id\":\"a\",\"name\":\"A\",\"country\":\"FR\"}\n{\"id\":\"a\",\"name\":\"B\",\"country\":\"DE\"}\n";
/// let mut check = ProfileCheck::new(&[]);
/// check.start_file("p.jsonl");
/// jsonl_each("p.jsonl", text.as_bytes(), &mut |item| {
///     match item {
///         Ok(record) => { check.check(&record); }
///         Err(problem) => check.error(problem),
///     }
///     !check.is_full()
/// })?;
/// check.end_file();
/// let errors = check.finish().err().map(|e| e.to_string()).unwrap_or_default();
/// assert_eq!(errors, "p.jsonl:2: field \"id\": duplicate id \"a\" (first on line 1)");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ProfileCheck<'a> {
    allowed_extra: &'a [&'a str],
    files: Vec<String>,
    first: HashMap<String, (u32, usize)>,
    errors: Vec<Diagnostic>,
    in_file: usize,
    profiles: usize,
}

impl<'a> ProfileCheck<'a> {
    /// A check that passes through the extra fields named.
    pub fn new(allowed_extra: &'a [&'a str]) -> Self {
        ProfileCheck {
            allowed_extra,
            files: Vec::new(),
            first: HashMap::new(),
            errors: Vec::new(),
            in_file: 0,
            profiles: 0,
        }
    }

    /// Starts the records of a file (its label is used in messages).
    pub fn start_file(&mut self, label: &str) {
        self.files.push(label.to_string());
        self.in_file = 0;
    }

    fn label(&self) -> &str {
        self.files.last().map(String::as_str).unwrap_or("")
    }

    /// Checks one record: the profile when it is valid and its id is new, `None` otherwise (the
    /// problems are kept).
    pub fn check(&mut self, record: &RawRecord) -> Option<(Profile, Extras)> {
        self.in_file += 1;
        let file = self.files.len().saturating_sub(1) as u32;
        match validate(self.label(), record, self.allowed_extra) {
            Ok((profile, extras)) => match self.first.get(&profile.id) {
                Some(&(f, line)) => {
                    let message = if f == file {
                        format!("duplicate id \"{}\" (first on line {line})", profile.id)
                    } else {
                        let other = self.files.get(f as usize).cloned().unwrap_or_default();
                        format!("id \"{}\" is also given in {other}:{line}", profile.id)
                    };
                    let d = Diagnostic::new(self.label(), message)
                        .at_line(record.line)
                        .in_field("id");
                    self.errors.push(d);
                    None
                }
                None => {
                    self.first.insert(profile.id.clone(), (file, record.line));
                    self.profiles += 1;
                    Some((profile, extras))
                }
            },
            Err(mut e) => {
                self.errors.append(&mut e);
                None
            }
        }
    }

    /// Keeps a problem found while reading (a broken line, bad bytes).
    pub fn error(&mut self, d: Diagnostic) {
        self.in_file += 1;
        self.errors.push(d);
    }

    /// Ends the current file: a file without any record is an error.
    pub fn end_file(&mut self) {
        if self.in_file == 0 {
            let d = Diagnostic::new(self.label(), "no profiles in file");
            self.errors.push(d);
        }
    }

    /// Whether enough problems were found to stop reading.
    pub fn is_full(&self) -> bool {
        self.errors.len() > MAX_DIAGNOSTICS * 4
    }

    /// Number of problems found so far.
    pub fn errors(&self) -> usize {
        self.errors.len()
    }

    /// Number of valid profiles seen.
    pub fn profiles(&self) -> usize {
        self.profiles
    }

    /// Whether an id was seen.
    pub fn contains(&self, id: &str) -> bool {
        self.first.contains_key(id)
    }

    /// The number of valid profiles, or every problem found.
    pub fn finish(self) -> Result<usize> {
        if self.errors.is_empty() {
            Ok(self.profiles)
        } else {
            Err(Error::Input(InputErrors::new(self.errors)))
        }
    }
}

/// Reads the raw records of a file in its format, without validating fields.
pub fn read_records(path: &Path) -> Result<Vec<RawRecord>> {
    read_records_with(path, None)
}

/// Like [`read_records`], with the CSV delimiter given (`None`: detected from the header).
pub fn read_records_with(path: &Path, delimiter: Option<u8>) -> Result<Vec<RawRecord>> {
    collect(|f| each_record(path, delimiter, f).map(|_| ()))
}

/// The format of a path, or a located error naming the extensions understood.
pub fn format_of(path: &Path) -> Result<InputFormat> {
    InputFormat::of(path).ok_or_else(|| {
        Error::input(Diagnostic::new(
            path.display().to_string(),
            "unknown file type: use .jsonl, .csv or .xlsx",
        ))
    })
}

/// Streams the raw records of a file to `f`, one at a time, in file order; `f` returns `false`
/// to stop. Problems with one record (broken JSON, bad bytes) are passed to `f` as located
/// [`Diagnostic`]s; only I/O failures and unreadable spreadsheets end the stream with an error.
/// Returns the file's length in bytes.
pub fn each_record(
    path: &Path,
    delimiter: Option<u8>,
    f: &mut dyn FnMut(RecordItem) -> bool,
) -> Result<u64> {
    let format = format_of(path)?;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let label = path.display().to_string();
    each_record_in(&label, format, BufReader::new(file), delimiter, f)?;
    Ok(len)
}

/// Streams the raw records of any reader in a format (see [`each_record`]); the label names the
/// input in messages. Spreadsheets are read whole (they are small); JSONL and CSV stream.
pub fn each_record_in<R: BufRead>(
    label: &str,
    format: InputFormat,
    reader: R,
    delimiter: Option<u8>,
    f: &mut dyn FnMut(RecordItem) -> bool,
) -> Result<()> {
    match format {
        InputFormat::Jsonl => jsonl_each(label, reader, f),
        InputFormat::Csv => csv_each(label, reader, delimiter, f),
        InputFormat::Sheet => sheet_each(label, reader, f),
    }
}

/// One item of a record stream: a raw record, or a located problem with one record.
pub type RecordItem = std::result::Result<RawRecord, Diagnostic>;

/// The longest JSONL line or CSV record accepted, in bytes (1 MiB): longer ones are located
/// errors, so that a missing newline or an unclosed quote cannot make the reader hold a whole
/// file in memory.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Collects a record stream: the records, or every problem found (up to a cap).
fn collect(
    each: impl FnOnce(&mut dyn FnMut(RecordItem) -> bool) -> Result<()>,
) -> Result<Vec<RawRecord>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    each(&mut |item| {
        match item {
            Ok(r) => records.push(r),
            Err(d) => errors.push(d),
        }
        errors.len() <= MAX_DIAGNOSTICS * 4
    })?;
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(Error::Input(InputErrors::new(errors)))
    }
}

fn utf8_line<'b>(
    label: &str,
    line: usize,
    bytes: &'b [u8],
) -> std::result::Result<&'b str, Diagnostic> {
    utf8_in(label, line, bytes, "line")
}

/// Text of a line or cell, or a located error naming the byte (`what`: "line" or "cell").
fn utf8_in<'b>(
    label: &str,
    line: usize,
    bytes: &'b [u8],
    what: &str,
) -> std::result::Result<&'b str, Diagnostic> {
    std::str::from_utf8(bytes).map_err(|e| {
        Diagnostic::new(
            label,
            format!(
                "not valid UTF-8 at byte {} of the {what} (Latin-1 or Windows-1252?); save the file as UTF-8",
                e.valid_up_to() + 1
            ),
        )
        .at_line(line)
    })
}

/// A whole-file error for text saved as UTF-16 (Excel's "Unicode text"), which would otherwise
/// show up as a broken first line.
fn utf16_check(label: &str, head: &[u8]) -> Result<()> {
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err(Error::input(
            Diagnostic::new(
                label,
                "the file is UTF-16 (\"Unicode text\"); save it as UTF-8 (CSV UTF-8 in Excel)",
            )
            .at_line(1),
        ));
    }
    Ok(())
}

fn too_long(label: &str, line: usize, what: &str) -> Diagnostic {
    Diagnostic::new(
        label,
        format!(
            "{what} longer than {} MiB{}",
            MAX_RECORD_BYTES >> 20,
            if what == "record" {
                " (an unclosed quote?)"
            } else {
                " (is this really JSONL?)"
            }
        ),
    )
    .at_line(line)
}

/// Parses JSONL from a reader: one object a line, blank lines skipped, a leading BOM ignored.
pub fn jsonl_records<R: BufRead>(label: &str, reader: R) -> Result<Vec<RawRecord>> {
    collect(|f| jsonl_each(label, reader, f))
}

/// Streams JSONL records from a reader to `f` (see [`each_record`]).
pub fn jsonl_each<R: BufRead>(
    label: &str,
    mut reader: R,
    f: &mut dyn FnMut(RecordItem) -> bool,
) -> Result<()> {
    let io = |source| Error::Io {
        path: label.into(),
        source,
    };
    utf16_check(label, reader.fill_buf().map_err(io)?)?;
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_RECORD_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        line += 1;
        if buf.len() > MAX_RECORD_BYTES && !buf.ends_with(b"\n") {
            skip_line(&mut reader).map_err(io)?;
            if !f(Err(too_long(label, line, "line"))) {
                break;
            }
            continue;
        }
        let start = if line == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let item = match utf8_line(label, line, &buf[start..]) {
            Ok(text) => {
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                json_record(text, line).map_err(|msg| Diagnostic::new(label, msg).at_line(line))
            }
            Err(d) => Err(d),
        };
        if !f(item) {
            break;
        }
    }
    Ok(())
}

fn skip_line<R: BufRead>(reader: &mut R) -> std::io::Result<()> {
    loop {
        let (done, used) = {
            let avail = reader.fill_buf()?;
            if avail.is_empty() {
                return Ok(());
            }
            match avail.iter().position(|b| *b == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, avail.len()),
            }
        };
        reader.consume(used);
        if done {
            return Ok(());
        }
    }
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

/// The delimiter of a CSV header line: `;` (European spreadsheet exports) or tab when they
/// outnumber commas outside quotes, `,` otherwise.
fn detect_delimiter(header: &[u8]) -> u8 {
    let (mut comma, mut semi, mut tab) = (0, 0, 0);
    let mut quoted = false;
    for b in header {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => comma += 1,
            b';' if !quoted => semi += 1,
            b'\t' if !quoted => tab += 1,
            _ => {}
        }
    }
    if semi > comma && semi >= tab {
        b';'
    } else if tab > comma {
        b'\t'
    } else {
        b','
    }
}

/// Parses CSV from a reader: header row of field names, `;`-separated lists inside cells,
/// delimiter `,`, `;` or tab detected from the header unless given.
pub fn csv_records<R: BufRead>(
    label: &str,
    reader: R,
    delimiter: Option<u8>,
) -> Result<Vec<RawRecord>> {
    collect(|f| csv_each(label, reader, delimiter, f))
}

/// A reader that fails once more than [`MAX_RECORD_BYTES`] (plus the CSV reader's buffer) are
/// read past the end of the last complete record.
struct Bounded<R> {
    inner: R,
    read: u64,
    mark: Rc<Cell<u64>>,
}

const TOO_LONG: &str = "record too long";

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.saturating_sub(self.mark.get()) > MAX_RECORD_BYTES as u64 + (64 << 10) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                TOO_LONG,
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Streams CSV records from a reader to `f` (see [`each_record`]).
pub fn csv_each<R: BufRead>(
    label: &str,
    mut reader: R,
    delimiter: Option<u8>,
    f: &mut dyn FnMut(RecordItem) -> bool,
) -> Result<()> {
    let io = |source| Error::Io {
        path: label.into(),
        source,
    };
    let head = reader.fill_buf().map_err(io)?;
    utf16_check(label, head)?;
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(&head[if bom { 3 } else { 0 }..]));
    if bom {
        reader.consume(3);
    }
    let mark = Rc::new(Cell::new(0u64));
    let bounded = Bounded {
        inner: reader,
        read: 0,
        mark: mark.clone(),
    };
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(bounded);
    let mut header: Option<Vec<String>> = None;
    let mut row = csv::ByteRecord::new();
    let mut next_line = 1;
    loop {
        match csv.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let too_long_err =
                    matches!(e.kind(), csv::ErrorKind::Io(io) if io.to_string() == TOO_LONG);
                let d = if too_long_err {
                    too_long(label, next_line, "record")
                } else {
                    let line = e.position().map(|p| p.line() as usize).unwrap_or(next_line);
                    Diagnostic::new(label, format!("broken CSV: {e}")).at_line(line)
                };
                f(Err(d));
                break;
            }
        }
        mark.set(csv.position().byte());
        let line = row
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(next_line);
        next_line = csv.position().line() as usize;
        let mut cells = Vec::with_capacity(row.len());
        let mut bad = None;
        for (i, cell) in row.iter().enumerate() {
            match utf8_in(label, line, cell, "cell") {
                Ok(s) => cells.push(s.to_string()),
                Err(mut d) => {
                    d.field = header
                        .as_ref()
                        .and_then(|h| h.get(i))
                        .filter(|n| !n.is_empty())
                        .cloned();
                    bad = Some(d);
                    break;
                }
            }
        }
        let item = match (bad, &header) {
            (Some(d), _) => Err(d),
            (None, None) => match header_names(label, line, cells) {
                Ok(h) => {
                    header = Some(h);
                    continue;
                }
                Err(d) => {
                    f(Err(d));
                    break;
                }
            },
            (None, Some(names)) => match table_row(label, line, names, cells) {
                Some(r) => r,
                None => continue,
            },
        };
        if !f(item) {
            break;
        }
    }
    Ok(())
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

/// Turns one table row into a record: empty cells are missing values, empty rows are skipped
/// (`None`), cells under unnamed columns must be empty.
fn table_row(label: &str, line: usize, names: &[String], cells: Vec<String>) -> Option<RecordItem> {
    if cells.iter().all(|c| c.trim().is_empty()) {
        return None;
    }
    let mut fields = Vec::new();
    for (i, cell) in cells.into_iter().enumerate() {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        match names.get(i).filter(|n| !n.is_empty()) {
            Some(name) => fields.push((name.clone(), RawValue::Text(cell.to_string()))),
            None => {
                return Some(Err(Diagnostic::new(
                    label,
                    format!(
                        "value \"{cell}\" in column {} which has no name in the header",
                        i + 1
                    ),
                )
                .at_line(line)))
            }
        }
    }
    Some(Ok(RawRecord { line, fields }))
}

/// Text of a date cell: `2025-10-13`, or `2025-10-13 12:59:02` when it has a time of day.
fn excel_date(d: &calamine::ExcelDateTime) -> String {
    if d.is_duration() {
        let secs = (d.as_f64() * 86_400.0).round() as i64;
        return format!("{}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60);
    }
    let (y, mo, da, h, mi, s, _) = d.to_ymd_hms_milli();
    if (h, mi, s) == (0, 0, 0) {
        format!("{y:04}-{mo:02}-{da:02}")
    } else {
        format!("{y:04}-{mo:02}-{da:02} {h:02}:{mi:02}:{s:02}")
    }
}

/// Text of a number cell: whole numbers without `.0`.
fn excel_number(f: f64) -> String {
    RawValue::Number(f).as_text().unwrap_or_default()
}

/// The text of a cell, or the spreadsheet error it holds (`#DIV/0!`...).
type CellText = std::result::Result<String, String>;

fn cell_text(cell: &calamine::DataRef<'_>) -> CellText {
    use calamine::DataRef;
    Ok(match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Float(f) => excel_number(*f),
        DataRef::Int(n) => n.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => excel_date(d),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => return Err(e.to_string()),
    })
}

fn data_text(cell: &calamine::Data) -> CellText {
    use calamine::Data;
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => excel_number(*f),
        Data::Int(n) => n.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => excel_date(d),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(e.to_string()),
    })
}

mod bounds;
pub use bounds::MAX_GRID_CELLS;

/// The widest sheet accepted, in columns (a profile has 13 fields; the rest is room for extras
/// and notes).
pub const MAX_SHEET_COLUMNS: u32 = 1024;

/// Cells of a sheet, sparse by row (see [`sheet_each`]).
type SheetCells = BTreeMap<u32, Vec<(u32, CellText)>>;

/// The first sheet's name and its non-empty cells by row.
fn sheet_cells(label: &str, bytes: Vec<u8>) -> Result<(String, SheetCells)> {
    use calamine::{open_workbook_auto_from_rs, Reader, Sheets};
    let bad = |msg: String| Error::input(Diagnostic::new(label, msg));
    // calamine lays `.xls` and `.ods` sheets out as dense grids when it opens them.
    bounds::check(label, &bytes)?;
    let mut book = open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("cannot read spreadsheet: {e}")))?;
    let Some(first) = book.sheet_names().first().cloned() else {
        return Err(bad("the workbook has no sheet".into()));
    };
    let cant = |e: &dyn std::fmt::Display| bad(format!("cannot read sheet \"{first}\": {e}"));
    // Sparse cells by row: xlsx and xlsb are read cell by cell, because calamine's dense range
    // would allocate rows x columns cells for one far-away cell.
    let mut rows = SheetCells::new();
    let mut add = |(r, c): (u32, u32), text: CellText| {
        if !matches!(&text, Ok(t) if t.is_empty()) {
            rows.entry(r).or_default().push((c, text));
        }
    };
    match &mut book {
        Sheets::Xlsx(x) => {
            let mut cells = x.worksheet_cells_reader(&first).map_err(|e| cant(&e))?;
            while let Some(cell) = cells.next_cell().map_err(|e| cant(&e))? {
                add(cell.get_position(), cell_text(cell.get_value()));
            }
        }
        Sheets::Xlsb(x) => {
            let mut cells = x.worksheet_cells_reader(&first).map_err(|e| cant(&e))?;
            while let Some(cell) = cells.next_cell().map_err(|e| cant(&e))? {
                add(cell.get_position(), cell_text(cell.get_value()));
            }
        }
        _ => {
            let range = book.worksheet_range(&first).map_err(|e| cant(&e))?;
            for (r, c, cell) in range.used_cells() {
                let (r0, c0) = range.start().unwrap_or((0, 0));
                add(
                    (r0.saturating_add(r as u32), c0.saturating_add(c as u32)),
                    data_text(cell),
                );
            }
        }
    }
    Ok((first, rows))
}

/// The largest spreadsheet file read, in bytes (256 MiB); bigger tables should come as CSV.
pub const MAX_SHEET_BYTES: u64 = 256 << 20;

/// Parses the first sheet of a spreadsheet held in memory (`.xlsx`, `.xlsb`, `.xls`, `.ods`).
pub fn sheet_records(label: &str, bytes: &[u8]) -> Result<Vec<RawRecord>> {
    collect(|f| sheet_each(label, bytes, f))
}

/// Streams the rows of the first sheet of a spreadsheet to `f` (see [`each_record`]). Rows are
/// numbered as in the spreadsheet program; the first non-empty row names the columns.
pub fn sheet_each<R: Read>(
    label: &str,
    reader: R,
    f: &mut dyn FnMut(RecordItem) -> bool,
) -> Result<()> {
    let bad = |msg: String| Error::input(Diagnostic::new(label, msg));
    let mut bytes = Vec::new();
    reader
        .take(MAX_SHEET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: label.into(),
            source,
        })?;
    if bytes.len() as u64 > MAX_SHEET_BYTES {
        return Err(bad(format!(
            "spreadsheet larger than {} MiB: export it as CSV",
            MAX_SHEET_BYTES >> 20
        )));
    }
    // calamine has panicked on malformed files (an overflow on a long cell reference, found by
    // fuzzing); such a file is an unreadable spreadsheet, not a crash.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sheet_cells(label, bytes)));
    let (first, rows) = match read {
        Ok(result) => result?,
        Err(_) => {
            return Err(bad(
                "cannot read spreadsheet: the file is malformed".to_string()
            ))
        }
    };
    let mut header: Option<Vec<String>> = None;
    for (r, mut cells) in rows {
        let line = r as usize + 1;
        cells.sort_by_key(|(c, _)| *c);
        let mut texts: Vec<String> = Vec::new();
        let mut item = None;
        for (c, text) in cells {
            if c >= MAX_SHEET_COLUMNS {
                item = Some(Err(Diagnostic::new(
                    label,
                    format!(
                        "sheet \"{first}\" has a value in column {} (at most {MAX_SHEET_COLUMNS} columns are read)",
                        c + 1
                    ),
                )
                .at_line(line)));
                break;
            }
            match text {
                Ok(t) => {
                    texts.resize(c as usize, String::new());
                    texts.push(t);
                }
                Err(e) => {
                    item = Some(Err(Diagnostic::new(
                        label,
                        format!("sheet \"{first}\" has an error cell: {e}"),
                    )
                    .at_line(line)));
                    break;
                }
            }
        }
        let item = match (item, &header) {
            (Some(e), _) => e,
            (None, None) => {
                if texts.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                header = Some(header_names(label, line, texts).map_err(Error::input)?);
                continue;
            }
            (None, Some(names)) => match table_row(label, line, names, texts) {
                Some(r) => r,
                None => continue,
            },
        };
        if !f(item) {
            break;
        }
    }
    Ok(())
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
