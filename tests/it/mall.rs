//! The points mall against real Redis and Postgres: points are spent only once
//! settled, stock and balances hold under parallel purchases, request ids are
//! idempotent.

use crate::support::*;
use yima_gateway::Clock;

const MALL: &str = r#"
[[mall]]
id = "cap"
name = "Cap"
price = 10
stock = 10

[[mall]]
id = "pen"
name = "Pen"
price = 10
stock = 1000

[[mall]]
id = "jacket"
name = "Jacket"
price = 45
stock = 5
min_level = 2
discount_percent = [0, 50]
"#;

/// `scans[i]` codes scanned by member `name`, all settled.
async fn members_with_points(gateway: &TestGateway, members: &[(&str, usize)]) {
    let total = members.iter().map(|(_, n)| *n).sum::<usize>();
    let (_, codes) = gateway
        .batch(u32::try_from(total).expect("small"), None)
        .await;
    let mut codes = codes.into_iter();
    let mut scans = Vec::new();
    for (member, count) in members {
        for code in codes.by_ref().take(*count) {
            scans.push((code, (*member).to_string(), "consumer"));
        }
    }
    let answers = gateway.scan_all(scans, 16).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
}

async fn redeem(
    gateway: &TestGateway,
    member: &str,
    item: &str,
    request_id: &str,
) -> (u16, String) {
    let body = serde_json::json!({"item": item, "request_id": request_id}).to_string();
    gateway
        .post(
            &format!("/v1/members/{member}/redeem"),
            body,
            Some(SERVICE_TOKEN),
        )
        .await
}

/// Runs `purchases` (member, item, request id) all at once; the answers in order.
async fn redeem_all(
    gateway: &TestGateway,
    purchases: Vec<(String, &str, String)>,
) -> Vec<(u16, String)> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(purchases.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (member, item, request_id)) in purchases.into_iter().enumerate() {
        let (http, start) = (gateway.http.clone(), start.clone());
        let url = format!("{}/v1/members/{member}/redeem", gateway.base);
        let body = serde_json::json!({"item": item, "request_id": request_id}).to_string();
        tasks.spawn(async move {
            start.wait().await;
            let response = http
                .post(url)
                .bearer_auth(SERVICE_TOKEN)
                .body(body)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            (index, status, response.text().await.expect("body"))
        });
    }
    let mut answers = vec![(0, String::new()); tasks.len()];
    while let Some(done) = tasks.join_next().await {
        let (index, status, body) = done.expect("task");
        answers[index] = (status, body);
    }
    answers
}

async fn post(gateway: &TestGateway, member: &str, body: &str) -> (u16, String) {
    gateway
        .post(
            &format!("/v1/members/{member}/redeem"),
            body.to_string(),
            Some(SERVICE_TOKEN),
        )
        .await
}

async fn assert_books_balance(gateway: &TestGateway) {
    assert_eq!(
        gateway
            .scalar(
                "SELECT count(*) FROM members m WHERE points < 0 OR points <> (
                     SELECT sum(points) FROM points_entries l
                      WHERE l.campaign_id = m.campaign_id AND l.member = m.member)"
            )
            .await,
        0,
        "every balance is the sum of its ledger and none is negative"
    );
}

