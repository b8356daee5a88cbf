//! Redis Cluster: the gateway, the settlement worker and `yima reconcile` run unchanged
//! against a 3-master cluster (`YIMA_TEST_REDIS_CLUSTER_URL`, several seeds, started by
//! `deploy/dev/test.sh` from the same redis-server binary). Every key of a campaign
//! carries its id as the hash tag, so each campaign lives on one master and campaigns
//! spread over the masters; what is exact on one Redis must stay exact there.

use std::collections::{BTreeSet, HashMap};

use crate::support::*;
use yima_gateway::Clock;

/// One prize every redeemed scan wins while it lasts: the stock is the exact count.
const GIFT: &str = r#"
[[prizes]]
id = "gift"
name = "Gift"
kind = "item"
value = 100
stock = 7
odds = [1000000, 1000000]
"#;

/// Campaign ids whose hash tags fall in the three slot ranges `redis-cli --cluster
/// create` gives three masters (checked against the cluster below).
const CAMPAIGNS: [&str; 3] = ["north", "test", "c1"];

fn cluster_url() -> String {
    std::env::var("YIMA_TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        panic!("YIMA_TEST_REDIS_CLUSTER_URL is not set: run the suite with deploy/dev/test.sh")
    })
}

/// The master (`host:port`) serving each campaign's hash tag, asked of the cluster.
fn masters_of(campaigns: &[&str]) -> Vec<String> {
    let seed = cluster_url();
    let seed = seed.split(',').next().expect("a seed");
    let mut connection = redis::Client::open(seed)
        .and_then(|client| client.get_connection())
        .expect("cluster seed");
    let slots: Vec<(u16, u16, Vec<redis::Value>)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query::<Vec<redis::Value>>(&mut connection)
        .expect("CLUSTER SLOTS")
        .into_iter()
        .map(|range| {
            let redis::Value::Array(items) = range else {
                panic!("slot range {range:?}")
            };
            let start = redis::from_redis_value_ref::<u16>(&items[0]).expect("start");
            let end = redis::from_redis_value_ref::<u16>(&items[1]).expect("end");
            (start, end, items[2..].to_vec())
        })
        .collect();
    campaigns
        .iter()
        .map(|campaign| {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(format!("{{{campaign}}}"))
                .query(&mut connection)
                .expect("KEYSLOT");
            let (_, _, nodes) = slots
                .iter()
                .find(|(start, end, _)| (*start..=*end).contains(&slot))
                .unwrap_or_else(|| panic!("slot {slot} is not served"));
            let redis::Value::Array(master) = &nodes[0] else {
                panic!("node {:?}", nodes[0])
            };
            let host = redis::from_redis_value_ref::<String>(&master[0]).expect("host");
            let port = redis::from_redis_value_ref::<u16>(&master[1]).expect("port");
            format!("{host}:{port}")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_on_three_masters_stay_exact_and_settle_once() {
    let masters = masters_of(&CAMPAIGNS);
    assert_eq!(
        masters.iter().collect::<BTreeSet<_>>().len(),
        3,
        "the campaigns' tags should land on three masters: {masters:?}"
    );
    let rules = campaign(3, "", GIFT);
    let gateway =
        TestGateway::start_with_redis(&rules, Clock::fixed(june_first()), &cluster_url()).await;
    for id in CAMPAIGNS.iter().filter(|id| **id != "test") {
        let toml = rules.replacen(r#"id = "test""#, &format!(r#"id = "{id}""#), 1);
        let campaign = yima_campaign::Campaign::from_toml(&toml).expect("valid");
        gateway.apply(&campaign).await.expect("apply");
    }
    gateway
        .until_catalog("three campaigns", |catalog| {
            CAMPAIGNS.iter().all(|id| catalog.campaign(id).is_some())
        })
        .await;

    let mut scans = Vec::new();
    let mut shared_codes = HashMap::new();
    for id in CAMPAIGNS {
        shared_codes.insert(id, plan(&gateway, id, &mut scans).await);
    }
    let answers = gateway.scan_all(scans.clone(), 48).await;
    for id in CAMPAIGNS {
        check_exact(id, &scans, &answers, &shared_codes[id], 7);
    }

    // One worker settles every campaign's stream, each on its own master.
    let mut worker = gateway.worker("cluster-worker").await;
    gateway.drain(&mut worker).await;
    for id in CAMPAIGNS {
        let scans = gateway
            .scalar(&format!(
                "SELECT count(*) FROM scans WHERE campaign_id = '{id}'"
            ))
            .await;
        let awards = gateway
            .scalar(&format!(
                "SELECT count(*) FROM awards WHERE campaign_id = '{id}'"
            ))
            .await;
        assert_eq!((scans, awards), (43, 7), "{id}: settled scans and awards");
    }
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        0
    );

    // The operator's tools read a campaign's keys from its master.
    for id in CAMPAIGNS {
        let output = gateway
            .yima()
            .args(["reconcile", "--campaign", id])
            .output()
            .expect("run yima");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{id}: {}{}",
            stdout(&output),
            stderr(&output)
        );
    }
}

/// Appends one campaign's scans: 40 codes each scanned by four members (one may redeem
/// it), and one member (`{id}-busy`) scanning 20 fresh codes against a daily limit of
/// 3. Returns the 40 shared codes.
async fn plan(
    gateway: &TestGateway,
    id: &str,
    scans: &mut Vec<(String, String, &'static str)>,
) -> Vec<String> {
    let (_, codes) = gateway.batch_of(id, 60, None).await;
    for (i, code) in codes[..40].iter().enumerate() {
        for j in 0..4 {
            scans.push((
                code.clone(),
                format!("{id}-m{}", (i + j * 7) % 40),
                "consumer",
            ));
        }
    }
    for code in &codes[40..] {
        scans.push((code.clone(), format!("{id}-busy"), "consumer"));
    }
    codes[..40].to_vec()
}

/// Every shared code redeemed exactly once, the busy member stopped at exactly 3, and
/// exactly `stock` wins.
fn check_exact(
    id: &str,
    scans: &[(String, String, &'static str)],
    answers: &[(u16, String)],
    shared: &[String],
    stock: usize,
) {
    assert!(
        answers.iter().all(|(code, _)| *code == 200),
        "{:?}",
        answers.iter().find(|(code, _)| *code != 200)
    );
    let of_campaign = || {
        scans
            .iter()
            .zip(answers)
            .filter(move |((code, member, _), _)| {
                shared.contains(code) || *member == format!("{id}-busy")
            })
    };
    for code in shared {
        let redeemed = of_campaign()
            .filter(|((c, _, _), (_, body))| {
                c == code && ["won", "no_prize"].contains(&status(body).as_str())
            })
            .count();
        assert_eq!(redeemed, 1, "{id}: code {code} redeemed once");
    }
    let busy: Vec<String> = of_campaign()
        .filter(|((_, member, _), _)| *member == format!("{id}-busy"))
        .map(|(_, (_, body))| status(body))
        .collect();
    assert_eq!(
        busy.iter().filter(|s| *s == "daily_limit").count(),
        17,
        "{id}: {busy:?}"
    );
    let won = of_campaign()
        .filter(|(_, (_, body))| status(body) == "won")
        .count();
    assert_eq!(won, stock, "{id}: the stock, exactly");
}

/// One campaign over four lanes (hash tags `{spread/0}` to `{spread/3}`, on all three
/// masters): codes are claimed in their lane, members scan in theirs, and the stock of
/// 10, split 3/3/2/2, must all go to the first winners wherever they scan: lanes that
/// run dry borrow from the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_over_four_lanes_is_exact_and_lends_stock_between_lanes() {
    const ID: &str = "spread";
    let tags = yima_campaign::lanes::lane_tags(ID, 4);
    let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let masters = masters_of(&tag_refs);
    assert_eq!(
        masters.iter().collect::<BTreeSet<_>>().len(),
        3,
        "{masters:?}"
    );
    let rules = campaign(3, "lanes = 4", &GIFT.replace("stock = 7", "stock = 10")).replacen(
        r#"id = "test""#,
        &format!(r#"id = "{ID}""#),
        1,
    );
    let gateway = TestGateway::start_with_redis(
        &campaign(3, "", GIFT),
        Clock::fixed(june_first()),
        &cluster_url(),
    )
    .await;
    let laned = yima_campaign::Campaign::from_toml(&rules).expect("valid");
    gateway.apply(&laned).await.expect("apply");
    gateway
        .until_catalog("the laned campaign", |catalog| {
            catalog.campaign(ID).is_some()
        })
        .await;

    let mut scans = Vec::new();
    let shared = plan(&gateway, ID, &mut scans).await;
    let answers = gateway.scan_all(scans.clone(), 48).await;
    check_exact(ID, &scans, &answers, &shared, 10);

    // The lanes' allotments still sum to the stock, and every one was awarded.
    let seeds: Vec<String> = cluster_url().split(',').map(String::from).collect();
    let mut cluster = redis::cluster::ClusterClient::new(seeds)
        .and_then(|client| client.get_connection())
        .expect("cluster");
    let (mut allotted, mut awarded) = (0, 0);
    for tag in &tags {
        let (allot, given): (Option<i64>, Option<i64>) = redis::cmd("HMGET")
            .arg(format!("{}:{{{tag}}}:awarded", gateway.prefix))
            .arg("allot:gift")
            .arg("gift")
            .query(&mut cluster)
            .expect("lane awards");
        allotted += allot.unwrap_or(0);
        awarded += given.unwrap_or(0);
    }
    assert_eq!((allotted, awarded), (10, 10));

    // Settlement follows the four lane streams (and counts the scans on the boards).
    let mut worker = gateway.worker("lanes-worker").await;
    gateway.drain(&mut worker).await;

    // Reads add the lanes up: stats, and the busiest member tops the merged board.
    let stats = json(&gateway.get(&format!("/v1/campaigns/{ID}/stats")).await.1);
    assert_eq!(stats["scans"], 43, "{stats}");
    let board = json(
        &gateway
            .get(&format!("/v1/campaigns/{ID}/leaderboard?limit=100"))
            .await
            .1,
    );
    let entries = board["entries"].as_array().expect("entries");
    let scores: Vec<u64> = entries
        .iter()
        .map(|e| e["scans"].as_u64().expect("scans"))
        .collect();
    assert_eq!(scores.iter().sum::<u64>(), 43, "{board}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{board}");
    assert_eq!(
        scores[0], 3,
        "the daily limit is the most anyone can scan: {board}"
    );
    let lanes_on_board: BTreeSet<u16> = entries
        .iter()
        .map(|e| yima_campaign::lanes::member_lane(e["member"].as_str().unwrap_or(""), 4))
        .collect();
    assert_eq!(
        lanes_on_board.len(),
        4,
        "every lane's board is merged: {board}"
    );

    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM scans WHERE campaign_id = 'spread'")
            .await,
        43
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM awards WHERE campaign_id = 'spread'")
            .await,
        10
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        0
    );
    // Redis agrees with Postgres, lane by lane added up.
    let store = gateway.store().await;
    let report = yima_reconcile::reconcile(&store, &gateway.ledger, ID)
        .await
        .expect("reconcile");
    assert!(report.differences.is_empty(), "{:?}", report.differences);

    // Redis loses everything; restore rebuilds every lane from Postgres.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", gateway.prefix))
        .query(&mut cluster)
        .expect("keys");
    for key in keys {
        let () = redis::cmd("DEL").arg(key).query(&mut cluster).expect("del");
    }
    yima_reconcile::restore(&store, &gateway.ledger, ID, june_first())
        .await
        .expect("restore");
    let report = yima_reconcile::reconcile(&store, &gateway.ledger, ID)
        .await
        .expect("reconcile after restore");
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    let mut allotted = 0;
    for tag in &tags {
        let allot: Option<i64> = redis::cmd("HGET")
            .arg(format!("{}:{{{tag}}}:awarded", gateway.prefix))
            .arg("allot:gift")
            .query(&mut cluster)
            .expect("allotment");
        allotted += allot.unwrap_or(0);
    }
    assert_eq!(allotted, 10, "allotments rebuilt to the stock");
    // And the rebuilt lanes enforce what they held: once per code, the daily limit,
    // the stock (all 10 given).
    let (_, fresh) = gateway.batch_of(ID, 3, None).await;
    let after = [
        gateway
            .scan(&shared[0], &format!("{ID}-m99"), "consumer")
            .await,
        gateway
            .scan(&fresh[0], &format!("{ID}-busy"), "consumer")
            .await,
        gateway
            .scan(&fresh[1], &format!("{ID}-new"), "consumer")
            .await,
    ];
    let statuses: Vec<String> = after.iter().map(|(_, body)| status(body)).collect();
    assert_eq!(statuses, ["already_redeemed", "daily_limit", "no_prize"]);
}
