//! Evaluation against known partner pairs: recall@5/10/20, MRR and graded nDCG@10, per query and
//! overall, in two slices (grade 2 only; grade ≥ 1), with the failures explained (the true
//! partner's rank and the component on which it lost to the last match shown).
//!
//! The truth file is CSV with columns `a,b,grade` (more columns are ignored): an unordered pair
//! of profile ids and a grade (2 = agreement, MoU or joint project; 1 = same alliance or
//! documented contact). Every pair is a relevant partner for both of its ids.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Diagnostic, Error, InputErrors, Result};
use crate::rank::{Match, MatchOptions};
use crate::score::{ScoringParams, Weights};

/// One known partner pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// One id.
    pub a: String,
    /// The other id.
    pub b: String,
    /// 1 or 2.
    pub grade: u8,
}

/// Reads a truth file and checks every id against the engine's index.
pub fn read_truth(path: &Path, engine: &Engine) -> Result<Vec<Pair>> {
    let label = path.display().to_string();
    let text = crate::input::read_text(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| Error::input(Diagnostic::new(&label, format!("broken CSV: {e}"))))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(ia), Some(ib), Some(ig)) = (col("a"), col("b"), col("grade")) else {
        return Err(Error::input(Diagnostic::new(
            &label,
            "the header must have columns a, b and grade",
        )));
    };
    let snap = engine.index().snapshot();
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(Diagnostic::new(&label, format!("broken CSV: {e}")).at_line(line));
                continue;
            }
        };
        let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
        let (a, b) = (get(ia), get(ib));
        for (field, id) in [("a", &a), ("b", &b)] {
            if !snap.contains_id(id) {
                let hint = crate::error::nearest(id, snap.live_ids());
                errors.push(
                    Diagnostic::new(&label, format!("unknown profile id \"{id}\""))
                        .at_line(line)
                        .in_field(field)
                        .suggest(hint),
                );
            }
        }
        let grade = match get(ig).parse::<u8>() {
            Ok(g @ 1..=2) => g,
            _ => {
                errors.push(
                    Diagnostic::new(
                        &label,
                        format!("grade must be 1 or 2, found \"{}\"", get(ig)),
                    )
                    .at_line(line)
                    .in_field("grade"),
                );
                continue;
            }
        };
        if a == b {
            errors.push(Diagnostic::new(&label, "a pair needs two different ids").at_line(line));
        }
        pairs.push(Pair { a, b, grade });
    }
    if !errors.is_empty() {
        return Err(Error::Input(InputErrors::new(errors)));
    }
    Ok(pairs)
}

/// Ranking quality figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Share of true partners in the top 5.
    pub recall_at_5: f64,
    /// Share of true partners in the top 10.
    pub recall_at_10: f64,
    /// Share of true partners in the top 20.
    pub recall_at_20: f64,
    /// Mean reciprocal rank of the first true partner.
    pub mrr: f64,
    /// Normalised discounted cumulative gain at 10, gain 2^grade - 1.
    pub ndcg_at_10: f64,
}

/// A true partner that was not in the top 10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Miss {
    /// The partner's id.
    pub partner: String,
    /// Its grade.
    pub grade: u8,
    /// Its rank (1-based).
    pub rank: usize,
    /// The component on which it lost most to the 10th match (weighted difference).
    pub lost_on: String,
}

/// Figures for one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryReport {
    /// The query's id.
    pub id: String,
    /// Number of true partners.
    pub relevant: usize,
    /// Its figures.
    pub metrics: Metrics,
    /// Rank of each true partner.
    pub ranks: BTreeMap<String, usize>,
    /// True partners outside the top 10.
    pub misses: Vec<Miss>,
}

/// One slice of the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// `grade>=1` or `grade=2`.
    pub name: String,
    /// Number of queries in the slice.
    pub queries: usize,
    /// Mean figures over its queries.
    pub overall: Metrics,
    /// Per-query figures.
    pub per_query: Vec<QueryReport>,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Pairs read.
    pub pairs: usize,
    /// Slices: all grades first, then grade 2 only.
    pub slices: Vec<Slice>,
}

impl Report {
    /// The slice of all grades.
    pub fn overall(&self) -> Metrics {
        self.slices.first().map(|s| s.overall).unwrap_or_default()
    }
}

