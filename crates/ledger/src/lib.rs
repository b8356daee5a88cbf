//! The Postgres book of record.
//!
//! Redis answers scans; Postgres is what finance, auditors and a rebuilt Redis rely
//! on. This crate owns the schema (embedded migrations, so the binary carries it) and
//! translates rows to plain values. Queries are checked at run time, so a fresh clone
//! builds without a database.

mod archive;
mod batches;
mod campaigns;
mod claims;
mod dead_letters;
mod downgrades;
mod history;
mod mall;
mod payouts;
mod records;
mod registry;
mod settlement;
mod tasks;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The NOTIFY channel the catalog triggers write to.
pub const CATALOG_CHANNEL: &str = "yima_catalog";

pub use archive::{ArchivedMonth, MIN_KEPT_MONTHS};
pub use batches::{Batch, BatchStatus, MAX_BATCH_COUNT, NewBatch};
pub use campaigns::{Applied, CampaignRecord, Expected, Revision, StoredCampaign};
pub use claims::{Claim, Claimable, Claimed, NewClaim, Stepped};
pub use dead_letters::DeadLetter;
pub use downgrades::GrowthCut;
pub use history::{AwardEntry, HistoryCursor, HistoryPage, LedgerEntry, ScanEntry};
pub use mall::{Purchase, PurchaseOutcome};
pub use payouts::{DuePayout, PayoutCounts};
pub use records::{
    ArchivedScans, BoardRow, DivertedScan, FROZEN_BOARD_SIZE, MemberBalance, SettledDraw,
    SettledRecord, SettledRow, SettledScan,
};
pub use registry::{MemberFilter, MemberPage, NewMember, Profile, Registered, Standing};
pub use settlement::{Award, Redemption, Settled};

/// What can go wrong talking to the book of record, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The URL cannot be parsed; nothing was contacted.
    #[error("invalid Postgres URL: {0}")]
    BadUrl(String),
    /// The server did not answer or refused the connection.
    #[error("cannot connect to Postgres at {target}")]
    Connect {
        /// host:port/database, without credentials.
        target: String,
        /// The driver's reason.
        source: sqlx::Error,
    },
    /// Applying the schema failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A batch was requested for a campaign that does not exist.
    #[error("unknown campaign `{0}`")]
    UnknownCampaign(String),
    /// No batch has this id.
    #[error("unknown batch {0}")]
    UnknownBatch(u32),
    /// Input that would violate a rule of the schema, caught before writing.
    #[error("{0}")]
    Invalid(String),
    /// The campaign changed between the check of an edit and its write: check again.
    #[error("campaign `{0}` changed meanwhile: apply again")]
    Conflict(String),
    /// Any other database failure.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Today in UTC: the calendar months of `scans` are kept by (campaign months are
/// never more than a day away from it).
fn utc_today() -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

/// A pool of connections to the book of record.
#[derive(Debug, Clone)]
pub struct Ledger {
    pool: PgPool,
    /// First days of the months whose `scans` partition is known to exist.
    months: Arc<Mutex<BTreeSet<jiff::civil::Date>>>,
}

impl Ledger {
    /// Connects, failing within a few seconds with the address it tried and the
    /// driver's reason when the server is not there (a CLI should not hang on a typo).
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(LedgerError::BadUrl(
                "must start with postgres:// or postgresql://".into(),
            ));
        }
        let options =
            PgConnectOptions::from_str(url).map_err(|e| LedgerError::BadUrl(e.to_string()))?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        // One direct connection first: a pool reports every failure as a timeout,
        // which hides "connection refused" or "database does not exist".
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)
            .and_then(|connected| connected);
        let probe = probe.map_err(|source| LedgerError::Connect { target, source })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            months: Arc::default(),
        })
    }

    /// Applies every pending migration. Safe to run again and from several processes
    /// at once (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), LedgerError> {
        sqlx::migrate!("./migrations").run(&self.pool).await?;
        Ok(())
    }

    /// Applies migrations up to and including `version` only: how a test builds the
    /// schema an older release left, to check what the next migration does with it.
    pub async fn migrate_to(&self, version: i64) -> Result<(), LedgerError> {
        sqlx::migrate!("./migrations")
            .run_to(version, &self.pool)
            .await?;
        Ok(())
    }

    /// A listener for catalog changes: each notification's payload is
    /// `campaigns:<id>` or `batches:<id>`.
    pub async fn catalog_listener(&self) -> Result<sqlx::postgres::PgListener, LedgerError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(CATALOG_CHANNEL).await?;
        Ok(listener)
    }

    /// Whether Postgres answers a `SELECT 1` within `limit`: for readiness reports,
    /// which must answer quickly whatever the database is doing.
    pub async fn ping(&self, limit: std::time::Duration) -> bool {
        let query = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&self.pool);
        matches!(tokio::time::timeout(limit, query).await, Ok(Ok(1)))
    }

    /// The same database over a pool of its own, of at most `connections`: the scan
    /// path's look-ups then never queue behind dashboards, leaderboards or sign-ins.
    pub fn own_pool(&self, connections: u32) -> Self {
        let options = (*self.pool.connect_options()).clone();
        Self {
            pool: PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect_lazy_with(options),
            months: Arc::clone(&self.months),
        }
    }

    /// The underlying pool, for crates that add their own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
