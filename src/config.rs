//! The TOML configuration file (`clustermatch.toml`, or `--config FILE`): index location,
//! default number of matches, and every scoring parameter. Unknown keys are errors, so typos
//! never vanish silently.
//!
//! Precedence, highest first: command-line flags > `CLUSTERMATCH_*` environment variables > the
//! config file > built-in defaults.
//!
//! ```toml
//! index = "index"
//! top = 10
//!
//! [scoring.weights]
//! text = 0.5
//! sector = 0.3
//! country = 0.2
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, Error, Result};
use crate::score::ScoringParams;

/// Name of the config file looked up in the working directory.
pub const DEFAULT_FILE: &str = "clustermatch.toml";

/// The contents of a config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Index directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<PathBuf>,
    /// Default number of matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top: Option<usize>,
    /// Scoring parameters.
    pub scoring: ScoringParams,
    /// HTTP service settings.
    pub server: ServerConfig,
    /// Event settings (`batch`).
    pub event: crate::event::EventConfig,
}

/// Settings of `clustermatch serve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Bearer token required for writes (`CLUSTERMATCH_TOKEN` overrides it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Address to bind, e.g. `127.0.0.1:8080`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
}

impl Config {
    /// Parses config text; errors name the file, the line and the key.
    pub fn parse(label: &str, text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
            let mut d = Diagnostic::new(label, e.message().trim().to_string());
            if let Some(l) = line {
                d = d.at_line(l);
            }
            Error::input(d)
        })?;
        config
            .scoring
            .check()
            .map_err(|m| Error::input(Diagnostic::new(label, m)))?;
        Ok(config)
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = crate::input::read_text(path)?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_partial_config_over_defaults() {
        let c = Config::parse("c.toml", "top = 5\n[scoring.weights]\ntext = 0.7\n").unwrap();
        assert_eq!(c.top, Some(5));
        assert_eq!(c.scoring.weights.text, 0.7);
        assert_eq!(
            c.scoring.weights.sector,
            ScoringParams::default().weights.sector
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_located() {
        let e = Config::parse("c.toml", "top = 5\n[scoring.weights]\ntxt = 0.7\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("c.toml:3:") && s.contains("txt"), "{s}");
        let e = Config::parse("c.toml", "[scoring.weights]\ntext = -1.0\n").unwrap_err();
        assert!(e.to_string().contains("\"text\""), "{e}");
    }

    #[test]
    fn roundtrips_through_toml() {
        let c = Config::default();
        assert_eq!(Config::parse("x", &c.to_toml()).unwrap(), c);
    }
}
