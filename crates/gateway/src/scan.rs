//! `POST /v1/scan`: verify in process, then one script call.

use actix_web::{HttpRequest, HttpResponse, web};
use yima_campaign::request::ScanRequest;
use yima_campaign::{Diversion, Role};
use yima_ledger::BatchStatus;
use yima_store::{Answer, Recall, ScanCall, ScanOutcome, Stored};

use crate::caller::Caller;
use crate::catalog::LoadedCampaign;
use crate::error::ApiError;
use crate::status::ScanStatus;
use crate::wire::{ErrorBody, ScanAnswer, WonPrize};
use crate::{Gateway, read_body};

/// Scan bodies are a few hundred bytes; anything near this is not a scan.
pub const SCAN_BODY_LIMIT: usize = 4 * 1024;

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// The handler: answers, and counts the answer by status and its latency.
#[utoipa::path(post, path = "/v1/scan", tag = "scan", security(("member_token" = []), ("service_key" = [])),
    request_body(content = yima_campaign::request::ScanRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "won, rebate (a fixed award for the code's SKU under the member's architecture, paid without a draw), no_prize, already_redeemed, daily_limit, campaign_closed, batch_void, wrong_region or blocked, with the member's points and level", body = ScanAnswer),
        (status = 400, description = "bad_request (with the service key, `member` is required)", body = ErrorBody),
        (status = 401, description = "unauthorized: no credential, or an invalid or expired one", body = ErrorBody),
        (status = 403, description = "forbidden: a member token naming another member in `member`, a role that is not the member's (dealer scans only from registered dealers), or the admin token", body = ErrorBody),
        (status = 404, description = "invalid_code: the same bytes for every forged, tampered or unregistered code", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 429, description = "rate_limited: the member or the client address scanned too fast; `scope` says which, `Retry-After` says when to try again", body = ErrorBody),
        (status = 503, description = "unavailable", body = ErrorBody),
    ))]
pub async fn scan(
    gateway: web::Data<Gateway>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let answered = answer_scan(&gateway, &request, payload).await;
    let status = match &answered {
        Ok((_, status)) => *status,
        Err(error) => ScanStatus::of_error(error),
    };
    let metrics = gateway.scan_metrics.get_or_init(ScanMetrics::new);
    metrics.count(status);
    metrics.seconds.record(started.elapsed().as_secs_f64());
    answered.map(|(response, _)| response)
}

/// The scan metrics' handles, looked up once: finding a metric by name and labels on
/// every scan cost as much CPU as verifying the code (profiled under forged load).
/// Made on the first scan, when the binary has installed its recorder.
pub(crate) struct ScanMetrics {
    /// One counter per status, in [`ScanStatus::VARIANTS`]' order.
    by_status: Vec<metrics::Counter>,
    seconds: metrics::Histogram,
}

impl ScanMetrics {
    fn new() -> Self {
        Self {
            by_status: <ScanStatus as strum::VariantArray>::VARIANTS
                .iter()
                .map(|status| metrics::counter!("yima_scans_total", "status" => status.as_str()))
                .collect(),
            seconds: metrics::histogram!("yima_scan_seconds"),
        }
    }

    fn count(&self, status: ScanStatus) {
        if let Some(counter) = self.by_status.get(status.index()) {
            counter.increment(1);
        }
    }
}

/// The member a scan is for: a member token's own (a `member` in the body must be the
/// same one), or the one the service key names.
fn scanning_member<'a>(caller: &'a Caller, named: Option<&'a str>) -> Result<&'a str, ApiError> {
    match (caller, named) {
        (Caller::Member(own), None) => Ok(own),
        (Caller::Member(own), Some(named)) if named == own => Ok(own),
        (Caller::Service, Some(named)) => Ok(named),
        (Caller::Service, None) => Err(ApiError::BadRequest(
            "member is required with the service key".into(),
        )),
        (Caller::Member(_), Some(_)) | (Caller::Admin, _) => Err(ApiError::Forbidden),
    }
}

/// The answer and its status, for the metrics.
async fn answer_scan(
    gateway: &Gateway,
    http: &HttpRequest,
    payload: web::Payload,
) -> Result<(HttpResponse, ScanStatus), ApiError> {
    // Limits first: a flood is turned away before its body is read.
    check_client(gateway, http)?;
    // The body (at most 4 KB) is read before the credential is judged: answering
    // before it would leave it unread, and the connection would have to close.
    let body = read_body(payload, SCAN_BODY_LIMIT).await?;
    let caller = gateway.credentials.caller_of(http)?;
    let request = ScanRequest::parse(&body)?;
    let member = scanning_member(&caller, request.member.as_deref())?;
    let redeemed = redeem(gateway, member, &request).await?;
    Ok((json(redeemed.body), redeemed.status))
}

/// The client address's rate limit, when one is configured.
pub(crate) fn check_client(gateway: &Gateway, http: &HttpRequest) -> Result<(), ApiError> {
    if gateway.limits.limits_ip()
        && let Some(peer) = http.peer_addr()
    {
        let forwarded = http
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>();
        let client = gateway.limits.client_ip(peer.ip(), &forwarded);
        gateway.limits.check_ip(client)?;
    }
    Ok(())
}

