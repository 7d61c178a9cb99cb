//! Ranking: for one query, score every live candidate with the three components, apply the
//! filters, keep the top k with ties broken by id, and explain each kept match.
//!
//! The steps, in order: the query's BM25 is added into a per-thread accumulator, clause by
//! clause and segment by segment (module `bm25`); hard filters (self, exclusions, country, kind,
//! sector) drop candidates; the candidates that can still reach the top k (module `pruned`; every
//! candidate on the exhaustive path) get their sector and country parts from the snapshot's
//! columns; the combined score orders them; the top k are explained (matched terms, shared
//! sectors, countries).

mod bm25;
mod matched;
mod pruned;
pub mod query;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::index::{ProfileIndex, Snapshot};
use crate::profile::{Kind, Profile};
use crate::score::country::CountryQuery;
use crate::score::sector::SectorQuery;
use crate::score::{self, Components, Explanation, ScoringParams};
use crate::taxonomy::{taxonomy, SectorSet};

/// Hard filters on candidates.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filters {
    /// Keep only candidates in these countries (alpha-2).
    pub countries: Vec<String>,
    /// Keep only candidates of these kinds.
    pub kinds: Vec<Kind>,
    /// Keep only candidates with at least one of these sectors (codes).
    pub sectors: Vec<String>,
    /// Keep only candidates scoring at least this.
    pub min_score: f32,
    /// Never return these ids.
    pub exclude: Vec<String>,
}

/// How to rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchOptions {
    /// Number of matches to return.
    pub top: usize,
    /// Hard filters.
    pub filters: Filters,
    /// Whether to attach a full explanation tree to each match.
    pub explain: bool,
    /// Whether to compute readable reasons and fetch names (turn off in batch work that only
    /// needs ids, scores and components: matches then carry an empty name and no reasons).
    pub reasons: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            top: 10,
            filters: Filters::default(),
            explain: false,
            reasons: true,
        }
    }
}

/// The query organisation, resolved for ranking.
#[derive(Debug, Clone)]
pub struct ResolvedQuery {
    /// The query's profile (id empty for free text).
    pub profile: Profile,
    /// Its sectors, given or inferred.
    pub sectors: SectorSet,
    /// Whether `sectors` were inferred from text.
    pub sectors_inferred: bool,
}

/// One recommended partner.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// 1-based rank.
    pub rank: usize,
    /// Profile id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Country (alpha-2).
    pub country: String,
    /// Kind.
    pub kind: Kind,
    /// Final score in [0, 1].
    #[serde(serialize_with = "crate::score::round")]
    pub score: f32,
    /// Component values (`null` when the component dropped out).
    pub components: Components,
    /// Readable reasons, one per contributing fact.
    pub reasons: Vec<String>,
    /// Full explanation tree (with `explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// What was asked, as echoed in results.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuerySummary {
    /// Query id (absent for free text and outside profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Query name.
    pub name: String,
    /// Query country, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Sectors used for the sector component.
    pub sectors: Vec<String>,
    /// Whether those sectors were inferred from the query's text.
    pub sectors_inferred: bool,
    /// Countries the query targets.
    pub target_countries: Vec<String>,
    /// The query terms used, most informative first.
    pub terms: Vec<String>,
    /// The weights that were applied.
    pub weights: score::Weights,
    /// Number of candidates that passed the filters.
    pub candidates: usize,
}

/// A ranked list with its query.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchResult {
    /// The query.
    pub query: QuerySummary,
    /// The matches, best first.
    pub matches: Vec<Match>,
}

/// Candidate filters compiled against a snapshot.
struct CompiledFilters {
    countries: Option<HashSet<u16>>,
    kinds: Option<u8>,
    sectors: Option<SectorSet>,
    /// Excluded rows, sorted and unique (usually just the query's own row).
    exclude: Vec<u32>,
    /// The one row to keep, when a single pair is explained ([`explain_pair`]).
    only: Option<u32>,
}

