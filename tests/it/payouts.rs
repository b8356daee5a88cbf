//! Cash payouts: each cash award reaches the payment webhook, signed, and is accepted
//! exactly once, however often the webhook fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use yima_gateway::Clock;

const SECRET: &[u8] = b"test webhook secret";

const PRIZES: &str = r#"
[[prizes]]
id = "red-packet"
name = "8.88 CNY red packet"
kind = "cash"
value = 888
stock = 100000
odds = [400000, 400000]
"#;

/// What the fake payment provider saw.
#[derive(Default)]
struct Provider {
    requests: u64,
    refused_signatures: u64,
    /// Idempotency key -> (times accepted, amount).
    accepted: HashMap<String, (u32, i64)>,
    /// Answer for requests the provider does not fail on purpose.
    answer: u16,
    /// Fail every other request with 500 before looking at it.
    fail_half: bool,
}

async fn pay(
    provider: web::Data<Mutex<Provider>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut provider = provider.lock().expect("provider");
    provider.requests += 1;
    if provider.fail_half && provider.requests % 2 == 1 {
        return HttpResponse::InternalServerError().finish();
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    if yima_payout::verify(
        SECRET,
        &header(yima_payout::SIGNATURE_HEADER),
        &header(yima_payout::IDEMPOTENCY_HEADER),
        &body,
        now,
        300,
    )
    .is_err()
    {
        provider.refused_signatures += 1;
        return HttpResponse::Unauthorized().finish();
    }
    let answer = provider.answer;
    if answer == 200 {
        let payout = json(std::str::from_utf8(&body).expect("utf-8"));
        let key = header(yima_payout::IDEMPOTENCY_HEADER);
        assert_eq!(payout["payout_id"].as_str(), Some(key.as_str()));
        let entry = provider.accepted.entry(key).or_default();
        entry.0 += 1;
        entry.1 = payout["amount_fen"].as_i64().unwrap_or(-1);
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answer).expect("status")).finish()
}

/// Starts the fake provider; returns its URL and what it records.
fn provider(answer: u16, fail_half: bool) -> (String, Arc<Mutex<Provider>>) {
    let state = web::Data::new(Mutex::new(Provider {
        answer,
        fail_half,
        ..Provider::default()
    }));
    let seen = state.clone().into_inner();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/pay", listener.local_addr().expect("address"));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/pay", web::post().to(pay))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    (url, seen)
}

fn settings(url: &str, max_attempts: u32) -> yima_payout::Settings {
    yima_payout::Settings {
        url: url.to_string(),
        secret: SECRET.to_vec(),
        max_attempts,
        // Retries due at once, so the test never waits on a clock.
        retry_base: Duration::ZERO,
        retry_max: Duration::ZERO,
        timeout: Duration::from_secs(5),
        concurrency: 8,
        poll: Duration::from_millis(10),
        allow_http: true,
    }
}

/// A settled campaign with some cash awards; returns the gateway and their scan ids.
async fn cash_awards() -> (TestGateway, Vec<String>) {
    let gateway = TestGateway::start(&campaign(1000, "", PRIZES), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(200, None).await;
    let scans = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), format!("m{}", i % 7), "consumer"))
        .collect();
    gateway.scan_all(scans, 16).await;
    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let mut awards: Vec<String> =
        sqlx::query_scalar("SELECT scan_id FROM awards WHERE kind = 'cash' ORDER BY scan_id")
            .fetch_all(&mut gateway.db.connect().await)
            .await
            .expect("awards");
    awards.sort();
    assert!(
        awards.len() > 30,
        "the campaign awarded cash: {}",
        awards.len()
    );
    (gateway, awards)
}

