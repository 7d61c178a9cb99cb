//! The one error shape of the HTTP service, `{"error": {"message", "code", "field"}}`, its code
//! table (each [`ErrorCode`] has one HTTP status), and the mapping from library errors.
//!
//! `field` names the JSON path at fault (`top`, `filters.countries`, `[2].sectors` for the third
//! profile of a `PUT /profiles` array) or is `null` when the request as a whole is at fault.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{clip, shown, Diagnostic, Error};

/// Machine-readable error codes; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not valid JSON (or is nested too deeply).
    InvalidJson,
    /// 400: the JSON has the wrong shape or a value is out of range.
    InvalidRequest,
    /// 400: the JSON names a field the endpoint does not know.
    UnknownField,
    /// 422: a profile failed validation (see `details` for every problem).
    InvalidProfile,
    /// 404: no profile has this id.
    UnknownId,
    /// 404: no such endpoint.
    NotFound,
    /// 405: the endpoint does not take this method.
    MethodNotAllowed,
    /// 401: a write without a valid `Authorization: Bearer TOKEN` header.
    Unauthorized,
    /// 408: the body did not arrive in time (see `--read-timeout`); the connection is closed.
    RequestTimeout,
    /// 413: the body is larger than the server's limit.
    PayloadTooLarge,
    /// 415: the body is not declared as `application/json`.
    UnsupportedMediaType,
    /// 503: another process holds the index's writer lock; retry later.
    IndexLocked,
    /// 500: the server failed (logged); the request may be retried.
    Internal,
}

impl ErrorCode {
    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidJson | ErrorCode::InvalidRequest | ErrorCode::UnknownField => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::InvalidProfile => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownId | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::IndexLocked => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One problem in a request, when there are several (e.g. every invalid field of every profile).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// JSON path of the field at fault, or `null`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The nearest valid value, when one is close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

/// An error answered to a request.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiError {
    /// Readable message (with the suggestion, when there is one).
    pub message: String,
    /// Machine-readable code.
    pub code: ErrorCode,
    /// JSON path of the field at fault (`top`, `filters.countries`, `[2].sectors`), or `null`.
    pub field: Option<String>,
    /// The nearest valid value, when one is close enough to suggest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// Every problem found, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Problem>,
}

impl ApiError {
    /// An error with a code and a message, for no particular field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            code,
            field: None,
            suggestion: None,
            details: Vec::new(),
        }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds the nearest valid value (also appended to the message).
    pub fn suggest(mut self, suggestion: Option<String>) -> Self {
        if let Some(s) = &suggestion {
            self.message = format!("{}; did you mean \"{s}\"?", self.message);
        }
        self.suggestion = suggestion;
        self
    }

    /// A `400 invalid_request` for a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message).field(field)
    }

    /// A `500 internal`; the cause is logged, not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        ApiError::new(
            ErrorCode::Internal,
            "internal server error (logged on the server)",
        )
    }

    /// Maps a library error; `path_of` turns a diagnostic into the JSON path of its field.
    pub fn from_library(e: Error, path_of: &dyn Fn(&Diagnostic) -> Option<String>) -> Self {
        match e {
            Error::Input(errors) => {
                let details: Vec<Problem> = errors
                    .diagnostics
                    .iter()
                    .map(|d| Problem {
                        field: path_of(d),
                        message: d.message.clone(),
                        suggestion: d.suggestion.clone(),
                    })
                    .collect();
                let first = details.first().cloned().unwrap_or(Problem {
                    field: None,
                    message: "invalid input".into(),
                    suggestion: None,
                });
                let n = details.len() + errors.more;
                let mut message = match &first.field {
                    Some(f) => format!("{}: {}", crate::error::shown(f), first.message),
                    None => first.message.clone(),
                };
                if n > 1 {
                    message = format!("{message} (and {} more problems)", n - 1);
                }
                let mut err = ApiError::new(ErrorCode::InvalidProfile, message);
                err.field = first.field;
                err.suggestion = first.suggestion;
                if let Some(s) = &err.suggestion {
                    err.message = format!("{}; did you mean \"{s}\"?", err.message);
                }
                err.details = details;
                err
            }
            Error::Usage(msg) => usage(&msg),
            Error::UnknownId { id, suggestion } => {
                ApiError::new(ErrorCode::UnknownId, format!("unknown profile id \"{id}\""))
                    .field("id")
                    .suggest(suggestion)
            }
            Error::Locked { .. } => ApiError::new(
                ErrorCode::IndexLocked,
                "the index is locked by another writer; retry when it has finished",
            ),
            other => ApiError::internal(&other),
        }
    }
}

