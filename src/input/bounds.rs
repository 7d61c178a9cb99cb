//! Bounds on `.xls` and `.ods` workbooks, checked before calamine reads them.
//!
//! calamine reads `.xlsx` and `.xlsb` cell by cell, but it builds `.xls` and `.ods` sheets as
//! dense grids when it opens the workbook (every sheet, not only the first): one value at A1
//! and one far away make it allocate every cell in between, and an `.xls` DIMENSIONS record
//! makes it reserve the declared rows × columns. So a few bytes can ask for gigabytes. This
//! module walks the same records calamine will (the BIFF records of each sheet of an `.xls`,
//! the rows and cells of each table in an `.ods`'s `content.xml`, streamed), works out the
//! grid each sheet will take, and refuses the file with a located error when the grids would
//! hold more than [`MAX_GRID_CELLS`] cells in all.

use std::io::{BufReader, Cursor, Read};

use quick_xml::events::{BytesStart, Event};

use crate::error::{Diagnostic, Error, Result};

/// The most cells calamine may lay out for the sheets of one `.xls` or `.ods` workbook
/// (4,194,304: e.g. 65,536 rows × 64 columns; about 250 MB of cells and formulas).
pub const MAX_GRID_CELLS: u64 = 1 << 22;

/// The most sheets of an `.xls` workbook read.
const MAX_XLS_SHEETS: usize = 4096;

/// Spreadsheet column name of a 0-based column (`0` → `A`, `16383` → `XFD`).
fn column_name(mut c: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// The extent of a sheet's values: rows and columns, half-open.
#[derive(Default)]
struct Extent {
    rows: Option<(u64, u64)>,
    cols: Option<(u64, u64)>,
}

impl Extent {
    fn add(&mut self, (r0, r1): (u64, u64), (c0, c1): (u64, u64)) {
        self.rows = Some(match self.rows {
            Some((a, b)) => (a.min(r0), b.max(r1)),
            None => (r0, r1),
        });
        self.cols = Some(match self.cols {
            Some((a, b)) => (a.min(c0), b.max(c1)),
            None => (c0, c1),
        });
    }

    fn cells(&self) -> u64 {
        match (self.rows, self.cols) {
            (Some((a, b)), Some((c, d))) => (b - a).saturating_mul(d - c),
            _ => 0,
        }
    }
}

/// Running total of the cells of a workbook's grids; names the cell that passes the limit.
struct Budget<'a> {
    label: &'a str,
    kind: &'a str,
    done: u64,
}

impl Budget<'_> {
    /// Checks a sheet's grid, with `extra` cells already laid out for it; `at` is the 0-based
    /// (row, column) of the value just added (or of the end of a declared range, `declared`).
    fn check(
        &self,
        sheet: &str,
        extent: &Extent,
        extra: u64,
        at: (u64, u64),
        declared: bool,
    ) -> Result<()> {
        let cells = extent.cells().saturating_add(extra);
        let total = self.done.saturating_add(cells);
        if total <= MAX_GRID_CELLS {
            return Ok(());
        }
        let (rows, cols) = match (extent.rows, extent.cols) {
            (Some((a, b)), Some((c, d))) => (b - a, d - c),
            _ => (0, 0),
        };
        let cell = format!("{}{}", column_name(at.1), at.0 + 1);
        let what = if declared {
            format!(
                "declares its cells to run up to {cell}, {} cells",
                extra.max(cells)
            )
        } else {
            format!(
                "has a value in cell {cell}, which spreads it over {rows} rows × {cols} columns"
            )
        };
        let message = format!(
            "sheet \"{sheet}\" {what}; at most {MAX_GRID_CELLS} cells are read from {} files (in all sheets): remove the far-away value or save the sheet as .xlsx or CSV",
            self.kind
        );
        let line = usize::try_from(at.0 + 1).unwrap_or(usize::MAX);
        Err(Error::input(
            Diagnostic::new(self.label, message).at_line(line),
        ))
    }
}

fn bad(label: &str, message: String) -> Error {
    Error::input(Diagnostic::new(label, message))
}

/// The first bytes of a compound file (`.xls`).
const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Checks a workbook held in memory before calamine opens it: `.xls` and `.ods` grids must fit
/// in [`MAX_GRID_CELLS`]; other formats pass.
pub fn check(label: &str, bytes: &[u8]) -> Result<()> {
    if bytes.starts_with(&CFB_MAGIC) {
        return check_xls(label, bytes);
    }
    if bytes.starts_with(b"PK") {
        return check_ods(label, bytes);
    }
    Ok(())
}

fn u16_at(d: &[u8], i: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes([*d.get(i)?, *d.get(i + 1)?])))
}

fn u32_at(d: &[u8], i: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes([
        *d.get(i)?,
        *d.get(i + 1)?,
        *d.get(i + 2)?,
        *d.get(i + 3)?,
    ])))
}

