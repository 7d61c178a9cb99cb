//! `POST /batch`: plan an event over HTTP — the library's [`crate::event::batch::plan_with`] (what
//! `clustermatch batch` runs) on participants given inline or by the ids of stored profiles.
//!
//! The request mirrors the CLI: `participants` (profiles with optional `availability` and
//! `max_meetings`, or ids of stored profiles), `requests` (pairs to meet or keep apart), `event`
//! (the `[event]` config section: `slots`, `breaks`, `tables`, `min_score`, `max_meetings`,
//! `name`, `date`) and `against_index`. Everything is checked before any work starts, and every
//! problem is answered with a 4xx naming its JSON path (`event.slots[1]`,
//! `participants[3].availability`, `requests[0].b`). The planner runs on the blocking pool, at
//! most [`BATCH_CONCURRENCY`] at a time, over at most [`super::ServerOptions::max_participants`]
//! participants, so no request can exhaust the server.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody, ErrorCode, Problem};
use super::routes::{blocking, profile_path};
use super::AppState;
use crate::error::{nearest, Diagnostic, Error};
use crate::event::batch::{plan_with, NoProgress, PlanOptions};
use crate::event::input::{pair_key, participants_from_records, PARTICIPANT_EXTRAS};
use crate::event::{
    Agenda, EventShape, Request, RequestKind, SessionSpec, Side, TimeRange, DEFAULT_MAX_MEETINGS,
    DEFAULT_MIN_SCORE,
};
use crate::input::record_from_json;
use crate::profile::{Profile, RawRecord};

/// The largest number of participants of one `POST /batch`, by default.
pub const MAX_PARTICIPANTS: usize = 5000;

/// Plans that may run at once; more requests wait their turn (the planner already uses every
/// core).
pub const BATCH_CONCURRENCY: usize = 2;

/// The most tables an event may have (more than half the participants are never used).
pub const MAX_TABLES: usize = 100_000;

/// The most candidate partners kept per participant when ranking.
pub const MAX_CANDIDATES: usize = 1000;

/// The most recommendations listed per participant.
pub const MAX_RECOMMENDATIONS: usize = 100;

/// The shape of the event, as the `[event]` section of the config file.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Event name (shown in the agenda).
    pub name: Option<String>,
    /// Event date `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Sessions cut into slots, `START-END/LENGTH` (e.g. `09:00-12:30/20m`); at least one.
    #[schema(example = json!(["09:00-12:30/20m", "14:00-17:00/20m"]))]
    pub slots: Vec<String>,
    /// Breaks `HH:MM-HH:MM`; no slot overlaps one.
    #[serde(default)]
    #[schema(example = json!(["10:30-11:00"]))]
    pub breaks: Vec<String>,
    /// Tables, i.e. meetings at once (1 to 100,000; default: as many as needed).
    pub tables: Option<usize>,
    /// Minimum mutual score (0 to 1) of a meeting that was not requested (default 0.15).
    pub min_score: Option<f32>,
    /// Cap on meetings per participant unless the participant gives one (default 8).
    pub max_meetings: Option<usize>,
}

/// Slots a participant is free: slot numbers, or text with slot numbers, slot ranges and
/// times (`"1-4;7"`, `"09:00-10:30"`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Availability {
    /// 1-based slot numbers.
    Slots(Vec<usize>),
    /// Slot numbers (`3`), slot ranges (`1-4`) or times (`09:00-10:30`), separated by `;`.
    Text(String),
}

/// A participant given as a profile (validated like a line of a profile file), with its
/// availability and meeting cap. Its schema in the served OpenAPI document is `Profile`'s with
/// the two fields added.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct InlineParticipant {
    /// The profile's fields.
    #[serde(flatten)]
    pub profile: Profile,
    /// Slots the participant is free (default: every slot).
    pub availability: Option<Availability>,
    /// Cap on meetings (default: the event's).
    pub max_meetings: Option<usize>,
}

