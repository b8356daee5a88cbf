//! The scan gateway: actix-web in front of one Redis script per scan.
//!
//! A scan is verified in process (forged codes never reach Redis), its batch and
//! campaign come from the in-memory [`Catalog`], and the redemption, limit, draw and
//! credit happen atomically in `scan.lua`. Who a request acts for is decided in
//! process too ([`Credentials`]). The scan path reads Postgres only on start-up, on
//! change notifications and for a batch not yet in memory; member reads, history,
//! the registry and the admin routes use it directly.

mod admin;
mod caller;
mod catalog;
mod claims;
mod clock;
mod dashboard;
mod dev_login;
mod error;
mod history;
mod limits;
mod mall;
mod me;
mod openapi;
mod pages;
mod reads;
mod registry;
mod request_id;
mod scan;
mod status;
mod tasks;
mod token;
pub mod wire;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use yima_campaign::DrawKeyRing;
use yima_code::KeyRing;
use yima_ledger::Ledger;
use yima_store::Store;

pub use caller::{Credentials, looks_like_jwt};
pub use catalog::{Catalog, HeldArchitecture, LoadedCampaign, Standing};
pub use clock::Clock;
pub use error::{ApiError, INVALID_CODE_BODY};
pub use limits::{IpNet, Limits, Rate, Scope};
pub use openapi::ApiDoc;
pub use registry::{Architecture, InviteError, Registry};
pub use status::ScanStatus;
pub use token::{BearerToken, EmptyToken};

/// Everything a request handler needs, shared by all workers.
pub struct Gateway {
    ring: KeyRing,
    store: Store,
    ledger: Ledger,
    /// The scan path's own connections (batches not yet in memory), apart from those
    /// public reads and admin routes use.
    scan_ledger: Ledger,
    catalog: Arc<Catalog>,
    clock: Clock,
    credentials: Credentials,
    /// `POST /v1/dev/login` is served (the demo, on loopback only).
    dev_login: bool,
    /// Where the scan page sends a phone without a session: the brand's login.
    login_url: Option<String>,
    /// Architectures and invites.
    registry: Registry,
    render_metrics: Option<RenderMetrics>,
    limits: Arc<Limits>,
    scan_metrics: std::sync::OnceLock<scan::ScanMetrics>,
}

/// Postgres connections of the scan path: it asks only for batches not yet in memory.
const SCAN_PATH_CONNECTIONS: u32 = 4;

