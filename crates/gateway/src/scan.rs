//! `POST /v1/scan`: verify in process, then one script call.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use yima_campaign::{Diversion, Role};
use yima_ledger::BatchStatus;
use yima_store::{ScanCall, ScanOutcome};

use crate::catalog::LoadedCampaign;
use crate::error::ApiError;
use crate::{Gateway, read_body, valid_token};

/// Scan bodies are a few hundred bytes; anything near this is not a scan.
pub const SCAN_BODY_LIMIT: usize = 4 * 1024;

#[derive(Debug, Deserialize)]
struct ScanRequest {
    code: String,
    member: String,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

/// The body of every answer that is not a fresh redemption or a retry.
#[derive(Serialize)]
struct Answer<'a> {
    status: &'a str,
    scan_id: &'a str,
    prize: Option<()>,
    points_awarded: i64,
    points: i64,
    level: usize,
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

fn parse(body: &[u8]) -> Result<ScanRequest, ApiError> {
    let request: ScanRequest =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    if !valid_token(&request.member, 64, |c| {
        c.is_ascii_alphanumeric() || "_-.@".contains(c)
    }) {
        return Err(ApiError::BadRequest(
            "member must be 1 to 64 of A-Z, a-z, 0-9, '_', '-', '.', '@'".into(),
        ));
    }
    if let Some(region) = &request.region {
        if !valid_token(region, 32, |c| {
            c.is_ascii_alphanumeric() || "_-".contains(c)
        }) {
            return Err(ApiError::BadRequest(
                "region must be 1 to 32 of A-Z, a-z, 0-9, '_', '-'".into(),
            ));
        }
    }
    if let Some(id) = &request.request_id {
        if !valid_token(id, 64, |c| c.is_ascii_graphic()) {
            return Err(ApiError::BadRequest(
                "request_id must be 1 to 64 printable ASCII characters".into(),
            ));
        }
    }
    Ok(request)
}

/// The handler.
pub async fn scan(
    gateway: web::Data<Gateway>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, SCAN_BODY_LIMIT).await?;
    let request = parse(&body)?;
    let role = request.role.unwrap_or(Role::Consumer);

    // In process, before any shared state: forged codes cost one HMAC.
    let code = gateway
        .ring
        .verify(&request.code)
        .map_err(|_| ApiError::InvalidCode)?;
    let batch = gateway
        .catalog
        .batch(&gateway.ledger, code.batch)
        .await?
        .ok_or(ApiError::InvalidCode)?;
    if code.serial >= batch.count || batch.key_id != code.key_id {
        return Err(ApiError::InvalidCode);
    }
    let loaded = gateway
        .catalog
        .campaign(&batch.campaign)
        .ok_or(ApiError::InvalidCode)?;
    let scan_id = loaded.secret.scan_id(batch.id, code.serial, role);
    let now = gateway.clock.now();

    let refuse =
        |status: &'static str| plain_answer(&gateway, &loaded, &request.member, status, &scan_id);
    if batch.status == BatchStatus::Void {
        return refuse("batch_void").await;
    }
    if !loaded.campaign.is_open(now) {
        return refuse("campaign_closed").await;
    }
    let diverted = matches!(
        (request.region.as_deref(), batch.region.as_deref()),
        (Some(scanned), Some(shipped)) if scanned != shipped
    );
    if diverted && loaded.campaign.file.diversion == Diversion::Refuse {
        gateway
            .store
            .count_refused_diversion(loaded.table.campaign())
            .await?;
        return refuse("wrong_region").await;
    }

    let available: Vec<u64> = loaded
        .campaign
        .file
        .prizes
        .iter()
        .map(|p| loaded.campaign.available_stock(p, now))
        .collect();
    let campaign_day = loaded.campaign.day(now);
    let day = campaign_day.to_string();
    let month = loaded.campaign.month(now);
    let call = ScanCall {
        batch: batch.id,
        serial: code.serial,
        role,
        member: &request.member,
        day: &day,
        scan_id: &scan_id,
        draw_number: loaded.secret.draw_number(&scan_id),
        available: &available,
        at_ms: now.as_millisecond(),
        region: request.region.as_deref(),
        batch_region: batch.region.as_deref(),
        request_id: request.request_id.as_deref(),
        period: &month.period,
        ms_into_month: loaded.campaign.ms_into_month(now),
        diverted,
    };
    let level = |growth: i64| {
        loaded
            .campaign
            .level_for(u64::try_from(growth).unwrap_or(0))
            + 1
    };
    let answer = |status: &str, points: i64, growth: i64| {
        serde_json::to_string(&Answer {
            status,
            scan_id: &scan_id,
            prize: None,
            points_awarded: 0,
            points,
            level: level(growth),
        })
        .unwrap_or_default()
    };
    Ok(json(
        match gateway
            .store
            .scan(loaded.table_on(campaign_day), &call)
            .await?
        {
            ScanOutcome::Redeemed(body) | ScanOutcome::Retry(body) => body,
            ScanOutcome::AlreadyRedeemed { points, growth } => {
                answer("already_redeemed", points, growth)
            }
            ScanOutcome::DailyLimit { points, growth } => answer("daily_limit", points, growth),
        },
    ))
}

async fn plain_answer(
    gateway: &Gateway,
    loaded: &LoadedCampaign,
    member: &str,
    status: &str,
    scan_id: &str,
) -> Result<HttpResponse, ApiError> {
    let state = gateway
        .store
        .member(loaded.table.campaign(), member)
        .await?
        .unwrap_or_default();
    let level = loaded
        .campaign
        .level_for(u64::try_from(state.growth).unwrap_or(0))
        + 1;
    let body = Answer {
        status,
        scan_id,
        prize: None,
        points_awarded: 0,
        points: state.points,
        level,
    };
    Ok(json(serde_json::to_string(&body).unwrap_or_default()))
}
