//! A snapshot of the index for ranking: one tantivy [`Searcher`] plus the structured signals of
//! every live profile as flat in-memory columns (row = segment base + doc id), so that scoring a
//! candidate's sector and country parts costs a few array reads.
//!
//! A snapshot is immutable; writers publish a new one after each commit, and readers holding the
//! old one keep a consistent view. The new one is built from the old ([`Snapshot::load_after`]):
//! a segment's columns are read from the index once, the first time a snapshot holds it, so a
//! write costs the segments it made, not the whole index.

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocAddress, DocId, Searcher, SegmentReader};

use super::cache::{Cache, Warmed};
use super::schema::{Fields, INFERRED_BIT};
use crate::taxonomy::SectorSet;

/// Structured signals of one row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// Target country numbers of all rows, concatenated.
    pub targets: Vec<u16>,
    /// First row of each segment.
    pub segment_base: Vec<u32>,
    /// First entry of each segment in `targets`.
    targets_base: Vec<u32>,
    /// Rows of deleted documents, in order.
    pub dead: Vec<u32>,
    /// Term lookups and posting lists decoded by the queries of this snapshot.
    pub cache: Cache,
    /// The columns of each segment, shared with the other snapshots that hold the segment.
    parts: Vec<Arc<Part>>,
    /// Number of live rows.
    live: usize,
}

/// The string columns of one segment: loaded once, when a snapshot first holds the segment,
/// and shared by the snapshots after it, which copy its rows and targets from the snapshot
/// before — a write then reads only the segments it made (at a million profiles the whole
/// load takes about a second).
struct Part {
    segment: SegmentId,
    /// Profile id of each document.
    ids: Vec<String>,
    /// The last document with each id. A delete removes every copy of an id written before
    /// it, so when the last copy in a segment is deleted, so are the earlier ones.
    by_id: HashMap<String, DocId>,
    /// Display names, concatenated (empty in indexes without a name column).
    names: String,
    /// End of each document's name in `names` (empty in indexes without a name column).
    name_ends: Vec<usize>,
}

impl Snapshot {
    /// Loads the columns of every segment of a searcher.
    pub fn load(searcher: Searcher, fields: &Fields) -> tantivy::Result<Snapshot> {
        Self::load_after(searcher, fields, None)
    }

    /// Like [`load`](Self::load), but takes the columns of the segments `previous` holds
    /// from it instead of reading them again; only deletes are read for those.
    pub fn load_after(
        searcher: Searcher,
        fields: &Fields,
        previous: Option<&Snapshot>,
    ) -> tantivy::Result<Snapshot> {
        let readers = searcher.segment_readers();
        let total: usize = readers.iter().map(|s| s.max_doc() as usize).sum();
        // Where each segment sits in `previous`, if it holds it.
        let ordinals = previous.map(|p| p.ordinals_in(readers));
        let mut snap = Snapshot {
            rows: Vec::with_capacity(total),
            targets: Vec::new(),
            segment_base: Vec::with_capacity(readers.len()),
            targets_base: Vec::with_capacity(readers.len()),
            dead: Vec::new(),
            cache: match (previous, &ordinals) {
                (Some(p), Some(ordinals)) => Cache::after(&p.cache, ordinals.clone()),
                _ => Cache::default(),
            },
            parts: Vec::with_capacity(readers.len()),
            live: 0,
            searcher: searcher.clone(),
        };
        for (ord, seg) in readers.iter().enumerate() {
            let known = previous.zip(ordinals.as_ref().and_then(|o| o[ord]));
            match known {
                Some((p, i)) => {
                    let (rows, targets, from) = p.segment(i);
                    snap.add_segment(seg, p.parts[i].clone(), rows, targets, from);
                }
                None => {
                    let (part, rows, targets) = Part::load(seg, &searcher, fields)?;
                    snap.add_segment(seg, Arc::new(part), &rows, &targets, 0);
                }
            }
        }
        Ok(snap)
    }

    /// The ordinal that each of `readers`' segments has in this snapshot (`None`: not held).
    fn ordinals_in(&self, readers: &[SegmentReader]) -> Vec<Option<usize>> {
        readers
            .iter()
            .map(|seg| {
                let id = seg.segment_id();
                self.parts.iter().position(|p| p.segment == id)
            })
            .collect()
    }

    /// The rows and targets of segment `i`, and the index of its first target.
    fn segment(&self, i: usize) -> (&[Row], &[u16], u32) {
        let rows_end = self
            .segment_base
            .get(i + 1)
            .map_or(self.rows.len(), |&e| e as usize);
        let targets_end = self
            .targets_base
            .get(i + 1)
            .map_or(self.targets.len(), |&e| e as usize);
        let (rows_start, from) = (self.segment_base[i], self.targets_base[i]);
        (
            &self.rows[rows_start as usize..rows_end],
            &self.targets[from as usize..targets_end],
            from,
        )
    }

