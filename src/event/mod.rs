//! Events: batch ranking, mutual scores and a meeting agenda for a brokerage event or a
//! matchmaking mission.
//!
//! The model is plain data: an [`EventShape`] (sessions cut into slots, breaks, tables, a
//! minimum mutual score, a default meeting cap), [`Participant`]s (a profile plus optional
//! availability and cap) and [`Request`]s (pairs that asked to meet, pairs to keep apart).
//! [`plan`] takes them and returns an [`Agenda`]:
//!
//! 1. [`batch`] ranks every participant against the others (or the whole index) in parallel
//!    and computes the mutual score of every candidate pair — the harmonic mean of the two
//!    directed scores;
//! 2. [`schedule`] places 1:1 meetings into slots and tables (greedy by score, requested pairs
//!    first, then repair moves and exchanges) and computes an upper bound on the total score
//!    (a Lagrangian bound of the b-matching relaxation), so `total / bound` says how close to
//!    optimal the agenda is;
//! 3. [`export`] writes the files (CSV, JSON, xlsx, iCalendar) and [`report`] the HTML report.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use clustermatch::event::{plan, EventShape, Participant, PlanOptions};
//! use clustermatch::Profile;
//! let p = |id: &str, country: &str, text: &str, target: &str| Participant {
//!     profile: Profile {
//!         id: id.into(), name: id.into(), country: country.into(), description: text.into(),
//!         target_countries: vec![target.into()], ..Profile::default()
//!     },
//!     availability: None,
//!     max_meetings: None,
//! };
//! let participants = vec![
//!     p("water-fr", "FR", "wastewater treatment membranes", "CN"),
//!     p("water-cn", "CN", "membranes for wastewater treatment plants", "FR"),
//!     p("cars-cn", "CN", "electric cars and batteries", "DE"),
//!     p("cars-de", "DE", "batteries for electric cars", "CN"),
//! ];
//! let shape = EventShape::parse_flags(&["09:00-10:00/20m".into()], &[], Some(2))?;
//! let agenda = plan(&participants, &[], &shape, &PlanOptions::default())?;
//! assert!(agenda.meetings.iter().any(|m| m.a == "water-cn" && m.b == "water-fr"));
//! assert!(agenda.stats.total_score <= agenda.stats.upper_bound + 1e-9);
//! # Ok(()) }
//! ```

pub mod batch;
pub mod export;
pub mod input;
pub mod report;
pub mod schedule;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::Profile;

pub use batch::{plan, PlanOptions, Progress, Stage};
pub use schedule::UnscheduledReason;

/// The most slots an event may have.
pub const MAX_SLOTS: usize = 128;

/// A time of day in minutes since midnight, written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Clock(pub u32);

