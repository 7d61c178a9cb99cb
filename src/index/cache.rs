//! What the queries of a snapshot read from its index, kept for the next queries of the same
//! snapshot: term lookups and decoded posting lists.
//!
//! **Terms.** A query looks up 100–150 (field, term) pairs in each segment's term dictionary to
//! weigh its candidate terms; the answers (document frequency and where the postings are) never
//! change within a snapshot.
//!
//! **Postings.** Ranking scores every document of a query (the text normaliser is the best BM25
//! of all candidates), so each query walks the whole posting list of each of its terms. Decoding
//! a list from tantivy's compressed blocks and working out `tf / (tf + norm)` for each posting is
//! most of that work, and the same common terms come back query after query. The first query
//! that needs a (segment, field, term) list decodes it once into [`Postings`]; later queries of
//! the same snapshot only multiply each factor by their clause weight and add it in.
//!
//! The factor is tantivy's own (`Bm25Weight::score` is `weight * tf / (tf + norm)` with `norm`
//! from the same table built here), so the scores are bit for bit those of tantivy's scorers (a
//! test in `rank::bm25` checks it). Memory grows with the postings queried, about 3 bytes each,
//! within [`MAX_POSTINGS`].
//!
//! **Across writes.** Every commit publishes a new snapshot with a cache of its own
//! ([`Cache::after`]). A segment's postings never change, but the average field length in every
//! factor does, so a list of a segment that both snapshots hold is taken over with the same
//! documents and codes (shared) and its at most 256 factors worked out again from the term
//! frequency and length behind each; the term map is taken over the same way, and only new
//! segments' dictionaries are read. A query right after a write then finds its lists ready
//! instead of decoding them (at a million profiles, 14 ms → 4 ms for the first queries).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::TermInfo;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, SegmentReader, Term};

/// BM25's term-frequency saturation, as tantivy sets it.
pub(crate) const K1: f32 = 1.2;
/// BM25's length normalisation, as tantivy sets it.
const B: f32 = 0.75;

/// A decoded posting list: documents in order, each with its BM25 factor `tf / (tf + norm)`.
///
/// A list holds few distinct factors (one per pair of field length and term frequency met), so
/// most lists keep each factor as a one-byte code into a table of at most 256 values, and their
/// documents as 16-bit gaps (with every 32nd document whole, for lookups): about 3 bytes a
/// posting instead of 8, less memory to stream through per query. Lists with more distinct
/// factors keep them inline.
pub enum Postings {
    /// Documents with a code into `factors` each.
    Coded {
        /// Documents, ascending (shared with the same list in later snapshots).
        docs: Docs,
        /// Index of each document's factor in `factors` (shared like `docs`).
        codes: Arc<[u8]>,
        /// The distinct factors.
        factors: Box<[f32]>,
        /// What each factor is made of, so that a later snapshot can work the factors out
        /// again for its own average length and keep the documents and codes: `None` for a
        /// list that cannot be carried over (see [`Carry`]).
        carry: Option<Carry>,
    },
    /// Documents with their factor, ascending by document.
    Plain(Box<[(u32, f32)]>),
}

/// Every this many postings, [`Docs::Gaps`] keeps the document itself, for lookups.
const MARK_EVERY: usize = 32;

/// The documents of a [`Postings::Coded`] list, ascending.
#[derive(Clone)]
pub enum Docs {
    /// Gaps between consecutive documents (the first gap is from 0) when none exceeds 65,535,
    /// and every 32nd document itself.
    Gaps {
        /// `doc[i] - doc[i - 1]`, with `doc[-1] = 0`.
        gaps: Arc<[u16]>,
        /// `doc[k * MARK_EVERY]`.
        marks: Arc<[u32]>,
    },
    /// The documents themselves.
    Wide(Arc<[u32]>),
}

/// How the factors of a decoded list were made: the field's average length then, and for each
/// code the `tf << 8 | length id` key whose factor it stands for. A list is carried only when
/// each code stands for one key (two keys with the same factor under one average length may
/// not share it under another) and every term frequency fits in 24 bits.
#[derive(Debug, Clone)]
pub struct Carry {
    average: f32,
    keys: Box<[u32]>,
}

/// Number of marks at or below `doc` (what `marks.partition_point(|&m| m <= doc)` gives),
/// found by interpolation: a list's documents spread fairly evenly over the segment, so the
/// guess lands within a few marks of the answer and a short gallop brackets it — a few cache
/// lines, where a binary search over a long list's marks touches a dozen.
fn marks_upto(marks: &[u32], doc: u32) -> usize {
    let n = marks.len();
    let (Some(&first), Some(&last)) = (marks.first(), marks.last()) else {
        return 0;
    };
    if n < 16 {
        return marks.partition_point(|&m| m <= doc);
    }
    if doc < first {
        return 0;
    }
    if doc >= last {
        return n;
    }
    // first <= doc < last, so the guess is in [0, n - 1).
    let guess = (u64::from(doc - first) * (n as u64 - 1) / u64::from(last - first)) as usize;
    let (mut lo, mut hi);
    if marks[guess] <= doc {
        // marks[lo] <= doc; find hi with marks[hi] > doc (marks[n - 1] > doc).
        lo = guess;
        let mut step = 1;
        loop {
            hi = (lo + step).min(n - 1);
            if marks[hi] > doc {
                break;
            }
            lo = hi;
            step *= 2;
        }
    } else {
        // marks[hi] > doc; find lo with marks[lo] <= doc (marks[0] <= doc).
        hi = guess;
        let mut step = 1;
        loop {
            lo = hi.saturating_sub(step);
            if marks[lo] <= doc {
                break;
            }
            hi = lo;
            step *= 2;
        }
    }
    lo + 1 + marks[lo + 1..hi].partition_point(|&m| m <= doc)
}

impl Docs {
    fn len(&self) -> usize {
        match self {
            Docs::Gaps { gaps, .. } => gaps.len(),
            Docs::Wide(docs) => docs.len(),
        }
    }

    fn contains(&self, doc: u32) -> bool {
        match self {
            Docs::Wide(docs) => docs.binary_search(&doc).is_ok(),
            Docs::Gaps { gaps, marks } => {
                let k = marks_upto(marks, doc);
                let Some(&start) = k.checked_sub(1).and_then(|k| marks.get(k)) else {
                    return false;
                };
                let from = (k - 1) * MARK_EVERY + 1;
                let to = (from + MARK_EVERY - 1).min(gaps.len());
                let mut d = start;
                for &gap in gaps.get(from..to).unwrap_or_default() {
                    if d >= doc {
                        break;
                    }
                    d += u32::from(gap);
                }
                d == doc
            }
        }
    }

    /// Calls `f(position, document)` for each document in order.
    #[inline]
    fn each(&self, mut f: impl FnMut(usize, u32)) {
        match self {
            Docs::Wide(docs) => docs.iter().enumerate().for_each(|(i, &d)| f(i, d)),
            Docs::Gaps { gaps, .. } => {
                let mut doc = 0u32;
                for (i, &gap) in gaps.iter().enumerate() {
                    doc = doc.wrapping_add(u32::from(gap));
                    f(i, doc);
                }
            }
        }
    }
}

