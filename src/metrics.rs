//! The process's metrics recorder and, for the worker, a listener that serves them.
//! Prometheus scrapes `GET /metrics`; the names are documented in the README.

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The process's Prometheus recorder: installed on first use, with histogram buckets
/// sized for what yima measures (a summary cannot be aggregated across workers; buckets
/// can) and every series' help text. The recorder is process-wide, so later calls
/// return the same handle. Call it inside the Tokio runtime (it starts the upkeep).
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);
    let mut installed = HANDLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = &*installed {
        return Ok(handle.clone());
    }
    let handle = install()?;
    yima_gateway::describe_metrics();
    yima_settle::describe_metrics();
    yima_payout::describe_metrics();
    *installed = Some(handle.clone());
    Ok(handle)
}

fn install() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ],
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full("yima_settle_batch_size".into()),
                &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0],
            )
        })
        .context("metric buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")
        .inspect(|handle| {
            tokio::spawn(upkeep(handle.clone()));
        })
}

/// Drains histogram samples into their buckets every few seconds. The recorder holds
/// each sample until a render or an upkeep takes it, so a process nobody scrapes (a
/// worker without `--metrics-listen`) kept every sample it ever recorded: the soak
/// (`benches/soak.sh`) saw a worker grow by a megabyte a minute.
async fn upkeep(handle: PrometheusHandle) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        ticks.tick().await;
        handle.run_upkeep();
    }
}

/// Serves `GET /metrics` on `listen` until the process exits.
pub fn serve(listen: &str, handle: PrometheusHandle) -> anyhow::Result<()> {
    let server = actix_web::HttpServer::new(move || {
        let handle = handle.clone();
        actix_web::App::new().route(
            "/metrics",
            actix_web::web::get().to(move || {
                let body = handle.render();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(listen)
    .with_context(|| format!("cannot listen on {listen} for metrics"))?
    .run();
    tokio::spawn(server);
    tracing::info!(address = listen, "metrics at /metrics");
    Ok(())
}
