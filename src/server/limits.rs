//! Size limits on the parts of a request, checked before any work so that a request that fits
//! the body limit still cannot make the server build a huge query, compare a huge string with
//! every id, or echo megabytes back in an error.

use super::error::{ApiError, ErrorCode};
use super::routes::MatchRequest;

/// Most items in one list of a match request (`sectors`, `targets`, `filters.countries`,
/// `filters.kinds`, `filters.sectors`).
pub const MAX_LIST: usize = 1000;

/// Most ids in `filters.exclude`.
pub const MAX_EXCLUDE: usize = 10_000;

/// Longest item of a list, `id` or `country`, in bytes.
pub const MAX_ITEM: usize = 256;

/// Longest free-text query, in bytes.
pub const MAX_TEXT: usize = 64 * 1024;

/// Longest profile id (see [`crate::profile::is_valid_id`]).
pub const MAX_ID: usize = 64;

/// Largest profile of a request, as JSON (the limit of one record of a profile file).
pub const MAX_PROFILE_BYTES: usize = crate::input::MAX_RECORD_BYTES;

/// Checks the sizes of a match request.
pub(crate) fn check_match(req: &MatchRequest) -> Result<(), ApiError> {
    if let Some(id) = &req.id {
        check_id("id", id)?;
    }
    if let Some(text) = &req.text {
        if text.len() > MAX_TEXT {
            return Err(ApiError::invalid(
                "text",
                format!("the text is longer than {MAX_TEXT} bytes"),
            ));
        }
    }
    if let Some(country) = &req.country {
        if country.len() > MAX_ITEM {
            return Err(ApiError::invalid(
                "country",
                format!("longer than {MAX_ITEM} bytes"),
            ));
        }
    }
    if let Some(p) = &req.profile {
        check_profile("profile", p)?;
    }
    let f = &req.filters;
    check_list("sectors", &req.sectors, MAX_LIST)?;
    check_list("targets", &req.targets, MAX_LIST)?;
    check_list("filters.countries", &f.countries, MAX_LIST)?;
    check_list("filters.sectors", &f.sectors, MAX_LIST)?;
    check_list("filters.exclude", &f.exclude, MAX_EXCLUDE)?;
    if f.kinds.len() > MAX_LIST {
        return Err(too_many("filters.kinds", MAX_LIST, f.kinds.len()));
    }
    Ok(())
}

/// Checks an id given in a path or a body: longer ids cannot exist, and are not echoed.
pub(crate) fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.len() > MAX_ID {
        return Err(ApiError::new(
            ErrorCode::UnknownId,
            format!("no profile has this id: ids are at most {MAX_ID} characters"),
        )
        .field(field));
    }
    Ok(())
}

/// Checks the size of one profile of a request.
pub(crate) fn check_profile(field: &str, value: &serde_json::Value) -> Result<(), ApiError> {
    if json_len(value) > MAX_PROFILE_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidProfile,
            format!("the profile is larger than {MAX_PROFILE_BYTES} bytes"),
        )
        .field(field));
    }
    Ok(())
}

/// The length of a value written as compact JSON.
pub(crate) fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

fn too_many(field: &str, max: usize, found: usize) -> ApiError {
    ApiError::invalid(field, format!("at most {max} items, found {found}"))
}

fn check_list(field: &str, items: &[String], max: usize) -> Result<(), ApiError> {
    if items.len() > max {
        return Err(too_many(field, max, items.len()));
    }
    if let Some(i) = items.iter().position(|s| s.len() > MAX_ITEM) {
        return Err(ApiError::invalid(
            &format!("{field}[{i}]"),
            format!("longer than {MAX_ITEM} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_field() {
        let mut req = MatchRequest {
            text: Some("x".repeat(MAX_TEXT + 1)),
            ..MatchRequest::default()
        };
        assert_eq!(
            check_match(&req).unwrap_err().field.as_deref(),
            Some("text")
        );
        req.text = Some("water".into());
        assert!(check_match(&req).is_ok());
        req.filters.countries = vec!["FR".into(); MAX_LIST + 1];
        assert_eq!(
            check_match(&req).unwrap_err().field.as_deref(),
            Some("filters.countries")
        );
        req.filters.countries = vec!["FR".into(), "F".repeat(MAX_ITEM + 1)];
        assert_eq!(
            check_match(&req).unwrap_err().field.as_deref(),
            Some("filters.countries[1]")
        );
        req.filters.countries.clear();
        req.filters.exclude = vec!["a".into(); MAX_EXCLUDE];
        assert!(check_match(&req).is_ok());
        req.id = Some("a".repeat(MAX_ID + 1));
        let e = check_match(&req).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::UnknownId, Some("id"))
        );
        assert!(e.message.len() < 100);
        assert_eq!(
            json_len(&serde_json::json!({"a": [1, 2]})),
            r#"{"a":[1,2]}"#.len()
        );
    }
}