impl Clock {
    /// Parses `HH:MM` (or `H:MM`, `HHhMM`), 00:00 to 24:00.
    ///
    /// ```
    /// use clustermatch::event::Clock;
    /// assert_eq!(Clock::parse("09:30"), Some(Clock(570)));
    /// assert_eq!(Clock::parse("9h05"), Some(Clock(545)));
    /// assert_eq!(Clock::parse("25:00"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Clock> {
        let s = s.trim();
        let (h, m) = s.split_once(':').or_else(|| s.split_once('h'))?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        let h: u32 = h.parse().ok()?;
        let m: u32 = m.parse().ok()?;
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(Clock(h * 60 + m))
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A time range `HH:MM-HH:MM` (end after start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeRange {
    /// Start.
    pub start: Clock,
    /// End.
    pub end: Clock,
}

impl TimeRange {
    /// Parses `09:00-10:30`.
    pub fn parse(s: &str) -> std::result::Result<TimeRange, String> {
        let bad = || format!("bad time range \"{s}\": write it as HH:MM-HH:MM, e.g. 10:30-11:00");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (start, end) = (
            Clock::parse(a).ok_or_else(bad)?,
            Clock::parse(b).ok_or_else(bad)?,
        );
        if end <= start {
            return Err(format!(
                "time range \"{s}\" ends before it starts; write it as HH:MM-HH:MM with the end later"
            ));
        }
        Ok(TimeRange { start, end })
    }

    /// Whether two ranges overlap.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl TryFrom<String> for TimeRange {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        TimeRange::parse(&s)
    }
}

impl From<TimeRange> for String {
    fn from(r: TimeRange) -> String {
        r.to_string()
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A session cut into slots: `09:00-12:30/20m` (slot length in `m`inutes or `h`ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionSpec {
    /// When the session runs.
    pub range: TimeRange,
    /// Slot length in minutes.
    pub slot_minutes: u32,
}

impl SessionSpec {
    /// Parses `09:00-12:30/20m`.
    ///
    /// ```
    /// use clustermatch::event::SessionSpec;
    /// let s = SessionSpec::parse("09:00-12:30/20m")?;
    /// assert_eq!(s.slot_minutes, 20);
    /// assert!(SessionSpec::parse("09:00-12:30").is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn parse(s: &str) -> std::result::Result<SessionSpec, String> {
        let (range, len) = s.split_once('/').ok_or_else(|| {
            format!("bad slot spec \"{s}\": write START-END/LENGTH, e.g. 09:00-12:30/20m")
        })?;
        let range = TimeRange::parse(range)?;
        let len = len.trim().to_ascii_lowercase();
        let (digits, unit) = match len.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => len.split_at(i),
            None => (len.as_str(), "m"),
        };
        let n: u32 = digits.parse().map_err(|_| {
            format!("bad slot length \"{len}\" in \"{s}\": write minutes such as 20m or hours such as 1h")
        })?;
        let minutes = match unit {
            "m" | "min" | "mins" | "minutes" => n,
            // `n * 60` wrapped around in release builds: `71582789h` became 44 minutes.
            "h" | "hour" | "hours" => n.checked_mul(60).ok_or_else(|| {
                format!("slot length \"{len}\" in \"{s}\" is longer than the session")
            })?,
            _ => {
                return Err(format!(
                    "bad slot length unit \"{unit}\" in \"{s}\": use m (minutes) or h (hours)"
                ))
            }
        };
        if minutes == 0 {
            return Err(format!("slot length in \"{s}\" must be above 0"));
        }
        if minutes > range.end.0 - range.start.0 {
            return Err(format!(
                "slot length {minutes}m in \"{s}\" is longer than the session"
            ));
        }
        Ok(SessionSpec {
            range,
            slot_minutes: minutes,
        })
    }
}

impl TryFrom<String> for SessionSpec {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        SessionSpec::parse(&s)
    }
}

impl From<SessionSpec> for String {
    fn from(r: SessionSpec) -> String {
        format!("{}/{}m", r.range, r.slot_minutes)
    }
}

/// One meeting slot.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// 1-based slot number, in time order.
    pub number: usize,
    /// Start time `HH:MM`.
    #[serde(with = "clock_text")]
    #[schema(value_type = String)]
    pub start: Clock,
    /// End time `HH:MM`.
    #[serde(with = "clock_text")]
    #[schema(value_type = String)]
    pub end: Clock,
}

mod clock_text {
    use super::Clock;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(c: &Clock, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&c.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Clock, D::Error> {
        let s = String::deserialize(d)?;
        Clock::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad time \"{s}\"")))
    }
}

/// The `[event]` section of the TOML config: every field optional, flags override it.
///
/// ```toml
/// [event]
/// name = "EU-China cluster matchmaking"
/// date = "2026-03-12"
/// slots = ["09:00-12:30/20m", "14:00-17:00/20m"]
/// breaks = ["10:30-11:00"]
/// tables = 40
/// min_score = 0.2
/// max_meetings = 8
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventConfig {
    /// Event name (report title, calendar entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Event date, `YYYY-MM-DD` (calendar files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Sessions, e.g. `09:00-12:30/20m`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<SessionSpec>,
    /// Breaks, e.g. `10:30-11:00`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<TimeRange>,
    /// Tables (meetings at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<usize>,
    /// Minimum mutual score for a recommended meeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
    /// Default cap on meetings per participant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_meetings: Option<usize>,
}

/// Default minimum mutual score.
pub const DEFAULT_MIN_SCORE: f32 = 0.15;
/// Default cap on meetings per participant.
pub const DEFAULT_MAX_MEETINGS: usize = 8;

/// The shape of an event: when meetings happen, how many at once, and the rules for pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventShape {
    /// Event name.
    #[serde(default)]
    pub name: String,
    /// Event date `YYYY-MM-DD`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Sessions cut into slots.
    pub sessions: Vec<SessionSpec>,
    /// Breaks: no slot overlaps one.
    #[serde(default)]
    pub breaks: Vec<TimeRange>,
    /// Number of tables; `None` = as many as needed.
    #[serde(default)]
    pub tables: Option<usize>,
    /// Minimum mutual score for a meeting that was not requested.
    pub min_score: f32,
    /// Cap on meetings per participant unless the participant gives one.
    pub max_meetings: usize,
}

impl Default for EventShape {
    fn default() -> Self {
        EventShape {
            name: String::new(),
            date: None,
            sessions: Vec::new(),
            breaks: Vec::new(),
            tables: None,
            min_score: DEFAULT_MIN_SCORE,
            max_meetings: DEFAULT_MAX_MEETINGS,
        }
    }
}

