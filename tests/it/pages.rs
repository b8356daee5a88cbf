//! The page behind a printed code, against a real gateway, Redis and Postgres: the
//! login in front of it, every outcome in both languages, and a reload that is a retry.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::support::*;
use yima_gateway::Clock;

/// One cash prize that every scan draws, while its stock of two lasts; a dealer is paid
/// a rebate for SKU-1 instead; scans from outside a batch's region are refused.
const PRIZES: &str = r#"
[[prizes]]
id = "red-packet"
name = "8.88 元红包"
kind = "cash"
value = 888
stock = 2
odds = [1000000, 1000000]

[[prizes]]
id = "rebate"
name = "进货返利"
kind = "cash"
value = 200
stock = 100
odds = [0, 0]

[architectures.dealer]
odds = {}
rebates = [{ sku = "SKU-1", prize = "rebate" }]
"#;

async fn gateway() -> TestGateway {
    TestGateway::start_configured(
        &campaign(3, "diversion = \"refuse\"", PRIZES),
        Clock::fixed(june_first()),
        |config| config.members.dev_login = true,
    )
    .await
}

/// The page of `code` for `member` (a session cookie holding their token) in `lang`.
async fn page(gateway: &TestGateway, code: &str, member: &str, lang: &str) -> (u16, String) {
    page_at(gateway, &format!("/s/{code}?lang={lang}"), Some(member)).await
}

