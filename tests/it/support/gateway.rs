//! The gateway in process on port 0, started as `yima gateway` starts it, with helpers
//! to scan, read and settle through it.

use std::process::Command;
use std::sync::Arc;

use std::sync::atomic::{AtomicU32, Ordering};
use yima_campaign::Campaign;

use yima::config::{Config, LimitsConfig, Secret};
use yima_gateway::{Catalog, Clock};
use yima_ledger::{Ledger, NewBatch};
use yima_store::Store;

use super::*;

/// The admin token of every test gateway.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The service key of every test gateway: the brand's back end.
pub const SERVICE_TOKEN: &str = "test-service-token";

/// The HS256 secret member tokens of every test gateway are signed with.
pub const JWT_SECRET: &str = "test-member-token-secret-of-32-bytes";

/// The invite secret of every test gateway.
pub const INVITE_SECRET: &str = "test-invite-secret-of-at-least-32-bytes";

/// A member token for `member`, valid for ten minutes, as the brand's login issues it.
pub fn member_token(member: &str) -> String {
    member_tokens().issue(member, 600).expect("a test token")
}

/// The verifier (and issuer) of the test gateways' member tokens.
pub fn member_tokens() -> yima_identity::MemberTokens {
    yima_identity::MemberTokens::new(yima_identity::TokenKeys {
        hs256_secret: Some(JWT_SECRET.as_bytes()),
        ..yima_identity::TokenKeys::default()
    })
    .expect("test keys")
}

/// Seconds since 1970, in real time (tokens expire in real time, whatever the
/// campaign clock says).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

pub fn redis_url() -> String {
    std::env::var("YIMA_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("YIMA_TEST_REDIS_URL is not set: run the suite with deploy/dev/test.sh")
    })
}

