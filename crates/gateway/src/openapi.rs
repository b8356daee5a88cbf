//! `GET /openapi.json`: the HTTP surface as OpenAPI 3.1, generated from the handlers'
//! own annotations so the document cannot drift from the code that serves it.

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{admin, claims, dashboard, history, mall, me, pages, reads, registry, scan, tasks};

/// Every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "yima", description = "One-item-one-code scan redemption: scans, members, campaigns, admin and ops."),
    paths(
        scan::scan,
        me::me,
        mall::redeem_mine,
        tasks::sign_in_mine,
        registry::register,
        history::scans,
        history::awards,
        history::ledger,
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
        registry::create_invite,
        registry::search,
        registry::export,
        registry::retag,
        registry::block,
        registry::unblock,
        reads::healthz,
        reads::readyz,
        reads::metrics,
        dashboard::page,
        dashboard::data,
        pages::scan_page,
        pages::callback,
        pages::centre,
        pages::sign_in,
        pages::confirm,
        pages::buy,
        pages::history,
        pages::claim_form,
        pages::claim,
        pages::join_form,
        pages::join,
        claims::list,
        claims::export,
        claims::ship,
        claims::deliver,
        claims::upload,
        openapi,
    ),
    modifiers(&Credentials)
)]
pub struct ApiDoc;

/// Declares the three credentials each route names in its `security`.
struct Credentials;

impl utoipa::Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, format, description) in [
            (
                "member_token",
                Some("JWT"),
                "A member token from the brand's login: `sub` is the member id, `exp` required.",
            ),
            (
                "service_key",
                None,
                "YIMA_SERVICE_TOKEN: the brand's own back end, acting for the member it names.",
            ),
            ("admin_token", None, "YIMA_ADMIN_TOKEN: ops."),
        ] {
            let mut scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description));
            if let Some(format) = format {
                scheme = scheme.bearer_format(format);
            }
            components.add_security_scheme(name, SecurityScheme::Http(scheme.build()));
        }
        components.add_security_scheme(
            "member_session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "yima_member",
                    "The pages' session: a member token in a cookie, set by their login (docs/pages.md).",
                ),
            )),
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
