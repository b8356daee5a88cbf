//! Level downgrades at period boundaries: growth is cut once per boundary, in Postgres
//! and Redis alike, and levels follow; upgrades stay instant.

use crate::support::*;
use yima_gateway::Clock;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().expect("timestamp")
}

async fn member(gateway: &TestGateway, name: &str) -> serde_json::Value {
    let (status, body) = gateway.get(&format!("/v1/members/{name}")).await;
    assert_eq!(status, 200, "{body}");
    json(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_is_cut_once_per_boundary_and_levels_follow() {
    let policy = "[level_downgrade]\nperiod = \"month\"\nkeep_percent = 50\n";
    let toml = format!("{}\n{policy}", campaign(1000, "", ""));
    let gateway = TestGateway::start(&toml, Clock::fixed(june_first())).await;
    let store = gateway.store().await;
    let apply = |now: &'static str| {
        let (store, ledger) = (store.clone(), gateway.ledger.clone());
        async move {
            yima_admin::apply_downgrades(&store, &ledger, "test", at(now))
                .await
                .expect("downgrade")
        }
    };
    // The boundaries since the campaign began pass with nobody to cut.
    let caught_up = apply("2026-06-01T12:00:00+08:00").await;
    assert_eq!(caught_up.len(), 5, "February to June: {caught_up:?}");
    assert!(caught_up.iter().all(|(_, members)| *members == 0));

    let (_, codes) = gateway.batch(15, None).await;
    for code in &codes[..12] {
        assert_eq!(gateway.scan(code, "wang", "consumer").await.0, 200);
    }
    for code in &codes[12..] {
        assert_eq!(gateway.scan(code, "li", "consumer").await.0, 200);
    }
    assert_eq!(
        member(&gateway, "wang").await["level"],
        2,
        "upgrades are instant"
    );
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;

    // 00:30 on July 1 in Shanghai: the July boundary, once.
    let july = apply("2026-06-30T16:30:00Z").await;
    assert_eq!(july, [("2026-07-01".to_string(), 2)]);
    assert!(
        apply("2026-07-15T00:00:00Z").await.is_empty(),
        "applied once"
    );

    let wang = member(&gateway, "wang").await;
    assert_eq!(
        (wang["growth"].as_i64(), wang["level"].as_i64()),
        (Some(60), Some(1))
    );
    assert_eq!(wang["next_level_growth"], 100);
    assert_eq!(wang["points"], 120, "points are never cut");
    assert_eq!(member(&gateway, "li").await["growth"], 15);
    assert_eq!(
        gateway
            .scalar(
                "SELECT count(*) FROM members m WHERE growth <> (
                     SELECT sum(growth) FROM points_entries l
                      WHERE l.campaign_id = m.campaign_id AND l.member = m.member)"
            )
            .await,
        0,
        "growth is the sum of the ledger"
    );
    assert_eq!(
        gateway
            .scalar("SELECT growth FROM members WHERE member = 'wang'")
            .await,
        60
    );
}