impl Postings {
    /// Encodes `(document, factor)` pairs (ascending by document), with codes when at most
    /// `max_codes` (≤ 256) distinct factors occur.
    ///
    /// ```
    /// use clustermatch::index::cache::Postings;
    /// let list = Postings::encode(vec![(3, 0.5), (9, 0.25), (70_000, 0.5)], 256);
    /// assert!(list.contains(9) && !list.contains(10));
    /// let mut acc = vec![0f32; 70_001];
    /// list.add_scaled(2.0, &mut acc);
    /// assert_eq!((acc[3], acc[9], acc[70_000]), (1.0, 0.5, 1.0));
    /// assert_eq!(list.pairs(), vec![(3, 0.5), (9, 0.25), (70_000, 0.5)]);
    /// ```
    pub fn encode(pairs: Vec<(u32, f32)>, max_codes: usize) -> Postings {
        let mut encoder = Encoder::new(pairs.len(), max_codes);
        for (doc, f) in pairs {
            encoder.push(doc, u64::from(f.to_bits()), || f);
        }
        encoder.finish(f32::NAN)
    }

    /// Number of postings.
    pub fn len(&self) -> usize {
        match self {
            Postings::Coded { docs, .. } => docs.len(),
            Postings::Plain(pairs) => pairs.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `doc` is in the list.
    pub fn contains(&self, doc: u32) -> bool {
        match self {
            Postings::Coded { docs, .. } => docs.contains(doc),
            Postings::Plain(pairs) => pairs.binary_search_by_key(&doc, |p| p.0).is_ok(),
        }
    }

    /// Sets `found[i]` when `docs[i]` is in the list (`docs` ascending; `found` as long, and
    /// left alone for documents not in the list). A list that is short next to the number of
    /// documents is walked once from its start; a long one is searched for each document.
    pub fn contains_sorted(&self, docs: &[u32], found: &mut [bool]) {
        match self {
            Postings::Coded {
                docs: Docs::Gaps { gaps, .. },
                ..
            } if gaps.len() <= docs.len() * MARK_EVERY => {
                let mut gaps = gaps.iter();
                // The list's current document, `None` before its first.
                let mut current: Option<u32> = None;
                for (f, &doc) in found.iter_mut().zip(docs) {
                    while current.is_none_or(|c| c < doc) {
                        let Some(&gap) = gaps.next() else {
                            return;
                        };
                        current = Some(current.unwrap_or(0) + u32::from(gap));
                    }
                    *f |= current == Some(doc);
                }
            }
            _ => {
                for (f, &doc) in found.iter_mut().zip(docs) {
                    *f |= self.contains(doc);
                }
            }
        }
    }

    /// Adds `weight · factor` of every posting to `acc[doc]` (documents beyond `acc` are
    /// skipped). The product is the same float whichever form the list has.
    #[inline]
    pub fn add_scaled(&self, weight: f32, acc: &mut [f32]) {
        match self {
            Postings::Coded {
                docs,
                codes,
                factors,
                ..
            } => {
                let mut scaled = [0f32; 256];
                for (s, f) in scaled.iter_mut().zip(factors.iter()) {
                    *s = weight * f;
                }
                match docs {
                    Docs::Wide(docs) => {
                        for (&doc, &code) in docs.iter().zip(codes.iter()) {
                            if let Some(a) = acc.get_mut(doc as usize) {
                                *a += scaled[code as usize];
                            }
                        }
                    }
                    Docs::Gaps { gaps, .. } => {
                        let mut doc = 0usize;
                        for (&gap, &code) in gaps.iter().zip(codes.iter()) {
                            doc += usize::from(gap);
                            if let Some(a) = acc.get_mut(doc) {
                                *a += scaled[code as usize];
                            }
                        }
                    }
                }
            }
            Postings::Plain(pairs) => {
                for &(doc, f) in pairs.iter() {
                    if let Some(a) = acc.get_mut(doc as usize) {
                        *a += weight * f;
                    }
                }
            }
        }
    }

    /// The same list for a snapshot whose field has `average` length: the list itself when
    /// the average has not changed, else the same documents and codes with the factors worked
    /// out again from their keys (as decoding works them out, so bit for bit the factors a
    /// fresh decoding gives). `None` for a list that cannot be carried.
    pub fn carried(self: &Arc<Self>, average: f32) -> Option<Arc<Postings>> {
        let Postings::Coded {
            docs,
            codes,
            carry: Some(carry),
            ..
        } = &**self
        else {
            return None;
        };
        if carry.average.to_bits() == average.to_bits() {
            return Some(self.clone());
        }
        let factors = carry
            .keys
            .iter()
            .map(|&key| {
                let norm = length_norm((key & 0xff) as u8, average);
                let tf = (key >> 8) as f32;
                tf / (tf + norm)
            })
            .collect();
        Some(Arc::new(Postings::Coded {
            docs: docs.clone(),
            codes: codes.clone(),
            factors,
            carry: Some(Carry {
                average,
                keys: carry.keys.clone(),
            }),
        }))
    }

    /// The postings as `(document, factor)` pairs.
    pub fn pairs(&self) -> Vec<(u32, f32)> {
        match self {
            Postings::Coded {
                docs,
                codes,
                factors,
                ..
            } => {
                let mut out = Vec::with_capacity(docs.len());
                docs.each(|i, d| out.push((d, factors[codes[i] as usize])));
                out
            }
            Postings::Plain(pairs) => pairs.to_vec(),
        }
    }
}

/// The slot of a key in [`Encoder`]'s hashed memo.
#[inline]
fn memo_slot(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

/// Keys below this have their codes in [`Encoder`]'s direct table (`tf << 8 | length id` for term
/// frequencies up to 4).
const DIRECT_KEYS: usize = 5 << 8;

/// Builds a [`Postings`] one posting at a time, in document order: decoding a list is one pass
/// with no list of pairs in between. The result is the same whatever the order in which the
/// forms are found out: a gap over 65,535 turns the gaps into whole documents, more than
/// `max_codes` distinct factors turn everything into plain pairs.
struct Encoder {
    max_codes: usize,
    form: Form,
    /// The distinct factors, in order of first use.
    factors: Vec<f32>,
    /// The key of each factor, while the list can be carried ([`Carry`]); `None` once it
    /// cannot (or when it is not built by [`decode`]).
    keys: Option<Vec<u32>>,
    /// Factor bits to code.
    codes_of: FxHashMap<u32, u8>,
    /// Codes of the keys below [`DIRECT_KEYS`], plus one (0: not known yet): decoding's keys for
    /// term frequencies up to 4, whatever the length, so most postings need one look-up.
    direct: [u16; DIRECT_KEYS],
    /// A direct-mapped memo of the other keys to codes, in front of the factor: a list has few
    /// distinct (term frequency, length) pairs, so most postings need no division.
    memo: [(u64, u8); 64],
    /// The last document pushed.
    prev: u32,
}

enum Form {
    Gaps {
        gaps: Vec<u16>,
        marks: Vec<u32>,
        codes: Vec<u8>,
    },
    Wide {
        docs: Vec<u32>,
        codes: Vec<u8>,
    },
    Plain(Vec<(u32, f32)>),
}

impl Encoder {
    fn new(len: usize, max_codes: usize) -> Encoder {
        Encoder {
            max_codes: max_codes.min(256),
            form: Form::Gaps {
                gaps: Vec::with_capacity(len),
                marks: Vec::with_capacity(len.div_ceil(MARK_EVERY)),
                codes: Vec::with_capacity(len),
            },
            factors: Vec::new(),
            keys: None,
            codes_of: FxHashMap::default(),
            direct: [0; DIRECT_KEYS],
            memo: [(u64::MAX, 0); 64],
            prev: 0,
        }
    }

    /// Adds the posting of `doc` (above the last one), whose factor is `factor()`; `key`
    /// stands for the factor (equal keys, equal factors) and is below `u64::MAX`, which marks
    /// an empty memo slot (both callers' keys fit in 40 bits).
    #[inline]
    fn push(&mut self, doc: u32, key: u64, factor: impl FnOnce() -> f32) {
        if let Form::Plain(pairs) = &mut self.form {
            pairs.push((doc, factor()));
            return;
        }
        let code = match self.known(key) {
            Some(code) => code,
            None => {
                let f = factor();
                match self.code_of(f) {
                    Some(code) => {
                        self.remember(key, code);
                        self.note_key(code, key);
                        code
                    }
                    None => {
                        let mut pairs = self.pairs_so_far();
                        pairs.push((doc, f));
                        self.form = Form::Plain(pairs);
                        return;
                    }
                }
            }
        };
        match &mut self.form {
            Form::Gaps { gaps, marks, codes } => match u16::try_from(doc.wrapping_sub(self.prev)) {
                Ok(gap) => {
                    if gaps.len() % MARK_EVERY == 0 {
                        marks.push(doc);
                    }
                    gaps.push(gap);
                    codes.push(code);
                }
                Err(_) => {
                    self.make_wide();
                    if let Form::Wide { docs, codes } = &mut self.form {
                        docs.push(doc);
                        codes.push(code);
                    }
                }
            },
            Form::Wide { docs, codes } => {
                docs.push(doc);
                codes.push(code);
            }
            Form::Plain(_) => {}
        }
        self.prev = doc;
    }

    /// The code remembered for a key, if any.
    #[inline]
    fn known(&self, key: u64) -> Option<u8> {
        match usize::try_from(key).ok().and_then(|k| self.direct.get(k)) {
            Some(&code) => code.checked_sub(1).map(|c| c as u8),
            None => match self.memo[memo_slot(key)] {
                (k, code) if k == key => Some(code),
                _ => None,
            },
        }
    }

    /// Remembers the code of a key.
    #[inline]
    fn remember(&mut self, key: u64, code: u8) {
        match usize::try_from(key)
            .ok()
            .and_then(|k| self.direct.get_mut(k))
        {
            Some(slot) => *slot = u16::from(code) + 1,
            None => self.memo[memo_slot(key)] = (key, code),
        }
    }

    /// Notes that `code` stands for `key`: a second key for one code, or a key past 32 bits,
    /// makes the list one that cannot be carried.
    fn note_key(&mut self, code: u8, key: u64) {
        let Some(keys) = &mut self.keys else {
            return;
        };
        let key = u32::try_from(key).ok();
        match (keys.get(usize::from(code)), key) {
            (None, Some(key)) if keys.len() == usize::from(code) => keys.push(key),
            (Some(&known), Some(key)) if known == key => {}
            _ => self.keys = None,
        }
    }

    /// The code of a factor, `None` when a new one would pass `max_codes`.
    fn code_of(&mut self, f: f32) -> Option<u8> {
        if let Some(&code) = self.codes_of.get(&f.to_bits()) {
            return Some(code);
        }
        if self.factors.len() >= self.max_codes {
            return None;
        }
        let code = self.factors.len() as u8;
        self.factors.push(f);
        self.codes_of.insert(f.to_bits(), code);
        Some(code)
    }

    fn make_wide(&mut self) {
        if let Form::Gaps { gaps, codes, .. } = &mut self.form {
            self.form = Form::Wide {
                docs: documents(gaps).collect(),
                codes: std::mem::take(codes),
            };
        }
    }

    fn pairs_so_far(&self) -> Vec<(u32, f32)> {
        let factor = |code: &u8| self.factors.get(usize::from(*code)).copied().unwrap_or(0.0);
        match &self.form {
            Form::Gaps { gaps, codes, .. } => documents(gaps)
                .zip(codes)
                .map(|(d, c)| (d, factor(c)))
                .collect(),
            Form::Wide { docs, codes } => docs
                .iter()
                .zip(codes)
                .map(|(&d, c)| (d, factor(c)))
                .collect(),
            Form::Plain(pairs) => pairs.clone(),
        }
    }

    /// The list; `average` is the length its factors were worked out for.
    fn finish(self, average: f32) -> Postings {
        let factors = self.factors.into();
        let carry = self.keys.map(|keys| Carry {
            average,
            keys: keys.into(),
        });
        match self.form {
            Form::Gaps { gaps, marks, codes } => Postings::Coded {
                docs: Docs::Gaps {
                    gaps: gaps.into(),
                    marks: marks.into(),
                },
                codes: codes.into(),
                factors,
                carry,
            },
            Form::Wide { docs, codes } => Postings::Coded {
                docs: Docs::Wide(docs.into()),
                codes: codes.into(),
                factors,
                carry,
            },
            Form::Plain(pairs) => Postings::Plain(pairs.into()),
        }
    }
}

/// The documents of gaps (the first gap is from 0).
fn documents(gaps: &[u16]) -> impl Iterator<Item = u32> + '_ {
    gaps.iter().scan(0u32, |doc, &g| {
        *doc = doc.wrapping_add(u32::from(g));
        Some(*doc)
    })
}

/// Which list: segment ordinal, field and where the postings start in that segment's file.
type Key = (usize, Field, usize);

/// A term's entry in each segment's dictionary (`None` where the segment lacks it).
pub type TermInfos = Arc<[Option<TermInfo>]>;

/// Postings a snapshot keeps decoded at most (about 3 bytes each in the compact form, 8 at
/// worst: 0.4–1 GiB). Past it, lists not yet kept are decoded for the query that needs them and
/// dropped after it. A million generated profiles keep 69 M after 1,000 queries (≈ 215 MB).
pub const MAX_POSTINGS: usize = 128 << 20;

/// Postings `clustermatch serve` warms each snapshot with ([`Cache::warm`]): half of
/// [`MAX_POSTINGS`], about 200 MB in the compact form. Every list of 100,000 generated profiles
/// fits (9 M postings, decoded in about 0.06 s on two cores); a million profiles warm their
/// longest lists in about 0.3 s.
pub const DEFAULT_WARM: usize = MAX_POSTINGS / 2;

/// (field, term) lookups a snapshot keeps at most (about 100 bytes each).
pub const MAX_TERMS: usize = 1 << 20;

/// [`Cache::warm`] decodes no list shorter than this: a query decodes a short list in about
/// the time it takes to find it in the map.
pub const MIN_WARM_LIST: usize = 8;

/// What [`Cache::warm`] added to a cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Warmed {
    /// (field, term) lookups added.
    pub terms: usize,
    /// Posting lists taken over from the snapshot before (see [`Cache::after`]).
    pub carried: usize,
    /// Posting lists it made sure are held (decoded or taken over by it, or before it by a
    /// query).
    pub lists: usize,
    /// Postings in them.
    pub postings: usize,
}

/// The decoded lists of a snapshot, by [`Key`].
type Lists = Arc<RwLock<FxHashMap<Key, Arc<Postings>>>>;

/// The term map of a snapshot, field by field.
type Terms = Arc<RwLock<Vec<FieldTerms>>>;

/// The terms of one field looked up so far.
struct FieldTerms {
    field: Field,
    map: FxHashMap<String, TermInfos>,
    /// Whether `map` holds every term of the field in every segment (a finished warm-up):
    /// a term it lacks is in no segment.
    complete: bool,
}

/// Term lookups and decoded posting lists of one snapshot, filled on first use.
pub struct Cache {
    lists: Lists,
    /// The lists of the snapshot before, taken over instead of decoded again.
    /// Released once a warm-up has taken over all it can.
    before: RwLock<Option<Arc<Before>>>,
    /// Lists taken over from `before`.
    carried: AtomicUsize,
    /// Postings in `lists`.
    held: AtomicUsize,
    /// At most this many postings are kept.
    budget: usize,
    /// Per field, term text to its entries.
    terms: Terms,
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
            lists: Lists::default(),
            before: RwLock::new(None),
            carried: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            budget,
            terms: Terms::default(),
        }
    }

    /// An empty cache for a snapshot that follows the one `before` belongs to, within the
    /// same budget. A list of a segment both snapshots hold is taken from `before` when a
    /// query or the warm-up first needs it: the same documents and codes, with the factors
    /// worked out again for the new average field length (bit for bit what decoding gives),
    /// instead of decoding it again. `segments_before[ord]` is the ordinal that this
    /// snapshot's segment `ord` had in the snapshot before, `None` for a new segment. The new
    /// cache holds `before`'s maps, not `before`'s own link to its predecessor, so nothing
    /// chains; it lets them go at the end of a full warm-up, or when it goes.
    pub fn after(before: &Cache, segments_before: Vec<Option<usize>>) -> Cache {
        Cache {
            before: RwLock::new(Some(Arc::new(Before {
                lists: before.lists.clone(),
                terms: before.terms.clone(),
                segments: segments_before,
            }))),
            ..Cache::with_budget(before.budget)
        }
    }

    /// Lists taken over from the snapshot before (see [`Cache::after`]).
    pub fn lists_carried(&self) -> usize {
        self.carried.load(Ordering::Relaxed)
    }

    /// The dictionary entries of `term` in `field` in each segment of `searcher` (the
    /// snapshot's), looked up now if no query of this snapshot has yet.
    pub fn term(&self, searcher: &Searcher, field: Field, term: &str) -> TermInfos {
        {
            let terms = self.terms.read().unwrap_or_else(|e| e.into_inner());
            let known = terms.iter().find(|t| t.field == field);
            if let Some(infos) = known.and_then(|t| t.map.get(term)) {
                return infos.clone();
            }
        }
        let key = Term::from_field_text(field, term);
        let lookup = |seg: &SegmentReader| {
            seg.inverted_index(field)
                .ok()
                .and_then(|r| r.get_term_info(&key).ok().flatten())
        };
        let readers = searcher.segment_readers();
        let before = self.before();
        let infos: TermInfos = match before
            .as_ref()
            .and_then(|b| Some((b, b.term(field, term)?)))
        {
            // The segments the snapshot before held answer from its map.
            Some((before, known)) => readers
                .iter()
                .enumerate()
                .map(|(ord, seg)| match before.ordinal(ord) {
                    Some(old) => known.as_ref().and_then(|k| k.get(old).cloned().flatten()),
                    None => lookup(seg),
                })
                .collect(),
            None => readers.iter().map(lookup).collect(),
        };
        let mut terms = self.terms.write().unwrap_or_else(|e| e.into_inner());
        if terms.iter().map(|t| t.map.len()).sum::<usize>() >= MAX_TERMS {
            // Free-text queries can bring any number of distinct words: past the bound, they
            // are looked up each time.
            return infos;
        }
        field_terms(&mut terms, field)
            .map
            .entry(term.to_string())
            .or_insert(infos)
            .clone()
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
    ) -> tantivy::Result<Arc<Postings>> {
        let key = (ord, field, info.postings_range.start);
        if let Some(list) = self.read().get(&key) {
            return Ok(list.clone());
        }
        let Some(seg) = searcher.segment_readers().get(ord) else {
            return Ok(Arc::new(Postings::Plain(Box::new([]))));
        };
        let average = average_length(searcher, field)?;
        let (list, carried) = match self.carry(key, average) {
            Some(list) => (list, true),
            None => (decode(seg, field, info, average)?, false),
        };
        let mut lists = self.lists.write().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = lists.get(&key) {
            // Another thread decoded it meanwhile.
            return Ok(kept.clone());
        }
        let held = self.held.load(Ordering::Relaxed);
        if held + list.len() <= self.budget {
            self.held.store(held + list.len(), Ordering::Relaxed);
            lists.insert(key, list.clone());
            if carried {
                self.carried.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(list)
    }

    /// Fills the cache before queries ask, as search servers warm a new searcher: every term
    /// of `fields` into the term map (within [`MAX_TERMS`]), then the posting lists of at least
    /// [`MIN_WARM_LIST`] postings, longest first (ties by field, segment and place), while the
    /// postings held stay within `budget`. The long lists are the ones that cost a cold query
    /// most. Stops early, returning what it did, when `keep_going` says so (checked between
    /// fields and between lists: a server stops warming a snapshot it no longer serves). Scores are the same warm
    /// or cold: a list decoded here is the one a query would decode.
    pub fn warm(
        &self,
        searcher: &Searcher,
        fields: &[Field],
        budget: usize,
        keep_going: impl Fn() -> bool + Sync,
    ) -> tantivy::Result<Warmed> {
        let budget = budget.min(self.budget);
        let mut warmed = Warmed {
            carried: self.carry_all(searcher, &keep_going)?,
            ..Warmed::default()
        };
        let mut lists = Vec::new();
        for &field in fields {
            if !keep_going() {
                return Ok(warmed);
            }
            warmed.terms += self.warm_terms(searcher, field, &mut lists)?;
        }
        lists.sort_unstable_by(|a, b| {
            (b.2.doc_freq, a.1, a.0, a.2.postings_range.start).cmp(&(
                a.2.doc_freq,
                b.1,
                b.0,
                b.2.postings_range.start,
            ))
        });
        // The longest lists within the budget, whether held already (taken over, or decoded by
        // a query) or not; lists held beyond them stay.
        let mut room = budget;
        lists.retain(|(_, _, info)| {
            let n = info.doc_freq as usize;
            let fits = n <= room;
            if fits {
                room -= n;
            }
            fits
        });
        use rayon::prelude::*;
        let decoded: Vec<usize> = lists
            .par_iter()
            .map(|(ord, field, info)| {
                if !keep_going() {
                    return Ok(0);
                }
                self.postings(searcher, *ord, *field, info).map(|l| l.len())
            })
            .collect::<tantivy::Result<_>>()?;
        warmed.lists = decoded.iter().filter(|&&n| n > 0).count();
        warmed.postings = decoded.iter().sum();
        if keep_going() {
            // Everything worth taking over is here: the snapshot before's lists and terms can go
            // (the ones of segments merged away would otherwise stay until the next write).
            *self.before.write().unwrap_or_else(|e| e.into_inner()) = None;
        }
        Ok(warmed)
    }

    /// Takes over every list the snapshot before holds of a segment this one holds too (see
    /// [`Cache::after`]), longest first, within the cache's budget (the snapshot before kept
    /// within the same); returns how many. A list one query decoded stays ready for the next
    /// one, whatever the writes in between.
    fn carry_all(
        &self,
        searcher: &Searcher,
        keep_going: &impl Fn() -> bool,
    ) -> tantivy::Result<usize> {
        let Some(before) = self.before() else {
            return Ok(0);
        };
        let mut old: Vec<(Key, Arc<Postings>)> = {
            let lists = before.lists.read().unwrap_or_else(|e| e.into_inner());
            lists.iter().map(|(k, l)| (*k, l.clone())).collect()
        };
        // Longest first, as the warm-up decodes.
        old.sort_unstable_by_key(|(k, l)| (std::cmp::Reverse(l.len()), k.0, k.1, k.2));
        let mut averages: Vec<(Field, f32)> = Vec::new();
        let mut ready = Vec::with_capacity(old.len());
        for ((old_ord, field, start), list) in old {
            if !keep_going() {
                break;
            }
            let Some(ord) = before.segments.iter().position(|s| *s == Some(old_ord)) else {
                continue;
            };
            let average = match averages.iter().find(|(f, _)| *f == field) {
                Some(&(_, a)) => a,
                None => {
                    let a = average_length(searcher, field)?;
                    averages.push((field, a));
                    a
                }
            };
            if let Some(list) = list.carried(average) {
                ready.push(((ord, field, start), list));
            }
        }
        // One write lock for all of them, so that queries meanwhile wait once at most.
        let mut lists = self.lists.write().unwrap_or_else(|e| e.into_inner());
        let mut carried = 0;
        for (key, list) in ready {
            let held = self.held.load(Ordering::Relaxed);
            if held + list.len() > self.budget || lists.contains_key(&key) {
                continue;
            }
            self.held.store(held + list.len(), Ordering::Relaxed);
            lists.insert(key, list);
            carried += 1;
        }
        drop(lists);
        self.carried.fetch_add(carried, Ordering::Relaxed);
        Ok(carried)
    }

    /// Puts every term of `field` into the term map and pushes its lists of at least
    /// [`MIN_WARM_LIST`] postings; returns the number of terms added. When the snapshot before
    /// held every term of the field, its entries are taken over and only the dictionaries of
    /// the new segments are read.
    fn warm_terms(
        &self,
        searcher: &Searcher,
        field: Field,
        lists: &mut Vec<(usize, Field, TermInfo)>,
    ) -> tantivy::Result<usize> {
        let readers = searcher.segment_readers();
        let segments = readers.len();
        let mut found: FxHashMap<String, Vec<Option<TermInfo>>> = FxHashMap::default();
        let before = self.before();
        let carried = before
            .as_ref()
            .and_then(|b| Some((b, b.complete_terms(field)?)));
        // The segments whose dictionaries the carried entries stand for.
        let mut known = vec![false; segments];
        if let Some((before, carried)) = carried {
            for (ord, k) in known.iter_mut().enumerate() {
                *k = before.ordinal(ord).is_some();
            }
            for (term, old) in carried {
                let infos: Vec<Option<TermInfo>> = (0..segments)
                    .map(|ord| {
                        before
                            .ordinal(ord)
                            .and_then(|o| old.get(o).cloned().flatten())
                    })
                    .collect();
                // Words in no segment (a query's, or in segments merged away) go: a complete
                // map answers for them anyway.
                if infos.iter().any(Option::is_some) {
                    found.insert(term, infos);
                }
            }
        }
        let mut complete = true;
        for (ord, seg) in readers.iter().enumerate() {
            if known[ord] {
                continue;
            }
            let inverted = seg.inverted_index(field)?;
            let mut stream = inverted.terms().stream()?;
            while stream.advance() {
                let info = stream.value().clone();
                let Ok(term) = std::str::from_utf8(stream.key()) else {
                    complete = false;
                    continue;
                };
                match found.get_mut(term) {
                    Some(infos) => infos[ord] = Some(info),
                    None => {
                        let mut infos = vec![None; segments];
                        infos[ord] = Some(info);
                        found.insert(term.to_string(), infos);
                    }
                }
            }
        }
        for infos in found.values() {
            for (ord, info) in infos.iter().enumerate() {
                if let Some(info) = info
                    .as_ref()
                    .filter(|i| i.doc_freq as usize >= MIN_WARM_LIST)
                {
                    lists.push((ord, field, info.clone()));
                }
            }
        }
        // The field's new map is built outside the lock (queries read the map meanwhile) and
        // swapped in, when it fits within the bound.
        let fresh: FxHashMap<String, TermInfos> = found
            .iter()
            .map(|(term, infos)| (term.clone(), TermInfos::from(infos.as_slice())))
            .collect();
        let mut terms = self.terms.write().unwrap_or_else(|e| e.into_inner());
        let others: usize = terms
            .iter()
            .filter(|t| t.field != field)
            .map(|t| t.map.len())
            .sum();
        if others + fresh.len() <= MAX_TERMS {
            let map = field_terms(&mut terms, field);
            // Entries queries added meanwhile are in `fresh` too, but for words in no segment
            // (looked up again when asked).
            let kept = map.map.keys().filter(|k| fresh.contains_key(*k)).count();
            let added = fresh.len() - kept;
            let old = std::mem::replace(&mut map.map, fresh);
            map.complete = complete;
            drop(terms);
            drop(old);
            return Ok(added);
        }
        drop(terms);
        drop(fresh);
        // Past the bound: in term order, so that which terms fit does not depend on hashing.
        let mut found: Vec<_> = found.into_iter().collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut terms = self.terms.write().unwrap_or_else(|e| e.into_inner());
        let mut room = MAX_TERMS.saturating_sub(terms.iter().map(|t| t.map.len()).sum());
        let map = field_terms(&mut terms, field);
        let mut added = 0;
        for (term, infos) in found {
            if let std::collections::hash_map::Entry::Vacant(slot) = map.map.entry(term) {
                if room == 0 {
                    complete = false;
                    break;
                }
                slot.insert(infos.into());
                room -= 1;
                added += 1;
            }
        }
        map.complete = complete;
        Ok(added)
    }

    /// Number of postings kept decoded.
    pub fn postings_held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// What this cache may still take over from the snapshot before.
    fn before(&self) -> Option<Arc<Before>> {
        self.before
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The list of `key` taken over from the snapshot before, if it held it in a form that
    /// can be carried.
    fn carry(&self, key: Key, average: f32) -> Option<Arc<Postings>> {
        let before = self.before()?;
        let ord = before.ordinal(key.0)?;
        let list = {
            let lists = before.lists.read().unwrap_or_else(|e| e.into_inner());
            lists.get(&(ord, key.1, key.2))?.clone()
        };
        list.carried(average)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FxHashMap<Key, Arc<Postings>>> {
        // A panic while holding a lock cannot leave a half-inserted entry: insertion is one
        // call. So a poisoned lock's data is sound (here and in `term`).
        self.lists.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a cache may take over from the snapshot before it ([`Cache::after`]).
struct Before {
    lists: Lists,
    terms: Terms,
    /// The ordinal in the snapshot before of each segment (`None`: new).
    segments: Vec<Option<usize>>,
}

impl Before {
    /// The ordinal in the snapshot before of this snapshot's segment `ord` (`None`: new).
    fn ordinal(&self, ord: usize) -> Option<usize> {
        self.segments.get(ord).copied().flatten()
    }

    /// What the snapshot before knew of `term` in `field`: `Some(Some(entries))` when it
    /// looked it up, `Some(None)` when its map of the field is complete and lacks it (the term
    /// is in none of its segments), `None` when it does not know.
    fn term(&self, field: Field, term: &str) -> Option<Option<TermInfos>> {
        let terms = self.terms.read().unwrap_or_else(|e| e.into_inner());
        let t = terms.iter().find(|t| t.field == field)?;
        match t.map.get(term) {
            Some(infos) => Some(Some(infos.clone())),
            None if t.complete => Some(None),
            None => None,
        }
    }

    /// Every term of `field` with its entries, when the snapshot before holds them all.
    fn complete_terms(&self, field: Field) -> Option<Vec<(String, TermInfos)>> {
        let terms = self.terms.read().unwrap_or_else(|e| e.into_inner());
        let t = terms.iter().find(|t| t.field == field && t.complete)?;
        Some(t.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// The term map of one field, made empty on first use.
fn field_terms(terms: &mut Vec<FieldTerms>, field: Field) -> &mut FieldTerms {
    let at = match terms.iter().position(|t| t.field == field) {
        Some(at) => at,
        None => {
            terms.push(FieldTerms {
                field,
                map: FxHashMap::default(),
                complete: false,
            });
            terms.len() - 1
        }
    };
    &mut terms[at]
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
        *norm = length_norm(id as u8, average);
    }
    table
}

/// `norm` of BM25's `tf / (tf + norm)` for one fieldnorm id.
#[inline]
fn length_norm(id: u8, average: f32) -> f32 {
    let length = FieldNormReader::id_to_fieldnorm(id);
    K1 * (1.0 - B + B * length as f32 / average)
}

fn decode(
    seg: &SegmentReader,
    field: Field,
    info: &TermInfo,
    average: f32,
) -> tantivy::Result<Arc<Postings>> {
    let table = norm_table(average);
    let inverted = seg.inverted_index(field)?;
    let norms = seg.get_fieldnorms_reader(field)?;
    let mut block =
        inverted.read_block_postings_from_terminfo(info, IndexRecordOption::WithFreqs)?;
    let mut list = Encoder::new(info.doc_freq as usize, 256);
    list.keys = Some(Vec::new());
    loop {
        let docs = block.docs();
        if docs.is_empty() {
            break;
        }
        for (&doc, &tf) in docs.iter().zip(block.freqs()) {
            let id = norms.fieldnorm_id(doc);
            // The factor depends on the term frequency and the length id only.
            let key = (u64::from(tf) << 8) | u64::from(id);
            list.push(doc, key, || factor(tf, id, &table));
        }
        block.advance();
    }
    Ok(Arc::new(list.finish(average)))
}

/// BM25's `tf / (tf + norm)` for a term frequency and a length id.
#[inline]
fn factor(tf: u32, id: u8, table: &[f32; 256]) -> f32 {
    let tf = tf as f32;
    tf / (tf + table[usize::from(id)])
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
    fn interpolated_mark_search_is_a_partition_point() {
        let mut x = 7u64;
        let mut next = |m: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % m
        };
        for n in [0usize, 1, 2, 15, 16, 17, 100, 2500] {
            for skew in [1u64, 3, 1000] {
                // Sorted marks, evenly spread or bunched (a skewed gap now and then).
                let mut marks = Vec::with_capacity(n);
                let mut m = next(50) as u32;
                for _ in 0..n {
                    marks.push(m);
                    let span = if next(10) == 0 { 40 * skew } else { 40 };
                    m += 1 + next(span) as u32;
                }
                let top = marks.last().copied().unwrap_or(0) + 50;
                for doc in (0..top).step_by(7).chain(marks.iter().copied()) {
                    assert_eq!(
                        marks_upto(&marks, doc),
                        marks.partition_point(|&m| m <= doc),
                        "n {n}, skew {skew}, doc {doc}"
                    );
                }
            }
        }
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
            let pairs = list.pairs();
            assert_eq!(pairs.iter().map(|p| p.0).collect::<Vec<_>>(), docs);
            assert!(pairs.iter().all(|p| p.1 > 0.0 && p.1 < 1.0));
            assert!(matches!(*list, Postings::Coded { .. }));
            lengths.push(list.len());
        }
        // "water" (300 postings) is kept; "cluster" (200) would pass the budget of 400.
        assert_eq!(lengths, vec![300, 200]);
        assert_eq!(cache.postings_held(), 300);
        Ok(())
    }

    #[test]
    fn warming_decodes_the_longest_lists_first_within_its_budget(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let index = ProfileIndex::in_memory()?;
        index.upsert(&profiles(300))?;
        let snap = index.snapshot();
        let f = *index.fields();
        let fields = [f.about, f.offering, f.seeking];
        let water = snap.cache.term(&snap.searcher, f.about, "water")[0]
            .clone()
            .expect("term in the only segment");
        let cluster = snap.cache.term(&snap.searcher, f.about, "cluster")[0]
            .clone()
            .expect("term in the only segment");

        // Told to stop at once, it does nothing.
        let cache = Cache::default();
        let stopped = cache.warm(&snap.searcher, &fields, 1000, || false)?;
        assert_eq!(stopped, Warmed::default());
        assert_eq!(cache.postings_held(), 0);

        // 450 postings: "water" (300) first; "cluster" (200) would pass the budget.
        let cache = Cache::default();
        let warmed = cache.warm(&snap.searcher, &fields, 450, || true)?;
        assert!(warmed.postings <= 450 && warmed.postings >= 300);
        assert_eq!(cache.postings_held(), warmed.postings);
        let kept = |info: &TermInfo| {
            cache
                .read()
                .contains_key(&(0, f.about, info.postings_range.start))
        };
        assert!(kept(&water));
        assert!(!kept(&cluster));
        // A warmed list is the list a query decodes.
        let cold = Cache::default().postings(&snap.searcher, 0, f.about, &water)?;
        let warm = cache.postings(&snap.searcher, 0, f.about, &water)?;
        assert_eq!(warm.pairs(), cold.pairs());
        // The term map holds every term of the fields, so queries find them without a lookup.
        let terms = cache.terms.read().map_err(|_| "poisoned")?;
        let about = &terms
            .iter()
            .find(|t| t.field == f.about)
            .ok_or("no field")?
            .map;
        assert_eq!(
            about.get("cluster").map(|i| i[0].clone()),
            Some(Some(cluster))
        );
        Ok(())
    }

    /// A seeded generator of numbers below `m` (a linear congruential one: reproducible cases).
    fn numbers(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |m| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        }
    }

    #[test]
    fn encoding_finds_the_form_whatever_comes_first() {
        // Lists with big gaps early, late or never, and 1 to 9 distinct factors, encoded with
        // room for 1, 2, 4 or 256 codes: the postings always come back, in the expected form.
        let mut next = numbers(99);
        for case in 0..400 {
            let len = 1 + next(300) as usize;
            let distinct = 1 + next(9) as usize;
            let big_at = [None, Some(0), Some(len / 2), Some(len - 1)][case % 4];
            let mut doc = 0u32;
            let pairs: Vec<(u32, f32)> = (0..len)
                .map(|i| {
                    doc += if Some(i) == big_at {
                        70_000
                    } else {
                        1 + next(40) as u32
                    };
                    (doc, 1.0 / (2.0 + next(distinct as u64) as f32))
                })
                .collect();
            let seen: std::collections::HashSet<u32> =
                pairs.iter().map(|p| p.1.to_bits()).collect();
            for max_codes in [1, 2, 4, 256] {
                let list = Postings::encode(pairs.clone(), max_codes);
                assert_eq!(list.pairs(), pairs, "case {case}, {max_codes} codes");
                let plain = seen.len() > max_codes;
                let wide =
                    pairs[0].0 > 65_535 || pairs.windows(2).any(|w| w[1].0 - w[0].0 > 65_535);
                match &list {
                    Postings::Plain(_) => assert!(plain, "case {case}"),
                    Postings::Coded {
                        docs: Docs::Wide(_),
                        ..
                    } => assert!(!plain && wide),
                    Postings::Coded {
                        docs: Docs::Gaps { .. },
                        ..
                    } => assert!(!plain && !wide),
                }
            }
        }
    }

    #[test]
    fn sorted_membership_agrees_with_one_document_at_a_time() {
        // Short and long lists (merge walk and search), starting at document 0 or later, in the
        // three forms; sets of 1 to 40 documents around and inside them.
        let mut next = numbers(7);
        for case in 0..300 {
            let len = [1, 5, 40, 300, 3000][case % 5];
            let mut doc = next(3) as u32;
            let pairs: Vec<(u32, f32)> = (0..len)
                .map(|_| {
                    let at = doc;
                    doc += 1 + next(9) as u32 + if case % 7 == 0 { 70_000 } else { 0 };
                    (at, 1.0 / (2.0 + next(3) as f32))
                })
                .collect();
            // Half of them from the list.
            let mut docs: Vec<u32> = (0..1 + next(40))
                .map(|i| match i % 2 {
                    0 => pairs[next(len as u64) as usize].0,
                    _ => next(u64::from(doc) + 20) as u32,
                })
                .collect();
            docs.sort_unstable();
            docs.dedup();
            for max_codes in [1, 256] {
                let list = Postings::encode(pairs.clone(), max_codes);
                let mut found = vec![false; docs.len()];
                list.contains_sorted(&docs, &mut found);
                let want: Vec<bool> = docs.iter().map(|&d| list.contains(d)).collect();
                assert_eq!(found, want, "case {case}, {max_codes} codes");
                let truth: Vec<bool> = docs
                    .iter()
                    .map(|d| pairs.binary_search_by_key(d, |p| p.0).is_ok())
                    .collect();
                assert_eq!(found, truth, "case {case}");
            }
        }
    }

    #[test]
    fn both_forms_hold_the_same_postings_and_add_the_same_floats() {
        let pairs: Vec<(u32, f32)> = (0..1000u32)
            .map(|d| (d * 3, 1.0 / (1.0 + (d % 7) as f32 * 0.37)))
            .collect();
        let coded = Postings::encode(pairs.clone(), 256);
        let plain = Postings::encode(pairs.clone(), 4);
        assert!(matches!(coded, Postings::Coded { .. }));
        assert!(matches!(plain, Postings::Plain(_)));
        assert_eq!(coded.pairs(), pairs);
        assert_eq!(plain.pairs(), pairs);
        assert!(matches!(
            coded,
            Postings::Coded {
                docs: Docs::Gaps { .. },
                ..
            }
        ));
        for d in 0..3000 {
            assert_eq!(coded.contains(d), d % 3 == 0, "{d}");
        }
        assert!(coded.contains(2997) && !coded.contains(2998));
        assert!(plain.contains(2997) && !plain.contains(2998));
        let (mut a, mut b) = (vec![0.5f32; 2998], vec![0.5f32; 2998]);
        coded.add_scaled(1.7, &mut a);
        plain.add_scaled(1.7, &mut b);
        assert_eq!(a, b);
        assert_eq!(a[3], 0.5 + 1.7 * pairs[1].1);
        // A gap over 65,535 keeps the documents whole.
        let far = vec![(5, 0.5), (70_000, 0.25), (70_001, 0.5)];
        let wide = Postings::encode(far.clone(), 256);
        assert!(matches!(
            wide,
            Postings::Coded {
                docs: Docs::Wide(_),
                ..
            }
        ));
        assert_eq!(wide.pairs(), far);
        assert!(wide.contains(70_000) && !wide.contains(6));
        let mut c = vec![0f32; 70_002];
        wide.add_scaled(2.0, &mut c);
        assert_eq!((c[5], c[70_000], c[70_001]), (1.0, 0.5, 1.0));
    }

    /// A list's postings with each factor's bits, to compare lists exactly.
    fn bits(list: &Postings) -> Vec<(u32, u32)> {
        list.pairs()
            .into_iter()
            .map(|(d, f)| (d, f.to_bits()))
            .collect()
    }

    /// Every list of `field` a cache's term map points to, compared with a fresh decoding on
    /// the same searcher; returns how many were compared.
    fn assert_lists_as_fresh(
        cache: &Cache,
        searcher: &Searcher,
        field: Field,
    ) -> Result<usize, Box<dyn std::error::Error>> {
        let fresh = Cache::default();
        let entries: Vec<(String, TermInfos)> = {
            let terms = cache.terms.read().map_err(|_| "poisoned")?;
            let t = terms.iter().find(|t| t.field == field).ok_or("no field")?;
            t.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut compared = 0;
        for (term, infos) in entries {
            assert_eq!(infos, fresh.term(searcher, field, &term), "{term}");
            for (ord, info) in infos.iter().enumerate() {
                if let Some(info) = info {
                    let ours = cache.postings(searcher, ord, field, info)?;
                    let theirs = fresh.postings(searcher, ord, field, info)?;
                    assert_eq!(bits(&ours), bits(&theirs), "{term} in segment {ord}");
                    compared += 1;
                }
            }
        }
        Ok(compared)
    }

    #[test]
    fn a_snapshot_after_a_write_takes_over_lists_and_terms_bit_for_bit(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let idx = ProfileIndex::in_memory()?;
        let f = *idx.fields();
        let mut writer: tantivy::IndexWriter<tantivy::TantivyDocument> =
            idx.tantivy().writer_with_num_threads(1, 15_000_000)?;
        writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
        for p in profiles(60) {
            writer.add_document(idx.document(&p))?;
        }
        writer.commit()?;
        idx.reload()?;
        let first = idx.snapshot();
        first
            .cache
            .warm(&first.searcher, &[f.about], usize::MAX, || true)?;
        let water = first.cache.term(&first.searcher, f.about, "water");
        let Some(Some(water_info)) = water.first().cloned() else {
            return Err("no water".into());
        };
        let old = first
            .cache
            .postings(&first.searcher, 0, f.about, &water_info)?;

        // A write: longer documents (the average length changes), a new word and a delete.
        for i in 60..80 {
            writer.add_document(idx.document(&Profile {
                id: format!("p{i:03}"),
                name: format!("P{i}"),
                country: "FR".into(),
                description: "hydrogen water cluster ".repeat(1 + i % 7),
                ..Profile::default()
            }))?;
        }
        writer.delete_term(tantivy::Term::from_field_text(f.id, "p005"));
        writer.commit()?;
        idx.reload()?;
        let second = idx.snapshot();
        assert_eq!(second.segment_base.len(), 2);

        // A query's lookups take over the first segment's entries and lists, factors worked
        // out again for the new average length.
        let hydrogen = second.cache.term(&second.searcher, f.about, "hydrogen");
        assert!(hydrogen[0].is_none() && hydrogen[1].is_some());
        let water = second.cache.term(&second.searcher, f.about, "water");
        assert_eq!(water[0].as_ref(), Some(&water_info));
        let carried = second
            .cache
            .postings(&second.searcher, 0, f.about, &water_info)?;
        assert_eq!(second.cache.lists_carried(), 1);
        assert_ne!(bits(&carried), bits(&old), "the average length changed");
        let fresh = Cache::default().postings(&second.searcher, 0, f.about, &water_info)?;
        assert_eq!(bits(&carried), bits(&fresh));

        // The warm-up takes over every other list of the first segment and the whole term
        // map, reads only the new segment's dictionary, then lets the snapshot before go.
        let warmed = second
            .cache
            .warm(&second.searcher, &[f.about], usize::MAX, || true)?;
        assert!(warmed.carried > 0, "{warmed:?}");
        assert!(second.cache.before().is_none());
        assert!(assert_lists_as_fresh(&second.cache, &second.searcher, f.about)? > warmed.carried);

        // A second write in a row (more documents: the average moves again) takes over from
        // the warmed snapshot in turn, lists it had taken over included.
        for i in 80..90 {
            writer.add_document(idx.document(&Profile {
                id: format!("p{i:03}"),
                name: format!("P{i}"),
                country: "DE".into(),
                description: "water ".repeat(12),
                ..Profile::default()
            }))?;
        }
        writer.commit()?;
        idx.reload()?;
        let third = idx.snapshot();
        assert_eq!(third.segment_base.len(), 3);
        let w = third
            .cache
            .warm(&third.searcher, &[f.about], usize::MAX, || true)?;
        assert!(w.carried > warmed.carried, "{w:?}");
        assert_lists_as_fresh(&third.cache, &third.searcher, f.about)?;

        // The first two segments merged into one: the third one's ordinal moves, and its lists
        // are still the ones taken over.
        let ids: Vec<_> = idx
            .tantivy()
            .searchable_segment_ids()?
            .into_iter()
            .filter(|id| {
                third.searcher.segment_readers()[..2]
                    .iter()
                    .any(|r| r.segment_id() == *id)
            })
            .collect();
        writer.merge(&ids).wait()?;
        idx.reload()?;
        let fourth = idx.snapshot();
        let last = third.searcher.segment_readers()[2].segment_id();
        let moved = fourth
            .searcher
            .segment_readers()
            .iter()
            .position(|r| r.segment_id() == last)
            .ok_or("segment gone")?;
        assert_ne!(moved, 2);
        let water = fourth.cache.term(&fourth.searcher, f.about, "water");
        let info = water[moved].clone().ok_or("no water in the last segment")?;
        let carried = fourth
            .cache
            .postings(&fourth.searcher, moved, f.about, &info)?;
        assert_eq!(fourth.cache.lists_carried(), 1);
        let fresh = Cache::default().postings(&fourth.searcher, moved, f.about, &info)?;
        assert_eq!(bits(&carried), bits(&fresh));
        fourth
            .cache
            .warm(&fourth.searcher, &[f.about], usize::MAX, || true)?;
        assert_lists_as_fresh(&fourth.cache, &fourth.searcher, f.about)?;
        Ok(())
    }

    /// An encoder fed as decoding feeds it, keys on.
    fn keyed() -> Encoder {
        let mut e = Encoder::new(4, 256);
        e.keys = Some(Vec::new());
        e
    }

    #[test]
    fn only_lists_with_one_key_per_code_can_be_carried() {
        let key = |tf: u64, id: u64| (tf << 8) | id;
        let has_carry = |p: &Postings| matches!(p, Postings::Coded { carry: Some(_), .. });
        // One key per code, a gap over 65,535 (whole documents): carried, and the factors
        // worked out again are decoding's for the new average.
        let mut e = keyed();
        let table = norm_table(10.0);
        e.push(3, key(1, 20), || factor(1, 20, &table));
        e.push(70_000, key(2, 20), || factor(2, 20, &table));
        e.push(70_001, key(1, 20), || factor(1, 20, &table));
        let list = Arc::new(e.finish(10.0));
        assert!(matches!(
            &*list,
            Postings::Coded {
                docs: Docs::Wide(_),
                ..
            }
        ));
        assert!(has_carry(&list));
        let same = list.carried(10.0).map(|l| Arc::ptr_eq(&l, &list));
        assert_eq!(same, Some(true), "an unchanged average keeps the list");
        let moved = list.carried(12.5).map(|l| bits(&l));
        let table = norm_table(12.5);
        let want = [(3, 1, 20), (70_000, 2, 20), (70_001, 1, 20)]
            .map(|(d, tf, id)| (d, factor(tf, id, &table).to_bits()));
        assert_eq!(moved, Some(want.to_vec()));
        // Two keys with one factor share a code: not carried (another average would split them).
        let mut e = keyed();
        e.push(1, key(1, 20), || 0.5);
        e.push(2, key(2, 30), || 0.5);
        let list = Arc::new(e.finish(10.0));
        assert!(!has_carry(&list) && list.carried(11.0).is_none());
        // A term frequency past 24 bits: no key fits.
        let mut e = keyed();
        e.push(1, key(1 << 24, 20), || 0.9);
        assert!(!has_carry(&e.finish(10.0)));
        // Lists not made by decoding have no keys.
        let list = Arc::new(Postings::encode(vec![(1, 0.5), (2, 0.25)], 256));
        assert!(list.carried(10.0).is_none());
    }
}
