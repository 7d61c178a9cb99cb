//! The profile model and its validation: one organisation, as read from a JSONL line, a CSV row
//! or a sheet row, checked field by field into a [`Profile`] or a list of located
//! [`Diagnostic`]s.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::country;
use crate::error::{nearest, Diagnostic};
use crate::taxonomy::taxonomy;

/// What kind of organisation a profile describes.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An industry cluster or cluster organisation (the default).
    #[default]
    Cluster,
    /// A business or regional network.
    Network,
    /// A science or technology park.
    SciencePark,
    /// A technology or research centre, technology-transfer centre.
    TechnologyCentre,
    /// A public agency (development, innovation, trade promotion).
    Agency,
    /// A company.
    Company,
    /// A university or research institute.
    University,
    /// Anything else.
    Other,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 8] = [
        Kind::Cluster,
        Kind::Network,
        Kind::SciencePark,
        Kind::TechnologyCentre,
        Kind::Agency,
        Kind::Company,
        Kind::University,
        Kind::Other,
    ];

    /// The code as written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Network => "network",
            Kind::SciencePark => "science_park",
            Kind::TechnologyCentre => "technology_centre",
            Kind::Agency => "agency",
            Kind::Company => "company",
            Kind::University => "university",
            Kind::Other => "other",
        }
    }

    /// Parses a code (any case, spaces or hyphens for underscores).
    pub fn parse(value: &str) -> Option<Kind> {
        let v = value.trim().to_lowercase().replace([' ', '-'], "_");
        Kind::ALL.into_iter().find(|k| k.as_str() == v)
    }

    /// The small number stored in the index.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The kind of a stored number (unknown numbers are `Other`).
    pub fn from_number(n: u64) -> Kind {
        Kind::ALL.get(n as usize).copied().unwrap_or(Kind::Other)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One organisation, validated: ids are well-formed, countries are alpha-2, sectors are
/// taxonomy codes and `EU` in targets is expanded to its member states.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Unique id, 1–64 chars of `[a-z0-9._-]`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Kind of organisation.
    #[serde(default)]
    pub kind: Kind,
    /// ISO 3166-1 alpha-2 country (empty only for free-text queries).
    #[serde(default)]
    pub country: String,
    /// Region, free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// Sector codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<String>,
    /// Free-text profile.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Technologies and themes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Alpha-2 codes of the countries the organisation targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_countries: Vec<String>,
    /// What partners they look for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub seeking: String,
    /// What they offer partners.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub offering: String,
    /// Number of member organisations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<u64>,
    /// Web site.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub website: String,
}

/// The fields of the profile schema, in documentation order.
pub const FIELDS: [&str; 13] = [
    "id",
    "name",
    "kind",
    "country",
    "region",
    "sectors",
    "description",
    "keywords",
    "target_countries",
    "seeking",
    "offering",
    "members",
    "website",
];

/// Fields that hold lists (`;`-separated in CSV and sheets).
pub const LIST_FIELDS: [&str; 3] = ["sectors", "keywords", "target_countries"];

/// A raw value as read from a file, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// Text (a JSON string, a CSV cell, a text cell).
    Text(String),
    /// A list (a JSON array of strings).
    List(Vec<String>),
    /// A number (a JSON number, a numeric cell).
    Number(f64),
    /// Something of the wrong shape (a JSON object or boolean), described for the message.
    Invalid(&'static str),
}

