//! The scan gateway: actix-web in front of one Redis script per scan.
//!
//! A scan is verified in process (forged codes never reach Redis), its batch and
//! campaign come from the in-memory [`Catalog`], and the redemption, limit, draw and
//! credit happen atomically in `scan.lua`. Postgres is read only on start-up, on
//! change notifications and for a batch not yet in memory.

mod admin;
mod catalog;
mod clock;
mod dashboard;
mod error;
mod limits;
mod mall;
mod openapi;
mod reads;
mod request_id;
mod scan;
mod tasks;
mod token;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use yima_campaign::DrawKeyRing;
use yima_code::KeyRing;
use yima_ledger::Ledger;
use yima_store::Store;

pub use admin::{ApplyError, Reseal, ResealError, Resealed, apply_campaign, reseal_secrets};
pub use catalog::{Catalog, LoadedCampaign};
pub use clock::Clock;
pub use error::{ApiError, INVALID_CODE_BODY};
pub use limits::{IpNet, Limits, Rate, Scope};
pub use openapi::ApiDoc;
pub use token::{BearerToken, EmptyToken};

/// Everything a request handler needs, shared by all workers.
pub struct Gateway {
    ring: KeyRing,
    /// Seals the draw secrets of campaigns created through the admin route.
    draw_keys: DrawKeyRing,
    store: Store,
    ledger: Ledger,
    /// The scan path's own connections (batches not yet in memory), apart from those
    /// public reads and admin routes use.
    scan_ledger: Ledger,
    catalog: Arc<Catalog>,
    clock: Clock,
    admin_token: Option<BearerToken>,
    render_metrics: Option<RenderMetrics>,
    limits: Arc<Limits>,
    scan_metrics: std::sync::OnceLock<scan::ScanMetrics>,
}

/// Postgres connections of the scan path: it asks only for batches not yet in memory.
const SCAN_PATH_CONNECTIONS: u32 = 4;

/// Renders the process's metrics in Prometheus text format (the binary installs the
/// recorder; the gateway only asks for the text).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

impl Gateway {
    /// Assembles the gateway; call [`Gateway::catalog`]`.load_all` or
    /// [`Catalog::follow`] before serving so scans find their campaigns.
    pub fn new(
        ring: KeyRing,
        draw_keys: DrawKeyRing,
        store: Store,
        ledger: Ledger,
        clock: Clock,
        admin_token: Option<BearerToken>,
    ) -> Self {
        Self {
            ring,
            store,
            scan_ledger: ledger.own_pool(SCAN_PATH_CONNECTIONS),
            ledger,
            catalog: Arc::new(Catalog::new(draw_keys.clone())),
            draw_keys,
            clock,
            admin_token,
            render_metrics: None,
            limits: Arc::new(Limits::off()),
            scan_metrics: std::sync::OnceLock::new(),
        }
    }

    /// Serves `GET /metrics` with this renderer.
    pub fn with_metrics(mut self, render: RenderMetrics) -> Self {
        self.render_metrics = Some(render);
        self
    }

    /// Limits scans per member and per client address (none unless given).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// The scan limits, to sweep with [`Limits::sweep_every`].
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    /// The in-memory catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The ledger the gateway reads from.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

/// Every route of the public contract.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/v1/scan", web::post().to(scan::scan))
        .route("/v1/members/{member}", web::get().to(reads::member))
        .route("/v1/members/{member}/redeem", web::post().to(mall::redeem))
        .route(
            "/v1/members/{member}/sign-in",
            web::post().to(tasks::sign_in),
        )
        .route("/v1/campaigns/{id}", web::get().to(reads::campaign))
        .route("/v1/campaigns/{id}/stats", web::get().to(reads::stats))
        .route(
            "/v1/campaigns/{id}/leaderboard",
            web::get().to(reads::leaderboard),
        )
        .route("/v1/admin/campaigns", web::post().to(admin::apply))
        .route("/v1/admin/batches", web::post().to(admin::create_batch))
        .route(
            "/v1/admin/campaigns/{id}/diversions",
            web::get().to(admin::diversions),
        )
        .route(
            "/v1/admin/batches/{id}/void",
            web::post().to(admin::void_batch),
        )
        .route("/metrics", web::get().to(reads::metrics))
        .route("/dashboard", web::get().to(dashboard::page))
        .route("/dashboard/data", web::get().to(dashboard::data))
        .route("/openapi.json", web::get().to(openapi::openapi))
        .route("/healthz", web::get().to(reads::healthz))
        .route("/readyz", web::get().to(reads::readyz))
        .default_service(web::to(|| async {
            HttpResponse::NotFound()
                .content_type("application/json")
                .body(r#"{"error":"not_found"}"#)
        }));
}

/// Starts serving on an already bound listener (tests bind port 0).
pub fn serve(gateway: Gateway, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let gateway = web::Data::new(gateway);
    let server =
        HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(request_id::span))
                .app_data(gateway.clone())
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::BadRequest(format!("path: {error}")).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::BadRequest(format!("query: {error}")).into()
                }))
                .configure(routes)
        })
        .workers(workers.max(1))
        .listen(listener)?
        .run();
    Ok(server)
}

/// Reads a body up to `limit` bytes; a larger one is refused without reading it all.
pub(crate) async fn read_body(payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(ApiError::BadRequest(format!("body: {error}"))),
        Err(_) => Err(ApiError::PayloadTooLarge),
    }
}
