//! Settlement: every redemption reaches Postgres exactly once, balances equal their
//! ledger, and a code redeemed twice after Redis lost its state is never paid twice.

use crate::support::*;
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
    let wins = count(
        answers
            .iter()
            .filter(|(_, body)| json(body)["status"] == "won")
            .count(),
    );

    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;

    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 300);
    assert_eq!(gateway.scalar("SELECT count(*) FROM awards").await, wins);
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM awards WHERE prize_id = 'phone'")
            .await,
        3
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM payouts").await,
        gateway
            .scalar("SELECT count(*) FROM awards WHERE kind = 'cash'")
            .await
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM payouts WHERE amount_fen <> 888")
            .await,
        0
    );
    assert_eq!(
        gateway
            .scalar(
                "SELECT count(*) FROM members m
               LEFT JOIN (SELECT campaign_id, member, sum(points)::bigint AS points,
                                 sum(growth)::bigint AS growth
                            FROM points_entries GROUP BY campaign_id, member) l
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
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 300);
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM points_entries").await,
        300
    );
    assert_eq!(
        gateway
            .scalar("SELECT sum(scans)::bigint FROM members")
            .await,
        300
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
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
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions WHERE member = 'li'")
            .await,
        1
    );
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 2);
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM payouts").await,
        2,
        "one per code, not per redemption"
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM awards WHERE member = 'wang'")
            .await,
        1
    );
    assert_eq!(
        gateway
            .scalar("SELECT points FROM members WHERE member = 'li'")
            .await,
        10
    );
}

