//! The query's BM25 for every document, term at a time.
//!
//! tantivy's union of term scorers walks all posting lists together, document by document, in
//! windows; with the 30–60 clauses of a query its bookkeeping costs more than the scoring. Here
//! each clause's posting list, decoded once per snapshot with each posting's `tf / (tf + norm)`
//! ([`crate::index::cache`]), is multiplied by the clause weight and added into a dense
//! accumulator indexed by row. The weights are tantivy's own (`idf · (1 + k1) · boost` from the
//! same statistics, as `Bm25Weight` computes them) and the clauses are added in query order, the
//! order in which the union sums them, so the scores are the union's bit for bit (a test checks
//! it, also once the lists are cached).

use tantivy::query::Bm25StatisticsProvider;

use super::query::TextQuery;
use crate::index::Snapshot;

/// Writes the query's BM25 of every row of `snap` into `acc` (one entry per row; whatever it
/// held before is overwritten, rows matching no clause get 0, deleted rows 0) and returns the
/// largest of them leaving out `self_row` (the query's own row keeps its score).
pub(super) fn accumulate(
    tq: &TextQuery,
    snap: &Snapshot,
    acc: &mut [f32],
    self_row: Option<u32>,
) -> tantivy::Result<f32> {
    let searcher = &snap.searcher;
    let segs = searcher.segment_readers();
    let total_docs = Bm25StatisticsProvider::total_num_docs(searcher)?;
    if total_docs == 0 {
        return Ok(0.0);
    }
    let weights: Vec<f32> = tq
        .clauses
        .iter()
        .map(|c| weight(c.doc_freq, total_docs, c.boost))
        .collect();
    // Segment by segment, so that the part of the accumulator being written stays in cache
    // from zeroing to the maximum while every clause is walked; each row still gets its clauses
    // in query order.
    let lists = tq.lists(snap)?;
    let mut top = 0f32;
    for (ord, seg) in segs.iter().enumerate() {
        let base = snap.segment_base[ord] as usize;
        let Some(acc) = acc.get_mut(base..base + seg.max_doc() as usize) else {
            continue;
        };
        acc.fill(0.0);
        for (list, &weight) in lists.iter().zip(&weights) {
            if let Some(list) = list.get(ord).and_then(Option::as_ref) {
                list.add_scaled(weight, acc);
            }
        }
        top = top.max(segment_top(acc, base as u32, snap, self_row));
    }
    Ok(top)
}

/// A clause's weight, `idf · (1 + k1) · boost`, computed as tantivy's `Bm25Weight` does.
fn weight(doc_freq: u64, total_docs: u64, boost: f32) -> f32 {
    let x = (total_docs.saturating_sub(doc_freq) as f32 + 0.5) / (doc_freq as f32 + 0.5);
    let weight = (1.0 + x).ln() * (1.0 + crate::index::cache::K1);
    if boost == 1.0 {
        weight
    } else {
        weight * boost
    }
}

/// Zeroes the deleted rows of one segment's slice of the accumulator and returns its largest
/// value leaving out the query's own row.
fn segment_top(acc: &mut [f32], base: u32, snap: &Snapshot, self_row: Option<u32>) -> f32 {
    let end = base + acc.len() as u32;
    let dead = &snap.dead[snap.dead.partition_point(|&r| r < base)..];
    for &row in dead.iter().take_while(|&&r| r < end) {
        acc[(row - base) as usize] = 0.0;
    }
    let own = self_row
        .filter(|r| (base..end).contains(r))
        .map(|r| (r - base) as usize);
    let kept = own.map(|i| std::mem::replace(&mut acc[i], 0.0));
    let top = max_of(acc);
    if let (Some(i), Some(v)) = (own, kept) {
        acc[i] = v;
    }
    top
}

/// The largest value of a slice of non-negative scores (0 when empty), in a form the compiler
/// vectorises.
fn max_of(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    let tail = chunks.remainder().iter().copied();
    lanes.into_iter().chain(tail).fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use crate::score::text::TextParams;
    use crate::taxonomy::SectorSet;
    use crate::ProfileIndex;
    use tantivy::query::EnableScoring;

    fn profile(i: usize) -> Profile {
        let words = [
            "water",
            "hydrogen",
            "battery",
            "textile",
            "software",
            "robotics",
            "logistics",
            "medical",
            "food",
            "packaging",
            "solar",
            "wind",
        ];
        let w = |k: usize| words[(i * 7 + k * 3) % words.len()];
        Profile {
            id: format!("p{i:03}"),
            name: format!("Org {i}"),
            country: "FR".into(),
            description: format!("{} {} and {} cluster {}", w(0), w(1), w(2), w(0)),
            offering: format!("{} services {}", w(3), w(1)),
            seeking: format!("partners in {} {}", w(4), w(0)),
            ..Profile::default()
        }
    }

    #[test]
    fn term_at_a_time_scores_equal_tantivys_union() -> Result<(), Box<dyn std::error::Error>> {
        let index = ProfileIndex::in_memory()?;
        // Two writes and a replacement: several segments and a deleted document.
        let first: Vec<Profile> = (0..120).map(profile).collect();
        index.upsert(&first)?;
        let second: Vec<Profile> = (100..200).map(profile).collect();
        index.upsert(&second)?;
        let snap = index.snapshot();
        let params = TextParams::default();
        let mut checked = 0;
        for i in [0, 5, 17, 150] {
            let q = profile(i);
            let Some(tq) = super::super::query::build(
                &snap,
                index.fields(),
                &q,
                SectorSet::default(),
                true,
                &params,
            ) else {
                continue;
            };
            // Garbage in the accumulator must not matter.
            let mut ours = vec![7f32; snap.rows.len()];
            let top = accumulate(&tq, &snap, &mut ours, None)?;
            assert_eq!(top, ours.iter().copied().fold(0.0, f32::max));
            // The second time every list comes from the snapshot's cache.
            let mut again = vec![3f32; snap.rows.len()];
            accumulate(&tq, &snap, &mut again, None)?;
            assert_eq!(again, ours);
            let mut theirs = vec![0f32; snap.rows.len()];
            let weight = tq
                .tantivy_query()
                .weight(EnableScoring::enabled_from_searcher(&snap.searcher))?;
            for (ord, seg) in snap.searcher.segment_readers().iter().enumerate() {
                let base = snap.segment_base[ord] as usize;
                weight.for_each(seg, &mut |doc, s| {
                    if !seg.is_deleted(doc) {
                        theirs[base + doc as usize] = s;
                    }
                })?;
            }
            assert_eq!(ours, theirs, "query {i}");
            assert!(ours.iter().any(|s| *s > 0.0));
            checked += 1;
        }
        assert_eq!(checked, 4);
        Ok(())
    }
}
