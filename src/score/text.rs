//! The text component: BM25 relevance of the candidate's text to the query's, as computed by the
//! tantivy index, normalised to [0, 1] so that scores compare across queries.
//!
//! `text = min(1, raw / max(top_raw, floor * ideal))`, where `top_raw` is the best raw score of the
//! query over all candidates and `ideal` is the score of a document of average length containing
//! every query term once (the sum of the query terms' weighted idf). With `floor = 0` this is the
//! usual top-score normalisation; a floor keeps a weak best match from being lifted to 1.

use serde::{Deserialize, Serialize};

use super::{check_range, Explanation};

/// Text component settings (query construction and normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextParams {
    /// At most this many query terms are kept (the most informative, more-like-this style).
    pub max_terms: usize,
    /// Boost of the query's description and keywords against the candidate's description.
    pub about_about: f32,
    /// Boost of the query's *seeking* against the candidate's *offering*.
    pub seeking_offering: f32,
    /// Boost of the query's *seeking* against the candidate's description.
    pub seeking_about: f32,
    /// Boost of the query's *offering* against the candidate's *seeking* (reciprocity).
    pub offering_seeking: f32,
    /// Boost of the vocabulary of the query's sectors (taxonomy aliases and keywords) against
    /// the candidate's description: query expansion ("water" also finds "wastewater").
    pub expansion: f32,
    /// Floor of the normaliser, as a fraction of the query's ideal score.
    pub floor: f32,
}

impl Default for TextParams {
    fn default() -> Self {
        TextParams {
            max_terms: 32,
            about_about: 1.0,
            seeking_offering: 1.0,
            seeking_about: 0.5,
            offering_seeking: 0.5,
            expansion: 0.0,
            floor: 0.0,
        }
    }
}

impl TextParams {
    /// Checks each value.
    pub fn check(&self) -> Result<(), String> {
        if self.max_terms == 0 || self.max_terms > 1024 {
            return Err(format!(
                "text.max_terms must be between 1 and 1024, found {}",
                self.max_terms
            ));
        }
        check_range("text.about_about", self.about_about, 0.0, 100.0)?;
        check_range("text.seeking_offering", self.seeking_offering, 0.0, 100.0)?;
        check_range("text.seeking_about", self.seeking_about, 0.0, 100.0)?;
        check_range("text.offering_seeking", self.offering_seeking, 0.0, 100.0)?;
        check_range("text.expansion", self.expansion, 0.0, 100.0)?;
        check_range("text.floor", self.floor, 0.0, 1.0)
    }
}

/// The normaliser of a query: `max(top_raw, floor * ideal)`.
pub fn normaliser(top_raw: f32, ideal: f32, floor: f32) -> f32 {
    top_raw.max(floor * ideal)
}

/// A raw BM25 score normalised to [0, 1].
///
/// ```
/// use clustermatch::score::text::normalise;
/// assert_eq!(normalise(5.0, 10.0), 0.5);
/// assert_eq!(normalise(3.0, 0.0), 0.0);
/// ```
pub fn normalise(raw: f32, normaliser: f32) -> f32 {
    if normaliser <= 0.0 || !raw.is_finite() {
        0.0
    } else {
        (raw / normaliser).clamp(0.0, 1.0)
    }
}

/// The text component with its explanation; `matched` are the query words found in the
/// candidate, most informative first.
pub fn explain(raw: f32, normaliser: f32, matched: &[String]) -> (Explanation, Vec<String>) {
    let value = normalise(raw, normaliser);
    let mut e = Explanation::new(value, "text = min(1, bm25 / normaliser)");
    e.add_const("bm25 (tantivy, summed over fields)", raw);
    e.add_const(
        "normaliser = max(best bm25 of the query, floor*ideal)",
        normaliser,
    );
    if !matched.is_empty() && value > 0.0 {
        e.push(Explanation::new(
            value,
            format!("matched terms: {}", matched.join(", ")),
        ));
    }
    (e, reasons(raw, normaliser, matched))
}

/// Matched words a reason shows (the explanation tree shows them all).
pub const SHOWN_WORDS: usize = 6;

/// The readable reasons of [`explain`] alone (no explanation tree is built).
pub fn reasons(raw: f32, normaliser: f32, matched: &[String]) -> Vec<String> {
    if matched.is_empty() || normalise(raw, normaliser) <= 0.0 {
        return Vec::new();
    }
    let shown: Vec<&str> = matched
        .iter()
        .take(SHOWN_WORDS)
        .map(String::as_str)
        .collect();
    vec![format!("matched terms: {}", shown.join(", "))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_bounded_and_monotone() {
        assert_eq!(normalise(10.0, 10.0), 1.0);
        assert_eq!(normalise(20.0, 10.0), 1.0);
        assert!(normalise(2.0, 10.0) < normalise(3.0, 10.0));
        assert_eq!(normalise(f32::NAN, 10.0), 0.0);
        assert_eq!(normaliser(2.0, 10.0, 0.5), 5.0);
        assert_eq!(normaliser(8.0, 10.0, 0.5), 8.0);
    }

    #[test]
    fn explanation_lists_matched_terms_only_when_they_count() {
        let (e, r) = explain(5.0, 10.0, &["water".into(), "membrane".into()]);
        assert_eq!(e.value, 0.5);
        assert_eq!(r, vec!["matched terms: water, membrane"]);
        let (_, r) = explain(0.0, 10.0, &["water".into()]);
        assert!(r.is_empty());
        assert_eq!(
            reasons(5.0, 10.0, &["water".into()]),
            vec!["matched terms: water"]
        );
    }
}
