//! The engine: a profile index plus scoring parameters, with the operations users need — upsert,
//! delete, look up, match by id, by profile or by free text, and explain one pair.
//!
//! `Engine` is `Send + Sync`; share one behind an `Arc` across threads (the HTTP server does).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::index::schema::about_text;
use crate::index::{infer, ProfileIndex, WriteSummary};
use crate::profile::Profile;
use crate::rank::{self, resolve_sectors, Match, MatchOptions, MatchResult, ResolvedQuery};
use crate::score::ScoringParams;

/// A free-text query: what the organisation looks for, with optional structured hints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextQuery {
    /// What the user looks for, in words.
    pub text: String,
    /// Sector codes or aliases (inferred from `text` when empty).
    pub sectors: Vec<String>,
    /// The asking organisation's country (for reciprocity).
    pub country: Option<String>,
    /// Countries the user targets (alpha-2, alpha-3 or `EU`).
    pub targets: Vec<String>,
}

/// What to rank partners for: a stored profile, a profile given in full, or free text.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// The stored profile with this id.
    Id(String),
    /// A profile given in full (it need not be stored).
    Profile(Profile),
    /// A free-text query with optional hints.
    Text(TextQuery),
}

/// The matchmaking engine.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clustermatch::{Engine, MatchOptions, Profile};
/// let engine = Engine::in_memory()?;
/// let p = |id: &str, country: &str, text: &str| Profile {
///     id: id.into(), name: id.into(), country: country.into(),
///     description: text.into(), target_countries: vec!["CN".into()], ..Profile::default()
/// };
/// engine.upsert(&[
///     p("water-fr", "FR", "wastewater treatment and membranes"),
///     p("water-cn", "CN", "membranes for wastewater treatment plants"),
///     p("cars-cn", "CN", "electric cars and batteries"),
/// ])?;
/// let result = engine.match_id("water-fr", &MatchOptions::default())?;
/// assert_eq!(result.matches[0].id, "water-cn");
/// # Ok(()) }
/// ```
pub struct Engine {
    index: ProfileIndex,
    params: ScoringParams,
}

impl Engine {
    /// An engine over an index handle, with default parameters.
    pub fn new(index: ProfileIndex) -> Engine {
        Engine {
            index,
            params: ScoringParams::default(),
        }
    }

    /// Opens the index in a directory (error if there is none).
    pub fn open(path: &Path) -> Result<Engine> {
        Ok(Engine::new(ProfileIndex::open(path)?))
    }

    /// Opens the index in a directory or creates an empty one.
    pub fn open_or_create(path: &Path) -> Result<Engine> {
        Ok(Engine::new(ProfileIndex::open_or_create(path)?))
    }

    /// An empty engine in memory.
    pub fn in_memory() -> Result<Engine> {
        Ok(Engine::new(ProfileIndex::in_memory()?))
    }

    /// Replaces the scoring parameters (checked first).
    pub fn with_params(mut self, params: ScoringParams) -> Result<Engine> {
        params.check().map_err(Error::Usage)?;
        self.params = params;
        Ok(self)
    }

    /// The scoring parameters.
    pub fn params(&self) -> &ScoringParams {
        &self.params
    }

    /// The index handle.
    pub fn index(&self) -> &ProfileIndex {
        &self.index
    }

    /// The index handle, for a call that consumes it ([`ProfileIndex::optimize_last`]).
    pub fn into_index(self) -> ProfileIndex {
        self.index
    }

    /// Inserts or replaces profiles by id, all or nothing.
    pub fn upsert(&self, profiles: &[Profile]) -> Result<WriteSummary> {
        self.index.upsert(profiles)
    }

    /// Removes profiles by id, all or nothing.
    pub fn delete(&self, ids: &[String]) -> Result<WriteSummary> {
        self.index.delete(ids)
    }

    /// The stored profile with an id.
    pub fn get(&self, id: &str) -> Result<Profile> {
        self.index.get(id)
    }

    /// Ranks partners for any [`Query`] with the engine's parameters.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clustermatch::{Engine, MatchOptions, Profile, Query, TextQuery};
    /// let engine = Engine::in_memory()?;
    /// engine.upsert(&[Profile {
    ///     id: "hydro-no".into(), name: "Hydro cluster".into(), country: "NO".into(),
    ///     description: "hydrogen electrolysers and fuel cells".into(), ..Profile::default()
    /// }])?;
    /// let q = Query::Text(TextQuery { text: "fuel cells".into(), ..TextQuery::default() });
    /// let result = engine.match_query(&q, &MatchOptions::default())?;
    /// assert_eq!(result.matches[0].id, "hydro-no");
    /// # Ok(()) }
    /// ```
    pub fn match_query(&self, query: &Query, opts: &MatchOptions) -> Result<MatchResult> {
        self.match_query_with(query, opts, &self.params)
    }

