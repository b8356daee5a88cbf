//! A scan's answer lives in Redis until it is settled plus the grace window; a retry
//! after that is answered from Postgres with the same bytes, and an unsettled scan's
//! retry never leaves Redis.

use std::time::Duration;

use crate::support::*;
use yima_gateway::Clock;

const GRACE: Duration = Duration::from_secs(1);

/// The stored answer's key of a code of the test batch (consumer role), on `tag`.
fn answer_key(gateway: &TestGateway, tag: &str, batch: u32, serial: u32) -> String {
    format!(
        "{}:{{{tag}}}:result:{batch}:{serial}:consumer",
        gateway.prefix
    )
}

/// Milliseconds the key has left: -1 without a TTL, -2 once gone.
async fn pttl(gateway: &TestGateway, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut gateway.redis().await)
        .await
        .expect("pttl")
}

/// Waits (on the condition, not a guess) until Redis has let the keys go.
async fn until_gone(gateway: &TestGateway, keys: &[String]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for key in keys {
        while pttl(gateway, key).await != -2 {
            assert!(std::time::Instant::now() < deadline, "{key} never expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_grace_window_gets_the_same_bytes_from_postgres() {
    let gateway = TestGateway::start(&campaign(2, "", ONE_CUP), Clock::fixed(june_first())).await;
    let (batch, codes) = gateway.batch(4, None).await;
    let FourAnswers {
        won,
        nothing,
        limit,
        taken,
    } = four_answers(&gateway, &codes).await;
    assert_eq!(json(&won.1)["prize"]["name"], "Insulated cup");
    let keys = [
        answer_key(&gateway, "test", batch, 0),
        answer_key(&gateway, "test", batch, 1),
    ];

    // Unsettled: the answers stay in Redis with no TTL, whatever the grace, and a retry
    // is answered there (there is nothing in Postgres yet to fall through to).
    for key in &keys {
        assert_eq!(pttl(&gateway, key).await, -1, "{key}");
    }
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 0);
    assert_eq!(gateway.scan(&codes[0], "alice", "consumer").await, won);
    assert_eq!(gateway.scan(&codes[1], "alice", "consumer").await, nothing);

    // Settled: the grace window starts; the answers keep answering until it ends.
    let mut worker = gateway.worker_with_grace("w1", GRACE).await;
    gateway.drain(&mut worker).await;
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 2);
    for key in &keys {
        let left = pttl(&gateway, key).await;
        assert!(left == -2 || (0..=1000).contains(&left), "{key}: {left} ms");
    }
    until_gone(&gateway, &keys).await;

    // From Postgres now: the same bytes for every status, for each member.
    assert_eq!(gateway.scan(&codes[0], "alice", "consumer").await, won);
    assert_eq!(gateway.scan(&codes[1], "alice", "consumer").await, nothing);
    assert_eq!(gateway.scan(&codes[2], "alice", "consumer").await, limit);
    assert_eq!(gateway.scan(&codes[0], "bob", "consumer").await, taken);
    // Nothing was redeemed again: the counters as they were, nothing more to settle.
    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(stats["scans"], 2);
    gateway.drain(&mut worker).await;
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 2);
    gateway.reconcile_agrees();

    // The refusals that come before the script look in Postgres too: a retry after
    // the batch is voided is still the win.
    gateway.void_batch(batch).await;
    gateway.until_batch_void(batch).await;
    assert_eq!(gateway.scan(&codes[0], "alice", "consumer").await, won);
    let (_, void) = gateway.scan(&codes[3], "alice", "consumer").await;
    assert_eq!(status(&void), "batch_void");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_lanes_a_forgotten_answer_never_becomes_a_second_redemption() {
    let lanes = "lanes = 4\n";
    let gateway =
        TestGateway::start(&campaign(100, lanes, ONE_CUP), Clock::fixed(june_first())).await;
    let (batch, codes) = gateway.batch(8, None).await;
    let mut first = Vec::new();
    for (serial, code) in codes.iter().enumerate() {
        let member = format!("m{}", serial % 3);
        let answer = gateway.scan(code, &member, "consumer").await;
        assert_eq!(answer.0, 200, "{}", answer.1);
        first.push((member, answer));
    }
    let won = first
        .iter()
        .filter(|(_, (_, b))| status(b) == "won")
        .count();
    assert_eq!(won, 1);
    let mut worker = gateway.worker_with_grace("w1", GRACE).await;
    gateway.drain(&mut worker).await;
    // Every answer (in its member's lane) and every claim (in its code's lane).
    let (_, rules) = gateway.secret_and_rules().await;
    let mut keys = Vec::new();
    for (serial, (member, _)) in (0u32..).zip(&first) {
        let member_tag = rules.member_tag(member);
        keys.push(answer_key(&gateway, &member_tag, batch, serial));
        let (lane, _) = yima_campaign::lanes::code_lane(serial, 4);
        let code_tag = yima_campaign::lanes::lane_tag("test", 4, lane);
        keys.push(format!(
            "{}:{{{code_tag}}}:claim:{batch}:{serial}:consumer",
            gateway.prefix
        ));
    }
    until_gone(&gateway, &keys).await;

    for (code, (member, answer)) in codes.iter().zip(&first) {
        assert_eq!(&gateway.scan(code, member, "consumer").await, answer);
        let other = gateway.scan(code, "stranger", "consumer").await;
        assert_eq!(status(&other.1), "already_redeemed", "{}", other.1);
    }
    gateway.drain(&mut worker).await;
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 8);
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        0
    );
    gateway.reconcile_agrees();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restore_retries_are_answered_from_postgres() {
    let gateway = TestGateway::start(&campaign(100, "", ONE_CUP), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(3, None).await;
    let mut first = Vec::new();
    for code in &codes {
        first.push(gateway.scan(code, "alice", "consumer").await);
    }
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    // Redis lost everything (answers within their grace window too) and was rebuilt.
    gateway.lose_redis().await;
    let output = gateway
        .yima()
        .args(["restore", "--campaign", "test"])
        .output()
        .expect("yima runs");
    assert!(output.status.success(), "{}", stderr(&output));
    for (code, answer) in codes.iter().zip(&first) {
        assert_eq!(&gateway.scan(code, "alice", "consumer").await, answer);
    }
    gateway.reconcile_agrees();
}
