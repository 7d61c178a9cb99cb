//! Exact top-k ranking without scoring every candidate.
//!
//! A candidate's score is `w_text * text + w_sector * sector + w_country * country`, each part in
//! [0, 1], with weights fixed per query. So a candidate whose text part is too small cannot reach
//! the k-th best score θ found so far, whatever its sector and country: its BM25 must reach
//! `normaliser * (θ - w_sector - w_country) / w_text`. The query's BM25 of every row is
//! accumulated once (the very sums the exhaustive path uses) and its maximum sets the
//! normaliser. A first pass then scores the rows whose BM25 is at least half the best (the `4k`
//! best of them by BM25 first, picked by a partial selection, so that the bound starts near its
//! final value) — usually enough to fill the
//! top k and raise θ so that the bound excludes nearly every other row; a second pass visits the
//! rows between the bound and that cut, skipping blocks of rows below the bound with one
//! vectorised comparison. Only rows that pass the bound are scored fully from the
//! snapshot's columns. Candidates matching no query term score at most `w_sector + w_country`:
//! when θ is above that, they are never looked at; otherwise they are scored too.
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
    if prepared.text.is_none() {
        return Ok(Err(prepared));
    }
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

    let (best, best_raw) = ACC.with(|acc| -> Result<_> {
        let mut acc = acc.borrow_mut();
        // Sized to this snapshot; `accumulate` overwrites it.
        acc.resize(snap.rows.len(), 0.0);
        let acc = &mut acc[..snap.rows.len()];
        let Some(tq) = prepared.text.as_ref() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let top =
            super::bm25::accumulate(tq, snap, acc, self_row).map_err(super::index_error(index))?;
        prepared.normaliser = score::text::normaliser(top, tq.ideal, params.text.floor);
        let mut visit = Visit {
            snap,
            prepared: &prepared,
            params,
            filters,
            heap: BinaryHeap::with_capacity(k + 1),
            k,
            theta: f32::NEG_INFINITY,
            bar: f32::NEG_INFINITY,
            w_text: w.text,
            w_country: w.country,
            rest,
        };
        let best_raw = visit.run(acc);
        Ok((sorted_best(visit.heap), best_raw))
    })?;
    let candidates = count_candidates(snap, filters);
    prepared.raw = RawScores::Sparse(best_raw);
    Ok(Ok(Ranked {
        prepared,
        best,
        candidates,
    }))
}

/// The first candidate pass visits rows whose BM25 is at least this share of the best one:
/// usually enough to fill the top k with scores that make the bound exclude nearly every other
/// row, which a second pass then only has to compare.
const FIRST_PASS_SHARE: f32 = 0.5;

/// Within the first pass, the `LEAD_PER_K · k` rows with the best BM25 are visited before the
/// others.
const LEAD_PER_K: usize = 4;

/// The state of one pruned ranking: the top-k heap and its bound.
struct Visit<'s, 'p> {
    snap: &'s Snapshot,
    prepared: &'p Prepared,
    params: &'p ScoringParams,
    filters: &'p CompiledFilters,
    heap: BinaryHeap<std::cmp::Reverse<Scored<'s>>>,
    k: usize,
    /// The k-th best combined score so far.
    theta: f32,
    /// The raw BM25 below which a candidate cannot reach `theta`.
    bar: f32,
    w_text: f32,
    w_country: f32,
    /// Sector and country weights together: the most a candidate gets without text.
    rest: f32,
}

