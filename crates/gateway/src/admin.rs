//! `/v1/admin/*`: the CLI's campaign and batch commands over HTTP, behind a bearer token.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use yima_admin::{ApplyError, apply_campaign};
use yima_campaign::Campaign;
use yima_ledger::{Applied, LedgerError, NewBatch};

use crate::caller::Admin;
use crate::error::ApiError;
use crate::reads::pick_campaign;
use crate::wire::{
    Applied as AppliedBody, ApplyResult, BatchCreated, Diversions, ErrorBody, ErrorCode, Voided,
};
use crate::{Gateway, read_body};

/// A batch request names a campaign, a SKU, a count and a region.
pub(crate) const BATCH_BODY_LIMIT: usize = 4096;

/// Campaign files are a few kilobytes.
const CAMPAIGN_BODY_LIMIT: usize = 256 * 1024;

/// `POST /v1/admin/campaigns` with the campaign file (TOML) as the body.
#[utoipa::path(post, path = "/v1/admin/campaigns", tag = "admin", security(("admin_token" = [])),
    request_body(content = String, content_type = "text/plain", description = "the campaign file (TOML)"),
    responses((status = 200, description = "created, updated or unchanged, with the revision", body = AppliedBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 409, description = "refused_change with every problem (the stored campaign does not accept this edit), or campaign_changed (edited meanwhile: apply again)", body = ErrorBody),
        (status = 400, description = "bad_request (the body is not UTF-8)", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 422, description = "invalid_campaign with every problem", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn apply(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, CAMPAIGN_BODY_LIMIT).await?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("body is not UTF-8".into()))?;
    let campaign = Campaign::from_toml(text).map_err(ApiError::InvalidCampaign)?;
    let known: Vec<&str> = gateway
        .registry
        .architectures
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    let unknown = campaign.unknown_architectures(&known);
    if !unknown.is_empty() {
        return Err(ApiError::InvalidCampaign(unknown));
    }
    let applied = apply_campaign(
        &gateway.ledger,
        &gateway.store,
        gateway.catalog.draw_keys(),
        &campaign,
        gateway.clock.now(),
    )
    .await
    .map_err(|error| match error {
        ApplyError::Ledger(LedgerError::Conflict(_)) => {
            ApiError::Conflict(ErrorCode::CampaignChanged)
        }
        ApplyError::Ledger(error) => error.into(),
        ApplyError::Store(error) => error.into(),
        ApplyError::Random(reason) => ApiError::Unavailable(reason),
        ApplyError::Refused(problems) => ApiError::RefusedChange(problems),
    })?;
    let (result, revision) = match applied {
        Applied::Created => (ApplyResult::Created, Some(1)),
        Applied::Updated(revision) => (ApplyResult::Updated, Some(revision)),
        Applied::Unchanged => (ApplyResult::Unchanged, None),
    };
    Ok(HttpResponse::Ok().json(AppliedBody {
        campaign: &campaign.file.id,
        result,
        revision,
    }))
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
#[utoipa::path(post, path = "/v1/admin/batches", tag = "admin", security(("admin_token" = [])),
    request_body(content = BatchRequest, content_type = "application/json"),
    responses((status = 201, description = "the batch", body = BatchCreated),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn create_batch(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    batch: web::Json<BatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let batch = batch.into_inner();
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
            LedgerError::UnknownCampaign(_) => ApiError::NotFound(ErrorCode::UnknownCampaign),
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(BatchCreated {
        id: created.id,
        campaign: created.campaign,
        sku: created.sku,
        count: created.count,
        region: created.region,
        key_id: created.key_id,
    }))
}

/// `POST /v1/admin/batches/{id}/void`
#[utoipa::path(post, path = "/v1/admin/batches/{id}/void", tag = "admin", security(("admin_token" = [])),
    params(("id" = u32, Path)),
    responses((status = 200, description = "void", body = Voided),
        (status = 400, description = "bad_request (not a batch id)", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 404, description = "unknown_batch", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn void_batch(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    path: web::Path<u32>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    gateway
        .ledger
        .void_batch(id)
        .await
        .map_err(|error| match error {
            LedgerError::UnknownBatch(_) => ApiError::NotFound(ErrorCode::UnknownBatch),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Voided { id, status: "void" }))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitQuery {
    limit: Option<i64>,
}

/// `GET /v1/admin/campaigns/{id}/diversions?limit=N`: settled scans from outside their
/// batch's region, newest first, with the total.
#[utoipa::path(get, path = "/v1/admin/campaigns/{id}/diversions", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 50")),
    responses((status = 200, description = "total and the newest diverted scans", body = Diversions),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn diversions(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let campaign = pick_campaign(&gateway, Some(&path))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    let (total, newest) = gateway
        .ledger
        .diverted_scans(&campaign.campaign.file.id, limit)
        .await?;
    Ok(HttpResponse::Ok().json(Diversions {
        total,
        scans: newest.into_iter().map(Into::into).collect(),
    }))
}
