//! A campaign over lanes (`lanes = N`), on one Redis: what a scan across lanes must keep
//! from the one-script scan — retries answered byte for byte, a code someone else
//! redeemed refused, a daily-limit refusal giving the code back — and how stock moves
//! between lanes. `tests/cluster.rs` runs lanes on a real cluster.

mod support;

use support::*;
use yima_campaign::lanes::member_lane;
use yima_gateway::Clock;

/// Every redeemed scan wins a gift while any is left: 4 lanes, 4 gifts, one a lane.
fn rules(daily_limit: u32) -> String {
    campaign(
        daily_limit,
        "lanes = 4",
        r#"
[[prizes]]
id = "gift"
name = "Gift"
kind = "item"
value = 100
stock = 4
odds = [1000000, 1000000]
"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_wins_the_stock_of_every_lane_by_borrowing_and_not_one_more() {
    let gateway = TestGateway::start(&rules(100), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(6, None).await;
    // One member: one lane, whose own allotment is a single gift.
    let answers: Vec<String> = {
        let mut answers = Vec::new();
        for code in &codes[..5] {
            answers.push(status(&gateway.scan(code, "wang", "consumer").await.1));
        }
        answers
    };
    assert_eq!(answers, ["won", "won", "won", "won", "no_prize"]);
    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(stats["prizes"][0]["awarded"], 4, "{stats}");
    assert_eq!(stats["prizes"][0]["remaining"], 0, "{stats}");
    assert_eq!(stats["scans"], 5, "{stats}");

    // Settled from the lanes' streams, reconciled lane by lane.
    let mut worker = gateway.worker("lanes").await;
    gateway.drain(&mut worker).await;
    assert_eq!(gateway.scalar("SELECT count(*) FROM awards").await, 4);
    let store = gateway.store().await;
    let report = yima_reconcile::reconcile(&store, &gateway.ledger, "test")
        .await
        .expect("reconcile");
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_lanes_a_retry_repeats_a_taken_code_is_refused_and_a_limit_gives_it_back() {
    let gateway = TestGateway::start(&rules(1), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(4, None).await;
    // Two members in different lanes, so the code's claim and their scans are apart.
    let first = "wang";
    let second = (0..)
        .map(|i| format!("li{i}"))
        .find(|m| member_lane(m, 4) != member_lane(first, 4))
        .expect("a member in another lane");

    let (_, won) = gateway.scan(&codes[0], first, "consumer").await;
    assert_eq!(status(&won), "won");
    let (_, again) = gateway.scan(&codes[0], first, "consumer").await;
    assert_eq!(again, won, "a retry is the stored answer, byte for byte");
    let (_, taken) = gateway.scan(&codes[0], &second, "consumer").await;
    assert_eq!(status(&taken), "already_redeemed");

    // The first member's limit is 1 a day: their scan of codes[1] is refused and the
    // code is given back, so the second member can still redeem it.
    let (_, limited) = gateway.scan(&codes[1], first, "consumer").await;
    assert_eq!(status(&limited), "daily_limit");
    let (_, redeemed) = gateway.scan(&codes[1], &second, "consumer").await;
    assert_eq!(status(&redeemed), "won");

    // The stream entry of a laned scan is found for an audit before it is settled.
    let scan_id = json(&won)["scan_id"].as_str().expect("scan id").to_string();
    let audit = gateway
        .yima()
        .args(["audit", "--campaign", "test", "--scan", &scan_id])
        .output()
        .expect("yima runs");
    assert!(audit.status.success(), "{}", stderr(&audit));
    assert!(stdout(&audit).contains("MATCH"), "{}", stdout(&audit));
}