/// Appends `count` synthetic redemptions of `batch` to the campaign stream, as the
/// gateway would: every tenth wins a cash red packet.
async fn append_events(gateway: &TestGateway, batch: u32, count: u32) {
    let mut connection = gateway.redis().await;
    let stream = format!("{}:{{test}}:events", gateway.prefix);
    for chunk in (0..count).collect::<Vec<_>>().chunks(2000) {
        let mut pipe = redis::pipe();
        for &serial in chunk {
            let won = serial % 10 == 0;
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("event")
                .arg(
                    serde_json::json!({
                        "v": 2,
                        "scan_id": format!("scan-{serial}"),
                        "campaign": "test",
                        "revision": 1,
                        "batch": batch,
                        "serial": serial,
                        "role": "consumer",
                        "member": format!("m{}", serial % 997),
                        "day": "2026-06-01",
                        "at_ms": 1_780_286_400_000_i64,
                        "level": 1,
                        "draw": 1,
                        "drawn": if won { "red-packet" } else { "" },
                        "prize": if won { "red-packet" } else { "" },
                        "kind": if won { "cash" } else { "" },
                        "value": if won { 888 } else { 0 },
                        "points": 10,
                        "growth": 10,
                        "status": if won { "won" } else { "no_prize" },
                    })
                    .to_string(),
                )
                .ignore();
        }
        let () = pipe.query_async(&mut connection).await.expect("xadd");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_five_times_still_settles_every_award_exactly_once() {
    use std::hash::BuildHasher;
    const EVENTS: u32 = 100_000;
    let gateway = TestGateway::start(&campaign(1000, "", ""), Clock::fixed(june_first())).await;
    let (batch, _) = gateway.batch(EVENTS, None).await;
    append_events(&gateway, batch, EVENTS).await;

    let spawn = || {
        gateway
            .db
            .yima()
            .env("YIMA_REDIS_URL", &gateway.redis_url)
            .env("YIMA_KEY_PREFIX", &gateway.prefix)
            .args(["settle", "--batch-size", "500", "--claim-idle-ms", "300"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("yima settle starts")
    };
    let settled = || async { gateway.scalar("SELECT count(*) FROM scans").await };
    // Waits, bounded, until at least `target` scans are settled.
    let reach = |target: i64| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let now = settled().await;
            if now >= target {
                return now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stuck at {now} of {target}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };

    let random = std::collections::hash_map::RandomState::new();
    for kill in 0..5u64 {
        let mut worker = spawn();
        // A random point within this worker's share of the work.
        let target = i64::from(EVENTS) * (i64::try_from(kill).expect("small") * 2 + 1) / 12
            + i64::try_from(random.hash_one(kill) % 4000).expect("small");
        let at = reach(target).await;
        worker.kill().expect("SIGKILL");
        let status = worker.wait().expect("reaped");
        assert!(!status.success(), "killed worker exited cleanly");
        eprintln!("kill {kill}: SIGKILL at {at} settled scans");
    }
    // A killed worker's last COMMIT may still be finishing in its server process:
    // count what is settled once no other session is busy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while gateway
        .scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()
                AND state IS DISTINCT FROM 'idle'",
        )
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a killed worker's session stays busy"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before = settled().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let last = gateway
        .db
        .yima()
        .env("YIMA_REDIS_URL", &gateway.redis_url)
        .env("YIMA_KEY_PREFIX", &gateway.prefix)
        .args(["settle", "--batch-size", "500", "--claim-idle-ms", "300"])
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("yima settle starts");
    reach(i64::from(EVENTS)).await;
    // Its metrics count what it settled, and the lag falls to zero (bounded wait: the
    // gauge is sampled once a second).
    let metric = |text: &str, name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if metric(&text, "yima_settle_lag{campaign=\"test\"}") == Some(0.0) {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lag never reached 0:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        metric(&text, "yima_settled_events_total"),
        Some((i64::from(EVENTS) - before) as f64),
        "{text}"
    );
    assert_eq!(
        metric(&text, "yima_settle_rejected_duplicates_total"),
        Some(0.0)
    );
    assert!(text.contains("yima_settle_batch_size_bucket"), "{text}");
    // Settled entries were trimmed: the stream keeps at most about a node of them.
    let length: u64 = redis::cmd("XLEN")
        .arg(format!("{}:{{test}}:events", gateway.prefix))
        .query_async(&mut gateway.redis().await)
        .await
        .expect("xlen");
    assert!(length < 1000, "{length} settled entries left on the stream");
    // Everything settled: SIGTERM drains and exits 0.
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &last.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());
    let output = last.wait_with_output().expect("worker exits");
    assert!(
        output.status.success(),
        "SIGTERM exit: {:?}\n{}",
        output.status,
        stderr(&output)
    );

    assert_eq!(
        gateway.scalar("SELECT count(*) FROM scans").await,
        i64::from(EVENTS)
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM awards").await,
        i64::from(EVENTS / 10)
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM payouts").await,
        i64::from(EVENTS / 10)
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM points_entries").await,
        i64::from(EVENTS)
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        0
    );
    assert_eq!(
        gateway
            .scalar("SELECT sum(scans)::bigint FROM members")
            .await,
        i64::from(EVENTS)
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM members m
               JOIN (SELECT campaign_id, member, sum(points)::bigint AS points, count(*) AS n
                       FROM points_entries GROUP BY campaign_id, member) l USING (campaign_id, member)
              WHERE m.points <> l.points OR m.scans <> l.n OR m.points <> 10 * m.scans"
        )
        .await,
        0,
        "a balance differs from its ledger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_settling_the_same_entries_at_once_write_them_once() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (batch, _) = gateway.batch(400, None).await;
    let redemptions: Vec<yima_ledger::Redemption> = (0..400u32)
        .map(|serial| yima_ledger::Redemption {
            award: (serial % 4 == 0).then(|| yima_ledger::Award {
                prize: "red-packet".into(),
                kind: "cash".into(),
                value: 888,
            }),
            ..redemption(batch, serial)
        })
        .collect();
    let other = yima_ledger::Ledger::connect(&gateway.db.url)
        .await
        .expect("second pool");
    // Two workers holding the same entries (one claimed them from the other) commit
    // at once, in opposite orders: one writes them; the other writes nothing, or fails
    // and on its retry finds them written.
    let reversed: Vec<_> = redemptions.iter().rev().cloned().collect();
    let (first, second) =
        tokio::join!(gateway.ledger.settle(&redemptions), other.settle(&reversed));
    let mut written = 0;
    for (result, batch) in [(first, &redemptions), (second, &reversed)] {
        let settled = match result {
            Ok(settled) => settled,
            Err(_) => gateway.ledger.settle(batch).await.expect("retry succeeds"),
        };
        assert_eq!(settled.rejected, 0);
        written += settled.settled;
    }
    assert_eq!(written, 400, "exactly one of them wrote each entry");
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 400);
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM points_entries").await,
        400
    );
    assert_eq!(gateway.scalar("SELECT count(*) FROM payouts").await, 100);
    assert_eq!(
        gateway
            .scalar("SELECT sum(scans)::bigint FROM members")
            .await,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_of_gone_workers_are_forgotten_unless_they_hold_entries() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(20, None).await;
    let scans = codes
        .iter()
        .map(|c| (c.clone(), "wang".to_string(), "consumer"))
        .collect();
    gateway.scan_all(scans, 4).await;
    let reader = |name: &'static str| {
        yima_store::StreamReader::connect(
            &gateway.redis_url,
            &gateway.prefix,
            name,
            std::time::Duration::from_millis(10),
        )
    };
    // "holder" read five entries and died; "ghost" joined and died with nothing.
    let mut holder = reader("holder").await.expect("reader");
    holder.ensure_group("test").await.expect("group");
    let taken = holder
        .read(&["test".into()], 5, std::time::Duration::from_millis(10))
        .await
        .expect("read");
    assert_eq!(taken.len(), 5);
    let stream = format!("{}:{{test}}:events", gateway.prefix);
    let created: i64 = redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg(&stream)
        .arg(yima_store::SETTLE_GROUP)
        .arg("ghost")
        .query_async(&mut gateway.redis().await)
        .await
        .expect("create consumer");
    assert_eq!(created, 1);

    let settings = yima_settle::Settings {
        consumer: "w1".into(),
        block: std::time::Duration::from_millis(50),
        forget_consumers_after: std::time::Duration::ZERO,
        ..yima_settle::Settings::default()
    };
    let mut worker = yima_settle::Worker::new(
        reader("w1").await.expect("reader"),
        gateway.ledger.clone(),
        settings,
    );
    gateway.drain(&mut worker).await;
    let consumers: redis::streams::StreamInfoConsumersReply =
        redis::AsyncCommands::xinfo_consumers(
            &mut gateway.redis().await,
            &stream,
            yima_store::SETTLE_GROUP,
        )
        .await
        .expect("consumers");
    let mut names: Vec<String> = consumers.consumers.into_iter().map(|c| c.name).collect();
    names.sort();
    assert_eq!(names, vec!["holder", "w1"]);
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 15);
}

