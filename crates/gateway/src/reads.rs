//! Member, campaign and health reads.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::Gateway;
use crate::catalog::LoadedCampaign;
use crate::error::ApiError;
use crate::wire::{
    BoardPlace, CampaignView, CatalogState, ErrorBody, ErrorCode, Health, Leaderboard, MemberView,
    OddsRevision, PrizeStats, Readiness, Ready, RegionScans, Stats,
};
use yima_store::MemberState;

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
            .ok_or(ApiError::NotFound(ErrorCode::UnknownCampaign)),
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
#[utoipa::path(get, path = "/v1/members/{member}", tag = "members", security(("service_key" = []), ("admin_token" = [])),
    params(("member" = String, Path, pattern = "^[A-Za-z0-9_.@-]{1,64}$"), ("campaign" = Option<String>, Query, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", description = "required while the gateway serves several campaigns")),
    responses((status = 200, description = "the member's points, growth and level", body = MemberView),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: a member token (members read /v1/me)", body = ErrorBody),
        (status = 404, description = "unknown_member or unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn member(
    _backend: crate::caller::Backend,
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    query: web::Query<CampaignQuery>,
) -> Result<HttpResponse, ApiError> {
    let member = path.into_inner();
    let loaded = pick_campaign(&gateway, query.campaign.as_deref())?;
    let state = gateway
        .store
        .member(&loaded.campaign.member_tag(&member), &member)
        .await?
        .ok_or(ApiError::NotFound(ErrorCode::UnknownMember))?;
    Ok(HttpResponse::Ok().json(member_view(&gateway, &loaded, &member, &state)))
}

/// A member's standing in one campaign, as members and back ends read it: levels are
/// those of the member's architecture.
pub(crate) fn member_view<'a>(
    gateway: &Gateway,
    loaded: &'a LoadedCampaign,
    member: &'a str,
    state: &MemberState,
) -> MemberView<'a> {
    let rules = loaded.rules_for(gateway.catalog.standing(member));
    let (level, level_name) = loaded.level(rules, state.growth);
    MemberView {
        member,
        points: state.points,
        growth: state.growth,
        level,
        level_name,
        next_level_growth: loaded
            .campaign
            .levels_in(rules)
            .get(level)
            .map(|l| l.min_growth),
        scans: state.scans,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardQuery {
    period: Option<String>,
    limit: Option<usize>,
    region: Option<String>,
}

/// Most entries one leaderboard read returns.
const MAX_BOARD_LIMIT: usize = 100;

/// `GET /v1/campaigns/{id}/leaderboard?period=YYYY-MM&limit=N&region=R`: the month's
/// most active scanners (this month by default, in the campaign's zone). Ties go to
/// whoever reached the score first.
#[utoipa::path(get, path = "/v1/campaigns/{id}/leaderboard", tag = "campaigns",
    params(("id" = String, Path), ("period" = Option<String>, Query, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", description = "YYYY-MM; this month by default"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 10"), ("region" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{1,32}$")),
    responses((status = 200, description = "the month's most active scanners", body = Leaderboard),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn leaderboard(
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
    query: web::Query<BoardQuery>,
) -> Result<HttpResponse, ApiError> {
    let loaded = pick_campaign(&gateway, Some(&path))?;
    let campaign = &loaded.campaign;
    let month = match query.period.as_deref() {
        Some(period) => campaign.period(period).ok_or_else(|| {
            ApiError::BadRequest(format!("period `{period}` is not a YYYY-MM month"))
        })?,
        None => campaign.month(gateway.clock.now()),
    };
    let limit = query.limit.unwrap_or(10);
    if !(1..=MAX_BOARD_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_BOARD_LIMIT}"
        )));
    }
    if let Some(region) = &query.region {
        yima_campaign::request::check_region(region)?;
    }
    // An ended month is read from its frozen copy once there is one.
    let frozen = if month.ends_at <= gateway.clock.now() {
        gateway
            .ledger
            .frozen_board(
                &campaign.file.id,
                &month.period,
                query.region.as_deref(),
                i64::try_from(limit).unwrap_or(i64::MAX),
            )
            .await?
    } else {
        None
    };
    let top = match frozen {
        Some(entries) => entries
            .into_iter()
            .map(|(member, scans)| (member, u64::try_from(scans).unwrap_or(0)))
            .collect(),
        None => {
            gateway
                .store
                .leaderboard(
                    &campaign.lane_tags(),
                    &month.period,
                    query.region.as_deref(),
                    limit,
                )
                .await?
        }
    };
    let entries = top
        .into_iter()
        .enumerate()
        .map(|(index, (member, scans))| BoardPlace {
            rank: index + 1,
            member,
            scans,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Leaderboard {
        period: &month.period,
        region: query.region.as_deref(),
        entries,
    }))
}

/// `GET /v1/campaigns/{id}`: the public campaign, with the draw commitment, every
/// revision of its odds with the time it took effect (so an auditor sees each change
/// of odds) and, once the campaign has ended, the secret itself.
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, description = "the public campaign with its draw commitment, every revision of its odds and, once ended, the draw secret", body = CampaignView),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable (Postgres)", body = ErrorBody)))]
pub async fn campaign(
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let loaded = pick_campaign(&gateway, Some(&path))?;
    let file = &loaded.campaign.file;
    let ended = gateway.clock.now() >= loaded.campaign.ends_at;
    let revisions = gateway
        .ledger
        .revisions(&file.id)
        .await?
        .iter()
        .map(odds_revision)
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(CampaignView {
        id: &file.id,
        name: &file.name,
        starts_at: &file.starts_at,
        ends_at: &file.ends_at,
        timezone: &file.timezone,
        revision: loaded.revision,
        points_per_scan: file.points_per_scan,
        growth_per_scan: file.growth_per_scan,
        daily_scan_limit: file.daily_scan_limit,
        levels: &file.levels,
        prizes: &file.prizes,
        out_of_stock: file.out_of_stock.as_deref().unwrap_or("no_prize"),
        architectures: &file.architectures,
        draw_commitment: loaded.secret.commitment(),
        draw_secret: ended.then(|| loaded.secret.to_hex()),
        revisions,
    }))
}

