//! Shared test plumbing: a fresh Postgres database per test on the server that
//! `deploy/dev/test.sh` started (or any given by `YIMA_TEST_POSTGRES_URL`), and a way to
//! run the `yima` binary against it.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

/// The development key the demo uses; tests verify generated codes with it.
pub const DEV_KEYS: &str = "config/dev-code-keys.txt";
/// The development draw key: tests seal and open draw secrets with it.
pub const DEV_DRAW_KEYS: &str = "config/dev-draw-keys.txt";

fn server_url() -> String {
    std::env::var("YIMA_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "YIMA_TEST_POSTGRES_URL is not set: run the suite with deploy/dev/test.sh, \
             or point it at a Postgres server whose user may create databases"
        )
    })
}

fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("URL has a path");
    format!("{base}/{database}")
}

/// A database of its own, dropped when the test ends (also when it panics).
pub struct TestDb {
    pub name: String,
    pub url: String,
    server: String,
}

impl TestDb {
    pub async fn new() -> Self {
        Self::new_on(&server_url()).await
    }

    /// A database of its own on the Postgres server at `server` (a URL of a database
    /// whose user may create databases).
    pub async fn new_on(server: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "yima_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(server)
            .await
            .expect("test Postgres is up");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = with_database(server, &name);
        Self {
            name,
            url,
            server: server.to_string(),
        }
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to test database")
    }

    /// `yima` with this database, the dev keys and no config file.
    pub fn yima(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yima"));
        command
            .current_dir(repo())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("YIMA_POSTGRES_URL", &self.url)
            .env("YIMA_CODE_KEYS_FILE", DEV_KEYS)
            .env("YIMA_DRAW_KEYS_FILE", DEV_DRAW_KEYS)
            // `campaign apply` reads what a stored campaign has awarded from Redis.
            .env("YIMA_REDIS_URL", redis_url())
            .env("YIMA_KEY_PREFIX", &self.name)
            .env("RUST_LOG", "warn");
        command
    }

    /// A migrated database with the demo campaign.
    pub async fn with_demo_campaign() -> Self {
        let db = Self::new().await;
        run_ok(db.yima().arg("migrate"));
        run_ok(
            db.yima()
                .args(["campaign", "apply", "config/demo-campaign.toml"]),
        );
        db
    }

    /// Registers a batch and returns its id.
    pub fn create_batch(&self, count: u32) -> u32 {
        let out = run_ok(self.yima().args([
            "batch",
            "create",
            "--campaign",
            "putty-demo",
            "--sku",
            "PUTTY-20KG",
            "--count",
            &count.to_string(),
            "--region",
            "CN-31",
        ]));
        stdout(&out)
            .trim()
            .parse()
            .expect("batch create prints the id alone")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (name, server) = (self.name.clone(), self.server.clone());
        // Drop runs outside any runtime; use a small one of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(async {
                    let mut admin = PgConnection::connect(&server).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await?;
                    Ok::<_, sqlx::Error>(())
                })
                .map_err(std::io::Error::other)
        })
        .join();
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn key_ring() -> yima_code::KeyRing {
    let text = std::fs::read_to_string(repo().join(DEV_KEYS)).expect("dev keys");
    yima_code::KeyRing::parse(&text).expect("dev keys parse")
}

pub fn draw_keys() -> yima_campaign::DrawKeyRing {
    let text = std::fs::read_to_string(repo().join(DEV_DRAW_KEYS)).expect("dev draw keys");
    yima_campaign::DrawKeyRing::parse(&text).expect("dev draw keys parse")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and insists on success, showing stderr otherwise.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("yima runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        stderr(&output)
    );
    output
}

/// Runs and insists on failure; returns stderr.
pub fn run_err(command: &mut Command) -> String {
    let output = command.output().expect("yima runs");
    assert!(
        !output.status.success(),
        "{command:?} unexpectedly succeeded"
    );
    stderr(&output)
}

/// A fresh directory, removed when the test is done with it.
pub fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("yima-{tag}-"))
        .tempdir()
        .expect("temp dir")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------