/// The library's usage messages start with the option at fault (`country: unknown country
/// "Frnce"; did you mean "FR"?`); this names the request field instead.
fn usage(msg: &str) -> ApiError {
    const FIELDS: [(&str, &str); 6] = [
        ("filter country", "filters.countries"),
        ("filter sector", "filters.sectors"),
        ("country", "country"),
        ("target", "targets"),
        ("sector", "sectors"),
        ("min_score", "filters.min_score"),
    ];
    let (body, suggestion) = match msg.split_once("; did you mean \"") {
        Some((body, rest)) => (
            body,
            rest.strip_suffix("\"?")
                .map(|s| s.to_string())
                .filter(|s| !s.contains('"')),
        ),
        None => (msg, None),
    };
    let field = FIELDS.iter().find_map(|(prefix, field)| {
        body.strip_prefix(prefix)
            .filter(|rest| rest.starts_with(':') || rest.starts_with(' '))
            .map(|_| *field)
    });
    let mut e = ApiError::new(ErrorCode::InvalidRequest, body.to_string()).suggest(suggestion);
    e.field = field.map(str::to_string);
    e
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::from_library(e, &|d| d.field.clone())
    }
}

impl ApiError {
    /// The error with every user-supplied value it quotes cut by [`clip`] (fields and
    /// suggestions by [`shown`]), so that the answer stays small whatever the request held.
    pub fn clipped(mut self) -> Self {
        self.message = clip(&self.message).into_owned();
        self.field = self.field.map(|f| shown(&f).into_owned());
        self.suggestion = self.suggestion.map(|s| shown(&s).into_owned());
        for d in &mut self.details {
            d.message = clip(&d.message).into_owned();
            d.field = d.field.take().map(|f| shown(&f).into_owned());
            d.suggestion = d.suggestion.take().map(|s| shown(&s).into_owned());
        }
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = self.clipped();
        let status = this.code.status();
        let unauthorized = this.code == ErrorCode::Unauthorized;
        let locked = this.code == ErrorCode::IndexLocked;
        let timed_out = this.code == ErrorCode::RequestTimeout;
        let mut response = (status, axum::Json(ErrorBody { error: this })).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if locked {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if timed_out {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_messages_name_the_request_field_and_keep_the_suggestion() {
        let e = usage("country: unknown country \"Frnce\"; did you mean \"FR\"?");
        assert_eq!(e.field.as_deref(), Some("country"));
        assert_eq!(e.suggestion.as_deref(), Some("FR"));
        assert_eq!(
            e.message,
            "country: unknown country \"Frnce\"; did you mean \"FR\"?"
        );
        let e = usage("filter sector: unknown code \"x\"");
        assert_eq!(e.field.as_deref(), Some("filters.sectors"));
        assert_eq!(e.suggestion, None);
        let e = usage("empty query: give text, a sector or a target country");
        assert_eq!(e.field, None);
    }

    #[test]
    fn every_code_has_a_client_or_server_error_status() {
        for code in [
            ErrorCode::InvalidJson,
            ErrorCode::InvalidRequest,
            ErrorCode::UnknownField,
            ErrorCode::InvalidProfile,
            ErrorCode::UnknownId,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Unauthorized,
            ErrorCode::RequestTimeout,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
        ] {
            assert!(code.status().is_client_error(), "{code:?}");
        }
        assert!(ErrorCode::Internal.status().is_server_error());
    }
}
