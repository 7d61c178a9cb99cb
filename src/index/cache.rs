//! What the queries of a snapshot read from its index, kept for the next queries of the same
//! snapshot: term lookups and decoded posting lists.
//!
//! **Terms.** A query looks up 100–150 (field, term) pairs in each segment's term dictionary to
//! weigh its candidate terms; the answers (document frequency and where the postings are) never
//! change within a snapshot.
//!
//! **Postings.** Ranking scores every document of a query (the text normaliser is the best BM25 of all
//! candidates), so each query walks the whole posting list of each of its terms. Decoding a list
//! from tantivy's compressed blocks and working out `tf / (tf + norm)` for each posting is most of
//! that work, and the same common terms come back query after query. The first query that needs a
//! (segment, field, term) list decodes it once into `(doc, factor)` pairs; later queries of the
//! same snapshot only multiply each factor by their clause weight and add it in.
//!
//! The factor is tantivy's own (`Bm25Weight::score` is `weight * tf / (tf + norm)` with `norm`
//! from the same table built here), so the scores are bit for bit those of tantivy's scorers (a
//! test in `rank::bm25` checks it). Memory grows with the postings queried, 8 bytes each, at most
//! the size of the decoded index; a snapshot is replaced after every commit and its cache goes
//! with it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::TermInfo;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, SegmentReader, Term};

/// BM25's term-frequency saturation, as tantivy sets it.
const K1: f32 = 1.2;
/// BM25's length normalisation, as tantivy sets it.
const B: f32 = 0.75;

/// One decoded posting: the document and its `tf / (tf + norm)`.
pub type Impact = (u32, f32);

/// Which list: segment ordinal, field and where the postings start in that segment's file.
type Key = (usize, Field, usize);

/// A term's entry in each segment's dictionary (`None` where the segment lacks it).
pub type TermInfos = Arc<[Option<TermInfo>]>;

/// Postings a snapshot keeps decoded at most (8 bytes each: 1 GiB). Past it, lists not yet kept
/// are decoded for the query that needs them and dropped after it. A million generated
/// profiles take about 70 M once every common term has been queried.
pub const MAX_POSTINGS: usize = 128 << 20;

/// Term lookups and decoded posting lists of one snapshot, filled on first use.
pub struct Cache {
    lists: RwLock<FxHashMap<Key, Arc<[Impact]>>>,
    /// Postings in `lists`.
    held: AtomicUsize,
    /// At most this many postings are kept.
    budget: usize,
    /// Per field, term text to its entries.
    terms: RwLock<Vec<(Field, FxHashMap<String, TermInfos>)>>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::with_budget(MAX_POSTINGS)
    }
}

impl Cache {
    /// An empty cache keeping at most `budget` postings decoded.
    pub fn with_budget(budget: usize) -> Cache {
        Cache {
            lists: RwLock::default(),
            held: AtomicUsize::new(0),
            budget,
            terms: RwLock::default(),
        }
    }

    /// The dictionary entries of `term` in `field` in each segment of `searcher` (the
    /// snapshot's), looked up now if no query of this snapshot has yet.
    pub fn term(&self, searcher: &Searcher, field: Field, term: &str) -> TermInfos {
        {
            let terms = self.terms.read().unwrap_or_else(|e| e.into_inner());
            let known = terms.iter().find(|(f, _)| *f == field);
            if let Some(infos) = known.and_then(|(_, map)| map.get(term)) {
                return infos.clone();
            }
        }
        let key = Term::from_field_text(field, term);
        let infos: TermInfos = searcher
            .segment_readers()
            .iter()
            .map(|seg| {
                seg.inverted_index(field)
                    .ok()
                    .and_then(|r| r.get_term_info(&key).ok().flatten())
            })
            .collect();
        let mut terms = self.terms.write().unwrap_or_else(|e| e.into_inner());
        let at = match terms.iter().position(|(f, _)| *f == field) {
            Some(at) => at,
            None => {
                terms.push((field, FxHashMap::default()));
                terms.len() - 1
            }
        };
        terms[at].1.entry(term.to_string()).or_insert(infos).clone()
    }

