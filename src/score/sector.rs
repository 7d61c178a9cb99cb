//! The sector component: how well the candidate's sectors cover the query's, through the
//! taxonomy — the same sector counts fully, a related sector partly, a sector of the same
//! industrial ecosystem a little.
//!
//! `score = q_side * coverage(Q by C) + (1 - q_side) * coverage(C by Q)`, where coverage(A by B)
//! is the mean over A's sectors of the best similarity to any of B's sectors.

use serde::{Deserialize, Serialize};

use super::{check_range, Explanation};
use crate::taxonomy::{taxonomy, Relation, SectorSet};

/// Sector component settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SectorParams {
    /// Similarity of two related sectors.
    pub related: f32,
    /// Similarity of two sectors that share an industrial ecosystem.
    pub ecosystem: f32,
    /// Share of the score given to covering the query's sectors (the rest to the candidate's).
    pub query_side: f32,
}

impl Default for SectorParams {
    fn default() -> Self {
        SectorParams {
            related: 0.5,
            ecosystem: 0.2,
            query_side: 0.5,
        }
    }
}

impl SectorParams {
    /// Checks each value.
    pub fn check(&self) -> Result<(), String> {
        check_range("sector.related", self.related, 0.0, 1.0)?;
        check_range("sector.ecosystem", self.ecosystem, 0.0, 1.0)?;
        check_range("sector.query_side", self.query_side, 0.0, 1.0)
    }

    /// Similarity of a relation.
    pub fn similarity(&self, r: Relation) -> f32 {
        match r {
            Relation::Same => 1.0,
            Relation::Related => self.related,
            Relation::Ecosystem => self.ecosystem,
            Relation::None => 0.0,
        }
    }
}

/// The query side of the sector component, prepared once per query.
#[derive(Debug, Clone)]
pub struct SectorQuery {
    /// The query's sectors.
    pub set: SectorSet,
    /// For every sector s: the best similarity of s to any query sector.
    best: [f32; 64],
    /// For every query sector (in order) and every sector s: similarity.
    rows: Vec<[f32; 64]>,
    params: SectorParams,
}

impl SectorQuery {
    /// Prepares the query side; `None` when the query has no sectors (the component drops out).
    pub fn new(set: SectorSet, params: SectorParams) -> Option<SectorQuery> {
        if set.is_empty() {
            return None;
        }
        let t = taxonomy();
        let n = t.sectors().len();
        let mut rows = Vec::new();
        let mut best = [0f32; 64];
        for q in set.iter().filter(|&q| q < n) {
            let mut row = [0f32; 64];
            for (s, cell) in row.iter_mut().enumerate().take(n) {
                *cell = params.similarity(t.relation(q, s));
                best[s] = best[s].max(*cell);
            }
            rows.push(row);
        }
        Some(SectorQuery {
            set,
            best,
            rows,
            params,
        })
    }

    /// The component for a candidate's sector set (0 when the candidate has none).
    #[inline]
    pub fn score(&self, c: SectorSet) -> f32 {
        if c.is_empty() {
            return 0.0;
        }
        let mut cand = 0.0;
        for s in c.iter() {
            cand += self.best[s];
        }
        let cand = cand / c.len() as f32;
        let mut query = 0.0;
        for row in &self.rows {
            let mut m = 0f32;
            for s in c.iter() {
                m = m.max(row[s]);
            }
            query += m;
        }
        let query = query / self.rows.len() as f32;
        self.params.query_side * query + (1.0 - self.params.query_side) * cand
    }

    /// The score with its explanation and readable reasons.
    pub fn explain(&self, c: SectorSet, inferred: bool) -> (Explanation, Vec<String>) {
        let t = taxonomy();
        let mut e = Explanation::new(
            self.score(c),
            "sector = q_side*coverage(query by candidate) + (1-q_side)*coverage(candidate by query)",
        );
        e.add_const("q_side", self.params.query_side);
        e.add_const("similarity(related)", self.params.related);
        e.add_const("similarity(same ecosystem)", self.params.ecosystem);
        for (q, s, rel) in self.best_matches(c) {
            let (qc, sc) = (&t.sector(q).code, &t.sector(s).code);
            e.push(Explanation::new(
                self.params.similarity(rel),
                format!("best match for query sector {qc}: {sc} ({rel:?})"),
            ));
        }
        (e, self.reasons(c, inferred))
    }