impl EventShape {
    /// A shape from flag values: session specs, break ranges, tables (other fields default).
    pub fn parse_flags(slots: &[String], breaks: &[String], tables: Option<usize>) -> Result<Self> {
        let sessions = slots
            .iter()
            .flat_map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()))
            .map(|s| SessionSpec::parse(s).map_err(|m| Error::Usage(format!("--slots: {m}"))))
            .collect::<Result<Vec<_>>>()?;
        let breaks = breaks
            .iter()
            .flat_map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()))
            .map(|s| TimeRange::parse(s).map_err(|m| Error::Usage(format!("--break: {m}"))))
            .collect::<Result<Vec<_>>>()?;
        let shape = EventShape {
            sessions,
            breaks,
            tables,
            ..EventShape::default()
        };
        shape.check()?;
        Ok(shape)
    }

    /// Checks the shape: at least one slot, at most [`MAX_SLOTS`], sessions that do not overlap,
    /// a threshold in [0, 1], at least one table, a valid date.
    pub fn check(&self) -> Result<()> {
        let usage = |m: String| Err(Error::Usage(m));
        if self.sessions.is_empty() {
            return usage(
                "no meeting slots: give --slots START-END/LENGTH (e.g. 09:00-12:30/20m) or `slots` in the [event] config".into(),
            );
        }
        for (i, a) in self.sessions.iter().enumerate() {
            for b in &self.sessions[i + 1..] {
                if a.range.overlaps(&b.range) {
                    return usage(format!(
                        "--slots: sessions {} and {} overlap",
                        a.range, b.range
                    ));
                }
            }
        }
        let n = self.slots().len();
        if n == 0 {
            return usage("--slots/--break: the breaks leave no meeting slot".into());
        }
        if n > MAX_SLOTS {
            return usage(format!(
                "--slots: {n} slots is more than the {MAX_SLOTS} supported; use longer slots or fewer sessions"
            ));
        }
        if self.tables == Some(0) {
            return usage("--tables must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return usage(format!(
                "--min-score must be between 0 and 1, found {}",
                self.min_score
            ));
        }
        if let Some(d) = &self.date {
            if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                return usage(format!(
                    "--date: bad date \"{d}\": write it as YYYY-MM-DD, e.g. 2026-03-12"
                ));
            }
        }
        Ok(())
    }

    /// The slots, in time order: each session is cut from its start; a slot that would overlap
    /// a break starts again at the break's end.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clustermatch::event::EventShape;
    /// let shape = EventShape::parse_flags(
    ///     &["09:00-12:30/20m".into()], &["10:30-11:00".into()], Some(40))?;
    /// let slots = shape.slots();
    /// assert_eq!(slots.len(), 8);
    /// assert_eq!(slots[3].start.to_string(), "10:00");
    /// assert_eq!(slots[4].start.to_string(), "11:00");
    /// # Ok(()) }
    /// ```
    pub fn slots(&self) -> Vec<Slot> {
        let mut sessions = self.sessions.clone();
        sessions.sort_by_key(|s| s.range.start);
        let mut out = Vec::new();
        for s in &sessions {
            let mut t = s.range.start.0;
            while t + s.slot_minutes <= s.range.end.0 && out.len() <= MAX_SLOTS {
                let r = TimeRange {
                    start: Clock(t),
                    end: Clock(t + s.slot_minutes),
                };
                match self.breaks.iter().find(|b| b.overlaps(&r)) {
                    Some(b) => t = t.max(b.end.0),
                    None => {
                        out.push(Slot {
                            number: out.len() + 1,
                            start: r.start,
                            end: r.end,
                        });
                        t += s.slot_minutes;
                    }
                }
            }
        }
        out
    }
}

/// One participant: an organisation's profile, when it is free and how many meetings it wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// The organisation.
    pub profile: Profile,
    /// 1-based slot numbers the participant is free; `None` = every slot.
    #[serde(default)]
    pub availability: Option<Vec<usize>>,
    /// Cap on meetings; `None` = the event default.
    #[serde(default)]
    pub max_meetings: Option<usize>,
}

/// What a request asks for.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// The pair asked to meet.
    Meet,
    /// The pair must not meet (competitors, already partners, met before).
    Apart,
}

/// A request about one pair of participants.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// One participant id.
    pub a: String,
    /// The other participant id.
    pub b: String,
    /// Meet or keep apart.
    #[serde(rename = "type")]
    pub kind: RequestKind,
    /// Priority of a meet request (higher first; default 1).
    #[serde(default = "one")]
    pub priority: u32,
    /// Free-text note (shown in reasons: "competitors", "met in 2024").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

fn one() -> u32 {
    1
}

/// A meeting fixed before planning (from an earlier agenda, `--keep`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedMeeting {
    /// 1-based slot number.
    pub slot: usize,
    /// 1-based table number.
    pub table: usize,
    /// One participant id.
    pub a: String,
    /// The other participant id.
    pub b: String,
}

