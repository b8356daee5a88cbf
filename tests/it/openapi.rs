//! `/openapi.json` lists every route, parses as OpenAPI, and names nothing the gateway
//! does not serve.

use std::collections::BTreeSet;

use crate::support::*;
use yima_gateway::Clock;

/// Every route the gateway serves (CONTRACT.md and the README's extensions).
const ROUTES: [(&str, &str); 46] = [
    ("post", "/v1/scan"),
    ("get", "/v1/me"),
    ("post", "/v1/me/redeem"),
    ("post", "/v1/me/sign-in"),
    ("post", "/v1/me/register"),
    ("get", "/v1/me/scans"),
    ("get", "/v1/me/awards"),
    ("get", "/v1/me/ledger"),
    ("get", "/v1/members/{member}"),
    ("post", "/v1/members/{member}/redeem"),
    ("post", "/v1/members/{member}/sign-in"),
    ("get", "/v1/campaigns/{id}"),
    ("get", "/v1/campaigns/{id}/stats"),
    ("get", "/v1/campaigns/{id}/leaderboard"),
    ("post", "/v1/admin/campaigns"),
    ("post", "/v1/admin/batches"),
    ("post", "/v1/admin/batches/{id}/void"),
    ("get", "/v1/admin/campaigns/{id}/diversions"),
    ("post", "/v1/admin/invites"),
    ("get", "/v1/admin/members"),
    ("get", "/v1/admin/members.csv"),
    ("post", "/v1/admin/members/{member}/tags"),
    ("post", "/v1/admin/members/{member}/block"),
    ("post", "/v1/admin/members/{member}/unblock"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/dashboard"),
    ("get", "/dashboard/data"),
    ("get", "/s/{code}"),
    ("get", "/login/callback"),
    ("get", "/me"),
    ("post", "/me/sign-in"),
    ("get", "/me/mall/{item}"),
    ("post", "/me/mall/{item}"),
    ("get", "/me/history"),
    ("get", "/me/claim"),
    ("post", "/me/claim"),
    ("get", "/v1/admin/claims"),
    ("get", "/v1/admin/claims.csv"),
    ("post", "/v1/admin/claims/{id}/ship"),
    ("post", "/v1/admin/claims/{id}/deliver"),
    ("post", "/v1/admin/claims/shipments"),
    ("get", "/join"),
    ("post", "/join"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_parses_and_lists_every_route_the_gateway_serves() {
    let gateway = TestGateway::start(&campaign(10, "", ""), Clock::fixed(june_first())).await;
    let (status, body) = gateway.get("/openapi.json").await;
    assert_eq!(status, 200);
    let parsed: utoipa::openapi::OpenApi =
        serde_json::from_str(&body).expect("an OpenAPI document utoipa can read back");
    assert!(!parsed.paths.paths.is_empty());
    let document = json(&body);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );
    assert_eq!(document["info"]["title"], "yima");

    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            documented.insert((method.clone(), path.clone()));
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
            // Each {parameter} of the path is declared as a path parameter.
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|params| {
                    params
                        .iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                assert!(declared.contains(&name), "{method} {path} declares {name}");
            }
            // Every door names who may pass, with a scheme the document defines.
            let guarded = [
                "/v1/admin/",
                "/v1/me",
                "/v1/members/",
                "/v1/scan",
                "/dashboard/data",
                "/me/",
            ];
            if path == "/me"
                || path == "/join"
                || guarded.iter().any(|prefix| path.starts_with(prefix))
            {
                let schemes = operation["security"].as_array().map_or(0, |alternatives| {
                    for alternative in alternatives {
                        for scheme in alternative.as_object().expect("a requirement").keys() {
                            assert!(
                                document["components"]["securitySchemes"][scheme].is_object(),
                                "{method} {path} names an undefined scheme {scheme}"
                            );
                        }
                    }
                    alternatives.len()
                });
                assert!(schemes > 0, "{method} {path} names its credential");
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "the document and the route list agree"
    );

    // And the gateway serves each one: none falls through to the catch-all 404.
    for (method, path) in &documented {
        let url = format!(
            "{}{}",
            gateway.base,
            path.replace("{member}", "nobody").replace("{id}", "test")
        );
        let request = match method.as_str() {
            "get" => gateway.http.get(&url),
            _ => gateway.http.post(&url).body("{}"),
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert!(
            !(status == 404 && text == r#"{"error":"not_found"}"#),
            "{method} {path} is routed"
        );
        // A method no route takes: 405 naming those the path does.
        let wrong = reqwest::Method::DELETE;
        let allowed = ["get", "post"]
            .into_iter()
            .filter(|m| documented.contains(&(m.to_string(), path.clone())))
            .map(str::to_uppercase)
            .collect::<Vec<_>>()
            .join(", ");
        let allowed = Some(allowed.as_str());
        let response = gateway
            .http
            .request(wrong.clone(), url)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 405, "{wrong} {path}");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            allowed,
            "{wrong} {path}"
        );
        assert_eq!(
            response.text().await.expect("body"),
            r#"{"error":"method_not_allowed"}"#
        );
    }
}
