//! The pages behind printed codes: `GET /s/{code}` and the login in front of it.
//!
//! A page's credential is a session cookie holding the member token (`HttpOnly`,
//! `SameSite=Lax`), set by the login; the JSON API never reads it, so no other site can
//! make a browser call the API as its member. The scan runs exactly as `POST /v1/scan`
//! runs it, so a reload is a retry and answers the same. Who may pass: anyone may open a
//! page; a scan runs only for the member of a verified session.
//!
//! The login carries a `state`: a random value kept in a cookie of its own and echoed
//! by the brand's login (or the demo's form), so nobody can log a phone in as somebody
//! else by sending it to the callback with their own token.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use yima_campaign::request::{ScanRequest, check_member};
use yima_pages::{Lang, LoginPage, Notice, Outcome, Prize, PrizeKind, ScanPage, Standing};

use crate::Gateway;
use crate::error::ApiError;
use crate::scan::{check_client, genuine, redeem};

/// The session cookie: a member token.
const SESSION: &str = "yima_member";
/// The login's state and where to go after: `<state>:<path>`.
const LOGIN_STATE: &str = "yima_login";
/// The chosen language.
const LANGUAGE: &str = "yima_lang";
/// How long a demo login lasts.
const DEV_LIFETIME_SECONDS: u64 = 12 * 3600;
/// How long a login may take, from the scan to the callback.
const LOGIN_STATE_SECONDS: i64 = 600;

/// `?lang=` on any page; `?region=` on a scan page, as the API's `region` (the brand's
/// front end may add where the phone is; anything but a region code is ignored).
#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    lang: Option<String>,
    region: Option<String>,
}

/// The page's language: `?lang=`, else the cookie, else Chinese; and whether the query
/// chose it (then it is remembered).
fn language(http: &HttpRequest, query: Option<&str>) -> (Lang, bool) {
    if let Some(lang) = query.and_then(Lang::from_code) {
        return (lang, true);
    }
    let remembered = http
        .cookie(LANGUAGE)
        .and_then(|cookie| Lang::from_code(cookie.value()));
    (remembered.unwrap_or_default(), false)
}

/// A cookie of the pages: all of the site, never readable by scripts, `Secure` when the
/// request came over HTTPS (a proxy's `X-Forwarded-Proto` included).
fn cookie(http: &HttpRequest, name: &'static str, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(http.connection_info().scheme() == "https");
    cookie
}

/// An HTML answer in `lang`, remembering the language if the query chose it.
fn html(
    http: &HttpRequest,
    status: StatusCode,
    (lang, chosen): (Lang, bool),
    body: String,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("content-language", lang.strings().html_lang));
    if chosen {
        response.cookie(cookie(http, LANGUAGE, lang.code().to_string()));
    }
    response.body(body)
}

/// The member of a verified session cookie.
fn session_member(gateway: &Gateway, http: &HttpRequest) -> Option<String> {
    let token = http.cookie(SESSION)?;
    gateway
        .credentials
        .members
        .as_ref()?
        .verify(token.value())
        .ok()
}

/// The page behind a printed code.
#[utoipa::path(get, path = "/s/{code}", tag = "pages",
    params(("code" = String, Path), ("lang" = Option<String>, Query, description = "`zh` (the default) or `en`; remembered in a cookie"),
        ("region" = Option<String>, Query, description = "where the phone is, as the scan's `region`; anything but a region code is ignored")),
    responses(
        (status = 200, description = "the scan's answer as a page (HTML): every status of POST /v1/scan; or the login, for a phone without a session", content_type = "text/html"),
        (status = 400, description = "bad_request: the path is not readable", body = crate::wire::ErrorBody),
        (status = 404, description = "the invalid-code page, the same for every forged, tampered or unregistered code", content_type = "text/html"),
        (status = 429, description = "the rate-limit page, with Retry-After", content_type = "text/html"),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn scan_page(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let lang = language(&http, query.lang.as_deref());
    let code = path.into_inner();
    let region = query
        .region
        .as_deref()
        .filter(|region| yima_campaign::request::check_region(region).is_ok());
    let here = format!("/s/{code}");
    let Some(member) = session_member(&gateway, &http) else {
        // A label that is not genuine says so before anyone logs in.
        return match genuine(&gateway, &code).await {
            Ok(_) => login(&gateway, &http, lang, &here, None),
            Err(error) => trouble(&http, lang, &here, &error),
        };
    };
    let request = ScanRequest {
        code: std::borrow::Cow::Borrowed(&code),
        member: None,
        role: None,
        request_id: None,
        region: region.map(str::to_string),
    };
    let rendered = async {
        check_client(&gateway, &http)?;
        let redeemed = redeem(&gateway, &member, &request).await?;
        render_scan(&gateway, &member, &redeemed, lang.0, &here).await
    };
    answered(&http, lang, &here, rendered.await)
}

/// A rendered page, or the page saying why it could not be.
fn answered(
    http: &HttpRequest,
    lang: (Lang, bool),
    here: &str,
    rendered: Result<String, ApiError>,
) -> HttpResponse {
    match rendered {
        Ok(body) => html(http, StatusCode::OK, lang, body),
        Err(error) => trouble(http, lang, here, &error),
    }
}

/// The body the scan answered, as the page reads it back.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    scan_id: String,
    prize: Option<AnswerPrize>,
    points_awarded: i64,
    points: i64,
}

