//! Scan rate limits through HTTP: per member, per client address, and
//! `X-Forwarded-For` believed only from a configured proxy. A refused scan is a 429 with
//! `Retry-After` that redeems nothing.

use crate::support::*;
use yima::config::LimitsConfig;
use yima_gateway::{Clock, IpNet};

/// Limits of a burst of `member` scans per member and `ip` per address (0: no limit),
/// then one a minute: nothing comes back within a test.
fn limits(member: u32, ip: u32, trusted_proxies: Vec<IpNet>) -> LimitsConfig {
    LimitsConfig {
        member_per_minute: u32::from(member > 0),
        member_burst: member,
        ip_per_minute: u32::from(ip > 0),
        ip_burst: ip,
        trusted_proxies,
    }
}

/// Prizes play no part here: every allowed scan is a plain redemption.
async fn gateway_with(limits: LimitsConfig) -> TestGateway {
    TestGateway::start_limited(&campaign(100, "", ""), Clock::fixed(june_first()), limits).await
}

async fn scan_from(
    gateway: &TestGateway,
    forwarded_for: Option<&str>,
    code: &str,
    member: &str,
) -> reqwest::Response {
    let mut request = gateway
        .http
        .post(format!("{}/v1/scan", gateway.base))
        .bearer_auth(SERVICE_TOKEN)
        .body(serde_json::json!({"code": code, "member": member}).to_string());
    if let Some(chain) = forwarded_for {
        request = request.header("x-forwarded-for", chain);
    }
    request.send().await.expect("request")
}

/// The 429's scope, checking its `Retry-After` on the way.
async fn refused_scope(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 429);
    let wait: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in whole seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body = json(&response.text().await.expect("body"));
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["retry_after_seconds"], wait);
    body["scope"].as_str().expect("scope").to_string()
}

async fn answered(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    status(&response.text().await.expect("body"))
}

#[tokio::test]
async fn a_member_over_the_limit_is_refused_and_nothing_is_redeemed() {
    let config = limits(3, 0, Vec::new());
    let gateway = gateway_with(config).await;
    let (_, codes) = gateway.batch(6, None).await;

    for code in &codes[..3] {
        let status = answered(scan_from(&gateway, None, code, "fast").await).await;
        assert!(status == "won" || status == "no_prize", "{status}");
    }
    let refused = scan_from(&gateway, None, &codes[3], "fast").await;
    assert_eq!(refused_scope(refused).await, "member");
    // A forged code is counted against the member too: guessing costs the same.
    let forged = scan_from(&gateway, None, "000000000000000000000", "fast").await;
    assert_eq!(refused_scope(forged).await, "member");

    // The refused scan redeemed nothing: another member gets the code fresh.
    let status = answered(scan_from(&gateway, None, &codes[3], "slow").await).await;
    assert!(status == "won" || status == "no_prize", "{status}");
    let (_, member) = gateway.get("/v1/members/fast").await;
    assert_eq!(json(&member)["scans"], 3, "{member}");

    let (_, metrics) = gateway.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("yima_scans_total{status=\"rate_limited\"} ")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_a_spoofed_entry_does_not() {
    let proxies = vec!["127.0.0.1/32".parse().expect("network")];
    let config = limits(0, 2, proxies);
    let gateway = gateway_with(config).await;
    let (_, codes) = gateway.batch(8, None).await;
    let a = Some("198.51.100.1");

    answered(scan_from(&gateway, a, &codes[0], "m0").await).await;
    answered(scan_from(&gateway, a, &codes[1], "m1").await).await;
    let refused = scan_from(&gateway, a, &codes[2], "m2").await;
    assert_eq!(refused_scope(refused).await, "ip");
    // A client behind the proxy can't get a fresh budget by writing its own entry:
    // the proxy appends the address it saw, and that is the one counted.
    let spoofed = scan_from(
        &gateway,
        Some("203.0.113.50, 198.51.100.1"),
        &codes[2],
        "m2",
    );
    assert_eq!(refused_scope(spoofed.await).await, "ip");

    // Another client behind the same proxy has its own budget, and so does the proxy.
    answered(scan_from(&gateway, Some("198.51.100.2"), &codes[2], "m2").await).await;
    answered(scan_from(&gateway, None, &codes[3], "m3").await).await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let config = limits(0, 2, Vec::new());
    let gateway = gateway_with(config).await;
    let (_, codes) = gateway.batch(4, None).await;

    answered(scan_from(&gateway, Some("198.51.100.1"), &codes[0], "m0").await).await;
    answered(scan_from(&gateway, Some("198.51.100.2"), &codes[1], "m1").await).await;
    // Every request came from 127.0.0.1, whatever the header claimed.
    let refused = scan_from(&gateway, Some("198.51.100.3"), &codes[2], "m2").await;
    assert_eq!(refused_scope(refused).await, "ip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scans_get_exactly_the_burst() {
    let config = limits(5, 0, Vec::new());
    let gateway = gateway_with(config).await;
    let (_, codes) = gateway.batch(40, None).await;
    let scans = codes
        .into_iter()
        .map(|code| (code, "hasty".to_string(), "consumer"))
        .collect();
    let answers = gateway.scan_all(scans, 40).await;
    let allowed = answers.iter().filter(|(code, _)| *code == 200).count();
    let refused = answers.iter().filter(|(code, _)| *code == 429).count();
    assert_eq!((allowed, refused), (5, 35), "{answers:?}");
    let (_, member) = gateway.get("/v1/members/hasty").await;
    assert_eq!(json(&member)["scans"], 5, "{member}");
}
