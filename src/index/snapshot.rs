//! A snapshot of the index for ranking: one tantivy [`Searcher`] plus the structured signals of
//! every live profile as flat in-memory columns (row = segment base + doc id), so that scoring a
//! candidate's sector and country parts costs a few array reads.
//!
//! A snapshot is immutable; writers publish a new one after each commit, and readers holding the
//! old one keep a consistent view.

use std::collections::HashMap;

use tantivy::columnar::StrColumn;
use tantivy::{DocAddress, DocId, Searcher};

use super::cache::{Cache, Warmed};
use super::schema::{Fields, INFERRED_BIT};
use crate::taxonomy::SectorSet;

/// Structured signals of one row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Row {
    /// Sector set (own or inferred).
    pub sectors: SectorSet,
    /// Whether the sectors were inferred from text.
    pub inferred: bool,
    /// Country number, `u16::MAX` when unknown.
    pub country: u16,
    /// Kind number.
    pub kind: u8,
    /// Whether the row is a live document.
    pub alive: bool,
    /// Start of this row's targets in [`Snapshot::targets`].
    pub targets_start: u32,
    /// Number of target countries.
    pub targets_len: u16,
}

/// An immutable, consistent view of the index for ranking.
pub struct Snapshot {
    /// The tantivy searcher of this view.
    pub searcher: Searcher,
    /// One entry per row.
    pub rows: Vec<Row>,
    /// Profile id of each row (empty for deleted rows).
    pub ids: Vec<String>,
    /// Target country numbers of all rows, concatenated.
    pub targets: Vec<u16>,
    /// First row of each segment.
    pub segment_base: Vec<u32>,
    /// Row of each live id.
    pub by_id: HashMap<String, u32>,
    /// Rows of deleted documents, in order.
    pub dead: Vec<u32>,
    /// Term lookups and posting lists decoded by the queries of this snapshot.
    pub cache: Cache,
    /// Display names of all rows, concatenated (empty in indexes without a name column).
    names: String,
    /// End of each row's name in `names` (empty in indexes without a name column).
    name_ends: Vec<usize>,
}

impl Snapshot {
    /// Loads the columns of every segment of a searcher.
    pub fn load(searcher: Searcher, fields: &Fields) -> tantivy::Result<Snapshot> {
        let total: usize = searcher
            .segment_readers()
            .iter()
            .map(|s| s.max_doc() as usize)
            .sum();
        let mut snap = Snapshot {
            rows: Vec::with_capacity(total),
            ids: Vec::with_capacity(total),
            targets: Vec::new(),
            segment_base: Vec::new(),
            by_id: HashMap::with_capacity(total),
            dead: Vec::new(),
            cache: Cache::default(),
            names: String::new(),
            name_ends: Vec::new(),
            searcher: searcher.clone(),
        };
        for seg in searcher.segment_readers() {
            snap.segment_base.push(snap.rows.len() as u32);
            snap.load_segment(seg, fields)?;
        }
        Ok(snap)
    }