#[derive(Debug, Deserialize)]
struct AnswerPrize {
    name: String,
    kind: String,
    value: u64,
}

async fn render_scan(
    gateway: &Gateway,
    member: &str,
    redeemed: &crate::scan::Redeemed,
    lang: Lang,
    here: &str,
) -> Result<String, ApiError> {
    let answer: Answer = serde_json::from_str(&redeemed.body).map_err(|error| {
        ApiError::Unavailable(format!("a scan answer did not read back: {error}"))
    })?;
    let loaded = &redeemed.campaign;
    let state = gateway
        .store
        .member(&loaded.campaign.member_tag(member), member)
        .await?
        .unwrap_or_default();
    let prize = answer.prize.as_ref().map(|prize| Prize {
        name: &prize.name,
        kind: match prize.kind.as_str() {
            "cash" => PrizeKind::Cash,
            "points" => PrizeKind::Points,
            _ => PrizeKind::Item,
        },
        value: prize.value,
    });
    let outcome = match (answer.status.as_str(), prize) {
        ("won", Some(prize)) => Outcome::Won(prize),
        ("rebate", Some(prize)) => Outcome::Rebate(prize),
        ("already_redeemed", _) => Outcome::AlreadyRedeemed,
        ("daily_limit", _) => Outcome::DailyLimit,
        ("campaign_closed", _) => Outcome::CampaignClosed,
        ("batch_void", _) => Outcome::BatchVoid,
        ("wrong_region", _) => Outcome::WrongRegion,
        ("blocked", _) => Outcome::Blocked,
        _ => Outcome::NoPrize,
    };
    Ok(yima_pages::scan_page(
        lang,
        &ScanPage {
            campaign: &loaded.campaign.file.name,
            outcome,
            standing: standing(
                loaded,
                redeemed.rules,
                state.growth,
                answer.points_awarded,
                answer.points.max(state.points),
            ),
            scan_id: &answer.scan_id,
            path: here,
        },
    ))
}

/// A member's points and level as the pages show them: the level in their
/// architecture's levels, where it starts and where the next one begins.
fn standing(
    loaded: &crate::LoadedCampaign,
    rules: usize,
    growth: i64,
    points_awarded: i64,
    points: i64,
) -> Standing<'_> {
    let levels = loaded.campaign.levels_in(rules);
    let (level, level_name) = loaded.level(rules, growth);
    Standing {
        points_awarded,
        points,
        level,
        level_name,
        growth,
        level_floor: levels.get(level - 1).map_or(0, |l| l.min_growth),
        next_level: levels.get(level).map(|l| l.min_growth),
    }
}

/// The page for a scan (or a centre page) that could not be shown.
fn trouble(http: &HttpRequest, lang: (Lang, bool), here: &str, error: &ApiError) -> HttpResponse {
    let (status, notice) = match error {
        ApiError::NotFound(crate::wire::ErrorCode::UnknownCampaign) => {
            (StatusCode::NOT_FOUND, Notice::UnknownCampaign)
        }
        ApiError::InvalidCode | ApiError::NotFound(_) => {
            (StatusCode::NOT_FOUND, Notice::InvalidCode)
        }
        ApiError::RateLimited {
            retry_after_seconds,
            ..
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            Notice::RateLimited(*retry_after_seconds),
        ),
        other => {
            tracing::warn!(error = %other, "a scan page could not scan");
            (StatusCode::SERVICE_UNAVAILABLE, Notice::Unavailable)
        }
    };
    let mut response = html(
        http,
        status,
        lang,
        yima_pages::notice_page(lang.0, notice, here),
    );
    if let ApiError::RateLimited {
        retry_after_seconds,
        ..
    } = error
        && let Ok(value) =
            actix_web::http::header::HeaderValue::from_str(&retry_after_seconds.to_string())
    {
        response
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, value);
    }
    response
}

/// The login page for a scan at `next`, with a fresh state; `refused` is a demo
/// member id that was not one.
fn login(
    gateway: &Gateway,
    http: &HttpRequest,
    lang: (Lang, bool),
    next: &str,
    refused: Option<&str>,
) -> HttpResponse {
    let Some(state) = random_hex::<16>() else {
        return html(
            http,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            yima_pages::notice_page(lang.0, Notice::Unavailable, next),
        );
    };
    let brand = gateway.login_url.as_deref().map(|login| {
        let info = http.connection_info();
        let callback = format!("{}://{}/login/callback", info.scheme(), info.host());
        let separator = if login.contains('?') { '&' } else { '?' };
        format!(
            "{login}{separator}state={state}&return={}",
            percent_encode(&callback)
        )
    });
    let dev = gateway.dev_login.then_some("/login/dev");
    if brand.is_none() && dev.is_none() {
        return html(
            http,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            yima_pages::notice_page(lang.0, Notice::LoginUnavailable, next),
        );
    }
    let page = yima_pages::login_page(
        lang.0,
        &LoginPage {
            brand_login: brand.as_deref(),
            dev_login: dev,
            state: &state,
            refused,
            path: next,
        },
    );
    let mut pending = cookie(http, LOGIN_STATE, format!("{state}:{next}"));
    pending.set_max_age(actix_web::cookie::time::Duration::seconds(
        LOGIN_STATE_SECONDS,
    ));
    let mut response = html(http, StatusCode::OK, lang, page);
    if let Err(error) = response.add_cookie(&pending) {
        tracing::warn!(%error, "the login state cookie could not be set");
    }
    response
}