// The gateway, in process, on port 0.

use std::sync::Arc;

use yima_campaign::Campaign;
use yima_gateway::{Catalog, Clock, Gateway, Limits};
use yima_ledger::{Ledger, NewBatch};
use yima_store::Store;

/// The admin token of every test gateway.
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub fn redis_url() -> String {
    std::env::var("YIMA_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("YIMA_TEST_REDIS_URL is not set: run the suite with deploy/dev/test.sh")
    })
}

/// This test process's metrics, as `yima gateway` serves its own (one recorder per
/// process, shared by every gateway a test binary starts).
pub fn metrics_renderer() -> yima_gateway::RenderMetrics {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    let handle = HANDLE
        .get_or_init(|| {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("one recorder per test process");
            yima_gateway::describe_metrics();
            yima_settle::describe_metrics();
            yima_payout::describe_metrics();
            handle
        })
        .clone();
    Arc::new(move || handle.render())
}

/// A campaign file for tests: two levels (master from growth 100), 10 points and 10
/// growth per scan, open through 2027 in Asia/Shanghai. `extra` holds top-level keys.
pub fn campaign(daily_limit: u32, extra: &str, prizes: &str) -> String {
    format!(
        r#"id = "test"
name = "test campaign"
starts_at = "2026-01-01T00:00:00+08:00"
ends_at = "2027-12-31T23:59:59+08:00"
timezone = "Asia/Shanghai"
points_per_scan = 10
growth_per_scan = 10
daily_scan_limit = {daily_limit}
{extra}
[[levels]]
name = "apprentice"
min_growth = 0

[[levels]]
name = "master"
min_growth = 100

{prizes}"#
    )
}

/// Noon on 2026-06-01 in Shanghai: inside the test campaign.
pub fn june_first() -> jiff::Timestamp {
    "2026-06-01T12:00:00+08:00".parse().expect("timestamp")
}

pub struct TestGateway {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    pub ledger: Ledger,
    pub catalog: Arc<Catalog>,
    pub clock: Clock,
    pub prefix: String,
    pub redis_url: String,
    server: actix_web::dev::ServerHandle,
}

impl TestGateway {
    pub async fn start(campaign_toml: &str, clock: Clock) -> Self {
        Self::start_with_redis(campaign_toml, clock, &redis_url()).await
    }

    pub async fn start_with_redis(campaign_toml: &str, clock: Clock, redis_url: &str) -> Self {
        Self::start_on(campaign_toml, clock, &server_url(), redis_url).await
    }

    /// A gateway on a Postgres server of the test's choosing (a drill that stops it).
    pub async fn start_on(
        campaign_toml: &str,
        clock: Clock,
        postgres_server: &str,
        redis_url: &str,
    ) -> Self {
        Self::launch(
            campaign_toml,
            clock,
            postgres_server,
            redis_url,
            Limits::off(),
        )
        .await
    }

    /// A gateway with scan rate limits.
    pub async fn start_limited(campaign_toml: &str, clock: Clock, limits: Limits) -> Self {
        Self::launch(campaign_toml, clock, &server_url(), &redis_url(), limits).await
    }