/// Relevant partners of every query id with a minimum grade.
fn relevance(pairs: &[Pair], min_grade: u8) -> BTreeMap<String, HashMap<String, u8>> {
    let mut rel: BTreeMap<String, HashMap<String, u8>> = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.grade >= min_grade) {
        for (q, c) in [(&p.a, &p.b), (&p.b, &p.a)] {
            let g = rel
                .entry(q.clone())
                .or_default()
                .entry(c.clone())
                .or_insert(0);
            *g = (*g).max(p.grade);
        }
    }
    rel
}

/// Figures of one ranking for a set of graded relevant ids.
pub fn metrics(ranking: &[String], relevant: &HashMap<String, u8>) -> Metrics {
    let n = relevant.len().max(1) as f64;
    let pos: HashMap<&str, usize> = ranking
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i + 1))
        .collect();
    let ranks: Vec<usize> = relevant
        .keys()
        .filter_map(|id| pos.get(id.as_str()).copied())
        .collect();
    let recall = |k: usize| ranks.iter().filter(|r| **r <= k).count() as f64 / n;
    let mrr = ranks.iter().min().map_or(0.0, |r| 1.0 / *r as f64);
    let gain = |g: u8| (2f64.powi(g as i32)) - 1.0;
    let dcg: f64 = relevant
        .iter()
        .filter_map(|(id, g)| pos.get(id.as_str()).map(|r| (*r, *g)))
        .filter(|(r, _)| *r <= 10)
        .map(|(r, g)| gain(g) / ((r + 1) as f64).log2())
        .sum();
    let mut ideal: Vec<u8> = relevant.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| gain(*g) / ((i + 2) as f64).log2())
        .sum();
    Metrics {
        recall_at_5: recall(5),
        recall_at_10: recall(10),
        recall_at_20: recall(20),
        mrr,
        ndcg_at_10: if idcg > 0.0 { dcg / idcg + 0.0 } else { 0.0 },
    }
}

fn mean(ms: &[Metrics]) -> Metrics {
    let n = ms.len().max(1) as f64;
    let sum = |f: fn(&Metrics) -> f64| ms.iter().map(f).sum::<f64>() / n;
    Metrics {
        recall_at_5: sum(|m| m.recall_at_5),
        recall_at_10: sum(|m| m.recall_at_10),
        recall_at_20: sum(|m| m.recall_at_20),
        mrr: sum(|m| m.mrr),
        ndcg_at_10: sum(|m| m.ndcg_at_10),
    }
}

fn lost_on(partner: &Match, tenth: &Match, w: &Weights) -> String {
    let diffs = [
        (
            "text",
            w.text
                * (tenth.components.text.unwrap_or(0.0) - partner.components.text.unwrap_or(0.0)),
        ),
        (
            "sector",
            w.sector
                * (tenth.components.sector.unwrap_or(0.0)
                    - partner.components.sector.unwrap_or(0.0)),
        ),
        (
            "country",
            w.country
                * (tenth.components.country.unwrap_or(0.0)
                    - partner.components.country.unwrap_or(0.0)),
        ),
    ];
    diffs
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, _)| n.to_string())
        .unwrap_or_default()
}

/// Evaluates the engine on known pairs.
///
/// ```
/// use std::collections::HashMap;
/// let ranking = vec!["b".to_string(), "c".to_string()];
/// let relevant = HashMap::from([("c".to_string(), 2u8)]);
/// let m = clustermatch::eval::metrics(&ranking, &relevant);
/// assert_eq!(m.mrr, 0.5);
/// assert_eq!(m.recall_at_5, 1.0);
/// ```
pub fn evaluate(engine: &Engine, pairs: &[Pair]) -> Result<Report> {
    evaluate_with(engine, engine.params(), pairs)
}

/// Rankings (all candidates, no reasons) of the given query ids.
fn rankings(
    engine: &Engine,
    params: &ScoringParams,
    queries: &[&String],
) -> Result<Vec<(String, Vec<Match>)>> {
    let opts = MatchOptions {
        top: engine.index().len(),
        reasons: false,
        ..MatchOptions::default()
    };
    queries
        .par_iter()
        .map(|q| {
            engine
                .match_id_with(q, &opts, params)
                .map(|r| ((*q).clone(), r.matches))
        })
        .collect()
}