async fn page_at(gateway: &TestGateway, path: &str, member: Option<&str>) -> (u16, String) {
    let mut request = gateway.http.get(format!("{}{path}", gateway.base));
    if let Some(member) = member {
        request = request.header(COOKIE, format!("yima_member={}", member_token(member)));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The outcome a page shows (`data-outcome`) and its `lang`.
fn shown(html: &str) -> (String, String) {
    let after = |marker: &str| {
        html.split_once(marker)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(value, _)| value.to_string())
            .unwrap_or_default()
    };
    (after("data-outcome=\""), after("<html lang=\""))
}

/// Asserts the page shows `outcome` with `title`, in `lang`'s words.
fn assert_shows(
    html: &str,
    outcome: &str,
    lang: yima_pages::Lang,
    title: fn(&yima_pages::Strings) -> &'static str,
) {
    let words = lang.strings();
    assert_eq!(
        shown(html),
        (outcome.to_string(), words.html_lang.to_string()),
        "{html}"
    );
    assert!(html.contains(title(words)), "{outcome} in {lang:?}: {html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_of_a_scan_has_its_page_in_both_languages() {
    use yima_pages::Lang::{En, Zh};
    let gateway = gateway().await;
    let (_, codes) = gateway.batch(12, Some("CN-31")).await;
    let languages = [(Zh, "zh"), (En, "en")];
    let code_at = |lang, index: usize| codes[if lang == Zh { 0 } else { 6 } + index].as_str();
    let member = |code: &str| format!("painter-{code}");
    // The prize's stock of two goes to the first scan in each language.
    for (lang, code) in languages {
        let (status, won) = page(&gateway, code_at(lang, 0), &member(code), code).await;
        assert_eq!(status, 200);
        assert_shows(&won, "won", lang, |w| w.won.title);
        assert!(
            won.contains("8.88 元红包") && won.contains("¥8.88"),
            "{won}"
        );
        let (_, again) = page(&gateway, code_at(lang, 0), &member(code), code).await;
        assert_eq!(again, won, "a reload is a retry");
        let (_, taken) = page(&gateway, code_at(lang, 0), &format!("other-{code}"), code).await;
        assert_shows(&taken, "already_redeemed", lang, |w| {
            w.already_redeemed.title
        });
    }
    for (lang, code) in languages {
        let (_, plain) = page(&gateway, code_at(lang, 1), &member(code), code).await;
        assert_shows(&plain, "no_prize", lang, |w| w.no_prize.title);
        let (_, wrong) = page_at(
            &gateway,
            &format!("/s/{}?lang={code}&region=CN-44", code_at(lang, 2)),
            Some(&member(code)),
        )
        .await;
        assert_shows(&wrong, "wrong_region", lang, |w| w.wrong_region.title);
        // The third scan of the day (a refused one does not count), then the limit.
        let (_, third) = page(&gateway, code_at(lang, 3), &member(code), code).await;
        assert_eq!(shown(&third).0, "no_prize", "{third}");
        let (_, limit) = page(&gateway, code_at(lang, 4), &member(code), code).await;
        assert_shows(&limit, "daily_limit", lang, |w| w.daily_limit.title);
    }

    // A dealer sees the rebate, not a draw.
    gateway.register_dealer("store-li").await;
    let (_, dealer) = page(&gateway, &codes[0], "store-li", "zh").await;
    assert_shows(&dealer, "rebate", Zh, |w| w.rebate.title);
    assert!(
        dealer.contains("进货返利") && dealer.contains("¥2.00"),
        "{dealer}"
    );

    // Blocked members, a voided batch and a closed campaign.
    let (status, _) = gateway
        .post(
            "/v1/admin/members/blocked-wu/block",
            json!({"reason": "test"}).to_string(),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    gateway
        .until_catalog("the block", |catalog| {
            catalog.standing("blocked-wu").is_some_and(|s| s.blocked)
        })
        .await;
    let (void_batch, void_codes) = gateway.batch(2, None).await;
    gateway.void_batch(void_batch).await;
    gateway
        .apply_and_wait(
            campaign(3, "", "")
                .replace("id = \"test\"", "id = \"over\"")
                .replace("2027-12-31T23:59:59+08:00", "2026-03-01T00:00:00+08:00"),
        )
        .await;
    let (_, over) = gateway.batch_of("over", 2, None).await;
    for (lang, code) in [(Zh, "zh"), (En, "en")] {
        let (_, blocked) = page(&gateway, &codes[11], "blocked-wu", code).await;
        assert_shows(&blocked, "blocked", lang, |w| w.blocked.title);
        let (_, void) = page(&gateway, &void_codes[0], "painter-void", code).await;
        assert_shows(&void, "batch_void", lang, |w| w.batch_void.title);
        let (_, closed) = page(&gateway, &over[0], "painter-late", code).await;
        assert_shows(&closed, "campaign_closed", lang, |w| {
            w.campaign_closed.title
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_code_gets_the_same_page_logged_in_or_not() {
    use yima_pages::Lang::{En, Zh};
    let gateway = gateway().await;
    let (_, codes) = gateway.batch(1, None).await;
    let genuine = &codes[0];
    let last = genuine.chars().last().expect("a code");
    let flipped = if last == 'A' { 'B' } else { 'A' };
    let tampered = format!("{}{flipped}", &genuine[..genuine.len() - 1]);
    for (lang, code) in [(Zh, "zh"), (En, "en")] {
        let mut pages = Vec::new();
        for forged in [tampered.as_str(), "AAAAAAAAAAAAAAAAAAAAA", "not-a-code"] {
            for member in [None, Some("painter-wang")] {
                let (status, html) =
                    page_at(&gateway, &format!("/s/{forged}?lang={code}"), member).await;
                assert_eq!(status, 404);
                assert_shows(&html, "invalid_code", lang, |w| w.invalid_code.title);
                pages.push(html.replace(forged, "CODE"));
            }
        }
        assert!(
            pages.windows(2).all(|pair| pair[0] == pair[1]),
            "the same page for every forgery"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_login_runs_the_scan_once_and_a_foreign_state_logs_nobody_in() {
    let gateway = gateway().await;
    let (_, codes) = gateway.batch(1, None).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = format!("{}/s/{}", gateway.base, codes[0]);

    // No session: the login, with its state in a cookie and in the form.
    let response = client.get(&url).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let state_cookie = set_cookie(&response, "yima_login").expect("a login state");
    assert!(state_cookie.contains("HttpOnly") && state_cookie.contains("SameSite=Lax"));
    let html = response.text().await.expect("body");
    assert_eq!(shown(&html).0, "login");
    assert!(html.contains("<label for=\"member\">"), "{html}");
    let state = html
        .split_once("name=\"state\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(state, _)| state.to_string())
        .expect("the form's state");
    let pending = cookie_pair(&state_cookie);

    // A bad member id is shown again with why.
    let bad = client
        .post(format!("{}/login/dev", gateway.base))
        .header(COOKIE, &pending)
        .form(&[("state", state.as_str()), ("member", "no spaces")])
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status().as_u16(), 200);
    assert!(
        bad.text()
            .await
            .expect("body")
            .contains(yima_pages::ZH.dev_bad_member)
    );

    // Another phone's state does not log this one in.
    let foreign = client
        .post(format!("{}/login/dev", gateway.base))
        .header(COOKIE, &pending)
        .form(&[("state", "0000"), ("member", "painter-wang")])
        .send()
        .await
        .expect("request");
    assert_eq!(foreign.status().as_u16(), 403);
    assert!(set_cookie(&foreign, "yima_member").is_none());
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 0);

    let login = client
        .post(format!("{}/login/dev", gateway.base))
        .header(COOKIE, &pending)
        .form(&[("state", state.as_str()), ("member", "painter-wang")])
        .send()
        .await
        .expect("request");
    assert_eq!(login.status().as_u16(), 303);
    assert_eq!(
        login.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some(format!("/s/{}", codes[0]).as_str())
    );
    let session = set_cookie(&login, "yima_member").expect("a session");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    let session = cookie_pair(&session);

    // The scan runs once: the page and its reload show the one answer, and the API
    // agrees it was this member's scan.
    let first = client
        .get(&url)
        .header(COOKIE, &session)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(shown(&first).0, "won", "{first}");
    let reload = client
        .get(&url)
        .header(COOKIE, &session)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(reload, first, "a reload is a retry, never a second scan");
    let (_, api) = gateway.scan(&codes[0], "painter-wang", "consumer").await;
    assert_eq!(json(&api)["status"], "won", "{api}");

    // The JSON API never takes the cookie.
    let cookie_only = client
        .post(format!("{}/v1/scan", gateway.base))
        .header(COOKIE, &session)
        .body(json!({"code": codes[0]}).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(cookie_only.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brands_login_returns_with_a_token_for_the_state_it_was_given() {
    let gateway = TestGateway::start_configured(
        &campaign(3, "", PRIZES),
        Clock::fixed(june_first()),
        |config| config.members.login_url = Some("https://login.brand.example/yima".into()),
    )
    .await;
    let (_, codes) = gateway.batch(1, None).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/s/{}?lang=en", gateway.base, codes[0]))
        .send()
        .await
        .expect("request");
    let pending = cookie_pair(&set_cookie(&response, "yima_login").expect("state"));
    let html = response.text().await.expect("body");
    assert!(
        !html.contains("<form"),
        "no demo form without the dev login"
    );
    let link = html
        .split_once("href=\"https://login.brand.example/yima?state=")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(rest, _)| rest.replace("&amp;", "&"))
        .expect("the brand's login link");
    let (state, callback) = link.split_once("&return=").expect("state and return");
    assert!(
        callback.ends_with("%2Flogin%2Fcallback"),
        "the brand is told where to return: {callback}"
    );

    let back = |state: String, token: String| {
        let client = client.clone();
        let url = format!("{}/login/callback", gateway.base);
        let pending = pending.clone();
        async move {
            client
                .get(url)
                .query(&[("state", state), ("token", token)])
                .header(COOKIE, pending)
                .send()
                .await
                .expect("request")
        }
    };
    let forged = back(
        state.to_string(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3YW5nIn0.".into(),
    )
    .await;
    assert_eq!(forged.status().as_u16(), 403, "a forged token is no login");
    let foreign = back("another-state".into(), member_token("painter-wang")).await;
    assert_eq!(foreign.status().as_u16(), 403, "another state is no login");
    assert!(set_cookie(&foreign, "yima_member").is_none());
    let good = back(state.to_string(), member_token("painter-wang")).await;
    assert_eq!(good.status().as_u16(), 303);
    assert_eq!(
        good.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some(format!("/s/{}", codes[0]).as_str())
    );
    assert!(set_cookie(&good, "yima_member").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_scans_and_a_redis_outage_have_their_pages() {
    use yima_pages::Lang::{En, Zh};
    let limits = yima::config::LimitsConfig {
        member_per_minute: 1,
        member_burst: 1,
        ip_per_minute: 0,
        ip_burst: 0,
        trusted_proxies: Vec::new(),
    };
    let gateway =
        TestGateway::start_limited(&campaign(30, "", ""), Clock::fixed(june_first()), limits).await;
    let (_, codes) = gateway.batch(3, None).await;
    assert_eq!(page(&gateway, &codes[0], "fast", "zh").await.0, 200);
    for (lang, code) in [(Zh, "zh"), (En, "en")] {
        let (status, html) = page(&gateway, &codes[1], "fast", code).await;
        assert_eq!(status, 429);
        assert_shows(&html, "rate_limited", lang, |w| w.rate_limited.title);
    }

    let mut redis = PrivateRedis::start();
    let gateway = TestGateway::start_with_redis(
        &campaign(30, "", ""),
        Clock::fixed(june_first()),
        &redis.url,
    )
    .await;
    let (_, codes) = gateway.batch(1, None).await;
    redis.stop();
    for (lang, code) in [(Zh, "zh"), (En, "en")] {
        let (status, html) = page(&gateway, &codes[0], "painter-wang", code).await;
        assert_eq!(status, 503);
        assert_shows(&html, "unavailable", lang, |w| w.unavailable.title);
    }
}

/// The `Set-Cookie` of `name`, if the response sets it.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// `name=value` of a `Set-Cookie`, to send back.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_string()
}

/// A member centre's campaign: a certain cup, a 5-point sign-in, a 10-point towel and a
/// pen from level 2.
const CENTRE: &str = r#"
[[prizes]]
id = "cup"
name = "保温杯"
kind = "item"
value = 5900
stock = 10
odds = [1000000, 1000000]

[[mall]]
id = "towel"
name = "毛巾"
price = 10
stock = 5

[[mall]]
id = "pen"
name = "签字笔"
price = 1
stock = 5
min_level = 2
"#;

async fn centre_gateway() -> TestGateway {
    TestGateway::start_configured(
        &campaign(30, "sign_in_points = 5", CENTRE)
            .replace("name = \"test campaign\"", "name = \"腻子扫码赢好礼\""),
        Clock::fixed(june_first()),
        |config| config.members.dev_login = true,
    )
    .await
}

/// A post from this member's phone: their session, the site's own origin.
async fn post_form(
    gateway: &TestGateway,
    path: &str,
    member: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}{path}", gateway.base))
        .header(COOKIE, format!("yima_member={}", member_token(member)))
        .header("origin", &gateway.base)
        .form(form)
        .send()
        .await
        .expect("request")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_centre_signs_in_sells_a_gift_once_and_lists_the_history() {
    use yima_pages::Lang::{En, Zh};
    let gateway = centre_gateway().await;
    let (_, codes) = gateway.batch(1, None).await;
    assert_eq!(
        shown(&page(&gateway, &codes[0], "painter-wang", "zh").await.1).0,
        "won"
    );
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;

    for (lang, code) in [(Zh, "zh"), (En, "en")] {
        let (status, html) =
            page_at(&gateway, &format!("/me?lang={code}"), Some("painter-wang")).await;
        assert_eq!(status, 200);
        assert_shows(&html, "centre", lang, |w| w.centre_title);
        assert!(
            html.contains("data-rank>1<"),
            "first on this month's board: {html}"
        );
        assert!(html.contains("data-points>10<"), "{html}");
        assert!(
            html.contains(&yima_pages::fill(lang.strings().from_level, 2)),
            "the pen is locked"
        );
        assert!(
            html.contains("href=\"/me/mall/towel\""),
            "the towel is affordable"
        );
    }

    let (status, unknown) =
        page_at(&gateway, "/me?campaign=nope&lang=en", Some("painter-wang")).await;
    assert_eq!(status, 404);
    assert_shows(&unknown, "unknown_campaign", En, |w| {
        w.unknown_campaign.title
    });

    // The sign-in pays once a day.
    let signed = post_form(&gateway, "/me/sign-in", "painter-wang", &[]).await;
    assert_eq!(
        (signed.status().as_u16(), location(&signed).as_str()),
        (303, "/me?done=signed_in&points=5")
    );
    let again = post_form(&gateway, "/me/sign-in", "painter-wang", &[]).await;
    assert_eq!(location(&again), "/me?done=already_signed_in");
    let (_, flash) = page_at(
        &gateway,
        "/me?done=signed_in&points=5&lang=en",
        Some("painter-wang"),
    )
    .await;
    assert!(
        flash.contains("Signed in: 5 points credited.") && flash.contains("data-points>15<"),
        "{flash}"
    );

    // The confirm page carries a fresh request id; the purchase happens once for it.
    let (_, confirm) = page_at(&gateway, "/me/mall/towel", Some("painter-wang")).await;
    assert_eq!(shown(&confirm).0, "confirm");
    assert!(
        confirm.contains(&yima_pages::fill(yima_pages::ZH.balance_after, 5)),
        "{confirm}"
    );
    let request_id = confirm
        .split_once("name=\"request_id\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(id, _)| id.to_string())
        .expect("a request id");
    let elsewhere = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/me/mall/towel", gateway.base))
        .header(
            COOKIE,
            format!("yima_member={}", member_token("painter-wang")),
        )
        .header("origin", "https://evil.example")
        .form(&[("request_id", request_id.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(
        elsewhere.status().as_u16(),
        403,
        "another site's form buys nothing"
    );
    for _ in 0..2 {
        let bought = post_form(
            &gateway,
            "/me/mall/towel",
            "painter-wang",
            &[("request_id", &request_id)],
        )
        .await;
        assert_eq!(
            location(&bought),
            "/me?done=redeemed&points=10",
            "a second tap repeats the answer"
        );
    }
    let (_, after) = page_at(&gateway, "/me", Some("painter-wang")).await;
    assert!(after.contains("data-points>5<"), "bought once: {after}");
    let (_, poor) = page_at(&gateway, "/me/mall/towel", Some("painter-wang")).await;
    assert!(poor.is_empty() || !poor.contains("data-outcome=\"confirm\""));
    let locked = post_form(
        &gateway,
        "/me/mall/pen",
        "painter-wang",
        &[("request_id", "pen-1")],
    )
    .await;
    assert_eq!(location(&locked), "/me?done=level_too_low");

    // The history, from Postgres.
    for (kind, expected) in [
        ("scans", "保温杯"),
        ("awards", "保温杯"),
        ("ledger", "签到"),
    ] {
        let (status, html) = page_at(
            &gateway,
            &format!("/me/history?kind={kind}"),
            Some("painter-wang"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(shown(&html).0, "history");
        assert!(html.contains(expected), "{kind}: {html}");
    }

    // Without a session: the login, and a post logs nobody in.
    let (_, anonymous) = page_at(&gateway, "/me", None).await;
    assert_eq!(shown(&anonymous).0, "login");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/me/sign-in", gateway.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403, "the login-expired page");
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM points_ledger WHERE reason = 'sign_in'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_opens_a_printed_url_logs_in_and_sees_its_prize_in_chromium() {
    let gateway = centre_gateway().await;
    let (_, codes) = gateway.batch(1, None).await;
    let phone = Phone::open().await;

    // The printed URL, opened from WeChat: the login, in Chinese.
    phone.go(&format!("{}/s/{}", gateway.base, codes[0])).await;
    let login = phone.until("data-outcome=\"login\"").await;
    assert!(login.contains("lang=\"zh-CN\""), "{login}");
    phone.shot("1-login").await;

    phone.fill("#member", "painter-wang").await;
    phone.tap("button[type=submit]").await;
    let won = phone.until("data-outcome=\"won\"").await;
    assert!(won.contains("保温杯") && won.contains("¥59.00"), "{won}");
    phone.shot("2-prize").await;
    let scan_id = |html: &str| {
        html.split_once("<code>")
            .and_then(|(_, rest)| rest.split_once("</code>"))
            .map(|(id, _)| id.to_string())
            .expect("the scan id")
    };

    // A reload is the same answer, and the one scan is the API's too.
    phone.reload().await;
    let again = phone.until("data-outcome=\"won\"").await;
    assert_eq!(scan_id(&again), scan_id(&won));
    phone.shot("3-reload").await;
    let (_, api) = gateway.scan(&codes[0], "painter-wang", "consumer").await;
    assert_eq!(json(&api)["scan_id"].as_str(), Some(scan_id(&won).as_str()));

    // The switch speaks English, and the choice sticks.
    phone.tap("header a").await;
    let english = phone.until("Congratulations").await;
    assert!(english.contains("lang=\"en\"") && english.contains("Worth ¥59.00"));
    phone.shot("4-english").await;
    phone.go(&format!("{}/s/{}", gateway.base, codes[0])).await;
    assert!(
        phone
            .until("data-outcome=\"won\"")
            .await
            .contains("lang=\"en\"")
    );
    phone.tap("header a").await;
    phone.until("恭喜您中奖了").await;

    // The member centre: settled points, the sign-in, a gift bought after confirming.
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    phone.tap("a.button[href=\"/me\"]").await;
    phone.until("data-points=\"\">10<").await;
    phone.shot("5-centre").await;
    phone.tap("form[action=\"/me/sign-in\"] button").await;
    phone.until("data-points=\"\">15<").await;
    phone.shot("6-signed-in").await;
    phone.tap("a[href=\"/me/mall/towel\"]").await;
    phone.until("data-outcome=\"confirm\"").await;
    phone.shot("7-confirm").await;
    phone.tap("form button[type=submit]").await;
    let bought = phone.until("data-points=\"\">5<").await;
    assert!(
        bought.contains(&yima_pages::fill(yima_pages::ZH.redeemed, 10)),
        "{bought}"
    );
    phone.shot("8-redeemed").await;
    phone.tap("a[href=\"/me/history?kind=ledger\"]").await;
    phone.until("签到").await;
    phone.shot("9-history").await;

    // Claim the cup with an address; ops ship it; the member sees the tracking number.
    phone.go(&format!("{}/me", gateway.base)).await;
    phone.tap("a[href^=\"/me/claim?source=award\"]").await;
    phone.until("data-outcome=\"claim\"").await;
    phone.fill("#name", "王师傅").await;
    phone.fill("#phone", "138 1234 5678").await;
    phone.fill("#region", "上海市浦东新区").await;
    phone.fill("#address", "张江路 88 号 3 楼").await;
    phone.shot("10-claim").await;
    phone.tap("form button[type=submit]").await;
    phone.until(yima_pages::ZH.claim_done).await;
    phone.shot("11-claimed").await;
    let (_, pending) = gateway.get_as("/v1/admin/claims", Some(ADMIN_TOKEN)).await;
    let claim = json(&pending)["items"][0].clone();
    assert_eq!(claim["phone"], "13812345678", "{pending}");
    let (status, shipped) = gateway
        .post(
            &format!("/v1/admin/claims/{}/ship", claim["id"]),
            json!({"carrier": "顺丰", "tracking": "SF1234567890"}).to_string(),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{shipped}");
    phone.reload().await;
    phone.until("data-tracking=\"\">SF1234567890<").await;
    phone.shot("12-shipped").await;

    let errors = phone.console_errors().await;
    assert!(errors.is_empty(), "the console said: {errors:?}");
    phone.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prize_is_claimed_once_by_its_member_within_its_window_and_ops_ship_it() {
    let gateway = TestGateway::start_configured(
        &campaign(30, "claim_days = 7", CENTRE),
        Clock::fixed(june_first()),
        |config| config.members.dev_login = true,
    )
    .await;
    let (_, codes) = gateway.batch(2, None).await;
    for code in &codes {
        page(&gateway, code, "painter-wang", "zh").await;
    }
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let (_, centre) = page_at(&gateway, "/me", Some("painter-wang")).await;
    assert_eq!(
        centre.matches("data-parcel=\"unclaimed\"").count(),
        2,
        "{centre}"
    );
    let sources: Vec<String> =
        sqlx::query_scalar("SELECT 'award:' || scan_id FROM awards ORDER BY scan_id")
            .fetch_all(&mut gateway.db.connect().await)
            .await
            .expect("awards");
    let form = |source: &str, phone: &str| {
        vec![
            ("source".to_string(), source.to_string()),
            ("name".into(), "王师傅".into()),
            ("phone".into(), phone.to_string()),
            ("region".into(), "上海市浦东新区".into()),
            ("address".into(), "张江路 88 号".into()),
        ]
    };
    let post = |member: &'static str, form: Vec<(String, String)>| {
        let gateway = &gateway;
        async move {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post_form(gateway, "/me/claim", member, &pairs).await
        }
    };

    // A bad phone shows the form again and writes nothing; a stranger claims nothing.
    let bad = post("painter-wang", form(&sources[0], "12345")).await;
    assert_eq!(bad.status().as_u16(), 200);
    assert!(
        bad.text()
            .await
            .expect("body")
            .contains(yima_pages::ZH.claim_invalid)
    );
    let stranger = post("painter-li", form(&sources[0], "13812345678")).await;
    assert_eq!(location(&stranger), "/me?done=claim_expired");
    assert_eq!(gateway.scalar("SELECT count(*) FROM claims").await, 0);

    // Once, whatever the taps.
    let claimed = post("painter-wang", form(&sources[0], "+86 138 1234 5678")).await;
    assert_eq!(location(&claimed), "/me?done=claimed");
    let again = post("painter-wang", form(&sources[0], "13812345678")).await;
    assert_eq!(location(&again), "/me?done=already_claimed");
    assert_eq!(gateway.scalar("SELECT count(*) FROM claims").await, 1);

    // Past the window the other prize has expired.
    gateway.clock.set(
        june_first()
            .checked_add(jiff::SignedDuration::from_hours(8 * 24))
            .expect("time"),
    );
    let late = post("painter-wang", form(&sources[1], "13812345678")).await;
    assert_eq!(location(&late), "/me?done=claim_expired");
    let (_, centre) = page_at(&gateway, "/me", Some("painter-wang")).await;
    assert!(
        centre.contains("data-parcel=\"expired\"") && centre.contains("data-parcel=\"claimed\""),
        "{centre}"
    );

    // Ops: the admin token only; the list, the CSV, ship once, then deliver.
    let (status, _) = gateway
        .get_as("/v1/admin/claims", Some(&member_token("painter-wang")))
        .await;
    assert_eq!(status, 403);
    let (status, listed) = gateway.get_as("/v1/admin/claims", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{listed}");
    let item = &json(&listed)["items"][0];
    assert_eq!(
        (item["gift_name"].as_str(), item["phone"].as_str()),
        (Some("保温杯"), Some("13812345678"))
    );
    let (_, csv) = gateway
        .get_as("/v1/admin/claims.csv", Some(ADMIN_TOKEN))
        .await;
    assert!(
        csv.starts_with("id,member,gift,")
            && csv.contains("painter-wang,保温杯,王师傅,13812345678"),
        "{csv}"
    );
    let id = item["id"].as_i64().expect("id");
    let ship = |carrier: &str, tracking: &str| {
        let body = json!({"carrier": carrier, "tracking": tracking}).to_string();
        let gateway = &gateway;
        async move {
            gateway
                .post(
                    &format!("/v1/admin/claims/{id}/ship"),
                    body,
                    Some(ADMIN_TOKEN),
                )
                .await
        }
    };
    let (status, first) = ship("顺丰", "SF1").await;
    assert_eq!(
        (status, json(&first)["status"].as_str()),
        (200, Some("shipped"))
    );
    let (status, same) = ship("顺丰", "SF1").await;
    assert_eq!(
        (status, json(&same)["status"].as_str()),
        (200, Some("already_shipped"))
    );
    let (status, other) = ship("EMS", "E2").await;
    assert_eq!(
        (status, json(&other)["error"].as_str()),
        (409, Some("claim_conflict"))
    );
    let (status, _) = ship("顺丰", "bad number").await;
    assert_eq!(status, 400);
    let (status, _) = gateway
        .post(
            "/v1/admin/claims/999999/ship",
            json!({"carrier": "顺丰", "tracking": "X"}).to_string(),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 404);
    let (status, delivered) = gateway
        .post(
            &format!("/v1/admin/claims/{id}/deliver"),
            "",
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        (status, json(&delivered)["status"].as_str()),
        (200, Some("delivered"))
    );
    let changes: Vec<String> = sqlx::query_scalar("SELECT change FROM claim_changes ORDER BY id")
        .fetch_all(&mut gateway.db.connect().await)
        .await
        .expect("changes");
    assert_eq!(
        changes,
        ["claimed", "shipped", "delivered"],
        "each step audited once"
    );
    let (_, centre) = page_at(&gateway, "/me", Some("painter-wang")).await;
    assert!(centre.contains("data-parcel=\"delivered\""), "{centre}");

    // Reconcile counts claims, and names one whose prize is not its member's.
    let reconcile = || {
        gateway
            .yima()
            .args(["reconcile", "--campaign", "test"])
            .output()
            .expect("yima runs")
    };
    let agreed = reconcile();
    assert!(agreed.status.success(), "{}", stderr(&agreed));
    assert!(
        stderr(&agreed).contains("claims: 1 delivered"),
        "{}",
        stderr(&agreed)
    );
    sqlx::query("UPDATE claims SET member = 'painter-li'")
        .execute(&mut gateway.db.connect().await)
        .await
        .expect("tamper");
    let tampered = reconcile();
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        stdout(&tampered).contains(&format!("claim {id} (award:")),
        "{}",
        stdout(&tampered)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logistics_teams_file_ships_every_parcel_or_none() {
    let gateway = centre_gateway().await;
    let (_, codes) = gateway.batch(2, None).await;
    for (code, member) in codes.iter().zip(["painter-wang", "painter-li"]) {
        page(&gateway, code, member, "zh").await;
    }
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    for member in ["painter-wang", "painter-li"] {
        let source: String =
            sqlx::query_scalar("SELECT 'award:' || scan_id FROM awards WHERE member = $1")
                .bind(member)
                .fetch_one(&mut gateway.db.connect().await)
                .await
                .expect("award");
        let claimed = post_form(
            &gateway,
            "/me/claim",
            member,
            &[
                ("source", &source),
                ("name", "收货人"),
                ("phone", "13812345678"),
                ("region", "广东省广州市"),
                ("address", "天河路 1 号"),
            ],
        )
        .await;
        assert_eq!(location(&claimed), "/me?done=claimed");
    }
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM claims ORDER BY id")
        .fetch_all(&mut gateway.db.connect().await)
        .await
        .expect("claims");
    let upload = |body: String| {
        let gateway = &gateway;
        async move {
            gateway
                .post("/v1/admin/claims/shipments", body, Some(ADMIN_TOKEN))
                .await
        }
    };
    let shipped = || gateway.scalar("SELECT count(*) FROM claims WHERE status = 'shipped'");

    let (status, body) = upload("id,carrier,tracking\nseven,顺丰,SF1\n".into()).await;
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (422, Some("invalid_shipments")),
        "{body}"
    );
    let (status, body) = upload(format!(
        "id,carrier,tracking\n{},顺丰,SF1\n999999,顺丰,SF2\n",
        ids[0]
    ))
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["problems"][0]["path"], "claim 999999");
    assert_eq!(shipped().await, 0, "one bad line ships nothing");
    let file = format!(
        "id,carrier,tracking\r\n{},顺丰,SF1\r\n{},EMS,E2\r\n",
        ids[0], ids[1]
    );
    let (status, body) = upload(file.clone()).await;
    assert_eq!(
        (status, json(&body)["shipped"].as_i64()),
        (200, Some(2)),
        "{body}"
    );
    let (_, again) = upload(file).await;
    assert_eq!(
        json(&again)["already_shipped"].as_i64(),
        Some(2),
        "an upload again changes nothing"
    );
    assert_eq!(shipped().await, 2);
    let (status, _) = gateway
        .post(
            "/v1/admin/claims/shipments",
            "id,carrier,tracking\n1,a,b\n",
            Some(SERVICE_TOKEN),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_architectures_invite_has_its_page_and_registers_once() {
    use yima_pages::Lang::{En, Zh};
    let gateway = centre_gateway().await;
    let invite = |architecture: &str, expires: Option<&str>| {
        let mut command = gateway.yima();
        command.args([
            "invite",
            "--architecture",
            architecture,
            "--channel",
            "expo",
        ]);
        if let Some(expires) = expires {
            command.args(["--expires", expires]);
        }
        let output = command.output().expect("yima runs");
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output).trim().to_string()
    };
    let dealer = invite("dealer", None);

    for (lang, code) in [(Zh, "zh"), (En, "en")] {
        let (status, html) = page_at(
            &gateway,
            &format!("/join?invite={dealer}&lang={code}"),
            Some("store-li"),
        )
        .await;
        assert_eq!(status, 200);
        assert_shows(&html, "join", lang, |w| w.join.title);
        assert!(html.contains("经销商"), "the architecture's name: {html}");
        let (status, forged) = page_at(
            &gateway,
            &format!("/join?invite={dealer}x&lang={code}"),
            Some("store-li"),
        )
        .await;
        assert_eq!(status, 404);
        assert_shows(&forged, "invite_invalid", lang, |w| w.invite_invalid.title);
        let old = invite("dealer", Some("2020-01-01T00:00:00Z"));
        let (status, expired) = page_at(
            &gateway,
            &format!("/join?invite={old}&lang={code}"),
            Some("store-li"),
        )
        .await;
        assert_eq!(status, 410);
        assert_shows(&expired, "invite_expired", lang, |w| w.invite_expired.title);
    }
    // Without a session the page logs in first, and comes back to the invite.
    let (_, anonymous) = page_at(&gateway, &format!("/join?invite={dealer}"), None).await;
    assert_eq!(shown(&anonymous).0, "login");

    let bad = post_form(
        &gateway,
        "/join",
        "store-li",
        &[("invite", &dealer), ("nickname", "李老板"), ("phone", "12")],
    )
    .await;
    assert_eq!(bad.status().as_u16(), 200);
    assert!(
        bad.text()
            .await
            .expect("body")
            .contains(yima_pages::ZH.join_invalid)
    );
    let joined = post_form(
        &gateway,
        "/join",
        "store-li",
        &[
            ("invite", &dealer),
            ("nickname", "李老板"),
            ("phone", "138 1234 5678"),
        ],
    )
    .await;
    assert_eq!(joined.status().as_u16(), 200);
    assert_shows(&joined.text().await.expect("body"), "joined", Zh, |w| {
        w.joined.title
    });
    let (_, me) = gateway
        .get_as("/v1/me", Some(&member_token("store-li")))
        .await;
    assert_eq!(json(&me)["registration"]["architecture"], "dealer", "{me}");
    assert_eq!(json(&me)["registration"]["phone"], "138****5678");
    let decorator = invite("decorator", None);
    let elsewhere = post_form(
        &gateway,
        "/join",
        "store-li",
        &[("invite", &decorator), ("nickname", "李老板")],
    )
    .await;
    assert_eq!(
        elsewhere.status().as_u16(),
        409,
        "one architecture per member"
    );
}
