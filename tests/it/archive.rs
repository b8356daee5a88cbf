//! `scans` by month: partitions made ahead of time, a code redeemed once whatever
//! month its scans fall in, and `yima archive` taking old months out of Postgres
//! while retries, reconcile, restore and audit keep their promises.

use std::time::Duration;

use crate::support::*;
use yima_gateway::Clock;

/// The first day of the month `months` after today's (UTC).
fn month_from_now(months: i64) -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .first_of_month()
        .checked_add(jiff::Span::new().months(months))
        .expect("a month")
}

fn archive(gateway: &TestGateway, dir: &std::path::Path) -> std::process::Output {
    gateway
        .yima()
        .args(["archive", "--keep-months", "2", "--to"])
        .arg(dir)
        .output()
        .expect("yima runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_makes_this_and_next_months_partitions_and_settlement_any_it_meets() {
    let db = TestDb::new().await;
    run_ok(db.yima().arg("migrate"));
    let ledger = yima_ledger::Ledger::connect(&db.url).await.expect("ledger");
    let months = ledger.scan_months().await.expect("months");
    for month in [month_from_now(0), month_from_now(1)] {
        assert!(months.contains(&month), "{month} in {months:?}");
    }
    // Made again when missing, by the next migrate.
    let next = month_from_now(1);
    let mut connection = db.connect().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE scans_{:04}_{:02}",
        next.year(),
        next.month()
    )))
    .execute(&mut connection)
    .await
    .expect("drop next month");
    assert!(!ledger.scan_months().await.expect("months").contains(&next));
    run_ok(db.yima().arg("migrate"));
    assert!(ledger.scan_months().await.expect("months").contains(&next));

    // A worker settling scans of a month long past makes that month and the next.
    let gateway = TestGateway::start(&campaign(10, "", ONE_CUP), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(1, None).await;
    assert_eq!(gateway.scan(&codes[0], "alice", "consumer").await.0, 200);
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let months = gateway.ledger.scan_months().await.expect("months");
    for month in [jiff::civil::date(2026, 6, 1), jiff::civil::date(2026, 7, 1)] {
        assert!(months.contains(&month), "{month} in {months:?}");
    }
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM scans_2026_06 WHERE member = 'alice'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_redeemed_once_across_months_even_when_two_workers_race() {
    let gateway =
        TestGateway::start(&campaign(1000, "", ONE_CUP), Clock::fixed(june_first())).await;
    let (batch, _) = gateway.batch(200, None).await;
    let other = yima_ledger::Ledger::connect(&gateway.db.url)
        .await
        .expect("second pool");
    // Each code redeemed twice (as after a Redis loss): once in June by one worker,
    // once in July by another, both committing at the same time.
    let entry = |serial: u32, month: i8, member: &str| yima_ledger::Redemption {
        stream_id: format!("17802864{month:02}000-{serial}"),
        member: member.into(),
        day: jiff::civil::date(2026, month, 28),
        ..redemption(batch, serial)
    };
    let june: Vec<_> = (0..200).map(|serial| entry(serial, 6, "june")).collect();
    let july: Vec<_> = (0..200)
        .rev()
        .map(|serial| entry(serial, 7, "july"))
        .collect();
    let (first, second) = tokio::join!(gateway.ledger.settle(&june), other.settle(&july));
    let mut totals = (0, 0);
    for (result, batch) in [(first, &june), (second, &july)] {
        let settled = match result {
            Ok(settled) => settled,
            Err(_) => gateway.ledger.settle(batch).await.expect("retry succeeds"),
        };
        totals.0 += settled.settled;
        totals.1 += settled.rejected;
    }
    assert_eq!(
        totals,
        (200, 200),
        "each code settled once, its twin rejected"
    );
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 200);
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM redemptions").await,
        200
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM scans s JOIN redemptions r USING (batch_id, serial, role) WHERE r.member = s.member")
            .await,
        200,
        "the redemption and its scan are the same one"
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        200
    );
    assert_eq!(
        gateway
            .scalar("SELECT sum(points)::bigint FROM members")
            .await,
        2000,
        "only the settled ones paid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_a_month_keeps_retries_reconcile_restore_and_audit() {
    let gateway = TestGateway::start(&campaign(2, "", ONE_CUP), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(6, Some("north")).await;
    let FourAnswers {
        won,
        nothing,
        limit,
        taken,
    } = four_answers(&gateway, &codes).await;
    // A scan of this month, which is kept.
    gateway.clock.set(jiff::Timestamp::now());
    let kept = gateway.scan(&codes[3], "carol", "consumer").await;
    assert_eq!(status(&kept.1), "no_prize", "{}", kept.1);
    gateway.clock.set(june_first());
    let mut worker = gateway
        .worker_with_grace("w1", Duration::from_millis(1))
        .await;
    gateway.drain(&mut worker).await;
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 3);

    let dir = tempfile::tempdir().expect("temp dir");
    // This month and last month are always kept.
    let one = run_err(
        gateway
            .yima()
            .args(["archive", "--keep-months", "1", "--to"])
            .arg(dir.path()),
    );
    assert!(one.contains("--keep-months"), "{one}");
    // June's leaderboards are frozen from its scans: not archived before they are.
    let early = archive(&gateway, dir.path());
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains("2026-06 leaderboards of test are not frozen yet"),
        "{}",
        stderr(&early)
    );
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 3);
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM archived_scans").await,
        0
    );
    assert!(!dir.path().join("scans_2026_06.csv").exists());

    gateway
        .ledger
        .freeze_ended_boards(jiff::Timestamp::now().as_millisecond())
        .await
        .expect("freeze");
    let archived = archive(&gateway, dir.path());
    assert!(archived.status.success(), "{}", stderr(&archived));
    assert!(
        stderr(&archived).contains("archived 2026-06: 2 scan(s)"),
        "{}",
        stderr(&archived)
    );
    let file = std::fs::read_to_string(dir.path().join("scans_2026_06.csv")).expect("file");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two scans: {file}");
    assert!(
        lines[0].starts_with("scan_id,stream_id,campaign_id,"),
        "{}",
        lines[0]
    );
    for body in [&won.1, &nothing.1] {
        let scan_id = json(body)["scan_id"].as_str().expect("scan id").to_string();
        assert!(file.contains(&scan_id), "{scan_id} in {file}");
    }
    let months = gateway.ledger.scan_months().await.expect("months");
    assert!(
        !months.contains(&jiff::civil::date(2026, 6, 1)),
        "{months:?}"
    );
    assert!(months.contains(&month_from_now(0)), "{months:?}");
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 1);
    assert_eq!(gateway.scalar("SELECT count(*) FROM redemptions").await, 3);
    assert_eq!(
        gateway
            .scalar(
                "SELECT sum(scans)::bigint FROM archived_scans WHERE prize = 'cup' AND region = 'north'"
            )
            .await,
        1
    );

    // Retries get the same bytes (answers are kept with the redemption), other
    // members are still refused, and Redis agrees with what Postgres kept.
    assert_eq!(gateway.scan(&codes[0], "alice", "consumer").await, won);
    assert_eq!(gateway.scan(&codes[1], "alice", "consumer").await, nothing);
    assert_eq!(gateway.scan(&codes[2], "alice", "consumer").await, limit);
    assert_eq!(gateway.scan(&codes[0], "bob", "consumer").await, taken);
    gateway.reconcile_agrees();

    // The scan of the month kept still audits.
    let scan_id = json(&kept.1)["scan_id"]
        .as_str()
        .expect("scan id")
        .to_string();
    run_ok(
        gateway
            .yima()
            .args(["audit", "--campaign", "test", "--scan", &scan_id]),
    );

    // Redis lost: restore sets the archived month's bits and counts again.
    gateway.lose_redis().await;
    run_ok(gateway.yima().args(["restore", "--campaign", "test"]));
    gateway.reconcile_agrees();
    let (_, refused) = gateway.scan(&codes[1], "bob", "consumer").await;
    assert_eq!(status(&refused), "already_redeemed", "{refused}");
    assert_eq!(gateway.scan(&codes[0], "alice", "consumer").await, won);
    let stats = json(&gateway.get("/v1/campaigns/test/stats").await.1);
    assert_eq!(
        (stats["scans"].as_i64(), stats["wins"].as_i64()),
        (Some(3), Some(1)),
        "{stats}"
    );

    // A scan of June settled late lands in June again, and is archived on its own.
    let late = gateway.scan(&codes[4], "dave", "consumer").await;
    assert_eq!(status(&late.1), "no_prize", "{}", late.1);
    gateway.drain(&mut worker).await;
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM scans_2026_06").await,
        1
    );
    let again = archive(&gateway, dir.path());
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("archived 2026-06: 1 scan(s)"),
        "{}",
        stderr(&again)
    );
    let second = std::fs::read_to_string(dir.path().join("scans_2026_06.2.csv")).expect("file");
    assert_eq!(second.lines().count(), 2, "{second}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("scans_2026_06.csv")).expect("file"),
        file,
        "the first archive is left as it was"
    );
    assert_eq!(
        gateway
            .scalar("SELECT sum(rows)::bigint FROM archived_months WHERE month = '2026-06-01'")
            .await,
        3
    );
    gateway.reconcile_agrees();
    let nothing_left = archive(&gateway, dir.path());
    assert!(
        stderr(&nothing_left).contains("nothing to archive"),
        "{}",
        stderr(&nothing_left)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_moves_settled_scans_into_their_months_and_keeps_their_answers() {
    let db = TestDb::new().await;
    let ledger = yima_ledger::Ledger::connect(&db.url).await.expect("ledger");
    ledger.migrate_to(16).await.expect("migrate to 16");
    let mut connection = db.connect().await;
    sqlx::raw_sql(
        "INSERT INTO scans (scan_id, stream_id, campaign_id, revision, batch_id, serial, role,
                            member, day, scanned_at, level, draw, drawn, prize, points, growth,
                            answer)
         VALUES ('s-june', '1-0', 'old', 1, 1, 0, 'consumer', 'alice', '2026-06-30',
                 '2026-06-30T15:00:00Z', 0, 1, 'cup', 'cup', 10, 10, 'won cup 0 10 0'),
                ('s-oct', '2-0', 'old', 1, 1, 1, 'dealer', 'bob', '2026-10-01',
                 '2026-09-30T17:00:00Z', 0, 2, NULL, NULL, 10, 10, NULL);
         INSERT INTO awards (scan_id, campaign_id, prize_id, kind, value, member, awarded_at)
         VALUES ('s-june', 'old', 'cup', 'item', 5900, 'alice', '2026-06-30T15:00:00Z');",
    )
    .execute(&mut connection)
    .await
    .expect("rows of the old schema");
    run_ok(db.yima().arg("migrate"));

    assert_eq!(
        scalar(
            &mut connection,
            "SELECT count(*) FROM scans_2026_06 WHERE scan_id = 's-june'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &mut connection,
            "SELECT count(*) FROM scans_2026_10 WHERE scan_id = 's-oct'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&mut connection, "SELECT count(*) FROM awards").await,
        1
    );
    assert_eq!(
        ledger.scan_answer(1, 0, "consumer").await.expect("answer"),
        Some(("alice".into(), Some("won cup 0 10 0".into())))
    );
    assert_eq!(
        ledger.scan_answer(1, 1, "dealer").await.expect("answer"),
        Some(("bob".into(), None))
    );
    assert_eq!(
        ledger.scan_answer(1, 1, "consumer").await.expect("answer"),
        None
    );
}

async fn scalar(connection: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(connection)
        .await
        .expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_that_fails_at_the_last_step_changes_nothing_and_a_rerun_finishes() {
    let gateway = TestGateway::start(&campaign(10, "", ONE_CUP), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(3, None).await;
    for code in &codes {
        assert_eq!(gateway.scan(code, "alice", "consumer").await.0, 200);
    }
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    gateway
        .ledger
        .freeze_ended_boards(jiff::Timestamp::now().as_millisecond())
        .await
        .expect("freeze");
    let dir = tempfile::tempdir().expect("temp dir");

    // A reader of `scans` holds the detach off; with a lock timeout the archive fails
    // after writing its file, at the last step of its transaction.
    let mut reader = gateway.db.connect().await;
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM scans;")
        .execute(&mut reader)
        .await
        .expect("a reader");
    let impatient = format!("{}?options=-c%20lock_timeout%3D500", gateway.db.url);
    let failed = gateway
        .yima()
        .env("YIMA_POSTGRES_URL", &impatient)
        .args(["archive", "--keep-months", "2", "--to"])
        .arg(dir.path())
        .output()
        .expect("yima runs");
    assert!(!failed.status.success(), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("lock timeout"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM scans_2026_06").await,
        3,
        "the month is whole"
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM archived_scans").await,
        0
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM archived_months").await,
        0
    );
    assert!(
        dir.path().join("scans_2026_06.csv").exists(),
        "the file was written before the step that failed"
    );
    gateway.reconcile_agrees();

    sqlx::raw_sql("COMMIT")
        .execute(&mut reader)
        .await
        .expect("commit");
    let archived = archive(&gateway, dir.path());
    assert!(archived.status.success(), "{}", stderr(&archived));
    let file = std::fs::read_to_string(dir.path().join("scans_2026_06.csv")).expect("file");
    assert_eq!(file.lines().count(), 4, "a header and three scans: {file}");
    assert_eq!(
        gateway
            .scalar("SELECT sum(scans)::bigint FROM archived_scans")
            .await,
        3,
        "counted once"
    );
    gateway.reconcile_agrees();
}
