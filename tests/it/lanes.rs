//! A campaign over lanes (`lanes = N`), on one Redis: what a scan across lanes must keep
//! from the one-script scan — retries answered byte for byte, a code someone else
//! redeemed refused, a daily-limit refusal giving the code back — and how stock moves
//! between lanes. `tests/cluster.rs` runs lanes on a real cluster.

use crate::support::*;
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

/// One gift, every scan wins it while any is left, over two lanes.
fn two_lanes(stock: u32) -> String {
    campaign(
        100,
        "lanes = 2",
        &format!(
            "[[prizes]]\nid = \"gift\"\nname = \"Gift\"\nkind = \"item\"\nvalue = 100\nstock = {stock}\nodds = [1000000, 1000000]\n"
        ),
    )
}

/// Finding 15.2: lowering a laned campaign's stock subtracted each lane's change in
/// share even from a lane that had already awarded more than its new share, so the
/// other lanes could award past the stock; and a gateway still on the old revision put
/// the old shares back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_laned_stock_never_lets_the_lanes_award_past_it() {
    let gateway = TestGateway::start(&two_lanes(10), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(40, None).await;
    let mut codes = codes.into_iter();
    let first = "wang";
    let second = (0..)
        .map(|i| format!("li{i}"))
        .find(|m| member_lane(m, 2) != member_lane(first, 2))
        .expect("a member in the other lane");
    let awarded = || async {
        json(&gateway.get("/v1/campaigns/test/stats").await.1)["prizes"][0]["awarded"]
            .as_i64()
            .expect("awarded")
    };
    // The first member's lane awards its 5, borrows 3 of the other lane's 5 and awards
    // those: 8 awarded, all in one lane, and the other lane keeps an allotment of 2.
    for _ in 0..8 {
        let code = codes.next().expect("code");
        assert_eq!(
            status(&gateway.scan(&code, first, "consumer").await.1),
            "won"
        );
    }
    assert_eq!(awarded().await, 8);

    // Down to exactly what is awarded: nothing more may be won, in either lane.
    gateway.apply_and_wait(two_lanes(8)).await;
    for member in [second.as_str(), first, second.as_str()] {
        let code = codes.next().expect("code");
        assert_eq!(
            status(&gateway.scan(&code, member, "consumer").await.1),
            "no_prize"
        );
    }
    assert_eq!(awarded().await, 8);

    // A process still on revision 1 changes nothing.
    let old = yima_campaign::Campaign::from_toml(&two_lanes(10)).expect("valid");
    let store = gateway.store().await;
    assert!(
        store
            .allot(&yima_store::ScanTable::new(&old, 1))
            .await
            .expect("allot")
    );
    let code = codes.next().expect("code");
    assert_eq!(
        status(&gateway.scan(&code, &second, "consumer").await.1),
        "no_prize"
    );

    // Raised to 12: exactly 4 more, wherever they are scanned.
    gateway.apply_and_wait(two_lanes(12)).await;
    let mut won = 0;
    for _ in 0..8 {
        let code = codes.next().expect("code");
        won += i32::from(status(&gateway.scan(&code, &second, "consumer").await.1) == "won");
    }
    assert_eq!((won, awarded().await), (4, 12));

    // Settled and restored from Postgres, the lanes still agree with Redis.
    let mut worker = gateway.worker("lanes").await;
    gateway.drain(&mut worker).await;
    let report = yima_reconcile::reconcile(&store, &gateway.ledger, "test")
        .await
        .expect("reconcile");
    assert!(report.differences.is_empty(), "{:?}", report.differences);

    // Finding 15.11: allotments summing past the stock are named.
    let lane = store
        .keys()
        .awarded(&yima_campaign::lanes::lane_tag("test", 2, 0));
    let _: i64 = redis::cmd("HINCRBY")
        .arg(&lane)
        .arg("allot:gift")
        .arg(5)
        .query_async(&mut gateway.redis().await)
        .await
        .expect("over-allot");
    let report = yima_reconcile::reconcile(&store, &gateway.ledger, "test")
        .await
        .expect("reconcile");
    let named: Vec<String> = report.differences.iter().map(ToString::to_string).collect();
    assert_eq!(
        named,
        ["prize gift over-allotted: the lanes' allotments add up to 17, stock is 12"]
    );
}

/// Allotments written by the earlier per-lane `share:` scheme are taken over as they
/// are: upgrading adds no stock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allotments_of_the_per_lane_scheme_are_taken_over_without_adding_stock() {
    let gateway = TestGateway::start(&two_lanes(4), Clock::fixed(june_first())).await;
    let store = gateway.store().await;
    let mut redis = gateway.redis().await;
    let lane = |n: u16| {
        store
            .keys()
            .awarded(&yima_campaign::lanes::lane_tag("test", 2, n))
    };
    // Each lane's allotment of the gift, in lane order.
    let reader = redis.clone();
    let allotments = || {
        let mut redis = reader.clone();
        let keys = [lane(0), lane(1)];
        async move {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.hget(key, "allot:gift");
            }
            let allotted: Vec<i64> = pipe.query_async(&mut redis).await.expect("allot");
            allotted
        }
    };
    for n in 0..2 {
        let _: () = redis::cmd("HSET")
            .arg(lane(n))
            .arg("allot:gift")
            .arg(2)
            .arg("share:gift")
            .arg(2)
            .query_async(&mut redis)
            .await
            .expect("old scheme");
    }
    let four = yima_campaign::Campaign::from_toml(&two_lanes(4)).expect("valid");
    assert!(
        store
            .allot(&yima_store::ScanTable::new(&four, 1))
            .await
            .expect("allot")
    );
    assert_eq!(allotments().await, [2, 2]);
    let six = yima_campaign::Campaign::from_toml(&two_lanes(6)).expect("valid");
    assert!(
        store
            .allot(&yima_store::ScanTable::new(&six, 2))
            .await
            .expect("allot")
    );
    assert_eq!(allotments().await, [3, 3]);
}
