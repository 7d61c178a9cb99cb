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

/// Settings of `clustermatch serve`. Its `Debug` never shows the token.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Bearer token required for writes (`CLUSTERMATCH_TOKEN` overrides it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Address to bind, e.g. `127.0.0.1:8080`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Seconds a request's headers may take to arrive, and then its body (default 30): a client
    /// that stalls mid-body gets `408`, one that stalls in its headers or idles is disconnected
    /// (`--read-timeout` overrides it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<f64>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("addr", &self.addr)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// What stands for the token wherever the config is shown.
pub const REDACTED: &str = "<redacted>";

impl Config {
    /// Parses config text; errors name the file, the line and the key, and never quote a value
    /// given under `[server]` (it may be the token, or a typo of it).
    pub fn parse(label: &str, text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
            let mut message = e.message().trim().to_string();
            let in_server = e.span().is_some_and(|s| in_server_table(text, s.start));
            if in_server || secret_like_values(text).any(|v| message.contains(v)) {
                message = redact_quoted(&message);
            }
            let mut d = Diagnostic::new(label, message);
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

    /// The config with the token replaced by [`REDACTED`], for showing it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let c = clustermatch::config::Config::parse("c.toml", "[server]\ntoken = \"s3cret\"\n")?;
    /// assert!(!c.redacted().to_toml().contains("s3cret"));
    /// # Ok(()) }
    /// ```
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        if c.server.token.is_some() {
            c.server.token = Some(REDACTED.to_string());
        }
        c
    }
}

/// Whether byte `at` of the TOML text lies in the `[server]` table (or a dotted `server.` key).
fn in_server_table(text: &str, at: usize) -> bool {
    let before = text.get(..at).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim_start();
    if line.starts_with("server.") || line.starts_with("[server") {
        return true;
    }
    before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .is_some_and(|table| {
            table
                .trim_start_matches('[')
                .trim_start()
                .starts_with("server")
        })
}

/// The values of lines whose key looks like a token (`token`, `tokn`, `server.token`, ...).
fn secret_like_values(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| {
        let (key, value) = l.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let key = key.rsplit('.').next().unwrap_or(&key);
        let secretish = strsim::levenshtein(key, "token") <= 2
            || key.contains("secret")
            || key.contains("pass");
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        (secretish && !value.is_empty()).then_some(value)
    })
}

/// The message with every `quoted` value replaced by [`REDACTED`] (names of known keys, which
/// serde lists after "expected", are kept).
fn redact_quoted(message: &str) -> String {
    let keep = message.find("expected").unwrap_or(message.len());
    let (head, tail) = message.split_at(keep);
    let mut out = String::new();
    for (i, part) in head.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        out.push_str(if i % 2 == 1 { REDACTED } else { part });
    }
    out + tail
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
    fn errors_never_quote_a_token() {
        let secret = "tok-9f8e7d6c5b4a";
        for text in [
            format!("[server]\ntokn = \"{secret}\"\n"),
            format!("[server]\ntoken = \"{secret}\"\nextra = 1\n"),
            "[server]\ntoken = 1234567890123\n".to_string(),
            format!("server.tokn = \"{secret}\"\n"),
            format!("[server]\ntoken = \"{secret}\"\n[server]\n"),
            format!("[server]\ntoken = \"{secret}\n"),
            format!("[server]\ntoken = '{secret}\"\n"),
            format!("[server]\naddr = \"127.0.0.1:1\"\ntoken = [\"{secret}\"]\n"),
            format!("tokn = \"{secret}\"\n"),
        ] {
            let e = Config::parse("c.toml", &text).unwrap_err().to_string();
            assert!(
                !e.contains(secret) && !e.contains("1234567890123"),
                "{text:?}: {e}"
            );
            assert!(e.starts_with("c.toml:"), "{e}");
        }
        let c = Config::parse("c.toml", &format!("[server]\ntoken = \"{secret}\"\n")).unwrap();
        assert!(!format!("{c:?}").contains(secret));
        assert!(!c.redacted().to_toml().contains(secret));
        assert_eq!(c.server.token.as_deref(), Some(secret));
    }

    #[test]
    fn roundtrips_through_toml() {
        let c = Config::default();
        assert_eq!(Config::parse("x", &c.to_toml()).unwrap(), c);
    }
}
