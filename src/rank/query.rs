//! From a query profile to a tantivy query: the most informative terms of the query's text
//! (more-like-this style), each sent to the candidate fields it should meet — the query's
//! description to the candidate's description, its *seeking* to the candidate's *offering* (and
//! description), its *offering* to the candidate's *seeking* — with the field boosts of
//! [`TextParams`].

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use rustc_hash::{FxHashMap, FxHashSet};

use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{TokenStream, Tokenizer};
use tantivy::Term;

use crate::index::cache::{Postings, TermInfos};
use crate::index::schema::{about_text, analyzer, surface_analyzer, tokens, Fields};
use crate::index::stem::EnglishTokenizer;
use crate::index::Snapshot;
use crate::profile::Profile;
use crate::score::text::TextParams;
use crate::taxonomy::{taxonomy, SectorSet};

/// One clause of the text query: a term sent to one candidate field with a boost. A term that
/// reaches the same field from several parts of the query (the query's description and its
/// *seeking* both meet the candidate's description) is one clause whose boost is the sum: BM25
/// is linear in the boost, so the score is the same with one posting list walked instead of two.
#[derive(Debug, Clone)]
pub struct Clause {
    /// The analysed (stemmed) term.
    pub term: String,
    /// The candidate field it is matched against.
    pub field: Field,
    /// Boost of the clause.
    pub boost: f32,
    /// Number of documents holding the term in that field (deleted ones included, as BM25
    /// counts them).
    pub doc_freq: u64,
    /// Where the term's postings are in each segment of the searcher the query was built with
    /// (`None` where the segment lacks the term), so that scoring does not look it up again.
    pub infos: TermInfos,
}

/// The text side of a query, ready to run (see [`crate::rank`] for how it is scored).
pub struct TextQuery {
    /// Its clauses, at most one per (term, field).
    pub clauses: Vec<Clause>,
    /// Selected terms, most informative first, with the word as the query wrote it.
    pub terms: Vec<(String, String)>,
    /// Score of an average-length document holding every clause's term once.
    pub ideal: f32,
    /// Each clause's decoded postings, fetched from the snapshot's cache on first use (see
    /// [`TextQuery::lists`]).
    lists: OnceLock<ClauseLists>,
}

/// Decoded postings of each clause (in clause order) in each segment (`None` where the segment
/// lacks the term).
pub type ClauseLists = Vec<Vec<Option<Arc<Postings>>>>;

/// English function words beyond the analyzer's (short, Lucene) stop list, left out of queries:
/// they say nothing about what an organisation does. They stay in the index. Sorted.
const QUERY_STOP_WORDS: [&str; 43] = [
    "able", "about", "across", "along", "also", "among", "been", "both", "can", "does", "each",
    "etc", "from", "has", "have", "its", "like", "many", "may", "more", "most", "other", "our",
    "over", "own", "several", "such", "their", "them", "through", "very", "we", "well", "were",
    "what", "when", "where", "which", "while", "who", "within", "without", "would",
];

/// Whether a surface word is one of [`QUERY_STOP_WORDS`] (a hash set: every query word is
/// checked).
fn is_query_stop_word(word: &str) -> bool {
    static SET: OnceLock<FxHashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| QUERY_STOP_WORDS.into_iter().collect())
        .contains(word)
}

/// Words shorter than this are not used as query terms (the "r" and "d" of "R&D").
const MIN_WORD_CHARS: usize = 2;

/// What the index says of one (field, term): document frequency, idf (0 when fewer than
/// `min_df` documents hold it), and the term's postings in each segment.
#[derive(Clone)]
struct TermStats {
    df: u64,
    idf: f32,
    infos: TermInfos,
}

/// Term lookups in a snapshot (through its cache: the same terms come back query after query).
struct Lookup<'a> {
    snap: &'a Snapshot,
    /// Documents in the index, deleted ones included: `df` counts deleted documents until a
    /// merge purges them, so `n` does too (tantivy's own BM25 statistics use the same pair, see
    /// `bm25.rs`). With live documents only, replacing profiles made `df > n`, a negative idf,
    /// and their terms vanished from queries until the next merge.
    n: f32,
    min_df: u64,
}

impl Lookup<'_> {
    fn stats(&self, field: Field, term: &str) -> TermStats {
        let infos = self.snap.cache.term(&self.snap.searcher, field, term);
        let df: u64 = infos.iter().flatten().map(|ti| ti.doc_freq as u64).sum();
        let idf = if df == 0 || df < self.min_df {
            0.0
        } else {
            let d = df as f32;
            (1.0 + (self.n - d + 0.5) / (d + 0.5)).ln()
        };
        TermStats { df, idf, infos }
    }
}