/// One side's view of why a pair should meet.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The directed score (how well the other suits this side).
    pub score: f32,
    /// Readable reasons.
    pub reasons: Vec<String>,
}

/// A scheduled meeting. `a` < `b` by id.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    /// 1-based slot number.
    pub slot: usize,
    /// Slot start `HH:MM`.
    pub start: String,
    /// Slot end `HH:MM`.
    pub end: String,
    /// 1-based table number.
    pub table: usize,
    /// One participant.
    pub a: String,
    /// The other participant.
    pub b: String,
    /// Mutual score.
    pub score: f32,
    /// Request priority when the pair asked to meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<u32>,
    /// Whether the meeting was kept from an earlier agenda.
    pub locked: bool,
    /// Why `b` suits `a`.
    pub why_a: Side,
    /// Why `a` suits `b`.
    pub why_b: Side,
}

/// A recommended partner of one participant.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The participant.
    pub participant: String,
    /// 1-based rank by mutual score.
    pub rank: usize,
    /// The partner.
    pub partner: String,
    /// Partner name.
    pub partner_name: String,
    /// Partner country.
    pub partner_country: String,
    /// Whether the partner takes part in the event (always, unless ranking against the index).
    pub at_event: bool,
    /// Mutual score.
    pub score: f32,
    /// Why the partner suits the participant.
    pub why_participant: Side,
    /// Why the participant suits the partner.
    pub why_partner: Side,
    /// Request priority when the pair asked to meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<u32>,
    /// Slot and table when scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<(usize, usize)>,
    /// Why not, when not scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unscheduled: Option<Unscheduled>,
}

/// Why a recommended or requested pair has no meeting.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unscheduled {
    /// One participant.
    pub a: String,
    /// The other.
    pub b: String,
    /// Mutual score.
    pub score: f32,
    /// Request priority when the pair asked to meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<u32>,
    /// The reason code.
    pub reason: UnscheduledReason,
    /// The reason in words.
    pub detail: String,
}

/// One participant as shown in outputs.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Country.
    pub country: String,
    /// Kind.
    pub kind: String,
    /// Sectors (given).
    pub sectors: Vec<String>,
    /// Slot numbers the participant is free.
    pub availability: Vec<usize>,
    /// Meeting cap applied.
    pub max_meetings: usize,
    /// Meetings scheduled.
    pub meetings: usize,
    /// Free slots between the first and the last meeting.
    pub idle_gaps: usize,
}

/// Event-wide figures.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Participants.
    pub participants: usize,
    /// Slots.
    pub slots: usize,
    /// Tables.
    pub tables: usize,
    /// Meetings scheduled.
    pub meetings: usize,
    /// Meetings kept from an earlier agenda.
    pub locked: usize,
    /// Requested pairs scheduled / requested pairs.
    pub requested_scheduled: usize,
    /// Requested pairs (meet).
    pub requested: usize,
    /// Meetings / (slots × tables).
    pub fill_rate: f64,
    /// Meetings × 2 / sum of the participants' caps (capped by availability).
    pub demand_fill: f64,
    /// Sum of the mutual scores of the meetings.
    pub total_score: f64,
    /// Upper bound on that sum over every feasible agenda.
    pub upper_bound: f64,
    /// `total_score / upper_bound` (1 when the bound is 0).
    pub ratio: f64,
    /// Participants without any meeting.
    pub without_meetings: usize,
    /// Free slots between first and last meeting, summed over participants.
    pub idle_gaps: usize,
    /// Participants per country, most first.
    pub by_country: Vec<(String, usize)>,
    /// Participants per sector (given or inferred), most first.
    pub by_sector: Vec<(String, usize)>,
    /// Candidate pairs scored.
    pub pairs_scored: usize,
    /// Seconds spent ranking, scheduling, explaining.
    pub seconds: Timing,
}

/// Where the time went.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Indexing participants in memory.
    pub index: f64,
    /// Ranking and mutual scores.
    pub rank: f64,
    /// Scheduling and bound.
    pub schedule: f64,
    /// Reasons for the pairs shown.
    pub explain: f64,
}

/// The result of planning an event: plain data, serialisable as JSON.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agenda {
    /// Event name.
    pub name: String,
    /// Event date, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The slots.
    pub slots: Vec<Slot>,
    /// The participants, by id.
    pub participants: Vec<ParticipantSummary>,
    /// Meetings, by slot then table.
    pub meetings: Vec<Meeting>,
    /// Recommendations per participant (by participant id, then rank).
    pub recommendations: Vec<Recommendation>,
    /// Requested or recommended pairs without a meeting, with the reason.
    pub unscheduled: Vec<Unscheduled>,
    /// Figures.
    pub stats: Stats,
}
