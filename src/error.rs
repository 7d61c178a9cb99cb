//! Errors of the library: one typed enum, [`Error`], and the [`Diagnostic`] that locates a
//! problem in a user's input file (file, line or sheet row, field, nearest valid value).
//!
//! Messages quote the user's values (`unknown country "Frnce"`); [`clip`] cuts every quoted
//! value to [`MAX_SHOWN_CHARS`] characters, so a 900 KB field never comes back in an error.
//! [`Diagnostic::new`], the display of [`Diagnostic`] and [`Error`], and the HTTP service's
//! error bodies all go through it.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The most input errors reported for one run before the rest are summarised.
pub const MAX_DIAGNOSTICS: usize = 50;

/// One problem found in user input, pointing at the exact spot.
///
/// Displays as `participants.csv:14: field "sectors": unknown code "biopharma"; did you mean
/// "biopharmaceuticals"?`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// File name as the user gave it (or a label such as `request`).
    pub file: String,
    /// 1-based line (JSONL, CSV) or sheet row (xlsx); `None` for whole-file problems.
    pub line: Option<usize>,
    /// Field (column) at fault, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The nearest valid value, when one is close enough to suggest.
    pub suggestion: Option<String>,
}

impl Diagnostic {
    /// A diagnostic for `file` with a message; add position with the builder methods. Quoted
    /// values in the message are cut by [`clip`].
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match clip(&message) {
            Cow::Borrowed(_) => message,
            Cow::Owned(clipped) => clipped,
        };
        Diagnostic {
            file: file.into(),
            line: None,
            field: None,
            message,
            suggestion: None,
        }
    }

    /// Sets the line (or sheet row).
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the field.
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets the suggested nearest valid value.
    pub fn suggest(mut self, value: Option<String>) -> Self {
        self.suggestion = value;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", shown(&self.file))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field \"{}\": ", shown(field))?;
        }
        write!(f, "{}", clip(&self.message))?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean \"{}\"?", shown(s))?;
        }
        Ok(())
    }
}

/// The most characters of one user-supplied value quoted in a message; longer values are cut
/// there and end with `…`.
pub const MAX_SHOWN_CHARS: usize = 80;

/// The most characters of a whole message after [`clip`] (a backstop for values whose own
/// quotes break the pairing); longer messages are cut there and end with `…`.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// A user-supplied value as shown in a message: at most [`MAX_SHOWN_CHARS`] characters, cut on
/// a character boundary and ended with `…` when longer.
///
/// ```
/// use clustermatch::error::shown;
/// assert_eq!(shown("Frnce"), "Frnce");
/// let long = "é".repeat(100);
/// assert_eq!(shown(&long), format!("{}…", "é".repeat(80)));
/// ```
pub fn shown(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &value[..cut])),
        None => Cow::Borrowed(value),
    }
}

/// The message with every value quoted in it (between `"` or `` ` ``) cut to
/// [`MAX_SHOWN_CHARS`] characters as [`shown`] does, and the whole cut to
/// [`MAX_MESSAGE_CHARS`]. Messages without a long value come back unchanged.
///
/// ```
/// use clustermatch::error::clip;
/// assert_eq!(clip("unknown country \"Frnce\""), "unknown country \"Frnce\"");
/// let long = format!("unknown country \"{}\": use an ISO code", "X".repeat(900_000));
/// assert_eq!(clip(&long), format!("unknown country \"{}…\": use an ISO code", "X".repeat(80)));
/// ```
pub fn clip(message: &str) -> Cow<'_, str> {
    if message.len() <= MAX_SHOWN_CHARS {
        return Cow::Borrowed(message);
    }
    let mut out = String::new();
    // Bytes of `message` copied to `out` so far; the open quote and the characters in it.
    let mut copied = 0;
    let mut open: Option<(char, usize)> = None;
    let mut skipping = false;
    for (i, c) in message.char_indices() {
        match open {
            Some((q, _)) if c == q => {
                if skipping {
                    out.push('…');
                    copied = i;
                    skipping = false;
                }
                open = None;
            }
            Some((q, n)) => {
                if n == MAX_SHOWN_CHARS && !skipping {
                    out.push_str(&message[copied..i]);
                    skipping = true;
                }
                open = Some((q, n + 1));
            }
            None if c == '"' || c == '`' => open = Some((c, 0)),
            None => {}
        }
    }
    if copied == 0 && !skipping {
        return cap_total(Cow::Borrowed(message));
    }
    if skipping {
        out.push('…');
    } else {
        out.push_str(&message[copied..]);
    }
    cap_total(Cow::Owned(out))
}

