//! `/v1/admin/*`: the CLI's campaign and batch commands over HTTP, behind a bearer token.

use actix_web::{HttpRequest, HttpResponse, web};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use yima_campaign::{Campaign, DrawKeyRing, DrawSecret, Problem, Progress, UnsealError};
use yima_ledger::{Applied, CampaignRecord, Expected, Ledger, LedgerError, NewBatch};
use yima_store::Store;

use crate::error::ApiError;
use crate::{Gateway, read_body};

/// Campaign files are a few kilobytes.
const CAMPAIGN_BODY_LIMIT: usize = 256 * 1024;

/// Why a validated campaign was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Postgres failed, or the campaign changed between the check and the write.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Redis failed while reading what the campaign has awarded.
    #[error(transparent)]
    Store(#[from] yima_store::StoreError),
    /// No randomness for the draw secret.
    #[error("cannot generate a draw secret: {0}")]
    Random(String),
    /// The stored campaign does not accept this edit (see `yima_campaign::change`).
    #[error("the stored campaign refuses {} change(s)", .0.len())]
    Refused(Vec<Problem>),
}

/// Stores a validated campaign: shared by `yima campaign apply` and the admin route.
/// An edit of a stored campaign is first checked against what it has done (scans,
/// awards from Redis's counters, which include the unsettled) and written only if the
/// campaign is still at the revision checked. A new campaign gets a fresh draw secret,
/// stored sealed under the newest draw key.
pub async fn apply_campaign(
    ledger: &Ledger,
    store: &Store,
    draw_keys: &DrawKeyRing,
    campaign: &Campaign,
    now: Timestamp,
) -> Result<Applied, ApplyError> {
    let id = &campaign.file.id;
    let expected = match ledger.campaign(id).await? {
        None => Expected::Absent,
        Some(stored) => {
            let current = Campaign::from_definition_json(&stored.definition_json)
                .map_err(ApplyError::Refused)?;
            let counters = store.counters(&current.lane_tags()).await?;
            let progress = Progress {
                has_scans: counters.scans > 0 || ledger.campaign_has_scans(id).await?,
                awarded: counters
                    .awarded
                    .iter()
                    .map(|(prize, n)| (prize.clone(), u64::try_from(*n).unwrap_or(0)))
                    .collect(),
            };
            let problems = current.change_problems(campaign, now, &progress);
            if !problems.is_empty() {
                return Err(ApplyError::Refused(problems));
            }
            Expected::Revision(stored.revision)
        }
    };
    let record = CampaignRecord {
        id: id.clone(),
        name: campaign.file.name.clone(),
        starts_at: campaign.starts_at.to_string(),
        ends_at: campaign.ends_at.to_string(),
        timezone: campaign.file.timezone.clone(),
        definition_json: campaign.definition_json(),
    };
    let (mut secret, mut nonce) = ([0u8; 32], [0u8; 12]);
    getrandom::fill(&mut secret).map_err(|e| ApplyError::Random(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| ApplyError::Random(e.to_string()))?;
    let sealed = draw_keys.seal(id, &DrawSecret::from_bytes(secret), nonce);
    Ok(ledger.apply_campaign(&record, &sealed, expected).await?)
}

/// What [`reseal_secrets`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Campaigns whose secret was sealed anew.
    pub resealed: usize,
    /// Campaigns looked at.
    pub campaigns: usize,
}

/// Which stored secrets [`reseal_secrets`] rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Only the secrets stored in the clear before sealing existed: what `migrate`
    /// does once after the upgrade. A plain secret written later is never sealed.
    Plain,
    /// Every secret not sealed under the newest key: a key rotation.
    NotCurrent,
}

/// Why stored secrets could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// Postgres failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Secrets need sealing and no draw keys are configured.
    #[error(
        "{0} campaign(s) hold a draw secret in the clear: set YIMA_DRAW_KEYS (or YIMA_DRAW_KEYS_FILE) and run this again"
    )]
    NoKeys(usize),
    /// A stored secret does not open with the keys given.
    #[error("campaign {campaign}: {error}")]
    Unseal {
        /// The campaign.
        campaign: String,
        /// Why.
        error: UnsealError,
    },
    /// No randomness for a nonce.
    #[error("cannot generate a nonce: {0}")]
    Random(String),
}

/// Seals stored draw secrets (anew) under the newest draw key. The secret itself never
/// changes, so its published commitment and every recorded draw stay valid. A secret
/// that does not open stops the run with its campaign named (with no keys, that is
/// every secret but the plain ones `migrate` seals). Safe to repeat or to run
/// beside another: each rewrite happens only if the stored bytes are still those read.
pub async fn reseal_secrets(
    ledger: &Ledger,
    keys: Option<&DrawKeyRing>,
    which: Reseal,
) -> Result<Resealed, ResealError> {
    let stored = ledger.stored_secrets().await?;
    let due: Vec<_> = stored
        .iter()
        // A rotation opens every secret, so one that does not open is named even
        // if it claims the newest key.
        .filter(|(_, _, listed_plain)| which == Reseal::NotCurrent || *listed_plain)
        .collect();
    let mut done = Resealed {
        resealed: 0,
        campaigns: stored.len(),
    };
    if due.is_empty() {
        return Ok(done);
    }
    let keys = keys.ok_or(ResealError::NoKeys(due.len()))?;
    for (campaign, sealed, listed_plain) in due {
        let unseal = |error| ResealError::Unseal {
            campaign: campaign.clone(),
            error,
        };
        let secret = match (keys.open(campaign, sealed), listed_plain) {
            (Ok(secret), _) => secret,
            (Err(UnsealError::Plain), true) => DrawSecret::from_bytes(
                sealed
                    .as_slice()
                    .try_into()
                    .map_err(|_| unseal(UnsealError::Malformed(sealed.len())))?,
            ),
            (Err(error), _) => return Err(unseal(error)),
        };
        if keys.is_current(sealed) {
            continue;
        }
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| ResealError::Random(e.to_string()))?;
        if ledger
            .reseal(campaign, sealed, &keys.seal(campaign, &secret, nonce))
            .await?
        {
            done.resealed += 1;
        }
    }
    Ok(done)
}

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
        &gateway.draw_keys,
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
