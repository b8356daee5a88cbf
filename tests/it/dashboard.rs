//! `/dashboard` in headless Chromium while scans run: the live figures it shows are
//! not zero, and a screenshot is kept under target/ for a human to look at.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::*;
use yima_gateway::Clock;

const PRIZE: &str = "[[prizes]]\nid = \"cup\"\nname = \"Insulated cup\"\nkind = \"item\"\nvalue = 5900\nstock = 100000\nodds = [500000, 500000]\n";

fn chromium() -> std::process::Command {
    let binary = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .expect("chromium is installed (deploy/dev/test.sh installs Debian's chromium)");
    let mut command = std::process::Command::new(binary);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1280,900",
    ]);
    command
}

/// The text of the element with this id in a dumped DOM.
fn element(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} in the page"));
    let rest = &dom[start..];
    let open = rest.find('>').expect("tag end") + 1;
    let close = rest[open..].find('<').expect("text end");
    rest[open..open + close].trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_figures_while_scans_run() {
    let toml = format!("{}\n{PRIZE}", campaign(100_000, "", ""));
    let gateway = Arc::new(TestGateway::start(&toml, Clock::fixed(june_first())).await);
    let (_, codes) = gateway.batch(50_000, Some("GD")).await;

    // Scans keep arriving, some from outside the batch's region, until the browser is done.
    let stop = Arc::new(AtomicBool::new(false));
    let scanner = {
        let (gateway, stop) = (gateway.clone(), stop.clone());
        tokio::spawn(async move {
            let mut scanned = 0usize;
            for (i, code) in codes.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let region = if i % 4 == 0 { "SH" } else { "GD" };
                let body = serde_json::json!({"code": code, "member": format!("m{}", i % 25), "region": region});
                let (status, answer) = gateway.scan_body(body.to_string()).await;
                assert_eq!(status, 200, "{answer}");
                scanned += 1;
            }
            scanned
        })
    };
    // A settlement worker runs alongside, as in production: it puts members on the board.
    let settling = {
        let mut worker = gateway.worker("dashboard").await;
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Err(error) = worker.round().await {
                    eprintln!("round failed (retrying): {error}");
                }
            }
        })
    };
    // Let the page find some history to show.
    while json(&gateway.get("/v1/campaigns/test/stats").await.1)["scans"].as_i64() < Some(50)
        || json(&gateway.get("/v1/campaigns/test/leaderboard").await.1)["entries"]
            .as_array()
            .is_none_or(Vec::is_empty)
    {
        tokio::task::yield_now().await;
    }

    let url = format!("{}/dashboard#token={ADMIN_TOKEN}", gateway.base);
    let dom = {
        let mut command = chromium();
        command.args(["--virtual-time-budget=8000", "--dump-dom", &url]);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("chromium runs");
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo().join("target"), std::path::PathBuf::from);
    std::fs::create_dir_all(&target).expect("target dir");
    let screenshot = target.join("dashboard.png");
    let mut command = chromium();
    command.arg(format!("--screenshot={}", screenshot.display()));
    command.args(["--virtual-time-budget=4000", &url]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("chromium runs");
    assert!(output.status.success(), "{}", stderr(&output));
    stop.store(true, Ordering::Relaxed);
    let scanned = scanner.await.expect("scanner");
    settling.await.expect("settling");

    let number = |id: &str| -> f64 {
        let text = element(&dom, id);
        text.parse()
            .unwrap_or_else(|_| panic!("#{id} is a number: {text:?}"))
    };
    assert!(number("scan-rate") > 0.0, "live scan rate");
    assert!(number("win-rate") > 0.0, "win rate");
    assert!(number("scans") >= 50.0);
    assert!(number("wins") > 0.0);
    assert!(number("flagged") > 0.0, "scans from SH of a GD batch");
    assert!(dom.contains("Insulated cup"), "stock left lists the prize");
    assert!(
        dom.contains("<td>GD</td>") && dom.contains("<td>SH</td>"),
        "top regions"
    );
    assert!(dom.contains("<td>m"), "the leaderboard lists members");
    assert!(
        element(&dom, "state").starts_with("live"),
        "{}",
        element(&dom, "state")
    );
    assert!(scanned > 50);
    let png = std::fs::read(&screenshot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
}
