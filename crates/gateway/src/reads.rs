//! Member, campaign and health reads.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::Gateway;
use crate::catalog::LoadedCampaign;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
pub(crate) struct CampaignQuery {
    campaign: Option<String>,
}

/// The campaign a member read is about: the one named, or the only one there is.
pub(crate) fn pick_campaign(
    gateway: &Gateway,
    named: Option<&str>,
) -> Result<std::sync::Arc<LoadedCampaign>, ApiError> {
    match named {
        Some(id) => gateway
            .catalog
            .campaign(id)
            .ok_or(ApiError::NotFound("unknown_campaign")),
        None => {
            let mut all = gateway.catalog.campaigns();
            match all.len() {
                1 => Ok(all.remove(0)),
                n => Err(ApiError::BadRequest(format!(
                    "?campaign=ID is required: this gateway serves {n} campaigns"
                ))),
            }
        }
    }
}

/// `GET /v1/members/{member}`
pub async fn member(
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    query: web::Query<CampaignQuery>,
) -> Result<HttpResponse, ApiError> {
    let member = path.into_inner();
    let loaded = pick_campaign(&gateway, query.campaign.as_deref())?;
    let state = gateway
        .store
        .member(loaded.table.campaign(), &member)
        .await?
        .ok_or(ApiError::NotFound("unknown_member"))?;
    let levels = &loaded.campaign.file.levels;
    let level = loaded
        .campaign
        .level_for(u64::try_from(state.growth).unwrap_or(0));
    Ok(HttpResponse::Ok().json(json!({
        "member": member,
        "points": state.points,
        "growth": state.growth,
        "level": level + 1,
        "level_name": levels.get(level).map(|l| l.name.as_str()),
        "next_level_growth": levels.get(level + 1).map(|l| l.min_growth),
        "scans": state.scans,
    })))
}

/// `GET /v1/campaigns/{id}`: the public campaign, with the draw commitment and, once
/// the campaign has ended, the secret itself.
pub async fn campaign(
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let loaded = gateway
        .catalog
        .campaign(&path)
        .ok_or(ApiError::NotFound("unknown_campaign"))?;
    let file = &loaded.campaign.file;
    let ended = gateway.clock.now() >= loaded.campaign.ends_at;
    Ok(HttpResponse::Ok().json(json!({
        "id": file.id,
        "name": file.name,
        "starts_at": file.starts_at,
        "ends_at": file.ends_at,
        "timezone": file.timezone,
        "revision": loaded.revision,
        "points_per_scan": file.points_per_scan,
        "growth_per_scan": file.growth_per_scan,
        "daily_scan_limit": file.daily_scan_limit,
        "levels": file.levels,
        "prizes": file.prizes,
        "out_of_stock": file.out_of_stock.as_deref().unwrap_or("no_prize"),
        "draw_commitment": loaded.secret.commitment(),
        "draw_secret": ended.then(|| loaded.secret.to_hex()),
    })))
}

/// `GET /v1/campaigns/{id}/stats`
pub async fn stats(
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let loaded = gateway
        .catalog
        .campaign(&path)
        .ok_or(ApiError::NotFound("unknown_campaign"))?;
    let counters = gateway.store.counters(loaded.table.campaign()).await?;
    let prizes: Vec<_> = loaded
        .campaign
        .file
        .prizes
        .iter()
        .map(|prize| {
            let awarded = counters
                .awarded
                .iter()
                .find(|(id, _)| *id == prize.id)
                .map_or(0, |(_, n)| *n);
            let stock = i64::try_from(prize.stock).unwrap_or(i64::MAX);
            json!({
                "id": prize.id, "name": prize.name, "stock": stock,
                "awarded": awarded, "remaining": (stock - awarded).max(0),
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({"scans": counters.scans, "wins": counters.wins, "prizes": prizes})))
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: Redis answers and the catalog is loaded; says which part is not.
pub async fn readyz(gateway: web::Data<Gateway>) -> HttpResponse {
    let redis = gateway.store.ping().await.is_ok();
    let catalog = gateway.catalog.is_loaded();
    let body = json!({
        "status": if redis && catalog { "ready" } else { "not_ready" },
        "redis": if redis { "ok" } else { "unreachable" },
        "catalog": if catalog { "loaded" } else { "loading" },
        "campaigns": gateway.catalog.campaigns().len(),
    });
    if redis && catalog {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