/// A stored profile taking part, with its availability and meeting cap.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StoredParticipant {
    /// Id of a stored profile.
    pub id: String,
    /// Slots the participant is free (default: every slot).
    pub availability: Option<Availability>,
    /// Cap on meetings (default: the event's).
    pub max_meetings: Option<usize>,
}

/// Writes the schema of [`InlineParticipant`] as `Profile`'s (which refuses unknown fields, so
/// an `allOf` could never match) plus `availability` and `max_meetings` from
/// [`StoredParticipant`]: built from the generated schemas, it cannot drift from them.
pub(crate) fn document_inline_participant(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let object = |name: &str| match components.schemas.get(name) {
        Some(RefOr::T(Schema::Object(o))) => Some(o.clone()),
        _ => None,
    };
    let (Some(mut profile), Some(stored)) = (object("Profile"), object("StoredParticipant")) else {
        return;
    };
    for field in ["availability", "max_meetings"] {
        if let Some(p) = stored.properties.get(field) {
            profile.properties.insert(field.to_string(), p.clone());
        }
    }
    profile.description = Some(
        "A participant given as a profile (validated like a line of a profile file), with its \
         availability and meeting cap."
            .into(),
    );
    components.schemas.insert(
        "InlineParticipant".into(),
        RefOr::T(Schema::Object(profile)),
    );
}

/// One participant: the id of a stored profile, a stored profile with availability and cap,
/// or a profile given in full.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ParticipantInput {
    /// Id of a stored profile.
    Id(String),
    /// A stored profile, with availability and cap.
    Stored(StoredParticipant),
    /// A profile given in full.
    Inline(Box<InlineParticipant>),
}

/// `POST /batch` request: who takes part, who asked to meet whom, and the event's shape.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Participants (at most the server's `--max-participants`, 5,000 by default).
    #[schema(value_type = Vec<ParticipantInput>)]
    pub participants: Vec<serde_json::Value>,
    /// Pairs that asked to meet (`type: meet`, with a `priority`) or to be kept apart.
    #[serde(default)]
    pub requests: Vec<Request>,
    /// Slots, breaks, tables, threshold, default cap.
    pub event: EventSpec,
    /// Rank every participant against the whole index, not only the other participants
    /// (recommendations may then name organisations that are not at the event).
    #[serde(default)]
    pub against_index: bool,
    /// Partners kept per participant when ranking (1 to 1000, default 60).
    pub candidates: Option<usize>,
    /// Recommendations listed per participant (0 to 100, default 10).
    pub recommendations: Option<usize>,
}

/// One meeting as one participant sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgendaEntry {
    /// 1-based slot number.
    pub slot: usize,
    /// Slot start `HH:MM`.
    pub start: String,
    /// Slot end `HH:MM`.
    pub end: String,
    /// 1-based table number.
    pub table: usize,
    /// The partner's id.
    pub partner: String,
    /// Mutual score.
    pub score: f32,
    /// Request priority when the pair asked to meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<u32>,
    /// Whether the meeting was kept from an earlier agenda.
    pub locked: bool,
    /// Why the partner suits this participant.
    pub why: Side,
}

/// One participant's agenda.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParticipantAgenda {
    /// The participant's id.
    pub participant: String,
    /// Meetings in slot order.
    pub meetings: Vec<AgendaEntry>,
}

/// `POST /batch` answer: the agenda (the same JSON as `agenda.json` of `clustermatch batch`) and
/// every participant's own agenda.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    /// Meetings, recommendations, unscheduled pairs with reasons, and the figures
    /// (`stats.total_score`, `stats.upper_bound`, `stats.ratio`).
    pub agenda: Agenda,
    /// Every participant's meetings, by participant id.
    pub by_participant: Vec<ParticipantAgenda>,
}

/// Plans an event: ranks every participant, computes mutual scores, and schedules 1:1
/// meetings into slots and tables, with an upper bound on the total score.
#[utoipa::path(post, path = "/batch", tag = "events",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "The agenda, per-participant agendas, unscheduled pairs with reasons, total score and bound", body = BatchResult),
        (status = 400, description = "Malformed request, bad event shape, too many participants, or a request naming a non-participant; `field` names the culprit", body = ErrorBody),
        (status = 404, description = "A participant given by id is not stored (with the nearest id)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid participant profiles; `details` lists every problem", body = ErrorBody),
    ))]