/// Analysed terms of a text, each with its count and its first surface word (`None` when the
/// word is the term itself, the common case, so that it costs no allocation).
type Analysed = FxHashMap<String, (usize, Option<String>)>;

/// Analyses a text into its query terms (see [`Analysed`]): the index analyzer's terms (stop
/// words and long words dropped, each word through its per-thread memo) of the words whose
/// surface form is long enough and not a [`QUERY_STOP_WORDS`] entry.
fn analyse(text: &str) -> Analysed {
    let mut counts = Analysed::default();
    let mut tokenizer = EnglishTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    // One buffer for the surface words that differ from the word as written.
    let mut buffer = String::new();
    while stream.advance() {
        let token = stream.token();
        let Some(written) = text.get(token.offset_from..token.offset_to) else {
            continue;
        };
        let word = surface_word(written, &mut buffer);
        if word.chars().count() < MIN_WORD_CHARS || is_query_stop_word(word) {
            continue;
        }
        let term = token.text.as_str();
        match counts.get_mut(term) {
            Some((n, _)) => *n += 1,
            None => {
                let surface = (word != term).then(|| word.to_string());
                counts.insert(term.to_string(), (1, surface));
            }
        }
    }
    counts
}

/// A word as written, lower-cased and ASCII-folded as [`surface_analyzer`] gives it; ASCII
/// words (nearly all) without running the analyzer.
fn surface_word<'a>(written: &'a str, buffer: &'a mut String) -> &'a str {
    buffer.clear();
    if written.is_ascii() {
        if !written.bytes().any(|b| b.is_ascii_uppercase()) {
            return written;
        }
        buffer.push_str(written);
        buffer.make_ascii_lowercase();
        return buffer;
    }
    let mut analyzer = surface_analyzer();
    let mut stream = analyzer.token_stream(written);
    if stream.advance() {
        buffer.push_str(&stream.token().text);
    }
    buffer
}

/// The surface word of an analysed term in `part`, if the part has the term.
fn surface_in<'a>(part: &'a Analysed, term: &'a str) -> Option<&'a str> {
    part.get(term)
        .map(|(_, word)| word.as_deref().unwrap_or(term))
}

/// Terms of one part of the query (sorted, with counts) and the candidate fields (and boosts)
/// they meet.
type Source<'a> = (Vec<(&'a str, usize)>, Vec<(Field, f32)>);

/// Builds the text query of a profile; `None` when its text has no term known to the index.
/// `stored` says whether the query profile is itself in the index.
pub fn build(
    snap: &Snapshot,
    fields: &Fields,
    q: &Profile,
    sectors: SectorSet,
    stored: bool,
    params: &TextParams,
) -> Option<TextQuery> {
    // A stored query holds each of its own terms: a term no other profile has matches nothing.
    let min_df = if stored { 2 } else { 1 };
    let parts: [Analysed; 3] = [
        analyse(&about_text(q)),
        analyse(&q.seeking),
        analyse(&q.offering),
    ];
    // The sector vocabulary is a source only when expansion weighs it (off by default); it
    // always names the words (see `surface`).
    let vocabulary = if params.expansion > 0.0 {
        sector_terms(sectors)
    } else {
        Vec::new()
    };
    let sources: [Source; 4] = [
        (
            terms_of(&parts[0]),
            vec![(fields.about, params.about_about)],
        ),
        (
            terms_of(&parts[1]),
            vec![
                (fields.offering, params.seeking_offering),
                (fields.about, params.seeking_about),
            ],
        ),
        (
            terms_of(&parts[2]),
            vec![(fields.seeking, params.offering_seeking)],
        ),
        (vocabulary, vec![(fields.about, params.expansion)]),
    ];
    // Informativeness of each term: sum over sources of tf * boost * idf in the target field.
    // Sized once: every term of every source may come in.
    let size: usize = sources.iter().map(|(terms, _)| terms.len()).sum();
    let mut weight: FxHashMap<&str, f32> =
        FxHashMap::with_capacity_and_hasher(size, Default::default());
    let lookup = Lookup {
        snap,
        n: snap
            .searcher
            .segment_readers()
            .iter()
            .map(|s| u64::from(s.max_doc()))
            .sum::<u64>() as f32,
        min_df,
    };
    let mut idf_cache: FxHashMap<(Field, &str), TermStats> =
        FxHashMap::with_capacity_and_hasher(2 * size, Default::default());
    for (terms, targets) in &sources {
        for &(term, tf) in terms {
            // A zero boost adds nothing: no lookup (the sector vocabulary with expansion off).
            for (field, boost) in targets.iter().filter(|(_, b)| *b != 0.0) {
                let i = idf_cache
                    .entry((*field, term))
                    .or_insert_with(|| lookup.stats(*field, term))
                    .idf;
                *weight.entry(term).or_default() += (tf as f32).sqrt() * boost * i;
            }
        }
    }
    let mut ranked: Vec<(&str, f32)> = weight.into_iter().filter(|(_, w)| *w > 0.0).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.truncate(params.max_terms);
    if ranked.is_empty() {
        return None;
    }
    let keep: FxHashSet<&str> = ranked.iter().map(|(t, _)| *t).collect();
    let mut clauses: Vec<Clause> = Vec::new();
    // Position of each (field, term) in `clauses`, to merge repeated ones.
    let mut at: FxHashMap<(Field, &str), usize> =
        FxHashMap::with_capacity_and_hasher(2 * ranked.len(), Default::default());
    let mut ideal = 0.0;
    for (terms, targets) in &sources {
        for &(term, _) in terms.iter().filter(|(t, _)| keep.contains(t)) {
            for (field, boost) in targets {
                let Some(stats) = idf_cache.get(&(*field, term)) else {
                    continue;
                };
                let i = stats.idf;
                if *boost <= 0.0 || i <= 0.0 {
                    continue;
                }
                ideal += boost * i;
                match at.entry((*field, term)) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        clauses[*e.get()].boost += boost;
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(clauses.len());
                        clauses.push(Clause {
                            term: term.to_string(),
                            field: *field,
                            boost: *boost,
                            doc_freq: stats.df,
                            infos: stats.infos.clone(),
                        });
                    }
                }
            }
        }
    }
    let terms = ranked
        .iter()
        .map(|&(t, _)| (t.to_string(), surface(t, sectors, &parts).to_string()))
        .collect();
    Some(TextQuery {
        clauses,
        terms,
        ideal,
        lists: OnceLock::new(),
    })
}

