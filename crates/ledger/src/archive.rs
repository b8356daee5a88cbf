//! Archiving old months of `scans`: `yima archive`.
//!
//! A month's partition is written to a CSV file, counted into `archived_scans` (what
//! reconcile and restore still need of it) and dropped, in one transaction: until it
//! commits the month is whole in Postgres, and once it commits the file and the counts
//! are there. The redemptions of the month stay in `redemptions`, so its codes stay
//! redeemed (and restore still sets their bits); awards, payouts and claims stay too.
//! What goes is the scan rows themselves: their draws can no longer be audited and
//! the member centre's history no longer lists them.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use jiff::civil::Date;

use crate::{Ledger, LedgerError};

/// The fewest months kept: this month and last month. Restore rebuilds today's and
/// yesterday's limits and this and last month's leaderboards from their scans, and a
/// scan settled late lands in the month it was made.
pub const MIN_KEPT_MONTHS: u32 = 2;

/// One archived month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMonth {
    /// Its first day.
    pub month: Date,
    /// Scans written to the file and dropped.
    pub rows: i64,
    /// The CSV file (with a header row) holding them.
    pub file: PathBuf,
}

impl ArchivedMonth {
    /// The month as `YYYY-MM`.
    pub fn period(&self) -> String {
        period(self.month)
    }
}

/// `YYYY-MM` of a month, as leaderboards and operators name it.
fn period(month: Date) -> String {
    format!("{:04}-{:02}", month.year(), month.month())
}

/// The partition of `scans` holding `month`'s first day.
fn partition(month: Date) -> String {
    format!("scans_{:04}_{:02}", month.year(), month.month())
}

impl Ledger {
    /// The first days of the months that have a partition of `scans`, oldest first.
    pub async fn scan_months(&self) -> Result<Vec<Date>, LedgerError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'scans'::regclass
              ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        names
            .iter()
            .map(|name| {
                let parsed = name.strip_prefix("scans_").and_then(|ym| {
                    let (year, month) = ym.split_once('_')?;
                    Date::new(year.parse().ok()?, month.parse().ok()?, 1).ok()
                });
                parsed.ok_or_else(|| LedgerError::Invalid(format!("unexpected partition {name}")))
            })
            .collect()
    }

    /// The months with a partition that keeping `keep_months` (this month counted)
    /// leaves to archive, oldest first, and the first month kept.
    pub async fn months_to_archive(
        &self,
        keep_months: u32,
    ) -> Result<(Vec<Date>, Date), LedgerError> {
        let kept_from = crate::utc_today()
            .first_of_month()
            .checked_sub(jiff::Span::new().months(i64::from(keep_months) - 1))
            .map_err(|e| LedgerError::Invalid(format!("cannot keep {keep_months} months: {e}")))?;
        let mut months = self.scan_months().await?;
        months.retain(|month| *month < kept_from);
        Ok((months, kept_from))
    }

    /// Archives `month`'s scans into `dir` (see the module documentation). Refuses a
    /// month whose leaderboards are not frozen yet for some campaign: they are frozen
    /// from its scans.
    ///
    /// A scan of that month settled meanwhile waits (the partition is locked against
    /// writes), then its batch fails and is settled again into a new partition of the
    /// month, which a later archive of the month writes to a further file. Should that
    /// wait meet the detach, Postgres aborts one of the two and a rerun finishes.
    pub async fn archive_month(
        &self,
        month: Date,
        dir: &Path,
    ) -> Result<ArchivedMonth, LedgerError> {
        let month = month.first_of_month();
        let table = partition(month);
        let period = period(month);
        let mut tx = self.pool.begin().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(&table)
            .fetch_one(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(LedgerError::Invalid(format!("no scans kept for {period}")));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "LOCK TABLE {table} IN SHARE MODE"
        )))
        .execute(&mut *tx)
        .await?;
        let unfrozen: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT campaign_id FROM {table}
              WHERE campaign_id NOT IN (SELECT campaign_id FROM leaderboard_months WHERE period = $1)
              ORDER BY 1"
        )))
        .bind(&period)
        .fetch_all(&mut *tx)
        .await?;
        if !unfrozen.is_empty() {
            return Err(LedgerError::Invalid(format!(
                "the {period} leaderboards of {} are not frozen yet (the worker freezes them once the month is over)",
                unfrozen.join(", ")
            )));
        }
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "WITH grouped AS (
                 SELECT campaign_id, day, coalesce(prize, '') AS prize,
                        coalesce(region, batch_region, '') AS region,
                        coalesce(region <> batch_region, false) AS diverted, count(*) AS scans
                   FROM {table} GROUP BY 1, 2, 3, 4, 5
             ), counted AS (
                 INSERT INTO archived_scans AS a (campaign_id, day, prize, region, diverted, scans)
                 SELECT * FROM grouped
                 ON CONFLICT (campaign_id, day, prize, region, diverted)
                 DO UPDATE SET scans = a.scans + excluded.scans
             )
             SELECT coalesce(sum(scans), 0)::bigint FROM grouped"
        )))
        .fetch_one(&mut *tx)
        .await?;
        let part: i32 = sqlx::query_scalar(
            "SELECT coalesce(max(part), 0) + 1 FROM archived_months WHERE month = $1::date",
        )
        .bind(month.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let name = if part == 1 {
            format!("{table}.csv")
        } else {
            format!("{table}.{part}.csv")
        };
        let file = dir.join(&name);
        let partial = dir.join(format!("{name}.partial"));
        let io = |e: std::io::Error, path: &Path| {
            LedgerError::Invalid(format!("cannot write {}: {e}", path.display()))
        };
        {
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(&partial).map_err(|e| io(e, &partial))?,
            );
            let mut copy = tx
                .copy_out_raw(&format!("COPY {table} TO STDOUT WITH (FORMAT csv, HEADER)"))
                .await?;
            while let Some(chunk) = copy.try_next().await? {
                out.write_all(&chunk).map_err(|e| io(e, &partial))?;
            }
            let out = out.into_inner().map_err(|e| io(e.into_error(), &partial))?;
            out.sync_all().map_err(|e| io(e, &partial))?;
        }
        std::fs::rename(&partial, &file).map_err(|e| io(e, &file))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE scans DETACH PARTITION {table}"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO archived_months (month, part, rows, file) VALUES ($1::date, $2, $3, $4)",
        )
        .bind(month.to_string())
        .bind(part)
        .bind(rows)
        .bind(file.display().to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.months
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&month);
        Ok(ArchivedMonth { month, rows, file })
    }
}
