//! Rules per member architecture, against a real gateway, Redis and Postgres: the odds
//! each architecture draws at are measured against its configuration, and a dealer's
//! rebate per SKU is paid, budgeted and settled while the consumer draws on the label.

use crate::support::*;
use yima_gateway::Clock;

/// Two levels for tradesmen at 10 % each; decorators climb one level of their own,
/// earn 20 points a scan and draw the cup at 50 %.
const ODDS: &str = r#"
[[prizes]]
id = "cup"
name = "Cup"
kind = "points"
value = 5
stock = 100000
odds = [100000, 100000]

[architectures.decorator]
points_per_scan = 20

[[architectures.decorator.levels]]
name = "partner"
min_growth = 0

[architectures.decorator.odds]
cup = [500000]
"#;

/// How many standard deviations a measured count may stray from its expectation:
/// a genuine draw strays this far less than once in a million runs.
const SIGMAS: f64 = 5.0;

fn wins(answers: &[(u16, String)]) -> usize {
    answers
        .iter()
        .filter(|(status, body)| *status == 200 && json(body)["status"] == "won")
        .count()
}

/// Asserts `wins` of `scans` is what odds of `ppm` parts per million give.
fn assert_drawn_at(what: &str, wins: usize, scans: usize, ppm: u32) {
    let p = f64::from(ppm) / 1_000_000.0;
    let (n, k) = (scans as f64, wins as f64);
    let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
    assert!(
        (k - mean).abs() <= SIGMAS * sd,
        "{what}: {wins} wins of {scans} scans, expected {mean} ± {:.0}",
        SIGMAS * sd
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_architecture_draws_at_its_own_configured_odds() {
    let gateway = TestGateway::start(&campaign(5000, "", ODDS), Clock::fixed(june_first())).await;
    const PER_GROUP: usize = 1000;
    let (_, codes) = gateway
        .batch(u32::try_from(2 * PER_GROUP).expect("fits"), None)
        .await;
    for index in 0..10 {
        gateway
            .register_in(&format!("deco{index}"), "decorator")
            .await;
    }
    let scans = |offset: usize, prefix: &str| {
        codes[offset..offset + PER_GROUP]
            .iter()
            .enumerate()
            .map(|(index, code)| (code.clone(), format!("{prefix}{}", index % 10), "consumer"))
            .collect::<Vec<_>>()
    };
    let tradesmen = gateway.scan_all(scans(0, "trades"), 20).await;
    let decorators = gateway.scan_all(scans(PER_GROUP, "deco"), 20).await;
    assert!(
        tradesmen
            .iter()
            .chain(&decorators)
            .all(|(status, _)| *status == 200),
        "every scan answered"
    );
    assert_drawn_at("tradesmen", wins(&tradesmen), PER_GROUP, 100_000);
    assert_drawn_at("decorators", wins(&decorators), PER_GROUP, 500_000);

    // Points and levels follow the architecture too.
    for (_, body) in &decorators {
        let answer = json(body);
        let expected = if answer["status"] == "won" { 25 } else { 20 };
        assert_eq!(answer["points_awarded"], expected, "{body}");
        assert_eq!(answer["level"], 1, "decorators have one level: {body}");
    }
    let (_, me) = gateway.get_as("/v1/me", Some(&member_token("deco0"))).await;
    let standing = &json(&me)["campaigns"][0];
    assert_eq!(standing["level_name"], "partner", "{me}");
    assert!(standing["next_level_growth"].is_null(), "{me}");
    let (_, me) = gateway
        .get_as("/v1/me", Some(&member_token("trades0")))
        .await;
    let standing = &json(&me)["campaigns"][0];
    assert_eq!(
        (standing["growth"].as_i64(), &standing["level_name"]),
        (Some(1000), &serde_json::json!("master")),
        "100 scans of 10 growth reach the campaign's second level: {me}"
    );

    // Settled, each scan says whose rules drew it, and the audit re-derives a
    // decorator's draw with the decorator's odds.
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let counts: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT architecture, count(*) FROM scans GROUP BY 1 ORDER BY 1 NULLS FIRST",
    )
    .fetch_all(&mut gateway.db.connect().await)
    .await
    .expect("counts");
    let per_group = i64::try_from(PER_GROUP).expect("fits");
    assert_eq!(
        counts,
        [(None, per_group), (Some("decorator".into()), per_group)]
    );
    let won = decorators
        .iter()
        .map(|(_, body)| json(body))
        .find(|answer| answer["status"] == "won")
        .expect("a decorator won");
    let audit = gateway
        .yima()
        .args(["audit", "--campaign", "test", "--scan"])
        .arg(won["scan_id"].as_str().expect("scan id"))
        .output()
        .expect("yima runs");
    let out = stdout(&audit);
    assert!(audit.status.success(), "{out}{}", stderr(&audit));
    assert!(
        out.contains("under the rules of architecture decorator")
            && out.contains("result    MATCH"),
        "{out}"
    );
}

/// Consumers always draw the bonus; a dealer's scan of an SKU-1 code pays a 2 CNY
/// rebate from a budget of three, and other SKUs pay a dealer nothing.
const REBATES: &str = r#"
[[prizes]]
id = "bonus"
name = "Bonus points"
kind = "points"
value = 7
stock = 100000
odds = [1000000, 1000000]

[[prizes]]
id = "rebate"
name = "Stocking rebate"
kind = "cash"
value = 200
stock = 3
odds = [0, 0]

[architectures.dealer]
points_per_scan = 0
daily_scan_limit = 100
odds = {}
rebates = [{ sku = "SKU-1", prize = "rebate" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dealer_is_paid_the_skus_rebate_while_the_consumer_draws_on_the_same_label() {
    let gateway = TestGateway::start(&campaign(30, "", REBATES), Clock::fixed(june_first())).await;
    gateway.register_dealer("store-li").await;
    let (_, bags) = gateway.batch_of_sku("test", "SKU-1", 5, None).await;
    let (_, others) = gateway.batch_of_sku("test", "SKU-2", 1, None).await;

    let (status, dealer) = gateway.scan(&bags[0], "store-li", "dealer").await;
    assert_eq!(status, 200, "{dealer}");
    let answer = json(&dealer);
    assert_eq!(answer["status"], "rebate", "{dealer}");
    assert_eq!(answer["prize"]["id"], "rebate");
    assert_eq!(answer["prize"]["kind"], "cash");
    assert_eq!(answer["prize"]["value"], 200);
    assert_eq!(answer["points_awarded"], 0);
    let (_, again) = gateway.scan(&bags[0], "store-li", "dealer").await;
    assert_eq!(
        again, dealer,
        "a retry is the same answer, not a second rebate"
    );

    let (_, consumer) = gateway.scan(&bags[0], "wang", "consumer").await;
    let answer = json(&consumer);
    assert_eq!(
        (&answer["status"], &answer["prize"]["id"]),
        (&serde_json::json!("won"), &serde_json::json!("bonus")),
        "the consumer draws on the label the dealer stocked: {consumer}"
    );

    let (_, other) = gateway.scan(&others[0], "store-li", "dealer").await;
    assert_eq!(
        status_of(&other),
        "no_prize",
        "no rebate for SKU-2: {other}"
    );
    let rest: Vec<String> = dealer_statuses(&gateway, &bags[1..]).await;
    assert_eq!(
        rest,
        ["rebate", "rebate", "no_prize", "no_prize"],
        "the rebate's stock is its budget"
    );

    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let paid: Vec<(String, i64)> =
        sqlx::query_as("SELECT member, amount_fen FROM payouts ORDER BY scan_id")
            .fetch_all(&mut gateway.db.connect().await)
            .await
            .expect("payouts");
    assert_eq!(paid, vec![("store-li".to_string(), 200); 3]);
    let (_, history) = gateway
        .get_as("/v1/me/scans?limit=10", Some(&member_token("store-li")))
        .await;
    let statuses: Vec<String> = json(&history)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "rebate").count(),
        3,
        "{history}"
    );

    let audit = gateway
        .yima()
        .args(["audit", "--campaign", "test", "--scan"])
        .arg(json(&dealer)["scan_id"].as_str().expect("scan id"))
        .output()
        .expect("yima runs");
    let out = stdout(&audit);
    assert!(
        audit.status.success() && out.contains("the SKU's rebate") && out.contains("MATCH"),
        "{out}{}",
        stderr(&audit)
    );
    gateway.reconcile_agrees();
}

/// The dealer's scans of `codes`, one after another, by status.
async fn dealer_statuses(gateway: &TestGateway, codes: &[String]) -> Vec<String> {
    let mut statuses = Vec::new();
    for code in codes {
        let (_, body) = gateway.scan(code, "store-li", "dealer").await;
        statuses.push(status_of(&body));
    }
    statuses
}

fn status_of(body: &str) -> String {
    json(body)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_naming_an_architecture_the_brand_lacks_is_refused_whole() {
    let gateway = TestGateway::start(&campaign(30, "", ODDS), Clock::fixed(june_first())).await;
    let file = campaign(
        30,
        "",
        &ODDS.replace("architectures.decorator", "architectures.ghost"),
    );
    let (status, body) = gateway
        .post("/v1/admin/campaigns", file.clone(), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains(r#"{"path":"architectures.ghost","message":"`ghost` is not one of the brand's architectures"#),
        "{body}"
    );
    let path = std::env::temp_dir().join(format!("{}-ghost.toml", gateway.prefix));
    std::fs::write(&path, &file).expect("write");
    let applied = gateway
        .yima()
        .args(["campaign", "apply"])
        .arg(&path)
        .output()
        .expect("yima runs");
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(applied.status.code(), Some(1));
    assert!(
        stderr(&applied).contains("architectures.ghost"),
        "{}",
        stderr(&applied)
    );
}