async fn redis_points(gateway: &TestGateway, member: &str) -> i64 {
    let (status, body) = gateway.get(&format!("/v1/members/{member}")).await;
    assert_eq!(status, 200, "{body}");
    json(&body)["points"].as_i64().expect("points")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parallel_purchases_of_ten_in_stock_sell_exactly_ten() {
    let gateway = TestGateway::start(&campaign(1000, "", MALL), Clock::fixed(june_first())).await;
    let members: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let spec: Vec<(&str, usize)> = members.iter().map(|m| (m.as_str(), 1)).collect();
    members_with_points(&gateway, &spec).await;

    let purchases = members
        .iter()
        .map(|m| (m.clone(), "cap", format!("order-{m}")))
        .collect();
    let answers = redeem_all(&gateway, purchases).await;
    let sold: Vec<&String> = members
        .iter()
        .zip(&answers)
        .filter(|(_, (status, _))| *status == 200)
        .map(|(m, _)| m)
        .collect();
    assert_eq!(sold.len(), 10, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(
            (*status, body.as_str()),
            (409, r#"{"error":"out_of_stock"}"#)
        );
    }
    assert_eq!(
        gateway
            .scalar("SELECT sold FROM mall_sales WHERE item_id = 'cap'")
            .await,
        10
    );
    assert_eq!(gateway.scalar("SELECT count(*) FROM mall_orders").await, 10);
    for member in &members {
        let expected = if sold.contains(&member) { 0 } else { 10 };
        assert_eq!(redis_points(&gateway, member).await, expected, "{member}");
    }
    assert_books_balance(&gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_purchases_never_spend_more_than_the_balance() {
    let gateway = TestGateway::start(&campaign(1000, "", MALL), Clock::fixed(june_first())).await;
    members_with_points(&gateway, &[("li", 5)]).await;

    let purchases = (0..20)
        .map(|i| ("li".to_string(), "pen", format!("pen-{i}")))
        .collect();
    let answers = redeem_all(&gateway, purchases).await;
    let bought = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(bought, 5, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|(status, _)| *status != 200)
            .all(|answer| *answer == (409, r#"{"error":"insufficient_points"}"#.to_string())),
        "{answers:?}"
    );
    assert_eq!(
        gateway
            .scalar("SELECT points FROM members WHERE member = 'li'")
            .await,
        0
    );
    assert_eq!(redis_points(&gateway, "li").await, 0);
    assert_books_balance(&gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_buys_once_and_answers_the_same_bytes_again() {
    let gateway = TestGateway::start(&campaign(1000, "", MALL), Clock::fixed(june_first())).await;
    members_with_points(&gateway, &[("zhao", 3), ("qian", 3)]).await;

    let first = redeem(&gateway, "zhao", "pen", "r1").await;
    assert_eq!(first.0, 200, "{}", first.1);
    let body = json(&first.1);
    assert_eq!(
        (
            body["item"].as_str(),
            body["price_paid"].as_i64(),
            body["points"].as_i64()
        ),
        (Some("pen"), Some(10), Some(20))
    );
    // Ten more of the same request at once, and one later: the same answer, one charge.
    let again = redeem_all(
        &gateway,
        (0..10)
            .map(|_| ("zhao".to_string(), "pen", "r1".to_string()))
            .collect(),
    )
    .await;
    assert!(again.iter().all(|answer| *answer == first), "{again:?}");
    assert_eq!(redeem(&gateway, "zhao", "pen", "r1").await, first);
    assert_eq!(redis_points(&gateway, "zhao").await, 20);
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM points_entries WHERE reason = 'mall'")
            .await,
        1
    );
    // The same id for something else is refused, whoever asks.
    assert_eq!(
        redeem(&gateway, "zhao", "cap", "r1").await,
        (409, r#"{"error":"request_id_reused"}"#.to_string())
    );
    assert_eq!(
        redeem(&gateway, "qian", "pen", "r1").await,
        (409, r#"{"error":"request_id_reused"}"#.to_string())
    );
    assert_books_balance(&gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_gate_items_and_discount_them() {
    let gateway = TestGateway::start(&campaign(1000, "", MALL), Clock::fixed(june_first())).await;
    // 10 scans reach growth 100, the master level; 9 stay apprentice with 90 points.
    members_with_points(&gateway, &[("master", 10), ("apprentice", 9)]).await;

    assert_eq!(
        redeem(&gateway, "apprentice", "jacket", "a1").await,
        (409, r#"{"error":"level_too_low"}"#.to_string())
    );
    let bought = redeem(&gateway, "master", "jacket", "m1").await;
    assert_eq!(bought.0, 200, "{}", bought.1);
    assert_eq!(
        json(&bought.1)["price_paid"],
        23,
        "45 at 50 % off, rounded up"
    );
    assert_eq!(json(&bought.1)["points"], 77);
    assert_eq!(redis_points(&gateway, "master").await, 77);
    assert_eq!(redis_points(&gateway, "apprentice").await, 90);
    assert_books_balance(&gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_purchases_get_precise_errors_and_write_nothing() {
    let gateway = TestGateway::start(&campaign(1000, "", MALL), Clock::fixed(june_first())).await;
    members_with_points(&gateway, &[("sun", 1)]).await;

    assert_eq!(
        redeem(&gateway, "nobody", "pen", "x1").await,
        (404, r#"{"error":"unknown_member"}"#.to_string())
    );
    assert_eq!(
        redeem(&gateway, "sun", "yacht", "x2").await,
        (404, r#"{"error":"unknown_item"}"#.to_string())
    );
    for body in [
        "{",
        r#"{"item":"pen"}"#,
        r#"{"item":"pen","request_id":""}"#,
        r#"{"item":"pen","request_id":"r","price":0}"#,
    ] {
        let (status, answer) = post(&gateway, "sun", body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(json(&answer)["error"], "bad_request");
    }
    let (status, _) = post(&gateway, "sun", &"x".repeat(64 * 1024)).await;
    assert_eq!(status, 413);
    let (status, answer) = post(
        &gateway,
        "not%20a%20member!",
        r#"{"item":"pen","request_id":"r"}"#,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(gateway.scalar("SELECT count(*) FROM mall_orders").await, 0);
    assert_eq!(redis_points(&gateway, "sun").await, 10);
    assert_books_balance(&gateway).await;
}
