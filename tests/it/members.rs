//! Member identity: every member door takes the member from a verified credential and
//! refuses the rest, against a real gateway, Redis and Postgres.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::support::*;
use yima_gateway::Clock;

const PRIZES: &str = r#"
[[prizes]]
id = "cup"
name = "Cup"
kind = "item"
value = 5900
stock = 1000
odds = [0, 0]

[[mall]]
id = "towel"
name = "Towel"
price = 10
stock = 100
"#;

/// A campaign whose scans pay 10 points, with a sign-in task and a 10-point gift.
fn rules() -> String {
    campaign(1000, "sign_in_points = 5", PRIZES)
}

/// An HS256 token with these claims under `secret`.
fn signed(claims: serde_json::Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("signs")
}

fn b64(value: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Every way a member credential can be bad, by name.
fn bad_credentials(member: &str) -> Vec<(&'static str, Option<String>)> {
    let now = unix_now();
    let claims = |extra: serde_json::Value| {
        let mut claims = json!({"sub": member, "exp": now + 600});
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            claims.extend(extra.clone());
        }
        claims
    };
    vec![
        ("no credential", None),
        (
            "not a bearer",
            Some(format!("Basic {}", member_token(member))),
        ),
        ("garbage", Some("Bearer not-a-token".into())),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                signed(json!({"sub": member, "exp": now - 3600}), JWT_SECRET)
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                signed(json!({"sub": member}), JWT_SECRET)
            )),
        ),
        (
            "another secret",
            Some(format!(
                "Bearer {}",
                signed(claims(json!({})), "another-secret-of-at-least-32-bytes")
            )),
        ),
        (
            "alg none",
            Some(format!(
                "Bearer {}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims(json!({})))
            )),
        ),
        (
            "tampered sub",
            Some({
                let genuine = member_token("somebody-else");
                let parts: Vec<&str> = genuine.split('.').collect();
                format!(
                    "Bearer {}.{}.{}",
                    parts[0],
                    b64(&claims(json!({}))),
                    parts[2]
                )
            }),
        ),
    ]
}

