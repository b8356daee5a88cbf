//! `/v1/admin/*`: the CLI's campaign and batch commands over HTTP, behind a bearer token.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use yima_admin::{ApplyError, apply_campaign};
use yima_campaign::Campaign;
use yima_ledger::{Applied, LedgerError, NewBatch};

use crate::error::ApiError;
use crate::{Gateway, read_body};

/// Campaign files are a few kilobytes.
const CAMPAIGN_BODY_LIMIT: usize = 256 * 1024;

pub(crate) fn authorize(gateway: &Gateway, request: &HttpRequest) -> Result<(), ApiError> {
    let given = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    match &gateway.admin_token {
        Some(token) if token.admits(given) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// `POST /v1/admin/campaigns` with the campaign file (TOML) as the body.
#[utoipa::path(post, path = "/v1/admin/campaigns", tag = "admin", security(("bearer" = [])),
    request_body(content = String, content_type = "text/plain", description = "the campaign file (TOML)"),
    responses((status = 200, description = "created, updated or unchanged, with the revision"), (status = 401, description = "unauthorized"),
        (status = 409, description = "refused_change with every problem (the stored campaign does not accept this edit), or campaign_changed (edited meanwhile: apply again)"),
        (status = 400, description = "bad_request (the body is not UTF-8)"),
        (status = 413, description = "payload_too_large"),
        (status = 422, description = "invalid_campaign with every problem")))]
pub async fn apply(
    gateway: web::Data<Gateway>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authorize(&gateway, &request)?;
    let body = read_body(payload, CAMPAIGN_BODY_LIMIT).await?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("body is not UTF-8".into()))?;
    let campaign = Campaign::from_toml(text).map_err(ApiError::InvalidCampaign)?;
    let applied = apply_campaign(
        &gateway.ledger,
        &gateway.store,
        gateway.catalog.draw_keys(),
        &campaign,
        gateway.clock.now(),
    )
    .await
    .map_err(|error| match error {
        ApplyError::Ledger(LedgerError::Conflict(_)) => ApiError::Conflict("campaign_changed"),
        ApplyError::Ledger(error) => error.into(),
        ApplyError::Store(error) => error.into(),
        ApplyError::Random(reason) => ApiError::Unavailable(reason),
        ApplyError::Refused(problems) => ApiError::RefusedChange(problems),
    })?;
    let (result, revision) = match applied {
        Applied::Created => ("created", Some(1)),
        Applied::Updated(revision) => ("updated", Some(revision)),
        Applied::Unchanged => ("unchanged", None),
    };
    Ok(HttpResponse::Ok()
        .json(json!({"campaign": campaign.file.id, "result": result, "revision": revision})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// The campaign its scans count towards.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    campaign: String,
    /// The product the codes are printed on: 1 to 64 characters, none a control.
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,64}$")]
    sku: String,
    /// How many codes.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "whole_number")]
    count: u32,
    /// The sales region it ships to (anti-diversion).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    region: Option<String>,
}

/// A JSON number that is a whole number in range: JSON Schema's `integer` admits `5.0`,
/// so a client generated from the document may send one.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
                .map(|f| {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "a whole number in 0..=u32::MAX, checked just above"
                    )]
                    let whole = f as u32;
                    whole
                })
        })
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid value: {number}, expected a whole number of codes"
            ))
        })
}

/// `POST /v1/admin/batches` with `{"campaign","sku","count","region"?}`.
#[utoipa::path(post, path = "/v1/admin/batches", tag = "admin", security(("bearer" = [])),
    request_body(content = BatchRequest, content_type = "application/json"),
    responses((status = 201, description = "the batch"), (status = 400, description = "bad_request"), (status = 401, description = "unauthorized"),
        (status = 413, description = "payload_too_large"),
        (status = 404, description = "unknown_campaign")))]
pub async fn create_batch(
    gateway: web::Data<Gateway>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authorize(&gateway, &request)?;
    let body = read_body(payload, 4096).await?;
    let batch: BatchRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    let new = NewBatch {
        campaign: batch.campaign,
        sku: batch.sku,
        count: batch.count,
        region: batch.region,
        key_id: gateway.ring.signing_key().id(),
    };
    let created = gateway
        .ledger
        .create_batch(&new)
        .await
        .map_err(|error| match error {
            LedgerError::Invalid(detail) => ApiError::BadRequest(detail),
            LedgerError::UnknownCampaign(_) => ApiError::NotFound("unknown_campaign"),
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(json!({
        "id": created.id, "campaign": created.campaign, "sku": created.sku,
        "count": created.count, "region": created.region, "key_id": created.key_id,
    })))
}

/// `POST /v1/admin/batches/{id}/void`
#[utoipa::path(post, path = "/v1/admin/batches/{id}/void", tag = "admin", security(("bearer" = [])),
    params(("id" = u32, Path)),
    responses((status = 200, description = "void"), (status = 400, description = "bad_request (not a batch id)"),
        (status = 401, description = "unauthorized"), (status = 404, description = "unknown_batch")))]
pub async fn void_batch(
    gateway: web::Data<Gateway>,
    request: HttpRequest,
    path: web::Path<u32>,
) -> Result<HttpResponse, ApiError> {
    authorize(&gateway, &request)?;
    let id = path.into_inner();
    gateway
        .ledger
        .void_batch(id)
        .await
        .map_err(|error| match error {
            LedgerError::UnknownBatch(_) => ApiError::NotFound("unknown_batch"),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "status": "void"})))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitQuery {
    limit: Option<i64>,
}

/// `GET /v1/admin/campaigns/{id}/diversions?limit=N`: settled scans from outside their
/// batch's region, newest first, with the total.
#[utoipa::path(get, path = "/v1/admin/campaigns/{id}/diversions", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 50")),
    responses((status = 200, description = "total and the newest diverted scans"), (status = 400, description = "bad_request"),
        (status = 401, description = "unauthorized"),
        (status = 404, description = "unknown_campaign")))]
pub async fn diversions(
    gateway: web::Data<Gateway>,
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&gateway, &request)?;
    let campaign = gateway
        .catalog
        .campaign(&path)
        .ok_or(ApiError::NotFound("unknown_campaign"))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    let (total, newest) = gateway
        .ledger
        .diverted_scans(&campaign.campaign.file.id, limit)
        .await?;
    let scans: Vec<_> = newest
        .into_iter()
        .map(|scan| {
            json!({
                "scan_id": scan.scan_id, "member": scan.member, "role": scan.role,
                "region": scan.region, "batch_region": scan.batch_region,
                "batch": scan.batch, "serial": scan.serial, "at_ms": scan.at_ms,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"total": total, "scans": scans})))
}