/// Registers the gateway's metrics with their help text, so Prometheus (and
/// `promtool check metrics`) sees what each series means.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "yima_scans_total",
        "Scan requests answered, by status (won, no_prize, retry and each refusal)."
    );
    metrics::describe_counter!(
        "yima_draw_outcomes_total",
        "First scans' draw results, by campaign and prize (`none`: no prize)."
    );
    metrics::describe_counter!(
        "yima_scan_answers_from_postgres_total",
        "Scans of a redeemed code whose answer Redis had let go (settled, grace over), looked up in Postgres."
    );
    metrics::describe_histogram!(
        "yima_scan_seconds",
        metrics::Unit::Seconds,
        "Time to answer a scan request, from its body read to its answer."
    );
    metrics::describe_gauge!(
        "yima_prize_stock_left",
        "Stock of a prize not yet awarded, per campaign (read from Redis at each scrape)."
    );
    metrics::describe_gauge!(
        "yima_diverted_scans",
        "Scans from outside their batch's region (窜货), per campaign."
    );
    metrics::describe_gauge!(
        "yima_settle_lag",
        "Stream entries not yet settled (undelivered plus pending), per campaign."
    );
}

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
        credentials: Credentials,
    ) -> Self {
        Self {
            ring,
            store,
            scan_ledger: ledger.own_pool(SCAN_PATH_CONNECTIONS),
            ledger,
            catalog: Arc::new(Catalog::new(draw_keys)),
            clock,
            credentials,
            dev_login: false,
            login_url: None,
            registry: Registry::default(),
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

    /// The member registry's architectures and invite signer; the catalog then keeps
    /// the members of every architecture but the first in memory.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.catalog
            .set_architectures(registry.held_architectures());
        self.registry = registry;
        self
    }

    /// Serves `POST /v1/dev/login`, which hands out a member token for any member id:
    /// for the demo only. The binary allows it on a loopback address alone.
    pub fn with_dev_login(mut self, on: bool) -> Self {
        self.dev_login = on;
        self
    }

    /// Sends phones without a session from the scan page to the brand's login, which
    /// returns them to `/login/callback` with a member token.
    pub fn with_login_url(mut self, url: Option<String>) -> Self {
        self.login_url = url;
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

/// Every route of the public contract. Each path is one resource answering its one
/// method; any other method gets 405 with `Allow` (not 404: the path exists).
/// `dev_login` adds `POST /v1/dev/login`; without it that path does not exist.
pub fn routes(config: &mut web::ServiceConfig, dev_login: bool) {
    if dev_login {
        config
            .service(
                post("/v1/dev/login", dev_login::login).app_data(json_body(dev_login::BODY_LIMIT)),
            )
            .service(post("/login/dev", pages::dev_login));
    }
    config
        .service(post("/v1/scan", scan::scan))
        .service(get("/v1/me", me::me))
        .service(
            post("/v1/me/redeem", mall::redeem_mine).app_data(json_body(mall::REDEEM_BODY_LIMIT)),
        )
        .service(post("/v1/me/sign-in", tasks::sign_in_mine))
        .service(
            post("/v1/me/register", registry::register).app_data(json_body(registry::BODY_LIMIT)),
        )
        .service(get("/v1/me/scans", history::scans))
        .service(get("/v1/me/awards", history::awards))
        .service(get("/v1/me/ledger", history::ledger))
        .service(get("/v1/members/{member}", reads::member))
        .service(
            post("/v1/members/{member}/redeem", mall::redeem)
                .app_data(json_body(mall::REDEEM_BODY_LIMIT)),
        )
        .service(post("/v1/members/{member}/sign-in", tasks::sign_in))
        .service(get("/v1/campaigns/{id}", reads::campaign))
        .service(get("/v1/campaigns/{id}/stats", reads::stats))
        .service(get("/v1/campaigns/{id}/leaderboard", reads::leaderboard))
        .service(post("/v1/admin/campaigns", admin::apply))
        .service(
            post("/v1/admin/batches", admin::create_batch)
                .app_data(json_body(admin::BATCH_BODY_LIMIT)),
        )
        .service(get(
            "/v1/admin/campaigns/{id}/diversions",
            admin::diversions,
        ))
        .service(post("/v1/admin/batches/{id}/void", admin::void_batch))
        .service(
            post("/v1/admin/invites", registry::create_invite)
                .app_data(json_body(registry::BODY_LIMIT)),
        )
        .service(get("/v1/admin/claims", claims::list))
        .service(get("/v1/admin/claims.csv", claims::export))
        .service(
            post("/v1/admin/claims/{id}/ship", claims::ship)
                .app_data(json_body(claims::BODY_LIMIT)),
        )
        .service(post("/v1/admin/claims/{id}/deliver", claims::deliver))
        .service(post("/v1/admin/claims/shipments", claims::upload))
        .service(get("/v1/admin/members", registry::search))
        .service(get("/v1/admin/members.csv", registry::export))
        .service(
            post("/v1/admin/members/{member}/tags", registry::retag)
                .app_data(json_body(registry::BODY_LIMIT)),
        )
        .service(
            post("/v1/admin/members/{member}/block", registry::block)
                .app_data(json_body(registry::BODY_LIMIT)),
        )
        .service(post(
            "/v1/admin/members/{member}/unblock",
            registry::unblock,
        ))
        .service(get("/s/{code}", pages::scan_page))
        .service(get("/login/callback", pages::callback))
        .service(get("/me", pages::centre))
        .service(post("/me/sign-in", pages::sign_in))
        .service(get_and_post("/me/mall/{item}", pages::confirm, pages::buy))
        .service(get("/me/history", pages::history))
        .service(get_and_post("/join", pages::join_form, pages::join))
        .service(get_and_post("/me/claim", pages::claim_form, pages::claim))
        .service(get("/metrics", reads::metrics))
        .service(get("/dashboard", dashboard::page))
        .service(get("/dashboard/data", dashboard::data))
        .service(get("/openapi.json", openapi::openapi))
        .service(get("/healthz", reads::healthz))
        .service(get("/readyz", reads::readyz))
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(wire::ErrorBody::of(wire::ErrorCode::NotFound))
        }));
}

/// A path answering `GET` only.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    only("GET", web::resource(path).route(web::get().to(handler)))
}

/// A path answering `POST` only.
fn post<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    only("POST", web::resource(path).route(web::post().to(handler)))
}

/// A path answering `GET` (a page) and `POST` (its form).
fn get_and_post<G, GA, P, PA>(path: &str, get: G, post: P) -> actix_web::Resource
where
    G: actix_web::Handler<GA>,
    GA: actix_web::FromRequest + 'static,
    G::Output: actix_web::Responder + 'static,
    P: actix_web::Handler<PA>,
    PA: actix_web::FromRequest + 'static,
    P::Output: actix_web::Responder + 'static,
{
    only(
        "GET, POST",
        web::resource(path)
            .route(web::get().to(get))
            .route(web::post().to(post)),
    )
}

fn only(method: &'static str, resource: actix_web::Resource) -> actix_web::Resource {
    resource.default_service(web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, method))
            .json(wire::ErrorBody::of(wire::ErrorCode::MethodNotAllowed))
    }))
}

/// Starts serving on an already bound listener (tests bind port 0).
pub fn serve(gateway: Gateway, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let dev_login = gateway.dev_login;
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
                .app_data(
                    web::FormConfig::default()
                        .limit(4096)
                        .error_handler(|error, _| {
                            ApiError::BadRequest(format!("form: {error}")).into()
                        }),
                )
                .configure(|config| routes(config, dev_login))
        })
        .workers(workers.max(1))
        .listen(listener)?
        .run();
    Ok(server)
}

/// How a route's `web::Json` body is read: up to `limit` bytes (more is 413), whatever
/// the `Content-Type` (the contract never required one), and any other failure a 400
/// saying what is wrong.
fn json_body(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .content_type(|_| true)
        .error_handler(|error, _| {
            use actix_web::error::JsonPayloadError;
            match error {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
                JsonPayloadError::Deserialize(error) => {
                    ApiError::BadRequest(format!("body: {error}"))
                }
                other => ApiError::BadRequest(format!("body: {other}")),
            }
            .into()
        })
}

/// Reads a body up to `limit` bytes; a larger one is refused without reading it all.
pub(crate) async fn read_body(payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(ApiError::BadRequest(format!("body: {error}"))),
        Err(_) => Err(ApiError::PayloadTooLarge),
    }
}