impl CompiledFilters {
    fn new(f: &Filters, snap: &Snapshot, self_row: Option<u32>) -> Result<Self> {
        let countries = if f.countries.is_empty() {
            None
        } else {
            let mut set = HashSet::new();
            for c in &f.countries {
                let code = crate::country::parse_option("filter country", c)?;
                set.extend(crate::country::code_number(&code));
            }
            Some(set)
        };
        let kinds =
            (!f.kinds.is_empty()).then(|| f.kinds.iter().fold(0u8, |m, k| m | 1 << k.number()));
        let sectors = if f.sectors.is_empty() {
            None
        } else {
            Some(resolve_sectors(&f.sectors, "filter sector")?)
        };
        let mut exclude: Vec<u32> = f
            .exclude
            .iter()
            .filter_map(|id| snap.row_of_id(id))
            .collect();
        exclude.extend(self_row);
        exclude.sort_unstable();
        exclude.dedup();
        Ok(CompiledFilters {
            countries,
            kinds,
            sectors,
            exclude,
            only: None,
        })
    }

    #[inline]
    fn keeps(&self, snap: &Snapshot, row: u32) -> bool {
        let r = &snap.rows[row as usize];
        r.alive
            && self.only.is_none_or(|o| o == row)
            && self.exclude.binary_search(&row).is_err()
            && self
                .countries
                .as_ref()
                .is_none_or(|c| c.contains(&r.country))
            && self.kinds.is_none_or(|k| k & (1 << r.kind) != 0)
            && self.sectors.is_none_or(|s| s.0 & r.sectors.0 != 0)
    }
}

/// Resolves sector codes or aliases; the error names the option and suggests the nearest code.
pub fn resolve_sectors(codes: &[String], what: &str) -> Result<SectorSet> {
    let t = taxonomy();
    let mut set = SectorSet::default();
    for c in codes {
        match t.resolve(c) {
            Some(i) => set.insert(i),
            None => {
                let hint = t
                    .suggest(c)
                    .map(|s| format!("; did you mean \"{s}\"?"))
                    .unwrap_or_default();
                return Err(Error::Usage(format!("{what}: unknown code \"{c}\"{hint}")));
            }
        }
    }
    Ok(set)
}

/// A scored candidate in the top-k heap; "greater" means better (higher score, then smaller id).
struct Scored<'a> {
    score: f32,
    row: u32,
    /// Where the row's id is read, only when two scores tie.
    snap: &'a Snapshot,
}

impl Ord for Scored<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.snap.id_of(other.row).cmp(self.snap.id_of(self.row)))
    }
}
impl PartialOrd for Scored<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Scored<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored<'_> {}

/// Raw BM25 scores of one query: dense (exhaustive path) or sparse, sorted by row (pruned path).
enum RawScores {
    Dense(Vec<f32>),
    Sparse(Vec<(u32, f32)>),
}

impl RawScores {
    #[inline]
    fn get(&self, row: u32) -> f32 {
        match self {
            RawScores::Dense(v) => v[row as usize],
            RawScores::Sparse(v) => v
                .binary_search_by_key(&row, |(r, _)| *r)
                .map_or(0.0, |i| v[i].1),
        }
    }
}

/// Everything prepared once per query.
struct Prepared {
    text: Option<query::TextQuery>,
    raw: RawScores,
    normaliser: f32,
    sector: Option<SectorQuery>,
    country: Option<CountryQuery>,
}

impl Prepared {
    fn components(&self, snap: &Snapshot, row: u32) -> Components {
        self.components_with_raw(snap, row, self.raw.get(row))
    }

    #[inline]
    fn components_with_raw(&self, snap: &Snapshot, row: u32, raw: f32) -> Components {
        self.components_with(snap, row, raw, self.sector_of(snap, row))
    }

    /// The sector part of a row (`None` when the query has no sectors).
    #[inline]
    fn sector_of(&self, snap: &Snapshot, row: u32) -> Option<f32> {
        let sectors = snap.rows[row as usize].sectors;
        self.sector.as_ref().map(|s| s.score(sectors))
    }

    /// The components of a row whose raw BM25 and sector part are known.
    #[inline]
    fn components_with(
        &self,
        snap: &Snapshot,
        row: u32,
        raw: f32,
        sector: Option<f32>,
    ) -> Components {
        let r = &snap.rows[row as usize];
        Components {
            text: self
                .text
                .as_ref()
                .map(|_| score::text::normalise(raw, self.normaliser)),
            sector,
            country: self
                .country
                .as_ref()
                .map(|c| c.score(r.country, snap.targets_of(row))),
        }
    }
}

fn index_error(index: &ProfileIndex) -> impl Fn(tantivy::TantivyError) -> Error + '_ {
    move |source| Error::Index {
        path: index.path().map(Into::into).unwrap_or_default(),
        source,
    }
}

