//! A Postgres database of its own per test, and the `yima` binary pointed at it.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

use super::*;

pub fn server_url() -> String {
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
