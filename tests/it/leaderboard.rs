//! Monthly leaderboards against real Redis: more scans rank first, ties go to whoever
//! reached the score first, months follow the campaign's zone, regions have their own.

use crate::support::*;
use yima_gateway::Clock;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().expect("timestamp")
}

async fn scan_at(
    gateway: &TestGateway,
    when: &str,
    code: &str,
    member: &str,
    region: Option<&str>,
) {
    gateway.clock.set(at(when));
    let mut body = serde_json::json!({"code": code, "member": member});
    if let Some(region) = region {
        body["region"] = region.into();
    }
    let (status, answer) = gateway.scan_body(body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["status"], "no_prize", "{answer}");
}

async fn board(gateway: &TestGateway, query: &str) -> Vec<(String, u64)> {
    let (status, body) = gateway
        .get(&format!("/v1/campaigns/test/leaderboard{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            assert_eq!(entry["rank"], index + 1);
            (
                entry["member"].as_str().expect("member").to_string(),
                entry["scans"].as_u64().expect("scans"),
            )
        })
        .collect()
}

fn owned(entries: &[(&str, u64)]) -> Vec<(String, u64)> {
    entries.iter().map(|(m, n)| (m.to_string(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_scans_rank_first_and_ties_go_to_whoever_got_there_first() {
    let gateway = TestGateway::start(&campaign(1000, "", ""), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(20, None).await;
    let mut codes = codes.iter();
    let mut next = || codes.next().expect("enough codes").clone();

    // Shanghai times (UTC+8). dai scans first but only once; bai, ai and cai all reach
    // two scans, in that order, so the board is not in any order of their names.
    scan_at(
        &gateway,
        "2026-06-01T08:00:00+08:00",
        &next(),
        "dai",
        Some("GD"),
    )
    .await;
    scan_at(
        &gateway,
        "2026-06-02T09:00:00+08:00",
        &next(),
        "ai",
        Some("GD"),
    )
    .await;
    scan_at(&gateway, "2026-06-02T09:00:01+08:00", &next(), "bai", None).await;
    scan_at(&gateway, "2026-06-03T10:00:00+08:00", &next(), "bai", None).await;
    scan_at(
        &gateway,
        "2026-06-03T10:00:00.001+08:00",
        &next(),
        "ai",
        Some("GD"),
    )
    .await;
    scan_at(
        &gateway,
        "2026-06-04T11:00:00+08:00",
        &next(),
        "cai",
        Some("SH"),
    )
    .await;
    scan_at(
        &gateway,
        "2026-06-05T12:00:00+08:00",
        &next(),
        "cai",
        Some("SH"),
    )
    .await;
    // 00:30 on July 1 in Shanghai is still June 30 in UTC: July's board.
    scan_at(&gateway, "2026-06-30T16:30:00Z", &next(), "dai", Some("GD")).await;
    // Boards count settled scans: nothing is on them until settlement has run.
    assert_eq!(board(&gateway, "?period=2026-06").await, owned(&[]));
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;

    let june = owned(&[("bai", 2), ("ai", 2), ("cai", 2), ("dai", 1)]);
    assert_eq!(board(&gateway, "?period=2026-06").await, june);
    assert_eq!(board(&gateway, "?period=2026-06&limit=2").await, june[..2]);
    assert_eq!(
        board(&gateway, "?period=2026-06&region=GD").await,
        owned(&[("ai", 2), ("dai", 1)])
    );
    assert_eq!(
        board(&gateway, "?period=2026-06&region=SH").await,
        owned(&[("cai", 2)])
    );
    assert_eq!(
        board(&gateway, "?period=2026-07").await,
        owned(&[("dai", 1)])
    );
    // Without a period: the month the clock is in, in the campaign's zone (July now).
    assert_eq!(board(&gateway, "").await, owned(&[("dai", 1)]));
    assert_eq!(board(&gateway, "?period=2026-05").await, owned(&[]));

    // A retry is not a scan.
    gateway.clock.set(at("2026-06-10T12:00:00+08:00"));
    let (_, codes2) = gateway.batch(1, None).await;
    for _ in 0..3 {
        assert_eq!(gateway.scan(&codes2[0], "dai", "consumer").await.0, 200);
    }
    gateway.drain(&mut worker).await;
    let june = owned(&[("bai", 2), ("ai", 2), ("cai", 2), ("dai", 2)]);
    assert_eq!(board(&gateway, "?period=2026-06").await, june);

    // Boards are rebuilt from the settled scans, ties and all, when Redis is lost
    // (this month's and last month's: the clock says July 1 in Shanghai).
    gateway.lose_redis().await;
    let now = at("2026-07-01T09:00:00+08:00");
    yima_reconcile::restore(&gateway.store().await, &gateway.ledger, "test", now)
        .await
        .expect("restore");
    assert_eq!(board(&gateway, "?period=2026-06").await, june);
    assert_eq!(
        board(&gateway, "?period=2026-06&region=GD").await,
        owned(&[("ai", 2), ("dai", 1)])
    );
    assert_eq!(
        board(&gateway, "?period=2026-07").await,
        owned(&[("dai", 1)])
    );

    // An hour into July, June is frozen into Postgres (and the months before it, empty);
    // July is not. Read in July, the frozen June ranks as the live one did, with Redis
    // gone again.
    let july = at("2026-07-01T01:00:00+08:00");
    let frozen = gateway
        .ledger
        .freeze_ended_boards(july.as_millisecond())
        .await
        .expect("freeze");
    assert_eq!(frozen, 6, "January to June");
    let again = gateway
        .ledger
        .freeze_ended_boards(july.as_millisecond())
        .await;
    assert_eq!(again.expect("freeze again"), 0);
    gateway.lose_redis().await;
    gateway.clock.set(july);
    assert_eq!(board(&gateway, "?period=2026-06").await, june);
    assert_eq!(board(&gateway, "?period=2026-06&limit=1").await, june[..1]);
    assert_eq!(
        board(&gateway, "?period=2026-06&region=GD").await,
        owned(&[("ai", 2), ("dai", 1)])
    );
    assert_eq!(board(&gateway, "?period=2026-05").await, owned(&[]));
    assert_eq!(
        board(&gateway, "?period=2026-07").await,
        owned(&[]),
        "live, and lost with Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_leaderboard_queries_get_precise_errors() {
    let gateway = TestGateway::start(&campaign(1000, "", ""), Clock::fixed(june_first())).await;
    for query in [
        "?period=2026-13",
        "?period=June",
        "?limit=0",
        "?limit=101",
        "?limit=ten",
        "?region=G%20D",
        "?sort=desc",
    ] {
        let (status, body) = gateway
            .get(&format!("/v1/campaigns/test/leaderboard{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(json(&body)["error"], "bad_request", "{query}");
    }
    let (status, body) = gateway.get("/v1/campaigns/nope/leaderboard").await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":"unknown_campaign"}"#)
    );
}

/// Several workers settle at once, so a member's scans reach the boards in any order:
/// the scores are the same in every order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boards_count_settled_scans_the_same_in_any_order() {
    let redis_url = redis_url();
    let scans: Vec<yima_store::BoardScan> =
        [("ai", 5), ("bai", 7), ("ai", 9), ("bai", 3), ("cai", 1)]
            .into_iter()
            .map(|(member, ms)| yima_store::BoardScan {
                tag: "c".into(),
                period: "2026-06".into(),
                region: (member != "cai").then(|| "GD".into()),
                member: member.into(),
                ms_into_month: ms,
            })
            .collect();
    let mut orders = vec![scans.clone(), scans.iter().rev().cloned().collect()];
    orders.push(scans[2..].iter().chain(&scans[..2]).cloned().collect());
    let mut connection = connect(&redis_url).await;
    let mut boards = Vec::new();
    for (index, order) in orders.iter().enumerate() {
        let prefix = format!("boards-{}-{index}", std::process::id());
        let mut reader = board_reader(&redis_url, &prefix).await;
        reader.count_on_boards(order).await.expect("counted");
        let mut read = Vec::new();
        for key in [
            format!("{prefix}:{{c}}:board:2026-06"),
            format!("{prefix}:{{c}}:board:2026-06:region:GD"),
        ] {
            read.push(take_board(&mut connection, &key).await);
        }
        boards.push(read);
    }
    // Two scans each for ai and bai; the latest (ai at 9 ms) ranks after the earlier
    // (bai at 7 ms) among equals: a smaller low half is a later arrival.
    let two = |ms: f64| 2.0 * 4_294_967_296.0 + 4_294_967_295.0 - ms;
    assert_eq!(
        boards[0][0],
        vec![
            ("cai".to_string(), 4_294_967_296.0 + 4_294_967_295.0 - 1.0),
            ("ai".to_string(), two(9.0)),
            ("bai".to_string(), two(7.0)),
        ]
    );
    assert_eq!(boards[0][1].len(), 2, "cai scanned in no region");
    for other in &boards[1..] {
        assert_eq!(other, &boards[0]);
    }
}

/// A batch is counted in several script calls (none may hold Redis for long): a batch of
/// 250 scans counts every scan once, the same as counting them one call each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_counted_in_several_calls_counts_every_scan_once() {
    let redis_url = redis_url();
    let scans: Vec<yima_store::BoardScan> = (0..250u32)
        .map(|i| yima_store::BoardScan {
            tag: "c".into(),
            period: "2026-06".into(),
            region: None,
            member: format!("m{}", i % 7),
            ms_into_month: i * 10,
        })
        .collect();
    let mut connection = connect(&redis_url).await;
    let mut boards = Vec::new();
    for (index, calls) in [vec![&scans[..]], scans.chunks(1).collect()]
        .into_iter()
        .enumerate()
    {
        let prefix = format!("batch-boards-{}-{index}", std::process::id());
        let mut reader = board_reader(&redis_url, &prefix).await;
        for call in calls {
            reader.count_on_boards(call).await.expect("counted");
        }
        let key = format!("{prefix}:{{c}}:board:2026-06");
        boards.push(take_board(&mut connection, &key).await);
    }
    let counted: f64 = boards[0]
        .iter()
        .map(|(_, score)| (score / 4_294_967_296.0).floor())
        .sum();
    assert_eq!((boards[0].len(), counted), (7, 250.0));
    assert_eq!(boards[0], boards[1]);
}

/// A settlement reader of boards under `prefix`.
async fn board_reader(redis_url: &str, prefix: &str) -> yima_store::StreamReader {
    yima_store::StreamReader::connect(
        redis_url,
        prefix,
        "test",
        std::time::Duration::from_millis(10),
    )
    .await
    .expect("redis")
}

/// A plain connection, to read boards as they are.
async fn connect(redis_url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

/// A board's members and scores, lowest first; the board is deleted.
async fn take_board(
    connection: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> Vec<(String, f64)> {
    let entries: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(connection)
        .await
        .expect("zrange");
    let () = redis::cmd("DEL")
        .arg(key)
        .query_async(connection)
        .await
        .expect("del");
    entries
}
