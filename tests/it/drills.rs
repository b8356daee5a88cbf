//! Reliability drills: things broken on purpose while scans run. What a member was told
//! must still hold afterwards, and every answered redemption must reach Postgres once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;
use yima_gateway::Clock;

const PRIZES: &str = r#"
[[prizes]]
id = "cup"
name = "Cup"
kind = "item"
value = 5900
stock = 100000
odds = [300000, 300000]
"#;

/// Polls `ready` (bounded) until it holds.
async fn until<F, Fut>(what: &str, limit: Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !ready().await {
        assert!(Instant::now() < deadline, "never {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_with_its_append_only_file_loses_nothing_and_needs_no_gateway_restart() {
    redis_restart_drill(PrivateRedis::restart).await;
}

/// A crash of the Redis process (not of its machine): with `appendfsync everysec` Redis
/// writes each command to the append-only file before it replies, so the kernel holds
/// everything acknowledged even though nothing was flushed. (A machine crash can lose
/// the last second; see deploy/README.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_process_killed_outright_loses_no_acknowledged_scan() {
    redis_restart_drill(PrivateRedis::kill_and_restart).await;
}

/// 200 scans answered, Redis stopped by `restart` and started again on its files: the
/// gateway comes back by itself and every answer still holds.
async fn redis_restart_drill(restart: fn(&mut PrivateRedis)) {
    let mut redis = PrivateRedis::start_durable();
    let gateway = TestGateway::start_with_redis(
        &campaign(1000, "", PRIZES),
        Clock::fixed(june_first()),
        &redis.url,
    )
    .await;
    let (_, codes) = gateway.batch(300, None).await;
    let first: Vec<(String, String, &str)> = codes[..200]
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), format!("m{}", i % 20), "consumer"))
        .collect();
    let before = gateway.scan_all(first.clone(), 16).await;
    assert!(before.iter().all(|(code, _)| *code == 200));
    let balance = |member: String| {
        let gateway = &gateway;
        async move { json(&gateway.get(&format!("/v1/members/{member}")).await.1)["points"].clone() }
    };
    let points_before = balance("m7".into()).await;

    restart(&mut redis);

    // The same gateway, without a restart, answers again once its connection is back.
    until(
        "the gateway back on Redis",
        Duration::from_secs(30),
        || async { gateway.get("/readyz").await.0 == 200 },
    )
    .await;
    // Everything it said before the restart still holds, checked before anything could
    // write it again: the stream still holds every redemption for settlement, anyone
    // else gets `already_redeemed`, balances are as they were, and the same member's
    // retry gets the same bytes. (Retries first would redo a lost state exactly: same
    // scan ids, same draws.)
    let events: usize = redis::cmd("XLEN")
        .arg(gateway.store().await.keys().events("test"))
        .query_async(&mut gateway.redis().await)
        .await
        .expect("XLEN");
    assert_eq!(events, 200, "settlement entries after the restart");
    let others: Vec<(String, String, &str)> = codes[..200]
        .iter()
        .map(|c| (c.clone(), "intruder".to_string(), "consumer"))
        .collect();
    let taken = gateway.scan_all(others, 16).await;
    assert!(
        taken
            .iter()
            .all(|(_, body)| status(body) == "already_redeemed"),
        "{:?}",
        taken
            .iter()
            .find(|(_, body)| status(body) != "already_redeemed")
    );
    assert_eq!(balance("m7".into()).await, points_before);
    let retries = gateway.scan_all(first.clone(), 16).await;
    assert_eq!(retries, before, "retries after the restart");
    // New codes redeem as before, and settlement sees every redemption once.
    let fresh: Vec<(String, String, &str)> = codes[200..]
        .iter()
        .map(|c| (c.clone(), "m0".to_string(), "consumer"))
        .collect();
    let after = gateway.scan_all(fresh, 16).await;
    assert!(
        after
            .iter()
            .all(|(_, body)| status(body) != "already_redeemed")
    );
    let mut worker = gateway.worker("after-restart").await;
    gateway.drain(&mut worker).await;
    assert_eq!(gateway.scalar("SELECT count(*) FROM scans").await, 300);
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_under_load_loses_no_answered_scan_and_pays_none_twice() {
    const CODES: usize = 1200;
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway
        .batch(u32::try_from(CODES).expect("codes"), None)
        .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let spawn = || {
        gateway
            .yima()
            .env("YIMA_HTTP_LISTEN", &listen)
            // The drill's load comes from one address and few members.
            .env("YIMA_LIMITS_IP_PER_MINUTE", "0")
            .env("YIMA_LIMITS_MEMBER_PER_MINUTE", "0")
            .args(["gateway", "--workers", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("yima gateway starts")
    };
    let base = format!("http://{listen}");
    let ready = || {
        let url = format!("{base}/readyz");
        let http = gateway.http.clone();
        async move { matches!(http.get(url).send().await, Ok(response) if response.status() == 200) }
    };

    // Scans from 32 clients; the gateway is SIGKILLed once 400 have been answered.
    let mut child = spawn();
    until("the gateway up", Duration::from_secs(30), ready).await;
    let answered = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let codes = Arc::new(codes);
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..32 {
        let (http, url) = (gateway.http.clone(), format!("{base}/v1/scan"));
        let (answered, next, codes) = (answered.clone(), next.clone(), codes.clone());
        clients.spawn(async move {
            let mut results = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(code) = codes.get(index) else { break };
                let member = format!("m{}", client);
                let body = serde_json::json!({"code": code, "member": member}).to_string();
                match http
                    .post(&url)
                    .bearer_auth(SERVICE_TOKEN)
                    .body(body)
                    .send()
                    .await
                {
                    Ok(response) if response.status() == 200 => {
                        if let Ok(text) = response.text().await {
                            answered.fetch_add(1, Ordering::Relaxed);
                            results.push((index, member, Some(text)));
                            continue;
                        }
                        results.push((index, member, None));
                    }
                    // Refused or cut off by the kill: not an answer.
                    _ => results.push((index, member, None)),
                }
            }
            results
        });
    }
    until("400 answers", Duration::from_secs(60), || {
        let answered = answered.clone();
        async move { answered.load(Ordering::Relaxed) >= 400 }
    })
    .await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    // A new gateway on the same port; the clients' later requests reach it.
    let mut child = spawn();
    until("the gateway back", Duration::from_secs(30), ready).await;
    let mut results = Vec::new();
    while let Some(done) = clients.join_next().await {
        results.extend(done.expect("client"));
    }

    // Every scan that got no answer is asked again, by the same member: a retry.
    let mut answers: HashMap<usize, String> = HashMap::new();
    for (index, member, text) in results {
        let text = match text {
            Some(text) => text,
            None => {
                let body = serde_json::json!({"code": codes[index], "member": member}).to_string();
                let response = gateway
                    .http
                    .post(format!("{base}/v1/scan"))
                    .bearer_auth(SERVICE_TOKEN)
                    .body(body)
                    .send()
                    .await
                    .expect("the new gateway answers");
                assert_eq!(response.status(), 200);
                response.text().await.expect("body")
            }
        };
        answers.insert(index, text);
    }
    child.kill().expect("stop");
    child.wait().expect("reaped");
    assert_eq!(answers.len(), CODES);

    let mut worker = gateway.worker("after-kill").await;
    gateway.drain(&mut worker).await;
    // Each code was answered as redeemed (or, retried, as that redemption) exactly
    // once, and each is one settled scan with its one scan id; winners are paid once.
    let mut won = 0;
    for (index, text) in &answers {
        let answer = json(text);
        let scan_id = answer["scan_id"].as_str().expect("scan id");
        let settled = gateway
            .scalar(&format!(
                "SELECT count(*) FROM scans WHERE scan_id = '{scan_id}'"
            ))
            .await;
        assert_eq!(settled, 1, "code {index}: {text}");
        assert!(
            ["won", "no_prize"].contains(&status(text).as_str()),
            "code {index}: {text}"
        );
        won += usize::from(status(text) == "won");
    }
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM scans").await,
        count(CODES)
    );
    assert_eq!(
        gateway.scalar("SELECT count(*) FROM awards").await,
        count(won)
    );
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        0
    );
}

