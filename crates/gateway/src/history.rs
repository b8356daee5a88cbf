//! `GET /v1/me/scans`, `/v1/me/awards`, `/v1/me/ledger`: a member's own settled
//! history in one campaign, newest first, from Postgres (the book of record), a page at
//! a time. A scan appears once the settlement worker has written it (milliseconds
//! behind the answer).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use yima_ledger::{HistoryCursor, HistoryPage};

use crate::Gateway;
use crate::caller::Member;
use crate::catalog::LoadedCampaign;
use crate::error::ApiError;
use crate::reads::pick_campaign;
use crate::wire::{AwardItem, ErrorBody, HistoryPrize, LedgerItem, Page as WirePage, ScanItem};

/// Rows a page holds unless the client asks for fewer (or more, up to [`MAX_LIMIT`]).
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// Which campaign, and which page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// Required while the gateway serves several campaigns.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    campaign: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    #[param(pattern = "^[0-9]{1,17}\\.[^\\u0000-\\u001f\\u007f-\\u009f]{1,256}$")]
    cursor: Option<String>,
}

/// The campaign, the page's start and its size, or 400.
struct Page {
    loaded: std::sync::Arc<LoadedCampaign>,
    cursor: Option<HistoryCursor>,
    limit: i64,
}

impl Page {
    fn of(gateway: &Gateway, query: &HistoryQuery) -> Result<Self, ApiError> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_LIMIT}"
            )));
        }
        let cursor = query
            .cursor
            .as_deref()
            .map(|text| {
                HistoryCursor::decode(text).ok_or_else(|| {
                    ApiError::BadRequest("cursor is not one a page of this list gave".into())
                })
            })
            .transpose()?;
        Ok(Self {
            loaded: pick_campaign(gateway, query.campaign.as_deref())?,
            cursor,
            limit,
        })
    }

    fn campaign(&self) -> &str {
        &self.loaded.campaign.file.id
    }

    /// The answer: each row as the member reads it, and the next page's cursor.
    fn answer<R, T: serde::Serialize>(
        &self,
        rows: HistoryPage<R>,
        item: impl Fn(&Self, R) -> T,
    ) -> HttpResponse {
        HttpResponse::Ok().json(WirePage {
            items: rows
                .items
                .into_iter()
                .map(|row| item(self, row))
                .collect::<Vec<_>>(),
            next_cursor: rows.next.map(|cursor| cursor.encode()),
        })
    }

    /// A time as the member reads it: RFC 3339 in the campaign's zone.
    fn time(&self, ms: i64) -> String {
        match jiff::Timestamp::from_millisecond(ms) {
            Ok(at) => at
                .display_with_offset(self.loaded.campaign.timezone.to_offset(at))
                .to_string(),
            Err(_) => String::new(),
        }
    }

    /// A prize by id, with its name from the campaign file.
    fn prize(&self, id: &str) -> HistoryPrize {
        let prize = self.loaded.campaign.file.prizes.iter().find(|p| p.id == id);
        HistoryPrize {
            id: id.to_string(),
            name: prize.map_or_else(|| id.to_string(), |p| p.name.clone()),
            kind: prize.map(|p| p.kind),
            value: prize.map(|p| p.value),
        }
    }
}

/// Settled scans.
#[utoipa::path(get, path = "/v1/me/scans", tag = "me", security(("member_token" = [])),
    params(HistoryQuery),
    responses((status = 200, description = "newest first", body = WirePage<ScanItem>),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not a member token", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn scans(
    member: Member,
    gateway: web::Data<Gateway>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::of(&gateway, &query)?;
    let rows = gateway
        .ledger
        .member_scans(page.campaign(), &member.0, page.cursor.as_ref(), page.limit)
        .await?;
    Ok(page.answer(rows, |page, row| ScanItem {
        at: page.time(row.at_ms),
        status: match row.prize.as_deref() {
            Some(prize) if page.loaded.campaign.is_rebate_prize(prize) => "rebate",
            Some(_) => "won",
            None => "no_prize",
        },
        prize: row.prize.as_deref().map(|id| page.prize(id)),
        scan_id: row.scan_id,
        role: row.role,
        points: row.points,
        growth: row.growth,
        region: row.region,
    }))
}

/// Prizes won, with the state of a cash prize's payout.
#[utoipa::path(get, path = "/v1/me/awards", tag = "me", security(("member_token" = [])),
    params(HistoryQuery),
    responses((status = 200, description = "newest first", body = WirePage<AwardItem>),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not a member token", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn awards(
    member: Member,
    gateway: web::Data<Gateway>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::of(&gateway, &query)?;
    let rows = gateway
        .ledger
        .member_awards(page.campaign(), &member.0, page.cursor.as_ref(), page.limit)
        .await?;
    Ok(page.answer(rows, |page, row| AwardItem {
        at: page.time(row.at_ms),
        prize: page.prize(&row.prize),
        payout: row.payout_status,
        paid_at: row.delivered_at_ms.map(|ms| page.time(ms)),
        scan_id: row.scan_id,
    }))
}

/// Every change of the member's points and growth, with its reason.
#[utoipa::path(get, path = "/v1/me/ledger", tag = "me", security(("member_token" = [])),
    params(HistoryQuery),
    responses((status = 200, description = "newest first", body = WirePage<LedgerItem>),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not a member token", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn ledger(
    member: Member,
    gateway: web::Data<Gateway>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::of(&gateway, &query)?;
    let rows = gateway
        .ledger
        .member_ledger(page.campaign(), &member.0, page.cursor.as_ref(), page.limit)
        .await?;
    Ok(page.answer(rows, |page, row| LedgerItem {
        at: page.time(row.at_ms),
        points: row.points,
        growth: row.growth,
        reason: row.reason,
        source: row.source,
    }))
}