impl<'s> Visit<'s, '_> {
    /// Visits the rows of `acc` (the query's BM25 of every row) that may reach the top k, and
    /// returns the raw BM25 of the kept rows, sorted by row.
    fn run(&mut self, acc: &[f32]) -> Vec<(u32, f32)> {
        let mut rows = Vec::new();
        // The normaliser is the best BM25 (or the floor above it).
        let first = FIRST_PASS_SHARE * self.prepared.normaliser;
        rows_in_range(acc, first, f32::INFINITY, &mut rows);
        // The best of them by BM25 first (a partial selection, no sort), so that the bound
        // is near its final value before the others are looked at.
        let lead = (LEAD_PER_K * self.k).min(rows.len());
        if lead > 0 && lead < rows.len() {
            rows.select_nth_unstable_by(lead - 1, |a, b| {
                acc[*b as usize].total_cmp(&acc[*a as usize])
            });
        }
        for &row in &rows {
            self.visit(row, acc[row as usize]);
        }
        // Rows matching at least one term (every BM25 is positive) below the first cut.
        if self.bar < first {
            rows.clear();
            rows_in_range(acc, self.bar.max(f32::MIN_POSITIVE), first, &mut rows);
            self.visit_all(&rows, acc);
        }
        // Rows matching no query term score at most `rest`; score them when they may count.
        if self.heap.len() < self.k || self.theta <= self.rest + SLACK {
            for row in 0..acc.len() as u32 {
                if acc[row as usize] == 0.0 {
                    self.visit(row, 0.0);
                }
            }
        }
        let mut best: Vec<(u32, f32)> = self
            .heap
            .iter()
            .map(|s| (s.0.row, acc[s.0.row as usize]))
            .collect();
        best.sort_unstable_by_key(|(row, _)| *row);
        best
    }

    fn visit_all(&mut self, rows: &[u32], acc: &[f32]) {
        for &row in rows {
            self.visit(row, acc[row as usize]);
        }
    }

    /// Scores one row when it passes the filters and may reach the top k.
    #[inline]
    fn visit(&mut self, row: u32, raw: f32) {
        let snap = self.snap;
        if raw < self.bar || !self.filters.keeps(snap, row) {
            return;
        }
        let prepared = self.prepared;
        let sector = prepared.sector_of(snap, row);
        // A second, tighter bound once the heap is full: the exact text and sector parts (a few
        // operations on a bit mask) with the country part at its maximum, 1; the country part
        // (target lists) is computed only for candidates that pass it.
        if self.heap.len() == self.k && prepared.country.is_some() {
            let text = score::text::normalise(raw, prepared.normaliser);
            let w_sector = self.rest - self.w_country;
            let bound = self.w_text * text + w_sector * sector.unwrap_or(0.0) + self.w_country;
            if bound + SLACK < self.theta {
                return;
            }
        }
        let c = prepared.components_with(snap, row, raw, sector);
        let item = Scored {
            score: score::combine(&c, &self.params.weights),
            row,
            snap,
        };
        push_top(&mut self.heap, self.k, item);
        if self.heap.len() == self.k {
            if let Some(min) = self.heap.peek() {
                if min.0.score > self.theta {
                    self.theta = min.0.score;
                    let t = (self.theta - self.rest - SLACK) / self.w_text;
                    self.bar = if t > 0.0 {
                        t * self.prepared.normaliser
                    } else {
                        f32::NEG_INFINITY
                    };
                }
            }
        }
    }
}

/// Appends the rows whose value lies in `[low, high)`, in row order. Each block of 16 values
/// gives a bit mask in one vectorised comparison; only the set bits are visited, so blocks with
/// no such value cost one test and a hit costs no mispredicted branch.
fn rows_in_range(values: &[f32], low: f32, high: f32, out: &mut Vec<u32>) {
    for (block, chunk) in values.chunks(16).enumerate() {
        let mut mask = chunk.iter().enumerate().fold(0u32, |m, (i, &v)| {
            m | (u32::from(v >= low && v < high) << i)
        });
        let base = (block * 16) as u32;
        while mask != 0 {
            out.push(base + mask.trailing_zeros());
            mask &= mask - 1;
        }
    }
}

/// Number of rows passing the filters (every such row is a candidate when `min_score` is 0).
fn count_candidates(snap: &Snapshot, filters: &CompiledFilters) -> usize {
    if let Some(row) = filters.only {
        usize::from(filters.keeps(snap, row))
    } else if filters.countries.is_none() && filters.kinds.is_none() && filters.sectors.is_none() {
        // `exclude` holds live rows only.
        snap.len() - filters.exclude.len()
    } else {
        (0..snap.rows.len() as u32)
            .filter(|&row| filters.keeps(snap, row))
            .count()
    }
}

thread_local! {
    /// A dense BM25 accumulator kept per thread between queries (its contents are stale
    /// between queries: each query overwrites it).
    static ACC: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::rows_in_range;

    #[test]
    fn rows_in_range_is_a_plain_filter() {
        // Lengths that do and do not fill the last block; values on both edges of the range.
        let mut x = 12345u32;
        for len in [0, 1, 15, 16, 17, 100, 1000] {
            let values: Vec<f32> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0][(x >> 16) as usize % 6]
                })
                .collect();
            for (low, high) in [(0.5, 2.0), (1.0, f32::INFINITY), (f32::MIN_POSITIVE, 1.5)] {
                let mut got = Vec::new();
                rows_in_range(&values, low, high, &mut got);
                let want: Vec<u32> = (0..len as u32)
                    .filter(|&i| values[i as usize] >= low && values[i as usize] < high)
                    .collect();
                assert_eq!(got, want, "len {len}, [{low}, {high})");
            }
        }
    }
}