pub async fn batch(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<BatchRequest>,
) -> Result<Json<BatchResult>, ApiError> {
    let checked = precheck(req, state.limits.max_participants)?;
    let permit = state
        .batch_permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let engine = state.engine.clone();
    let opts = PlanOptions {
        candidates: checked.candidates,
        recommendations: checked.recommendations,
        params: engine.params().clone(),
        locked: Vec::new(),
    };
    let result = blocking(move || {
        let _permit = permit;
        let Prechecked {
            shape,
            participants,
            requests,
            against_index,
            ..
        } = checked;
        let participants = read_participants(participants, &shape, &engine)?;
        check_requests(&requests, &participants)?;
        let agenda = plan_with(
            &participants,
            &requests,
            &shape,
            &opts,
            against_index.then_some(&*engine),
            &NoProgress,
        )
        .map_err(ApiError::from)?;
        let by_participant = by_participant(&agenda);
        Ok(BatchResult {
            agenda,
            by_participant,
        })
    })
    .await?;
    Ok(Json(result))
}

/// Reads a `POST /batch` body into the planner's inputs, as the handler does once the content
/// type is checked (everything but the planning): the JSON parsed (depth capped, errors
/// located), the event shape and limits checked, participants given by id looked up in
/// `engine`, profiles, availability, caps and requests validated.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clustermatch::server::batch::parse_batch_request;
/// use clustermatch::Engine;
/// let engine = Engine::in_memory()?;
/// let body = br#"{"event": {"slots": ["09:00-10:00/20m"]},
///   "participants": [{"id": "a", "name": "A", "country": "FR", "availability": "1-2"},
///                    {"id": "b", "name": "B", "country": "DE"}],
///   "requests": [{"a": "a", "b": "b", "type": "meet"}]}"#;
/// let (shape, participants, requests) =
///     parse_batch_request(body, &engine, 100).map_err(|e| e.message)?;
/// assert_eq!(shape.slots().len(), 3);
/// assert_eq!(participants[0].availability, Some(vec![1, 2]));
/// assert_eq!(requests.len(), 1);
/// let bad = br#"{"event": {"slots": ["09:00-10:00/20x"]}, "participants": ["a"]}"#;
/// let e = parse_batch_request(bad, &engine, 100).err();
/// assert_eq!(e.and_then(|e| e.field).as_deref(), Some("event.slots[0]"));
/// # Ok(()) }
/// ```
pub fn parse_batch_request(
    bytes: &[u8],
    engine: &crate::Engine,
    max_participants: usize,
) -> Result<(EventShape, Vec<crate::event::Participant>, Vec<Request>), ApiError> {
    let checked = precheck(super::body::parse(bytes)?, max_participants)?;
    let participants = read_participants(checked.participants, &checked.shape, engine)?;
    check_requests(&checked.requests, &participants)?;
    Ok((checked.shape, participants, checked.requests))
}

/// A batch request whose shape and limits are checked (participants and requests are checked
/// on the blocking pool, as they may look profiles up).
struct Prechecked {
    shape: EventShape,
    participants: Vec<serde_json::Value>,
    requests: Vec<Request>,
    against_index: bool,
    candidates: usize,
    recommendations: usize,
}

