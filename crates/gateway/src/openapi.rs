//! `GET /openapi.json`: the HTTP surface as OpenAPI 3.1, generated from the handlers'
//! own annotations so the document cannot drift from the code that serves it.

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{admin, dashboard, mall, reads, scan, tasks};

/// Every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "yima", description = "One-item-one-code scan redemption: scans, members, campaigns, admin and ops."),
    paths(
        scan::scan,
        reads::member,
        mall::redeem,
        tasks::sign_in,
        reads::campaign,
        reads::stats,
        reads::leaderboard,
        admin::apply,
        admin::create_batch,
        admin::void_batch,
        admin::diversions,
        reads::healthz,
        reads::readyz,
        reads::metrics,
        dashboard::page,
        dashboard::data,
        openapi,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// Declares the admin routes' bearer token.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "this document", content_type = "application/json")))]
pub async fn openapi() -> Result<HttpResponse, crate::ApiError> {
    let json = ApiDoc::openapi()
        .to_json()
        .map_err(|error| crate::ApiError::Unavailable(error.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}