    /// The decoded postings, in document order, of the term described by `info` in `field` of
    /// segment `ord` of `searcher` (the snapshot's), decoding them now if no query of this
    /// snapshot has yet.
    pub fn postings(
        &self,
        searcher: &Searcher,
        ord: usize,
        field: Field,
        info: &TermInfo,
    ) -> tantivy::Result<Arc<[Impact]>> {
        let key = (ord, field, info.postings_range.start);
        if let Some(list) = self.read().get(&key) {
            return Ok(list.clone());
        }
        let Some(seg) = searcher.segment_readers().get(ord) else {
            return Ok(Arc::from([]));
        };
        let list = decode(seg, field, info, average_length(searcher, field)?)?;
        let mut lists = self.lists.write().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = lists.get(&key) {
            // Another thread decoded it meanwhile.
            return Ok(kept.clone());
        }
        let held = self.held.load(Ordering::Relaxed);
        if held + list.len() <= self.budget {
            self.held.store(held + list.len(), Ordering::Relaxed);
            lists.insert(key, list.clone());
        }
        Ok(list)
    }

    /// Number of postings kept decoded.
    pub fn postings_held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FxHashMap<Key, Arc<[Impact]>>> {
        // A panic while holding a lock cannot leave a half-inserted entry: insertion is one
        // call. So a poisoned lock's data is sound (here and in `term`).
        self.lists.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// BM25's `avgdl` of a field: its tokens over the documents, deleted ones included until a
/// merge purges them, as tantivy's statistics count them.
fn average_length(searcher: &Searcher, field: Field) -> tantivy::Result<f32> {
    let docs = Bm25StatisticsProvider::total_num_docs(searcher)?;
    let tokens = searcher.total_num_tokens(field)?;
    Ok(tokens as f32 / docs.max(1) as f32)
}

/// `norm` of BM25's `tf / (tf + norm)` for each fieldnorm id, exactly as tantivy computes it.
pub fn norm_table(average: f32) -> [f32; 256] {
    let mut table = [0f32; 256];
    for (id, norm) in table.iter_mut().enumerate() {
        let length = FieldNormReader::id_to_fieldnorm(id as u8);
        *norm = K1 * (1.0 - B + B * length as f32 / average);
    }
    table
}

fn decode(
    seg: &SegmentReader,
    field: Field,
    info: &TermInfo,
    average: f32,
) -> tantivy::Result<Arc<[Impact]>> {
    let table = norm_table(average);
    let inverted = seg.inverted_index(field)?;
    let norms = seg.get_fieldnorms_reader(field)?;
    let mut block =
        inverted.read_block_postings_from_terminfo(info, IndexRecordOption::WithFreqs)?;
    let mut list = Vec::with_capacity(info.doc_freq as usize);
    loop {
        let docs = block.docs();
        if docs.is_empty() {
            break;
        }
        for (&doc, &tf) in docs.iter().zip(block.freqs()) {
            let tf = tf as f32;
            let norm = table[norms.fieldnorm_id(doc) as usize];
            list.push((doc, tf / (tf + norm)));
        }
        block.advance();
    }
    Ok(list.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use crate::ProfileIndex;
    use tantivy::DocSet;

    fn profiles(n: usize) -> Vec<Profile> {
        (0..n)
            .map(|i| Profile {
                id: format!("p{i:03}"),
                name: format!("P{i}"),
                country: "FR".into(),
                description: "water ".repeat(1 + i % 5) + &"cluster ".repeat(i % 3),
                ..Profile::default()
            })
            .collect()
    }

    #[test]
    fn decoded_lists_hold_every_posting_and_the_budget_is_kept(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let index = ProfileIndex::in_memory()?;
        index.upsert(&profiles(300))?;
        let snap = index.snapshot();
        let field = index.fields().about;
        let cache = Cache::with_budget(400);
        let mut lengths = Vec::new();
        for word in ["water", "cluster"] {
            let infos = cache.term(&snap.searcher, field, word);
            let info = infos[0].clone().expect("term in the only segment");
            let list = cache.postings(&snap.searcher, 0, field, &info)?;
            // Every posting, in document order, as tantivy's own postings give them.
            let mut postings = snap
                .searcher
                .segment_reader(0)
                .inverted_index(field)?
                .read_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?;
            let mut docs = Vec::new();
            while postings.doc() != tantivy::TERMINATED {
                docs.push(postings.doc());
                postings.advance();
            }
            assert_eq!(list.iter().map(|p| p.0).collect::<Vec<_>>(), docs);
            assert!(list.iter().all(|p| p.1 > 0.0 && p.1 < 1.0));
            lengths.push(list.len());
        }
        // "water" (300 postings) is kept; "cluster" (200) would pass the budget of 400.
        assert_eq!(lengths, vec![300, 200]);
        assert_eq!(cache.postings_held(), 300);
        Ok(())
    }
}