/// `N` random bytes as hex: a login's state, a purchase's request id.
fn random_hex<const N: usize>() -> Option<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// Everything but unreserved characters as `%XX`, for a URL in a query.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Where the login's state cookie says to go, if `state` is its state.
fn pending_login(http: &HttpRequest, state: &str) -> Option<String> {
    let cookie = http.cookie(LOGIN_STATE)?;
    let (expected, next) = cookie.value().split_once(':')?;
    let matches = !state.is_empty()
        && subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), state.as_bytes()).into();
    (matches && is_page_path(next)).then(|| next.to_string())
}

/// Only a page of this site: a login never sends a phone elsewhere.
fn is_page_path(path: &str) -> bool {
    let invite = |token: &str| {
        !token.is_empty()
            && token.len() <= 2048
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    path.strip_prefix("/join?invite=").is_some_and(invite)
        || path == "/me"
        || path.strip_prefix("/s/").is_some_and(|code| {
            !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// The session set, the state spent, and on to the page.
fn logged_in(http: &HttpRequest, token: String, next: &str) -> HttpResponse {
    let mut spent = cookie(http, LOGIN_STATE, String::new());
    spent.make_removal();
    HttpResponse::SeeOther()
        .insert_header(("location", next))
        .insert_header(("cache-control", "no-store"))
        .cookie(cookie(http, SESSION, token))
        .cookie(spent)
        .finish()
}

/// `?state=&token=` from the brand's login.
#[derive(Debug, Deserialize)]
pub(crate) struct Callback {
    state: Option<String>,
    token: Option<String>,
    lang: Option<String>,
}

/// Where the brand's login sends the phone back: the token becomes the session.
#[utoipa::path(get, path = "/login/callback", tag = "pages",
    params(("state" = String, Query, description = "the state the login was started with"), ("token" = String, Query, description = "the member token the brand's login issued")),
    responses((status = 303, description = "logged in: on to the page that asked"),
        (status = 403, description = "the login-expired page (HTML): no login was started here with this state, or the token is not valid", content_type = "text/html")))]
pub async fn callback(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    query: web::Query<Callback>,
) -> HttpResponse {
    let lang = language(&http, query.lang.as_deref());
    let next = pending_login(&http, query.state.as_deref().unwrap_or_default());
    let member = query.token.as_deref().and_then(|token| {
        let member = gateway.credentials.members.as_ref()?.verify(token).ok()?;
        Some((member, token.to_string()))
    });
    match (next, member) {
        (Some(next), Some((_, token))) => logged_in(&http, token, &next),
        _ => expired(&http, lang),
    }
}

fn expired(http: &HttpRequest, lang: (Lang, bool)) -> HttpResponse {
    html(
        http,
        StatusCode::FORBIDDEN,
        lang,
        yima_pages::notice_page(lang.0, Notice::LoginExpired, "/login/callback"),
    )
}

/// The demo's login form.
#[derive(Debug, Deserialize)]
pub(crate) struct DevForm {
    state: String,
    member: String,
}

/// `POST /login/dev`: the demo's form logs any member id in (with the dev login only).
pub async fn dev_login(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    form: web::Form<DevForm>,
) -> HttpResponse {
    let lang = language(&http, None);
    let Some(next) = pending_login(&http, &form.state) else {
        return expired(&http, lang);
    };
    if check_member(&form.member).is_err() {
        return login(&gateway, &http, lang, &next, Some(&form.member));
    }
    let token = gateway
        .credentials
        .members
        .as_ref()
        .and_then(|members| members.issue(&form.member, DEV_LIFETIME_SECONDS).ok());
    match token {
        Some(token) => logged_in(&http, token, &next),
        None => html(
            &http,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            yima_pages::notice_page(lang.0, Notice::LoginUnavailable, &next),
        ),
    }
}

/// `?campaign=&done=&points=&lang=` of the member centre.
#[derive(Debug, Deserialize)]
pub(crate) struct CentreQuery {
    lang: Option<String>,
    campaign: Option<String>,
    done: Option<String>,
    points: Option<i64>,
}

/// The member centre: points, level, rank, sign-in, the mall, the history links.
#[utoipa::path(get, path = "/me", tag = "pages", security(("member_session" = []), ()),
    params(("lang" = Option<String>, Query, description = "`zh` (the default) or `en`"),
        ("campaign" = Option<String>, Query, description = "required while the gateway serves several campaigns"),
        ("done" = Option<String>, Query, description = "what the last action did, shown once"),
        ("points" = Option<i64>, Query, description = "the points of that action")),
    responses((status = 200, description = "the member centre (HTML), or the login without a session", content_type = "text/html"),
        (status = 400, description = "bad_request: the query is not readable", body = crate::wire::ErrorBody),
        (status = 404, description = "no such campaign (HTML)", content_type = "text/html"),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn centre(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    query: web::Query<CentreQuery>,
) -> HttpResponse {
    let lang = language(&http, query.lang.as_deref());
    let Some(member) = session_member(&gateway, &http) else {
        return login(&gateway, &http, lang, "/me", None);
    };
    let rendered = render_centre(&gateway, &member, &query, lang.0).await;
    answered(&http, lang, "/me", rendered)
}

async fn render_centre(
    gateway: &Gateway,
    member: &str,
    query: &CentreQuery,
    lang: Lang,
) -> Result<String, ApiError> {
    let loaded = crate::reads::pick_campaign(gateway, query.campaign.as_deref())?;
    let campaign = &loaded.campaign;
    let tag = campaign.member_tag(member);
    let state = gateway
        .store
        .member(&tag, member)
        .await?
        .unwrap_or_default();
    let rules = loaded.rules_for(gateway.catalog.standing(member));
    let standing = standing(&loaded, rules, state.growth, 0, state.points);
    let now = gateway.clock.now();
    let month = campaign.month(now);
    let rank = gateway
        .store
        .board_rank(&campaign.lane_tags(), &tag, &month.period, member)
        .await?;
    let profile = gateway.ledger.profile(member).await?;
    let architecture = profile
        .as_ref()
        .and_then(|p| gateway.registry.architecture(&p.architecture))
        .map(|a| a.name.as_str());
    let points = u64::try_from(state.points).unwrap_or(0);
    let offers = campaign
        .file
        .mall
        .iter()
        .map(|item| {
            let price = item.price_for(standing.level - 1, u64::MAX).ok();
            yima_pages::Offer {
                id: &item.id,
                name: &item.name,
                price,
                min_level: item.min_level,
                affordable: price.is_some_and(|price| price <= points),
            }
        })
        .collect();
    let sign_in = campaign.file.sign_in_points;
    let claimables = gateway.ledger.claimables(&campaign.file.id, member).await?;
    let names: Vec<String> = claimables
        .iter()
        .map(|c| crate::claims::gift_name(&loaded, &c.gift))
        .collect();
    let now_ms = now.as_millisecond();
    let prizes = claimables
        .iter()
        .zip(&names)
        .map(|(claimable, name)| yima_pages::PrizeLine {
            name,
            parcel: parcel(claimable, campaign.file.claim_days, now_ms),
        })
        .collect();
    Ok(yima_pages::centre_page(
        lang,
        &yima_pages::CentrePage {
            campaign: &campaign.file.name,
            member: profile
                .as_ref()
                .and_then(|p| p.nickname.as_deref())
                .unwrap_or(member),
            architecture,
            standing,
            rank,
            sign_in: (sign_in > 0).then_some(sign_in),
            flash: query
                .done
                .as_deref()
                .and_then(|done| yima_pages::Flash::from_query(done, query.points)),
            offers,
            prizes,
            path: "/me",
        },
    ))
}

/// Where a physical prize is, for the centre.
fn parcel(
    claimable: &yima_ledger::Claimable,
    claim_days: u32,
    now_ms: i64,
) -> yima_pages::Parcel<'_> {
    use yima_pages::Parcel;
    match claimable.status.as_deref() {
        Some("claimed") => Parcel::Claimed,
        Some("shipped") => Parcel::Shipped {
            carrier: claimable.carrier.as_deref().unwrap_or_default(),
            tracking: claimable.tracking.as_deref().unwrap_or_default(),
        },
        Some(_) => Parcel::Delivered,
        None if claimable.at_ms + i64::from(claim_days) * 86_400_000 <= now_ms => Parcel::Expired,
        None => Parcel::Unclaimed(format!(
            "/me/claim?source={}",
            percent_encode(&claimable.source)
        )),
    }
}

/// A form of this site: browsers send `Origin` with every form post, and a post from
/// another site's page is refused (the session's `SameSite=Lax` already keeps its
/// cookie off such a post).
fn same_origin(http: &HttpRequest) -> bool {
    let Some(origin) = http.headers().get("origin") else {
        return true;
    };
    let info = http.connection_info();
    origin.as_bytes() == format!("{}://{}", info.scheme(), info.host()).as_bytes()
}

/// On to the member centre, saying what happened.
fn to_centre(done: &str, points: Option<i64>) -> HttpResponse {
    let location = match points {
        Some(points) => format!("/me?done={done}&points={points}"),
        None => format!("/me?done={done}"),
    };
    HttpResponse::SeeOther()
        .insert_header(("location", location))
        .insert_header(("cache-control", "no-store"))
        .finish()
}

/// Why a post may not act; either way the login-expired page (403) answers, whose
/// link leads back to the centre and its login.
enum Refused {
    /// A form of another site.
    Foreign,
    /// No session, or an expired one.
    NoSession,
}

/// The member a post of this site acts for.
fn post_member(gateway: &Gateway, http: &HttpRequest) -> Result<String, Refused> {
    if !same_origin(http) {
        return Err(Refused::Foreign);
    }
    session_member(gateway, http).ok_or(Refused::NoSession)
}

fn refused(http: &HttpRequest, why: &Refused) -> HttpResponse {
    if let Refused::Foreign = why {
        tracing::warn!("a page form posted from another origin was refused");
    }
    expired(http, language(http, None))
}

/// The daily sign-in, from the centre's button.
#[utoipa::path(post, path = "/me/sign-in", tag = "pages", security(("member_session" = [])),
    responses((status = 303, description = "on to the member centre, which says what happened"),
        (status = 403, description = "the login-expired page (HTML): no session, or a form of another site", content_type = "text/html"),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn sign_in(gateway: web::Data<Gateway>, http: HttpRequest) -> HttpResponse {
    let member = match post_member(&gateway, &http) {
        Ok(member) => member,
        Err(why) => return refused(&http, &why),
    };
    match crate::tasks::sign_in_member(&gateway, &member, None).await {
        Ok(signed) => match signed.status {
            crate::wire::SignInResult::SignedIn => {
                to_centre("signed_in", Some(signed.points_awarded))
            }
            crate::wire::SignInResult::AlreadySignedIn => to_centre("already_signed_in", None),
        },
        Err(ApiError::Conflict(_)) => to_centre("campaign_closed", None),
        Err(error) => trouble(&http, language(&http, None), "/me", &error),
    }
}

/// The gift's price for this member and their balance, or what the centre should say
/// instead (its `?done=`).
async fn offer_price(
    gateway: &Gateway,
    member: &str,
    item: &str,
) -> Result<(std::sync::Arc<crate::LoadedCampaign>, u64, i64), &'static str> {
    let loaded = crate::reads::pick_campaign(gateway, None).map_err(|_| "out_of_stock")?;
    let campaign = &loaded.campaign;
    let Some(gift) = campaign.file.mall.iter().find(|gift| gift.id == item) else {
        return Err("out_of_stock");
    };
    let state = gateway
        .store
        .member(&campaign.member_tag(member), member)
        .await
        .map_err(|_| "out_of_stock")?
        .unwrap_or_default();
    let rules = loaded.rules_for(gateway.catalog.standing(member));
    let level = campaign.level_in(rules, u64::try_from(state.growth).unwrap_or(0));
    match gift.price_for(level, u64::try_from(state.points).unwrap_or(0)) {
        Ok(price) => Ok((loaded.clone(), price, state.points)),
        Err(yima_campaign::Refusal::LevelTooLow) => Err("level_too_low"),
        Err(yima_campaign::Refusal::InsufficientPoints) => Err("insufficient_points"),
    }
}

/// The step before buying a gift: its price, the balance after, and a form carrying
/// a fresh idempotency key.
#[utoipa::path(get, path = "/me/mall/{item}", tag = "pages", security(("member_session" = []), ()),
    params(("item" = String, Path), ("lang" = Option<String>, Query)),
    responses((status = 200, description = "the confirm page (HTML), or the login without a session", content_type = "text/html"),
        (status = 303, description = "on to the member centre: the gift is not for this member now"),
        (status = 400, description = "bad_request: the path or query is not readable", body = crate::wire::ErrorBody),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn confirm(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let lang = language(&http, query.lang.as_deref());
    let Some(member) = session_member(&gateway, &http) else {
        return login(&gateway, &http, lang, "/me", None);
    };
    let item = path.into_inner();
    let (loaded, price, points) = match offer_price(&gateway, &member, &item).await {
        Ok(offer) => offer,
        Err(done) => return to_centre(done, None),
    };
    let Some(gift) = loaded
        .campaign
        .file
        .mall
        .iter()
        .find(|gift| gift.id == item)
    else {
        return to_centre("out_of_stock", None);
    };
    let Some(request_id) = random_hex::<12>() else {
        return trouble(
            &http,
            lang,
            "/me",
            &ApiError::Unavailable("no randomness".into()),
        );
    };
    let action = format!("/me/mall/{}", gift.id);
    let body = yima_pages::confirm_page(
        lang.0,
        &yima_pages::ConfirmPage {
            campaign: &loaded.campaign.file.name,
            name: &gift.name,
            price,
            points,
            action: &action,
            request_id: &request_id,
            path: &action,
        },
    );
    html(&http, StatusCode::OK, lang, body)
}

/// The confirm form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct BuyForm {
    /// The purchase's idempotency key, as the confirm page made it.
    #[schema(pattern = "^[!-~]{1,64}$")]
    request_id: String,
}

/// Buys the gift once per the form's request id: a second tap or a resent form buys
/// nothing more.
#[utoipa::path(post, path = "/me/mall/{item}", tag = "pages", security(("member_session" = [])),
    params(("item" = String, Path)),
    request_body(content = BuyForm, content_type = "application/x-www-form-urlencoded", description = "from the confirm page"),
    responses((status = 303, description = "on to the member centre, which says what happened"),
        (status = 400, description = "bad_request: the form is not readable", body = crate::wire::ErrorBody),
        (status = 403, description = "the login-expired page (HTML): no session, or a form of another site", content_type = "text/html"),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn buy(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    path: web::Path<String>,
    form: web::Form<BuyForm>,
) -> HttpResponse {
    let member = match post_member(&gateway, &http) {
        Ok(member) => member,
        Err(why) => return refused(&http, &why),
    };
    let item = path.into_inner();
    match crate::mall::purchase(&gateway, &member, &item, &form.request_id, None).await {
        Ok(body) => {
            let paid = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|answer| answer["price_paid"].as_i64());
            to_centre("redeemed", paid)
        }
        Err(ApiError::Conflict(code)) => to_centre(
            match code {
                crate::wire::ErrorCode::InsufficientPoints => "insufficient_points",
                crate::wire::ErrorCode::LevelTooLow => "level_too_low",
                _ => "out_of_stock",
            },
            None,
        ),
        Err(ApiError::NotFound(_) | ApiError::BadRequest(_)) => {
            to_centre("insufficient_points", None)
        }
        Err(error) => trouble(&http, language(&http, None), "/me", &error),
    }
}

/// `?kind=scans|awards|ledger&cursor=` of the history.
#[derive(Debug, Deserialize)]
pub(crate) struct HistoryQuery {
    lang: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
}

/// Lines of history a page shows.
const HISTORY_LINES: i64 = 20;

/// The member's settled scans, prizes or points, newest first, a page at a time.
#[utoipa::path(get, path = "/me/history", tag = "pages", security(("member_session" = []), ()),
    params(("kind" = Option<String>, Query, description = "`scans` (the default), `awards` or `ledger`"),
        ("cursor" = Option<String>, Query, description = "where the page starts, from the page before"),
        ("lang" = Option<String>, Query)),
    responses((status = 200, description = "the history (HTML), or the login without a session", content_type = "text/html"),
        (status = 400, description = "bad_request: the query is not readable", body = crate::wire::ErrorBody),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn history(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    query: web::Query<HistoryQuery>,
) -> HttpResponse {
    let lang = language(&http, query.lang.as_deref());
    let Some(member) = session_member(&gateway, &http) else {
        return login(&gateway, &http, lang, "/me", None);
    };
    let rendered = render_history(&gateway, &member, &query, lang.0).await;
    answered(&http, lang, "/me", rendered)
}

async fn render_history(
    gateway: &Gateway,
    member: &str,
    query: &HistoryQuery,
    lang: Lang,
) -> Result<String, ApiError> {
    use yima_pages::{HistoryKind, HistoryLine};
    let words = lang.strings();
    let kind = query
        .kind
        .as_deref()
        .and_then(HistoryKind::from_query)
        .unwrap_or(HistoryKind::Scans);
    let cursor = query
        .cursor
        .as_deref()
        .and_then(yima_ledger::HistoryCursor::decode);
    let loaded = crate::reads::pick_campaign(gateway, None)?;
    let campaign = &loaded.campaign;
    let id = &campaign.file.id;
    let when = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|at| {
                campaign
                    .timezone
                    .to_datetime(at)
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let prize_name = |prize: &str| crate::claims::gift_name(&loaded, prize);
    let (lines, next) = match kind {
        HistoryKind::Scans => {
            let page = gateway
                .ledger
                .member_scans(id, member, cursor.as_ref(), HISTORY_LINES)
                .await?;
            let lines = page
                .items
                .iter()
                .map(|row| HistoryLine {
                    when: when(row.at_ms),
                    what: row
                        .prize
                        .as_deref()
                        .map_or_else(|| words.no_prize.title.to_string(), prize_name),
                    points: Some(row.points),
                })
                .collect();
            (lines, page.next)
        }
        HistoryKind::Awards => {
            let page = gateway
                .ledger
                .member_awards(id, member, cursor.as_ref(), HISTORY_LINES)
                .await?;
            let lines = page
                .items
                .iter()
                .map(|row| HistoryLine {
                    when: when(row.at_ms),
                    what: match row.payout_status.as_deref() {
                        Some(state) => format!(
                            "{} · {}",
                            prize_name(&row.prize),
                            yima_pages::payout(words, state)
                        ),
                        None => prize_name(&row.prize),
                    },
                    points: None,
                })
                .collect();
            (lines, page.next)
        }
        HistoryKind::Ledger => {
            let page = gateway
                .ledger
                .member_ledger(id, member, cursor.as_ref(), HISTORY_LINES)
                .await?;
            let lines = page
                .items
                .iter()
                .map(|row| HistoryLine {
                    when: when(row.at_ms),
                    what: yima_pages::reason(words, &row.reason).to_string(),
                    points: Some(row.points),
                })
                .collect();
            (lines, page.next)
        }
    };
    let kind_name = kind.code();
    let more = next.map(|cursor| {
        format!(
            "/me/history?kind={kind_name}&cursor={}",
            percent_encode(&cursor.encode())
        )
    });
    let path = format!("/me/history?kind={kind_name}");
    Ok(yima_pages::history_page(
        lang,
        &yima_pages::HistoryPage {
            campaign: &campaign.file.name,
            kind,
            lines,
            more,
            path: &path,
        },
    ))
}

/// `?source=` of the claim form.
#[derive(Debug, Deserialize)]
pub(crate) struct ClaimQuery {
    lang: Option<String>,
    source: Option<String>,
}

/// The prize `source` names if it is this member's and may be claimed now, or what
/// the centre should say instead.
async fn claimable(
    gateway: &Gateway,
    member: &str,
    source: &str,
) -> Result<(std::sync::Arc<crate::LoadedCampaign>, String), &'static str> {
    let loaded = crate::reads::pick_campaign(gateway, None).map_err(|_| "claim_expired")?;
    let campaign = &loaded.campaign;
    let found = gateway
        .ledger
        .claimables(&campaign.file.id, member)
        .await
        .map_err(|_| "claim_expired")?
        .into_iter()
        .find(|c| c.source == source)
        .ok_or("claim_expired")?;
    match parcel(
        &found,
        campaign.file.claim_days,
        gateway.clock.now().as_millisecond(),
    ) {
        yima_pages::Parcel::Unclaimed(_) => {
            let name = crate::claims::gift_name(&loaded, &found.gift);
            Ok((loaded, name))
        }
        yima_pages::Parcel::Expired => Err("claim_expired"),
        _ => Err("already_claimed"),
    }
}

/// The claim form: where a physical prize goes.
#[utoipa::path(get, path = "/me/claim", tag = "pages", security(("member_session" = []), ()),
    params(("source" = Option<String>, Query, description = "the prize: `award:<scan_id>` or `order:<request_id>`"), ("lang" = Option<String>, Query)),
    responses((status = 200, description = "the claim form (HTML), or the login without a session", content_type = "text/html"),
        (status = 303, description = "on to the member centre: the prize is not this member's to claim now"),
        (status = 400, description = "bad_request: the query is not readable", body = crate::wire::ErrorBody)))]
pub async fn claim_form(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    query: web::Query<ClaimQuery>,
) -> HttpResponse {
    let lang = language(&http, query.lang.as_deref());
    let Some(member) = session_member(&gateway, &http) else {
        return login(&gateway, &http, lang, "/me", None);
    };
    let source = query.source.as_deref().unwrap_or_default();
    match claimable(&gateway, &member, source).await {
        Ok((loaded, name)) => {
            let body = yima_pages::claim_page(
                lang.0,
                &yima_pages::ClaimPage {
                    campaign: &loaded.campaign.file.name,
                    name: &name,
                    source,
                    refused: None,
                    path: "/me/claim",
                },
            );
            html(&http, StatusCode::OK, lang, body)
        }
        Err(done) => to_centre(done, None),
    }
}

/// The claim form, posted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ClaimForm {
    /// The prize.
    #[schema(max_length = 80)]
    source: String,
    /// Who receives it.
    #[schema(max_length = 32)]
    name: String,
    /// A mainland mobile number.
    #[schema(max_length = 20)]
    phone: String,
    /// Province, city, district.
    #[schema(max_length = 64)]
    region: String,
    /// Street and room.
    #[schema(max_length = 200)]
    address: String,
}

