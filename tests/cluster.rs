//! Redis Cluster: the gateway, the settlement worker and `yima reconcile` run unchanged
//! against a 3-master cluster (`YIMA_TEST_REDIS_CLUSTER_URL`, several seeds, started by
//! `deploy/dev/test.sh` from the same redis-server binary). Every key of a campaign
//! carries its id as the hash tag, so each campaign lives on one master and campaigns
//! spread over the masters; what is exact on one Redis must stay exact there.

mod support;

use std::collections::{BTreeSet, HashMap};

use support::*;
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

fn status(body: &str) -> String {
    json(body)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
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
        yima_gateway::apply_campaign(&gateway.ledger, &campaign)
            .await
            .expect("apply");
    }
    gateway
        .until_catalog("three campaigns", |catalog| {
            CAMPAIGNS.iter().all(|id| catalog.campaign(id).is_some())
        })
        .await;

    // Per campaign, all at once: 40 codes each scanned by four members (one may redeem
    // it), and one member scanning 20 fresh codes against a daily limit of 3.
    let mut scans = Vec::new();
    let mut shared_codes = HashMap::new();
    for id in CAMPAIGNS {
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
        shared_codes.insert(id, codes[..40].to_vec());
    }
    let answers = gateway.scan_all(scans.clone(), 48).await;
    assert!(
        answers.iter().all(|(code, _)| *code == 200),
        "{:?}",
        answers.iter().find(|(code, _)| *code != 200)
    );

    for id in CAMPAIGNS {
        let redeemed = |(code, member): (&str, &str)| {
            scans
                .iter()
                .zip(&answers)
                .filter(|((c, m, _), _)| c == code && (member.is_empty() || m == member))
                .filter(|(_, (_, body))| ["won", "no_prize"].contains(&status(body).as_str()))
                .count()
        };
        for code in &shared_codes[id] {
            assert_eq!(redeemed((code, "")), 1, "{id}: code {code} redeemed once");
        }
        let busy = format!("{id}-busy");
        let busy_answers: Vec<String> = scans
            .iter()
            .zip(&answers)
            .filter(|((_, member, _), _)| *member == busy)
            .map(|(_, (_, body))| status(body))
            .collect();
        assert_eq!(
            busy_answers.iter().filter(|s| *s == "daily_limit").count(),
            17,
            "{id}: {busy_answers:?}"
        );
        let won = scans
            .iter()
            .zip(&answers)
            .filter(|((code, member, _), (_, body))| {
                (shared_codes[id].contains(code) || *member == busy) && status(body) == "won"
            })
            .count();
        assert_eq!(won, 7, "{id}: the stock of 7, exactly");
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
