//! `POST /v1/me/redeem` (a member) and `POST /v1/members/{member}/redeem` (the brand's
//! back end): buy a points mall gift with settled points.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use yima_campaign::Refusal;
use yima_campaign::request::{check_member, check_request_id};
use yima_ledger::{Purchase, PurchaseOutcome};

use crate::Gateway;
use crate::caller::{Backend, Member};
use crate::error::ApiError;
use crate::reads::pick_campaign;
use crate::wire::{ErrorBody, ErrorCode, Redeemed};

/// A purchase names an item and a request id; anything near this is not one.
pub(crate) const REDEEM_BODY_LIMIT: usize = 4 * 1024;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedeemRequest {
    /// The mall item's id.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    item: String,
    /// The client's id of this purchase: repeating it repeats the answer.
    #[schema(pattern = "^[!-~]{1,64}$")]
    request_id: String,
    /// Required while the gateway serves several campaigns.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    #[serde(default)]
    campaign: Option<String>,
}

/// A member buys for themself.
#[utoipa::path(post, path = "/v1/me/redeem", tag = "me", security(("member_token" = [])),
    request_body(content = RedeemRequest, content_type = "application/json"),
    responses((status = 200, description = "redeemed; the same bytes for a repeated request id", body = Redeemed),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not a member token", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 404, description = "unknown_member, unknown_item or unknown_campaign", body = ErrorBody),
        (status = 409, description = "out_of_stock, insufficient_points, level_too_low or request_id_reused", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn redeem_mine(
    member: Member,
    gateway: web::Data<Gateway>,
    request: web::Json<RedeemRequest>,
) -> Result<HttpResponse, ApiError> {
    buy(&gateway, &member.0, &request).await
}

/// The brand's back end (or ops) buys for the member it names.
#[utoipa::path(post, path = "/v1/members/{member}/redeem", tag = "members", security(("service_key" = []), ("admin_token" = [])),
    params(("member" = String, Path, pattern = "^[A-Za-z0-9_.@-]{1,64}$")),
    request_body(content = RedeemRequest, content_type = "application/json"),
    responses((status = 200, description = "redeemed; the same bytes for a repeated request id", body = Redeemed),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token (members use /v1/me/redeem)", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 404, description = "unknown_member, unknown_item or unknown_campaign", body = ErrorBody),
        (status = 409, description = "out_of_stock, insufficient_points, level_too_low or request_id_reused", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn redeem(
    _backend: Backend,
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    request: web::Json<RedeemRequest>,
) -> Result<HttpResponse, ApiError> {
    let member = path.into_inner();
    check_member(&member)?;
    buy(&gateway, &member, &request).await
}

/// Points are spendable once settled: the purchase is checked and written in
/// Postgres, then taken off the hot balance in Redis.
async fn buy(
    gateway: &Gateway,
    member: &str,
    request: &RedeemRequest,
) -> Result<HttpResponse, ApiError> {
    let body = purchase(
        gateway,
        member,
        &request.item,
        &request.request_id,
        request.campaign.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// `member` (whose credential the caller checked) buys `item` once per `request_id`;
/// the answer's JSON, the same again for a repeated request id.
pub(crate) async fn purchase(
    gateway: &Gateway,
    member: &str,
    item: &str,
    request_id: &str,
    campaign: Option<&str>,
) -> Result<String, ApiError> {
    check_request_id(request_id)?;
    let loaded = pick_campaign(gateway, campaign)?;
    let campaign = &loaded.campaign;
    let item = campaign
        .file
        .mall
        .iter()
        .find(|candidate| candidate.id == item)
        .ok_or(ApiError::NotFound(ErrorCode::UnknownItem))?;
    let purchase = Purchase {
        campaign: &campaign.file.id,
        member,
        request_id,
        item: &item.id,
        stock: item.stock,
    };
    let rules = loaded.rules_for(gateway.catalog.standing(member));
    let price = |points: i64, growth: i64| {
        let level = campaign.level_in(rules, u64::try_from(growth).unwrap_or(0));
        item.price_for(level, u64::try_from(points).unwrap_or(0))
            .map(|price| i64::try_from(price).unwrap_or(i64::MAX))
    };
    let answer = |paid: i64, left: i64| {
        serde_json::to_string(&Redeemed {
            status: "redeemed",
            request_id,
            item: &item.id,
            price_paid: paid,
            points: left,
        })
        .unwrap_or_default()
    };
    let body = match gateway.ledger.purchase(&purchase, price, answer).await? {
        PurchaseOutcome::Bought { paid, body } => {
            gateway
                .store
                .spend_points(&campaign.member_tag(member), member, paid)
                .await?;
            body
        }
        PurchaseOutcome::Repeated(body) => body,
        PurchaseOutcome::RequestIdReused => {
            return Err(ApiError::Conflict(ErrorCode::RequestIdReused));
        }
        PurchaseOutcome::UnknownMember => return Err(ApiError::NotFound(ErrorCode::UnknownMember)),
        PurchaseOutcome::Refused(Refusal::LevelTooLow) => {
            return Err(ApiError::Conflict(ErrorCode::LevelTooLow));
        }
        PurchaseOutcome::Refused(Refusal::InsufficientPoints) => {
            return Err(ApiError::Conflict(ErrorCode::InsufficientPoints));
        }
        PurchaseOutcome::OutOfStock => return Err(ApiError::Conflict(ErrorCode::OutOfStock)),
    };
    Ok(body)
}