    /// The readable reasons of [`explain`](Self::explain) alone (no explanation tree is built):
    /// the shared sectors first, then related ones and ones of the same ecosystem.
    pub fn reasons(&self, c: SectorSet, inferred: bool) -> Vec<String> {
        let t = taxonomy();
        let mut reasons = Vec::new();
        let mut same = Vec::new();
        for (q, s, rel) in self.best_matches(c) {
            let (qc, sc) = (&t.sector(q).code, &t.sector(s).code);
            match rel {
                Relation::Same => same.push(qc.as_str()),
                Relation::Related => reasons.push(format!("related sectors: {sc} ~ {qc}")),
                Relation::Ecosystem => {
                    let eco = shared_ecosystem(q, s).unwrap_or_default();
                    reasons.push(format!("same ecosystem ({eco}): {sc} ~ {qc}"))
                }
                Relation::None => {}
            }
        }
        if !same.is_empty() {
            let word = if same.len() == 1 { "sector" } else { "sectors" };
            reasons.insert(0, format!("shares {word} {}", same.join(", ")));
        }
        if inferred && self.score(c) > 0.0 {
            reasons.push("candidate sectors inferred from its text".into());
        }
        reasons
    }

    /// For each query sector (in order), the candidate sector closest to it and their relation
    /// (ties to the lowest sector); nothing when the candidate has no sectors.
    fn best_matches(&self, c: SectorSet) -> impl Iterator<Item = (usize, usize, Relation)> + '_ {
        let t = taxonomy();
        self.set.iter().filter_map(move |q| {
            c.iter()
                .map(|s| (s, t.relation(q, s)))
                .max_by_key(|(s, r)| (*r, std::cmp::Reverse(*s)))
                .map(|(s, rel)| (q, s, rel))
        })
    }
}

fn shared_ecosystem(a: usize, b: usize) -> Option<String> {
    let t = taxonomy();
    let sb = t.sector(b);
    t.sector(a)
        .ecosystems
        .iter()
        .find(|e| sb.ecosystems.contains(e))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(codes: &[&str]) -> SectorSet {
        taxonomy().set_of(codes)
    }

    #[test]
    fn same_sector_scores_one_and_disjoint_scores_less() {
        let q = SectorQuery::new(set(&["biopharmaceuticals"]), SectorParams::default()).unwrap();
        assert_eq!(q.score(set(&["biopharmaceuticals"])), 1.0);
        assert!(q.score(set(&["medical_devices"])) > 0.0);
        assert!(q.score(set(&["medical_devices"])) < 1.0);
        assert_eq!(q.score(set(&["coal_mining"])), 0.0);
        assert_eq!(q.score(SectorSet::default()), 0.0);
    }

    #[test]
    fn more_overlap_never_scores_less() {
        let q = SectorQuery::new(
            set(&["biopharmaceuticals", "medical_devices"]),
            SectorParams::default(),
        )
        .unwrap();
        let one = q.score(set(&["biopharmaceuticals"]));
        let both = q.score(set(&["biopharmaceuticals", "medical_devices"]));
        assert!(both > one);
        assert_eq!(both, 1.0);
    }

    #[test]
    fn no_query_sectors_drops_the_component() {
        assert!(SectorQuery::new(SectorSet::default(), SectorParams::default()).is_none());
    }

    #[test]
    fn explanation_names_shared_and_related_sectors() {
        let q = SectorQuery::new(set(&["biopharmaceuticals"]), SectorParams::default()).unwrap();
        let c = set(&["biopharmaceuticals"]);
        let (e, reasons) = q.explain(c, false);
        assert_eq!(e.value, q.score(c));
        assert_eq!(reasons, vec!["shares sector biopharmaceuticals"]);
        let (_, reasons) = q.explain(set(&["coal_mining"]), false);
        assert!(reasons.is_empty());
    }
}