/// A genuine code and its registered batch, or `invalid_code`: one HMAC in process,
/// then the batch from memory (a batch missing there costs one query).
pub(crate) async fn genuine(
    gateway: &Gateway,
    code: &str,
) -> Result<(yima_code::CodeId, std::sync::Arc<yima_ledger::Batch>), ApiError> {
    let code = gateway
        .ring
        .verify(code)
        .map_err(|_| ApiError::InvalidCode)?;
    let batch = gateway
        .catalog
        .batch(&gateway.scan_ledger, code.batch)
        .await?
        .ok_or(ApiError::InvalidCode)?;
    if code.serial >= batch.count || batch.key_id != code.key_id {
        return Err(ApiError::InvalidCode);
    }
    Ok((code, batch))
}

/// A scan's answer, as the API sends it and the scan page renders it.
pub(crate) struct Redeemed {
    /// The JSON body, byte for byte what a retry gets again.
    pub body: String,
    /// Its status, for the metrics (`retry` for a stored answer).
    pub status: ScanStatus,
    /// The campaign it was scanned in.
    pub campaign: std::sync::Arc<LoadedCampaign>,
    /// The rule set the member scans under.
    pub rules: usize,
}

/// Scans `request.code` for `member`, whose credential the caller checked.
pub(crate) async fn redeem(
    gateway: &Gateway,
    member: &str,
    request: &ScanRequest<'_>,
) -> Result<Redeemed, ApiError> {
    gateway.limits.check_member(member)?;
    // In process, before any shared state: forged codes cost one HMAC.
    let (code, batch) = genuine(gateway, &request.code).await?;
    let loaded = gateway
        .catalog
        .campaign(&batch.campaign)
        .ok_or(ApiError::InvalidCode)?;
    // The role follows the member's architecture (looked up once the code is known
    // to be genuine, so a forgery costs no lookup): a registered dealer scans as a
    // dealer, everyone else as a consumer, so one member never redeems a code twice
    // in two roles.
    let standing = gateway.catalog.standing(member);
    let own_role = match standing {
        Some(standing) if standing.dealer => Role::Dealer,
        _ => Role::Consumer,
    };
    let role = request.role.unwrap_or(own_role);
    if role != own_role {
        return Err(ApiError::Forbidden);
    }
    let rules = loaded.rules_for(standing);
    let (body, status) = answer(
        gateway, &loaded, member, request, &code, &batch, role, standing,
    )
    .await?;
    Ok(Redeemed {
        body,
        status,
        campaign: loaded,
        rules,
    })
}

#[expect(clippy::too_many_arguments, reason = "the parts of one verified scan")]
async fn answer(
    gateway: &Gateway,
    loaded: &std::sync::Arc<LoadedCampaign>,
    member: &str,
    request: &ScanRequest<'_>,
    code: &yima_code::CodeId,
    batch: &yima_ledger::Batch,
    role: Role,
    standing: Option<crate::Standing>,
) -> Result<(String, ScanStatus), ApiError> {
    let scan_id = loaded.secret.scan_id(batch.id, code.serial, role);
    let now = gateway.clock.now();

    let rules = loaded.rules_for(standing);
    let refuse = |status: ScanStatus| {
        let code = (batch.id, code.serial, role);
        plain_answer(gateway, loaded, rules, member, code, status, &scan_id)
    };
    if standing.is_some_and(|standing| standing.blocked) {
        return refuse(ScanStatus::Blocked).await;
    }
    if batch.status == BatchStatus::Void {
        return refuse(ScanStatus::BatchVoid).await;
    }
    if !loaded.campaign.is_open(now) {
        return refuse(ScanStatus::CampaignClosed).await;
    }
    let diverted = matches!(
        (request.region.as_deref(), batch.region.as_deref()),
        (Some(scanned), Some(shipped)) if scanned != shipped
    );
    if diverted && loaded.campaign.file.diversion == Diversion::Refuse {
        gateway
            .store
            .count_refused_diversion(&loaded.campaign.member_tag(member))
            .await?;
        return refuse(ScanStatus::WrongRegion).await;
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
        member,
        day: &day,
        scan_id: &scan_id,
        draw_number: loaded.secret.draw_number(&scan_id),
        available: &available,
        at_ms: now.as_millisecond(),
        region: request.region.as_deref(),
        batch_region: batch.region.as_deref(),
        request_id: request.request_id.as_deref(),
        period: &month.period,
        ms_into_month: month.ms_into(now),
        diverted,
        rules,
        rebate: loaded.campaign.rebate_in(rules, &batch.sku),
    };
    let outcome = gateway
        .store
        .scan(loaded.table_on(campaign_day), &call)
        .await?;
    let code = (batch.id, code.serial, role);
    let refusal = |status: ScanStatus, points: i64, growth: i64| {
        let body = refusal_body(loaded, rules, status, &scan_id, points, growth);
        Ok((body, status))
    };
    match outcome {
        ScanOutcome::Redeemed(answer) => {
            let body = render_answer(loaded, &scan_id, &answer)?;
            let outcome = answer.prize.unwrap_or_else(|| "none".into());
            metrics::counter!("yima_draw_outcomes_total", "campaign" => loaded.campaign.file.id.clone(), "prize" => outcome)
                .increment(1);
            Ok((body, ScanStatus::of_finish(answer.finish)))
        }
        ScanOutcome::Retry(stored) => Ok((render(loaded, &scan_id, &stored)?, ScanStatus::Retry)),
        ScanOutcome::AlreadyRedeemed { points, growth } => {
            refusal(ScanStatus::AlreadyRedeemed, points, growth)
        }
        ScanOutcome::DailyLimit { points, growth } => {
            refusal(ScanStatus::DailyLimit, points, growth)
        }
        ScanOutcome::Forgotten { points, growth } => {
            match settled_answer(gateway, loaded, member, code, &scan_id).await? {
                Some(body) => Ok((body, ScanStatus::Retry)),
                None => refusal(ScanStatus::AlreadyRedeemed, points, growth),
            }
        }
    }
}

