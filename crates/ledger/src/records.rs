//! Reading the settled record back: what `restore` rebuilds Redis from and what
//! `reconcile` compares Redis with.

use std::collections::HashSet;

use futures_util::TryStreamExt;

use crate::{Ledger, LedgerError};

/// One settled redemption, reduced to what Redis counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledScan {
    /// The stream entry it was settled from: orders it against a Redis snapshot.
    pub stream_id: String,
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// `consumer` or `dealer`.
    pub role: String,
    /// Member id.
    pub member: String,
    /// Campaign day, `YYYY-MM-DD`.
    pub day: String,
    /// Prize awarded, if any.
    pub prize: Option<String>,
    /// Points credited.
    pub points: i64,
    /// Growth credited.
    pub growth: i64,
}

/// One row of the settled record, as [`Ledger::read_settled`] streams it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettledRow {
    /// A settled scan of a month not archived.
    Scan(SettledScan),
    /// A redeemed code and role, of any month: archiving keeps these.
    Redeemed {
        /// Batch of the code.
        batch: u32,
        /// Serial of the code.
        serial: u32,
        /// `consumer` or `dealer`.
        role: String,
    },
}

/// Scans of archived months, counted the ways Redis counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedScans {
    /// Campaign day, `YYYY-MM-DD`.
    pub day: String,
    /// Prize awarded, if any.
    pub prize: Option<String>,
    /// The scanner's region, else the batch's, if either is known.
    pub region: Option<String>,
    /// Whether they were flagged as scanned outside their batch's region.
    pub diverted: bool,
    /// How many.
    pub scans: i64,
}

/// A member's balance row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberBalance {
    /// Member id.
    pub member: String,
    /// Spendable points: the sum of the member's ledger entries.
    pub points: i64,
    /// Level progress: the sum of the member's ledger entries.
    pub growth: i64,
    /// Settled scans.
    pub scans: i64,
}

/// What one consistent read of the settled record found.
#[derive(Debug, Clone, Default)]
pub struct SettledRecord {
    /// Every member's balance.
    pub balances: Vec<MemberBalance>,
    /// Which of the stream entries asked about are settled, as (stream id, scan id):
    /// an entry id is unique only within its stream, so a lane's entry is never taken
    /// for another lane's with the same id.
    pub settled_entries: HashSet<(String, String)>,
    /// Settled scans visited.
    pub scans: u64,
    /// The scans of archived months, which were not visited.
    pub archived: Vec<ArchivedScans>,
}

/// A stored batch or serial as the `u32` it was written from.
fn narrow(value: i64) -> Result<u32, LedgerError> {
    u32::try_from(value)
        .map_err(|_| LedgerError::Invalid(format!("stored value {value} out of range")))
}

type ScanRow = (
    String,
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
);

