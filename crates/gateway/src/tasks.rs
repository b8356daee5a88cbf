//! `POST /v1/me/sign-in` (a member) and `POST /v1/members/{member}/sign-in` (the
//! brand's back end): the daily sign-in task.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use yima_campaign::request::check_member;

use crate::caller::{Backend, Member};
use crate::error::ApiError;
use crate::reads::pick_campaign;
use crate::wire::{ErrorBody, ErrorCode, SignInResult, SignedIn};
use crate::{Gateway, read_body};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInRequest {
    /// Required while the gateway serves several campaigns.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    campaign: Option<String>,
}

/// A member signs in for the day: once per member and campaign day (in the campaign's
/// zone). An empty body is allowed when the gateway serves one campaign.
#[utoipa::path(post, path = "/v1/me/sign-in", tag = "me", security(("member_token" = [])),
    request_body(content = Option<SignInRequest>, content_type = "application/json", description = "empty, or the campaign"),
    responses((status = 200, description = "signed_in or already_signed_in", body = SignedIn),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not a member token", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 404, description = "no_sign_in or unknown_campaign", body = ErrorBody),
        (status = 409, description = "campaign_closed", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn sign_in_mine(
    member: Member,
    gateway: web::Data<Gateway>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    sign_in_for(&gateway, &member.0, payload).await
}

/// The brand's back end (or ops) signs in the member it names.
#[utoipa::path(post, path = "/v1/members/{member}/sign-in", tag = "members", security(("service_key" = []), ("admin_token" = [])),
    params(("member" = String, Path, pattern = "^[A-Za-z0-9_.@-]{1,64}$")),
    request_body(content = Option<SignInRequest>, content_type = "application/json", description = "empty, or the campaign"),
    responses((status = 200, description = "signed_in or already_signed_in", body = SignedIn),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token (members use /v1/me/sign-in)", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 404, description = "no_sign_in or unknown_campaign", body = ErrorBody),
        (status = 409, description = "campaign_closed", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn sign_in(
    _backend: Backend,
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let member = path.into_inner();
    check_member(&member)?;
    sign_in_for(&gateway, &member, payload).await
}

async fn sign_in_for(
    gateway: &Gateway,
    member: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, 1024).await?;
    // No body, `null` or an object: the first two name no campaign.
    let request: SignInRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SignInRequest::default()
    } else {
        serde_json::from_slice::<Option<SignInRequest>>(&body)
            .map_err(|e| ApiError::BadRequest(format!("body: {e}")))?
            .unwrap_or_default()
    };
    let signed = sign_in_member(gateway, member, request.campaign.as_deref()).await?;
    Ok(HttpResponse::Ok().json(signed))
}

/// The daily sign-in of `member`, whose credential the caller checked: once per
/// campaign day, written in Postgres first, then credited to the hot balance.
pub(crate) async fn sign_in_member(
    gateway: &Gateway,
    member: &str,
    campaign: Option<&str>,
) -> Result<SignedIn, ApiError> {
    let loaded = pick_campaign(gateway, campaign)?;
    let campaign = &loaded.campaign;
    if campaign.file.sign_in_points == 0 {
        return Err(ApiError::NotFound(ErrorCode::NoSignIn));
    }
    let now = gateway.clock.now();
    if !campaign.is_open(now) {
        return Err(ApiError::Conflict(ErrorCode::CampaignClosed));
    }
    let day = campaign.day(now).to_string();
    let points = i64::from(campaign.file.sign_in_points);
    let signed = gateway
        .ledger
        .sign_in(&campaign.file.id, member, &day, points)
        .await?;
    let (status, awarded) = match signed {
        Some(_) => {
            gateway
                .store
                .credit_points(&campaign.member_tag(member), member, points)
                .await?;
            (SignInResult::SignedIn, points)
        }
        None => (SignInResult::AlreadySignedIn, 0),
    };
    let balance = gateway
        .store
        .member(&campaign.member_tag(member), member)
        .await?
        .map_or(0, |state| state.points);
    Ok(SignedIn {
        status,
        day,
        points_awarded: awarded,
        points: balance,
    })
}