/// The checks that need no index: the event's shape, the number of participants, the
/// ranking options.
fn precheck(req: BatchRequest, max: usize) -> Result<Prechecked, ApiError> {
    let shape = event_shape(&req.event)?;
    if req.participants.is_empty() {
        return Err(ApiError::invalid(
            "participants",
            "give at least one participant",
        ));
    }
    if req.participants.len() > max {
        return Err(ApiError::invalid(
            "participants",
            format!(
                "{} participants is more than this server plans at once ({max}; see `--max-participants`)",
                req.participants.len()
            ),
        ));
    }
    let candidates = req.candidates.unwrap_or(60);
    if candidates == 0 || candidates > MAX_CANDIDATES {
        return Err(ApiError::invalid(
            "candidates",
            format!("candidates must be between 1 and {MAX_CANDIDATES}, found {candidates}"),
        ));
    }
    let recommendations = req.recommendations.unwrap_or(10);
    if recommendations > MAX_RECOMMENDATIONS {
        return Err(ApiError::invalid(
            "recommendations",
            format!(
                "recommendations must be between 0 and {MAX_RECOMMENDATIONS}, found {recommendations}"
            ),
        ));
    }
    Ok(Prechecked {
        shape,
        participants: req.participants,
        requests: req.requests,
        against_index: req.against_index,
        candidates,
        recommendations,
    })
}