impl Ledger {
    /// Reads a campaign's settled record in one read-only snapshot: calls `visit` for
    /// every settled scan of the months kept, then for every redeemed code and role
    /// (streamed, so hundreds of millions of rows are never held at once), returns the
    /// member balances and the archived months' counts, and says which of `entries`
    /// (`(stream id, scan id)` pairs still on the Redis stream) are settled, as a scan
    /// or as a rejected double redemption. One snapshot, so a worker committing
    /// meanwhile can never make an entry count twice or not at all.
    pub async fn read_settled(
        &self,
        campaign: &str,
        entries: &[(String, String)],
        mut visit: impl FnMut(SettledRow),
    ) -> Result<SettledRecord, LedgerError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let stream_ids: Vec<&str> = entries.iter().map(|(s, _)| s.as_str()).collect();
        let scan_ids: Vec<&str> = entries.iter().map(|(_, s)| s.as_str()).collect();
        let settled: Vec<(String, String)> = sqlx::query_as(
            "WITH asked AS (SELECT * FROM UNNEST($3::text[], $2::text[]) AS a(stream_id, scan_id))
             SELECT stream_id, scan_id FROM scans JOIN asked USING (stream_id, scan_id)
              WHERE campaign_id = $1
             UNION
             SELECT stream_id, scan_id FROM rejected_redemptions JOIN asked USING (stream_id, scan_id)
              WHERE campaign_id = $1",
        )
        .bind(campaign)
        .bind(&scan_ids)
        .bind(&stream_ids)
        .fetch_all(&mut *tx)
        .await?;
        let balances: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT member, points, growth, scans FROM members WHERE campaign_id = $1",
        )
        .bind(campaign)
        .fetch_all(&mut *tx)
        .await?;
        let mut scans = 0;
        {
            let mut rows = sqlx::query_as::<_, ScanRow>(
                "SELECT stream_id, batch_id, serial, role, member, day::text, prize, points, growth
                   FROM scans WHERE campaign_id = $1",
            )
            .bind(campaign)
            .fetch(&mut *tx);
            while let Some((stream_id, batch, serial, role, member, day, prize, points, growth)) =
                rows.try_next().await?
            {
                visit(SettledRow::Scan(SettledScan {
                    stream_id,
                    batch: narrow(batch)?,
                    serial: narrow(serial)?,
                    role,
                    member,
                    day,
                    prize,
                    points,
                    growth,
                }));
                scans += 1;
            }
        }
        {
            let mut rows = sqlx::query_as::<_, (i64, i64, String)>(
                "SELECT r.batch_id, r.serial, r.role
                   FROM batches b JOIN redemptions r ON r.batch_id = b.id
                  WHERE b.campaign_id = $1",
            )
            .bind(campaign)
            .fetch(&mut *tx);
            while let Some((batch, serial, role)) = rows.try_next().await? {
                visit(SettledRow::Redeemed {
                    batch: narrow(batch)?,
                    serial: narrow(serial)?,
                    role,
                });
            }
        }
        let archived = sqlx::query_as::<_, (String, String, String, bool, i64)>(
            "SELECT day::text, prize, region, diverted, scans FROM archived_scans
              WHERE campaign_id = $1",
        )
        .bind(campaign)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(day, prize, region, diverted, scans)| ArchivedScans {
            day,
            prize: (!prize.is_empty()).then_some(prize),
            region: (!region.is_empty()).then_some(region),
            diverted,
            scans,
        })
        .collect();
        tx.commit().await?;
        Ok(SettledRecord {
            balances: balances
                .into_iter()
                .map(|(member, points, growth, scans)| MemberBalance {
                    member,
                    points,
                    growth,
                    scans,
                })
                .collect(),
            settled_entries: settled.into_iter().collect(),
            scans,
            archived,
        })
    }
}

/// A settled scan's draw, as `yima audit` re-derives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledDraw {
    /// Campaign revision whose odds applied.
    pub revision: i32,
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// `consumer` or `dealer`.
    pub role: String,
    /// Member id.
    pub member: String,
    /// Level whose odds applied.
    pub level: i32,
    /// The draw number.
    pub draw: i32,
    /// Prize drawn ("" for none).
    pub drawn: String,
    /// Prize awarded ("" for none).
    pub prize: String,
    /// Campaign day, `YYYY-MM-DD`.
    pub day: String,
    /// The architecture whose rules applied (`None`: the campaign's own).
    pub architecture: Option<String>,
}

type DrawRow = (
    i32,
    i64,
    i64,
    String,
    String,
    i32,
    i32,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

impl Ledger {
    /// The settled record of one scan, if it is settled.
    pub async fn settled_draw(
        &self,
        campaign: &str,
        scan_id: &str,
    ) -> Result<Option<SettledDraw>, LedgerError> {
        let row: Option<DrawRow> = sqlx::query_as(
            "SELECT revision, batch_id, serial, role, member, level, draw, drawn, prize, day::text,
                    architecture
               FROM scans WHERE scan_id = $1 AND campaign_id = $2",
        )
        .bind(scan_id)
        .bind(campaign)
        .fetch_optional(&self.pool)
        .await?;
        let Some((
            revision,
            batch,
            serial,
            role,
            member,
            level,
            draw,
            drawn,
            prize,
            day,
            architecture,
        )) = row
        else {
            return Ok(None);
        };
        Ok(Some(SettledDraw {
            revision,
            batch: narrow(batch)?,
            serial: narrow(serial)?,
            role,
            member,
            level,
            draw,
            drawn: drawn.unwrap_or_default(),
            prize: prize.unwrap_or_default(),
            day,
            architecture,
        }))
    }
}

/// One member's scans in a month, campaign-wide (`region` None) or in one region.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BoardRow {
    /// The scanner's region, else the batch's; None for the campaign-wide board.
    pub region: Option<String>,
    /// Member id.
    pub member: String,
    /// Settled scans in the month.
    pub scans: i64,
    /// When the member reached that count: their last scan's time, ms since the epoch.
    pub reached_ms: i64,
}

