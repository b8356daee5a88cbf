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
    /// Which of the stream entries asked about are settled (their stream ids).
    pub settled_entries: HashSet<String>,
    /// Settled scans visited.
    pub scans: u64,
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
    /// every settled scan (streamed, so hundreds of millions of scans are never held at
    /// once), returns the member balances, and says which of `entries` (`(stream id,
    /// scan id)` pairs still on the Redis stream) are settled, as a scan or as a
    /// rejected double redemption. One snapshot, so a worker committing meanwhile can
    /// never make an entry count twice or not at all.
    pub async fn read_settled(
        &self,
        campaign: &str,
        entries: &[(String, String)],
        mut visit: impl FnMut(SettledScan),
    ) -> Result<SettledRecord, LedgerError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let stream_ids: Vec<&str> = entries.iter().map(|(s, _)| s.as_str()).collect();
        let scan_ids: Vec<&str> = entries.iter().map(|(_, s)| s.as_str()).collect();
        let settled: Vec<String> = sqlx::query_scalar(
            "SELECT stream_id FROM scans
              WHERE scan_id = ANY($2) AND campaign_id = $1 AND stream_id = ANY($3)
             UNION
             SELECT stream_id FROM rejected_redemptions
              WHERE campaign_id = $1 AND stream_id = ANY($3)",
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
                visit(SettledScan {
                    stream_id,
                    batch: narrow(batch)?,
                    serial: narrow(serial)?,
                    role,
                    member,
                    day,
                    prize,
                    points,
                    growth,
                });
                scans += 1;
            }
        }
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
);

impl Ledger {
    /// The settled record of one scan, if it is settled.
    pub async fn settled_draw(
        &self,
        campaign: &str,
        scan_id: &str,
    ) -> Result<Option<SettledDraw>, LedgerError> {
        let row: Option<DrawRow> = sqlx::query_as(
            "SELECT revision, batch_id, serial, role, member, level, draw, drawn, prize
               FROM scans WHERE scan_id = $1 AND campaign_id = $2",
        )
        .bind(scan_id)
        .bind(campaign)
        .fetch_optional(&self.pool)
        .await?;
        let Some((revision, batch, serial, role, member, level, draw, drawn, prize)) = row else {
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
        }))
    }
}

/// One member's scans in a month, campaign-wide (`region` None) or in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let rows: Vec<(Option<String>, String, i64, i64)> = sqlx::query_as(
            "WITH month AS (
                 SELECT coalesce(region, batch_region) AS region, member, scanned_at FROM scans
                  WHERE campaign_id = $1
                    AND scanned_at >= to_timestamp($2 / 1000.0)
                    AND scanned_at < to_timestamp($3 / 1000.0)
             )
             SELECT NULL::text, member, count(*), round(extract(epoch FROM max(scanned_at)) * 1000)::bigint
               FROM month GROUP BY member
             UNION ALL
             SELECT region, member, count(*), round(extract(epoch FROM max(scanned_at)) * 1000)::bigint
               FROM month WHERE region IS NOT NULL GROUP BY region, member",
        )
        .bind(campaign)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(region, member, scans, reached_ms)| BoardRow {
                region,
                member,
                scans,
                reached_ms,
            })
            .collect())
    }
}