fn cap_total(message: Cow<'_, str>) -> Cow<'_, str> {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &message[..cut])),
        None => message,
    }
}

/// Every problem found in one input, in file order (capped at [`MAX_DIAGNOSTICS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputErrors {
    /// The diagnostics kept.
    pub diagnostics: Vec<Diagnostic>,
    /// How many more were found beyond the cap.
    pub more: usize,
}

impl InputErrors {
    /// Wraps a list of diagnostics, keeping at most [`MAX_DIAGNOSTICS`].
    pub fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        let more = diagnostics.len().saturating_sub(MAX_DIAGNOSTICS);
        diagnostics.truncate(MAX_DIAGNOSTICS);
        InputErrors { diagnostics, more }
    }
}

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.more > 0 {
            write!(f, "\n... and {} more errors", self.more)?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// User input (a profile file, a query, a config value) is invalid. Nothing was stored.
    #[error("{0}")]
    Input(InputErrors),
    /// A request or option is invalid (bad weight, unknown id, empty query...).
    #[error("{}", clip(.0))]
    Usage(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or handle) holds the index's writer lock.
    #[error("index {} is locked by another writer (another `clustermatch index` or server is writing); try again when it has finished", path.display())]
    Locked {
        /// The index directory.
        path: PathBuf,
    },
    /// The disk filled up while the index was written; nothing was committed.
    #[error("index {}: no space left on the device; nothing was stored and the index keeps its previous state (free some space and run again)", path.display())]
    DiskFull {
        /// The index directory.
        path: PathBuf,
    },
    /// There is no index at the given place.
    #[error("no index at {}: build one with `clustermatch index --input FILE`", path.display())]
    NoIndex {
        /// The index directory.
        path: PathBuf,
    },
    /// A profile id is not in the index.
    #[error("unknown profile id \"{}\"{}", shown(id), suggestion.as_ref().map(|s| format!("; did you mean \"{}\"?", shown(s))).unwrap_or_default())]
    UnknownId {
        /// The id asked for.
        id: String,
        /// The closest id in the index.
        suggestion: Option<String>,
    },
    /// The index itself failed (corrupt files, I/O inside tantivy).
    #[error("index {}: {source}", path.display())]
    Index {
        /// The index directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: tantivy::TantivyError,
    },
}

impl Error {
    /// Whether the error is the user's input (exit code 2) rather than a failure (exit code 1).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::Input(_) | Error::Usage(_) | Error::UnknownId { .. } | Error::NoIndex { .. }
        )
    }

    /// Shorthand for a single located input error.
    pub fn input(d: Diagnostic) -> Self {
        Error::Input(InputErrors::new(vec![d]))
    }
}

/// Values longer than this (in bytes) get no suggestion from [`nearest`].
pub const MAX_SUGGEST_LEN: usize = 256;

