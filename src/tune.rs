//! Learning the scoring parameters from known partner pairs: coordinate ascent on mean nDCG@10
//! over a grid of values per parameter, with k-fold cross-validation over query ids so that the
//! reported figure comes from queries the fit never saw.
//!
//! The shipped defaults come from running this procedure on the dev set (`fixtures/partners.csv`);
//! `clustermatch tune` writes the fitted parameters as a TOML config.

use serde::Serialize;

use crate::engine::Engine;
use crate::error::Result;
use crate::eval::{mean_ndcg, query_ids, Pair};
use crate::score::ScoringParams;

/// One tunable parameter: its name, the values tried, and how to read and set it.
pub struct Knob {
    /// Dotted name as in the config file.
    pub name: &'static str,
    /// Values tried.
    pub values: Vec<f32>,
    get: fn(&ScoringParams) -> f32,
    set: fn(&mut ScoringParams, f32),
}

fn steps(lo: f32, hi: f32, step: f32) -> Vec<f32> {
    let n = ((hi - lo) / step).round() as usize;
    (0..=n)
        .map(|i| ((lo + step * i as f32) * 1000.0).round() / 1000.0)
        .collect()
}

/// The parameters tuned when none are named: the three weights. Tuning every knob at once
/// overfits the dev set (its cross-validated nDCG@10 does not improve), the weights alone do.
pub const DEFAULT_KNOBS: [&str; 3] = ["weights.text", "weights.sector", "weights.country"];

/// The knobs with the given names ([`DEFAULT_KNOBS`] when `names` is empty, every knob for
/// `all`); an unknown name is an error naming the nearest knob.
pub fn select(names: &[String]) -> std::result::Result<Vec<Knob>, String> {
    let all = knobs();
    if names.iter().any(|n| n == "all") {
        return Ok(all);
    }
    let defaults: Vec<String> = DEFAULT_KNOBS.iter().map(|s| s.to_string()).collect();
    let names = if names.is_empty() {
        &defaults[..]
    } else {
        names
    };
    let mut out = Vec::new();
    for n in names {
        let known: Vec<&str> = all.iter().map(|k| k.name).collect();
        if !known.contains(&n.as_str()) {
            let hint = crate::error::nearest(n, known.iter().copied())
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            return Err(format!("unknown parameter \"{n}\"{hint}"));
        }
    }
    for k in all {
        if names.iter().any(|n| n == k.name) {
            out.push(k);
        }
    }
    Ok(out)
}

/// The parameters that can be tuned and their grids.
pub fn knobs() -> Vec<Knob> {
    vec![
        Knob {
            name: "weights.text",
            values: steps(0.0, 1.0, 0.05),
            get: |p| p.weights.text,
            set: |p, v| p.weights.text = v,
        },
        Knob {
            name: "weights.sector",
            values: steps(0.0, 1.0, 0.05),
            get: |p| p.weights.sector,
            set: |p, v| p.weights.sector = v,
        },
        Knob {
            name: "weights.country",
            values: steps(0.0, 1.0, 0.05),
            get: |p| p.weights.country,
            set: |p, v| p.weights.country = v,
        },
        Knob {
            name: "sector.related",
            values: steps(0.0, 1.0, 0.1),
            get: |p| p.sector.related,
            set: |p, v| p.sector.related = v,
        },
        Knob {
            name: "sector.ecosystem",
            values: steps(0.0, 0.6, 0.1),
            get: |p| p.sector.ecosystem,
            set: |p, v| p.sector.ecosystem = v,
        },
        Knob {
            name: "sector.query_side",
            values: steps(0.0, 1.0, 0.25),
            get: |p| p.sector.query_side,
            set: |p, v| p.sector.query_side = v,
        },
        Knob {
            name: "country.forward",
            values: steps(0.0, 1.0, 0.1),
            get: |p| p.country.forward,
            set: |p, v| p.country.forward = v,
        },
        Knob {
            name: "country.shared",
            values: steps(0.0, 1.0, 0.1),
            get: |p| p.country.shared,
            set: |p, v| p.country.shared = v,
        },
        Knob {
            name: "text.expansion",
            values: steps(0.0, 1.0, 0.1),
            get: |p| p.text.expansion,
            set: |p, v| p.text.expansion = v,
        },
        Knob {
            name: "text.floor",
            values: steps(0.0, 0.5, 0.05),
            get: |p| p.text.floor,
            set: |p, v| p.text.floor = v,
        },
        Knob {
            name: "text.seeking_about",
            values: steps(0.0, 1.5, 0.25),
            get: |p| p.text.seeking_about,
            set: |p, v| p.text.seeking_about = v,
        },
        Knob {
            name: "text.offering_seeking",
            values: steps(0.0, 1.5, 0.25),
            get: |p| p.text.offering_seeking,
            set: |p, v| p.text.offering_seeking = v,
        },
    ]
}

/// The result of fitting on one set of queries.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// Fitted parameters.
    pub params: ScoringParams,
    /// Mean nDCG@10 on the training queries.
    pub train_ndcg: f64,
}

