//! Which segments are merged, and into what.
//!
//! Ranking adds every posting of a query's terms into a dense accumulator one segment at a time,
//! so a segment's slice of it (4 bytes a document) should stay in a core's L2 cache while every
//! clause is added, and fewer segments save per-segment work. Measured on a million generated
//! profiles, warmed (p50): one segment of 564k beside seven of 70k, 4.1 ms; sixteen of 70k,
//! 3.7 ms; thirteen of 70–131k, 3.8–3.9 ms; five of 130–237k, 3.5–3.6 ms; a single segment,
//! 5.1 ms. Two caps follow:
//!
//! - [`Tiered`], the writers' merge policy, merges small segments of similar size, eight at a
//!   time (a log-structured policy, as tantivy's default), never into more than [`MERGED_DOCS`];
//!   segments of half that or more are never merged again. A bulk build's own segments (about
//!   70k documents here) are left as they are, so the build does not rewrite them: a 1M build
//!   takes 15 s and 484 MB, against 20 s and 635 MB with the larger cap.
//! - [`packing`] is `clustermatch optimize`: segments packed into as few as possible of at most
//!   [`PACKED_DOCS`] documents each (largest first, first fit), deleted documents purged; the
//!   read-optimised layout, for an index read far more than it is written.

use tantivy::index::SegmentId;
use tantivy::merge_policy::{MergeCandidate, MergePolicy};
use tantivy::SegmentMeta;

/// Largest segment [`Tiered`] makes, in documents (an accumulator slice of 512 KiB).
pub const MERGED_DOCS: u32 = 1 << 17;

/// Largest segment [`packing`] makes, in documents (an accumulator slice of 1 MiB, half of a
/// core's L2 cache on the machine measured).
pub const PACKED_DOCS: u32 = 1 << 18;

/// Segments merged together by [`Tiered`].
const FAN_IN: usize = 8;

/// Segments below this many documents share the lowest tier.
const FLOOR_DOCS: u32 = 1_000;

/// A log-structured merge policy capped at [`MERGED_DOCS`]: segments are grouped in tiers of
/// sizes within a factor of 8 (from 1,000 documents up); a tier holding 8 segments merges its
/// smallest ones, as many as fit in [`MERGED_DOCS`] (at least two).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tiered;

impl MergePolicy for Tiered {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let mut open: Vec<(u32, SegmentId)> = segments
            .iter()
            .map(|m| (m.num_docs(), m.id()))
            .filter(|(docs, _)| *docs < MERGED_DOCS / 2)
            .collect();
        open.sort_unstable();
        let mut tiers: Vec<Vec<(u32, SegmentId)>> = Vec::new();
        for seg in open {
            let tier = tier_of(seg.0);
            if tiers.len() <= tier {
                tiers.resize(tier + 1, Vec::new());
            }
            tiers[tier].push(seg);
        }
        tiers
            .iter()
            .filter(|tier| tier.len() >= FAN_IN)
            .filter_map(|tier| {
                let group = fitting(&tier[..FAN_IN]);
                (group.len() >= 2).then_some(MergeCandidate(group))
            })
            .collect()
    }
}

/// Tier of a segment: 0 below [`FLOOR_DOCS`] · [`FAN_IN`], then one per factor of `FAN_IN`.
fn tier_of(docs: u32) -> usize {
    let mut tier = 0;
    let mut bound = FLOOR_DOCS.saturating_mul(FAN_IN as u32);
    while docs >= bound {
        tier += 1;
        bound = bound.saturating_mul(FAN_IN as u32);
    }
    tier
}

/// The first segments of an ascending run whose documents fit in [`MERGED_DOCS`].
fn fitting(run: &[(u32, SegmentId)]) -> Vec<SegmentId> {
    let mut total = 0u32;
    run.iter()
        .take_while(|(docs, _)| {
            total = total.saturating_add(*docs);
            total <= MERGED_DOCS
        })
        .map(|(_, id)| *id)
        .collect()
}