    /// Appends a segment's rows, alive as its deletes say; `from` is the index of the first
    /// of `targets` that the rows' `targets_start` count from.
    fn add_segment(
        &mut self,
        seg: &tantivy::SegmentReader,
        part: Arc<Part>,
        rows: &[Row],
        targets: &[u16],
        from: u32,
    ) {
        let base = self.rows.len() as u32;
        let offset = self.targets.len() as u32;
        self.segment_base.push(base);
        self.targets_base.push(offset);
        self.targets.extend_from_slice(targets);
        for (doc, row) in rows.iter().enumerate() {
            let alive = !seg.is_deleted(doc as DocId);
            if alive {
                self.live += 1;
            } else {
                self.dead.push(base + doc as u32);
            }
            self.rows.push(Row {
                alive,
                targets_start: row.targets_start - from + offset,
                ..*row
            });
        }
        self.parts.push(part);
    }

    /// The row of a live profile id.
    pub fn row_of_id(&self, id: &str) -> Option<u32> {
        // Later segments first: were an id live twice, the later copy would count.
        for (part, &base) in self.parts.iter().zip(&self.segment_base).rev() {
            if let Some(&doc) = part.by_id.get(id) {
                let row = base + doc;
                if self.rows[row as usize].alive {
                    return Some(row);
                }
            }
        }
        None
    }

    /// Whether a profile id is live.
    pub fn contains_id(&self, id: &str) -> bool {
        self.row_of_id(id).is_some()
    }

    /// The profile id of a row (empty for a deleted row).
    pub fn id_of(&self, row: u32) -> &str {
        match self.part_of(row) {
            Some((part, doc)) if self.rows[row as usize].alive => &part.ids[doc as usize],
            _ => "",
        }
    }

    /// The live rows, in order.
    pub fn live_rows(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.rows.len() as u32).filter(|&r| self.rows[r as usize].alive)
    }

    /// The live profile ids, in row order.
    pub fn live_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.live_rows().map(|r| self.id_of(r))
    }

    /// The segment's columns and the document of a row.
    fn part_of(&self, row: u32) -> Option<(&Part, DocId)> {
        let seg = self
            .segment_base
            .partition_point(|b| *b <= row)
            .checked_sub(1)?;
        Some((self.parts.get(seg)?, row - self.segment_base[seg]))
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
        let (part, doc) = self.part_of(row)?;
        let doc = doc as usize;
        let end = *part.name_ends.get(doc)?;
        let start = match doc {
            0 => 0,
            _ => part.name_ends[doc - 1],
        };
        part.names.get(start..end)
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
        self.live
    }

    /// Whether no profile is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

impl Part {
    /// Reads a segment's columns.
    fn load(
        seg: &tantivy::SegmentReader,
        searcher: &Searcher,
        fields: &Fields,
    ) -> tantivy::Result<(Part, Vec<Row>, Vec<u16>)> {
        let ff = seg.fast_fields();
        let schema = searcher.schema();
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
        // Every term of the string columns by ordinal: one pass over each dictionary instead of
        // a (block-decompressing) lookup per document.
        let names_by_ord = match &names {
            Some(col) => Some(dictionary(col)?),
            None => None,
        };
        let ids_by_ord = match &ids {
            Some(col) => dictionary(col)?,
            None => Vec::new(),
        };
        let docs = seg.max_doc() as usize;
        let mut part = Part {
            segment: seg.segment_id(),
            ids: Vec::with_capacity(docs),
            by_id: HashMap::with_capacity(docs),
            names: String::new(),
            name_ends: Vec::new(),
        };
        let (mut rows, mut all_targets) = (Vec::with_capacity(docs), Vec::new());
        for doc in 0..seg.max_doc() {
            let mask = sectors.first(doc).unwrap_or(0);
            let start = all_targets.len() as u32;
            all_targets.extend(
                targets
                    .values_for_doc(doc)
                    .map(|v| v.min(u16::MAX as u64) as u16),
            );
            rows.push(Row {
                sectors: SectorSet(mask & !INFERRED_BIT),
                inferred: mask & INFERRED_BIT != 0,
                country: country.first(doc).unwrap_or(u16::MAX as u64) as u16,
                kind: kind.first(doc).unwrap_or(0) as u8,
                alive: false,
                targets_start: start,
                targets_len: (all_targets.len() as u32 - start) as u16,
            });
            let id = first_term(ids.as_ref(), &ids_by_ord, doc).unwrap_or_default();
            part.by_id.insert(id.to_string(), doc);
            part.ids.push(id.to_string());
            if fields.name.is_some() {
                if let Some(by_ord) = &names_by_ord {
                    let name = first_term(names.as_ref(), by_ord, doc).unwrap_or_default();
                    part.names.push_str(name);
                }
                part.name_ends.push(part.names.len());
            }
        }
        Ok((part, rows, all_targets))
    }
}