    async fn launch(
        campaign_toml: &str,
        clock: Clock,
        postgres_server: &str,
        redis_url: &str,
        limits: Limits,
    ) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let db = TestDb::new_on(postgres_server).await;
        let ledger = Ledger::connect(&db.url).await.expect("ledger");
        ledger.migrate().await.expect("migrate");
        let campaign = Campaign::from_toml(campaign_toml).expect("test campaign is valid");
        let prefix = format!(
            "t{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let store = Store::connect(redis_url, &prefix, std::time::Duration::from_secs(10))
            .await
            .expect("redis");
        yima_gateway::apply_campaign(&ledger, &store, &draw_keys(), &campaign, clock.now())
            .await
            .expect("apply campaign");
        let gateway = Gateway::new(
            key_ring(),
            draw_keys(),
            store,
            ledger.clone(),
            clock.clone(),
            Some(yima_gateway::BearerToken::new(ADMIN_TOKEN).expect("token")),
        )
        .with_metrics(metrics_renderer())
        .with_limits(limits);
        let catalog = gateway.catalog().clone();
        catalog.load_all(&ledger).await.expect("catalog");
        tokio::spawn(catalog.clone().follow(ledger.clone()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let server = yima_gateway::serve(gateway, listener, 2).expect("serve");
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base,
            http: {
                yima_payout::install_crypto_provider();
                reqwest::Client::builder()
                    .pool_max_idle_per_host(512)
                    .build()
                    .expect("client")
            },
            db,
            ledger,
            catalog,
            clock,
            prefix,
            redis_url: redis_url.to_string(),
            server: handle,
        }
    }

    /// Registers a batch of the test campaign and signs its codes in process.
    pub async fn batch(&self, count: u32, region: Option<&str>) -> (u32, Vec<String>) {
        self.batch_of("test", count, region).await
    }

    /// Registers a batch of `campaign` and signs its codes in process.
    pub async fn batch_of(
        &self,
        campaign: &str,
        count: u32,
        region: Option<&str>,
    ) -> (u32, Vec<String>) {
        let batch = self
            .ledger
            .create_batch(&NewBatch {
                campaign: campaign.into(),
                sku: "SKU-1".into(),
                count,
                region: region.map(Into::into),
                key_id: key_ring().signing_key().id(),
            })
            .await
            .expect("create batch");
        let ring = key_ring();
        let codes = ring
            .signing_key()
            .codes(batch.id, 0..count)
            .map(|(_, c)| c.to_string())
            .collect();
        (batch.id, codes)
    }

    pub async fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// One scan; the raw status and body.
    pub async fn scan(&self, code: &str, member: &str, role: &str) -> (u16, String) {
        let body = serde_json::json!({"code": code, "member": member, "role": role}).to_string();
        self.post("/v1/scan", body, None).await
    }

    /// Many scans with at most `in_flight` outstanding; answers in input order.
    pub async fn scan_all(
        &self,
        scans: Vec<(String, String, &'static str)>,
        in_flight: usize,
    ) -> Vec<(u16, String)> {
        let limit = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (code, member, role)) in scans.into_iter().enumerate() {
            let permit = limit.clone().acquire_owned().await.expect("semaphore");
            let http = self.http.clone();
            let url = format!("{}/v1/scan", self.base);
            tasks.spawn(async move {
                let body =
                    serde_json::json!({"code": code, "member": member, "role": role}).to_string();
                let response = http.post(url).body(body).send().await.expect("request");
                let status = response.status().as_u16();
                let text = response.text().await.expect("body");
                drop(permit);
                (index, status, text)
            });
        }
        let mut answers = vec![(0, String::new()); tasks.len()];
        while let Some(done) = tasks.join_next().await {
            let (index, status, text) = done.expect("scan task");
            answers[index] = (status, text);
        }
        answers
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }

    /// Waits (at most 10 s) until the catalog satisfies `ready`: change notifications
    /// are asynchronous, so tests wait on the catalog's change signal for the effect.
    pub async fn until_catalog(&self, what: &str, ready: impl Fn(&Catalog) -> bool) {
        let mut changes = self.catalog.subscribe();
        let wait = async {
            while !ready(&self.catalog) {
                changes.changed().await.expect("catalog alive");
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("catalog never showed {what}"));
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        drop(self.server.stop(false));
        // Remove this test's keys (sync client: Drop runs outside the runtime's reach).
        if self.redis_url.contains(',') {
            // A cluster: KEYS asks every master, DEL is split by slot.
            let seeds: Vec<&str> = self.redis_url.split(',').collect();
            if let Ok(mut connection) =
                redis::cluster::ClusterClient::new(seeds).and_then(|c| c.get_connection())
            {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}:*", self.prefix))
                    .query(&mut connection)
                    .unwrap_or_default();
                for key in keys {
                    let _: Result<(), _> = redis::cmd("DEL").arg(key).query(&mut connection);
                }
            }
        } else if let Ok(mut connection) =
            redis::Client::open(self.redis_url.as_str()).and_then(|c| c.get_connection())
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:*", self.prefix))
                .query(&mut connection)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut connection);
            }
        }
    }
}

