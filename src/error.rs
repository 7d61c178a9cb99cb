//! Errors of the library: one typed enum, [`Error`], and the [`Diagnostic`] that locates a
//! problem in a user's input file (file, line or sheet row, field, nearest valid value).

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
    /// A diagnostic for `file` with a message; add position with the builder methods.
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: None,
            field: None,
            message: message.into(),
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
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field \"{field}\": ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean \"{s}\"?")?;
        }
        Ok(())
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
    #[error("{0}")]
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
    #[error("unknown profile id \"{id}\"{}", suggestion.as_ref().map(|s| format!("; did you mean \"{s}\"?")).unwrap_or_default())]
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
