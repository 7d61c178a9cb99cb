//! Reading an event's files: participants (any profile format plus `availability` and
//! `max_meetings` columns; rows with only an id are looked up in the index), requests (pairs
//! to meet or keep apart) and an earlier agenda whose meetings stay where they are (`--keep`).
//! Every problem is reported with file, line or row, field and, when there is one, the nearest
//! valid value; a file with problems yields all of them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{EventShape, LockedMeeting, Participant, Request, RequestKind, Slot};
use crate::engine::Engine;
use crate::error::{nearest, Diagnostic, Error, InputErrors, Result};
use crate::input::{read_records, validate_records};
use crate::profile::{RawRecord, RawValue};

/// Extra participant columns.
pub const PARTICIPANT_EXTRAS: [&str; 2] = ["availability", "max_meetings"];

/// Parses an availability value against the event's slots: slot numbers (`3`), slot ranges
/// (`1-4`) or time ranges (`09:00-10:30`: the slots that lie inside), separated by `;` or `,`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clustermatch::event::{input::parse_availability, EventShape};
/// let shape = EventShape::parse_flags(&["09:00-11:00/20m".into()], &[], None)?;
/// let slots = shape.slots();
/// assert_eq!(parse_availability("1-2; 6", &slots)?, vec![1, 2, 6]);
/// assert_eq!(parse_availability("10:00-11:00", &slots)?, vec![4, 5, 6]);
/// assert!(parse_availability("7", &slots).is_err());
/// # Ok(()) }
/// ```
pub fn parse_availability(text: &str, slots: &[Slot]) -> std::result::Result<Vec<usize>, String> {
    let mut out = Vec::new();
    let n = slots.len();
    for item in text
        .split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if item.contains(':') || item.contains('h') {
            let r = super::TimeRange::parse(item)?;
            let inside: Vec<usize> = slots
                .iter()
                .filter(|s| s.start >= r.start && s.end <= r.end)
                .map(|s| s.number)
                .collect();
            if inside.is_empty() {
                return Err(format!("no slot lies inside {r}"));
            }
            out.extend(inside);
            continue;
        }
        let num = |s: &str| -> std::result::Result<usize, String> {
            let v: usize = s.trim().parse().map_err(|_| {
                format!("bad value \"{item}\": use slot numbers (3), slot ranges (1-4) or times (09:00-10:30)")
            })?;
            if v == 0 || v > n {
                return Err(format!(
                    "slot {v} does not exist: the event has slots 1 to {n}"
                ));
            }
            Ok(v)
        };
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err(format!("slot range \"{item}\" ends before it starts"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(item)?),
        }
    }
    if out.is_empty() {
        return Err("no slot given".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn parse_cap(value: &RawValue) -> std::result::Result<usize, String> {
    let text = value.as_text().unwrap_or_else(|| "a list".into());
    match value {
        RawValue::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 1e6 => Ok(*n as usize),
        RawValue::Text(t) if t.trim().parse::<usize>().is_ok() => {
            Ok(t.trim().parse::<usize>().unwrap_or(0))
        }
        _ => Err(format!(
            "expected a whole number of meetings (0 or more), found \"{text}\""
        )),
    }
}

/// Reads participants. Rows with only `id` (and `availability`/`max_meetings`) take their
/// profile from `index`; other rows are full profiles, validated like `index --input`.
pub fn read_participants(
    path: &Path,
    shape: &EventShape,
    index: Option<&Engine>,
) -> Result<Vec<Participant>> {
    let label = path.display().to_string();
    let records = read_records(path)?;
    participants_from_records(&label, &records, shape, index)
}

/// Whether a participant file has rows given by id only (so the caller knows to open the index).
pub fn has_id_only_rows(path: &Path) -> Result<bool> {
    Ok(read_records(path)?.iter().any(is_id_only))
}

fn is_id_only(r: &RawRecord) -> bool {
    r.fields.iter().any(|(k, _)| k == "id")
        && r.fields
            .iter()
            .all(|(k, _)| k == "id" || PARTICIPANT_EXTRAS.contains(&k.as_str()))
}

/// Validates participant records from one file (see [`read_participants`]).
pub fn participants_from_records(
    label: &str,
    records: &[RawRecord],
    shape: &EventShape,
    index: Option<&Engine>,
) -> Result<Vec<Participant>> {
    let slots = shape.slots();
    let mut errors: Vec<Diagnostic> = Vec::new();
    let (short, full): (Vec<&RawRecord>, Vec<&RawRecord>) =
        records.iter().partition(|r| is_id_only(r));
    let full: Vec<RawRecord> = full.into_iter().cloned().collect();
    let mut out: Vec<(usize, Participant)> = Vec::new();
    let mut extras_of: Vec<(usize, crate::profile::Extras)> = Vec::new();
    if !full.is_empty() || short.is_empty() {
        match validate_records(label, &full, &PARTICIPANT_EXTRAS) {
            Ok(ps) => {
                for p in ps {
                    extras_of.push((p.line, p.extras));
                    out.push((
                        p.line,
                        Participant {
                            profile: p.profile,
                            availability: None,
                            max_meetings: None,
                        },
                    ));
                }
            }
            Err(Error::Input(e)) => errors.extend(e.diagnostics),
            Err(e) => return Err(e),
        }
    }
    for r in &short {
        let mut id = String::new();
        let mut extras = crate::profile::Extras::new();
        for (k, v) in &r.fields {
            if k == "id" {
                id = v.as_text().unwrap_or_default().trim().to_string();
            } else {
                extras.insert(k.clone(), v.clone());
            }
        }
        let at = |m: String| Diagnostic::new(label, m).at_line(r.line).in_field("id");
        match index {
            None => errors.push(at(format!(
                "participant \"{id}\" is given by id only, but there is no index to look it up in; give name and country, or index the profile first"
            ))),
            Some(engine) => match engine.get(&id) {
                Ok(profile) => {
                    extras_of.push((r.line, extras));
                    out.push((
                        r.line,
                        Participant {
                            profile,
                            availability: None,
                            max_meetings: None,
                        },
                    ));
                }
                Err(Error::UnknownId { suggestion, .. }) => errors.push(
                    at(format!(
                        "participant \"{id}\" is given by id only but is not in the index"
                    ))
                    .suggest(suggestion),
                ),
                Err(e) => return Err(e),
            },
        }
    }
    let extras_at: HashMap<usize, crate::profile::Extras> = extras_of.into_iter().collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    out.sort_by_key(|(line, _)| *line);
    for (line, p) in &mut out {
        if let Some(prev) = seen.insert(p.profile.id.clone(), *line) {
            errors.push(
                Diagnostic::new(
                    label,
                    format!("duplicate id \"{}\" (first on line {prev})", p.profile.id),
                )
                .at_line(*line)
                .in_field("id"),
            );
        }
        let Some(extras) = extras_at.get(line) else {
            continue;
        };
        if let Some(v) = extras.get("availability") {
            let text = match v {
                RawValue::List(items) => Some(items.join(";")),
                other => other.as_text(),
            };
            match text.map(|t| parse_availability(&t, &slots)) {
                Some(Ok(a)) => p.availability = Some(a),
                Some(Err(m)) => errors.push(
                    Diagnostic::new(label, m)
                        .at_line(*line)
                        .in_field("availability"),
                ),
                None => errors.push(
                    Diagnostic::new(label, "expected slot numbers or time ranges")
                        .at_line(*line)
                        .in_field("availability"),
                ),
            }
        }
        if let Some(v) = extras.get("max_meetings") {
            match parse_cap(v) {
                Ok(c) => p.max_meetings = Some(c),
                Err(m) => errors.push(
                    Diagnostic::new(label, m)
                        .at_line(*line)
                        .in_field("max_meetings"),
                ),
            }
        }
    }
    errors.sort_by_key(|d| d.line);
    if errors.is_empty() {
        Ok(out.into_iter().map(|(_, p)| p).collect())
    } else {
        Err(Error::Input(InputErrors::new(errors)))
    }
}

/// Reads requests: columns `a`, `b`, `type` (`meet` or `apart`), optional `priority` (a whole
/// number ≥ 1, meet only) and `note`. Ids must be participants.
pub fn read_requests(path: &Path, participants: &[Participant]) -> Result<Vec<Request>> {
    let label = path.display().to_string();
    requests_from_records(&label, &read_records(path)?, participants)
}

/// Validates request records from one file (see [`read_requests`]); `label` names the file in
/// messages.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clustermatch::event::input::{participants_from_records, requests_from_records};
/// use clustermatch::event::EventShape;
/// use clustermatch::input::{csv_records, jsonl_records};
/// let shape = EventShape::parse_flags(&["09:00-10:00/20m".into()], &[], None)?;
/// let people = jsonl_records("p.jsonl", &br#"{"id":"a","name":"A","country":"FR"}
/// {"id":"b","name":"B","country":"DE"}"#[..])?;
/// let participants = participants_from_records("p.jsonl", &people, &shape, None)?;
/// let rows = csv_records("r.csv", &b"a,b,type\na,b,meet\n"[..], None)?;
/// let requests = requests_from_records("r.csv", &rows, &participants)?;
/// assert_eq!(requests[0].b, "b");
/// assert!(requests_from_records("r.csv", &csv_records("r.csv", &b"a,b\na,c\n"[..], None)?, &participants).is_err());
/// # Ok(()) }
/// ```
pub fn requests_from_records(
    label: &str,
    records: &[RawRecord],
    participants: &[Participant],
) -> Result<Vec<Request>> {
    let label = label.to_string();
    let ids: HashSet<&str> = participants.iter().map(|p| p.profile.id.as_str()).collect();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    const FIELDS: [&str; 5] = ["a", "b", "type", "priority", "note"];
    for r in records {
        let err = |field: &str, m: String, s: Option<String>| {
            Diagnostic::new(&label, m)
                .at_line(r.line)
                .in_field(field)
                .suggest(s)
        };
        let mut get: HashMap<&str, String> = HashMap::new();
        for (k, v) in &r.fields {
            if !FIELDS.contains(&k.as_str()) {
                errors.push(err(
                    k,
                    "unknown column".into(),
                    nearest(k, FIELDS.iter().copied()),
                ));
                continue;
            }
            get.insert(
                k.as_str(),
                v.as_text().unwrap_or_default().trim().to_string(),
            );
        }
        let mut id = |f: &str| -> Option<String> {
            match get.get(f) {
                None => {
                    errors.push(err(f, "is required but missing".into(), None));
                    None
                }
                Some(v) if ids.contains(v.as_str()) => Some(v.clone()),
                Some(v) => {
                    errors.push(err(
                        f,
                        format!("unknown participant \"{v}\""),
                        nearest(v, ids.iter().copied()),
                    ));
                    None
                }
            }
        };
        let (a, b) = (id("a"), id("b"));
        let kind = match get.get("type").map(|s| s.to_ascii_lowercase()) {
            None => Some(RequestKind::Meet),
            Some(t) if t == "meet" || t == "request" => Some(RequestKind::Meet),
            Some(t) if t == "apart" || t == "avoid" => Some(RequestKind::Apart),
            Some(t) => {
                errors.push(err(
                    "type",
                    format!("unknown request type \"{t}\": use meet or apart"),
                    nearest(&t, ["meet", "apart"]),
                ));
                None
            }
        };
        let priority = match get.get("priority") {
            None => Some(1),
            Some(p) => match p.parse::<u32>() {
                Ok(v) if v >= 1 => Some(v),
                _ => {
                    errors.push(err(
                        "priority",
                        format!("expected a whole number ≥ 1, found \"{p}\""),
                        None,
                    ));
                    None
                }
            },
        };
        if let (Some(a), Some(b), Some(kind), Some(priority)) = (a, b, kind, priority) {
            if a == b {
                errors.push(err("b", format!("\"{a}\" cannot meet itself"), None));
                continue;
            }
            out.push((
                r.line,
                Request {
                    a,
                    b,
                    kind,
                    priority,
                    note: get.get("note").cloned().unwrap_or_default(),
                },
            ));
        }
    }
    // A pair both requested and kept apart is a contradiction the organiser must settle.
    let mut kinds: HashMap<(String, String), (RequestKind, usize)> = HashMap::new();
    for (line, r) in &out {
        let key = pair_key(&r.a, &r.b);
        if let Some((k, first)) = kinds.get(&key) {
            if *k != r.kind {
                errors.push(
                    Diagnostic::new(
                        &label,
                        format!(
                            "pair {} / {} is both requested and kept apart (other on line {first})",
                            key.0, key.1
                        ),
                    )
                    .at_line(*line)
                    .in_field("type"),
                );
            }
        } else {
            kinds.insert(key, (r.kind, *line));
        }
    }
    if errors.is_empty() {
        Ok(out.into_iter().map(|(_, r)| r).collect())
    } else {
        errors.sort_by_key(|d| d.line);
        Err(Error::Input(InputErrors::new(errors)))
    }
}

/// The pair's ids in order.
pub fn pair_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Reads the meetings of an earlier agenda to keep (the `meetings.csv` that `batch` writes, or
/// any table with columns `slot`, `table`, `a`, `b`; other columns are ignored).
pub fn read_locked(path: &Path, participants: &[Participant]) -> Result<Vec<LockedMeeting>> {
    let label = path.display().to_string();
    locked_from_records(&label, &read_records(path)?, participants)
}

/// Validates the records of an earlier agenda (see [`read_locked`]); `label` names the file in
/// messages.
pub fn locked_from_records(
    label: &str,
    records: &[RawRecord],
    participants: &[Participant],
) -> Result<Vec<LockedMeeting>> {
    let label = label.to_string();
    let ids: HashSet<&str> = participants.iter().map(|p| p.profile.id.as_str()).collect();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut first_line: HashMap<(String, String), usize> = HashMap::new();
    for r in records {
        let get = |f: &str| {
            r.fields
                .iter()
                .find(|(k, _)| k == f)
                .and_then(|(_, v)| v.as_text())
                .map(|s| s.trim().to_string())
        };
        let err = |f: &str, m: String, s: Option<String>| {
            Diagnostic::new(&label, m)
                .at_line(r.line)
                .in_field(f)
                .suggest(s)
        };
        let mut num = |f: &str| match get(f).map(|v| (v.parse::<usize>(), v)) {
            Some((Ok(n), _)) if n >= 1 => Some(n),
            Some((_, v)) => {
                errors.push(err(
                    f,
                    format!("expected a number ≥ 1, found \"{v}\""),
                    None,
                ));
                None
            }
            None => {
                errors.push(err(f, "is required but missing".into(), None));
                None
            }
        };
        let (slot, table) = (num("slot"), num("table"));
        let mut id = |f: &str| match get(f) {
            Some(v) if ids.contains(v.as_str()) => Some(v),
            Some(v) => {
                errors.push(err(
                    f,
                    format!(
                        "\"{v}\" is not among the participants; add it back or remove this meeting"
                    ),
                    nearest(&v, ids.iter().copied()),
                ));
                None
            }
            None => {
                errors.push(err(f, "is required but missing".into(), None));
                None
            }
        };
        let (a, b) = (id("a"), id("b"));
        if let (Some(slot), Some(table), Some(a), Some(b)) = (slot, table, a, b) {
            // A pair meets once: a second meeting of the same pair cannot be kept.
            if let Some(line) = first_line.insert(pair_key(&a, &b), r.line) {
                errors.push(err(
                    "b",
                    format!("\"{a}\" and \"{b}\" already meet on line {line}; a pair meets once, keep one of the two"),
                    None,
                ));
                continue;
            }
            out.push(LockedMeeting { slot, table, a, b });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Input(InputErrors::new(errors)))
    }
}
