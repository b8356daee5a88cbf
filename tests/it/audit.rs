//! Every draw the Lua script makes can be re-derived from the campaign's draw secret:
//! the script's mapping and the Rust mapping agree, and `yima audit` says so — or says
//! what does not match.

use std::collections::HashMap;

use crate::support::*;
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
        let audited = yima_campaign::audit(&rules, &secret, &event.recorded_draw("SKU-1"))
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
    // A version 3 event: what the gateway knew (JSON), then what the script decided.
    let (known, decided) = fields["event"].split_once('\n').expect("a version 3 event");
    let mut known: serde_json::Value = serde_json::from_str(known).expect("JSON");
    known["scan_id"] = "forgedforgedforgedforg".into();
    let mut decided: Vec<&str> = decided.split(' ').collect();
    // level drawn kind value, then the answer: status prize points_awarded points level
    for (index, value) in [
        (1, "phone"),
        (2, "item"),
        (3, "299900"),
        (4, "won"),
        (5, "phone"),
    ] {
        decided[index] = value;
    }
    let forged = format!("{known}\n{}", decided.join(" "));
    let _: String = redis::cmd("XADD")
        .arg(format!("{}:{{test}}:events", gateway.prefix))
        .arg("*")
        .arg("event")
        .arg(&forged)
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

