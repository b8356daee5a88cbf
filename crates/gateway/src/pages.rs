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
    let scanned = match check_client(&gateway, &http) {
        Ok(()) => redeem(&gateway, &member, &request).await,
        Err(error) => Err(error),
    };
    match scanned {
        Ok(redeemed) => match render_scan(&gateway, &member, &redeemed, lang.0, &here).await {
            Ok(body) => html(&http, StatusCode::OK, lang, body),
            Err(error) => trouble(&http, lang, &here, &error),
        },
        Err(error) => trouble(&http, lang, &here, &error),
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
    let rules = redeemed.rules;
    let levels = loaded.campaign.levels_in(rules);
    let (level, level_name) = loaded.level(rules, state.growth);
    Ok(yima_pages::scan_page(
        lang,
        &ScanPage {
            campaign: &loaded.campaign.file.name,
            outcome,
            standing: Standing {
                points_awarded: answer.points_awarded,
                points: answer.points.max(state.points),
                level,
                level_name,
                growth: state.growth,
                level_floor: levels.get(level - 1).map_or(0, |l| l.min_growth),
                next_level: levels.get(level).map(|l| l.min_growth),
            },
            scan_id: &answer.scan_id,
            path: here,
        },
    ))
}

/// The page for a scan that did not run.
fn trouble(http: &HttpRequest, lang: (Lang, bool), here: &str, error: &ApiError) -> HttpResponse {
    let (status, notice) = match error {
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
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return html(
            http,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            yima_pages::notice_page(lang.0, Notice::Unavailable, next),
        );
    }
    let state: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
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
    path.strip_prefix("/s/").is_some_and(|code| {
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
        (status = 400, description = "the login-expired page (HTML): no login was started here with this state, or the token is not valid", content_type = "text/html")))]
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
        StatusCode::BAD_REQUEST,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_goes_back_only_to_a_scan_page_of_this_site() {
        assert!(is_page_path("/s/7ZnQs1cOe26ZoqbSXBTwL"));
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