/// Claims a prize with a shipping address: once, within the campaign's `claim_days`.
#[utoipa::path(post, path = "/me/claim", tag = "pages", security(("member_session" = [])),
    request_body(content = ClaimForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "the form again, saying what to correct (HTML)", content_type = "text/html"),
        (status = 303, description = "on to the member centre, which says what happened"),
        (status = 400, description = "bad_request: the form is not readable", body = crate::wire::ErrorBody),
        (status = 403, description = "the login-expired page (HTML): no session, or a form of another site", content_type = "text/html"),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn claim(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    form: web::Form<ClaimForm>,
) -> HttpResponse {
    let member = match post_member(&gateway, &http) {
        Ok(member) => member,
        Err(why) => return refused(&http, &why),
    };
    let lang = language(&http, None);
    let (loaded, name) = match claimable(&gateway, &member, &form.source).await {
        Ok(found) => found,
        Err(done) => return to_centre(done, None),
    };
    let address = match yima_identity::profile::check_shipping(
        &form.name,
        &form.phone,
        &form.region,
        &form.address,
    ) {
        Ok(address) => address,
        Err(_) => {
            let body = yima_pages::claim_page(
                lang.0,
                &yima_pages::ClaimPage {
                    campaign: &loaded.campaign.file.name,
                    name: &name,
                    source: &form.source,
                    refused: Some([&form.name, &form.phone, &form.region, &form.address]),
                    path: "/me/claim",
                },
            );
            return html(&http, StatusCode::OK, lang, body);
        }
    };
    let claimed = gateway
        .ledger
        .claim(&yima_ledger::NewClaim {
            campaign: &loaded.campaign.file.id,
            member: &member,
            source: &form.source,
            name: &address.name,
            phone: &address.phone,
            region: &address.region,
            address: &address.address,
            claim_days: loaded.campaign.file.claim_days,
            now_ms: gateway.clock.now().as_millisecond(),
        })
        .await;
    match claimed {
        Ok(yima_ledger::Claimed::Claimed) => to_centre("claimed", None),
        Ok(yima_ledger::Claimed::AlreadyClaimed) => to_centre("already_claimed", None),
        Ok(yima_ledger::Claimed::Expired | yima_ledger::Claimed::NotYours) => {
            to_centre("claim_expired", None)
        }
        Err(error) => trouble(&http, lang, "/me", &ApiError::from(error)),
    }
}

