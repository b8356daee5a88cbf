//! Settlement: every redemption reaches Postgres exactly once, balances equal their
//! ledger, and a code redeemed twice after Redis lost its state is never paid twice.

mod support;

use support::*;
use yima_gateway::Clock;

const PRIZES: &str = r#"
[[prizes]]
id = "phone"
name = "5G phone"
kind = "item"
value = 299900
stock = 3
odds = [50000, 50000]

[[prizes]]
id = "red-packet"
name = "8.88 CNY red packet"
kind = "cash"
value = 888
stock = 100000
odds = [300000, 300000]

[[prizes]]
id = "bonus"
name = "50 bonus points"
kind = "points"
value = 50
stock = 100000
odds = [200000, 200000]
"#;

async fn scalar(gateway: &TestGateway, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut gateway.db.connect().await)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redemption_is_settled_once_and_balances_equal_the_ledger() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(300, Some("CN-31")).await;
    let scans = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), format!("m{}", i % 10), "consumer"))
        .collect();
    let answers = gateway.scan_all(scans, 16).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    let wins = answers
        .iter()
        .filter(|(_, body)| json(body)["status"] == "won")
        .count() as i64;

    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;

    assert_eq!(scalar(&gateway, "SELECT count(*) FROM scans").await, 300);
    assert_eq!(scalar(&gateway, "SELECT count(*) FROM awards").await, wins);
    assert_eq!(
        scalar(
            &gateway,
            "SELECT count(*) FROM awards WHERE prize_id = 'phone'"
        )
        .await,
        3
    );
    assert_eq!(
        scalar(&gateway, "SELECT count(*) FROM payouts").await,
        scalar(&gateway, "SELECT count(*) FROM awards WHERE kind = 'cash'").await
    );
    assert_eq!(
        scalar(
            &gateway,
            "SELECT count(*) FROM payouts WHERE amount_fen <> 888"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &gateway,
            "SELECT count(*) FROM members m
               LEFT JOIN (SELECT campaign_id, member, sum(points)::bigint AS points,
                                 sum(growth)::bigint AS growth
                            FROM points_ledger GROUP BY campaign_id, member) l
                 USING (campaign_id, member)
              WHERE (m.points, m.growth) IS DISTINCT FROM (l.points, l.growth)"
        )
        .await,
        0,
        "a balance differs from the sum of its ledger"
    );
    // Postgres agrees with what Redis told each member.
    for i in 0..10 {
        let member = format!("m{i}");
        let redis = json(&gateway.get(&format!("/v1/members/{member}")).await.1);
        let (points, growth, scans): (i64, i64, i64) =
            sqlx::query_as("SELECT points, growth, scans FROM members WHERE member = $1")
                .bind(&member)
                .fetch_one(&mut gateway.db.connect().await)
                .await
                .expect("member row");
        assert_eq!(
            (
                redis["points"].as_i64(),
                redis["growth"].as_i64(),
                redis["scans"].as_i64()
            ),
            (Some(points), Some(growth), Some(scans)),
            "{member}"
        );
    }

    // Every entry delivered again (a rewound group, a crash before XACK): nothing changes.
    let () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg(format!("{}:{{test}}:events", gateway.prefix))
        .arg("settle")
        .arg("0")
        .query_async(&mut gateway.redis().await)
        .await
        .expect("rewind");
    let mut again = gateway.worker("w2").await;
    gateway.drain(&mut again).await;
    assert_eq!(scalar(&gateway, "SELECT count(*) FROM scans").await, 300);
    assert_eq!(
        scalar(&gateway, "SELECT count(*) FROM points_ledger").await,
        300
    );
    assert_eq!(
        scalar(&gateway, "SELECT sum(scans)::bigint FROM members").await,
        300
    );
    assert_eq!(
        scalar(&gateway, "SELECT count(*) FROM rejected_redemptions").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_redemption_after_redis_loss_is_rejected_and_never_paid() {
    let prize = "[[prizes]]\nid = \"red-packet\"\nname = \"Red packet\"\nkind = \"cash\"\nvalue = 888\nstock = 10\nodds = [1000000, 1000000]\n";
    let gateway = TestGateway::start(&campaign(1000, "", prize), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(2, None).await;
    let first = json(&gateway.scan(&codes[0], "wang", "consumer").await.1);
    assert_eq!(first["status"], "won");
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;

    gateway.lose_redis().await;
    // Redis no longer knows the code was redeemed, so the gateway redeems it again...
    let second = json(&gateway.scan(&codes[0], "li", "consumer").await.1);
    assert_eq!(second["status"], "won");
    assert_eq!(
        second["scan_id"], first["scan_id"],
        "the same code and role give the same scan id"
    );
    // ...alongside an honest new scan.
    assert_eq!(
        json(&gateway.scan(&codes[1], "li", "consumer").await.1)["status"],
        "won"
    );
    gateway.drain(&mut worker).await;

    assert_eq!(
        scalar(
            &gateway,
            "SELECT count(*) FROM rejected_redemptions WHERE member = 'li'"
        )
        .await,
        1
    );
    assert_eq!(scalar(&gateway, "SELECT count(*) FROM scans").await, 2);
    assert_eq!(
        scalar(&gateway, "SELECT count(*) FROM payouts").await,
        2,
        "one per code, not per redemption"
    );
    assert_eq!(
        scalar(
            &gateway,
            "SELECT count(*) FROM awards WHERE member = 'wang'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&gateway, "SELECT points FROM members WHERE member = 'li'").await,
        10
    );
}