async fn send(
    gateway: &TestGateway,
    method: &str,
    path: &str,
    body: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    let url = format!("{}{path}", gateway.base);
    let mut request = match method {
        "GET" => gateway.http.get(url),
        _ => gateway.http.post(url).body(body.to_string()),
    };
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    if status == 401 {
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    (status, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_route_refuses_a_bad_credential_and_changes_nothing() {
    let gateway = TestGateway::start(&rules(), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(1, None).await;
    let scan = json!({"code": codes[0]}).to_string();
    let routes = [
        ("POST", "/v1/scan", scan.as_str()),
        ("GET", "/v1/me", ""),
        (
            "POST",
            "/v1/me/redeem",
            r#"{"item":"towel","request_id":"r1"}"#,
        ),
        ("POST", "/v1/me/sign-in", ""),
        ("GET", "/v1/me/scans", ""),
        ("GET", "/v1/me/awards", ""),
        ("GET", "/v1/me/ledger?limit=5", ""),
    ];
    for (method, path, body) in routes {
        for (what, credential) in bad_credentials("wang") {
            let (status, answer) = send(&gateway, method, path, body, credential.as_deref()).await;
            assert_eq!(
                (status, answer.as_str()),
                (401, r#"{"error":"unauthorized"}"#),
                "{method} {path} with {what}"
            );
        }
        // Valid credentials that name no member of their own.
        for token in [SERVICE_TOKEN, ADMIN_TOKEN] {
            if path == "/v1/scan" && token == SERVICE_TOKEN {
                continue; // the service key scans for the member it names
            }
            let (status, answer) = send(
                &gateway,
                method,
                path,
                body,
                Some(&format!("Bearer {token}")),
            )
            .await;
            assert_eq!(
                (status, answer.as_str()),
                (403, r#"{"error":"forbidden"}"#),
                "{method} {path} with {token}"
            );
        }
    }
    // Nothing was redeemed, signed in or bought.
    assert_eq!(
        status(&gateway.scan(&codes[0], "wang", "consumer").await.1),
        "no_prize"
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM points_entries").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_end_routes_take_the_service_key_or_admin_never_a_member_token() {
    let gateway = TestGateway::start(&rules(), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(1, None).await;
    gateway.scan(&codes[0], "wang", "consumer").await;
    let routes = [
        ("GET", "/v1/members/wang", ""),
        (
            "POST",
            "/v1/members/wang/redeem",
            r#"{"item":"towel","request_id":"r1"}"#,
        ),
        ("POST", "/v1/members/wang/sign-in", ""),
    ];
    for (method, path, body) in routes {
        for (what, credential) in bad_credentials("wang") {
            let (status, _) = send(&gateway, method, path, body, credential.as_deref()).await;
            assert_eq!(status, 401, "{method} {path} with {what}");
        }
        // Not even wang's own token: members use /v1/me.
        for member in ["wang", "li"] {
            let bearer = format!("Bearer {}", member_token(member));
            let (status, answer) = send(&gateway, method, path, body, Some(&bearer)).await;
            assert_eq!(
                (status, answer.as_str()),
                (403, r#"{"error":"forbidden"}"#),
                "{method} {path} as {member}"
            );
        }
    }
    let (status, body) = gateway.get("/v1/members/wang").await;
    assert_eq!((status, json(&body)["points"].as_i64()), (200, Some(10)));
    let (status, body) = gateway.get_as("/v1/members/wang", Some(ADMIN_TOKEN)).await;
    assert_eq!((status, json(&body)["points"].as_i64()), (200, Some(10)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_spend_or_scan_as_another_member() {
    let gateway = TestGateway::start(&rules(), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(3, None).await;
    for code in &codes[..2] {
        assert_eq!(
            status(&gateway.scan(code, "wang", "consumer").await.1),
            "no_prize"
        );
    }
    let mut worker = gateway.worker("settle").await;
    gateway.drain(&mut worker).await;
    let before = gateway.get("/v1/members/wang").await.1;
    assert_eq!(json(&before)["points"], 20, "{before}");

    // The old hole: li names wang in the path, or in the scan body.
    let li = member_token("li");
    let purchase = r#"{"item":"towel","request_id":"li-takes-wang"}"#;
    let (status_code, _) = gateway
        .post("/v1/members/wang/redeem", purchase, Some(&li))
        .await;
    assert_eq!(status_code, 403);
    let (status_code, _) = gateway
        .post("/v1/members/wang/sign-in", "", Some(&li))
        .await;
    assert_eq!(status_code, 403);
    let as_wang = json!({"code": codes[2], "member": "wang"}).to_string();
    let (status_code, answer) = gateway.post("/v1/scan", as_wang, Some(&li)).await;
    assert_eq!(
        (status_code, answer.as_str()),
        (403, r#"{"error":"forbidden"}"#)
    );
    // li's own purchase spends li's points (none), not wang's.
    let (status_code, answer) = gateway.post("/v1/me/redeem", purchase, Some(&li)).await;
    assert_eq!(
        (status_code, answer.as_str()),
        (404, r#"{"error":"unknown_member"}"#)
    );
    assert_eq!(gateway.get("/v1/members/wang").await.1, before);
    assert_eq!(gateway.scalar("SELECT count(*) FROM mall_orders").await, 0);
    // The code li tried is still wang's to scan, and a body naming wang is fine for
    // wang's own token.
    let mine = json!({"code": codes[2], "member": "wang"}).to_string();
    let (status_code, answer) = gateway
        .post("/v1/scan", mine, Some(&member_token("wang")))
        .await;
    assert_eq!((status_code, status(&answer).as_str()), (200, "no_prize"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reads_signs_in_and_buys_with_their_own_token() {
    let gateway = TestGateway::start(&rules(), Clock::fixed(june_first())).await;
    let wang = member_token("wang");
    let (status_code, body) = gateway.get_as("/v1/me", Some(&wang)).await;
    assert_eq!(status_code, 200, "{body}");
    let me = json(&body);
    assert_eq!(me["member"], "wang");
    assert_eq!(me["campaigns"][0]["campaign"], "test");
    assert_eq!(me["campaigns"][0]["points"], 0);
    assert_eq!(me["campaigns"][0]["level"], 1);
    assert_eq!(me["campaigns"][0]["level_name"], "apprentice");

    let (_, codes) = gateway.batch(1, None).await;
    gateway.scan(&codes[0], "wang", "consumer").await;
    let (status_code, body) = gateway.post("/v1/me/sign-in", "", Some(&wang)).await;
    assert_eq!(
        (status_code, status(&body).as_str()),
        (200, "signed_in"),
        "{body}"
    );
    let (_, body) = gateway.post("/v1/me/sign-in", "", Some(&wang)).await;
    assert_eq!(status(&body), "already_signed_in");
    let mut worker = gateway.worker("settle").await;
    gateway.drain(&mut worker).await;
    let me = json(&gateway.get_as("/v1/me", Some(&wang)).await.1);
    assert_eq!(me["campaigns"][0]["points"], 15, "{me}");
    assert_eq!(me["campaigns"][0]["scans"], 1, "{me}");

    let purchase = r#"{"item":"towel","request_id":"wang-1"}"#;
    let (status_code, body) = gateway.post("/v1/me/redeem", purchase, Some(&wang)).await;
    assert_eq!(status_code, 200, "{body}");
    assert_eq!(json(&body)["points"], 5);
    // Li's state is untouched and separate.
    let li = json(&gateway.get_as("/v1/me", Some(&member_token("li"))).await.1);
    assert_eq!(li["campaigns"][0]["points"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_audience_and_a_jwks_file_are_enforced() {
    let dir = tempfile::tempdir().expect("dir");
    let jwks = dir.path().join("members.jwks.json");
    let rsa_pem =
        std::fs::read(repo().join("crates/identity/testdata/test-only-rsa.pem")).expect("test key");
    let rsa = EncodingKey::from_rsa_pem(&rsa_pem).expect("rsa");
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&rsa, Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some("brand-2026".into());
    std::fs::write(&jwks, json!({"keys": [jwk]}).to_string()).expect("write");

    let gateway = TestGateway::start_configured(&rules(), Clock::fixed(june_first()), |config| {
        config.members.jwt_secret = None;
        config.members.jwks_file = Some(jwks.clone());
        config.members.issuer = Some("https://login.brand.example".into());
        config.members.audience = Some("yima".into());
    })
    .await;
    let now = unix_now();
    let token = |kid: Option<&str>, claims: serde_json::Value| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(Into::into);
        jsonwebtoken::encode(&header, &claims, &rsa).expect("signs")
    };
    let good = json!({"sub": "dealer-li", "exp": now + 600,
        "iss": "https://login.brand.example", "aud": "yima"});
    let (status_code, body) = gateway
        .get_as("/v1/me", Some(&token(Some("brand-2026"), good.clone())))
        .await;
    assert_eq!(
        (status_code, json(&body)["member"].as_str()),
        (200, Some("dealer-li"))
    );

    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("another-app");
    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut no_audience = good.clone();
    no_audience.as_object_mut().expect("object").remove("aud");
    for (what, bad) in [
        ("wrong audience", token(Some("brand-2026"), wrong_audience)),
        ("wrong issuer", token(Some("brand-2026"), wrong_issuer)),
        ("no audience", token(Some("brand-2026"), no_audience)),
        ("unknown kid", token(Some("brand-2025"), good.clone())),
        ("no kid", token(None, good.clone())),
        // The demo's HS256 token, even with the right claims: no secret is configured.
        ("hs256", signed(good.clone(), JWT_SECRET)),
    ] {
        let (status_code, _) = gateway.get_as("/v1/me", Some(&bad)).await;
        assert_eq!(status_code, 401, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_login_exists_only_when_asked_for_and_only_on_loopback() {
    let plain = TestGateway::start(&rules(), Clock::fixed(june_first())).await;
    let (status_code, body) = plain
        .post("/v1/dev/login", r#"{"member":"wang"}"#, None)
        .await;
    assert_eq!(
        (status_code, body.as_str()),
        (404, r#"{"error":"not_found"}"#)
    );

    let demo = TestGateway::start_configured(&rules(), Clock::fixed(june_first()), |config| {
        config.members.dev_login = true;
    })
    .await;
    let (status_code, body) = demo
        .post("/v1/dev/login", r#"{"member":"wang"}"#, None)
        .await;
    assert_eq!(status_code, 200, "{body}");
    let token = json(&body)["token"].as_str().expect("a token").to_string();
    let me = json(&demo.get_as("/v1/me", Some(&token)).await.1);
    assert_eq!(me["member"], "wang");
    for bad in [r#"{"member":"a b"}"#, r#"{}"#, "{"] {
        let (status_code, _) = demo.post("/v1/dev/login", bad, None).await;
        assert_eq!(status_code, 400, "{bad}");
    }

    // Anywhere but loopback the gateway refuses to start at all.
    let mut config = demo.config.clone();
    config.members.dev_login = true;
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let refused = yima::app::GatewayApp::build(&config, Clock::fixed(june_first()), listener, 1)
        .await
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("non-loopback"), "{refused:#}");
}