#[tokio::test]
async fn a_worker_with_no_campaign_waits_for_one_instead_of_spinning() {
    let db = TestDb::new().await;
    let ledger = yima_ledger::Ledger::connect(&db.url).await.expect("ledger");
    ledger.migrate().await.expect("migrate");
    let block = std::time::Duration::from_millis(100);
    let prefix = format!("idle{}", std::process::id());
    let reader = yima_store::StreamReader::connect(&redis_url(), &prefix, "w1", block)
        .await
        .expect("reader");
    let settings = yima_settle::Settings {
        consumer: "w1".into(),
        block,
        ..yima_settle::Settings::default()
    };
    let mut worker = yima_settle::Worker::new(reader, ledger, settings);
    // Each round has nothing to read and must wait out its block, as a read would;
    // sleeps never end early, so this lower bound is exact, not a timing guess.
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(worker.round().await.expect("round"), 0);
    }
    assert!(
        started.elapsed() >= block * 3,
        "rounds returned at once: a busy loop"
    );
}

/// Entry ids are unique only within one stream: two campaigns' (or two lanes') entries
/// added in the same millisecond share an id. Each is its own redemption.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_two_streams_with_the_same_id_are_both_settled() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (batch, _) = gateway.batch(2, None).await;
    let entry = |serial: u32| yima_ledger::Redemption {
        stream_id: "1780286400000-0".into(),
        ..redemption(batch, serial)
    };
    let both = [entry(0), entry(1)];
    let settled = gateway.ledger.settle(&both).await.expect("settle");
    assert_eq!((settled.settled, settled.rejected), (2, 0));
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 2);
    // Delivered again, both are redeliveries: nothing new, nothing rejected.
    let again = gateway.ledger.settle(&both).await.expect("settle again");
    assert_eq!(
        (again.settled, again.redelivered, again.rejected),
        (0, 2, 0)
    );
}