impl Ledger {
    /// Every member's settled scans from `from_ms` up to `to_ms`, campaign-wide and per
    /// region, from which `restore` rebuilds a month's leaderboards.
    pub async fn board_rows(
        &self,
        campaign: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BoardRow>, LedgerError> {
        Ok(sqlx::query_as(
            "WITH month AS (
                 SELECT coalesce(region, batch_region) AS region, member, scanned_at FROM scans
                  WHERE campaign_id = $1
                    AND scanned_at >= to_timestamp($2 / 1000.0)
                    AND scanned_at < to_timestamp($3 / 1000.0)
             )
             SELECT NULL::text AS region, member, count(*) AS scans,
                    round(extract(epoch FROM max(scanned_at)) * 1000)::bigint AS reached_ms
               FROM month GROUP BY member
             UNION ALL
             SELECT region, member, count(*), round(extract(epoch FROM max(scanned_at)) * 1000)::bigint
               FROM month WHERE region IS NOT NULL GROUP BY region, member",
        )
        .bind(campaign)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Entries kept per frozen board.
pub const FROZEN_BOARD_SIZE: i64 = 1000;

impl Ledger {
    /// Freezes every month's leaderboards that ended by `until_ms` and are not frozen
    /// yet, from the settled scans: the top [`FROZEN_BOARD_SIZE`] per board, ranked as
    /// the live boards rank (more scans, then earlier last scan, then member id from
    /// high to low). Months are the campaign's, in its zone; a campaign's last month
    /// is frozen once the campaign has ended. Safe to run from several workers.
    /// Returns the months frozen.
    pub async fn freeze_ended_boards(&self, until_ms: i64) -> Result<u64, LedgerError> {
        let mut tx = self.pool.begin().await?;
        // The planner guesses a thousand months per campaign and hundreds of campaigns,
        // a cost high enough for Postgres to JIT-compile the statement: ~0.7 s of CPU
        // at every check, for a statement that runs in a millisecond when nothing is due.
        sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
        let frozen: i64 = sqlx::query_scalar(
            "WITH due AS (
                 SELECT c.id AS campaign_id, to_char(m, 'YYYY-MM') AS period,
                        m AT TIME ZONE c.timezone AS starts,
                        (m + interval '1 month') AT TIME ZONE c.timezone AS ends
                   FROM campaigns c,
                        generate_series(
                            date_trunc('month', c.starts_at AT TIME ZONE c.timezone),
                            CASE WHEN c.ends_at <= to_timestamp($1 / 1000.0)
                                 THEN date_trunc('month', (c.ends_at - interval '1 microsecond') AT TIME ZONE c.timezone)
                                 ELSE date_trunc('month', to_timestamp($1 / 1000.0) AT TIME ZONE c.timezone) - interval '1 month'
                            END,
                            interval '1 month') AS m
                  WHERE NOT EXISTS (SELECT 1 FROM leaderboard_months f
                                     WHERE f.campaign_id = c.id AND f.period = to_char(m, 'YYYY-MM'))
             ), marked AS (
                 INSERT INTO leaderboard_months (campaign_id, period)
                 SELECT campaign_id, period FROM due
                 ON CONFLICT DO NOTHING
                 RETURNING campaign_id, period
             ), month AS (
                 SELECT d.campaign_id, d.period, s.member, coalesce(s.region, s.batch_region) AS region,
                        s.scanned_at
                   FROM due d JOIN marked USING (campaign_id, period)
                   JOIN scans s ON s.campaign_id = d.campaign_id
                               AND s.scanned_at >= d.starts AND s.scanned_at < d.ends
             ), counted AS (
                 SELECT campaign_id, period, '' AS region, member, count(*) AS scans,
                        max(scanned_at) AS reached_at
                   FROM month GROUP BY campaign_id, period, member
                 UNION ALL
                 SELECT campaign_id, period, region, member, count(*), max(scanned_at)
                   FROM month WHERE region IS NOT NULL GROUP BY campaign_id, period, region, member
             ), ranked AS (
                 SELECT *, row_number() OVER (PARTITION BY campaign_id, period, region
                                              ORDER BY scans DESC, reached_at, member DESC) AS rank
                   FROM counted
             ), entered AS (
                 INSERT INTO leaderboard_entries (campaign_id, period, region, rank, member, scans, reached_at)
                 SELECT campaign_id, period, region, rank, member, scans, reached_at
                   FROM ranked WHERE rank <= $2
             )
             SELECT count(*) FROM marked",
        )
        .bind(until_ms)
        .bind(FROZEN_BOARD_SIZE)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(frozen).unwrap_or(0))
    }

    /// A frozen month's board, best first, or `None` if the month is not frozen.
    pub async fn frozen_board(
        &self,
        campaign: &str,
        period: &str,
        region: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<(String, i64)>>, LedgerError> {
        let frozen: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM leaderboard_months WHERE campaign_id = $1 AND period = $2",
        )
        .bind(campaign)
        .bind(period)
        .fetch_optional(&self.pool)
        .await?;
        if frozen.is_none() {
            return Ok(None);
        }
        let entries = sqlx::query_as(
            "SELECT member, scans FROM leaderboard_entries
              WHERE campaign_id = $1 AND period = $2 AND region = $3
              ORDER BY rank LIMIT $4",
        )
        .bind(campaign)
        .bind(period)
        .bind(region.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(entries))
    }
}

/// A scan from outside its batch's region.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DivertedScan {
    /// The scan id.
    pub scan_id: String,
    /// Member id.
    pub member: String,
    /// `consumer` or `dealer`: a dealer scanning outside the region is the classic case.
    pub role: String,
    /// Where the scanner was.
    pub region: String,
    /// Where the batch was shipped.
    pub batch_region: String,
    /// Batch of the code.
    pub batch: i64,
    /// Serial of the code.
    pub serial: i64,
    /// Gateway time, ms since the epoch.
    pub at_ms: i64,
}