/// The configuration of a test gateway, as `yima gateway` would load it from the
/// environment: the dev keys, the admin token, this test's database and key prefix.
pub fn gateway_config(postgres: &str, redis: &str, prefix: &str, limits: LimitsConfig) -> Config {
    let mut config = Config::default();
    config.postgres.url = Secret::new(postgres);
    config.redis.url = Secret::new(redis);
    config.redis.key_prefix = prefix.to_string();
    config.code.keys_file = Some(repo().join(DEV_KEYS));
    config.draw.keys_file = Some(repo().join(DEV_DRAW_KEYS));
    config.admin.token = Some(Secret::new(ADMIN_TOKEN));
    config.service.token = Some(Secret::new(SERVICE_TOKEN));
    config.members.jwt_secret = Some(Secret::new(JWT_SECRET));
    config.members.invite_secret = Some(Secret::new(INVITE_SECRET));
    config.limits = limits;
    config.check().expect("a valid test configuration");
    config
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
    /// What the gateway was started with.
    pub config: Config,
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
        Self::launch(campaign_toml, clock, postgres_server, redis_url, |_| {}).await
    }

    /// A gateway with scan rate limits.
    pub async fn start_limited(campaign_toml: &str, clock: Clock, limits: LimitsConfig) -> Self {
        Self::start_configured(campaign_toml, clock, |config| config.limits = limits).await
    }

    /// A gateway whose configuration `configure` changes (limits start off).
    pub async fn start_configured(
        campaign_toml: &str,
        clock: Clock,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        Self::launch(campaign_toml, clock, &server_url(), &redis_url(), configure).await
    }

    async fn launch(
        campaign_toml: &str,
        clock: Clock,
        postgres_server: &str,
        redis_url: &str,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let db = TestDb::new_on(postgres_server).await;
        let prefix = format!(
            "t{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut config = gateway_config(
            &db.url,
            redis_url,
            &prefix,
            LimitsConfig {
                member_per_minute: 0,
                ip_per_minute: 0,
                ..LimitsConfig::default()
            },
        );
        configure(&mut config);
        config.check().expect("a valid test configuration");
        let ledger = yima::app::ledger(&config).await.expect("ledger");
        ledger.migrate().await.expect("migrate");
        let campaign = Campaign::from_toml(campaign_toml).expect("test campaign is valid");
        let store = yima::app::store(&config).await.expect("redis");
        yima_admin::apply_campaign(&ledger, &store, &draw_keys(), &campaign, clock.now())
            .await
            .expect("apply campaign");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let app = yima::app::GatewayApp::build(&config, clock.clone(), listener, 2)
            .await
            .expect("the gateway starts");
        let base = format!("http://{}", app.address());
        let (catalog, handle) = (app.catalog().clone(), app.handle());
        tokio::spawn(app.run());
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
            config,
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
        self.batch_of_sku(campaign, "SKU-1", count, region).await
    }

    /// Registers a batch of `campaign` and `sku` and signs its codes in process.
    pub async fn batch_of_sku(
        &self,
        campaign: &str,
        sku: &str,
        count: u32,
        region: Option<&str>,
    ) -> (u32, Vec<String>) {
        let batch = self
            .ledger
            .create_batch(&NewBatch {
                campaign: campaign.into(),
                sku: sku.into(),
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

    /// A GET as the brand's back end sends it (with the service key).
    pub async fn get(&self, path: &str) -> (u16, String) {
        self.get_as(path, Some(SERVICE_TOKEN)).await
    }

    /// A GET with `token` as its bearer credential, or none.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// One scan by `member`, with the member's own token; the raw status and body.
    pub async fn scan(&self, code: &str, member: &str, role: &str) -> (u16, String) {
        let body = serde_json::json!({"code": code, "role": role}).to_string();
        self.post("/v1/scan", body, Some(&member_token(member)))
            .await
    }

    /// A scan with any body, sent by the brand's back end (the service key).
    pub async fn scan_body(&self, body: impl Into<reqwest::Body>) -> (u16, String) {
        self.post("/v1/scan", body, Some(SERVICE_TOKEN)).await
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
                let body = serde_json::json!({"code": code, "role": role}).to_string();
                let response = http
                    .post(url)
                    .bearer_auth(member_token(&member))
                    .body(body)
                    .send()
                    .await
                    .expect("request");
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

impl TestGateway {
    /// A settlement worker on this gateway's Redis keys, reading briefly.
    pub async fn worker(&self, consumer: &str) -> yima_settle::Worker {
        self.worker_with_grace(consumer, yima_settle::DEFAULT_ANSWER_GRACE)
            .await
    }

    /// The same, letting settled answers go from Redis after `grace`.
    pub async fn worker_with_grace(
        &self,
        consumer: &str,
        grace: std::time::Duration,
    ) -> yima_settle::Worker {
        let settings = yima_settle::Settings {
            consumer: consumer.into(),
            block: std::time::Duration::from_millis(50),
            answer_grace: grace,
            ..yima_settle::Settings::default()
        };
        yima::app::worker(&self.config, self.ledger.clone(), settings)
            .await
            .expect("the worker starts")
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
    /// Runs `yima reconcile` on the test campaign and fails the test on any difference.
    pub fn reconcile_agrees(&self) {
        let output = self
            .yima()
            .args(["reconcile", "--campaign", "test"])
            .output()
            .expect("yima runs");
        assert!(
            output.status.success(),
            "{}{}",
            stdout(&output),
            stderr(&output)
        );
    }

    /// The `yima` binary on this gateway's database, Redis, key prefix and credentials.
    pub fn yima(&self) -> Command {
        let mut command = self.db.yima();
        command
            .env("YIMA_REDIS_URL", &self.redis_url)
            .env("YIMA_KEY_PREFIX", &self.prefix)
            .env("YIMA_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("YIMA_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("YIMA_MEMBERS_JWT_SECRET", JWT_SECRET)
            .env("YIMA_MEMBERS_INVITE_SECRET", INVITE_SECRET);
        command
    }

    /// Registers `member` as a dealer (as its invite would) and waits until the
    /// catalog lets it scan as one.
    pub async fn register_dealer(&self, member: &str) {
        self.register_in(member, "dealer").await;
    }

    /// Registers `member` in an architecture other than the first (as its invite
    /// would) and waits until the catalog holds it.
    pub async fn register_in(&self, member: &str, architecture: &str) {
        let registered = self
            .ledger
            .register(&yima_ledger::NewMember {
                member,
                architecture,
                channel: "test",
                tags: &[],
                nickname: None,
                region: None,
                birthday: None,
                phone_digest: None,
                phone_masked: None,
            })
            .await
            .expect("register");
        assert!(matches!(registered, yima_ledger::Registered::Created(_)));
        self.until_catalog("the member registered", |catalog| {
            catalog.standing(member).is_some_and(|s| s.architecture > 0)
        })
        .await;
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
    ) -> Result<yima_ledger::Applied, yima_admin::ApplyError> {
        yima_admin::apply_campaign(
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

/// A redemption of the test campaign's `batch` as the gateway would have recorded it:
/// no prize, ten points, June 1st; tests change what they look at.
pub fn redemption(batch: u32, serial: u32) -> yima_ledger::Redemption {
    yima_ledger::Redemption {
        stream_id: format!("1780286400000-{serial}"),
        scan_id: format!("scan-{serial}"),
        campaign: "test".into(),
        revision: 1,
        batch,
        serial,
        role: "consumer".into(),
        member: format!("m{}", serial % 13),
        day: jiff::civil::date(2026, 6, 1),
        at_ms: 1_780_286_400_000,
        level: 1,
        draw: 7,
        drawn: String::new(),
        award: None,
        points: 10,
        growth: 10,
        region: None,
        batch_region: None,
        request_id: None,
        architecture: None,
        answer: Some("no_prize  10 10 1".into()),
    }
}

/// One cup, drawn by every scan while it lasts: the first scan wins, the next get nothing.
pub const ONE_CUP: &str = r#"
[[prizes]]
id = "cup"
name = "Insulated cup"
kind = "item"
value = 5900
stock = 1
odds = [1000000, 1000000]
"#;

/// The four answers a redeemed code can give, as (HTTP status, body).
pub struct FourAnswers {
    pub won: (u16, String),
    pub nothing: (u16, String),
    pub limit: (u16, String),
    pub taken: (u16, String),
}

/// Under [`ONE_CUP`] and a daily limit of 2: alice wins with `codes[0]`, gets nothing
/// with `codes[1]`, hits her limit with `codes[2]`, and bob finds `codes[0]` taken.
pub async fn four_answers(gateway: &TestGateway, codes: &[String]) -> FourAnswers {
    let answers = FourAnswers {
        won: gateway.scan(&codes[0], "alice", "consumer").await,
        nothing: gateway.scan(&codes[1], "alice", "consumer").await,
        limit: gateway.scan(&codes[2], "alice", "consumer").await,
        taken: gateway.scan(&codes[0], "bob", "consumer").await,
    };
    for ((code, body), expected) in [
        (&answers.won, "won"),
        (&answers.nothing, "no_prize"),
        (&answers.limit, "daily_limit"),
        (&answers.taken, "already_redeemed"),
    ] {
        assert_eq!((*code, status(body).as_str()), (200, expected), "{body}");
    }
    answers
}