/// The event's shape, each problem located in `event`.
fn event_shape(e: &EventSpec) -> Result<EventShape, ApiError> {
    if e.slots.is_empty() {
        return Err(ApiError::invalid(
            "event.slots",
            "give at least one session, e.g. \"09:00-12:30/20m\"",
        ));
    }
    let sessions = e
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            SessionSpec::parse(s).map_err(|m| ApiError::invalid(&format!("event.slots[{i}]"), m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let breaks = e
        .breaks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            TimeRange::parse(s).map_err(|m| ApiError::invalid(&format!("event.breaks[{i}]"), m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(t) = e.tables {
        if t == 0 || t > MAX_TABLES {
            return Err(ApiError::invalid(
                "event.tables",
                format!("tables must be between 1 and {MAX_TABLES}, found {t}"),
            ));
        }
    }
    let min_score = e.min_score.unwrap_or(DEFAULT_MIN_SCORE);
    if !(0.0..=1.0).contains(&min_score) {
        return Err(ApiError::invalid(
            "event.min_score",
            format!("min_score must be between 0 and 1, found {min_score}"),
        ));
    }
    let shape = EventShape {
        name: e.name.clone().unwrap_or_default(),
        date: e.date.clone(),
        sessions,
        breaks,
        tables: e.tables,
        min_score,
        max_meetings: e.max_meetings.unwrap_or(DEFAULT_MAX_MEETINGS),
    };
    shape.check().map_err(|err| match err {
        Error::Usage(m) => shape_error(&m),
        other => ApiError::from(other),
    })?;
    Ok(shape)
}

/// Names the `event` field of a shape check's message (which is written for the CLI's flags).
fn shape_error(m: &str) -> ApiError {
    const FLAGS: [(&str, &str); 5] = [
        ("--slots/--break: ", "event.breaks"),
        ("--slots: ", "event.slots"),
        ("--tables ", "event.tables"),
        ("--min-score ", "event.min_score"),
        ("--date: ", "event.date"),
    ];
    for (flag, field) in FLAGS {
        if let Some(rest) = m.strip_prefix(flag) {
            let rest = if flag.ends_with(": ") {
                rest.to_string()
            } else {
                format!("{} {rest}", &field["event.".len()..])
            };
            return ApiError::invalid(field, rest);
        }
    }
    ApiError::invalid("event", m.to_string())
}

/// The id of a participant given by id only (a string, or an object with `id` and at most
/// `availability` and `max_meetings`).
fn id_only(v: &serde_json::Value) -> Option<&str> {
    match v {
        serde_json::Value::String(s) => Some(s.as_str()),
        serde_json::Value::Object(m)
            if m.keys()
                .all(|k| k == "id" || PARTICIPANT_EXTRAS.contains(&k.as_str())) =>
        {
            m.get("id").and_then(|id| id.as_str())
        }
        _ => None,
    }
}

/// Reads the participants like the lines of a participant file: ids are looked up among the
/// stored profiles (404 with the nearest id when missing), profiles validated, availability
/// and caps checked against the event.
fn read_participants(
    items: Vec<serde_json::Value>,
    shape: &EventShape,
    engine: &crate::Engine,
) -> Result<Vec<crate::event::Participant>, ApiError> {
    let mut records: Vec<RawRecord> = Vec::with_capacity(items.len());
    let mut strings: HashSet<usize> = HashSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let id = match &item {
            serde_json::Value::String(s) => Some(s.as_str()),
            serde_json::Value::Object(m) => m.get("id").and_then(|v| v.as_str()),
            _ => None,
        };
        if let Some(id) = id {
            if let Some(first) = seen.insert(id.trim().to_string(), i) {
                let field = if item.is_string() {
                    format!("participants[{i}]")
                } else {
                    format!("participants[{i}].id")
                };
                return Err(ApiError::invalid(
                    &field,
                    format!(
                        "participant \"{}\" is listed twice (first at participants[{first}])",
                        id.trim()
                    ),
                ));
            }
        }
        if let Some(id) = id_only(&item) {
            let id = id.trim();
            match engine.get(id) {
                Ok(_) => {}
                Err(Error::UnknownId { suggestion, .. }) => {
                    let field = if item.is_string() {
                        format!("participants[{i}]")
                    } else {
                        format!("participants[{i}].id")
                    };
                    return Err(ApiError::new(
                        ErrorCode::UnknownId,
                        format!("participant \"{id}\" is not a stored profile; give the profile in full or store it first with PUT /profiles"),
                    )
                    .field(field)
                    .suggest(suggestion));
                }
                Err(e) => return Err(ApiError::from(e)),
            }
        }
        let value = match item {
            serde_json::Value::String(id) => {
                strings.insert(i);
                serde_json::json!({ "id": id })
            }
            other => other,
        };
        let record = record_from_json(value, i + 1).map_err(|_| {
            ApiError::invalid(
                &format!("participants[{i}]"),
                "expected the id of a stored profile or a profile object",
            )
        })?;
        records.push(record);
    }
    let path = |d: &Diagnostic| -> Option<String> {
        let i = d.line?.checked_sub(1)?;
        if strings.contains(&i) {
            return Some(format!("participants[{i}]"));
        }
        profile_path(d, &format!("participants[{i}]"))
    };
    participants_from_records("request", &records, shape, Some(engine))
        .map_err(|e| ApiError::from_library(e, &path))
}

/// Checks the requests against the participants; every problem is named by its path.
fn check_requests(
    requests: &[Request],
    participants: &[crate::event::Participant],
) -> Result<(), ApiError> {
    let ids: HashSet<&str> = participants.iter().map(|p| p.profile.id.as_str()).collect();
    let mut problems = Vec::new();
    let mut kinds: HashMap<(String, String), (RequestKind, usize)> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        let mut ok = true;
        for (side, id) in [("a", &r.a), ("b", &r.b)] {
            if !ids.contains(id.as_str()) {
                ok = false;
                problems.push(Problem {
                    field: Some(format!("requests[{i}].{side}")),
                    message: format!("\"{id}\" is not among the participants"),
                    suggestion: nearest(id, ids.iter().copied()),
                });
            }
        }
        if r.priority == 0 {
            problems.push(Problem {
                field: Some(format!("requests[{i}].priority")),
                message: "priority must be a whole number ≥ 1".into(),
                suggestion: None,
            });
        }
        if !ok {
            continue;
        }
        if r.a == r.b {
            problems.push(Problem {
                field: Some(format!("requests[{i}].b")),
                message: format!("\"{}\" cannot meet itself", r.a),
                suggestion: None,
            });
            continue;
        }
        let key = pair_key(&r.a, &r.b);
        match kinds.get(&key) {
            Some((k, first)) if *k != r.kind => problems.push(Problem {
                field: Some(format!("requests[{i}].type")),
                message: format!(
                    "pair {} / {} is both requested and kept apart (see requests[{first}])",
                    key.0, key.1
                ),
                suggestion: None,
            }),
            Some(_) => {}
            None => {
                kinds.insert(key, (r.kind, i));
            }
        }
    }
    let Some(first) = problems.first().cloned() else {
        return Ok(());
    };
    let n = problems.len();
    let mut message = match &first.field {
        Some(f) => format!("{}: {}", crate::error::shown(f), first.message),
        None => first.message.clone(),
    };
    if n > 1 {
        message = format!("{message} (and {} more problems)", n - 1);
    }
    let mut err = ApiError::new(ErrorCode::InvalidRequest, message).suggest(first.suggestion);
    err.field = first.field;
    if n > 1 {
        err.details = problems;
    }
    Err(err)
}

/// Every participant's meetings in slot order, participants by id.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clustermatch::event::{plan, EventShape, Participant, PlanOptions};
/// use clustermatch::server::batch::by_participant;
/// use clustermatch::Profile;
/// let p = |id: &str, text: &str| Participant {
///     profile: Profile { id: id.into(), name: id.into(), country: "FR".into(),
///                        description: text.into(), ..Profile::default() },
///     availability: None,
///     max_meetings: None,
/// };
/// let people = [p("a", "wastewater membranes"), p("b", "membranes for wastewater")];
/// let shape = EventShape::parse_flags(&["09:00-10:00/20m".into()], &[], Some(1))?;
/// let agenda = plan(&people, &[], &shape, &PlanOptions::default())?;
/// let views = by_participant(&agenda);
/// assert_eq!(views.len(), 2);
/// assert_eq!(views[0].meetings.len(), agenda.meetings.len());
/// # Ok(()) }
/// ```
pub fn by_participant(agenda: &Agenda) -> Vec<ParticipantAgenda> {
    let mut of: HashMap<&str, Vec<AgendaEntry>> = agenda
        .participants
        .iter()
        .map(|p| (p.id.as_str(), Vec::new()))
        .collect();
    for m in &agenda.meetings {
        for (me, partner, why) in [(&m.a, &m.b, &m.why_a), (&m.b, &m.a, &m.why_b)] {
            of.entry(me.as_str()).or_default().push(AgendaEntry {
                slot: m.slot,
                start: m.start.clone(),
                end: m.end.clone(),
                table: m.table,
                partner: partner.clone(),
                score: m.score,
                requested: m.requested,
                locked: m.locked,
                why: why.clone(),
            });
        }
    }
    let mut out: Vec<ParticipantAgenda> = of
        .into_iter()
        .map(|(id, mut meetings)| {
            meetings.sort_by_key(|e| (e.slot, e.table));
            ParticipantAgenda {
                participant: id.to_string(),
                meetings,
            }
        })
        .collect();
    out.sort_by(|a, b| a.participant.cmp(&b.participant));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_name_the_event_field() {
        let spec = |slots: &[&str], breaks: &[&str]| EventSpec {
            slots: slots.iter().map(|s| s.to_string()).collect(),
            breaks: breaks.iter().map(|s| s.to_string()).collect(),
            ..EventSpec::default()
        };
        let e = event_shape(&spec(&["09:00-10:00/20m", "10:00-09:00/20m"], &[])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("event.slots[1]"));
        let e = event_shape(&spec(&["09:00-10:00/20m"], &["9-10"])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("event.breaks[0]"));
        let e = event_shape(&spec(&["09:00-10:00/20m", "09:30-11:00/20m"], &[])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("event.slots"));
        assert!(!e.message.contains("--"), "{}", e.message);
        let e = event_shape(&spec(&["09:00-10:00/20m"], &["08:00-11:00"])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("event.breaks"));
        let e = event_shape(&spec(&[], &[])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("event.slots"));
        let mut s = spec(&["09:00-10:00/20m"], &[]);
        s.date = Some("12/03/2026".into());
        let e = event_shape(&s).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("event.date"));
        s.date = None;
        s.tables = Some(0);
        assert_eq!(
            event_shape(&s).unwrap_err().field.as_deref(),
            Some("event.tables")
        );
        s.tables = Some(2);
        s.min_score = Some(1.5);
        assert_eq!(
            event_shape(&s).unwrap_err().field.as_deref(),
            Some("event.min_score")
        );
        s.min_score = None;
        assert_eq!(event_shape(&s).map(|s| s.slots().len()).ok(), Some(3));
    }
}