/// `?invite=` of an architecture's registration link.
#[derive(Debug, Deserialize)]
pub(crate) struct JoinQuery {
    lang: Option<String>,
    invite: Option<String>,
}

/// Which architecture an invite is for, by display name, or why it cannot be used.
fn invited(gateway: &Gateway, invite: &str) -> Result<String, yima_pages::Joined<'static>> {
    let invites = gateway
        .registry
        .invites
        .as_ref()
        .ok_or(yima_pages::Joined::InviteInvalid)?;
    let verified = invites.verify(invite).map_err(|refused| match refused {
        yima_identity::InviteRefused::Expired => yima_pages::Joined::InviteExpired,
        yima_identity::InviteRefused::Invalid => yima_pages::Joined::InviteInvalid,
    })?;
    gateway
        .registry
        .architecture(&verified.architecture)
        .map(|a| a.name.clone())
        .ok_or(yima_pages::Joined::InviteInvalid)
}

/// An architecture's registration link: the invite's page.
#[utoipa::path(get, path = "/join", tag = "pages", security(("member_session" = []), ()),
    params(("invite" = Option<String>, Query, description = "the signed invite of the link"), ("lang" = Option<String>, Query)),
    responses((status = 200, description = "the registration form (HTML), or the login without a session", content_type = "text/html"),
        (status = 400, description = "bad_request: the query is not readable", body = crate::wire::ErrorBody),
        (status = 410, description = "the invite-expired page (HTML)", content_type = "text/html"),
        (status = 404, description = "the invalid-invite page (HTML): forged, tampered, or for no architecture of this brand", content_type = "text/html")))]
