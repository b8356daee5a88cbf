//! Fulfilment for ops: the claims waiting to ship (JSON, and CSV for the logistics
//! team), and each claim marked shipped with its carrier and tracking number, then
//! delivered. Admin token only: claims hold members' addresses.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use yima_ledger::Stepped;

use crate::Gateway;
use crate::caller::Admin;
use crate::error::ApiError;
use crate::reads::pick_campaign;
use crate::wire::{ErrorBody, ErrorCode, Page};

/// Most claims one page lists.
const MAX_LIMIT: i64 = 1000;

/// `?campaign=&status=&after=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimQuery {
    /// Required while the gateway serves several campaigns.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    campaign: Option<String>,
    /// `claimed` (the default: waiting to ship), `shipped` or `delivered`.
    #[param(pattern = "^(claimed|shipped|delivered)$")]
    status: Option<String>,
    /// `next_cursor` of the page before.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

impl ClaimQuery {
    fn status(&self) -> Result<&str, ApiError> {
        match self.status.as_deref().unwrap_or("claimed") {
            status @ ("claimed" | "shipped" | "delivered") => Ok(status),
            _ => Err(ApiError::BadRequest(
                "status must be claimed, shipped or delivered".into(),
            )),
        }
    }

    fn after(&self) -> Result<i64, ApiError> {
        self.cursor.as_deref().map_or(Ok(0), |cursor| {
            cursor
                .parse::<i64>()
                .ok()
                .filter(|after| *after >= 0)
                .ok_or_else(|| ApiError::BadRequest("cursor is not one a page gave".into()))
        })
    }
}

/// A claim as ops read it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimItem {
    /// Its id, in the ship and deliver routes.
    pub id: i64,
    /// The member.
    pub member: String,
    /// `award:<scan_id>` or `order:<request_id>`.
    pub source: String,
    /// The prize or mall item id.
    pub gift: String,
    /// Its name in the campaign file.
    pub gift_name: String,
    /// `claimed`, `shipped` or `delivered`.
    pub status: String,
    /// Who receives it.
    pub name: String,
    /// Their mobile number.
    pub phone: String,
    /// Province, city, district.
    pub region: String,
    /// Street and room.
    pub address: String,
    /// Once shipped.
    pub carrier: Option<String>,
    /// Once shipped.
    pub tracking: Option<String>,
    /// When claimed (RFC 3339).
    pub claimed_at: String,
}

fn items(loaded: &crate::LoadedCampaign, claims: Vec<yima_ledger::Claim>) -> Vec<ClaimItem> {
    claims
        .into_iter()
        .map(|claim| ClaimItem {
            gift_name: gift_name(loaded, &claim.gift),
            claimed_at: jiff::Timestamp::from_millisecond(claim.claimed_at_ms)
                .map(|at| at.to_string())
                .unwrap_or_default(),
            id: claim.id,
            member: claim.member,
            source: claim.source,
            gift: claim.gift,
            status: claim.status,
            name: claim.name,
            phone: claim.phone,
            region: claim.region,
            address: claim.address,
            carrier: claim.carrier,
            tracking: claim.tracking,
        })
        .collect()
}

/// A prize's or mall item's display name.
pub(crate) fn gift_name(loaded: &crate::LoadedCampaign, gift: &str) -> String {
    let file = &loaded.campaign.file;
    file.prizes
        .iter()
        .find(|p| p.id == gift)
        .map(|p| p.name.clone())
        .or_else(|| {
            file.mall
                .iter()
                .find(|m| m.id == gift)
                .map(|m| m.name.clone())
        })
        .unwrap_or_else(|| gift.to_string())
}

/// Claims in one state, oldest first.
#[utoipa::path(get, path = "/v1/admin/claims", tag = "fulfilment", security(("admin_token" = [])),
    params(ClaimQuery),
    responses((status = 200, description = "oldest first", body = Page<ClaimItem>),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not the admin token", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn list(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    query: web::Query<ClaimQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    let loaded = pick_campaign(&gateway, query.campaign.as_deref())?;
    let mut claims = gateway
        .ledger
        .claims(
            &loaded.campaign.file.id,
            query.status()?,
            query.after()?,
            limit + 1,
        )
        .await?;
    let more = claims.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    claims.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| claims.last().map(|claim| claim.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(Page {
        items: items(&loaded, claims),
        next_cursor,
    }))
}