/// The merges of `clustermatch optimize`: segments (live documents, whether any is deleted)
/// packed largest first into the first group with room, groups of at most `cap` documents
/// ([`PACKED_DOCS`]). A group of two or more, or a lone segment with deleted documents, is
/// merged. Ties are broken by segment id, so the same index always packs the same way.
pub fn packing(segments: &[(SegmentId, u32, bool)], cap: u32) -> Vec<Vec<SegmentId>> {
    let mut order: Vec<&(SegmentId, u32, bool)> = segments.iter().collect();
    order.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut groups: Vec<(u32, Vec<SegmentId>, bool)> = Vec::new();
    for &&(id, docs, deletes) in &order {
        match groups
            .iter_mut()
            .find(|(total, _, _)| total.saturating_add(docs) <= cap)
        {
            Some(group) => {
                group.0 += docs;
                group.1.push(id);
                group.2 |= deletes;
            }
            None => groups.push((docs, vec![id], deletes)),
        }
    }
    groups
        .into_iter()
        .filter(|(_, ids, deletes)| ids.len() >= 2 || *deletes)
        .map(|(_, ids, _)| ids)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metas(sizes: &[u32]) -> Vec<SegmentMeta> {
        let index = tantivy::Index::create_in_ram(crate::index::Fields::schema().0);
        sizes
            .iter()
            .map(|&docs| index.new_segment_meta(SegmentId::generate_random(), docs))
            .collect()
    }

    fn docs_of(metas: &[SegmentMeta], ids: &[SegmentId]) -> Vec<u32> {
        let mut docs: Vec<u32> = ids
            .iter()
            .filter_map(|id| metas.iter().find(|m| m.id() == *id).map(|m| m.num_docs()))
            .collect();
        docs.sort_unstable();
        docs
    }

    #[test]
    fn a_tier_of_eight_merges_its_smallest_within_the_cap() {
        // Seven small segments wait; the eighth makes a merge of all of them.
        assert!(Tiered
            .compute_merge_candidates(&metas(&[500; 7]))
            .is_empty());
        let small = metas(&[100, 200, 300, 400, 500, 600, 700, 800]);
        let merges = Tiered.compute_merge_candidates(&small);
        assert_eq!(merges.len(), 1);
        assert_eq!(docs_of(&small, &merges[0].0).len(), 8);
        // Eight of 40,000: only three fit in 131,072.
        let mid = metas(&[40_000; 8]);
        let merges = Tiered.compute_merge_candidates(&mid);
        assert_eq!(merges.len(), 1);
        assert_eq!(docs_of(&mid, &merges[0].0), vec![40_000; 3]);
        // Segments of half the cap or more are never merged again.
        assert!(Tiered
            .compute_merge_candidates(&metas(&[70_000; 16]))
            .is_empty());
    }

    #[test]
    fn merges_never_pass_the_cap_nor_share_a_segment() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let sizes: Vec<u32> = (0..(x % 40) as usize)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly small, now and then up to 200,000.
                    (x % [2_000, 20_000, 200_000][(x >> 40) as usize % 3]) as u32
                })
                .collect();
            x = x.wrapping_add(1);
            let segs = metas(&sizes);
            let mut seen = std::collections::HashSet::new();
            for m in Tiered.compute_merge_candidates(&segs) {
                assert!(m.0.len() >= 2);
                assert!(docs_of(&segs, &m.0).iter().sum::<u32>() <= MERGED_DOCS);
                assert!(m.0.iter().all(|id| seen.insert(*id)), "{sizes:?}");
            }
            let packed: Vec<_> = segs.iter().map(|m| (m.id(), m.num_docs(), false)).collect();
            let mut seen = std::collections::HashSet::new();
            for group in packing(&packed, PACKED_DOCS) {
                assert!(group.len() >= 2);
                assert!(docs_of(&segs, &group).iter().sum::<u32>() <= PACKED_DOCS);
                assert!(group.iter().all(|id| seen.insert(*id)), "{sizes:?}");
            }
        }
    }

    #[test]
    fn packing_fills_the_largest_first_and_purges_deletes() {
        let id = |_| SegmentId::generate_random();
        // 100k profiles as the bulk build leaves them: one segment.
        let two: Vec<_> = [58_829, 41_171]
            .iter()
            .map(|&d| (id(d), d, false))
            .collect();
        assert_eq!(packing(&two, PACKED_DOCS), vec![vec![two[0].0, two[1].0]]);
        // A million: fourteen segments of 70k go three to a group (four can not), the last two
        // together, and the two small ones join the first group.
        let mut million: Vec<_> = (0..14).map(|i| (id(i), 70_000 + i, false)).collect();
        million.push((id(0), 7_484, false));
        million.push((id(0), 7_224, false));
        let groups = packing(&million, PACKED_DOCS);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![5, 3, 3, 3, 2]);
        let first = [13, 12, 11, 14, 15].map(|i| million[i].0);
        assert_eq!(groups[0], first);
        // With the writers' smaller cap, the 70k segments would stay as they are.
        assert_eq!(packing(&million, MERGED_DOCS).len(), 1);
        // A lone segment is rewritten only to purge deleted documents.
        let lone = [(id(0), 90_000, false)];
        assert!(packing(&lone, PACKED_DOCS).is_empty());
        let lone = [(id(0), 90_000, true)];
        assert_eq!(packing(&lone, PACKED_DOCS), vec![vec![lone[0].0]]);
    }
}