pub async fn join_form(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    query: web::Query<JoinQuery>,
) -> HttpResponse {
    let lang = language(&http, query.lang.as_deref());
    let invite = query.invite.as_deref().unwrap_or_default();
    let here = format!("/join?invite={invite}");
    let architecture = match invited(&gateway, invite) {
        Ok(architecture) => architecture,
        Err(refused) => return joined(&http, lang, refused),
    };
    if session_member(&gateway, &http).is_none() {
        return login(&gateway, &http, lang, &here, None);
    }
    let body = yima_pages::join_page(
        lang.0,
        &yima_pages::JoinPage {
            architecture: &architecture,
            invite,
            refused: None,
            path: "/join",
        },
    );
    html(&http, StatusCode::OK, lang, body)
}

/// The page after a registration, or for an invite that cannot be used.
fn joined(http: &HttpRequest, lang: (Lang, bool), outcome: yima_pages::Joined<'_>) -> HttpResponse {
    use yima_pages::Joined;
    let status = match outcome {
        Joined::Registered(_) => StatusCode::OK,
        // No such invitation, as far as this brand is concerned.
        Joined::InviteInvalid => StatusCode::NOT_FOUND,
        Joined::InviteExpired => StatusCode::GONE,
        Joined::Elsewhere => StatusCode::CONFLICT,
    };
    html(
        http,
        status,
        lang,
        yima_pages::joined_page(lang.0, outcome, "/join"),
    )
}

