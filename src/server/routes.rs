//! The endpoints. Each handler checks its request, then runs the engine on tokio's blocking pool
//! (tantivy work is synchronous), so reads never wait on a write's commit: readers use the
//! snapshot that was current when they started.
//!
//! The `#[utoipa::path]` attribute on each handler is the single source of the route, its
//! request and its responses: the router and `/openapi.json` are both built from it.

use axum::extract::FromRequestParts;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::AppState;
use crate::engine::{Query, TextQuery};
use crate::error::Diagnostic;
use crate::index::WriteSummary;
use crate::input::{record_from_json, validate_records};
use crate::profile::{Profile, RawRecord};
use crate::rank::{Filters, MatchOptions, MatchResult};
use crate::taxonomy::{taxonomy, Ecosystem, Sector};

/// `GET /health` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Number of profiles in the index.
    pub profiles: usize,
}

/// `GET /sectors` answer: the taxonomy, as `clustermatch sectors --format json` prints it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SectorList {
    /// The industrial ecosystems (upper level).
    pub ecosystems: Vec<Ecosystem>,
    /// The sectors (lower level).
    pub sectors: Vec<Sector>,
}

/// Weights to use for one request; an omitted weight keeps the server's value.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightsPatch {
    /// Weight of the text component (≥ 0).
    pub text: Option<f32>,
    /// Weight of the sector component (≥ 0).
    pub sector: Option<f32>,
    /// Weight of the country component (≥ 0).
    pub country: Option<f32>,
}

/// `POST /match` request: exactly one of `id`, `profile`, or free text (`text`, `sectors`,
/// `country`, `targets`), plus options.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// Rank for the stored profile with this id.
    pub id: Option<String>,
    /// Rank for this profile (validated like a line of a profile file; it need not be stored).
    #[schema(value_type = Option<Profile>)]
    pub profile: Option<serde_json::Value>,
    /// Free text: what the organisation looks for.
    pub text: Option<String>,
    /// Free text: sector codes or aliases (inferred from `text` when empty).
    #[serde(default)]
    pub sectors: Vec<String>,
    /// Free text: the asking organisation's country (alpha-2, alpha-3 or name).
    pub country: Option<String>,
    /// Free text: countries the organisation targets (codes or `EU`).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Number of matches (1 to the server's maximum, 1000 by default; default 10 or the
    /// config's `top`).
    pub top: Option<usize>,
    /// Hard filters on candidates.
    #[serde(default)]
    pub filters: Filters,
    /// Component weights for this request.
    pub weights: Option<WeightsPatch>,
    /// Attach the full explanation tree to each match.
    #[serde(default)]
    pub explain: bool,
}

/// `PUT /profiles` body: one profile, or an array of profiles (all stored, or none).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ProfilesBody {
    /// One profile.
    One(Box<Profile>),
    /// Several profiles.
    Many(Vec<Profile>),
}

/// Proof that a write request carries the configured bearer token (or that none is set).
pub struct WriteAuth;

impl FromRequestParts<AppState> for WriteAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.token else {
            return Ok(WriteAuth);
        };
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        match given {
            Some(g) if token.matches(g.as_bytes()) => Ok(WriteAuth),
            Some(_) => Err(ApiError::new(ErrorCode::Unauthorized, "wrong token")),
            None => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "writes need the header `Authorization: Bearer TOKEN`",
            )),
        }
    }
}

/// Runs engine work on the blocking pool; a panic there becomes a 500, never a crash.
pub(super) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&e))?
}

/// Liveness and size of the index.
#[utoipa::path(get, path = "/health", tag = "service",
    responses((status = 200, description = "The server is up", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        profiles: state.engine.index().len(),
    })
}

/// The sector taxonomy (codes, names, aliases, ecosystems).
#[utoipa::path(get, path = "/sectors", tag = "service",
    responses((status = 200, description = "The taxonomy", body = SectorList)))]
pub async fn sectors() -> Json<SectorList> {
    let t = taxonomy();
    Json(SectorList {
        ecosystems: t.ecosystems().to_vec(),
        sectors: t.sectors().to_vec(),
    })
}

/// Ranks partners for a stored profile, a given profile, or free text.
#[utoipa::path(post, path = "/match", tag = "match",
    request_body = MatchRequest,
    responses(
        (status = 200, description = "Ranked partners with reasons", body = MatchResult),
        (status = 400, description = "Malformed request; `field` names the culprit", body = ErrorBody),
        (status = 404, description = "Unknown `id`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid `profile`", body = ErrorBody),
    ))]
pub async fn match_partners(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<MatchRequest>,
) -> Result<Json<MatchResult>, ApiError> {
    let (query, opts, params) = resolve_match(&state.limits, state.engine.params(), req)?;
    let engine = state.engine.clone();
    let result = blocking(move || {
        engine
            .match_query_with(&query, &opts, &params)
            .map_err(|e| ApiError::from_library(e, &|d| profile_path(d, "profile")))
    })
    .await?;
    Ok(Json(result))
}

