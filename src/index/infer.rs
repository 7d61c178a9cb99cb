//! Sector inference from free text: the taxonomy's sector descriptions, names, aliases and
//! keywords are indexed (in memory, with the same analyzer as the profiles), and a text is
//! resolved to the sectors whose descriptions it matches best.
//!
//! Used for free-text queries without `--sector`, and for profiles that give no sectors.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, STORED};
use tantivy::{doc, Index, IndexReader, Term};

use super::schema::{analyzer, register, tokens, ANALYZER};
use crate::taxonomy::{taxonomy, SectorSet};

/// Inference parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferParams {
    /// At most this many sectors are inferred.
    pub max_sectors: usize,
    /// A sector is kept when its score is at least this fraction of the best one.
    pub relative: f32,
    /// The best sector needs at least this BM25 score (too little text infers nothing).
    pub min_score: f32,
}

impl Default for InferParams {
    fn default() -> Self {
        InferParams {
            max_sectors: 2,
            relative: 0.6,
            min_score: 4.0,
        }
    }
}

struct SectorIndex {
    reader: IndexReader,
    text: tantivy::schema::Field,
    ord: tantivy::schema::Field,
}

static SECTOR_INDEX: LazyLock<Option<SectorIndex>> = LazyLock::new(|| build().ok());

fn build() -> tantivy::Result<SectorIndex> {
    let mut b = Schema::builder();
    let opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let text = b.add_text_field("text", opts);
    let ord = b.add_u64_field("ord", STORED | tantivy::schema::FAST);
    let index = Index::create_in_ram(b.build());
    register(&index);
    let mut w = index.writer_with_num_threads(1, 15_000_000)?;
    for (i, s) in taxonomy().sectors().iter().enumerate() {
        let mut t = format!("{}. {}. ", s.name, s.description);
        for a in s.aliases.iter().chain(&s.keywords) {
            t.push_str(a);
            t.push_str(". ");
        }
        w.add_document(doc!(text => t, ord => i as u64))?;
    }
    w.commit()?;
    let reader = index.reader()?;
    Ok(SectorIndex { reader, text, ord })
}

/// Sectors inferred from a text, with each one's score, best first.
///
/// Aliases written in the text (whole words, e.g. "biotech") count first; then the sector
/// descriptions matched by BM25.
///
/// ```
/// let t = clustermatch::taxonomy::taxonomy();
/// let found = clustermatch::index::infer::infer_scored(
///     "membranes and treatment plants for drinking water and wastewater",
///     &Default::default(),
/// );
/// assert_eq!(t.sector(found[0].0).code, "environmental_services");
/// ```
pub fn infer_scored(text: &str, params: &InferParams) -> Vec<(usize, f32)> {
    let Some(si) = SECTOR_INDEX.as_ref() else {
        return Vec::new();
    };
    let mut a = analyzer();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in tokens(&mut a, text) {
        *counts.entry(t).or_default() += 1;
    }
    if counts.is_empty() {
        return Vec::new();
    }
    let clauses: Vec<(Occur, Box<dyn Query>)> = counts
        .keys()
        .map(|t| {
            let q = TermQuery::new(
                Term::from_field_text(si.text, t),
                IndexRecordOption::WithFreqs,
            );
            (Occur::Should, Box::new(q) as Box<dyn Query>)
        })
        .collect();
    let searcher = si.reader.searcher();
    let query = BooleanQuery::new(clauses);
    let top = match searcher.search(
        &query,
        &TopDocs::with_limit(params.max_sectors.max(1)).order_by_score(),
    ) {
        Ok(t) => t,
        Err(_) => return Vec::new(),
    };
    let Some(best) = top.first().map(|(s, _)| *s) else {
        return Vec::new();
    };
    if best < params.min_score {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (score, addr) in top {
        if score < best * params.relative {
            break;
        }
        let Ok(d) = searcher.doc::<tantivy::TantivyDocument>(addr) else {
            continue;
        };
        use tantivy::schema::Value;
        if let Some(i) = d.get_first(si.ord).and_then(|v| v.as_u64()) {
            out.push((i as usize, score));
        }
    }
    out
}

/// The set of sectors inferred from a text (possibly empty).
pub fn infer(text: &str, params: &InferParams) -> SectorSet {
    let mut set = SectorSet::default();
    for (i, _) in infer_scored(text, params) {
        set.insert(i);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<String> {
        taxonomy().codes(infer(text, &InferParams::default()))
    }

    #[test]
    fn free_text_resolves_to_sectors() {
        let c = codes("vaccines, biologics and drug discovery for personalised medicine");
        assert!(c.contains(&"biopharmaceuticals".to_string()), "{c:?}");
        let c = codes("chemical parks, petrochemicals and polymer production sites");
        assert!(
            c.iter().any(|s| s.contains("chemical")),
            "chemistry text should infer a chemical sector: {c:?}"
        );
    }

    #[test]
    fn too_little_text_infers_nothing() {
        assert!(codes("").is_empty());
        assert!(codes("the and of").is_empty());
    }
}
