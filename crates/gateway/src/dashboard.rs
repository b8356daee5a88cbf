//! `GET /dashboard`: one self-contained HTML page for ops (no CDN, no build step) that
//! polls `GET /dashboard/data` once a second and shows scan rate, win rate, stock
//! left, top regions, flagged scans and the month's leaderboard. Like `/metrics`, it
//! belongs on the ops network: it names members.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::Gateway;
use crate::error::ApiError;
use crate::reads::{pick_campaign, stats_of};
use crate::wire::{DashboardData, ErrorBody, Flagged, FlaggedScan, TopScanner};

const PAGE: &str = include_str!("dashboard.html");

/// The page.
#[utoipa::path(get, path = "/dashboard", tag = "ops",
    responses((status = 200, description = "the ops dashboard (HTML)", content_type = "text/html")))]
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataQuery {
    campaign: Option<String>,
}

/// What the page polls: the campaign's live counters, this month's top ten and the
/// newest flagged (diverted) scans that are settled.
#[utoipa::path(get, path = "/dashboard/data", tag = "ops", security(("admin_token" = [])),
    params(("campaign" = Option<String>, Query, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", description = "required while the gateway serves several campaigns")),
    responses((status = 200, description = "live counters, this month's top ten and the newest flagged scans", body = DashboardData),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token or the service key", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn data(
    // It lists members' diverted scans: ops only.
    _admin: crate::caller::Admin,
    gateway: web::Data<Gateway>,
    query: web::Query<DataQuery>,
) -> Result<HttpResponse, ApiError> {
    let loaded = pick_campaign(&gateway, query.campaign.as_deref())?;
    let id = &loaded.campaign.file.id;
    let now = gateway.clock.now();
    let stats = stats_of(&gateway, &loaded).await?;
    let month = loaded.campaign.month(now);
    let leaderboard = gateway
        .store
        .leaderboard(&loaded.campaign.lane_tags(), &month.period, None, 10)
        .await?
        .into_iter()
        .map(|(member, scans)| TopScanner { member, scans })
        .collect();
    let (settled, newest) = gateway.ledger.diverted_scans(id, 10).await?;
    let newest = newest
        .into_iter()
        .map(|scan| FlaggedScan {
            member: scan.member,
            role: scan.role,
            region: scan.region,
            batch_region: scan.batch_region,
            at_ms: scan.at_ms,
        })
        .collect();
    Ok(HttpResponse::Ok().json(DashboardData {
        campaign: id,
        name: &loaded.campaign.file.name,
        at_ms: now.as_millisecond(),
        stats,
        period: &month.period,
        leaderboard,
        flagged: Flagged { settled, newest },
    }))
}