/// The query sides of the three components, before any text is scored.
fn prepare_query(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
) -> Prepared {
    Prepared {
        text: query::build(
            snap,
            index.fields(),
            &q.profile,
            q.sectors,
            snap.contains_id(&q.profile.id),
            &params.text,
        ),
        raw: RawScores::Sparse(Vec::new()),
        normaliser: 0.0,
        sector: SectorQuery::new(q.sectors, params.sector),
        country: CountryQuery::new(
            &q.profile.target_countries,
            &q.profile.country,
            params.country,
        ),
    }
}

/// Exhaustive text scoring: BM25 of every matching document into a dense vector.
fn score_text_dense(
    index: &ProfileIndex,
    snap: &Snapshot,
    prepared: &mut Prepared,
    params: &ScoringParams,
    self_row: Option<u32>,
) -> Result<()> {
    let mut raw = vec![0f32; snap.rows.len()];
    let mut top = 0f32;
    if let Some(tq) = &prepared.text {
        top = bm25::accumulate(tq, snap, &mut raw, self_row).map_err(index_error(index))?;
    }
    prepared.normaliser = score::text::normaliser(
        top,
        prepared.text.as_ref().map_or(0.0, |t| t.ideal),
        params.text.floor,
    );
    prepared.raw = RawScores::Dense(raw);
    Ok(())
}

/// The top k of a ranking, best first, and the number of candidates that passed the filters.
struct Ranked<'a> {
    prepared: Prepared,
    best: Vec<Scored<'a>>,
    candidates: usize,
}

/// Which ranking strategy to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Top-k pruning when it is provably exact, else exhaustive (the default).
    Auto,
    /// Score every live candidate (the reference the pruned path must reproduce).
    Exhaustive,
}

/// Ranks every candidate of a snapshot for a query.
pub fn rank(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
    opts: &MatchOptions,
) -> Result<MatchResult> {
    rank_with(index, snap, q, params, opts, Strategy::Auto)
}

/// [`rank`] with an explicit strategy; both strategies return the same matches.
pub fn rank_with(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
    opts: &MatchOptions,
    strategy: Strategy,
) -> Result<MatchResult> {
    let mode = Mode {
        exhaustive_only: strategy == Strategy::Exhaustive,
        fallback: true,
        only: None,
    };
    match rank_inner(index, snap, q, params, opts, mode)? {
        Some(r) => Ok(r),
        None => Err(Error::Usage("ranking produced no result".into())),
    }
}

/// How one candidate row suits a query, scored and explained exactly as in the query's full
/// ranking (the text part is still normalised by the best BM25 of all candidates): `None` when
/// the row cannot be a candidate (the query's own row, a deleted one).
pub fn explain_pair(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
    row: u32,
) -> Result<Option<Match>> {
    let opts = MatchOptions {
        top: 1,
        explain: true,
        reasons: true,
        filters: Filters::default(),
    };
    let mode = Mode {
        exhaustive_only: false,
        fallback: true,
        only: Some(row),
    };
    Ok(rank_inner(index, snap, q, params, &opts, mode)?.and_then(|mut r| r.matches.pop()))
}

/// The pruned ranking alone: `None` when exactness cannot be proven without scoring every
/// candidate (then [`rank`] scores them all). For tests and measurements.
pub fn rank_pruned(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
    opts: &MatchOptions,
) -> Result<Option<MatchResult>> {
    let mode = Mode {
        exhaustive_only: false,
        fallback: false,
        only: None,
    };
    rank_inner(index, snap, q, params, opts, mode)
}

/// How [`rank_inner`] runs.
struct Mode {
    /// Score every candidate, without pruning.
    exhaustive_only: bool,
    /// Score every candidate when pruning cannot prove its top k (else return `None`).
    fallback: bool,
    /// Keep this row alone as a candidate.
    only: Option<u32>,
}