/// BIFF records from `pos`: (type, data); a record cut short ends the walk (calamine fails
/// there too).
fn records(stream: &[u8], pos: usize) -> impl Iterator<Item = (u16, &[u8])> + '_ {
    let mut rest = stream.get(pos..).unwrap_or_default();
    std::iter::from_fn(move || {
        let head = rest.get(..4)?;
        let typ = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let data = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some((typ, data))
    })
}

/// The name in a BIFF8 BoundSheet8 record (a short Unicode string after 6 bytes).
fn sheet_name(data: &[u8]) -> Option<String> {
    let cch = usize::from(*data.get(6)?);
    let wide = *data.get(7)? & 1 == 1;
    let text = data.get(8..)?;
    if wide {
        let units: Vec<u16> = text
            .get(..cch * 2)?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(String::from_utf16_lossy(&units))
    } else {
        Some(text.get(..cch)?.iter().map(|&b| char::from(b)).collect())
    }
}

/// An `.xls` workbook: every sheet's cells (as calamine's `Xls` reads them: each BoundSheet's
/// substream up to its EOF, nested substreams skipped) and DIMENSIONS records.
fn check_xls(label: &str, bytes: &[u8]) -> Result<()> {
    let unreadable =
        |e: &dyn std::fmt::Display| bad(label, format!("cannot read spreadsheet: {e}"));
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let mut stream = Vec::new();
    let name = if file.is_stream("/Workbook") {
        "/Workbook"
    } else {
        "/Book"
    };
    let mut s = file.open_stream(name).map_err(|e| unreadable(&e))?;
    // The stream is no longer than the file, which is capped before this.
    s.read_to_end(&mut stream).map_err(|e| unreadable(&e))?;
    let mut sheets = Vec::new();
    for (typ, data) in records(&stream, 0) {
        match typ {
            0x0085 => {
                let pos = u32_at(data, 0).unwrap_or(u64::MAX);
                let name = sheet_name(data).unwrap_or_else(|| format!("#{}", sheets.len() + 1));
                sheets.push((usize::try_from(pos).unwrap_or(usize::MAX), name));
                if sheets.len() > MAX_XLS_SHEETS {
                    return Err(bad(
                        label,
                        format!("the workbook has more than {MAX_XLS_SHEETS} sheets"),
                    ));
                }
            }
            0x000A => break,
            _ => {}
        }
    }
    let mut budget = Budget {
        label,
        kind: ".xls",
        done: 0,
    };
    for (pos, sheet) in sheets {
        let mut extent = Extent::default();
        let mut reserved = 0u64;
        let (mut seen_bof, mut depth) = (false, 0usize);
        for (typ, data) in records(&stream, pos) {
            if depth > 0 {
                match typ {
                    0x0809 => depth += 1,
                    0x000A => depth -= 1,
                    _ => {}
                }
                continue;
            }
            let at = |d: &[u8]| Some((u16_at(d, 0)?, u16_at(d, 2)?));
            match typ {
                0x0809 if seen_bof => depth += 1,
                0x0809 => seen_bof = true,
                0x000A => break,
                // DIMENSIONS: calamine reserves rows × columns cells, with its own reading of
                // the record (u32 arithmetic that wraps on a reversed range).
                0x0200 => {
                    let (rf, rl, cf, cl) = match data.len() {
                        10 => (
                            u16_at(data, 0),
                            u16_at(data, 2),
                            u16_at(data, 4),
                            u16_at(data, 6),
                        ),
                        14 | 16 => (
                            u32_at(data, 0),
                            u32_at(data, 4),
                            u16_at(data, 8),
                            u16_at(data, 10),
                        ),
                        _ => continue,
                    };
                    let (Some(rf), Some(rl), Some(mut cf), Some(cl)) = (rf, rl, cf, cl) else {
                        continue;
                    };
                    if cf > 0xFF || cl < cf {
                        cf = 0;
                    }
                    let (rows, cols) = if rl >= 1 && cl >= 1 {
                        (
                            ((rl - 1) as u32).wrapping_sub(rf as u32).wrapping_add(1),
                            ((cl - 1) as u32).wrapping_sub(cf as u32).wrapping_add(1),
                        )
                    } else {
                        (1, 1)
                    };
                    reserved = reserved.max(u64::from(rows).saturating_mul(u64::from(cols)));
                    let last = (rl.saturating_sub(1), cl.saturating_sub(1));
                    budget.check(&sheet, &extent, reserved, last, true)?;
                }
                // Number, Label, RString, BoolErr, Rk, LabelSst, Formula: one cell at row, col.
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                    if let Some((r, c)) = at(data) {
                        extent.add((r, r + 1), (c, c + 1));
                        budget.check(&sheet, &extent, reserved, (r, c), false)?;
                    }
                }
                // MulRk: row, first column, ..., last column.
                0x00BD => {
                    if let (Some((r, c)), Some(last)) = (
                        at(data),
                        data.len().checked_sub(2).and_then(|i| u16_at(data, i)),
                    ) {
                        extent.add((r, r + 1), (c, c.max(last) + 1));
                        budget.check(&sheet, &extent, reserved, (r, c.max(last)), false)?;
                    }
                }
                _ => {}
            }
        }
        budget.done = budget
            .done
            .saturating_add(extent.cells().saturating_add(reserved));
    }
    Ok(())
}