/// The registration form, posted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct JoinForm {
    /// The invite.
    #[schema(max_length = 2048)]
    invite: String,
    /// 1 to 32 characters.
    #[schema(max_length = 32)]
    nickname: String,
    /// Optional: a mainland mobile number.
    #[serde(default)]
    #[schema(max_length = 20)]
    phone: String,
    /// Optional: a region code.
    #[serde(default)]
    #[schema(max_length = 32)]
    region: String,
    /// Optional: `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(max_length = 10)]
    birthday: String,
}

/// Registers the session's member with the invite: once, in one architecture.
#[utoipa::path(post, path = "/join", tag = "pages", security(("member_session" = [])),
    request_body(content = JoinForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "registered (now or before), or the form again saying what to correct (HTML)", content_type = "text/html"),
        (status = 400, description = "bad_request: the form is not readable", body = crate::wire::ErrorBody),
        (status = 403, description = "the login-expired page (HTML): no session, or a form of another site", content_type = "text/html"),
        (status = 409, description = "registered in another architecture already (HTML)", content_type = "text/html"),
        (status = 410, description = "the invite-expired page (HTML)", content_type = "text/html"),
        (status = 404, description = "the invalid-invite page (HTML)", content_type = "text/html"),
        (status = 503, description = "the service-busy page", content_type = "text/html")))]