impl TextQuery {
    /// Each clause's decoded postings in `snap` (the snapshot the query was built with), looked
    /// up in its cache once per query: scoring and the matched words then share them. They are
    /// fetched for the clauses as they are at the first call; clauses changed afterwards are not
    /// seen.
    pub fn lists(&self, snap: &Snapshot) -> tantivy::Result<&ClauseLists> {
        if let Some(lists) = self.lists.get() {
            return Ok(lists);
        }
        let lists = self
            .clauses
            .iter()
            .map(|c| {
                c.infos
                    .iter()
                    .enumerate()
                    .map(|(seg, info)| {
                        info.as_ref()
                            .map(|info| snap.cache.postings(&snap.searcher, seg, c.field, info))
                            .transpose()
                    })
                    .collect()
            })
            .collect::<tantivy::Result<ClauseLists>>()?;
        Ok(self.lists.get_or_init(|| lists))
    }

    /// The same query as a tantivy query (a union of boosted term queries): the reference that
    /// [`crate::rank`]'s term-at-a-time scoring reproduces.
    pub fn tantivy_query(&self) -> Box<dyn Query> {
        let subqueries: Vec<(Occur, Box<dyn Query>)> = self
            .clauses
            .iter()
            .map(|c| {
                let tq = TermQuery::new(
                    Term::from_field_text(c.field, &c.term),
                    IndexRecordOption::WithFreqs,
                );
                let q: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(tq), c.boost));
                (Occur::Should, q)
            })
            .collect();
        Box::new(BooleanQuery::new(subqueries))
    }
}

/// The terms of an analysed part with their counts, sorted.
fn terms_of(part: &Analysed) -> Vec<(&str, usize)> {
    let mut terms: Vec<(&str, usize)> = part.iter().map(|(t, (n, _))| (t.as_str(), *n)).collect();
    terms.sort_unstable_by(|a, b| a.0.cmp(b.0));
    terms
}

/// The word shown for a query term: the first surface word the sector vocabulary gives it (in
/// the order of the query's sectors), else the first the query's description, *seeking* and
/// *offering* give it, in that order; else the term.
fn surface<'a>(term: &'a str, sectors: SectorSet, parts: &'a [Analysed; 3]) -> &'a str {
    let vocabulary = sectors.iter().find_map(|i| {
        let words = sector_vocabulary().get(i)?;
        words.get(term).map(String::as_str)
    });
    vocabulary
        .or_else(|| parts.iter().find_map(|p| surface_in(p, term)))
        .unwrap_or(term)
}

/// Per sector of the taxonomy, its analysed vocabulary (names, aliases and keywords): each term
/// with the first surface word of it. Analysed once per process.
fn sector_vocabulary() -> &'static [FxHashMap<String, String>] {
    static TERMS: OnceLock<Vec<FxHashMap<String, String>>> = OnceLock::new();
    TERMS.get_or_init(|| {
        let t = taxonomy();
        (0..t.sectors().len())
            .map(|i| {
                let s = t.sector(i);
                let mut text = String::new();
                for w in std::iter::once(&s.name)
                    .chain(&s.aliases)
                    .chain(&s.keywords)
                {
                    text.push_str(w);
                    text.push_str(". ");
                }
                analyse(&text)
                    .into_iter()
                    .map(|(term, (_, word))| {
                        let word = word.unwrap_or_else(|| term.clone());
                        (term, word)
                    })
                    .collect()
            })
            .collect()
    })
}

