//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and the
//! request and response types' `ToSchema` derives, so it cannot drift from the code. Served at
//! `GET /openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ApiError, ErrorBody, ErrorCode, Problem};

/// The document's fixed parts; the paths are added by the router (see [`super::router`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "clustermatch",
        description = "Partner matchmaking for clusters, science parks and business networks: \
            rank partners for a stored profile, a given profile or free text, with the reasons \
            for every match, and plan an event's 1:1 meetings. Writes need \
            `Authorization: Bearer TOKEN` when the server has a token. \
            Every error is `{\"error\": {\"message\", \"code\", \"field\"}}`."
    ),
    components(schemas(ErrorBody, ApiError, ErrorCode, Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "match", description = "Ranking partners"),
        (name = "events", description = "Planning an event: mutual scores and a meeting agenda"),
        (name = "profiles", description = "Reading and writing profiles"),
        (name = "service", description = "Health and reference data"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme used by the write endpoints.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
