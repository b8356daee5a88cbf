//! Calendar boosts through the gateway, with a fixed clock in Asia/Shanghai (UTC+8):
//! the campaign's zone decides which day is boosted, and every boosted draw still
//! re-derives from the secret.

use std::collections::HashMap;

use crate::support::*;
use yima_gateway::Clock;
use yima_store::ScanEvent;

/// 逢8 doubles points and makes the prize certain (40 % × 250 %); Saturdays add 50 %
/// more points.
const BOOSTS: &str = r#"
[[boosts]]
name = "逢8"
days_containing = "8"
points_percent = 200
odds_percent = 250

[[boosts]]
name = "super member day"
weekday = "saturday"
points_percent = 150
"#;

const PRIZE: &str = r#"
[[prizes]]
id = "cup"
name = "Insulated cup"
kind = "item"
value = 5900
stock = 100000
odds = [400000, 400000]
"#;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().expect("timestamp")
}

/// Scans `count` fresh codes as `member` at `when`; their answers.
async fn scans_at(
    gateway: &TestGateway,
    when: &str,
    member: &str,
    count: u32,
) -> Vec<serde_json::Value> {
    gateway.clock.set(at(when));
    let (_, codes) = gateway.batch(count, None).await;
    let mut answers = Vec::new();
    for code in &codes {
        let (status, body) = gateway.scan(code, member, "consumer").await;
        assert_eq!(status, 200, "{body}");
        answers.push(json(&body));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boosts_follow_the_campaign_day_and_stack() {
    let toml = format!("{}\n{PRIZE}", campaign(1000, BOOSTS, ""));
    let gateway = TestGateway::start(&toml, Clock::fixed(june_first())).await;

    // 00:30 on Monday June 8 in Shanghai, still June 7 in UTC: 逢8.
    let eighth = scans_at(&gateway, "2026-06-07T16:30:00Z", "wang", 20).await;
    for answer in &eighth {
        assert_eq!(
            answer["status"], "won",
            "odds boosted to certainty: {answer}"
        );
        assert_eq!(answer["points_awarded"], 20, "{answer}");
    }
    // 00:30 on Tuesday June 9 in Shanghai, June 8 in UTC: no boost.
    let ninth = scans_at(&gateway, "2026-06-08T16:30:00Z", "li", 20).await;
    assert!(ninth.iter().all(|a| a["points_awarded"] == 10), "{ninth:?}");
    let won = ninth.iter().filter(|a| a["status"] == "won").count();
    assert!(won < 20, "40 % odds: all 20 winning has odds of 1 in 10^8");
    // Saturday June 13: 150 %. Saturday June 27... and Saturday August 8: both, 300 %.
    let saturday = scans_at(&gateway, "2026-06-13T10:00:00+08:00", "zhao", 1).await;
    assert_eq!(saturday[0]["points_awarded"], 15);
    let both = scans_at(&gateway, "2026-08-08T10:00:00+08:00", "qian", 1).await;
    assert_eq!(both[0]["points_awarded"], 30);
    assert_eq!(both[0]["status"], "won");

    // Member balances carry the boosted points, and every draw re-derives from the
    // secret with the odds of its day.
    let (status, body) = gateway.get("/v1/members/wang").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["points"], 400);
    let (secret, rules) = gateway.secret_and_rules().await;
    let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(format!("{}:{{test}}:events", gateway.prefix))
        .arg("-")
        .arg("+")
        .query_async(&mut gateway.redis().await)
        .await
        .expect("xrange");
    assert_eq!(entries.len(), 42);
    for (_, fields) in &entries {
        let event = ScanEvent::from_pairs(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .expect("event");
        yima_campaign::audit(&rules, &secret, &event.recorded_draw("SKU-1"))
            .unwrap_or_else(|mismatches| panic!("{event:?}: {mismatches:?}"));
    }
}