fn rank_inner(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
    opts: &MatchOptions,
    mode: Mode,
) -> Result<Option<MatchResult>> {
    let Mode {
        exhaustive_only,
        fallback,
        only,
    } = mode;
    let self_row = snap.row_of_id(&q.profile.id);
    let mut filters = CompiledFilters::new(&opts.filters, snap, self_row)?;
    filters.only = only;
    let mut prepared = prepare_query(index, snap, q, params);
    let ranked = if exhaustive_only {
        score_text_dense(index, snap, &mut prepared, params, self_row)?;
        exhaustive(snap, prepared, params, opts, &filters)
    } else {
        match pruned::top_k(index, snap, prepared, params, opts, &filters, self_row)? {
            Ok(ranked) => ranked,
            Err(_) if !fallback => return Ok(None),
            Err(mut back) => {
                score_text_dense(index, snap, &mut back, params, self_row)?;
                exhaustive(snap, back, params, opts, &filters)
            }
        }
    };
    let Ranked {
        prepared,
        best,
        candidates,
    } = ranked;
    let mut matches = Vec::with_capacity(best.len());
    if opts.reasons || opts.explain {
        let rows: Vec<u32> = best.iter().map(|s| s.row).collect();
        let words = match &prepared.text {
            Some(tq) => {
                // Reasons show the first few words; only the explanation tree lists them all.
                let limit = if opts.explain {
                    usize::MAX
                } else {
                    score::text::SHOWN_WORDS
                };
                matched::matched_words(tq, snap, &rows, limit).map_err(index_error(index))?
            }
            None => vec![Vec::new(); rows.len()],
        };
        for (i, (s, words)) in best.iter().zip(&words).enumerate() {
            matches.push(explain_row(
                index,
                snap,
                &prepared,
                params,
                s.row,
                i + 1,
                opts.explain,
                words,
            )?);
        }
    } else {
        for (i, s) in best.iter().enumerate() {
            matches.push(bare_row(snap, &prepared, params, s.row, i + 1));
        }
    }
    let query = summary(q, &prepared, params, candidates);
    Ok(Some(MatchResult { query, matches }))
}

/// Scores every live row and keeps the top k.
fn exhaustive<'a>(
    snap: &'a Snapshot,
    prepared: Prepared,
    params: &ScoringParams,
    opts: &MatchOptions,
    filters: &CompiledFilters,
) -> Ranked<'a> {
    let k = opts.top;
    let mut heap: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
    let mut candidates = 0;
    for row in 0..snap.rows.len() as u32 {
        if !filters.keeps(snap, row) {
            continue;
        }
        let c = prepared.components(snap, row);
        let s = score::combine(&c, &params.weights);
        if s < opts.filters.min_score {
            continue;
        }
        candidates += 1;
        if k == 0 {
            continue;
        }
        let item = Scored {
            score: s,
            row,
            snap,
        };
        push_top(&mut heap, k, item);
    }
    Ranked {
        prepared,
        best: sorted_best(heap),
        candidates,
    }
}

#[inline]
fn push_top<'a>(heap: &mut BinaryHeap<std::cmp::Reverse<Scored<'a>>>, k: usize, item: Scored<'a>) {
    if heap.len() < k {
        heap.push(std::cmp::Reverse(item));
    } else if heap.peek().is_some_and(|w| item > w.0) {
        heap.pop();
        heap.push(std::cmp::Reverse(item));
    }
}

fn sorted_best(heap: BinaryHeap<std::cmp::Reverse<Scored>>) -> Vec<Scored> {
    let mut best: Vec<Scored> = heap.into_iter().map(|r| r.0).collect();
    best.sort_by(|a, b| b.cmp(a));
    best
}

/// The directed score of a query against every row of a snapshot (0 for deleted rows and for
/// the query's own row): the bulk path of event batches, with no top-k and no explanations.
pub fn score_rows(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
) -> Result<Vec<f32>> {
    let self_row = snap.row_of_id(&q.profile.id);
    let mut prepared = prepare_query(index, snap, q, params);
    score_text_dense(index, snap, &mut prepared, params, self_row)?;
    Ok((0..snap.rows.len() as u32)
        .map(|row| {
            if Some(row) == self_row || !snap.rows[row as usize].alive {
                0.0
            } else {
                score::combine(&prepared.components(snap, row), &params.weights)
            }
        })
        .collect())
}

/// Scores and explains a query against chosen rows only (ranks follow the order given): the
/// reasons of the pairs an event batch shows, prepared once per query.
pub fn explain_rows(
    index: &ProfileIndex,
    snap: &Snapshot,
    q: &ResolvedQuery,
    params: &ScoringParams,
    rows: &[u32],
) -> Result<Vec<Match>> {
    let self_row = snap.row_of_id(&q.profile.id);
    let mut prepared = prepare_query(index, snap, q, params);
    score_text_dense(index, snap, &mut prepared, params, self_row)?;
    let words = match &prepared.text {
        Some(tq) => matched::matched_words(tq, snap, rows, score::text::SHOWN_WORDS)
            .map_err(index_error(index))?,
        None => vec![Vec::new(); rows.len()],
    };
    rows.iter()
        .zip(&words)
        .enumerate()
        .map(|(i, (&row, words))| {
            explain_row(index, snap, &prepared, params, row, i + 1, false, words)
        })
        .collect()
}

