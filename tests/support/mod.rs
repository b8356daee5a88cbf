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
}

impl TestDb {
    pub async fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "yima_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&server_url())
            .await
            .expect("test Postgres is up");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = with_database(&server_url(), &name);
        Self { name, url }
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
        let name = self.name.clone();
        // Drop runs outside any runtime; use a small one of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(async {
                    let mut admin = PgConnection::connect(&server_url()).await?;
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

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yima-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
