//! A member's own history (`/v1/me/scans|awards|ledger`) from Postgres: newest first,
//! keyset pages that neither repeat nor skip a row, and nobody else's rows.

use std::collections::HashSet;

use crate::support::*;
use yima_gateway::Clock;

/// Three cash prizes drawn by the first three scans, then nothing; a sign-in task and
/// a 10-point gift.
const RULES: &str = r#"
[[prizes]]
id = "red-packet"
name = "Red packet"
kind = "cash"
value = 888
stock = 3
odds = [1000000, 1000000]

[[mall]]
id = "towel"
name = "Towel"
price = 10
stock = 100
"#;

/// Every page of `path` (which already has its query) for `token`, with `limit`.
async fn all_pages(
    gateway: &TestGateway,
    path: &str,
    token: &str,
    limit: usize,
) -> Vec<Vec<serde_json::Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{path}{}limit={limit}",
            if path.contains('?') { "&" } else { "?" }
        );
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={}", urlencode(cursor)));
        }
        let (status, body) = gateway.get_as(&url, Some(token)).await;
        assert_eq!(status, 200, "{url}: {body}");
        let page = json(&body);
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit);
        pages.push(items);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return pages,
        }
        assert!(pages.len() < 100, "pages never end");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_history_pages_newest_first_without_repeats_or_gaps() {
    let gateway = TestGateway::start(
        &campaign(1000, "sign_in_points = 5", RULES),
        Clock::fixed(june_first()),
    )
    .await;
    let (_, codes) = gateway.batch(30, None).await;
    // 25 scans by wang over five minutes, five at each minute (ties broken by id), and
    // five by li between them.
    let mut mine = HashSet::new();
    for (i, code) in codes.iter().enumerate() {
        let minute = i64::try_from(i / 6).expect("small");
        gateway
            .clock
            .set(june_first() + jiff::SignedDuration::from_mins(minute));
        let member = if i % 6 == 5 { "li" } else { "wang" };
        let (status_code, body) = gateway.scan(code, member, "consumer").await;
        assert_eq!(status_code, 200, "{body}");
        if member == "wang" {
            mine.insert(json(&body)["scan_id"].as_str().expect("id").to_string());
        }
    }
    let wang = member_token("wang");
    let (_, body) = gateway.post("/v1/me/sign-in", "", Some(&wang)).await;
    assert_eq!(status(&body), "signed_in", "{body}");
    let mut worker = gateway.worker("settle").await;
    gateway.drain(&mut worker).await;
    let (status_code, body) = gateway
        .post(
            "/v1/me/redeem",
            r#"{"item":"towel","request_id":"t-1"}"#,
            Some(&wang),
        )
        .await;
    assert_eq!(status_code, 200, "{body}");

    let pages = all_pages(&gateway, "/v1/me/scans", &wang, 10).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    let items: Vec<&serde_json::Value> = pages.iter().flatten().collect();
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["scan_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids.iter().copied().collect::<HashSet<_>>().len(),
        25,
        "no repeats"
    );
    assert_eq!(
        ids.iter().map(|id| id.to_string()).collect::<HashSet<_>>(),
        mine,
        "exactly wang's scans"
    );
    let times: Vec<&str> = items
        .iter()
        .map(|i| i["at"].as_str().expect("at"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert!(times[0].ends_with("+08:00"), "{}", times[0]);
    let won: Vec<_> = items.iter().filter(|i| i["status"] == "won").collect();
    assert_eq!(won.len(), 3, "the first three scans drew the three packets");
    assert_eq!(won[0]["prize"]["name"], "Red packet");
    assert_eq!(won[0]["prize"]["value"], 888);
    assert!(items.iter().all(|i| i["points"] == 10));

    // A page size that divides the list exactly ends with an empty-cursor page.
    let pages = all_pages(&gateway, "/v1/me/scans", &wang, 5).await;
    assert_eq!(pages.iter().map(Vec::len).sum::<usize>(), 25);

    let awards: Vec<serde_json::Value> = all_pages(&gateway, "/v1/me/awards", &wang, 2)
        .await
        .into_iter()
        .flatten()
        .collect();
    // li's first scan came sixth, after the three packets were gone.
    assert_eq!(awards.len(), 3, "{awards:?}");
    for award in &awards {
        assert_eq!(award["prize"]["kind"], "cash");
        assert_eq!(award["payout"], "pending", "no webhook in tests: it waits");
        assert!(award["paid_at"].is_null());
    }

    let ledger: Vec<serde_json::Value> = all_pages(&gateway, "/v1/me/ledger", &wang, 7)
        .await
        .into_iter()
        .flatten()
        .collect();
    let reasons: Vec<&str> = ledger
        .iter()
        .map(|e| e["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons.len(), 27, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| **r == "scan").count(), 25);
    assert_eq!(reasons[0], "mall", "the purchase came last");
    let total: i64 = ledger
        .iter()
        .map(|e| e["points"].as_i64().expect("points"))
        .sum();
    let me = json(&gateway.get_as("/v1/me", Some(&wang)).await.1);
    assert_eq!(total, 250 + 5 - 10);
    assert_eq!(me["campaigns"][0]["points"], total);

    // li's history holds li's five scans and nothing of wang's.
    let li = all_pages(&gateway, "/v1/me/scans", &member_token("li"), 100).await;
    assert_eq!(li.concat().len(), 5);
    assert!(
        li.concat()
            .iter()
            .all(|i| !mine.contains(i["scan_id"].as_str().expect("id")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_page_request_is_a_precise_400() {
    let gateway = TestGateway::start(&campaign(10, "", ""), Clock::fixed(june_first())).await;
    let wang = member_token("wang");
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "cursor=nonsense",
        "cursor=12.",
        "campaign=nope&limit=5",
        "unknown=1",
    ] {
        let (status_code, body) = gateway
            .get_as(&format!("/v1/me/scans?{query}"), Some(&wang))
            .await;
        let expected = if query.starts_with("campaign") {
            404
        } else {
            400
        };
        assert_eq!(status_code, expected, "{query}: {body}");
    }
    let (status_code, body) = gateway.get_as("/v1/me/ledger", Some(&wang)).await;
    assert_eq!(
        (status_code, body.as_str()),
        (200, r#"{"items":[],"next_cursor":null}"#)
    );
}