impl RawValue {
    /// The value as text, numbers written plainly (`12`, not `12.0`).
    pub fn as_text(&self) -> Option<String> {
        match self {
            RawValue::Text(s) => Some(s.clone()),
            RawValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                Some(format!("{}", *n as i64))
            }
            RawValue::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The value as a list: lists as they are, text split on `;` (empty items dropped).
    pub fn as_list(&self) -> Option<Vec<String>> {
        match self {
            RawValue::List(v) => Some(
                v.iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            other => other.as_text().map(|t| {
                t.split(';')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
        }
    }
}

/// One record as read from a file: its position and its non-empty fields in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// 1-based line or sheet row.
    pub line: usize,
    /// Field name and value, in file order.
    pub fields: Vec<(String, RawValue)>,
}

/// Extra (non-profile) fields accepted by a caller, e.g. `availability` for events.
pub type Extras = BTreeMap<String, RawValue>;

/// Whether an id is 1–64 chars of `[a-z0-9._-]`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A valid id made from any text: lower case, runs of other characters as `-`, cut to 64.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let s = out.trim_matches('-');
    s.chars().take(64).collect()
}

/// Validates one record into a profile (and the extra fields the caller allows), or returns every
/// problem found in it.
pub fn validate(
    file: &str,
    record: &RawRecord,
    allowed_extra: &[&str],
) -> Result<(Profile, Extras), Vec<Diagnostic>> {
    let mut v = Validator {
        file,
        line: record.line,
        errors: Vec::new(),
    };
    let mut p = Profile::default();
    let mut extras = Extras::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &record.fields {
        let name = name.as_str();
        if seen.contains(&name) {
            v.error(name, "appears twice".to_string(), None);
            continue;
        }
        seen.push(name);
        if allowed_extra.contains(&name) {
            extras.insert(name.to_string(), value.clone());
            continue;
        }
        if let RawValue::Invalid(what) = value {
            v.error(name, format!("expected text, found {what}"), None);
            continue;
        }
        v.field(&mut p, name, value, allowed_extra);
    }
    for required in ["id", "name", "country"] {
        if !seen.contains(&required) {
            v.error(required, "is required but missing".into(), None);
        }
    }
    if v.errors.is_empty() {
        Ok((p, extras))
    } else {
        Err(v.errors)
    }
}

struct Validator<'a> {
    file: &'a str,
    line: usize,
    errors: Vec<Diagnostic>,
}

impl Validator<'_> {
    /// A "did you mean" suggestion, computed only while the record has fewer than
    /// [`MAX_DIAGNOSTICS`](crate::error::MAX_DIAGNOSTICS) problems: each costs a comparison with
    /// every candidate, and a 1 MiB record can hold thousands of bad values whose diagnostics
    /// are cut anyway.
    fn hint(&self, suggest: impl FnOnce() -> Option<String>) -> Option<String> {
        (self.errors.len() < crate::error::MAX_DIAGNOSTICS)
            .then(suggest)
            .flatten()
    }

    fn error(&mut self, field: &str, message: String, suggestion: Option<String>) {
        self.errors.push(
            Diagnostic::new(self.file, message)
                .at_line(self.line)
                .in_field(field)
                .suggest(suggestion),
        );
    }

    fn text(&mut self, field: &str, value: &RawValue) -> String {
        // Text is trimmed straight from the record, not copied whole first.
        if let RawValue::Text(s) = value {
            return s.trim().to_string();
        }
        match value.as_text() {
            Some(t) => t.trim().to_string(),
            None => {
                self.error(field, "expected text, found a list".into(), None);
                String::new()
            }
        }
    }

    fn field(&mut self, p: &mut Profile, name: &str, value: &RawValue, extra: &[&str]) {
        match name {
            "id" => p.id = self.id(value),
            "name" => {
                p.name = self.text(name, value);
                if p.name.is_empty() {
                    self.error(name, "must not be empty".into(), None);
                }
            }
            "kind" => p.kind = self.kind(value),
            "country" => p.country = self.country(name, value),
            "region" => p.region = self.text(name, value),
            "description" => p.description = self.text(name, value),
            "seeking" => p.seeking = self.text(name, value),
            "offering" => p.offering = self.text(name, value),
            "website" => p.website = self.text(name, value),
            "sectors" => p.sectors = self.sectors(value),
            "keywords" => p.keywords = value.as_list().unwrap_or_default(),
            "target_countries" => p.target_countries = self.targets(value),
            "members" => p.members = self.members(value),
            other => {
                let known = FIELDS.iter().chain(extra.iter()).copied();
                let hint = self.hint(|| nearest(other, known));
                self.error(other, "unknown field".into(), hint);
            }
        }
    }

    fn id(&mut self, value: &RawValue) -> String {
        let id = self.text("id", value);
        if !is_valid_id(&id) {
            let hint = Some(slug(&id)).filter(|s| !s.is_empty());
            self.error(
                "id",
                format!("invalid id \"{id}\": use 1-64 characters of a-z, 0-9, '.', '_', '-'"),
                hint,
            );
        }
        id
    }

    fn kind(&mut self, value: &RawValue) -> Kind {
        let text = self.text("kind", value);
        if text.is_empty() {
            return Kind::default();
        }
        Kind::parse(&text).unwrap_or_else(|| {
            let hint = self.hint(|| nearest(&text, Kind::ALL.iter().map(|k| k.as_str())));
            self.error("kind", format!("unknown kind \"{text}\""), hint);
            Kind::Other
        })
    }

    fn country(&mut self, field: &str, value: &RawValue) -> String {
        let text = self.text(field, value);
        country::parse(&text).unwrap_or_else(|| {
            self.error(
                field,
                format!("unknown country \"{text}\": use an ISO 3166-1 code such as FR or CN"),
                self.hint(|| country::suggest(&text)),
            );
            String::new()
        })
    }