/// A redemption of the test campaign's code `serial`, as a worker reads it off the
/// stream: no prize, 10 points and growth, on 2026-06-01.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_entry_is_set_aside_with_its_payload_and_never_pins_the_stream() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(2, None).await;
    let stream = format!("{}:{{test}}:events", gateway.prefix);
    let mut connection = gateway.redis().await;
    assert_eq!(gateway.scan(&codes[0], "wang", "consumer").await.0, 200);
    let bad_id: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("event")
        .arg(r#"{"v": 1, "scan_id": "half-written"#)
        .query_async(&mut connection)
        .await
        .expect("xadd");
    assert_eq!(gateway.scan(&codes[1], "li", "consumer").await.0, 200);

    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;

    assert_eq!(
        gateway.scalar("SELECT count(*) FROM scans").await,
        2,
        "the scans on either side of the bad entry are settled"
    );
    let (stored_stream, reason, payload): (String, String, String) = sqlx::query_as(
        "SELECT stream, reason, payload->>'event' FROM dead_letters WHERE stream_id = $1",
    )
    .bind(&bad_id)
    .fetch_one(&mut gateway.db.connect().await)
    .await
    .expect("the bad entry is a dead letter");
    assert_eq!(stored_stream, "test");
    assert!(reason.contains("malformed scan event"), "{reason}");
    assert_eq!(payload, r#"{"v": 1, "scan_id": "half-written"#);
    let pending: (u64, Option<String>, Option<String>, redis::Value) = redis::cmd("XPENDING")
        .arg(&stream)
        .arg(yima_store::SETTLE_GROUP)
        .query_async(&mut connection)
        .await
        .expect("xpending");
    assert_eq!(pending.0, 0, "nothing is left pending, so trim can pass it");
    assert_eq!(
        worker.totals().dead_letters,
        1,
        "counted once however often it is delivered"
    );

    let output = gateway
        .yima()
        .args(["reconcile", "--campaign", "test"])
        .output()
        .expect("yima reconcile");
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{}", stderr(&output));
    assert!(
        out.contains(&format!("stream test entry {bad_id} is a dead letter")),
        "{out}"
    );
}

/// Settlement copies a new batch's rows in as COPY text: every value a client chose
/// (member, request id, region) comes back as it was sent, tabs, newlines, backslashes
/// and a literal `\N` included, and a time to the millisecond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_copy_reads_specially_are_settled_as_they_were() {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (batch, _) = gateway.batch(2, None).await;
    let awkward = "tab\there\\back\nline\r\\N";
    let redemptions = [
        yima_ledger::Redemption {
            member: awkward.into(),
            request_id: Some(awkward.into()),
            region: Some("\\N".into()),
            batch_region: Some(String::new()),
            at_ms: 1_780_286_400_123,
            award: Some(yima_ledger::Award {
                prize: "red-packet".into(),
                kind: "cash".into(),
                value: 888,
            }),
            ..redemption(batch, 0)
        },
        redemption(batch, 1),
    ];
    let settled = gateway.ledger.settle(&redemptions).await.expect("settle");
    assert_eq!((settled.settled, settled.rejected), (2, 0));
    let row: (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    ) = sqlx::query_as(
        "SELECT s.member, s.request_id, s.region, s.batch_region, s.drawn,
                    (extract(epoch FROM s.scanned_at) * 1000)::bigint
               FROM scans s WHERE s.scan_id = 'scan-0'",
    )
    .fetch_one(&mut gateway.db.connect().await)
    .await
    .expect("scan row");
    assert_eq!(
        row,
        (
            awkward.to_string(),
            Some(awkward.to_string()),
            Some("\\N".to_string()),
            Some(String::new()),
            None,
            1_780_286_400_123
        )
    );
    let award: (String, String, i64, i64) = sqlx::query_as(
        "SELECT a.member, r.member, a.value, p.amount_fen
           FROM awards a JOIN redemptions r ON r.batch_id = $1 AND r.serial = 0
           JOIN payouts p USING (scan_id) WHERE a.scan_id = 'scan-0'",
    )
    .bind(i64::from(batch))
    .fetch_one(&mut gateway.db.connect().await)
    .await
    .expect("award row");
    assert_eq!(award, (awkward.into(), awkward.into(), 888, 888));
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM members WHERE member = 'tab\there\\back\nline\r\\N'")
            .await,
        1
    );
}
