//! # clustermatch
//!
//! A partner-matchmaking recommendation engine for industry clusters, science parks, business
//! networks and technology-transfer centres. A full-text index ([tantivy]) over organisation
//! profiles feeds a scorer that combines text relevance, sector overlap through a taxonomy and
//! target-country signals, and explains every match.
//!
//! The pipeline: [`input`] reads and validates profiles (JSONL, CSV, xlsx) into [`Profile`]s;
//! [`index`] stores them in an on-disk tantivy index; [`rank`] scores candidates with the
//! plain functions of [`score`] and explains each match; [`Engine`] ties these together.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use clustermatch::{Engine, MatchOptions, Profile, TextQuery};
//! let engine = Engine::in_memory()?;
//! engine.upsert(&[Profile {
//!     id: "delta-nl".into(), name: "Delta cluster".into(), country: "NL".into(),
//!     description: "flood protection, delta technology and water management".into(),
//!     ..Profile::default()
//! }])?;
//! let query = TextQuery { text: "flood protection".into(), ..TextQuery::default() };
//! let result = engine.match_text(&query, &MatchOptions::default())?;
//! assert_eq!(result.matches[0].id, "delta-nl");
//! assert!(result.matches[0].reasons.iter().any(|r| r.contains("flood")));
//! # Ok(()) }
//! ```
//!
//! [tantivy]: https://docs.rs/tantivy

#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod alloc;
pub mod country;
pub mod engine;
pub mod error;
pub mod event;
pub mod index;
pub mod input;
pub mod profile;
pub mod rank;
pub mod score;
pub mod server;
pub mod taxonomy;

pub use engine::{Engine, Query, TextQuery};
pub use error::{Diagnostic, Error, Result};
pub use index::ProfileIndex;
pub use profile::{Kind, Profile};
pub use rank::{Filters, Match, MatchOptions, MatchResult};
pub use score::{ScoringParams, Weights};
pub mod config;
pub mod eval;
pub mod output;
pub mod tune;
