//! `/v1/admin/*`: the CLI's campaign and batch commands over HTTP, behind the token.

mod support;

use support::*;
use yima_gateway::Clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_a_missing_or_wrong_token() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let (batch, _) = gateway.batch(1, None).await;
    let routes = [
        "/v1/admin/campaigns".to_string(),
        "/v1/admin/batches".to_string(),
        format!("/v1/admin/batches/{batch}/void"),
    ];
    for route in &routes {
        for token in [
            None,
            Some("wrong"),
            Some(""),
            Some("test-admin-token-and-more"),
        ] {
            let (status, body) = gateway.post(route, "{}", token).await;
            assert_eq!(
                (status, body.as_str()),
                (401, r#"{"error":"unauthorized"}"#),
                "{route} {token:?}"
            );
        }
    }
    for token in [None, Some("wrong")] {
        let mut request = gateway.http.get(format!(
            "{}/v1/admin/campaigns/test/diversions",
            gateway.base
        ));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), 401, "diversions {token:?}");
    }
    // None of those voided the batch.
    let loaded = gateway.ledger.batch(batch).await.expect("batch");
    assert_eq!(loaded.status, yima_ledger::BatchStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_campaign_is_refused_with_every_problem_and_changes_nothing() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let invalid = campaign(0, "", "")
        .replace("Asia/Shanghai", "Asia/Nowhere")
        .replace("min_growth = 100", "min_growth = 0");
    let (status, body) = gateway
        .post("/v1/admin/campaigns", invalid, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 422, "{body}");
    let answer = json(&body);
    assert_eq!(answer["error"], "invalid_campaign");
    let paths: Vec<&str> = answer["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths,
        ["timezone", "daily_scan_limit", "levels[1].min_growth"],
        "{body}"
    );
    let (revision,): (i32,) = sqlx::query_as("SELECT revision FROM campaigns WHERE id = 'test'")
        .fetch_one(&mut gateway.db.connect().await)
        .await
        .expect("revision");
    assert_eq!(revision, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_campaign_reaches_the_running_gateway_without_a_restart() {
    let prizes = |stock: u32| {
        format!(
            "[[prizes]]\nid = \"cup\"\nname = \"Cup\"\nkind = \"item\"\nvalue = 5900\nstock = {stock}\nodds = [1000000, 1000000]\n"
        )
    };
    let gateway =
        TestGateway::start(&campaign(30, "", &prizes(1)), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(4, None).await;
    assert_eq!(
        json(&gateway.scan(&codes[0], "wang", "consumer").await.1)["status"],
        "won"
    );
    assert_eq!(
        json(&gateway.scan(&codes[1], "wang", "consumer").await.1)["status"],
        "no_prize"
    );

    let (status, body) = gateway
        .post(
            "/v1/admin/campaigns",
            campaign(30, "", &prizes(3)),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        (status, json(&body)["result"].as_str()),
        (200, Some("updated")),
        "{body}"
    );
    let (status, body) = gateway
        .post(
            "/v1/admin/campaigns",
            campaign(30, "", &prizes(3)),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        (status, json(&body)["result"].as_str()),
        (200, Some("unchanged")),
        "{body}"
    );
    gateway
        .until_catalog("revision 2", |catalog| {
            catalog.campaign("test").is_some_and(|c| c.revision == 2)
        })
        .await;
    assert_eq!(
        json(&gateway.scan(&codes[2], "wang", "consumer").await.1)["status"],
        "won"
    );
    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(
        (
            stats["prizes"][0]["stock"].as_i64(),
            stats["prizes"][0]["remaining"].as_i64()
        ),
        (Some(3), Some(1))
    );
    let public = json(&gateway.get("/v1/campaigns/test").await.1);
    assert_eq!(public["revision"], 2);
    assert_eq!(public["draw_commitment"].as_str().map(str::len), Some(64));
    assert_eq!(
        public["draw_secret"],
        serde_json::Value::Null,
        "secret revealed before the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_created_and_voided_over_http() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let (status, body) = gateway
        .post(
            "/v1/admin/batches",
            r#"{"campaign":"test","sku":"PUTTY","count":10,"region":"CN-31"}"#,
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let created = json(&body);
    assert_eq!(
        (created["count"].as_u64(), created["region"].as_str()),
        (Some(10), Some("CN-31"))
    );
    let id = created["id"].as_u64().expect("id");
    let cases = [
        (
            r#"{"campaign":"nope","sku":"X","count":1}"#,
            404,
            "unknown_campaign",
        ),
        (
            r#"{"campaign":"test","sku":"X","count":0}"#,
            400,
            "count must be between",
        ),
        (
            r#"{"campaign":"test","sku":"X","count":-1}"#,
            400,
            "invalid value",
        ),
        (
            r#"{"campaign":"test","sku":"X","count":1,"colour":"red"}"#,
            400,
            "unknown field `colour`",
        ),
    ];
    for (body, status, expected) in cases {
        let (got, answer) = gateway
            .post("/v1/admin/batches", body, Some(ADMIN_TOKEN))
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer.contains(expected), "{body}: {answer}");
    }
    let (status, _) = gateway
        .post(
            &format!("/v1/admin/batches/{id}/void"),
            "",
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = gateway
        .post("/v1/admin/batches/999999/void", "", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":"unknown_batch"}"#)
    );
    let (status, _) = gateway
        .post("/v1/admin/batches/abc/void", "", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 400);
}
