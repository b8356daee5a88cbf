//! The gateway's `/metrics`: scans by status, draw outcomes, latency, stock left per
//! prize, diverted scans and settlement lag, read by Prometheus. One test per process:
//! the recorder is process-wide.

// The recorder is process-wide, so the one test that counts samples has a process of
// its own; it shares the integration tests' support module.
#[allow(dead_code, unused_imports)]
#[path = "it/support/mod.rs"]
mod support;

use support::*;
use yima_gateway::Clock;

/// The value of the sample whose name and labels start `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_exports_what_ops_watch() {
    let prize = "[[prizes]]\nid = \"cup\"\nname = \"Cup\"\nkind = \"item\"\nvalue = 1\nstock = 3\nodds = [1000000, 1000000]\n";
    let gateway = TestGateway::start(&campaign(1000, "", prize), Clock::fixed(june_first())).await;
    let (_, codes) = gateway.batch(5, Some("GD")).await;
    for code in &codes {
        let body = serde_json::json!({"code": code, "member": "wang", "region": "SH"});
        assert_eq!(gateway.scan_body(body.to_string()).await.0, 200);
    }
    assert_eq!(gateway.scan(&codes[0], "li", "consumer").await.0, 200);
    assert_eq!(gateway.scan("not-a-code", "li", "consumer").await.0, 404);

    let (status, text) = gateway.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&text, r#"yima_scans_total{status="won"}"#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"yima_scans_total{status="no_prize"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"yima_scans_total{status="already_redeemed"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"yima_scans_total{status="invalid_code"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"yima_draw_outcomes_total{campaign="test",prize="cup"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"yima_draw_outcomes_total{campaign="test",prize="none"}"#
        ),
        Some(2.0),
        "stock ran out after three"
    );
    assert_eq!(
        sample(&text, "yima_scan_seconds_count"),
        Some(7.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"yima_prize_stock_left{campaign="test",prize="cup"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"yima_diverted_scans{campaign="test"}"#),
        Some(5.0)
    );
    assert_eq!(
        sample(&text, r#"yima_settle_lag{campaign="test"}"#),
        Some(5.0),
        "nothing settled yet"
    );

    let mut worker = gateway.worker("w1").await;
    gateway.drain(&mut worker).await;
    let (_, text) = gateway.get("/metrics").await;
    assert_eq!(
        sample(&text, r#"yima_settle_lag{campaign="test"}"#),
        Some(0.0)
    );

    // Every series the Grafana dashboard in deploy/ plots is one yima exports (the
    // worker runs in this process, so its metrics are in the same text). Three appear
    // only once something happens that this test does not provoke.
    let dashboard = json(&read(&repo().join("deploy/grafana/yima.json")));
    let lazy = [
        "yima_payouts_total",
        "yima_settle_dead_letters_total",
        "yima_settle_rejected_duplicates_total",
    ];
    let mut plotted = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("yima_"))
            {
                let base = name.strip_suffix("_bucket").unwrap_or(name);
                plotted += 1;
                assert!(
                    lazy.contains(&base) || text.contains(&format!("# TYPE {base} ")),
                    "{base} (panel {}) is exported",
                    panel["title"]
                );
            }
        }
    }
    assert!(plotted >= 12, "{plotted}");

    // Prometheus's own linter accepts the text (help on every series, valid names and
    // types). deploy/dev/test.sh installs it from Debian's prometheus package.
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (deploy/dev/test.sh installs Debian's prometheus)");
    std::io::Write::write_all(&mut promtool.stdin.take().expect("stdin"), text.as_bytes())
        .expect("write metrics");
    let checked = promtool.wait_with_output().expect("promtool runs");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