/// Reads a `POST /match` body into the engine's terms, as the handler does once the content
/// type is checked: the JSON parsed (depth capped, errors located), then the request checked
/// against the server's limits and `params` (the engine's scoring parameters).
///
/// ```
/// use clustermatch::engine::Query;
/// use clustermatch::score::ScoringParams;
/// use clustermatch::server::{routes::parse_match_request, ServerOptions};
/// let (options, params) = (ServerOptions::default(), ScoringParams::default());
/// let (query, opts, _) = parse_match_request(br#"{"id": "acme", "top": 3}"#, &options, &params)
///     .map_err(|e| e.message)?;
/// assert_eq!(query, Query::Id("acme".into()));
/// assert_eq!(opts.top, 3);
/// let e = parse_match_request(br#"{"id": "acme", "top": 0}"#, &options, &params).err();
/// assert_eq!(e.and_then(|e| e.field).as_deref(), Some("top"));
/// # Ok::<(), String>(())
/// ```
pub fn parse_match_request(
    bytes: &[u8],
    options: &super::ServerOptions,
    params: &crate::score::ScoringParams,
) -> Result<(Query, MatchOptions, crate::score::ScoringParams), ApiError> {
    let req: MatchRequest = super::body::parse(bytes)?;
    resolve_match(&super::Limits::from(options), params, req)
}

/// Checks a match request and turns it into the engine's terms.
fn resolve_match(
    limits: &super::Limits,
    params: &crate::score::ScoringParams,
    req: MatchRequest,
) -> Result<(Query, MatchOptions, crate::score::ScoringParams), ApiError> {
    super::limits::check_match(&req)?;
    let text_given = req.text.is_some()
        || !req.sectors.is_empty()
        || req.country.is_some()
        || !req.targets.is_empty();
    let given: Vec<&str> = [
        ("id", req.id.is_some()),
        ("profile", req.profile.is_some()),
        ("text", text_given),
    ]
    .iter()
    .filter(|(_, g)| *g)
    .map(|(n, _)| *n)
    .collect();
    let query = match (given.as_slice(), req.id, req.profile) {
        (["id"], Some(id), _) => Query::Id(id),
        (["profile"], _, Some(value)) => Query::Profile(query_profile(value)?),
        (["text"], _, _) => Query::Text(TextQuery {
            text: req.text.unwrap_or_default(),
            sectors: req.sectors,
            country: req.country,
            targets: req.targets,
        }),
        ([], _, _) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "give one of \"id\", \"profile\", or \"text\" (with \"sectors\", \"country\", \"targets\")",
            ))
        }
        (_, _, _) => {
            let second = given.get(1).copied().unwrap_or("text");
            let field = if second == "text" && req.text.is_none() {
                if req.sectors.is_empty() {
                    if req.country.is_some() {
                        "country"
                    } else {
                        "targets"
                    }
                } else {
                    "sectors"
                }
            } else {
                second
            };
            return Err(ApiError::invalid(
                field,
                format!(
                    "give only one of \"id\", \"profile\", or free text; \"{}\" and \"{field}\" were both given",
                    given[0]
                ),
            ));
        }
    };
    let top = req.top.unwrap_or(limits.default_top);
    if top == 0 || top > limits.max_top {
        return Err(ApiError::invalid(
            "top",
            format!("top must be between 1 and {}, found {top}", limits.max_top),
        ));
    }
    if !(0.0..=1.0).contains(&req.filters.min_score) {
        return Err(ApiError::invalid(
            "filters.min_score",
            format!(
                "min_score must be between 0 and 1, found {}",
                req.filters.min_score
            ),
        ));
    }
    let mut params = params.clone();
    if let Some(w) = req.weights {
        for (name, value, slot) in [
            ("text", w.text, &mut params.weights.text),
            ("sector", w.sector, &mut params.weights.sector),
            ("country", w.country, &mut params.weights.country),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(ApiError::invalid(
                        &format!("weights.{name}"),
                        format!("weight must be a number ≥ 0, found {v}"),
                    ));
                }
                *slot = v;
            }
        }
        if let Err(m) = params.weights.check() {
            return Err(ApiError::invalid("weights", m));
        }
    }
    let opts = MatchOptions {
        top,
        filters: req.filters,
        explain: req.explain,
        reasons: true,
    };
    Ok((query, opts, params))
}

/// Validates the `profile` of a match request like a line of a profile file.
fn query_profile(value: serde_json::Value) -> Result<Profile, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("profile", "expected a profile object"));
    }
    let record = record_from_json(value, 1).map_err(|m| ApiError::invalid("profile", m))?;
    let mut profiles = validate_records("request", &[record], &[])
        .map_err(|e| ApiError::from_library(e, &|d| profile_path(d, "profile")))?;
    profiles
        .pop()
        .map(|p| p.profile)
        .ok_or_else(|| ApiError::invalid("profile", "expected a profile object"))
}

