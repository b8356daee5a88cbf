//! `/v1/admin/*`: the CLI's campaign and batch commands over HTTP, behind the token.

use crate::support::*;
use yima_gateway::Clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_a_missing_or_wrong_token() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let (batch, _) = gateway.batch(1, None).await;
    let routes = [
        "/v1/admin/campaigns".to_string(),
        "/v1/admin/batches".to_string(),
        format!("/v1/admin/batches/{batch}/void"),
        // Not a batch id: the credential is checked before the path is read.
        "/v1/admin/batches/not-a-number/void".to_string(),
    ];
    for route in &routes {
        for token in [
            None,
            Some("wrong"),
            Some(""),
            Some("test-admin-token-and-more"),
        ] {
            // A body that is not JSON gets the same answer: nothing is read first.
            for sent in ["{}", "not json"] {
                let (status, body) = gateway.post(route, sent, token).await;
                assert_eq!(
                    (status, body.as_str()),
                    (401, r#"{"error":"unauthorized"}"#),
                    "{route} {token:?} {sent}"
                );
            }
        }
    }
    // Finding 15.10: the dashboard's data lists members' diverted scans.
    for path in ["/v1/admin/campaigns/test/diversions", "/dashboard/data"] {
        for token in [None, Some("wrong")] {
            let mut request = gateway.http.get(format!("{}{path}", gateway.base));
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let response = request.send().await.expect("request");
            assert_eq!(response.status().as_u16(), 401, "{path} {token:?}");
        }
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

/// Finding 15.1: a running campaign once took any valid file. Changing `lanes` moved
/// every key (codes redeemed again), renaming a prize restarted its stock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_campaign_refuses_unsafe_edits_through_the_route_and_the_cli() {
    let cup = |id: &str, stock: u32| {
        format!(
            "[[prizes]]\nid = \"{id}\"\nname = \"Cup\"\nkind = \"item\"\nvalue = 5900\nstock = {stock}\nodds = [1000000, 1000000]\n"
        )
    };
    let gateway = TestGateway::start(
        &campaign(30, "", &cup("cup", 5)),
        Clock::fixed(june_first()),
    )
    .await;
    let (_, codes) = gateway.batch(4, None).await;
    for code in &codes[..2] {
        assert_eq!(
            status(&gateway.scan(code, "wang", "consumer").await.1),
            "won"
        );
    }
    let refused = [
        (campaign(30, "lanes = 2", &cup("cup", 5)), vec!["lanes"]),
        (campaign(30, "", &cup("mug", 5)), vec!["prizes"]),
        (campaign(30, "", &cup("cup", 1)), vec!["prizes[0].stock"]),
        (
            campaign(30, "", &cup("cup", 5)).replace("Asia/Shanghai", "Asia/Tokyo"),
            vec!["timezone"],
        ),
        (
            campaign(30, "", &cup("cup", 5)).replace("2027-12-31T23:59:59", "2026-05-31T23:59:59"),
            vec!["ends_at"],
        ),
    ];
    for (file, paths) in &refused {
        let (code, body) = gateway
            .post("/v1/admin/campaigns", file.clone(), Some(ADMIN_TOKEN))
            .await;
        assert_eq!(code, 409, "{body}");
        let answer = json(&body);
        assert_eq!(answer["error"], "refused_change", "{body}");
        let got: Vec<&str> = answer["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .map(|p| p["path"].as_str().expect("path"))
            .collect();
        assert_eq!(&got, paths, "{body}");
    }
    // The CLI refuses the same, with the problem, and exits non-zero.
    let dir = temp_dir("refused-edit");
    let file = dir.path().join("laned.toml");
    std::fs::write(&file, &refused[0].0).expect("write");
    let error = run_err(gateway.yima().args(["campaign", "apply"]).arg(&file));
    assert!(
        error.contains("refuses 1 change(s), nothing changed")
            && error.contains("lanes: cannot change from 1 to 2"),
        "{error}"
    );
    assert_eq!(
        gateway
            .scalar("SELECT revision::bigint FROM campaigns WHERE id = 'test'")
            .await,
        1
    );
    // Nothing moved: the redeemed codes stay redeemed, stock stays counted.
    assert_eq!(
        status(&gateway.scan(&codes[0], "li", "consumer").await.1),
        "already_redeemed"
    );
    // Tuning is accepted: more stock, down to exactly what was awarded is fine too.
    for stock in [9, 2] {
        let (code, body) = gateway
            .post(
                "/v1/admin/campaigns",
                campaign(30, "", &cup("cup", stock)),
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(
            (code, json(&body)["result"].as_str()),
            (200, Some("updated")),
            "{body}"
        );
    }
}

/// Finding 15.6: sqlx's listener reconnects by itself, so notifications sent while it
/// was away were lost and the catalog stayed stale: a voided batch kept redeeming.
/// The void here sends no notification at all (triggers off), so only a reload after
/// the reconnect can show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_catalog_listener_reloads_and_sees_a_batch_voided_meanwhile() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let (batch, codes) = gateway.batch(2, None).await;
    assert_eq!(
        status(&gateway.scan(&codes[0], "wang", "consumer").await.1),
        "no_prize"
    );
    let mut db = gateway.db.connect().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE batches DISABLE TRIGGER USER;
         UPDATE batches SET status = 'void', voided_at = now() WHERE id = {batch};
         ALTER TABLE batches ENABLE TRIGGER USER;"
    )))
    .execute(&mut db)
    .await
    .expect("void without a notification");
    let cut: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut db)
    .await
    .expect("listener");
    assert_eq!(cut.len(), 1, "one catalog listener: {cut:?}");
    let _: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(cut[0])
        .fetch_one(&mut db)
        .await
        .expect("terminate");
    gateway.until_batch_void(batch).await;
    assert_eq!(
        status(&gateway.scan(&codes[1], "wang", "consumer").await.1),
        "batch_void"
    );
}