/// The `status` of a JSON answer ("" if it has none).
pub fn status(body: &str) -> String {
    json(body)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Parses a JSON body.
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A Redis server of the test's own, for assertions on server-wide statistics.
pub struct PrivateRedis {
    pub url: String,
    port: u16,
    durable: bool,
    child: std::process::Child,
    /// Removed on drop, after the server is stopped (fields drop after `drop` runs).
    _dir: tempfile::TempDir,
}
impl PrivateRedis {
    /// A Redis that keeps nothing on disk.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A Redis with the recommended persistence (`deploy/redis.conf`): an append-only
    /// file synced every second.
    pub fn start_durable() -> Self {
        Self::launch(true)
    }

    fn launch(durable: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = temp_dir(&format!("redis-{port}"));
        let child = Self::spawn(port, durable, dir.path());
        let redis = Self {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            durable,
            child,
            _dir: dir,
        };
        redis.wait_ready();
        redis
    }

    fn spawn(port: u16, durable: bool, dir: &Path) -> std::process::Child {
        let persistence: [&str; 4] = if durable {
            ["--appendonly", "yes", "--appendfsync", "everysec"]
        } else {
            ["--appendonly", "no", "--save", ""]
        };
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(persistence)
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (deploy/dev/test.sh installs it)")
    }

    /// Waits (bounded) until the server accepts connections.
    fn wait_ready(&self) {
        let client = redis::Client::open(self.url.as_str()).expect("url");
        for attempt in 0.. {
            match client.get_connection() {
                Ok(_) => break,
                Err(error) if attempt < 500 => {
                    let _ = error;
                    std::thread::yield_now();
                    std::thread::park_timeout(std::time::Duration::from_millis(10));
                }
                Err(error) => panic!("private redis did not start: {error}"),
            }
        }
    }

    /// Stops the server as an operator's restart does (`SHUTDOWN`: the append-only
    /// file is flushed) and starts it again on the same port and directory.
    pub fn restart(&mut self) {
        if let Ok(mut connection) =
            redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let _: Result<(), _> = redis::cmd("SHUTDOWN").query(&mut connection);
        }
        let _ = self.child.wait();
        self.child = Self::spawn(self.port, self.durable, self._dir.path());
        self.wait_ready();
    }

    /// Kills the server outright (SIGKILL: nothing flushed, no goodbye), as a crash
    /// does, and starts it again on the same port and directory.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.port, self.durable, self._dir.path());
        self.wait_ready();
    }
}
impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestGateway {
    /// A settlement worker on this gateway's Redis keys, reading briefly.
    pub async fn worker(&self, consumer: &str) -> yima_settle::Worker {
        let settings = yima_settle::Settings {
            consumer: consumer.into(),
            block: std::time::Duration::from_millis(50),
            ..yima_settle::Settings::default()
        };
        let reader = yima_store::StreamReader::connect(
            &self.redis_url,
            &self.prefix,
            consumer,
            settings.block,
        )
        .await
        .expect("stream reader");
        yima_settle::Worker::new(reader, self.ledger.clone(), settings)
    }

    /// The stored draw secret and rules of the test campaign, as an auditor reads them.
    pub async fn secret_and_rules(&self) -> (yima_campaign::DrawSecret, Campaign) {
        let (secret, definition): (Vec<u8>, String) =
            sqlx::query_as("SELECT draw_secret, definition::text FROM campaigns WHERE id = 'test'")
                .fetch_one(&mut self.db.connect().await)
                .await
                .expect("campaign row");
        let secret = draw_keys()
            .open("test", &secret)
            .expect("the stored secret opens");
        (
            secret,
            Campaign::from_definition_json(&definition).expect("valid"),
        )
    }

    /// Runs rounds until one finds nothing to do (at most 1,000 rounds).
    pub async fn drain(&self, worker: &mut yima_settle::Worker) {
        for _ in 0..1000 {
            match worker.round().await {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) => eprintln!("round failed (retrying): {error}"),
            }
        }
        panic!("settlement never drained");
    }

    /// Deletes every Redis key of this test: a Redis that lost everything.
    pub async fn lose_redis(&self) {
        let mut connection = self.redis().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut connection)
            .await
            .expect("keys");
        if !keys.is_empty() {
            let () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut connection)
                .await
                .expect("del");
        }
    }
}

