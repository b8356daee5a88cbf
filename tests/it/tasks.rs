//! The daily sign-in task: once per member and campaign day, however many requests
//! arrive at once; the day is the campaign's (Asia/Shanghai here).

use crate::support::*;
use yima_gateway::Clock;

async fn sign_in_all(gateway: &TestGateway, member: &str, times: usize) -> Vec<serde_json::Value> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(times));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..times {
        let (http, start) = (gateway.http.clone(), start.clone());
        let url = format!("{}/v1/members/{member}/sign-in", gateway.base);
        tasks.spawn(async move {
            start.wait().await;
            let response = http
                .post(url)
                .bearer_auth(SERVICE_TOKEN)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 200);
            json(&response.text().await.expect("body"))
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.expect("task"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_signs_in_once_per_campaign_day() {
    let toml = campaign(1000, "sign_in_points = 5", "");
    let gateway = TestGateway::start(
        &toml,
        Clock::fixed("2026-06-01T23:30:00+08:00".parse().expect("time")),
    )
    .await;

    let answers = sign_in_all(&gateway, "wang", 20).await;
    let signed: Vec<_> = answers
        .iter()
        .filter(|a| a["status"] == "signed_in")
        .collect();
    assert_eq!(signed.len(), 1, "{answers:?}");
    assert_eq!(signed[0]["points_awarded"], 5);
    assert_eq!(signed[0]["day"], "2026-06-01");
    assert!(
        answers
            .iter()
            .filter(|a| a["status"] != "signed_in")
            .all(|a| a["status"] == "already_signed_in" && a["points_awarded"] == 0)
    );

    // 00:30 the next day in Shanghai (still June 1 in UTC): a new day.
    gateway
        .clock
        .set("2026-06-01T16:30:00Z".parse().expect("time"));
    let again = sign_in_all(&gateway, "wang", 5).await;
    assert_eq!(
        again.iter().filter(|a| a["status"] == "signed_in").count(),
        1
    );
    assert!(again.iter().all(|a| a["day"] == "2026-06-02"));

    let (status, body) = gateway.get("/v1/members/wang").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["points"], 10);
    assert_eq!(
        gateway
            .scalar("SELECT points FROM members WHERE member = 'wang'")
            .await,
        10
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM points_ledger WHERE reason = 'sign_in'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refuses_what_it_cannot_do() {
    let gateway = TestGateway::start(&campaign(1000, "", ""), Clock::fixed(june_first())).await;
    let (status, body) = gateway
        .post("/v1/members/wang/sign-in", "", Some(SERVICE_TOKEN))
        .await;
    assert_eq!((status, body.as_str()), (404, r#"{"error":"no_sign_in"}"#));

    let toml = campaign(1000, "sign_in_points = 5", "");
    let closed = TestGateway::start(
        &toml,
        Clock::fixed("2030-01-01T00:00:00Z".parse().expect("time")),
    )
    .await;
    let (status, body) = closed
        .post("/v1/members/wang/sign-in", "", Some(SERVICE_TOKEN))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (409, r#"{"error":"campaign_closed"}"#)
    );
    for body in ["{", r#"{"member":"x"}"#] {
        let (status, answer) = closed
            .post("/v1/members/wang/sign-in", body, Some(SERVICE_TOKEN))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, _) = closed
        .post("/v1/members/not%20ok/sign-in", "", Some(SERVICE_TOKEN))
        .await;
    assert_eq!(status, 400);
    assert_eq!(closed.scalar("SELECT count(*) FROM points_ledger").await, 0);
}
