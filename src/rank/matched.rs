//! The query words each kept match shares with the query, read from the index's postings:
//! the same words as [`super::query::matched_words`] (a word counts when one of its clauses'
//! terms occurs in the candidate field that clause targets), without re-analysing every
//! candidate's text. Each clause's decoded list (the one the BM25 pass used,
//! [`TextQuery::lists`]) is searched for the kept rows.

use rustc_hash::FxHashMap;

use super::query::TextQuery;
use crate::index::Snapshot;

/// For each row (any order), the first `limit` matched query words, most informative first
/// (`usize::MAX` for all of them). Terms are tested in that order, so a row stops being
/// looked up once it has `limit` words.
pub(super) fn matched_words(
    tq: &TextQuery,
    snap: &Snapshot,
    rows: &[u32],
    limit: usize,
) -> tantivy::Result<Vec<Vec<String>>> {
    let width = tq.terms.len();
    let term_index: FxHashMap<&str, usize> = tq
        .terms
        .iter()
        .enumerate()
        .map(|(i, (t, _))| (t.as_str(), i))
        .collect();
    // The clauses of each query term (one per candidate field the term is sent to).
    let mut clauses_of: Vec<Vec<usize>> = vec![Vec::new(); width];
    for (c, clause) in tq.clauses.iter().enumerate() {
        if let Some(&ti) = term_index.get(clause.term.as_str()) {
            clauses_of[ti].push(c);
        }
    }
    // Row i's hits are `hit[i * width..][..width]`, one flag per query term; `count[i]` of them
    // are set.
    let mut hit = vec![false; rows.len() * width];
    let mut count = vec![0usize; rows.len()];
    // Each row's segment and document in it, found once, in (segment, document) order.
    let mut located: Vec<(usize, u32, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, &row)| {
            let seg = snap.segment_base.partition_point(|b| *b <= row) - 1;
            (seg, row - snap.segment_base[seg], i)
        })
        .collect();
    located.sort_unstable();
    let lists = tq.lists(snap)?;
    // The rows of one segment that still need a clause's term: documents (ascending), their
    // positions in `rows`, and whether the list holds them.
    let (mut docs, mut at, mut found) = (Vec::new(), Vec::new(), Vec::new());
    for (ti, clauses) in clauses_of.iter().enumerate() {
        if count.iter().all(|&n| n >= limit) {
            break;
        }
        for list in clauses.iter().filter_map(|&c| lists.get(c)) {
            for (seg, list) in list.iter().enumerate() {
                let Some(list) = list else {
                    continue;
                };
                docs.clear();
                at.clear();
                for &(_, doc, i) in located.iter().filter(|l| l.0 == seg) {
                    if !hit[i * width + ti] && count[i] < limit {
                        docs.push(doc);
                        at.push(i);
                    }
                }
                found.clear();
                found.resize(docs.len(), false);
                list.contains_sorted(&docs, &mut found);
                for (&i, _) in at.iter().zip(&found).filter(|(_, f)| **f) {
                    hit[i * width + ti] = true;
                    count[i] += 1;
                }
            }
        }
    }
    Ok((0..rows.len())
        .map(|i| {
            tq.terms
                .iter()
                .zip(&hit[i * width..(i + 1) * width])
                .filter(|(_, h)| **h)
                .map(|((_, w), _)| w.clone())
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::profile::Profile;
    use crate::rank::query;
    use crate::score::text::TextParams;
    use crate::ProfileIndex;

    #[test]
    fn postings_give_the_same_words_as_reanalysing_the_text() {
        let index = ProfileIndex::in_memory().unwrap();
        let words = [
            "water",
            "membranes",
            "treatment",
            "batteries",
            "hydrogen",
            "sensors",
            "robots",
            "vaccines",
            "textiles",
            "logistics",
        ];
        let profiles: Vec<Profile> = (0..60)
            .map(|i| Profile {
                id: format!("p{i:02}"),
                name: format!("P{i}"),
                country: "FR".into(),
                description: format!("{} and {}", words[i % 10], words[(i * 3) % 10]),
                keywords: vec![words[(i * 7) % 10].into()],
                seeking: format!("partners in {}", words[(i + 1) % 10]),
                offering: format!("{} pilots", words[(i + 4) % 10]),
                ..Profile::default()
            })
            .collect();
        index.upsert(&profiles[..40]).unwrap();
        index.upsert(&profiles[30..]).unwrap();
        let snap = index.snapshot();
        let rows: Vec<u32> = (0..snap.rows.len() as u32)
            .filter(|&r| snap.rows[r as usize].alive)
            .rev()
            .collect();
        let mut nonempty = 0;
        for q in &profiles[..10] {
            let sectors = crate::taxonomy::taxonomy().set_of(&q.sectors);
            let tq = query::build(
                &snap,
                index.fields(),
                q,
                sectors,
                true,
                &TextParams::default(),
            )
            .unwrap();
            let fast = super::matched_words(&tq, &snap, &rows, usize::MAX).unwrap();
            let first = super::matched_words(&tq, &snap, &rows, 2).unwrap();
            for ((row, got), short) in rows.iter().zip(&fast).zip(&first) {
                let c = index.profile_at(&snap, *row).unwrap();
                assert_eq!(
                    got,
                    &query::matched_words(&tq, index.fields(), &c),
                    "{}",
                    c.id
                );
                assert_eq!(short[..], got[..got.len().min(2)], "{}", c.id);
                nonempty += usize::from(!got.is_empty());
            }
        }
        assert!(nonempty > 50);
    }
}