    fn sectors(&mut self, value: &RawValue) -> Vec<String> {
        let t = taxonomy();
        let mut out: Vec<String> = Vec::new();
        for item in value.as_list().unwrap_or_default() {
            match t.resolve(&item) {
                Some(i) => {
                    let code = t.sector(i).code.clone();
                    if !out.contains(&code) {
                        out.push(code);
                    }
                }
                None => {
                    let hint = self.hint(|| t.suggest(&item));
                    self.error("sectors", format!("unknown code \"{item}\""), hint)
                }
            }
        }
        out
    }

    fn targets(&mut self, value: &RawValue) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |c: String| {
            if !out.contains(&c) {
                out.push(c);
            }
        };
        for item in value.as_list().unwrap_or_default() {
            if item.eq_ignore_ascii_case(country::EU_GROUP) {
                country::EU27.iter().for_each(|c| push(c.to_string()));
            } else if let Some(c) = country::parse(&item) {
                push(c);
            } else {
                let hint = self.hint(|| country::suggest(&item));
                self.error(
                    "target_countries",
                    format!("unknown country \"{item}\": use ISO 3166-1 codes or EU"),
                    hint,
                );
            }
        }
        out
    }

    fn members(&mut self, value: &RawValue) -> Option<u64> {
        let parsed = match value {
            RawValue::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 1e15 => Some(*n as u64),
            RawValue::Text(t) => t.trim().parse::<u64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            let shown = value.as_text().unwrap_or_else(|| "a list".into());
            self.error(
                "members",
                format!("expected a whole number ≥ 0, found \"{shown}\""),
                None,
            );
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[(&str, &str)]) -> RawRecord {
        RawRecord {
            line: 3,
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), RawValue::Text(v.to_string())))
                .collect(),
        }
    }

    fn errors(fields: &[(&str, &str)]) -> Vec<String> {
        validate("p.csv", &rec(fields), &[])
            .err()
            .unwrap_or_default()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn accepts_a_good_record_and_normalises_it() {
        let (p, _) = validate(
            "p.csv",
            &rec(&[
                ("id", "lyonbiopole"),
                ("name", "Lyonbiopole"),
                ("country", "fra"),
                ("sectors", "biotech; medical_devices"),
                ("target_countries", "cn;EU"),
                ("members", "120"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(p.country, "FR");
        assert_eq!(p.sectors, vec!["biopharmaceuticals", "medical_devices"]);
        assert_eq!(p.target_countries[0], "CN");
        assert_eq!(p.target_countries.len(), 28);
        assert_eq!(p.members, Some(120));
        assert_eq!(p.kind, Kind::Cluster);
    }

    #[test]
    fn unknown_sector_names_the_nearest_code() {
        let e = errors(&[
            ("id", "a"),
            ("name", "A"),
            ("country", "FR"),
            ("sectors", "biopharma"),
        ]);
        assert_eq!(
            e,
            vec!["p.csv:3: field \"sectors\": unknown code \"biopharma\"; did you mean \"biopharmaceuticals\"?"]
        );
    }

    #[test]
    fn reports_every_error_of_a_record() {
        let e = errors(&[("id", "Bad Id!"), ("country", "Germny"), ("colour", "red")]);
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("invalid id") && e[0].contains("did you mean \"bad-id\""));
        assert!(e[1].contains("unknown country") && e[1].contains("\"DE\""));
        assert!(e[2].contains("field \"colour\": unknown field"));
        assert!(e[3].contains("field \"name\": is required"));
    }

    #[test]
    fn unknown_field_suggests_the_schema_field() {
        let e = errors(&[
            ("id", "a"),
            ("name", "A"),
            ("country", "FR"),
            ("sector", "x"),
        ]);
        assert!(e[0].ends_with("did you mean \"sectors\"?"), "{e:?}");
    }

    #[test]
    fn bad_kind_members_and_targets_are_located() {
        let e = errors(&[
            ("id", "a"),
            ("name", "A"),
            ("country", "FR"),
            ("kind", "sciencepark"),
            ("members", "many"),
            ("target_countries", "CN;Narnia"),
        ]);
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("did you mean \"science_park\""));
        assert!(e[1].contains("field \"members\""));
        assert!(e[2].contains("\"Narnia\""));
    }

    #[test]
    fn extras_are_passed_through_when_allowed() {
        let r = rec(&[
            ("id", "a"),
            ("name", "A"),
            ("country", "FR"),
            ("max_meetings", "4"),
        ]);
        let (_, extras) = validate("p.csv", &r, &["max_meetings"]).unwrap();
        assert_eq!(extras["max_meetings"], RawValue::Text("4".into()));
    }

    #[test]
    fn ids_and_slugs() {
        assert!(is_valid_id("ccb-chemie.cluster_1"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("Upper"));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert_eq!(
            slug("  Chemie-Cluster Bayern (CCB) "),
            "chemie-cluster-bayern-ccb"
        );
    }
}