/// What decides a draw in one revision: levels, prizes with their odds and stock,
/// boosts and the substitute prize, with the time the revision took effect. Every
/// stored definition was a valid campaign file when it was stored, and keys are only
/// ever added to the file, so each one reads as one.
fn odds_revision(revision: &yima_ledger::Revision) -> Result<OddsRevision, ApiError> {
    let file: yima_campaign::CampaignFile = serde_json::from_str(&revision.definition_json)
        .map_err(|error| {
            ApiError::Unavailable(format!(
                "revision {} is not a campaign file: {error}",
                revision.revision
            ))
        })?;
    Ok(OddsRevision {
        revision: revision.revision,
        effective_at: crate::wire::utc_time(revision.effective_at_ms),
        levels: file.levels,
        prizes: file.prizes,
        boosts: file.boosts,
        out_of_stock: file.out_of_stock.unwrap_or_else(|| "no_prize".into()),
        architectures: file.architectures,
    })
}

/// `GET /v1/campaigns/{id}/stats`
#[utoipa::path(get, path = "/v1/campaigns/{id}/stats", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, description = "live counters: scans, wins, diversions, stock per prize, scans per region", body = Stats),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn stats(
    gateway: web::Data<Gateway>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let loaded = pick_campaign(&gateway, Some(&path))?;
    Ok(HttpResponse::Ok().json(stats_of(&gateway, &loaded).await?))
}

/// A campaign's live counters from Redis, as `/stats` and the dashboard show them.
pub(crate) async fn stats_of<'a>(
    gateway: &Gateway,
    loaded: &'a LoadedCampaign,
) -> Result<Stats<'a>, ApiError> {
    let counters = gateway.store.counters(&loaded.campaign.lane_tags()).await?;
    let prizes = loaded
        .campaign
        .file
        .prizes
        .iter()
        .map(|prize| {
            let awarded = counters.awarded_of(&prize.id);
            let stock = i64::try_from(prize.stock).unwrap_or(i64::MAX);
            PrizeStats {
                id: &prize.id,
                name: &prize.name,
                stock,
                awarded,
                remaining: (stock - awarded).max(0),
            }
        })
        .collect();
    let regions = counters
        .regions
        .into_iter()
        .map(|(region, scans)| RegionScans { region, scans })
        .collect();
    Ok(Stats {
        scans: counters.scans,
        wins: counters.wins,
        diverted: counters.diverted,
        diverted_refused: counters.diverted_refused,
        prizes,
        regions,
    })
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "the process is up", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// `GET /readyz`: Redis answers and the catalog is loaded (200, `ready`, or `degraded`
/// while Postgres does not answer); says which part is not (503).
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "ready, or degraded: scans served, Postgres unreachable", body = Ready),
        (status = 503, description = "what is not ready", body = Ready)))]
pub async fn readyz(gateway: web::Data<Gateway>) -> HttpResponse {
    let redis = gateway.store.ping().await.is_ok();
    let catalog = gateway.catalog.is_loaded();
    // Scans need Redis and the loaded catalog, not Postgres: without it the gateway
    // still serves (degraded: new batches, the mall and sign-ins wait for it).
    let postgres = gateway
        .ledger
        .ping(std::time::Duration::from_millis(500))
        .await;
    let status = match (redis && catalog, postgres) {
        (false, _) => Readiness::NotReady,
        (true, true) => Readiness::Ready,
        (true, false) => Readiness::Degraded,
    };
    let body = Ready {
        status,
        redis: redis.into(),
        postgres: postgres.into(),
        catalog: if catalog {
            CatalogState::Loaded
        } else {
            CatalogState::Loading
        },
        campaigns: gateway.catalog.campaigns().len(),
    };
    if redis && catalog {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: Prometheus text. Stock left per prize and the settlement lag are
/// read from Redis at scrape time, so they are current whatever this process served.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 404, description = "metrics_disabled", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn metrics(gateway: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let Some(render) = &gateway.render_metrics else {
        return Err(ApiError::NotFound(ErrorCode::MetricsDisabled));
    };
    for loaded in gateway.catalog.campaigns() {
        let id = loaded.campaign.file.id.clone();
        let tags = loaded.campaign.lane_tags();
        let counters = gateway.store.counters(&tags).await?;
        for prize in &loaded.campaign.file.prizes {
            let awarded = counters.awarded_of(&prize.id);
            let left = i64::try_from(prize.stock).unwrap_or(i64::MAX) - awarded;
            metrics::gauge!("yima_prize_stock_left", "campaign" => id.clone(), "prize" => prize.id.clone())
                .set(left.max(0) as f64);
        }
        metrics::gauge!("yima_diverted_scans", "campaign" => id.clone())
            .set(counters.diverted as f64);
        // No stream yet (no scan so far) is no lag.
        let lag = gateway.store.settlement_lag(&tags).await.unwrap_or(0);
        metrics::gauge!("yima_settle_lag", "campaign" => id).set(lag as f64);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(render()))
}