fn summary(
    q: &ResolvedQuery,
    prepared: &Prepared,
    params: &ScoringParams,
    candidates: usize,
) -> QuerySummary {
    let probe = Components {
        text: prepared.text.as_ref().map(|_| 0.0),
        sector: prepared.sector.as_ref().map(|_| 0.0),
        country: prepared.country.as_ref().map(|_| 0.0),
    };
    QuerySummary {
        id: Some(q.profile.id.clone()).filter(|s| !s.is_empty()),
        name: if q.profile.name.is_empty() {
            "(free-text query)".to_string()
        } else {
            q.profile.name.clone()
        },
        country: Some(q.profile.country.clone()).filter(|s| !s.is_empty()),
        sectors: taxonomy().codes(q.sectors),
        sectors_inferred: q.sectors_inferred,
        target_countries: q.profile.target_countries.clone(),
        terms: prepared
            .text
            .as_ref()
            .map(|t| t.terms.iter().map(|(_, w)| w.clone()).collect())
            .unwrap_or_default(),
        weights: score::effective_weights(&probe, &params.weights),
        candidates,
    }
}

fn bare_row(
    snap: &Snapshot,
    prepared: &Prepared,
    params: &ScoringParams,
    row: u32,
    rank: usize,
) -> Match {
    let r = &snap.rows[row as usize];
    let comps = prepared.components(snap, row);
    Match {
        rank,
        id: snap.id_of(row).to_string(),
        name: String::new(),
        country: crate::country::code_from_number(r.country),
        kind: Kind::from_number(r.kind as u64),
        score: score::combine(&comps, &params.weights),
        components: comps,
        reasons: Vec::new(),
        explanation: None,
    }
}

/// A component's reasons; with `tree`, its explanation tree too, written there.
fn component_reasons(
    tree: Option<&mut Option<Explanation>>,
    explain: impl FnOnce() -> (Explanation, Vec<String>),
    reasons: impl FnOnce() -> Vec<String>,
) -> Vec<String> {
    match tree {
        Some(slot) => {
            let (e, rs) = explain();
            *slot = Some(e);
            rs
        }
        None => reasons(),
    }
}

#[allow(clippy::too_many_arguments)]
fn explain_row(
    index: &ProfileIndex,
    snap: &Snapshot,
    prepared: &Prepared,
    params: &ScoringParams,
    row: u32,
    rank: usize,
    full: bool,
    words: &[String],
) -> Result<Match> {
    let r = &snap.rows[row as usize];
    let name = match snap.name_of(row) {
        Some(name) => name.to_string(),
        None => index.profile_at(snap, row)?.name,
    };
    let comps = prepared.components(snap, row);
    // The trees are built only when asked for (`--explain`); reasons always are.
    let mut reasons = Vec::new();
    let mut parts: [Option<Explanation>; 3] = [None, None, None];
    if prepared.text.is_some() {
        let (raw, normaliser) = (prepared.raw.get(row), prepared.normaliser);
        reasons.extend(component_reasons(
            full.then_some(&mut parts[0]),
            || score::text::explain(raw, normaliser, words),
            || score::text::reasons(raw, normaliser, words),
        ));
    }
    if let Some(sq) = &prepared.sector {
        reasons.extend(component_reasons(
            full.then_some(&mut parts[1]),
            || sq.explain(r.sectors, r.inferred),
            || sq.reasons(r.sectors, r.inferred),
        ));
    }
    if let Some(cq) = &prepared.country {
        let targets = snap.targets_of(row);
        reasons.extend(component_reasons(
            full.then_some(&mut parts[2]),
            || cq.explain(r.country, targets),
            || cq.reasons(r.country, targets),
        ));
    }
    let explanation = full.then(|| score::explain_combination(&comps, &params.weights, parts));
    Ok(Match {
        rank,
        id: snap.id_of(row).to_string(),
        name,
        country: crate::country::code_from_number(r.country),
        kind: Kind::from_number(r.kind as u64),
        score: score::combine(&comps, &params.weights),
        components: comps,
        reasons,
        explanation,
    })
}