    /// Ranks partners for any [`Query`] with other scoring parameters than the engine's (for
    /// example per-request weights); the parameters are checked first.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clustermatch::{Engine, MatchOptions, Profile, Query, TextQuery};
    /// let engine = Engine::in_memory()?;
    /// engine.upsert(&[Profile {
    ///     id: "hydro-no".into(), name: "Hydro cluster".into(), country: "NO".into(),
    ///     description: "hydrogen electrolysers and fuel cells".into(), ..Profile::default()
    /// }])?;
    /// let mut params = engine.params().clone();
    /// params.weights.text = 1.0;
    /// params.weights.sector = 0.0;
    /// params.weights.country = 0.0;
    /// let q = Query::Text(TextQuery { text: "fuel cells".into(), ..TextQuery::default() });
    /// let result = engine.match_query_with(&q, &MatchOptions::default(), &params)?;
    /// assert_eq!(result.query.weights.text, 1.0);
    /// # Ok(()) }
    /// ```
    pub fn match_query_with(
        &self,
        query: &Query,
        opts: &MatchOptions,
        params: &ScoringParams,
    ) -> Result<MatchResult> {
        params.check().map_err(Error::Usage)?;
        match query {
            Query::Id(id) => self.match_id_with(id, opts, params),
            Query::Profile(p) => {
                let q = self.resolve(p.clone(), &[])?;
                self.check(opts)?;
                rank::rank(&self.index, &self.index.snapshot(), &q, params, opts)
            }
            Query::Text(t) => {
                let profile = self.text_profile(t)?;
                let q = self.resolve(profile, &t.sectors)?;
                self.check(opts)?;
                rank::rank(&self.index, &self.index.snapshot(), &q, params, opts)
            }
        }
    }

    /// Ranks partners for a profile stored in the index.
    pub fn match_id(&self, id: &str, opts: &MatchOptions) -> Result<MatchResult> {
        self.match_id_with(id, opts, &self.params)
    }

    /// Like [`Engine::match_id`] with other scoring parameters (used by tuning).
    pub fn match_id_with(
        &self,
        id: &str,
        opts: &MatchOptions,
        params: &ScoringParams,
    ) -> Result<MatchResult> {
        let snap = self.index.snapshot();
        let Some(row) = snap.row_of_id(id) else {
            return Err(self.index.unknown_id(&snap, id));
        };
        let profile = self.index.profile_at(&snap, row)?;
        let r = snap.rows[row as usize];
        let q = ResolvedQuery {
            profile,
            sectors: r.sectors,
            sectors_inferred: r.inferred,
        };
        self.check(opts)?;
        rank::rank(&self.index, &snap, &q, params, opts)
    }

    /// Ranks partners for a profile given in full (it need not be in the index; if its id is,
    /// that stored profile is not returned as a match).
    pub fn match_profile(&self, profile: &Profile, opts: &MatchOptions) -> Result<MatchResult> {
        self.match_query(&Query::Profile(profile.clone()), opts)
    }

    /// Ranks partners for a free-text query.
    pub fn match_text(&self, query: &TextQuery, opts: &MatchOptions) -> Result<MatchResult> {
        self.match_query(&Query::Text(query.clone()), opts)
    }

    /// Scores and explains one pair: how well `candidate` suits `query` (both stored) — the
    /// candidate's entry in the query's full ranking (score, components, reasons, explanation;
    /// `rank` 1), from one ranking pass that keeps that candidate alone.
    pub fn explain_pair(&self, query: &str, candidate: &str) -> Result<Match> {
        let snap = self.index.snapshot();
        let Some(row) = snap.row_of_id(candidate) else {
            return Err(self.index.unknown_id(&snap, candidate));
        };
        let Some(query_row) = snap.row_of_id(query) else {
            return Err(self.index.unknown_id(&snap, query));
        };
        let r = snap.rows[query_row as usize];
        let q = ResolvedQuery {
            profile: self.index.profile_at(&snap, query_row)?,
            sectors: r.sectors,
            sectors_inferred: r.inferred,
        };
        rank::explain_pair(&self.index, &snap, &q, &self.params, row)?
            .ok_or_else(|| Error::Usage(format!("\"{candidate}\" cannot be matched with itself")))
    }

    fn check(&self, opts: &MatchOptions) -> Result<()> {
        if !(0.0..=1.0).contains(&opts.filters.min_score) {
            return Err(Error::Usage(format!(
                "min_score must be between 0 and 1, found {}",
                opts.filters.min_score
            )));
        }
        Ok(())
    }

    fn text_profile(&self, query: &TextQuery) -> Result<Profile> {
        let country = match &query.country {
            Some(c) if !c.trim().is_empty() => crate::country::parse_option("country", c)?,
            _ => String::new(),
        };
        let mut targets = Vec::new();
        for t in &query.targets {
            if t.eq_ignore_ascii_case(crate::country::EU_GROUP) {
                targets.extend(crate::country::EU27.iter().map(|c| c.to_string()));
            } else {
                targets.push(crate::country::parse_option("target", t)?);
            }
        }
        targets.dedup();
        if query.text.trim().is_empty() && query.sectors.is_empty() && targets.is_empty() {
            return Err(Error::Usage(
                "empty query: give text, a sector or a target country".into(),
            ));
        }
        Ok(Profile {
            country,
            description: query.text.clone(),
            seeking: query.text.clone(),
            target_countries: targets,
            ..Profile::default()
        })
    }

    fn resolve(&self, profile: Profile, extra_sectors: &[String]) -> Result<ResolvedQuery> {
        let mut codes = profile.sectors.clone();
        codes.extend(extra_sectors.iter().cloned());
        let given = resolve_sectors(&codes, "sector")?;
        if !given.is_empty() {
            return Ok(ResolvedQuery {
                profile,
                sectors: given,
                sectors_inferred: false,
            });
        }
        let text = format!(
            "{} {} {}",
            about_text(&profile),
            profile.seeking,
            profile.offering
        );
        let inferred = infer::infer(&text, &self.params.infer);
        Ok(ResolvedQuery {
            profile,
            sectors: inferred,
            sectors_inferred: !inferred.is_empty(),
        })
    }
}

// `Engine` must stay shareable across threads (the HTTP server holds one in an `Arc`): this
// fails to compile if a field ever makes it `!Send` or `!Sync`.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<ProfileIndex>();
};