impl Ledger {
    /// Settled scans per region (the scanner's, else the batch's), archived months
    /// included.
    pub async fn region_scans(&self, campaign: &str) -> Result<Vec<(String, i64)>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT r, sum(n)::bigint FROM (
                 SELECT coalesce(region, batch_region) AS r, count(*) AS n FROM scans
                  WHERE campaign_id = $1 AND coalesce(region, batch_region) IS NOT NULL GROUP BY r
                 UNION ALL
                 SELECT region, scans FROM archived_scans WHERE campaign_id = $1 AND region <> ''
             ) counted GROUP BY r",
        )
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest settled scans from outside their batch's region (of the months
    /// kept), and how many there are in all (archived months included).
    pub async fn diverted_scans(
        &self,
        campaign: &str,
        limit: i64,
    ) -> Result<(i64, Vec<DivertedScan>), LedgerError> {
        let total: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM scans WHERE campaign_id = $1 AND region <> batch_region)
                  + (SELECT coalesce(sum(scans), 0) FROM archived_scans
                      WHERE campaign_id = $1 AND diverted)::bigint",
        )
        .bind(campaign)
        .fetch_one(&self.pool)
        .await?;
        let newest = sqlx::query_as(
            "SELECT scan_id, member, role, region, batch_region, batch_id AS batch, serial,
                    round(extract(epoch FROM scanned_at) * 1000)::bigint AS at_ms
               FROM scans WHERE campaign_id = $1 AND region <> batch_region
              ORDER BY scanned_at DESC LIMIT $2",
        )
        .bind(campaign)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, newest))
    }
}