/// Postgres away for `YIMA_DRILL_OUTAGE_SECONDS` (30) while scans keep coming: the
/// gateway answers every one from Redis and says it is degraded, the worker waits,
/// and once Postgres is back it settles everything, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_for_thirty_seconds_loses_no_scan() {
    let outage = Duration::from_secs(
        std::env::var("YIMA_DRILL_OUTAGE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let (postgres, gateway) = on_private_postgres().await;
    let (_, codes) = gateway.batch(6000, None).await;
    // The batch is in the gateway's memory once one of its codes was scanned.
    let mut redeemed = 0;
    assert_eq!(gateway.scan(&codes[0], "m0", "consumer").await.0, 200);
    redeemed += 1;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(gateway.worker("through-outage").await.run(stopped));

    postgres.stop();
    let readiness = json(&gateway.get("/readyz").await.1);
    assert_eq!(
        (readiness["status"].as_str(), readiness["postgres"].as_str()),
        (Some("degraded"), Some("unreachable")),
        "{readiness}"
    );
    assert_eq!(
        gateway.get("/readyz").await.0,
        200,
        "scans are still served"
    );
    // Scans all through the outage, 20 at a time.
    let started = Instant::now();
    let mut next = 1;
    while started.elapsed() < outage && next + 20 <= codes.len() {
        let scans: Vec<(String, String, &str)> = codes[next..next + 20]
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), format!("m{}", (next + i) % 50), "consumer"))
            .collect();
        let answers = gateway.scan_all(scans, 20).await;
        assert!(
            answers
                .iter()
                .all(|(code, body)| *code == 200
                    && ["won", "no_prize"].contains(&status(body).as_str())),
            "{:?}",
            answers.iter().find(|(code, _)| *code != 200)
        );
        redeemed += answers.len();
        next += 20;
        // Pacing, to spread the scans over the whole outage.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        started.elapsed() >= outage,
        "codes ran out before the outage ended"
    );
    assert!(redeemed > 100, "only {redeemed} scans during the outage");
    postgres.resume();

    until("ready again", Duration::from_secs(30), || async {
        json(&gateway.get("/readyz").await.1)["status"] == "ready"
    })
    .await;
    // The worker catches up by itself.
    until("settlement caught up", Duration::from_secs(60), || async {
        gateway.scalar("SELECT count(*) FROM scans").await == count(redeemed)
    })
    .await;
    stop.send(true).expect("worker alive");
    worker.await.expect("worker").expect("clean stop");
    assert_eq!(
        gateway
            .scalar("SELECT count(*) FROM rejected_redemptions")
            .await,
        0
    );
    let members: i64 = gateway
        .scalar("SELECT sum(scans)::bigint FROM members")
        .await;
    assert_eq!(members, count(redeemed), "every scan credited once");
}