async fn statuses(gateway: &TestGateway) -> Vec<(String, String, i32)> {
    sqlx::query_as("SELECT scan_id, status, attempts FROM payouts ORDER BY scan_id")
        .fetch_all(&mut gateway.db.connect().await)
        .await
        .expect("payouts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cash_award_is_paid_exactly_once_by_a_webhook_failing_half_the_requests() {
    let (gateway, awards) = cash_awards().await;
    let (url, provider) = provider(200, true);
    // Two dispatchers at once, as two workers would run them.
    let first = yima_payout::Dispatcher::new(gateway.ledger.clone(), settings(&url, 50))
        .expect("dispatcher");
    let second = yima_payout::Dispatcher::new(gateway.ledger.clone(), settings(&url, 50))
        .expect("dispatcher");
    let mut rounds = 0;
    while gateway
        .ledger
        .payout_counts()
        .await
        .expect("counts")
        .pending
        > 0
    {
        rounds += 1;
        assert!(rounds <= 200, "payouts never drained");
        let (a, b) = tokio::join!(first.round(), second.round());
        a.expect("round");
        b.expect("round");
    }

    let requests = {
        let provider = provider.lock().expect("provider");
        check_each_paid_once(&provider, &awards);
        provider.requests
    };
    let rows = statuses(&gateway).await;
    assert_eq!(rows.len(), awards.len());
    assert!(
        rows.iter().all(|(_, status, _)| status == "delivered"),
        "{rows:?}"
    );
    assert_eq!(
        rows.iter()
            .map(|(_, _, attempts)| u64::try_from(*attempts).expect("attempts"))
            .sum::<u64>(),
        requests,
        "every request is one recorded attempt"
    );

    // Nothing is sent again once delivered.
    let round = first.round().await.expect("round");
    assert_eq!(round, yima_payout::Round::default());
    assert_eq!(provider.lock().expect("provider").requests, requests);
}

fn check_each_paid_once(provider: &Provider, awards: &[String]) {
    assert_eq!(provider.refused_signatures, 0);
    let mut paid: Vec<&String> = provider.accepted.keys().collect();
    paid.sort();
    assert_eq!(paid, awards.iter().collect::<Vec<_>>(), "every award paid");
    for (key, (times, amount)) in &provider.accepted {
        assert_eq!((*times, *amount), (1, 888), "{key}");
    }
    assert!(
        provider.requests >= 2 * awards.len() as u64 - 1,
        "half the requests failed: {} requests for {} payouts",
        provider.requests,
        awards.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_or_exhausted_payouts_are_failed_with_the_reason_and_never_retried() {
    let (gateway, awards) = cash_awards().await;

    // The provider refuses (422): failed after one attempt.
    let (url, provider) = provider(422, false);
    let dispatcher = yima_payout::Dispatcher::new(gateway.ledger.clone(), settings(&url, 5))
        .expect("dispatcher");
    while dispatcher.round().await.expect("round").handled() > 0 {}
    let rows = statuses(&gateway).await;
    assert!(
        rows.iter()
            .all(|(_, status, attempts)| status == "failed" && *attempts == 1),
        "{rows:?}"
    );
    assert_eq!(
        provider.lock().expect("provider").requests,
        awards.len() as u64
    );
    let reason: String = sqlx::query_scalar("SELECT DISTINCT last_error FROM payouts")
        .fetch_one(&mut gateway.db.connect().await)
        .await
        .expect("reason");
    assert_eq!(reason, "HTTP 422 Unprocessable Entity");

    // No provider listening at all: retried up to the limit, then failed.
    let () = sqlx::query("UPDATE payouts SET status = 'pending', attempts = 0, last_error = NULL, next_attempt = now()")
        .execute(&mut gateway.db.connect().await)
        .await
        .map(|_| ())
        .expect("reset");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/pay", closed.local_addr().expect("address"));
    drop(closed);
    let dispatcher = yima_payout::Dispatcher::new(gateway.ledger.clone(), settings(&url, 3))
        .expect("dispatcher");
    while dispatcher.round().await.expect("round").handled() > 0 {}
    let rows = statuses(&gateway).await;
    assert!(
        rows.iter()
            .all(|(_, status, attempts)| status == "failed" && *attempts == 3),
        "{rows:?}"
    );

    let bad = yima_payout::Dispatcher::new(gateway.ledger.clone(), settings("ftp://x", 3));
    assert!(bad.is_err());
}

/// Finding 15.7: reqwest followed redirects, so a 301 to a page answering 200 marked
/// payouts delivered, and a 307 carried the signed request to another host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_webhook_is_never_followed_and_its_payouts_fail() {
    let (gateway, awards) = cash_awards().await;
    let (target, provider) = provider(200, false);
    for status in [301u16, 307] {
        let location = target.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/pay", listener.local_addr().expect("address"));
        let server = HttpServer::new(move || {
            let location = location.clone();
            App::new().default_service(web::to(move || {
                let location = location.clone();
                async move {
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).expect("status"),
                    )
                    .insert_header(("location", location))
                    .finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        let dispatcher = yima_payout::Dispatcher::new(gateway.ledger.clone(), settings(&url, 5))
            .expect("dispatcher");
        dispatcher.round().await.expect("round");
    }
    while gateway
        .ledger
        .payout_counts()
        .await
        .expect("counts")
        .pending
        > 0
    {
        let url = format!("{target}-never");
        let dispatcher = yima_payout::Dispatcher::new(gateway.ledger.clone(), settings(&url, 1))
            .expect("dispatcher");
        dispatcher.round().await.expect("round");
    }
    assert_eq!(
        provider.lock().expect("provider").requests,
        0,
        "a redirect was followed"
    );
    let rows = statuses(&gateway).await;
    assert_eq!(rows.len(), awards.len());
    assert!(
        rows.iter().all(|(_, status, _)| status == "failed"),
        "{rows:?}"
    );
}

/// An `http://` webhook carries payouts in clear: refused unless allowed.
#[tokio::test]
async fn a_plain_http_webhook_is_refused_unless_allowed() {
    let db = TestDb::new().await;
    let ledger = yima_ledger::Ledger::connect(&db.url).await.expect("ledger");
    let mut plain = settings("http://127.0.0.1:9/pay", 1);
    plain.allow_http = false;
    assert!(matches!(
        yima_payout::Dispatcher::new(ledger.clone(), plain),
        Err(yima_payout::PayoutError::PlainHttp)
    ));
    let mut secure = settings("https://127.0.0.1:9/pay", 1);
    secure.allow_http = false;
    assert!(yima_payout::Dispatcher::new(ledger, secure).is_ok());
}