/// The analysed vocabulary of a sector set as a query source: each term once, sorted, with a
/// count of 1.
fn sector_terms(sectors: SectorSet) -> Vec<(&'static str, usize)> {
    let mut terms: Vec<(&'static str, usize)> = sectors
        .iter()
        .filter_map(|i| sector_vocabulary().get(i))
        .flat_map(|words| words.keys())
        .map(|t| (t.as_str(), 1))
        .collect();
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The query words that contributed to a candidate's text score: a word counts when one of its
/// clauses' terms occurs in the candidate field that clause targets.
pub fn matched_words(tq: &TextQuery, fields: &Fields, c: &Profile) -> Vec<String> {
    let mut a = analyzer();
    let field_terms = |text: &str, a: &mut tantivy::tokenizer::TextAnalyzer| -> HashSet<String> {
        tokens(a, text).into_iter().collect()
    };
    let about = field_terms(&about_text(c), &mut a);
    let offering = field_terms(&c.offering, &mut a);
    let seeking = field_terms(&c.seeking, &mut a);
    let hit: HashSet<&str> = tq
        .clauses
        .iter()
        .filter(|cl| {
            let set = if cl.field == fields.about {
                &about
            } else if cl.field == fields.offering {
                &offering
            } else {
                &seeking
            };
            set.contains(&cl.term)
        })
        .map(|cl| cl.term.as_str())
        .collect();
    tq.terms
        .iter()
        .filter(|(t, _)| hit.contains(t.as_str()))
        .map(|(_, w)| w.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_stop_words_are_sorted_and_recognised() {
        assert!(QUERY_STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(QUERY_STOP_WORDS.iter().all(|w| is_query_stop_word(w)));
        assert!(!is_query_stop_word("water") && !is_query_stop_word("Which"));
    }

    #[test]
    fn analysis_drops_filler_and_single_letters_and_keeps_surface_words() {
        let counts = analyse("R&D has Clusters, clusters and wastewater; water");
        let mut terms: Vec<&str> = counts.keys().map(String::as_str).collect();
        terms.sort_unstable();
        assert_eq!(terms, vec!["cluster", "wastewat", "water"]);
        assert_eq!(counts["cluster"].0, 2);
        assert_eq!(surface_in(&counts, "wastewat"), Some("wastewater"));
        // The first surface word; a word that is its own term is not stored twice.
        assert_eq!(surface_in(&counts, "cluster"), Some("clusters"));
        assert_eq!(counts["water"].1, None);
        assert_eq!(surface_in(&counts, "water"), Some("water"));
    }

    #[test]
    fn expansion_adds_the_sector_vocabulary_and_names_words_from_it() {
        let index = crate::ProfileIndex::in_memory().expect("index");
        let profile = |id: &str, description: &str| Profile {
            id: id.into(),
            name: id.to_uppercase(),
            country: "NL".into(),
            description: description.into(),
            sectors: vec!["environmental_services".into()],
            ..Profile::default()
        };
        index
            .upsert(&[
                profile("a", "desalination plants and sewage networks"),
                profile("b", "sewage sludge and desalination membranes"),
                profile("c", "drinking water for delta cities"),
                profile("d", "flood barriers for deltas"),
            ])
            .expect("upsert");
        let snap = index.snapshot();
        let q = profile("q", "delta cities");
        let sectors = taxonomy().set_of(&q.sectors);
        let off = TextParams::default();
        let on = TextParams {
            expansion: 1.0,
            ..TextParams::default()
        };
        let build = |params: &TextParams| {
            build(&snap, index.fields(), &q, sectors, false, params).expect("query")
        };
        let (plain, expanded) = (build(&off), build(&on));
        let has = |tq: &TextQuery, term: &str| tq.clauses.iter().any(|c| c.term == term);
        // "sewage" and "desalination" are sector keywords, not in the query's text.
        assert!(!has(&plain, "sewag") && !has(&plain, "desalin"));
        assert!(has(&expanded, "sewag") && has(&expanded, "desalin"));
        let shown: Vec<&str> = expanded.terms.iter().map(|(_, w)| w.as_str()).collect();
        assert!(
            shown.contains(&"sewage") && shown.contains(&"desalination"),
            "{shown:?}"
        );
        // "delta" is in the vocabulary ("delta technology") and in the text: one term either
        // way, named by the vocabulary's word.
        assert!(expanded
            .terms
            .iter()
            .any(|(t, w)| t == "delta" && w == "delta"));
    }
}