/// The body of a redemption's answer: the stored values with the campaign's prize
/// (or a body an earlier build stored, as it is).
fn render(loaded: &LoadedCampaign, scan_id: &str, stored: &Stored) -> Result<String, ApiError> {
    match stored {
        Stored::Body(body) => Ok(body.clone()),
        Stored::Answer(answer) => render_answer(loaded, scan_id, answer),
    }
}

/// The body of a redemption's answer, from its values and the campaign's prize.
fn render_answer(
    loaded: &LoadedCampaign,
    scan_id: &str,
    answer: &Answer,
) -> Result<String, ApiError> {
    let prize = match answer.prize.as_deref() {
        None => None,
        // A started campaign's prizes are never removed, nor their kind or value changed.
        Some(id) => {
            let prize = loaded.campaign.prize(id).ok_or_else(|| {
                ApiError::Unavailable(format!(
                    "a stored answer names prize `{id}`, not the campaign's"
                ))
            })?;
            Some(WonPrize {
                id: &prize.id,
                kind: prize.kind,
                name: &prize.name,
                value: prize.value,
            })
        }
    };
    let body = ScanAnswer {
        status: ScanStatus::of_finish(answer.finish),
        scan_id,
        prize,
        points_awarded: answer.points_awarded,
        points: answer.points,
        level: answer.level,
    };
    serde_json::to_string(&body).map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// A refusal's body: nothing redeemed, the member's points and level.
fn refusal_body(
    loaded: &LoadedCampaign,
    rules: usize,
    status: ScanStatus,
    scan_id: &str,
    points: i64,
    growth: i64,
) -> String {
    let (level, _) = loaded.level(rules, growth);
    let body = ScanAnswer {
        status,
        scan_id,
        prize: None,
        points_awarded: 0,
        points,
        level,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// A redeemed code whose answer Redis let go (settled, grace over): the answer
/// Postgres kept, rendered as Redis's was, if `member` redeemed it. Unsettled scans
/// never get here (their answers have no TTL), so this costs one indexed read only
/// for retries older than the grace window and scans of codes others redeemed then.
async fn settled_answer(
    gateway: &Gateway,
    loaded: &LoadedCampaign,
    member: &str,
    (batch, serial, role): (u32, u32, Role),
    scan_id: &str,
) -> Result<Option<String>, ApiError> {
    metrics::counter!("yima_scan_answers_from_postgres_total").increment(1);
    let Some((owner, Some(answer))) = gateway
        .scan_ledger
        .scan_answer(batch, serial, role.as_str())
        .await?
    else {
        return Ok(None);
    };
    if owner != member {
        return Ok(None);
    }
    let answer = Answer::parse(&answer).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    render_answer(loaded, scan_id, &answer).map(Some)
}

/// A refusal that redeems nothing: the member's current points and level, and the
/// status again for the metrics. Refusals come before Redis is asked, so first the
/// member's own redemption of this code, if any, is looked up: a retry of a win at
/// 23:59:59 is still the win at 00:00:01, or after the batch was voided.
async fn plain_answer(
    gateway: &Gateway,
    loaded: &LoadedCampaign,
    rules: usize,
    member: &str,
    (batch, serial, role): (u32, u32, Role),
    status: ScanStatus,
    scan_id: &str,
) -> Result<(String, ScanStatus), ApiError> {
    let file = &loaded.campaign.file;
    let tag = loaded.campaign.member_tag(member);
    let code = (file.id.as_str(), batch, serial, role);
    match gateway
        .store
        .recall((&tag, file.lanes), code, member)
        .await?
    {
        Recall::Own(stored) => return Ok((render(loaded, scan_id, &stored)?, ScanStatus::Retry)),
        Recall::Forgotten => {
            let code = (batch, serial, role);
            if let Some(body) = settled_answer(gateway, loaded, member, code, scan_id).await? {
                return Ok((body, ScanStatus::Retry));
            }
        }
        Recall::Nothing => {}
    }
    let state = gateway
        .store
        .member(&tag, member)
        .await?
        .unwrap_or_default();
    let body = refusal_body(loaded, rules, status, scan_id, state.points, state.growth);
    Ok((body, status))
}
