//! The country component: the candidate sits in a country the query targets (forward), and the
//! query's country is among the candidate's targets (reciprocity). Both count, forward more.
//!
//! When the query has no targets, only reciprocity is evidence; when it has neither targets nor a
//! country, the component drops out.

use serde::{Deserialize, Serialize};

use super::{check_range, Explanation};
use crate::country::{code_from_number, CountrySet};

/// Country component settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CountryParams {
    /// Share of the forward direction (query targets the candidate's country); the rest is
    /// reciprocity.
    pub forward: f32,
    /// Share of the component given to shared target markets (the overlap of the two target
    /// lists: organisations heading for the same markets often go together).
    pub shared: f32,
}

impl Default for CountryParams {
    fn default() -> Self {
        CountryParams {
            forward: 0.7,
            shared: 0.0,
        }
    }
}

impl CountryParams {
    /// Checks each value.
    pub fn check(&self) -> Result<(), String> {
        check_range("country.forward", self.forward, 0.0, 1.0)?;
        check_range("country.shared", self.shared, 0.0, 1.0)
    }
}

/// The query side of the country component.
#[derive(Debug, Clone)]
pub struct CountryQuery {
    targets: CountrySet,
    n_targets: usize,
    has_targets: bool,
    country: Option<u16>,
    params: CountryParams,
}

impl CountryQuery {
    /// Prepares the query side; `None` when the query has neither targets nor a country.
    pub fn new(targets: &[String], country: &str, params: CountryParams) -> Option<CountryQuery> {
        let mut set = CountrySet::default();
        for t in targets {
            set.insert(t);
        }
        let country = crate::country::code_number(country);
        if set.is_empty() && country.is_none() {
            return None;
        }
        Some(CountryQuery {
            n_targets: targets.len().max(1),
            has_targets: !set.is_empty(),
            targets: set,
            country,
            params,
        })
    }

    fn parts(&self, c_country: u16, c_targets: &[u16]) -> (bool, bool) {
        let forward = self.has_targets && self.targets.contains_number(c_country);
        let reverse = self.country.is_some_and(|q| c_targets.contains(&q));
        (forward, reverse)
    }

    /// Overlap coefficient of the two target lists: shared targets / the shorter list.
    #[inline]
    fn overlap(&self, c_targets: &[u16]) -> f32 {
        if !self.has_targets || c_targets.is_empty() || self.params.shared == 0.0 {
            return 0.0;
        }
        let shared = c_targets
            .iter()
            .filter(|t| self.targets.contains_number(**t))
            .count();
        shared as f32 / c_targets.len().min(self.n_targets) as f32
    }

    /// The component for a candidate's country and targets.
    #[inline]
    pub fn score(&self, c_country: u16, c_targets: &[u16]) -> f32 {
        let (f, r) = self.parts(c_country, c_targets);
        let direct = if self.has_targets {
            self.params.forward * f as u8 as f32 + (1.0 - self.params.forward) * r as u8 as f32
        } else {
            r as u8 as f32
        };
        if self.has_targets {
            (1.0 - self.params.shared) * direct + self.params.shared * self.overlap(c_targets)
        } else {
            direct
        }
    }

    /// The score with its explanation and readable reasons.
    pub fn explain(&self, c_country: u16, c_targets: &[u16]) -> (Explanation, Vec<String>) {
        let (f, r) = self.parts(c_country, c_targets);
        let value = self.score(c_country, c_targets);
        let shared = self.overlap(c_targets);
        let mut e = if self.has_targets {
            let mut e = Explanation::new(
                value,
                "country = (1-shared)*(forward*in_targets + (1-forward)*targets_query) + shared*common_targets",
            );
            e.add_const("forward", self.params.forward);
            e.add_const("shared", self.params.shared);
            e.add_const("common_targets (overlap of the target lists)", shared);
            e
        } else {
            Explanation::new(
                value,
                "country = targets_query (the query gives no targets)",
            )
        };
        e.add_const(
            "in_targets (candidate's country is a query target)",
            f as u8 as f32,
        );
        e.add_const(
            "targets_query (candidate targets the query's country)",
            r as u8 as f32,
        );
        (e, self.reasons(c_country, c_targets))
    }

    /// The readable reasons of [`explain`](Self::explain) alone (no explanation tree is built).
    pub fn reasons(&self, c_country: u16, c_targets: &[u16]) -> Vec<String> {
        let (f, r) = self.parts(c_country, c_targets);
        let mut reasons = Vec::new();
        if f {
            reasons.push(format!(
                "in {}, which the query targets",
                code_from_number(c_country)
            ));
        }
        if let (true, Some(q)) = (r, self.country) {
            reasons.push(format!(
                "targets {}, the query's country",
                code_from_number(q)
            ));
        }
        if self.overlap(c_targets) > 0.0 && self.params.shared > 0.0 {
            let common: Vec<String> = c_targets
                .iter()
                .filter(|t| self.targets.contains_number(**t))
                .take(5)
                .map(|t| code_from_number(*t))
                .collect();
            reasons.push(format!("targets the same markets: {}", common.join(", ")));
        }
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country::code_number;

    fn n(c: &str) -> u16 {
        code_number(c).unwrap()
    }

    #[test]
    fn both_directions_count_forward_more() {
        let q = CountryQuery::new(&["CN".into()], "FR", CountryParams::default()).unwrap();
        assert_eq!(q.score(n("CN"), &[n("FR")]), 1.0);
        let fwd = q.score(n("CN"), &[]);
        let rev = q.score(n("US"), &[n("FR")]);
        assert!(fwd > rev && rev > 0.0);
        assert_eq!(q.score(n("US"), &[]), 0.0);
    }

    #[test]
    fn without_targets_only_reciprocity_counts_and_without_anything_it_drops() {
        let q = CountryQuery::new(&[], "FR", CountryParams::default()).unwrap();
        assert_eq!(q.score(n("CN"), &[n("FR")]), 1.0);
        assert_eq!(q.score(n("CN"), &[]), 0.0);
        assert!(CountryQuery::new(&[], "", CountryParams::default()).is_none());
    }

    #[test]
    fn shared_targets_count_when_asked() {
        let p = CountryParams {
            forward: 0.7,
            shared: 0.5,
        };
        let q = CountryQuery::new(&["CN".into(), "JP".into()], "FR", p).unwrap();
        assert_eq!(q.score(n("DE"), &[n("CN")]), 0.5);
        assert_eq!(q.score(n("DE"), &[n("US")]), 0.0);
        let (e, reasons) = q.explain(n("DE"), &[n("CN")]);
        assert_eq!(e.value, 0.5);
        assert_eq!(reasons, vec!["targets the same markets: CN"]);
    }

    #[test]
    fn explanation_gives_reasons_for_what_counted() {
        let q = CountryQuery::new(&["CN".into()], "FR", CountryParams::default()).unwrap();
        let (e, reasons) = q.explain(n("CN"), &[n("FR")]);
        assert_eq!(e.value, 1.0);
        assert_eq!(
            reasons,
            vec![
                "in CN, which the query targets",
                "targets FR, the query's country"
            ]
        );
        let (_, reasons) = q.explain(n("US"), &[]);
        assert!(reasons.is_empty());
    }
}