/// The same claims as CSV for the logistics team, every page of them.
#[utoipa::path(get, path = "/v1/admin/claims.csv", tag = "fulfilment", security(("admin_token" = [])),
    params(ClaimQuery),
    responses((status = 200, description = "id,member,gift,name,phone,region,address,claimed_at,carrier,tracking", content_type = "text/csv"),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not the admin token", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn export(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    query: web::Query<ClaimQuery>,
) -> Result<HttpResponse, ApiError> {
    let loaded = pick_campaign(&gateway, query.campaign.as_deref())?;
    let (status, mut after) = (query.status()?, query.after()?);
    let mut csv =
        String::from("id,member,gift,name,phone,region,address,claimed_at,carrier,tracking\n");
    loop {
        let page = gateway
            .ledger
            .claims(&loaded.campaign.file.id, status, after, MAX_LIMIT)
            .await?;
        let Some(last) = page.last().map(|claim| claim.id) else {
            break;
        };
        for item in items(&loaded, page) {
            let fields = [
                item.id.to_string(),
                item.member,
                item.gift_name,
                item.name,
                item.phone,
                item.region,
                item.address,
                item.claimed_at,
                item.carrier.unwrap_or_default(),
                item.tracking.unwrap_or_default(),
            ];
            let line: Vec<String> = fields
                .iter()
                .map(|f| crate::registry::csv_field(f))
                .collect();
            csv.push_str(&line.join(","));
            csv.push('\n');
        }
        after = last;
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"claims.csv\""))
        .body(csv))
}

/// Body of `POST /v1/admin/claims/{id}/ship`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShipRequest {
    /// The carrier (顺丰, EMS…).
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = "^[^\\u0000-\\u001f\\u007f]+$"
    )]
    carrier: String,
    /// The tracking number.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    tracking: String,
}

/// What a step did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimStep {
    /// `shipped`, `already_shipped`, `delivered` or `already_delivered`.
    pub status: &'static str,
}

/// Bodies are a carrier and a tracking number.
pub(crate) const BODY_LIMIT: usize = 1024;

fn stepped(
    step: Stepped,
    done: &'static str,
    already: &'static str,
) -> Result<HttpResponse, ApiError> {
    match step {
        Stepped::Done => Ok(HttpResponse::Ok().json(ClaimStep { status: done })),
        Stepped::Already => Ok(HttpResponse::Ok().json(ClaimStep { status: already })),
        Stepped::Unknown => Err(ApiError::NotFound(ErrorCode::UnknownClaim)),
        Stepped::Conflict => Err(ApiError::Conflict(ErrorCode::ClaimConflict)),
    }
}

/// A claimed prize leaves the warehouse.
#[utoipa::path(post, path = "/v1/admin/claims/{id}/ship", tag = "fulfilment", security(("admin_token" = [])),
    params(("id" = i64, Path)),
    request_body(content = ShipRequest, content_type = "application/json"),
    responses((status = 200, description = "shipped, or already_shipped with the same carrier and number", body = ClaimStep),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not the admin token", body = ErrorBody),
        (status = 404, description = "unknown_claim", body = ErrorBody),
        (status = 409, description = "claim_conflict: not waiting to ship, or shipped with other values", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn ship(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    path: web::Path<i64>,
    request: web::Json<ShipRequest>,
) -> Result<HttpResponse, ApiError> {
    let carrier = request.carrier.trim();
    let tracking = request.tracking.trim();
    if carrier.is_empty() || carrier.chars().count() > 32 || carrier.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "carrier must be 1 to 32 characters, none a control character".into(),
        ));
    }
    if tracking.is_empty() || tracking.len() > 64 || !tracking.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::BadRequest(
            "tracking must be 1 to 64 printable ASCII characters".into(),
        ));
    }
    let step = gateway
        .ledger
        .ship(path.into_inner(), carrier, tracking)
        .await?;
    stepped(step, "shipped", "already_shipped")
}

/// A shipped prize reached its member.
#[utoipa::path(post, path = "/v1/admin/claims/{id}/deliver", tag = "fulfilment", security(("admin_token" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "delivered or already_delivered", body = ClaimStep),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not the admin token", body = ErrorBody),
        (status = 404, description = "unknown_claim", body = ErrorBody),
        (status = 409, description = "claim_conflict: not shipped yet", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn deliver(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let step = gateway.ledger.deliver(path.into_inner()).await?;
    stepped(step, "delivered", "already_delivered")
}
