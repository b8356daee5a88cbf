//! The member registry against a real gateway, Redis and Postgres: invites that cannot
//! be forged or outlive their expiry, one registration per member, the scan role that
//! follows the architecture, blocks, and ops' search, tags and export.

use serde_json::json;

use crate::support::*;
use yima_gateway::Clock;

async fn invite(gateway: &TestGateway, body: serde_json::Value) -> String {
    let (status_code, answer) = gateway
        .post("/v1/admin/invites", body.to_string(), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status_code, 201, "{answer}");
    json(&answer)["invite"]
        .as_str()
        .expect("invite")
        .to_string()
}

async fn register(gateway: &TestGateway, member: &str, body: serde_json::Value) -> (u16, String) {
    gateway
        .post(
            "/v1/me/register",
            body.to_string(),
            Some(&member_token(member)),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_registers_a_member_once_in_its_architecture() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let dealer = invite(
        &gateway,
        json!({"architecture": "dealer", "channel": "expo-2026", "tags": ["vip", "华东"],
               "expires_at": "2099-01-01T00:00:00+08:00"}),
    )
    .await;
    let profile = json!({"invite": dealer, "nickname": "李老板", "region": "SH",
        "birthday": "1980-05-04", "phone": "+86 138 1234 5678"});
    let (status_code, body) = register(&gateway, "store-li", profile.clone()).await;
    assert_eq!(status_code, 200, "{body}");
    let first = json(&body);
    assert_eq!(first["status"], "registered");
    assert_eq!(first["architecture"], "dealer");
    assert_eq!(first["architecture_name"], "经销商");
    assert_eq!(first["channel"], "expo-2026");
    assert_eq!(first["phone"], "138****5678");
    assert_eq!(first["tags"], json!(["vip", "华东"]));
    assert_eq!(first["blocked"], false);

    // Again, and ten at once: one member, nothing changed.
    let again = register(&gateway, "store-li", profile.clone()).await;
    assert_eq!(again.0, 200);
    assert_eq!(json(&again.1)["status"], "already_registered");
    assert_eq!(
        json(&again.1)["registered_at_ms"],
        first["registered_at_ms"]
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (http, url) = (
            gateway.http.clone(),
            format!("{}/v1/me/register", gateway.base),
        );
        let body = json!({"invite": profile["invite"]}).to_string();
        tasks.spawn(async move {
            http.post(url)
                .bearer_auth(member_token("store-zhao"))
                .body(body)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        });
    }
    while let Some(status_code) = tasks.join_next().await {
        assert_eq!(status_code.expect("task"), 200);
    }
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM member_registry WHERE member = 'store-zhao'")
            .await,
        1
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM member_changes WHERE member = 'store-zhao'")
            .await,
        1
    );

    // A second architecture is refused: one member, one architecture, one role.
    let tradesman = invite(
        &gateway,
        json!({"architecture": "tradesman", "channel": "store-1"}),
    )
    .await;
    let (status_code, body) = register(&gateway, "store-li", json!({"invite": tradesman})).await;
    assert_eq!(
        (status_code, body.as_str()),
        (409, r#"{"error":"already_registered"}"#)
    );

    // `yima invite` makes the same kind of invite, from the configuration alone.
    let printed = run_ok(gateway.yima().args([
        "invite",
        "--architecture",
        "decorator",
        "--channel",
        "fair",
        "--tag",
        "vip",
    ]));
    let printed = String::from_utf8(printed.stdout).expect("utf-8");
    let (status_code, body) = register(&gateway, "deco-1", json!({"invite": printed.trim()})).await;
    assert_eq!(
        (status_code, json(&body)["architecture"].as_str()),
        (200, Some("decorator"))
    );
    assert_eq!(json(&body)["tags"], json!(["vip"]));
    let refused =
        run_err(
            gateway
                .yima()
                .args(["invite", "--architecture", "boss", "--channel", "x"]),
        );
    assert!(refused.contains("architecture must be one of"), "{refused}");
    let me = json(
        &gateway
            .get_as("/v1/me", Some(&member_token("store-li")))
            .await
            .1,
    );
    assert_eq!(me["registration"]["architecture"], "dealer");
    assert_eq!(me["registration"]["nickname"], "李老板");
    let stranger = json(
        &gateway
            .get_as("/v1/me", Some(&member_token("nobody")))
            .await
            .1,
    );
    assert!(stranger["registration"].is_null());
    // The full number is nowhere in the registry.
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM member_registry WHERE row_to_json(member_registry)::text LIKE '%13812345678%'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_cannot_be_forged_tampered_or_used_past_expiry() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let forger =
        yima_identity::Invites::new(b"the-forger-s-own-secret-of-32-bytes!").expect("secret");
    let forged = forger
        .issue("dealer", "self-made", vec![], None)
        .expect("signs");
    let genuine = invite(
        &gateway,
        json!({"architecture": "tradesman", "channel": "store-1"}),
    )
    .await;
    let parts: Vec<&str> = genuine.split('.').collect();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"arch":"dealer","channel":"store-1","typ":"invite"}"#);
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let past = invite(
        &gateway,
        json!({"architecture": "dealer", "channel": "expo", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    for (what, text, expected) in [
        ("forged", forged, (422, r#"{"error":"invalid_invite"}"#)),
        ("tampered", tampered, (422, r#"{"error":"invalid_invite"}"#)),
        (
            "a member token",
            member_token("wang"),
            (422, r#"{"error":"invalid_invite"}"#),
        ),
        ("expired", past, (410, r#"{"error":"invite_expired"}"#)),
    ] {
        let (status_code, body) = register(&gateway, "wang", json!({"invite": text})).await;
        assert_eq!((status_code, body.as_str()), expected, "{what}");
    }
    for bad in [
        json!({"invite": genuine, "phone": "12345"}),
        json!({"invite": genuine, "birthday": "1990-02-30"}),
        json!({"invite": genuine, "nickname": ""}),
        json!({"invite": genuine, "region": "上海"}),
        json!({"invite": genuine, "extra": 1}),
    ] {
        let (status_code, _) = register(&gateway, "wang", bad.clone()).await;
        assert_eq!(status_code, 400, "{bad}");
    }
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM member_registry").await,
        0
    );
    // Invites for what the brand does not have are never made.
    for bad in [
        json!({"architecture": "boss", "channel": "x"}),
        json!({"architecture": "dealer", "channel": "Bad Channel"}),
        json!({"architecture": "dealer", "channel": "x", "expires_at": "tomorrow"}),
    ] {
        let (status_code, _) = gateway
            .post("/v1/admin/invites", bad.to_string(), Some(ADMIN_TOKEN))
            .await;
        assert_eq!(status_code, 400, "{bad}");
    }
    let (status_code, _) = gateway
        .post(
            "/v1/admin/invites",
            json!({"architecture": "dealer", "channel": "x"}).to_string(),
            Some(SERVICE_TOKEN),
        )
        .await;
    assert_eq!(status_code, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_role_follows_the_architecture_and_one_member_never_takes_two() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(3, None).await;
    // Nobody unregistered scans as a dealer.
    let (status_code, body) = gateway.scan(&codes[0], "wang", "dealer").await;
    assert_eq!(
        (status_code, body.as_str()),
        (403, r#"{"error":"forbidden"}"#)
    );

    let dealer = invite(
        &gateway,
        json!({"architecture": "dealer", "channel": "expo"}),
    )
    .await;
    assert_eq!(
        register(&gateway, "store-li", json!({"invite": dealer}))
            .await
            .0,
        200
    );
    gateway
        .until_catalog("store-li a dealer", |c| {
            c.standing("store-li").is_some_and(|s| s.dealer)
        })
        .await;
    // 一码两扫: the consumer and the dealer each redeem the label once.
    let (_, consumer) = gateway.scan(&codes[0], "wang", "consumer").await;
    assert_eq!(status(&consumer), "no_prize");
    let (status_code, answer) = gateway.scan(&codes[0], "store-li", "dealer").await;
    assert_eq!((status_code, status(&answer).as_str()), (200, "no_prize"));
    // The dealer cannot take the consumer's side of any label, so never both.
    for code in &codes {
        let (status_code, _) = gateway.scan(code, "store-li", "consumer").await;
        assert_eq!(status_code, 403);
    }
    // A body without a role takes the member's own.
    let mine = json!({"code": codes[1]}).to_string();
    let (_, answer) = gateway
        .post("/v1/scan", mine.clone(), Some(&member_token("store-li")))
        .await;
    assert_eq!(status(&answer), "no_prize");
    let (_, again) = gateway.scan(&codes[1], "store-li", "dealer").await;
    assert_eq!(again, answer, "the role-less scan was the dealer's");
    assert_eq!(
        status(&gateway.scan(&codes[1], "wang", "consumer").await.1),
        "no_prize",
        "and left the consumer's side untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_member_draws_nothing_until_unblocked() {
    let prize = "[[prizes]]\nid = \"cup\"\nname = \"Cup\"\nkind = \"item\"\nvalue = 5900\nstock = 10\nodds = [1000000, 1000000]\n";
    let gateway = TestGateway::start(&campaign(30, "", prize), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(3, None).await;
    let (_, won) = gateway.scan(&codes[0], "wang", "consumer").await;
    assert_eq!(status(&won), "won");
    let block = json!({"reason": "bought codes from a printer"}).to_string();
    let (status_code, body) = gateway
        .post(
            "/v1/admin/members/wang/block",
            block.clone(),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        (status_code, json(&body)["changed"].as_bool()),
        (200, Some(true))
    );
    let (_, body) = gateway
        .post("/v1/admin/members/wang/block", block, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(json(&body)["changed"], false);
    gateway
        .until_catalog("wang blocked", |c| {
            c.standing("wang").is_some_and(|s| s.blocked)
        })
        .await;

    let (status_code, body) = gateway.scan(&codes[1], "wang", "consumer").await;
    let answer = json(&body);
    assert_eq!(
        (status_code, answer["status"].as_str()),
        (200, Some("blocked"))
    );
    assert_eq!(answer["points"], 10, "the points already earned are shown");
    // A retry of what wang scanned before the block is still the same answer.
    assert_eq!(gateway.scan(&codes[0], "wang", "consumer").await.1, won);
    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(
        (stats["scans"].as_i64(), stats["wins"].as_i64()),
        (Some(1), Some(1))
    );

    let (status_code, _) = gateway
        .post("/v1/admin/members/wang/unblock", "", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status_code, 200);
    gateway
        .until_catalog("wang unblocked", |c| c.standing("wang").is_none())
        .await;
    assert_eq!(
        status(&gateway.scan(&codes[1], "wang", "consumer").await.1),
        "won"
    );
    let audit = gateway
        .scalar("SELECT count(*) FROM member_changes WHERE member = 'wang' AND change IN ('blocked', 'unblocked')")
        .await;
    assert_eq!(audit, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_search_tag_and_export_members() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let dealers = invite(
        &gateway,
        json!({"architecture": "dealer", "channel": "expo"}),
    )
    .await;
    let painters = invite(
        &gateway,
        json!({"architecture": "tradesman", "channel": "store-9", "tags": ["new"]}),
    )
    .await;
    for (member, invite, region, phone) in [
        ("d1", &dealers, "SH", "+86 138 0000 0001"),
        ("d2", &dealers, "GD", "138 0000 0002"),
        ("d3", &dealers, "SH", "13800000003"),
        ("p1", &painters, "SH", "13800000004"),
        ("p2", &painters, "GD", "13800000005"),
    ] {
        let body = json!({"invite": invite, "region": region, "phone": phone,
            "nickname": "=cmd|' /C calc'!A0"});
        assert_eq!(register(&gateway, member, body).await.0, 200);
    }
    let page = |query: &str| {
        let query = query.to_string();
        let gateway = &gateway;
        async move {
            let (status_code, body) = gateway
                .get_as(&format!("/v1/admin/members?{query}"), Some(ADMIN_TOKEN))
                .await;
            assert_eq!(status_code, 200, "{query}: {body}");
            json(&body)
        }
    };
    let members = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["member"].as_str().expect("member").to_string())
            .collect()
    };
    let first = page("architecture=dealer&limit=2").await;
    assert_eq!(members(&first), ["d1", "d2"]);
    let cursor = first["next_cursor"].as_str().expect("more");
    let second = page(&format!("architecture=dealer&limit=2&cursor={cursor}")).await;
    assert_eq!(members(&second), ["d3"]);
    assert!(second["next_cursor"].is_null());
    assert_eq!(members(&page("region=SH").await), ["d1", "d3", "p1"]);
    assert_eq!(members(&page("channel=store-9").await), ["p1", "p2"]);
    assert_eq!(members(&page("tag=new").await), ["p1", "p2"]);
    // A phone is found by its digest, however it is written.
    assert_eq!(members(&page("phone=13800000001").await), ["d1"]);
    assert_eq!(members(&page("phone=%2B86-138-0000-0002").await), ["d2"]);
    let (status_code, _) = gateway
        .get_as("/v1/admin/members?phone=12345", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status_code, 400);

    let retag = json!({"add": ["gold", "金牌"], "remove": ["new"]}).to_string();
    let (status_code, body) = gateway
        .post("/v1/admin/members/p1/tags", retag, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status_code, 200, "{body}");
    assert_eq!(json(&body)["tags"], json!(["gold", "金牌"]));
    assert_eq!(members(&page("tag=new").await), ["p2"]);
    assert_eq!(
        members(&page("tag=gold&architecture=tradesman").await),
        ["p1"]
    );
    let (status_code, _) = gateway
        .post(
            "/v1/admin/members/ghost/tags",
            r#"{"add":["x"]}"#,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status_code, 404);
    let (status_code, _) = gateway
        .post(
            "/v1/admin/members/p1/tags",
            r#"{"add":["Not OK"]}"#,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status_code, 400);

    let response = gateway
        .http
        .get(format!("{}/v1/admin/members.csv?region=SH", gateway.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    let csv = response.text().await.expect("body");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("member,architecture,channel"));
    assert!(
        lines[1].starts_with("d1,dealer,expo,\"'=cmd"),
        "a formula is defused: {}",
        lines[1]
    );
    let (status_code, _) = gateway
        .get_as("/v1/admin/members.csv", Some(SERVICE_TOKEN))
        .await;
    assert_eq!(status_code, 403);
}