/// The JSON path of a diagnostic's field inside the profile at `prefix`.
pub(super) fn profile_path(d: &Diagnostic, prefix: &str) -> Option<String> {
    Some(match &d.field {
        Some(f) if prefix.is_empty() => f.clone(),
        Some(f) => format!("{prefix}.{f}"),
        None if prefix.is_empty() => return None,
        None => prefix.to_string(),
    })
}

/// A stored profile.
#[utoipa::path(get, path = "/profiles/{id}", tag = "profiles",
    params(("id" = String, Path, description = "Profile id")),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 404, description = "Unknown id (with the nearest id)", body = ErrorBody),
    ))]
pub async fn get_profile(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    super::limits::check_id("id", &id)?;
    let engine = state.engine.clone();
    let profile = blocking(move || engine.get(&id).map_err(ApiError::from)).await?;
    Ok(Json(profile))
}

/// Inserts or replaces profiles by id: one object or an array, validated like a profile file;
/// all are stored or none.
#[utoipa::path(put, path = "/profiles", tag = "profiles",
    request_body = ProfilesBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored; what changed", body = WriteSummary),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid profiles; `details` lists every problem, nothing was stored", body = ErrorBody),
        (status = 503, description = "Index locked by another writer", body = ErrorBody),
    ))]
pub async fn put_profiles(
    State(state): State<AppState>,
    _auth: WriteAuth,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Json<WriteSummary>, ApiError> {
    let engine = state.engine.clone();
    let summary = blocking(move || {
        let profiles = profiles_from_value(body)?;
        engine.upsert(&profiles).map_err(ApiError::from)
    })
    .await?;
    Ok(Json(summary))
}

/// Reads a `PUT /profiles` body (one profile object or an array of them) into validated
/// profiles, as the handler does once the content type is checked; every problem is located
/// by its JSON path.
///
/// ```
/// use clustermatch::server::routes::parse_profiles_body;
/// let ps = parse_profiles_body(br#"[{"id": "a", "name": "A", "country": "FR"}]"#)
///     .map_err(|e| e.message)?;
/// assert_eq!(ps[0].id, "a");
/// let e = parse_profiles_body(br#"[{"id": "a", "name": "A", "country": "Frnce"}]"#).err();
/// assert_eq!(e.and_then(|e| e.field).as_deref(), Some("[0].country"));
/// # Ok::<(), String>(())
/// ```
pub fn parse_profiles_body(bytes: &[u8]) -> Result<Vec<Profile>, ApiError> {
    profiles_from_value(super::body::parse(bytes)?)
}

/// Validates the profiles of a `PUT /profiles` body.
fn profiles_from_value(body: serde_json::Value) -> Result<Vec<Profile>, ApiError> {
    let (items, many) = match body {
        serde_json::Value::Array(items) => (items, true),
        one @ serde_json::Value::Object(_) => (vec![one], false),
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "send one profile object or an array of them",
            ))
        }
    };
    if items.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the array holds no profiles",
        ));
    }
    let path = move |d: &Diagnostic| {
        let prefix = match (many, d.line) {
            (true, Some(line)) => format!("[{}]", line.saturating_sub(1)),
            _ => String::new(),
        };
        profile_path(d, &prefix)
    };
    let mut records: Vec<RawRecord> = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if super::limits::json_len(&item) > super::limits::MAX_PROFILE_BYTES {
            bad.push(
                Diagnostic::new(
                    "request",
                    format!(
                        "the profile is larger than {} bytes",
                        super::limits::MAX_PROFILE_BYTES
                    ),
                )
                .at_line(i + 1),
            );
            continue;
        }
        match record_from_json(item, i + 1) {
            Ok(r) => records.push(r),
            Err(_) => {
                bad.push(Diagnostic::new("request", "expected a profile object").at_line(i + 1))
            }
        }
    }
    if !bad.is_empty() {
        let e = crate::Error::Input(crate::error::InputErrors::new(bad));
        return Err(ApiError::from_library(e, &path));
    }
    Ok(validate_records("request", &records, &[])
        .map_err(|e| ApiError::from_library(e, &path))?
        .into_iter()
        .map(|p| p.profile)
        .collect())
}

/// Removes a profile.
#[utoipa::path(delete, path = "/profiles/{id}", tag = "profiles",
    params(("id" = String, Path, description = "Profile id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed; what changed", body = WriteSummary),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown id (nothing removed)", body = ErrorBody),
        (status = 503, description = "Index locked by another writer", body = ErrorBody),
    ))]
pub async fn delete_profile(
    State(state): State<AppState>,
    _auth: WriteAuth,
    Path(id): Path<String>,
) -> Result<Json<WriteSummary>, ApiError> {
    super::limits::check_id("id", &id)?;
    let engine = state.engine.clone();
    let summary = blocking(move || engine.delete(&[id]).map_err(ApiError::from)).await?;
    Ok(Json(summary))
}

// `POST /batch` (planning an event) lives in `super::batch`.