/// Finding 15.10: a code of a batch nobody registered cost a Postgres query on every
/// scan. Its absence is now remembered briefly: with Postgres gone, the same code is
/// still answered `invalid_code` at once, not 503 after the pool's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_batch_is_remembered_and_costs_no_query_per_scan() {
    let (postgres, gateway) = on_private_postgres().await;
    let unregistered = key_ring().signing_key().sign(4242, 0).to_string();
    let (code, body) = gateway.scan(&unregistered, "m0", "consumer").await;
    assert_eq!(
        (code, body.as_str()),
        (404, yima_gateway::INVALID_CODE_BODY)
    );
    postgres.stop();
    for _ in 0..20 {
        let (code, body) = gateway.scan(&unregistered, "m0", "consumer").await;
        assert_eq!(
            (code, body.as_str()),
            (404, yima_gateway::INVALID_CODE_BODY)
        );
    }
    postgres.resume();
}

/// A gateway on a Postgres server of its own, for drills that stop or starve it.
async fn on_private_postgres() -> (PrivatePostgres, TestGateway) {
    let postgres = PrivatePostgres::start();
    let gateway = TestGateway::start_on(
        &campaign(1000, "", PRIZES),
        Clock::fixed(june_first()),
        &postgres.url,
        &redis_url(),
    )
    .await;
    (postgres, gateway)
}