    fn load_segment(
        &mut self,
        seg: &tantivy::SegmentReader,
        fields: &Fields,
    ) -> tantivy::Result<()> {
        let ff = seg.fast_fields();
        let schema = self.searcher.schema();
        let name = |f| schema.get_field_name(f).to_string();
        let sectors = ff.u64(&name(fields.sectors))?;
        let country = ff.u64(&name(fields.country))?;
        let kind = ff.u64(&name(fields.kind))?;
        let targets = ff.u64(&name(fields.targets))?;
        let ids = ff.str(&name(fields.id))?;
        let names = match fields.name {
            Some(f) => ff.str(&name(f))?,
            None => None,
        };
        let names_by_ord = match &names {
            Some(col) => Some(dictionary(col)?),
            None => None,
        };
        // Every id of the segment, by term ordinal: one pass over the dictionary instead of a
        // (block-decompressing) lookup per document.
        let by_ord = match &ids {
            Some(col) => dictionary(col)?,
            None => Vec::new(),
        };
        let mut buf = String::new();
        for doc in 0..seg.max_doc() {
            let alive = !seg.is_deleted(doc);
            let mask = sectors.first(doc).unwrap_or(0);
            let start = self.targets.len() as u32;
            if alive {
                self.targets.extend(
                    targets
                        .values_for_doc(doc)
                        .map(|v| v.min(u16::MAX as u64) as u16),
                );
            }
            let row = Row {
                sectors: SectorSet(mask & !INFERRED_BIT),
                inferred: mask & INFERRED_BIT != 0,
                country: country.first(doc).unwrap_or(u16::MAX as u64) as u16,
                kind: kind.first(doc).unwrap_or(0) as u8,
                alive,
                targets_start: start,
                targets_len: (self.targets.len() as u32 - start) as u16,
            };
            buf.clear();
            if alive {
                if let Some(col) = &ids {
                    if let Some(id) = col
                        .term_ords(doc)
                        .next()
                        .and_then(|ord| by_ord.get(ord as usize))
                    {
                        buf.push_str(id);
                    }
                }
                self.by_id.insert(buf.clone(), self.rows.len() as u32);
            } else {
                self.dead.push(self.rows.len() as u32);
            }
            self.ids
                .push(if alive { buf.clone() } else { String::new() });
            if fields.name.is_some() {
                if let (Some(col), Some(by_ord)) = (&names, &names_by_ord) {
                    if let Some(name) = col
                        .term_ords(doc)
                        .next()
                        .and_then(|ord| by_ord.get(ord as usize))
                    {
                        self.names.push_str(name);
                    }
                }
                self.name_ends.push(self.names.len());
            }
            self.rows.push(row);
        }
        Ok(())
    }

    /// Target country numbers of a row.
    #[inline]
    pub fn targets_of(&self, row: u32) -> &[u16] {
        let r = &self.rows[row as usize];
        let s = r.targets_start as usize;
        &self.targets[s..s + r.targets_len as usize]
    }

    /// The row of a document address.
    #[inline]
    pub fn row_of(&self, segment: u32, doc: DocId) -> u32 {
        self.segment_base[segment as usize] + doc
    }

    /// The document address of a row.
    pub fn address_of(&self, row: u32) -> DocAddress {
        let seg = self.segment_base.partition_point(|b| *b <= row) - 1;
        DocAddress::new(seg as u32, row - self.segment_base[seg])
    }

    /// The display name of a row, read from the index's name column; `None` when the index
    /// has no such column (built by an older version: read the stored profile instead).
    pub fn name_of(&self, row: u32) -> Option<&str> {
        let row = row as usize;
        let end = *self.name_ends.get(row)?;
        let start = match row {
            0 => 0,
            _ => self.name_ends[row - 1],
        };
        self.names.get(start..end)
    }

    /// Decodes this snapshot's longest posting lists of the text fields, and loads their term
    /// dictionaries into the term map, before any query asks (see [`Cache::warm`]): about 3
    /// bytes per posting within `budget` postings.
    pub fn warm(
        &self,
        fields: &Fields,
        budget: usize,
        keep_going: impl Fn() -> bool + Sync,
    ) -> tantivy::Result<Warmed> {
        self.cache
            .warm(&self.searcher, &fields.text_fields(), budget, keep_going)
    }

    /// Number of live profiles.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no profile is live.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Every term of a string column's dictionary, by term ordinal: one sequential pass instead of a
/// (block-decompressing) lookup per document.
fn dictionary(col: &StrColumn) -> tantivy::Result<Vec<String>> {
    let mut by_ord = Vec::with_capacity(col.num_terms());
    let mut stream = col.dictionary().stream()?;
    while stream.advance() {
        by_ord.push(String::from_utf8_lossy(stream.key()).into_owned());
    }
    Ok(by_ord)
}