pub async fn join(
    gateway: web::Data<Gateway>,
    http: HttpRequest,
    form: web::Form<JoinForm>,
) -> HttpResponse {
    use yima_pages::Joined;
    let member = match post_member(&gateway, &http) {
        Ok(member) => member,
        Err(why) => return refused(&http, &why),
    };
    let lang = language(&http, None);
    let architecture = match invited(&gateway, &form.invite) {
        Ok(architecture) => architecture,
        Err(refused) => return joined(&http, lang, refused),
    };
    let request = crate::registry::RegisterRequest::from_form(
        &form.invite,
        &form.nickname,
        &form.phone,
        &form.region,
        &form.birthday,
    );
    match crate::registry::register_member(&gateway, &member, &request).await {
        Ok(_) => joined(&http, lang, Joined::Registered(&architecture)),
        Err(ApiError::BadRequest(_)) => {
            let body = yima_pages::join_page(
                lang.0,
                &yima_pages::JoinPage {
                    architecture: &architecture,
                    invite: &form.invite,
                    refused: Some([&form.nickname, &form.phone, &form.region, &form.birthday]),
                    path: "/join",
                },
            );
            html(&http, StatusCode::OK, lang, body)
        }
        Err(ApiError::Conflict(_)) => joined(&http, lang, Joined::Elsewhere),
        Err(ApiError::Gone(_)) => joined(&http, lang, Joined::InviteExpired),
        Err(ApiError::Unprocessable(_) | ApiError::NotFound(_)) => {
            joined(&http, lang, Joined::InviteInvalid)
        }
        Err(error) => trouble(&http, lang, "/join", &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_goes_back_only_to_a_scan_page_of_this_site() {
        assert!(is_page_path("/s/7ZnQs1cOe26ZoqbSXBTwL"));
        assert!(is_page_path("/me"));
        assert!(is_page_path("/join?invite=eyJhbGci.eyJ0eXAi.sig-_"));
        assert!(!is_page_path("/join?invite="));
        assert!(!is_page_path("/join?invite=a&next=//evil"));
        for path in [
            "",
            "/",
            "/s/",
            "//evil.example/s/x",
            "https://evil.example",
            "/s/a/b",
            "/s/a?b",
            "/s/%2F",
            "/me/../s/a",
            "/s/\u{4e00}",
        ] {
            assert!(!is_page_path(path), "{path:?}");
        }
        assert!(!is_page_path(&format!("/s/{}", "a".repeat(65))));
    }

    #[test]
    fn a_callback_url_is_encoded_whole() {
        assert_eq!(
            percent_encode("https://yima.example:8443/login/callback?a=b&c"),
            "https%3A%2F%2Fyima.example%3A8443%2Flogin%2Fcallback%3Fa%3Db%26c"
        );
    }
}