/// Fits parameters by coordinate ascent from `start` on the given queries. A change is kept only
/// when it improves the objective by more than `1e-4` (ties keep the current value).
pub fn fit(
    engine: &Engine,
    pairs: &[Pair],
    queries: &[&String],
    start: &ScoringParams,
    knobs: &[Knob],
    rounds: usize,
) -> Result<Fit> {
    let mut best = start.clone();
    let mut best_score = mean_ndcg(engine, &best, pairs, queries)?;
    for _ in 0..rounds {
        let mut improved = false;
        for knob in knobs {
            let current = (knob.get)(&best);
            for &v in &knob.values {
                if (v - current).abs() < 1e-6 {
                    continue;
                }
                let mut trial = best.clone();
                (knob.set)(&mut trial, v);
                if trial.check().is_err() {
                    continue;
                }
                let s = mean_ndcg(engine, &trial, pairs, queries)?;
                if s > best_score + 1e-4 {
                    best_score = s;
                    best = trial;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    Ok(Fit {
        params: best,
        train_ndcg: best_score,
    })
}

/// One cross-validation fold.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// Number of held-out queries.
    pub queries: usize,
    /// nDCG@10 of the starting parameters on the held-out queries.
    pub start_ndcg: f64,
    /// nDCG@10 of the parameters fitted on the other folds, on the held-out queries.
    pub tuned_ndcg: f64,
}

/// The outcome of tuning.
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    /// Per-fold figures.
    pub folds: Vec<Fold>,
    /// Mean held-out nDCG@10 of the starting parameters.
    pub cv_start_ndcg: f64,
    /// Mean held-out nDCG@10 of the tuned parameters (the honest estimate).
    pub cv_tuned_ndcg: f64,
    /// Parameters fitted on every query (what the config file receives).
    pub fitted: Fit,
}

/// Cross-validated tuning: for each of `k` folds of the query ids, fit on the others and score
/// the held-out fold; then fit once more on all queries.
pub fn tune(
    engine: &Engine,
    pairs: &[Pair],
    start: &ScoringParams,
    knobs: &[Knob],
    k: usize,
    rounds: usize,
) -> Result<TuneReport> {
    let ids = query_ids(pairs);
    let k = k.clamp(2, ids.len().max(2));
    let mut folds = Vec::new();
    let (mut start_sum, mut tuned_sum, mut n) = (0.0, 0.0, 0usize);
    for f in 0..k {
        let held: Vec<&String> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k == f)
            .map(|(_, q)| q)
            .collect();
        let train: Vec<&String> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k != f)
            .map(|(_, q)| q)
            .collect();
        if held.is_empty() {
            continue;
        }
        let fitted = fit(engine, pairs, &train, start, knobs, rounds)?;
        let s0 = mean_ndcg(engine, start, pairs, &held)?;
        let s1 = mean_ndcg(engine, &fitted.params, pairs, &held)?;
        start_sum += s0 * held.len() as f64;
        tuned_sum += s1 * held.len() as f64;
        n += held.len();
        folds.push(Fold {
            queries: held.len(),
            start_ndcg: s0,
            tuned_ndcg: s1,
        });
    }
    let all: Vec<&String> = ids.iter().collect();
    let fitted = fit(engine, pairs, &all, start, knobs, rounds)?;
    let n = n.max(1) as f64;
    Ok(TuneReport {
        folds,
        cv_start_ndcg: start_sum / n,
        cv_tuned_ndcg: tuned_sum / n,
        fitted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn profile(id: &str, country: &str, text: &str, targets: &[&str]) -> Profile {
        Profile {
            id: id.into(),
            name: id.into(),
            country: country.into(),
            description: text.into(),
            target_countries: targets.iter().map(|t| t.to_string()).collect(),
            ..Profile::default()
        }
    }

    #[test]
    fn select_defaults_to_the_weights_and_rejects_unknown_names() {
        let names: Vec<&str> = select(&[]).unwrap().iter().map(|k| k.name).collect();
        assert_eq!(names, DEFAULT_KNOBS);
        assert_eq!(select(&["all".into()]).unwrap().len(), knobs().len());
        let e = select(&["sector.relatd".into()]).err().unwrap();
        assert!(e.contains("did you mean \"sector.related\""), "{e}");
    }

    #[test]
    fn fitting_never_lowers_the_training_objective() {
        let engine = Engine::in_memory().unwrap();
        engine
            .upsert(&[
                profile("a", "FR", "membranes for water treatment", &["CN"]),
                profile("b", "CN", "water treatment plants and membranes", &["FR"]),
                profile("c", "CN", "electric cars and batteries", &[]),
                profile("d", "DE", "batteries for electric cars", &["CN"]),
                profile("e", "US", "membranes", &[]),
            ])
            .unwrap();
        let pairs = vec![
            Pair {
                a: "a".into(),
                b: "b".into(),
                grade: 2,
            },
            Pair {
                a: "c".into(),
                b: "d".into(),
                grade: 1,
            },
        ];
        let ids = query_ids(&pairs);
        let queries: Vec<&String> = ids.iter().collect();
        let start = ScoringParams::default();
        let before = mean_ndcg(&engine, &start, &pairs, &queries).unwrap();
        let fit = fit(&engine, &pairs, &queries, &start, &select(&[]).unwrap(), 1).unwrap();
        assert!(fit.train_ndcg >= before);
        let report = tune(&engine, &pairs, &start, &select(&[]).unwrap(), 2, 1).unwrap();
        assert_eq!(report.folds.len(), 2);
        assert!(report.cv_tuned_ndcg >= 0.0 && report.cv_tuned_ndcg <= 1.0);
    }
}
