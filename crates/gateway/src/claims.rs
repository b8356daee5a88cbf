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

/// `?campaign=&status=` of the CSV export: every page of them.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// Required while the gateway serves several campaigns.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    campaign: Option<String>,
    /// `claimed` (the default: waiting to ship), `shipped` or `delivered`.
    #[param(pattern = "^(claimed|shipped|delivered)$")]
    status: Option<String>,
}

fn status_of(status: Option<&str>) -> Result<&str, ApiError> {
    match status.unwrap_or("claimed") {
        status @ ("claimed" | "shipped" | "delivered") => Ok(status),
        _ => Err(ApiError::BadRequest(
            "status must be claimed, shipped or delivered".into(),
        )),
    }
}

impl ClaimQuery {
    fn status(&self) -> Result<&str, ApiError> {
        status_of(self.status.as_deref())
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
            claimed_at: crate::wire::utc_time(claim.claimed_at_ms),
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

/// A prize's or mall item's display name, its id if the file no longer has it.
pub(crate) fn gift_name(loaded: &crate::LoadedCampaign, gift: &str) -> String {
    loaded.campaign.gift_name(gift).unwrap_or(gift).to_string()
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
    params(ExportQuery),
    responses((status = 200, description = "id,member,gift,name,phone,region,address,claimed_at,carrier,tracking", content_type = "text/csv"),
        (status = 400, description = "bad_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not the admin token", body = ErrorBody),
        (status = 404, description = "unknown_campaign", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn export(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let loaded = pick_campaign(&gateway, query.campaign.as_deref())?;
    let (status, mut after) = (status_of(query.status.as_deref())?, 0);
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
    /// The carrier (顺丰, EMS…): no control characters, no space at either end.
    #[schema(
        pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]([^\\u0000-\\u001f\\u007f-\\u009f]{0,30}[^\\s\\u0000-\\u001f\\u007f-\\u009f])?$"
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
    let (carrier, tracking) = (request.carrier.as_str(), request.tracking.as_str());
    check_shipment(carrier, tracking).map_err(ApiError::BadRequest)?;
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

/// An upload of shipments: about 20,000 lines.
pub(crate) const UPLOAD_LIMIT: usize = 1024 * 1024;

/// The logistics team's file, as the document describes it: lines the upload takes.
pub(crate) struct ShipmentsFile;

impl utoipa::PartialSchema for ShipmentsFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^id,carrier,tracking(\\r?\\n[1-9][0-9]{0,17},[^,\\s\\u0000-\\u001f\\u007f-\\u009f]{1,32},[!-+\\--~]{1,64})+(\\r?\\n)?$"))
            .into()
    }
}

impl utoipa::ToSchema for ShipmentsFile {}

/// Counts of a bulk upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentsDone {
    /// Claims marked shipped now.
    pub shipped: usize,
    /// Lines naming a claim already shipped with the same carrier and number.
    pub already_shipped: usize,
}

/// The logistics team's file, read whole: `id,carrier,tracking` then one line per
/// parcel (no quoted fields; a UTF-8 byte-order mark and CRLF line ends are fine).
fn read_shipments(text: &str) -> Result<Vec<(i64, String, String)>, Vec<yima_campaign::Problem>> {
    let problem = |line: usize, message: String| yima_campaign::Problem {
        path: format!("line {line}"),
        message,
    };
    let mut lines = text.trim_start_matches('\u{feff}').lines().enumerate();
    let header = lines
        .next()
        .map(|(_, line)| line.trim_end_matches('\r').trim());
    if header != Some("id,carrier,tracking") {
        return Err(vec![problem(
            1,
            "the first line must be `id,carrier,tracking`".into(),
        )]);
    }
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (index, line) in lines {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [id, carrier, tracking] = fields[..] else {
            problems.push(problem(
                number,
                format!("needs 3 fields, got {}", fields.len()),
            ));
            continue;
        };
        let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
            problems.push(problem(number, format!("`{id}` is not a claim id")));
            continue;
        };
        if let Err(message) = check_shipment(carrier, tracking) {
            problems.push(problem(number, message));
        }
        rows.push((id, carrier.to_string(), tracking.to_string()));
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(problem(2, "no shipments in the file".into()));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

fn check_shipment(carrier: &str, tracking: &str) -> Result<(), String> {
    yima_identity::profile::check_text(carrier, "carrier", 32).map_err(|bad| bad.0)?;
    if carrier.trim() != carrier {
        return Err("carrier must have no space at either end".into());
    }
    if tracking.is_empty() || tracking.len() > 64 || !tracking.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err("tracking must be 1 to 64 printable ASCII characters".into());
    }
    Ok(())
}

/// Marks many claims shipped from the logistics team's CSV: all of them or, if any line
/// is wrong or any claim is not waiting to ship, none.
#[utoipa::path(post, path = "/v1/admin/claims/shipments", tag = "fulfilment", security(("admin_token" = [])),
    request_body(content = ShipmentsFile, content_type = "text/csv", description = "`id,carrier,tracking`, then one line per parcel (the same claim twice: the same values are one shipment, other values a conflict)"),
    responses((status = 200, description = "every line applied", body = ShipmentsDone),
        (status = 400, description = "bad_request (the body is not UTF-8)", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden: not the admin token", body = ErrorBody),
        (status = 409, description = "claim_conflict: the lines whose claims are unknown, not waiting to ship, or shipped with other values; nothing written", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 422, description = "invalid_shipments: every bad line; nothing written", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody)))]
pub async fn upload(
    _admin: Admin,
    gateway: web::Data<Gateway>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = crate::read_body(payload, UPLOAD_LIMIT).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let rows = read_shipments(text).map_err(ApiError::InvalidShipments)?;
    match gateway.ledger.ship_all(&rows).await? {
        Ok((shipped, already_shipped)) => Ok(HttpResponse::Ok().json(ShipmentsDone {
            shipped,
            already_shipped,
        })),
        Err(refused) => Err(ApiError::RefusedShipments(
            refused
                .into_iter()
                .map(|(index, step)| yima_campaign::Problem {
                    path: format!("claim {}", rows[index].0),
                    message: match step {
                        Stepped::Unknown => "no such claim".into(),
                        _ => {
                            "not waiting to ship, or shipped with another carrier or number".into()
                        }
                    },
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipments_file_is_read_whole_and_every_bad_line_named() {
        let rows = read_shipments("\u{feff}id,carrier,tracking\r\n7,顺丰,SF1\r\n\r\n9, EMS ,E2\n")
            .expect("valid");
        assert_eq!(
            rows,
            [
                (7, "顺丰".into(), "SF1".into()),
                (9, "EMS".into(), "E2".into())
            ]
        );
        let problems = read_shipments(
            "id,carrier,tracking\nx,顺丰,SF1\n7,顺丰\n8,,SF2\n9,顺丰,bad one\n10,a,b\n10,a,b\n",
        )
        .expect_err("refused");
        let named: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            named.len(),
            4,
            "the same claim twice is for the ledger: {named:?}"
        );
        for (line, says) in [
            (2, "not a claim id"),
            (3, "needs 3 fields"),
            (4, "carrier"),
            (5, "tracking"),
        ] {
            assert!(
                named
                    .iter()
                    .any(|p| p.starts_with(&format!("line {line}: ")) && p.contains(says)),
                "line {line}: {named:?}"
            );
        }
        assert!(read_shipments("carrier,id\n").is_err());
        assert!(
            read_shipments("id,carrier,tracking\n").is_err(),
            "an empty file ships nothing"
        );
    }
}
