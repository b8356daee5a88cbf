//! Every draw the Lua script makes can be re-derived from the campaign's draw secret:
//! the script's mapping and the Rust mapping agree, and `yima audit` says so — or says
//! what does not match.

mod support;

use std::collections::HashMap;

use support::*;
use yima_gateway::Clock;
use yima_store::ScanEvent;

const PRIZES: &str = r#"
[[prizes]]
id = "phone"
name = "5G phone"
kind = "item"
value = 299900
stock = 20
odds = [100000, 300000]

[[prizes]]
id = "cup"
name = "Insulated cup"
kind = "item"
value = 5900
stock = 1000
odds = [200000, 300000]
"#;

async fn events(gateway: &TestGateway) -> Vec<(String, HashMap<String, String>)> {
    redis::cmd("XRANGE")
        .arg(format!("{}:{{test}}:events", gateway.prefix))
        .arg("-")
        .arg("+")
        .query_async(&mut gateway.redis().await)
        .await
        .expect("xrange")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_draw_is_re_derived_from_the_secret() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(600, None).await;
    // 20 members with 30 scans each: each crosses from level 1 to level 2 (growth 100),
    // and the phone's stock of 20 runs out, so substitutions happen too.
    let scans = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), format!("m{}", i % 20), "consumer"))
        .collect();
    let answers = gateway.scan_all(scans, 20).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));

    let (secret, rules) = gateway.secret_and_rules().await;
    let entries = events(&gateway).await;
    assert_eq!(entries.len(), 600);
    let (mut levels, mut substituted) = (HashMap::new(), 0);
    for (_, fields) in &entries {
        let event = ScanEvent::from_pairs(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .expect("event");
        *levels.entry(event.level).or_insert(0) += 1;
        let audited = yima_campaign::audit(&rules, &secret, &event.recorded_draw())
            .unwrap_or_else(|mismatches| panic!("{event:?}: {mismatches:?}"));
        substituted += usize::from(audited.substituted);
    }
    assert!(levels.len() == 2, "both levels drew: {levels:?}");
    assert!(
        substituted > 0,
        "the phone ran out, so some draws were substituted"
    );

    // The same through the CLI, for one genuine record and one tampered copy.
    let scan_id = json(&answers[0].1)["scan_id"]
        .as_str()
        .expect("scan id")
        .to_string();
    let audit = |scan: &str| {
        gateway
            .db
            .yima()
            .env("YIMA_REDIS_URL", &gateway.redis_url)
            .env("YIMA_KEY_PREFIX", &gateway.prefix)
            .args(["audit", "--campaign", "test", "--scan", scan])
            .output()
            .expect("yima runs")
    };
    let genuine = audit(&scan_id);
    assert!(genuine.status.success(), "{}", stderr(&genuine));
    assert!(
        stdout(&genuine).contains("result    MATCH"),
        "{}",
        stdout(&genuine)
    );

    let (_, fields) = &entries[0];
    let mut forged: serde_json::Value =
        serde_json::from_str(&fields["event"]).expect("a version 2 event");
    forged["scan_id"] = "forgedforgedforgedforg".into();
    forged["drawn"] = "phone".into();
    forged["prize"] = "phone".into();
    let _: String = redis::cmd("XADD")
        .arg(format!("{}:{{test}}:events", gateway.prefix))
        .arg("*")
        .arg("event")
        .arg(forged.to_string())
        .query_async(&mut gateway.redis().await)
        .await
        .expect("xadd");
    let tampered = audit("forgedforgedforgedforg");
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        stdout(&tampered).contains("result    MISMATCH"),
        "{}",
        stdout(&tampered)
    );
    assert!(
        stdout(&tampered).contains("mismatch  scan id"),
        "{}",
        stdout(&tampered)
    );
    let missing = audit("no-such-scan");
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no scan no-such-scan recorded"),
        "{}",
        stderr(&missing)
    );

    // Once settled, the record of reference is Postgres: the audit holds without the
    // stream, and a settled row changed afterwards is caught.
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let (settled, rejected): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM scans), (SELECT count(*) FROM rejected_redemptions)",
    )
    .fetch_one(&mut gateway.db.connect().await)
    .await
    .expect("counts");
    // The forged entry names a settled code under another scan id: rejected, and the
    // rest of its batch still settles.
    assert_eq!((settled, rejected), (600, 1));
    gateway.lose_redis().await;
    let settled = audit(&scan_id);
    assert!(settled.status.success(), "{}", stderr(&settled));
    let out = stdout(&settled);
    assert!(
        out.contains("(settled record)") && out.contains("result    MATCH"),
        "{out}"
    );
    let drawn: Option<String> = sqlx::query_scalar("SELECT drawn FROM scans WHERE scan_id = $1")
        .bind(&scan_id)
        .fetch_one(&mut gateway.db.connect().await)
        .await
        .expect("settled scan");
    let altered = if drawn.as_deref() == Some("phone") {
        "cup"
    } else {
        "phone"
    };
    sqlx::query("UPDATE scans SET drawn = $2, prize = $2 WHERE scan_id = $1")
        .bind(&scan_id)
        .bind(altered)
        .execute(&mut gateway.db.connect().await)
        .await
        .expect("alter the settled row");
    let altered = audit(&scan_id);
    assert_eq!(altered.status.code(), Some(1), "{}", stdout(&altered));
    assert!(
        stdout(&altered).contains("result    MISMATCH"),
        "{}",
        stdout(&altered)
    );
}
