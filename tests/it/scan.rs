//! `POST /v1/scan` against a real Redis and Postgres: exactly-once redemption, stock
//! that never oversells, identical retries, pacing, daily limits, and forged codes
//! that never reach Redis.

use std::collections::HashMap;

use crate::support::*;
use yima_gateway::{Clock, INVALID_CODE_BODY};

const NO_PRIZES: &str = "";

fn count_statuses(answers: &[(u16, String)]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (code, body) in answers {
        assert_eq!(*code, 200, "{body}");
        *counts.entry(status(body)).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_members_scanning_one_code_redeem_it_once() {
    let gateway =
        TestGateway::start(&campaign(30, "", NO_PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(1, None).await;
    let scans = (0..10_000)
        .map(|i| (codes[0].clone(), format!("member-{i}"), "consumer"))
        .collect();
    let answers = gateway.scan_all(scans, 256).await;
    let counts = count_statuses(&answers);
    assert_eq!(counts.get("no_prize"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("already_redeemed"), Some(&9_999), "{counts:?}");
    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(stats["scans"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prize_with_stock_100_is_awarded_exactly_100_times_under_50000_draws() {
    let prizes = r#"
[[prizes]]
id = "phone"
name = "5G phone"
kind = "item"
value = 299900
stock = 100
odds = [1000000, 1000000]
"#;
    let gateway =
        TestGateway::start(&campaign(1_000_000, "", prizes), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(50_000, None).await;
    let scans = codes
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, format!("m{i}"), "consumer"))
        .collect();
    let answers = gateway.scan_all(scans, 256).await;
    let counts = count_statuses(&answers);
    assert_eq!(counts.get("won"), Some(&100), "{counts:?}");
    assert_eq!(counts.get("no_prize"), Some(&49_900), "{counts:?}");

    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(stats["prizes"][0]["awarded"], 100);
    assert_eq!(stats["prizes"][0]["remaining"], 0);
    assert_eq!(stats["wins"], 100);
    assert_eq!(stats["scans"], 50_000);
    let awarded: i64 = redis::cmd("HGET")
        .arg(format!("{}:{{test}}:awarded", gateway.prefix))
        .arg("phone")
        .query_async(&mut gateway.redis().await)
        .await
        .expect("awarded counter");
    assert_eq!(awarded, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_returns_the_identical_body_also_when_concurrent() {
    let prizes = r#"
[[prizes]]
id = "bonus"
name = "Bonus \"50\" points"
kind = "points"
value = 50
stock = 1000
odds = [500000, 500000]
"#;
    let gateway = TestGateway::start(&campaign(30, "", prizes), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(20, None).await;
    for code in &codes[..10] {
        let first = gateway.scan(code, "wang", "consumer").await;
        for _ in 0..4 {
            assert_eq!(gateway.scan(code, "wang", "consumer").await, first);
        }
    }
    for code in &codes[10..] {
        let answers = gateway
            .scan_all(vec![(code.clone(), "li".into(), "consumer"); 5], 5)
            .await;
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
        assert!(["won", "no_prize"].contains(&status(&answers[0].1).as_str()));
    }
    // Ten redemptions each, not fifty.
    let member = json(&gateway.get("/v1/members/li").await.1);
    assert_eq!(member["scans"], 10);
    let wang = json(&gateway.get("/v1/members/wang?campaign=test").await.1);
    assert_eq!(wang["scans"], 10);
    assert_eq!(wang["growth"], 100);
    assert_eq!(wang["level"], 2);
    assert_eq!(wang["level_name"], "master");
    assert_eq!(wang["next_level_growth"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_is_redeemed_once_per_role() {
    let gateway =
        TestGateway::start(&campaign(30, "", NO_PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(1, None).await;
    let code = &codes[0];
    gateway.register_dealer("store-owner-1").await;
    gateway.register_dealer("store-owner-2").await;
    let dealer = gateway.scan(code, "store-owner-1", "dealer").await;
    let consumer = gateway.scan(code, "painter-1", "consumer").await;
    assert_eq!(status(&dealer.1), "no_prize");
    assert_eq!(status(&consumer.1), "no_prize");
    assert_ne!(json(&dealer.1)["scan_id"], json(&consumer.1)["scan_id"]);
    assert_eq!(
        status(&gateway.scan(code, "store-owner-2", "dealer").await.1),
        "already_redeemed"
    );
    assert_eq!(
        status(&gateway.scan(code, "painter-2", "consumer").await.1),
        "already_redeemed"
    );
    // A body without a role is a consumer scan.
    let (_, body) = gateway
        .scan_body(format!(r#"{{"code":"{code}","member":"painter-1"}}"#))
        .await;
    assert_eq!(body, consumer.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_codes_are_rejected_identically_without_a_single_redis_command() {
    let (_redis, gateway) = on_private_redis().await;
    let (batch, codes) = gateway.batch(100, None).await;
    let ring = key_ring();
    let mut forged: Vec<String> = Vec::new();
    for code in &codes {
        for position in [0, 7, 14, 20] {
            let mut bytes = code.clone().into_bytes();
            bytes[position] = if bytes[position] == b'x' { b'y' } else { b'x' };
            forged.push(String::from_utf8(bytes).expect("ascii"));
        }
    }
    // Validly signed, but for serials or batches that were never registered.
    forged.push(ring.signing_key().sign(batch, 100).to_string());
    forged.push(ring.signing_key().sign(batch + 1000, 0).to_string());
    forged.extend(
        [
            "",
            "short",
            "7ZnQs1cLeW63wmALontd5",
            "码码码码码码码",
            "zzzzzzzzzzzzzzzzzzzzz",
        ]
        .map(String::from),
    );

    let mut connection = gateway.redis().await;
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut connection)
        .await
        .expect("resetstat");
    for code in &forged {
        let (http, body) = gateway.scan(code, "forger", "consumer").await;
        assert_eq!((http, body.as_str()), (404, INVALID_CODE_BODY), "{code}");
    }
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .expect("info");
    let commands: Vec<&str> = stats
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| line.split(':').next())
        // The test's own CONFIG RESETSTAT and INFO (Redis 7 names subcommands `config|...`).
        .filter(|command| !(command.starts_with("config") || *command == "info"))
        .collect();
    assert!(
        commands.is_empty(),
        "forged codes reached Redis: {commands:?}\n{stats}"
    );
    // And the real codes still work.
    assert_eq!(
        status(&gateway.scan(&codes[0], "painter", "consumer").await.1),
        "no_prize"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_releases_a_quarter_of_the_stock_at_a_quarter_of_the_campaign() {
    let text = campaign(
        1_000_000,
        "",
        r#"
[[prizes]]
id = "oven"
name = "Oven"
kind = "item"
value = 59900
stock = 100
pacing = "linear"
odds = [1000000, 1000000]
"#,
    )
    .replace("2026-01-01T00:00:00+08:00", "2026-01-01T00:00:00Z")
    .replace("2027-12-31T23:59:59+08:00", "2026-01-05T00:00:00Z");
    let clock = Clock::fixed("2026-01-02T00:00:00Z".parse().expect("time"));
    let gateway = TestGateway::start(&text, clock.clone()).await;
    let (_, codes) = gateway.batch(1_000, None).await;
    let scan = |range: std::ops::Range<usize>| {
        codes[range]
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), format!("m{i}"), "consumer"))
            .collect::<Vec<_>>()
    };
    let counts = count_statuses(&gateway.scan_all(scan(0..400), 64).await);
    assert_eq!(
        counts.get("won"),
        Some(&25),
        "at 25% of the campaign: {counts:?}"
    );
    clock.set("2026-01-03T00:00:00Z".parse().expect("time"));
    let counts = count_statuses(&gateway.scan_all(scan(400..800), 64).await);
    assert_eq!(counts.get("won"), Some(&25), "the next quarter: {counts:?}");
    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(stats["prizes"][0]["awarded"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_resets_at_midnight_in_the_campaign_time_zone() {
    // 23:00 in Shanghai is 15:00 UTC: the same UTC day continues past local midnight.
    let clock = Clock::fixed("2026-06-01T23:00:00+08:00".parse().expect("time"));
    let gateway = TestGateway::start(&campaign(3, "", NO_PRIZES), clock.clone()).await;
    let (_, codes) = gateway.batch(10, None).await;
    for code in &codes[..3] {
        assert_eq!(
            status(&gateway.scan(code, "wang", "consumer").await.1),
            "no_prize"
        );
    }
    let refused = json(&gateway.scan(&codes[3], "wang", "consumer").await.1);
    assert_eq!(refused["status"], "daily_limit");
    assert_eq!(refused["points"], 30);
    // The refused code was not redeemed: someone else can still scan it.
    assert_eq!(
        status(&gateway.scan(&codes[3], "li", "consumer").await.1),
        "no_prize"
    );
    // The limit is per member: a dealer's scans do not count against wang's.
    gateway.register_dealer("store-wang").await;
    assert_eq!(
        status(&gateway.scan(&codes[4], "store-wang", "dealer").await.1),
        "no_prize"
    );

    clock.set("2026-06-02T00:00:30+08:00".parse().expect("time"));
    assert_eq!(
        status(&gateway.scan(&codes[5], "wang", "consumer").await.1),
        "no_prize"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_stock_draws_fall_back_to_the_configured_prize() {
    let prizes = r#"
[[prizes]]
id = "phone"
name = "5G phone"
kind = "item"
value = 299900
stock = 2
odds = [1000000, 1000000]

[[prizes]]
id = "bonus"
name = "50 bonus points"
kind = "points"
value = 50
stock = 1000
odds = [0, 0]
"#;
    let gateway = TestGateway::start(
        &campaign(100, "out_of_stock = \"bonus\"", prizes),
        Clock::fixed(june_first()),
    )
    .await;
    let (_, codes) = gateway.batch(5, None).await;
    let mut won = Vec::new();
    for code in &codes {
        let answer = json(&gateway.scan(code, "wang", "consumer").await.1);
        won.push(answer["prize"]["id"].as_str().expect("a prize").to_string());
    }
    assert_eq!(won, ["phone", "phone", "bonus", "bonus", "bonus"]);
    let member = json(&gateway.get("/v1/members/wang").await.1);
    assert_eq!(member["points"], 5 * 10 + 3 * 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn void_batches_and_closed_campaigns_redeem_nothing() {
    let clock = Clock::fixed(june_first());
    let gateway = TestGateway::start(&campaign(30, "", NO_PRIZES), clock.clone()).await;
    let (batch, codes) = gateway.batch(3, None).await;
    gateway.void_batch(batch).await;
    assert_eq!(
        status(&gateway.scan(&codes[0], "wang", "consumer").await.1),
        "batch_void"
    );

    let (_, open) = gateway.batch(1, None).await;
    clock.set("2028-01-01T00:00:00+08:00".parse().expect("time"));
    assert_eq!(
        status(&gateway.scan(&open[0], "wang", "consumer").await.1),
        "campaign_closed"
    );
    clock.set("2025-12-31T23:59:59+08:00".parse().expect("time"));
    assert_eq!(
        status(&gateway.scan(&open[0], "wang", "consumer").await.1),
        "campaign_closed"
    );
    clock.set(june_first());
    assert_eq!(
        status(&gateway.scan(&open[0], "wang", "consumer").await.1),
        "no_prize"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_a_precise_400() {
    let gateway =
        TestGateway::start(&campaign(30, "", NO_PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(1, None).await;
    let code = &codes[0];
    let cases = [
        ("{".to_string(), "EOF"),
        ("[]".to_string(), "expected struct"),
        (r#"{"member":"a"}"#.to_string(), "missing field `code`"),
        (
            format!(r#"{{"code":"{code}"}}"#),
            "member is required with the service key",
        ),
        (
            format!(r#"{{"code":"{code}","member":"a","role":"boss"}}"#),
            "unknown variant `boss`",
        ),
        (
            format!(r#"{{"code":"{code}","member":"a b"}}"#),
            "member must be",
        ),
        (
            format!(r#"{{"code":"{code}","member":"{}"}}"#, "m".repeat(65)),
            "member must be",
        ),
        (
            format!(r#"{{"code":"{code}","member":"a","region":"上海"}}"#),
            "region must be",
        ),
        (
            format!(r#"{{"code":"{code}","member":"a","request_id":""}}"#),
            "request_id must be",
        ),
    ];
    for (body, expected) in cases {
        let (http, answer) = gateway.scan_body(body.clone()).await;
        let answer = json(&answer);
        assert_eq!(http, 400, "{body}");
        assert_eq!(answer["error"], "bad_request");
        let detail = answer["detail"].as_str().expect("detail");
        assert!(detail.contains(expected), "{body}: {detail}");
    }
    let (http, body) = gateway.scan_body(vec![b'x'; 64 * 1024]).await;
    assert_eq!(
        (http, body.as_str()),
        (413, r#"{"error":"payload_too_large"}"#)
    );
    let (http, body) = gateway.scan_body(vec![0xff, 0xfe]).await;
    assert_eq!(http, 400, "{body}");
    let (http, body) = gateway.get("/v1/nowhere").await;
    assert_eq!((http, body.as_str()), (404, r#"{"error":"not_found"}"#));
    // Nothing above redeemed the code.
    assert_eq!(
        status(&gateway.scan(code, "a", "consumer").await.1),
        "no_prize"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_script_cache_is_reloaded_and_requests_carry_ids() {
    let (_redis, gateway) = on_private_redis().await;
    let (_, codes) = gateway.batch(2, None).await;
    assert_eq!(
        status(&gateway.scan(&codes[0], "wang", "consumer").await.1),
        "no_prize"
    );
    // A Redis failover or SCRIPT FLUSH empties the script cache: EVALSHA then fails
    // with NOSCRIPT and the script must be loaded again, invisibly to the scanner.
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut gateway.redis().await)
        .await
        .expect("flush");
    assert_eq!(
        status(&gateway.scan(&codes[1], "wang", "consumer").await.1),
        "no_prize"
    );

    let response = gateway
        .http
        .post(format!("{}/v1/scan", gateway.base))
        .bearer_auth(SERVICE_TOKEN)
        .header("x-request-id", "client-chosen-42")
        .body(format!(r#"{{"code":"{}","member":"wang"}}"#, codes[1]))
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
    let response = gateway
        .http
        .get(format!("{}/healthz", gateway.base))
        .send()
        .await
        .expect("request");
    let generated = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        generated.contains('-') && generated.len() > 8,
        "{generated}"
    );
}

/// Finding 15.8: `campaign_closed` and `batch_void` were answered before Redis was
/// asked, so a member who won just before the end and retried after it lost the win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_end_or_a_void_is_still_the_stored_answer() {
    let clock = Clock::fixed("2027-12-31T23:59:58+08:00".parse().expect("time"));
    let gift = "[[prizes]]\nid = \"cup\"\nname = \"Cup\"\nkind = \"item\"\nvalue = 5900\nstock = 5\nodds = [1000000, 1000000]\n";
    let gateway = TestGateway::start(&campaign(30, "", gift), clock.clone()).await;
    let (batch, codes) = gateway.batch(3, None).await;
    let (_, won) = gateway.scan(&codes[0], "wang", "consumer").await;
    assert_eq!(status(&won), "won");
    let (_, other) = gateway.scan(&codes[1], "wang", "consumer").await;
    assert_eq!(status(&other), "won");

    clock.set("2028-01-01T00:00:01+08:00".parse().expect("time"));
    assert_eq!(gateway.scan(&codes[0], "wang", "consumer").await.1, won);
    // Others, and codes never redeemed, are closed.
    assert_eq!(
        status(&gateway.scan(&codes[0], "li", "consumer").await.1),
        "campaign_closed"
    );
    assert_eq!(
        status(&gateway.scan(&codes[2], "wang", "consumer").await.1),
        "campaign_closed"
    );
    gateway.register_dealer("store-wang").await;
    assert_eq!(
        status(&gateway.scan(&codes[0], "store-wang", "dealer").await.1),
        "campaign_closed"
    );

    clock.set(june_first());
    gateway.void_batch(batch).await;
    assert_eq!(gateway.scan(&codes[1], "wang", "consumer").await.1, other);
    assert_eq!(
        status(&gateway.scan(&codes[2], "wang", "consumer").await.1),
        "batch_void"
    );
}

/// A gateway on a prize-less campaign and a Redis of its own, for tests that count or
/// flush what that Redis holds.
async fn on_private_redis() -> (PrivateRedis, TestGateway) {
    let redis = PrivateRedis::start();
    let gateway = TestGateway::start_with_redis(
        &campaign(30, "", NO_PRIZES),
        Clock::fixed(june_first()),
        &redis.url,
    )
    .await;
    (redis, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_climbing_three_levels_draws_at_the_level_held_before_each_scan() {
    // Levels at 0, 20 and 40 growth, 10 a scan, and a prize only level 2 draws: the
    // level is what scan.lua's baked thresholds make of the member's growth.
    let toml = campaign(30, "", "").replace(
        "[[levels]]\nname = \"master\"\nmin_growth = 100\n",
        "[[levels]]\nname = \"journeyman\"\nmin_growth = 20\n\n\
         [[levels]]\nname = \"master\"\nmin_growth = 40\n",
    ) + r#"
[[prizes]]
id = "bonus"
name = "Bonus"
kind = "points"
value = 5
stock = 1000
odds = [0, 1000000, 0]
"#;
    let gateway = TestGateway::start(&toml, Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(5, None).await;
    // (status, points awarded, level after) per scan; growth before: 0, 10, 20, 30, 40.
    let expected = [
        ("no_prize", 10, 1),
        ("no_prize", 10, 2),
        ("won", 15, 2),
        ("won", 15, 3),
        ("no_prize", 10, 3),
    ];
    let mut points = 0;
    for (code, (want, awarded, level)) in codes.iter().zip(expected) {
        let (http, body) = gateway.scan(code, "wang", "consumer").await;
        assert_eq!(http, 200, "{body}");
        let answer = json(&body);
        points += awarded;
        assert_eq!(
            (
                answer["status"].as_str(),
                answer["points_awarded"].as_i64(),
                answer["points"].as_i64(),
                answer["level"].as_i64()
            ),
            (Some(want), Some(awarded), Some(points), Some(level)),
            "{body}"
        );
    }
    let wang = json(&gateway.get("/v1/members/wang?campaign=test").await.1);
    assert_eq!(
        (wang["growth"].as_i64(), wang["level_name"].as_str()),
        (Some(50), Some("master"))
    );
}