/// The campaign's stored draw secret, as a reader of Postgres sees it.
async fn stored_secret(gateway: &TestGateway) -> Vec<u8> {
    sqlx::query_scalar("SELECT draw_secret FROM campaigns WHERE id = 'test'")
        .fetch_one(&mut gateway.db.connect().await)
        .await
        .expect("campaign row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_holds_the_draw_secret_sealed_and_the_odds_history_is_public() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let stored = stored_secret(&gateway).await;
    let secret = draw_keys()
        .open("test", &stored)
        .expect("opens with the draw key");
    assert_eq!(stored.len(), yima_campaign::SEALED_LEN);
    assert!(
        !stored.windows(32).any(|w| w == secret.as_bytes()),
        "the secret is not in the clear"
    );

    // Revision 2 changes the phone's odds; both revisions are published with their time.
    gateway
        .apply_and_wait(campaign(
            1000,
            "",
            &PRIZES.replace("odds = [100000, 300000]", "odds = [1000, 3000]"),
        ))
        .await;
    let (status, body) = gateway.get("/v1/campaigns/test").await;
    assert_eq!(status, 200, "{body}");
    let published = json(&body);
    assert_eq!(published["draw_commitment"], secret.commitment());
    assert!(published["draw_secret"].is_null(), "not before the end");
    let revisions = published["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 2, "{body}");
    let odds = |r: &serde_json::Value| r["prizes"][0]["odds"].clone();
    assert_eq!(revisions[0]["revision"], 1);
    assert_eq!(odds(&revisions[0]), serde_json::json!([100000, 300000]));
    assert_eq!(revisions[1]["revision"], 2);
    assert_eq!(odds(&revisions[1]), serde_json::json!([1000, 3000]));
    let at = |r: &serde_json::Value| -> jiff::Timestamp {
        r["effective_at"]
            .as_str()
            .expect("a time")
            .parse()
            .expect("RFC 3339")
    };
    assert!(at(&revisions[0]) <= at(&revisions[1]));

    // `audit` names the revision a scan used and when it took effect.
    let (_, codes) = gateway.batch(1, None).await;
    let answer = json(&gateway.scan(&codes[0], "wang", "consumer").await.1);
    let scan_id = answer["scan_id"].as_str().expect("scan id");
    let audit = run_ok(
        gateway
            .yima()
            .args(["audit", "--campaign", "test", "--scan", scan_id]),
    );
    let out = stdout(&audit);
    assert!(
        out.contains(&format!(
            "campaign  test revision 2, in force from {}",
            at(&revisions[1])
        )),
        "{out}"
    );

    // Once the campaign has ended the secret itself is published, opened from the seal.
    gateway
        .clock
        .set("2028-01-01T00:00:00+08:00".parse().expect("time"));
    let published = json(&gateway.get("/v1/campaigns/test").await.1);
    assert_eq!(published["draw_secret"], secret.to_hex());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_secret_never_loads_and_keys_rotate_by_resealing() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let genuine = stored_secret(&gateway).await;
    let secret = draw_keys().open("test", &genuine).expect("opens");
    let fresh_catalog = || async {
        let catalog = yima_gateway::Catalog::new(draw_keys());
        catalog.load_all(&gateway.ledger).await.expect("load");
        catalog.campaign("test").is_some()
    };
    assert!(fresh_catalog().await);

    // Someone with write access plants a secret of their choosing: plain, or the seal
    // of another campaign. No gateway loads the campaign with it, and neither
    // `migrate` nor `reseal` seals it.
    let other = draw_keys().seal(
        "other",
        &yima_campaign::DrawSecret::from_bytes([1; 32]),
        [0; 12],
    );
    for planted in [vec![1u8; 32], other] {
        sqlx::query("UPDATE campaigns SET draw_secret = $1 WHERE id = 'test'")
            .bind(&planted)
            .execute(&mut gateway.db.connect().await)
            .await
            .expect("plant");
        assert!(!fresh_catalog().await, "a planted secret is refused");
        run_ok(gateway.yima().arg("migrate"));
        assert_eq!(
            stored_secret(&gateway).await,
            planted,
            "migrate leaves it alone"
        );
        let refused = run_err(gateway.yima().args(["campaign", "reseal"]));
        assert!(refused.contains("campaign test: "), "{refused}");
    }
    sqlx::query("UPDATE campaigns SET draw_secret = $1 WHERE id = 'test'")
        .bind(&genuine)
        .execute(&mut gateway.db.connect().await)
        .await
        .expect("restore");

    // Rotation: add key 2, reseal, drop key 1. The secret (and so every draw and the
    // published commitment) stays the same.
    let key_2 = "2:3232323232323232323232323232323232323232323232323232323232323232";
    let key_1 = std::fs::read_to_string(repo().join(DEV_DRAW_KEYS)).expect("dev key");
    let both = format!("{key_1}\n{key_2}");
    let resealed = gateway
        .yima()
        .env_remove("YIMA_DRAW_KEYS_FILE")
        .env("YIMA_DRAW_KEYS", &both)
        .args(["campaign", "reseal"])
        .output()
        .expect("yima");
    assert!(resealed.status.success(), "{}", stderr(&resealed));
    assert!(
        stderr(&resealed).contains("resealed 1 of 1 campaign draw secret(s) under draw key 2"),
        "{}",
        stderr(&resealed)
    );
    let rotated = stored_secret(&gateway).await;
    assert_ne!(rotated, genuine);
    let only_new = yima_campaign::DrawKeyRing::parse(key_2).expect("ring");
    assert_eq!(only_new.open("test", &rotated), Ok(secret.clone()));
    assert_eq!(
        draw_keys().open("test", &rotated),
        Err(yima_campaign::UnsealError::UnknownKey(2)),
        "the old key alone no longer opens it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_seals_the_secrets_stored_in_the_clear_before_sealing_existed() {
    let db = TestDb::new().await;
    // The schema as it was before sealing, with a campaign holding a plain secret.
    let mut connection = db.connect().await;
    let ledger = yima_ledger::Ledger::connect(&db.url).await.expect("ledger");
    ledger.migrate_to(11).await.expect("migrate to 11");
    let plain = [42u8; 32];
    sqlx::query(
        "INSERT INTO campaigns (id, name, starts_at, ends_at, timezone, definition, draw_secret)
         VALUES ('old', 'old', now(), now() + interval '1 day', 'Asia/Shanghai', '{}', $1)",
    )
    .bind(plain.as_slice())
    .execute(&mut connection)
    .await
    .expect("an old campaign");

    let without_keys = run_err(db.yima().env_remove("YIMA_DRAW_KEYS_FILE").arg("migrate"));
    assert!(
        without_keys.contains("1 campaign(s) hold a draw secret in the clear"),
        "{without_keys}"
    );
    run_ok(db.yima().arg("migrate"));
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT draw_secret FROM campaigns WHERE id = 'old'")
        .fetch_one(&mut connection)
        .await
        .expect("row");
    assert_eq!(
        draw_keys().open("old", &sealed),
        Ok(yima_campaign::DrawSecret::from_bytes(plain))
    );
    // Done once: a second migrate (without keys, even) has nothing left to seal.
    run_ok(db.yima().env_remove("YIMA_DRAW_KEYS_FILE").arg("migrate"));
}
