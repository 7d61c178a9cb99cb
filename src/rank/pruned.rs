//! Exact top-k ranking without scoring every candidate.
//!
//! A candidate's score is `w_text * text + w_sector * sector + w_country * country`, each part in
//! [0, 1], with weights fixed per query. So a candidate whose text part is too small cannot reach
//! the k-th best score θ found so far, whatever its sector and country: its BM25 must reach
//! `normaliser * (θ - w_sector - w_country) / w_text`. The query's BM25 is computed once, sparse
//! (tantivy's union over the matching postings, the very sums the exhaustive path uses); the
//! matching candidates are then visited with one comparison each, and only those that pass the
//! bound are scored fully from the snapshot's columns. Candidates matching no query term score
//! at most `w_sector + w_country`: when θ is above that, they are never looked at; otherwise
//! they are scored too.
//!
//! The bound is loosened by [`SLACK`] so that float rounding never drops a candidate, and ties
//! at θ are always scored, so the top k — ids, order, scores, tie-break by id — is exactly the
//! exhaustive path's. That path remains for queries without text, a zero text weight, a
//! `min_score`, or `top: 0`.

use std::collections::BinaryHeap;

use super::{push_top, sorted_best, CompiledFilters, Prepared, Ranked, RawScores, Scored};
use crate::error::Result;
use crate::index::{ProfileIndex, Snapshot};
use crate::rank::MatchOptions;
use crate::score::{self, Components, ScoringParams};

/// Absolute slack on combined scores in the bound, far above float rounding (scores are in
/// [0, 1]) and far below any meaningful score difference.
const SLACK: f32 = 1e-5;

/// The pruned top k, or the prepared query back when the exhaustive path must run.
pub(super) fn top_k<'a>(
    index: &ProfileIndex,
    snap: &'a Snapshot,
    mut prepared: Prepared,
    params: &ScoringParams,
    opts: &MatchOptions,
    filters: &CompiledFilters,
    self_row: Option<u32>,
) -> Result<std::result::Result<Ranked<'a>, Prepared>> {
    let k = opts.top;
    let Some(tq) = prepared.text.as_ref() else {
        return Ok(Err(prepared));
    };
    if k == 0 || opts.filters.min_score > 0.0 {
        return Ok(Err(prepared));
    }
    let probe = Components {
        text: Some(0.0),
        sector: prepared.sector.as_ref().map(|_| 0.0),
        country: prepared.country.as_ref().map(|_| 0.0),
    };
    let w = score::effective_weights(&probe, &params.weights);
    if w.text <= 0.0 || !w.text.is_finite() {
        return Ok(Err(prepared));
    }
    // Sector and country are each at most 1.
    let rest = w.sector + w.country;

    // The query's BM25, sparse and sorted by row.
    let mut hits = take_buffer();
    let mut top = 0f32;
    ACC.with(|acc| -> Result<()> {
        let mut acc = acc.borrow_mut();
        // All zero between queries; sized to this snapshot.
        acc.resize(snap.rows.len(), 0.0);
        let acc = &mut acc[..snap.rows.len()];
        if let Err(e) = super::bm25::accumulate(tq, snap, acc) {
            acc.fill(0.0);
            return Err(super::index_error(index)(e));
        }
        // Every matching document has a positive BM25 (positive idf and boost, tf >= 1).
        for (row, s) in acc.iter_mut().enumerate() {
            if *s != 0.0 {
                let row = row as u32;
                if *s > top && Some(row) != self_row && snap.rows[row as usize].alive {
                    top = *s;
                }
                hits.push((row, *s));
                *s = 0.0;
            }
        }
        Ok(())
    })?;
    let normaliser = score::text::normaliser(top, tq.ideal, params.text.floor);
    prepared.normaliser = normaliser;

    // The raw BM25 below which a candidate cannot reach `theta`.
    let raw_needed = |theta: f32| -> f32 {
        let t = (theta - rest - SLACK) / w.text;
        if t > 0.0 {
            t * normaliser
        } else {
            f32::NEG_INFINITY
        }
    };
    let mut heap: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
    let mut theta = f32::NEG_INFINITY;
    let mut bar = f32::NEG_INFINITY;
    for &(row, raw) in &hits {
        if raw < bar || !filters.keeps(snap, row) {
            continue;
        }
        // A second, tighter bound once the heap is full: the exact text and sector parts (a
        // few operations on a bit mask) with the country part at its maximum, 1; the country
        // part (target lists) is computed only for candidates that pass it.
        if heap.len() == k && prepared.country.is_some() {
            let text = score::text::normalise(raw, normaliser);
            let sector = prepared
                .sector
                .as_ref()
                .map_or(0.0, |s| s.score(snap.rows[row as usize].sectors));
            if w.text * text + w.sector * sector + w.country + SLACK < theta {
                continue;
            }
        }
        let c = prepared.components_with_raw(snap, row, raw);
        let item = Scored {
            score: score::combine(&c, &params.weights),
            row,
            id: &snap.ids[row as usize],
        };
        push_top(&mut heap, k, item);
        if heap.len() == k {
            if let Some(min) = heap.peek() {
                if min.0.score > theta {
                    theta = min.0.score;
                    bar = raw_needed(theta);
                }
            }
        }
    }
    // Candidates matching no query term score at most `rest`; score them when they may count.
    if heap.len() < k || theta <= rest + SLACK {
        let mut next_hit = hits.iter().map(|(r, _)| *r).peekable();
        for row in 0..snap.rows.len() as u32 {
            if next_hit.peek() == Some(&row) {
                next_hit.next();
                continue;
            }
            if !filters.keeps(snap, row) {
                continue;
            }
            let c = prepared.components_with_raw(snap, row, 0.0);
            let item = Scored {
                score: score::combine(&c, &params.weights),
                row,
                id: &snap.ids[row as usize],
            };
            push_top(&mut heap, k, item);
        }
    }
    let candidates = count_candidates(snap, filters);
    let best = sorted_best(heap);
    prepared.raw = RawScores::Sparse(hits);
    Ok(Ok(Ranked {
        prepared,
        best,
        candidates,
    }))
}

/// Number of rows passing the filters (every such row is a candidate when `min_score` is 0).
fn count_candidates(snap: &Snapshot, filters: &CompiledFilters) -> usize {
    if filters.countries.is_none() && filters.kinds.is_none() && filters.sectors.is_none() {
        // `exclude` holds live rows only.
        snap.len() - filters.exclude.len()
    } else {
        (0..snap.rows.len() as u32)
            .filter(|&row| filters.keeps(snap, row))
            .count()
    }
}

thread_local! {
    /// A dense BM25 accumulator kept per thread between queries, all zero when not in use.
    static ACC: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A hit buffer kept per thread between queries, so that large indexes do not allocate
    /// (and fault in) a fresh one for every query.
    static HITS: std::cell::RefCell<Vec<(u32, f32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty hit buffer, reused from this thread's previous query when there is one.
fn take_buffer() -> Vec<(u32, f32)> {
    let mut v = HITS.with(|h| std::mem::take(&mut *h.borrow_mut()));
    v.clear();
    v
}

/// Gives a hit buffer back for the next query on this thread.
pub(super) fn recycle(v: Vec<(u32, f32)>) {
    HITS.with(|h| *h.borrow_mut() = v);
}