/// The most rows and columns calamine reads from an `.ods` table.
const ODS_MAX_ROWS: u64 = 1_048_576;
const ODS_MAX_COLUMNS: u64 = 16_384;

/// The value of an attribute, as text.
fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| a.value.into_owned())
}

/// A repeat count; a bad one is left to calamine, which rejects it.
fn repeats(e: &BytesStart<'_>, name: &str) -> u64 {
    attr(e, name)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
}

/// Whether a cell's start tag gives it a value or a formula.
fn has_value(e: &BytesStart<'_>) -> bool {
    e.attributes().flatten().any(|a| {
        let k = a.key.as_ref();
        k.starts_with("office:") || k == "table:formula"
    })
}

/// An `.ods` workbook: every table of `content.xml` (streamed) as calamine's `Ods` lays it out:
/// each row's cells up to its last value, then the rows between the first and last with a
/// value (repeats expanded) × the columns between the first and last value.
fn check_ods(label: &str, bytes: &[u8]) -> Result<()> {
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    // calamine reads a zip as OpenDocument only when its `mimetype` says so.
    let mut mime = Vec::new();
    match zip.by_name("mimetype") {
        Ok(m) => {
            if m.take(128).read_to_end(&mut mime).is_err() {
                return Ok(());
            }
        }
        Err(_) => return Ok(()),
    }
    if mime != b"application/vnd.oasis.opendocument.spreadsheet" {
        return Ok(());
    }
    let unreadable =
        |e: &dyn std::fmt::Display| bad(label, format!("cannot read spreadsheet: {e}"));
    let content = zip.by_name("content.xml").map_err(|e| unreadable(&e))?;
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(content));
    let mut budget = Budget {
        label,
        kind: ".ods",
        done: 0,
    };
    let mut buf = Vec::new();
    let mut sheet = String::new();
    let mut extent = Extent::default();
    // Cells laid out row by row before the grid is built.
    let mut laid = 0u64;
    let (mut row, mut row_repeats) = (0u64, 1u64);
    let mut col = 0u64;
    // (first column, end column) of the values of the current row.
    let mut row_values: Option<(u64, u64)> = None;
    // Inside a cell: its first column and repeat count, and whether it holds anything.
    let mut cell: Option<(u64, u64, bool)> = None;
    let mut depth_in_cell = 0usize;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| unreadable(&e))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                if let Some((_, _, value)) = &mut cell {
                    *value = true;
                    if !empty {
                        depth_in_cell += 1;
                    }
                } else {
                    match e.name().as_ref() {
                        "table:table" if !empty => {
                            sheet = attr(&e, "table:name").unwrap_or_default();
                            extent = Extent::default();
                            laid = 0;
                            row = 0;
                        }
                        "table:table-row" => {
                            row_repeats = repeats(&e, "table:number-rows-repeated")
                                .min(ODS_MAX_ROWS.saturating_sub(row));
                            col = 0;
                            row_values = None;
                            if empty {
                                row = row.saturating_add(row_repeats);
                            }
                        }
                        "table:table-cell" | "table:covered-table-cell" => {
                            let n = repeats(&e, "table:number-columns-repeated")
                                .min(ODS_MAX_COLUMNS.saturating_sub(col));
                            let c = (col, n, has_value(&e));
                            if empty {
                                end_cell(c, &mut col, &mut row_values);
                            } else {
                                cell = Some(c);
                                depth_in_cell = 0;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Event::Text(t) => {
                if let Some((_, _, value)) = &mut cell {
                    if !t.as_ref().trim().is_empty() {
                        *value = true;
                    }
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                if let Some((_, _, value)) = &mut cell {
                    *value = true;
                }
            }
            Event::End(e) => {
                if cell.is_some() && depth_in_cell > 0 {
                    depth_in_cell -= 1;
                } else if let Some(c) = cell.take() {
                    end_cell(c, &mut col, &mut row_values);
                } else {
                    match e.name().as_ref() {
                        "table:table-row" => {
                            if let Some((c0, c1)) = row_values {
                                laid = laid.saturating_add(c1);
                                extent.add((row, row + row_repeats), (c0, c1));
                                let at =
                                    ((row + row_repeats).saturating_sub(1), c1.saturating_sub(1));
                                budget.check(&sheet, &extent, laid, at, false)?;
                            }
                            row = row.saturating_add(row_repeats);
                        }
                        "table:table" => {
                            budget.done = budget
                                .done
                                .saturating_add(laid.saturating_add(extent.cells()));
                        }
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

/// Ends a cell: advances the column and widens the row's values when it holds one.
fn end_cell(
    (start, n, value): (u64, u64, bool),
    col: &mut u64,
    row_values: &mut Option<(u64, u64)>,
) {
    *col = start.saturating_add(n);
    if value && n > 0 {
        *row_values = Some(match *row_values {
            Some((a, _)) => (a.min(start), *col),
            None => (start, *col),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::column_name;

    #[test]
    fn column_names() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(16_383), "XFD");
    }
}