/// The first value of a document in a string column, by its term ordinal.
fn first_term<'a>(col: Option<&StrColumn>, by_ord: &'a [String], doc: DocId) -> Option<&'a str> {
    let ord = col?.term_ords(doc).next()?;
    by_ord.get(ord as usize).map(String::as_str)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ProfileIndex;
    use crate::profile::Profile;
    use tantivy::{IndexWriter, TantivyDocument, Term};

    fn profile(id: &str, name: &str, targets: &[&str]) -> Profile {
        Profile {
            id: id.into(),
            name: name.into(),
            country: "DE".into(),
            description: format!("{name} builds membranes for water treatment"),
            target_countries: targets.iter().map(|t| t.to_string()).collect(),
            ..Profile::default()
        }
    }

    /// Asserts that a snapshot built by reloads is the snapshot a fresh load gives, and that it
    /// finds each expected `(id, name)`; returns how many segments it shares with `before`.
    fn check(snap: &Snapshot, fields: &Fields, live: &[(&str, &str)], before: &Snapshot) -> usize {
        let fresh = Snapshot::load(snap.searcher.clone(), fields).unwrap();
        assert_eq!(snap.rows, fresh.rows);
        assert_eq!(snap.targets, fresh.targets);
        assert_eq!(snap.segment_base, fresh.segment_base);
        assert_eq!(snap.dead, fresh.dead);
        assert_eq!(snap.len(), live.len());
        assert_eq!(fresh.len(), live.len());
        for row in 0..snap.rows.len() as u32 {
            assert_eq!(snap.id_of(row), fresh.id_of(row));
            assert_eq!(snap.name_of(row), fresh.name_of(row));
        }
        for (id, name) in live {
            let row = snap
                .row_of_id(id)
                .unwrap_or_else(|| panic!("{id} not found"));
            assert_eq!(fresh.row_of_id(id), Some(row));
            assert_eq!(snap.id_of(row), *id);
            assert_eq!(snap.name_of(row), Some(*name));
        }
        let mut ids: Vec<&str> = snap.live_ids().collect();
        ids.sort_unstable();
        let mut want: Vec<&str> = live.iter().map(|(id, _)| *id).collect();
        want.sort_unstable();
        assert_eq!(ids, want);
        snap.parts
            .iter()
            .filter(|p| before.parts.iter().any(|b| Arc::ptr_eq(p, b)))
            .count()
    }

    #[test]
    fn reloads_reuse_unchanged_segments_and_match_a_fresh_load() -> tantivy::Result<()> {
        let idx = ProfileIndex::in_memory().unwrap();
        let fields = *idx.fields();
        let mut writer: IndexWriter<TantivyDocument> =
            idx.tantivy().writer_with_num_threads(1, 15_000_000)?;
        writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
        // Writes as the index's own sink makes them: a replaced id is deleted, then added.
        let put = |w: &mut IndexWriter<TantivyDocument>, p: &Profile| {
            w.delete_term(Term::from_field_text(fields.id, &p.id));
            w.add_document(idx.document(p)).map(|_| ())
        };
        let mut before = idx.snapshot();

        put(&mut writer, &profile("a", "A", &["CN"]))?;
        put(&mut writer, &profile("b", "B", &[]))?;
        // Replaced within the segment's own write: the first copy is deleted.
        put(&mut writer, &profile("b", "B2", &["US", "CN"]))?;
        writer.commit()?;
        idx.reload().unwrap();
        let live = [("a", "A"), ("b", "B2")];
        assert_eq!(check(&idx.snapshot(), &fields, &live, &before), 0);
        before = idx.snapshot();

        put(&mut writer, &profile("c", "C", &["BR"]))?;
        put(&mut writer, &profile("a", "A2", &[]))?;
        writer.commit()?;
        idx.reload().unwrap();
        let live = [("a", "A2"), ("b", "B2"), ("c", "C")];
        // The first segment's columns are reused; its deletes are new.
        assert_eq!(check(&idx.snapshot(), &fields, &live, &before), 1);
        before = idx.snapshot();

        writer.delete_term(Term::from_field_text(fields.id, "c"));
        writer.commit()?;
        idx.reload().unwrap();
        let live = [("a", "A2"), ("b", "B2")];
        assert_eq!(check(&idx.snapshot(), &fields, &live, &before), 2);
        assert!(idx.snapshot().row_of_id("c").is_none());
        before = idx.snapshot();

        put(&mut writer, &profile("c", "C3", &["JP"]))?;
        writer.commit()?;
        drop(writer);
        idx.reload().unwrap();
        let live = [("a", "A2"), ("b", "B2"), ("c", "C3")];
        assert_eq!(check(&idx.snapshot(), &fields, &live, &before), 2);
        before = idx.snapshot();

        // Merged into one new segment: nothing to reuse.
        idx.optimize().unwrap();
        assert_eq!(check(&idx.snapshot(), &fields, &live, &before), 0);
        assert_eq!(idx.snapshot().segment_base.len(), 1);
        Ok(())
    }
}
