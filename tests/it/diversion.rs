//! Anti-diversion (防窜货): a scan from outside its batch's region is flagged, counted
//! and listed for ops; it still counts unless the campaign refuses such scans.

use crate::support::*;
use yima_gateway::Clock;

async fn scan_in(
    gateway: &TestGateway,
    code: &str,
    member: &str,
    region: Option<&str>,
) -> serde_json::Value {
    let mut body = serde_json::json!({"code": code, "member": member});
    if let Some(region) = region {
        body["region"] = region.into();
    }
    let (status, answer) = gateway.scan_body(body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    json(&answer)
}

async fn diversions(gateway: &TestGateway, token: &str) -> (u16, serde_json::Value) {
    let response = gateway
        .http
        .get(format!(
            "{}/v1/admin/campaigns/test/diversions?limit=10",
            gateway.base
        ))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, json(&response.text().await.expect("body")))
}

async fn stats(gateway: &TestGateway) -> serde_json::Value {
    let (status, body) = gateway.get("/v1/campaigns/test/stats").await;
    assert_eq!(status, 200, "{body}");
    json(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_outside_its_batchs_region_is_flagged_counted_and_listed() {
    let gateway = TestGateway::start(&campaign(1000, "", ""), Clock::fixed(june_first())).await;
    let (batch, codes) = gateway.batch(4, Some("GD")).await;
    let (_, unregioned) = gateway.batch(1, None).await;

    assert_eq!(
        scan_in(&gateway, &codes[0], "dealer-sh", Some("SH")).await["status"],
        "no_prize"
    );
    assert_eq!(
        scan_in(&gateway, &codes[1], "dealer-gd", Some("GD")).await["status"],
        "no_prize"
    );
    assert_eq!(
        scan_in(&gateway, &codes[2], "shopper", None).await["status"],
        "no_prize"
    );
    assert_eq!(
        scan_in(&gateway, &unregioned[0], "anyone", Some("SH")).await["status"],
        "no_prize"
    );
    // A retry of the diverted scan is not a second diversion.
    assert_eq!(
        scan_in(&gateway, &codes[0], "dealer-sh", Some("SH")).await["status"],
        "no_prize"
    );
    let counters = stats(&gateway).await;
    assert_eq!(
        (counters["scans"].as_i64(), counters["diverted"].as_i64()),
        (Some(4), Some(1))
    );

    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let (status, listed) = diversions(&gateway, ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total"], 1);
    let scans = listed["scans"].as_array().expect("scans");
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0]["member"], "dealer-sh");
    assert_eq!(
        (
            scans[0]["region"].as_str(),
            scans[0]["batch_region"].as_str()
        ),
        (Some("SH"), Some("GD"))
    );
    assert_eq!(
        (scans[0]["batch"].as_u64(), scans[0]["serial"].as_u64()),
        (Some(u64::from(batch)), Some(0))
    );
    assert_eq!(
        scans[0]["at_ms"].as_i64(),
        Some(june_first().as_millisecond())
    );
    // The scan counted like any other.
    assert_eq!(
        gateway
            .scalar("SELECT points FROM members WHERE member = 'dealer-sh'")
            .await,
        10
    );

    assert_eq!(diversions(&gateway, "wrong").await.0, 401);

    // A Redis rebuilt from Postgres counts it again.
    gateway.lose_redis().await;
    yima_reconcile::restore(
        &gateway.store().await,
        &gateway.ledger,
        "test",
        june_first(),
    )
    .await
    .expect("restore");
    let counters = stats(&gateway).await;
    assert_eq!(
        (counters["scans"].as_i64(), counters["diverted"].as_i64()),
        (Some(4), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_may_refuse_diverted_scans_and_keep_the_code_unredeemed() {
    let toml = campaign(1000, "diversion = \"refuse\"", "");
    let gateway = TestGateway::start(&toml, Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(2, Some("GD")).await;

    let refused = scan_in(&gateway, &codes[0], "dealer-sh", Some("SH")).await;
    assert_eq!(refused["status"], "wrong_region", "{refused}");
    assert_eq!(refused["points_awarded"], 0);
    // The code is still there for a scanner in its region.
    assert_eq!(
        scan_in(&gateway, &codes[0], "dealer-gd", Some("GD")).await["status"],
        "no_prize"
    );
    let counters = stats(&gateway).await;
    assert_eq!(
        (
            counters["scans"].as_i64(),
            counters["diverted"].as_i64(),
            counters["diverted_refused"].as_i64()
        ),
        (Some(1), Some(0), Some(1))
    );
    let (status, _) = gateway.get("/v1/members/dealer-sh").await;
    assert_eq!(status, 404, "a refused scan credits nothing");
}