/// The closest candidate to `value` by edit distance, when it is close enough to be a typo
/// (never for a value longer than [`MAX_SUGGEST_LEN`]).
pub fn nearest<'a, I>(value: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    // A typo is short; comparing a huge value with every candidate would cost its length
    // times theirs, for no useful suggestion.
    if value.len() > MAX_SUGGEST_LEN {
        return None;
    }
    let value = value.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&value, &c.to_lowercase());
        let better = match best {
            None => true,
            Some((s, b)) => score > s || (score == s && c < b),
        };
        if better {
            best = Some((score, c));
        }
    }
    best.filter(|(s, _)| *s >= 0.7).map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_display_names_file_line_field_and_suggestion() {
        let d = Diagnostic::new("participants.csv", "unknown code \"biopharma\"")
            .at_line(14)
            .in_field("sectors")
            .suggest(Some("biopharmaceuticals".into()));
        assert_eq!(
            d.to_string(),
            "participants.csv:14: field \"sectors\": unknown code \"biopharma\"; did you mean \"biopharmaceuticals\"?"
        );
    }

    #[test]
    fn nearest_finds_typos_and_ignores_noise() {
        let c = ["biopharmaceuticals", "medical_devices", "automotive"];
        assert_eq!(
            nearest("biopharma", c).as_deref(),
            Some("biopharmaceuticals")
        );
        assert_eq!(nearest("automotiv", c).as_deref(), Some("automotive"));
        assert_eq!(nearest("zzzzqqq", c), None);
    }

    #[test]
    fn long_quoted_values_are_clipped_on_a_char_boundary() {
        // Short values and messages stay as they are.
        let short = "participants.csv:14: field \"sectors\": unknown code \"biopharma\"; did you mean \"biopharmaceuticals\"?";
        assert!(matches!(clip(short), Cow::Borrowed(_)));
        let plain = "x".repeat(500);
        assert_eq!(clip(&plain), plain);
        // A 900 KB value (multi-byte characters) is cut to 80 characters; the rest is kept.
        let value = "é".repeat(450_000);
        let d = Diagnostic::new(
            "request",
            format!("unknown country \"{value}\": use an ISO 3166-1 code such as FR or CN"),
        )
        .in_field(value.clone())
        .suggest(Some(value.clone()));
        let cut = format!("{}…", "é".repeat(MAX_SHOWN_CHARS));
        assert_eq!(
            d.message,
            format!("unknown country \"{cut}\": use an ISO 3166-1 code such as FR or CN")
        );
        assert_eq!(
            d.to_string(),
            format!("request: field \"{cut}\": unknown country \"{cut}\": use an ISO 3166-1 code such as FR or CN; did you mean \"{cut}\"?")
        );
        // Exactly the limit is not cut; one more is. Backticks (serde) count as quotes, and an
        // unclosed quote is cut too.
        let at = "a".repeat(MAX_SHOWN_CHARS);
        assert_eq!(clip(&format!("v \"{at}\" w")), format!("v \"{at}\" w"));
        assert_eq!(clip(&format!("v \"{at}b\" w")), format!("v \"{at}…\" w"));
        assert_eq!(
            clip(&format!("unknown field `{at}bc`, expected `id` or `name`")),
            format!("unknown field `{at}…`, expected `id` or `name`")
        );
        assert_eq!(clip(&format!("bad \"{at}zzz")), format!("bad \"{at}…"));
        // Two long values, and quotes inside a value that break the pairing: the backstop.
        assert_eq!(
            clip(&format!("\"{at}1\" and \"{at}2\"")),
            format!("\"{at}…\" and \"{at}…\"")
        );
        let quotes = "\"x".repeat(300_000);
        let c = clip(&quotes);
        assert_eq!(c.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(c.ends_with('…'));
        // Errors the CLI prints go through it too.
        let e = Error::Usage(format!("--addr: cannot use \"{value}\""));
        assert_eq!(e.to_string(), format!("--addr: cannot use \"{cut}\""));
        let e = Error::UnknownId {
            id: value.clone(),
            suggestion: None,
        };
        assert_eq!(e.to_string(), format!("unknown profile id \"{cut}\""));
    }

    proptest::proptest! {
        #[test]
        fn clip_bounds_every_message(
            parts in proptest::collection::vec(("[a-zé\" ]{0,3}", 0usize..300), 0..12)
        ) {
            // Messages of short bits and long runs, with quotes anywhere.
            let message: String = parts
                .iter()
                .map(|(bit, run)| format!("{bit}{}", "ü".repeat(*run)))
                .collect();
            let c = clip(&message);
            proptest::prop_assert!(c.chars().count() <= MAX_MESSAGE_CHARS + 1);
            // Between two quotes, at most the limit and the mark.
            for (i, span) in c.split('"').enumerate() {
                if i % 2 == 1 {
                    proptest::prop_assert!(span.chars().count() <= MAX_SHOWN_CHARS + 1, "{span}");
                }
            }
            if message.chars().count() <= MAX_SHOWN_CHARS {
                proptest::prop_assert_eq!(c.as_ref(), message.as_str());
            }
        }
    }

    #[test]
    fn input_errors_are_capped() {
        let many = (0..70)
            .map(|i| Diagnostic::new("f", format!("e{i}")))
            .collect();
        let e = InputErrors::new(many);
        assert_eq!(e.diagnostics.len(), MAX_DIAGNOSTICS);
        assert_eq!(e.more, 20);
        assert!(e.to_string().ends_with("... and 20 more errors"));
    }
}