/// Mean nDCG@10 (all grades) over a subset of the query ids, with the given parameters.
pub fn mean_ndcg(
    engine: &Engine,
    params: &ScoringParams,
    pairs: &[Pair],
    queries: &[&String],
) -> Result<f64> {
    let rel = relevance(pairs, 1);
    let ranked = rankings(engine, params, queries)?;
    let ms: Vec<Metrics> = ranked
        .iter()
        .filter_map(|(q, matches)| {
            let ids: Vec<String> = matches.iter().map(|m| m.id.clone()).collect();
            rel.get(q).map(|r| metrics(&ids, r))
        })
        .collect();
    Ok(mean(&ms).ndcg_at_10)
}

/// The query ids of a set of pairs (every id that has a partner), sorted.
pub fn query_ids(pairs: &[Pair]) -> Vec<String> {
    relevance(pairs, 1).into_keys().collect()
}

/// Evaluates the engine on known pairs with the given scoring parameters.
pub fn evaluate_with(engine: &Engine, params: &ScoringParams, pairs: &[Pair]) -> Result<Report> {
    let all = relevance(pairs, 1);
    let ids: Vec<&String> = all.keys().collect();
    let ranked = rankings(engine, params, &ids)?;
    let mut slices = Vec::new();
    for (name, min_grade) in [("grade>=1", 1u8), ("grade=2", 2u8)] {
        let rel = relevance(pairs, min_grade);
        let mut per_query = Vec::new();
        for (q, matches) in &ranked {
            let Some(relevant) = rel.get(q) else { continue };
            let ids: Vec<String> = matches.iter().map(|m| m.id.clone()).collect();
            let by_id: HashMap<&str, &Match> = matches.iter().map(|m| (m.id.as_str(), m)).collect();
            let ranks: BTreeMap<String, usize> = relevant
                .keys()
                .filter_map(|p| by_id.get(p.as_str()).map(|m| (p.clone(), m.rank)))
                .collect();
            let w = &params.weights;
            let mut misses: Vec<Miss> = ranks
                .iter()
                .filter(|(_, r)| **r > 10)
                .filter_map(|(p, r)| {
                    let tenth = matches.get(9)?;
                    Some(Miss {
                        partner: p.clone(),
                        grade: relevant[p],
                        rank: *r,
                        lost_on: lost_on(by_id[p.as_str()], tenth, w),
                    })
                })
                .collect();
            misses.sort_by(|a, b| a.rank.cmp(&b.rank).then(a.partner.cmp(&b.partner)));
            per_query.push(QueryReport {
                id: q.clone(),
                relevant: relevant.len(),
                metrics: metrics(&ids, relevant),
                ranks,
                misses,
            });
        }
        let ms: Vec<Metrics> = per_query.iter().map(|q| q.metrics).collect();
        slices.push(Slice {
            name: name.to_string(),
            queries: per_query.len(),
            overall: mean(&ms),
            per_query,
        });
    }
    Ok(Report {
        pairs: pairs.len(),
        slices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(items: &[(&str, u8)]) -> HashMap<String, u8> {
        items.iter().map(|(k, g)| (k.to_string(), *g)).collect()
    }

    fn ids(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let m = metrics(&ids(&["a", "b", "c"]), &rel(&[("a", 2), ("b", 1)]));
        assert_eq!(m.recall_at_5, 1.0);
        assert_eq!(m.mrr, 1.0);
        assert!((m.ndcg_at_10 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn grades_weigh_in_ndcg() {
        let good = metrics(&ids(&["a", "b"]), &rel(&[("a", 2), ("b", 1)]));
        let swapped = metrics(&ids(&["b", "a"]), &rel(&[("a", 2), ("b", 1)]));
        assert!(good.ndcg_at_10 > swapped.ndcg_at_10);
        assert_eq!(good.recall_at_5, swapped.recall_at_5);
    }

    #[test]
    fn missing_partners_lower_recall() {
        let mut r = ids(&["x"; 0]);
        r.extend((0..15).map(|i| format!("n{i}")));
        r.push("a".into());
        let m = metrics(&r, &rel(&[("a", 1), ("zz", 1)]));
        assert_eq!(m.recall_at_10, 0.0);
        assert_eq!(m.recall_at_20, 0.5);
        assert_eq!(m.mrr, 1.0 / 16.0);
    }
}