impl TestGateway {
    /// The `yima` binary on this gateway's database, Redis and key prefix.
    pub fn yima(&self) -> Command {
        let mut command = self.db.yima();
        command
            .env("YIMA_REDIS_URL", &self.redis_url)
            .env("YIMA_KEY_PREFIX", &self.prefix);
        command
    }

    /// Voids a batch through the admin route and waits until the catalog has it void.
    pub async fn void_batch(&self, batch: u32) {
        let (status, body) = self
            .post(
                &format!("/v1/admin/batches/{batch}/void"),
                "",
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        self.until_batch_void(batch).await;
    }

    /// Waits until the catalog holds `batch` as void.
    pub async fn until_batch_void(&self, batch: u32) {
        self.until_catalog("the batch voided", |catalog| {
            catalog
                .cached_batch(batch)
                .is_some_and(|b| b.status == yima_ledger::BatchStatus::Void)
        })
        .await;
    }

    /// Applies a campaign file through the admin route and waits until the catalog
    /// serves the revision it became.
    pub async fn apply_and_wait(&self, campaign_toml: String) {
        let (status, body) = self
            .post("/v1/admin/campaigns", campaign_toml, Some(ADMIN_TOKEN))
            .await;
        assert_eq!(status, 200, "{body}");
        let revision = json(&body)["revision"].as_i64().expect("a new revision");
        self.until_catalog(&format!("revision {revision}"), |catalog| {
            catalog
                .campaign("test")
                .is_some_and(|c| i64::from(c.revision) == revision)
        })
        .await;
    }

    /// Stores a campaign as `yima campaign apply` would, at this gateway's clock.
    pub async fn apply(
        &self,
        campaign: &Campaign,
    ) -> Result<yima_ledger::Applied, yima_gateway::ApplyError> {
        yima_gateway::apply_campaign(
            &self.ledger,
            &self.store().await,
            &draw_keys(),
            campaign,
            self.clock.now(),
        )
        .await
    }

    /// One number from this gateway's database.
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut self.db.connect().await)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A second connection to the same Redis keys, as the CLI tools use.
    pub async fn store(&self) -> Store {
        Store::connect(
            &self.redis_url,
            &self.prefix,
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("redis")
    }
}

/// A Postgres server of a test's own, started (and stopped, and started again) with
/// `deploy/dev/services.sh`, for drills that take the database away.
pub struct PrivatePostgres {
    /// A URL of its `postgres` database.
    pub url: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = temp_dir("postgres");
        // initdb runs as the postgres user when the tests run as root: it must reach it.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let port = Self::services(&["yima_free_port"], dir.path())
            .trim()
            .parse()
            .expect("a port");
        let postgres = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            dir,
        };
        postgres.resume();
        postgres
    }

    /// Runs a function of `deploy/dev/services.sh` with the data directory and port.
    fn services(call: &[&str], dir: &Path) -> String {
        let output = Command::new("bash")
            .current_dir(repo())
            .arg("-c")
            .arg(format!(". deploy/dev/services.sh && {}", call.join(" ")))
            .env("DIR", dir)
            .output()
            .expect("bash");
        assert!(output.status.success(), "{call:?}: {}", stderr(&output));
        stdout(&output)
    }

    /// Stops the server (a fast shutdown: sessions are cut off).
    pub fn stop(&self) {
        Self::services(&["yima_stop_postgres", "\"$DIR\""], self.dir.path());
    }

    /// Starts the server again on the same port and data.
    pub fn resume(&self) {
        let port = self.port.to_string();
        Self::services(&["yima_start_postgres", "\"$DIR\"", &port], self.dir.path());
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
