//! The long-running parts assembled from the configuration: what `yima gateway` and
//! `yima settle` run, and what the integration tests start.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use yima_gateway::{Catalog, Clock, Gateway};
use yima_ledger::Ledger;
use yima_store::Store;

use crate::config::Config;

/// How often idle rate-limit entries are swept.
const LIMIT_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A gateway serving on its listener, with its catalog loaded and followed.
pub struct GatewayApp {
    address: SocketAddr,
    catalog: Arc<Catalog>,
    server: actix_web::dev::Server,
}

impl GatewayApp {
    /// Connects to Postgres and Redis, loads the catalog, starts following it and
    /// sweeping the rate limits, and serves on `listener` (bound by the caller, so a
    /// test can take port 0) with `workers` threads. Scans run on `clock`.
    pub async fn build(
        config: &Config,
        clock: Clock,
        listener: TcpListener,
        workers: usize,
    ) -> anyhow::Result<Self> {
        let address = listener
            .local_addr()
            .context("the listener has no address")?;
        let dev_login = config.members.dev_login;
        if dev_login {
            if !address.ip().is_loopback() {
                anyhow::bail!(
                    "members.dev_login hands out tokens for any member: it is refused on {address}, \
                     a non-loopback address"
                );
            }
            if config.members.jwt_secret.is_none() {
                anyhow::bail!("members.dev_login needs members.jwt_secret to sign its tokens");
            }
            tracing::warn!("dev login is on: POST /v1/dev/login issues a token for any member");
        }
        let ring = config.key_ring()?;
        let draw_keys = config.draw_keys()?;
        let store = store(config).await?;
        let ledger = ledger(config).await?;
        let credentials = config.credentials()?;
        if credentials.admin.is_none() {
            tracing::warn!("no admin token configured: /v1/admin/* refuses every request");
        }
        if credentials.members.is_none() && credentials.service.is_none() {
            tracing::warn!(
                "no member token keys and no service key configured: /v1/scan refuses every request"
            );
        }
        let metrics = crate::metrics::recorder()?;
        let gateway = Gateway::new(ring, draw_keys, store, ledger.clone(), clock, credentials)
            .with_metrics(Arc::new(move || metrics.render()))
            .with_limits(config.limits.limits())
            .with_dev_login(dev_login)
            .with_login_url(config.members.login_url.clone())
            .with_registry(config.registry()?);
        let catalog = gateway.catalog().clone();
        catalog.load_all(&ledger).await?;
        tokio::spawn(gateway.limits().clone().sweep_every(LIMIT_SWEEP_EVERY));
        tokio::spawn(catalog.clone().follow(ledger));
        let server = yima_gateway::serve(gateway, listener, workers)?;
        Ok(Self {
            address,
            catalog,
            server,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its catalog, to wait for a change to arrive.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM, or [`GatewayApp::handle`]).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// A settlement worker reading the configured Redis and writing to `ledger`.
pub async fn worker(
    config: &Config,
    ledger: Ledger,
    settings: yima_settle::Settings,
) -> anyhow::Result<yima_settle::Worker> {
    let reader = yima_store::StreamReader::connect(
        config.redis.url.expose(),
        &config.redis.key_prefix,
        &settings.consumer,
        settings.block,
    )
    .await
    .context("cannot connect to Redis")?;
    crate::metrics::recorder()?;
    Ok(yima_settle::Worker::new(reader, ledger, settings))
}

/// The configured Postgres.
pub async fn ledger(config: &Config) -> anyhow::Result<Ledger> {
    Ledger::connect(config.postgres.url.expose())
        .await
        .context("cannot connect to Postgres")
}

/// The configured Redis.
pub async fn store(config: &Config) -> anyhow::Result<Store> {
    Store::connect(
        config.redis.url.expose(),
        &config.redis.key_prefix,
        Duration::from_secs(2),
    )
    .await
    .context("cannot connect to Redis")
}
