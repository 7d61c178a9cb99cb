//! Reading JSON request bodies: the content type must be JSON, the size is capped (axum's
//! `DefaultBodyLimit`), nesting is capped before parsing, and every serde error becomes a
//! [`ApiError`] naming the JSON path at fault (with the nearest known field for a typo).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};
use crate::error::nearest;

/// The deepest JSON nesting accepted (a profile array is 3 deep).
pub const MAX_DEPTH: usize = 16;

/// A JSON body, checked and parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if json != Some(true) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with the header `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if timed_out(&r) {
                ApiError::new(
                    ErrorCode::RequestTimeout,
                    "the request body did not arrive within the server's read timeout (see `--read-timeout`)",
                )
            } else if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is larger than the server's limit (see `--max-body`)",
                )
            } else {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("could not read the body: {r}"),
                )
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Whether reading the body failed because its deadline passed (tower-http's
/// `RequestBodyDeadlineLayer`, set up by the router).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Parses a JSON body into `T`: depth checked first, errors located.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the request body is empty; send a JSON object",
        ));
    }
    if depth(bytes) > MAX_DEPTH {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!("the JSON is nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(located)?;
    de.end()
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// The deepest nesting of arrays and objects, found by a scan that skips strings.
pub fn depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn located(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let text = inner.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    if !inner.is_data() {
        return ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {text}"));
    }
    let field = (path != ".").then_some(path);
    let join = |name: &str| match &field {
        Some(p) => format!("{p}.{name}"),
        None => name.to_string(),
    };
    if let Some(name) = quoted_after(&text, "unknown field `") {
        let suggestion = nearest(&name, expected(&text).iter().map(String::as_str));
        // serde_path_to_error already ends the path with the unknown field's name.
        let path = match &field {
            Some(p) if p == &name || p.ends_with(&format!(".{name}")) => p.clone(),
            _ => join(&name),
        };
        return ApiError::new(ErrorCode::UnknownField, format!("unknown field \"{name}\""))
            .field(path)
            .suggest(suggestion);
    }
    if let Some(name) = quoted_after(&text, "missing field `") {
        return ApiError::invalid(&join(&name), format!("field \"{name}\" is required"));
    }
    let message = match &field {
        Some(f) => format!("{}: {text}", crate::error::shown(f)),
        None => text.clone(),
    };
    let mut err = ApiError::new(ErrorCode::InvalidRequest, message);
    err.field = field;
    if let Some(value) = quoted_after(&text, "unknown variant `") {
        err = err.suggest(nearest(&value, expected(&text).iter().map(String::as_str)));
    }
    err
}

/// The text between `prefix` and the next backtick.
fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// The names serde lists after "expected one of" (or "expected `x`").
fn expected(text: &str) -> Vec<String> {
    let Some(i) = text.find("expected") else {
        return Vec::new();
    };
    text[i..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        top: Option<usize>,
        filters: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        countries: Vec<String>,
    }

    #[test]
    fn depth_skips_brackets_inside_strings() {
        assert_eq!(depth(br#"{"a": "[[[{{{", "b": [1, [2]]}"#), 3);
        assert_eq!(depth(br#"{"a": "\"[[["}"#), 1);
        assert_eq!(depth(b"42"), 0);
    }

    #[test]
    fn errors_name_the_path_and_the_nearest_field() {
        let e = parse::<Req>(br#"{"topp": 3}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownField);
        assert_eq!(e.field.as_deref(), Some("topp"));
        assert_eq!(e.suggestion.as_deref(), Some("top"));
        let e = parse::<Req>(br#"{"filters": {"countrys": []}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("filters.countrys"));
        assert_eq!(e.suggestion.as_deref(), Some("countries"));
        let e = parse::<Req>(br#"{"top": -1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.field.as_deref(), Some("top"));
        let e = parse::<Req>(br#"{"filters": {}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("filters.countries"));
        let e = parse::<Req>(br#"{"top": 3"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let e = parse::<Req>(br#"{"top": 3} x"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let e = parse::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert!(e.message.contains("nested"), "{}", e.message);
    }
}
