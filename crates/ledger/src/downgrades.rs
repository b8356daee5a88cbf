//! Level downgrades: at a period boundary every member keeps a share of their growth,
//! so levels that are no longer earned fall. Applied once per boundary.

use crate::{Ledger, LedgerError};

/// One member's growth taken at a boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowthCut {
    /// Member id.
    pub member: String,
    /// Growth removed (positive).
    pub removed: i64,
}

impl Ledger {
    /// Cuts every member of `campaign` to `keep_percent` of their growth (rounded
    /// down) as of `boundary` (`YYYY-MM-DD`, the period's first day), unless that
    /// boundary was applied before. One transaction: a ledger entry per member (reason
    /// `downgrade`), the balances, and the boundary's marker. Returns the cuts made,
    /// for the caller to apply to Redis; `None` if the boundary was applied before.
    pub async fn apply_downgrade(
        &self,
        campaign: &str,
        boundary: &str,
        keep_percent: i64,
    ) -> Result<Option<Vec<GrowthCut>>, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "INSERT INTO level_downgrades (campaign_id, boundary, members) VALUES ($1, $2::date, 0)
             ON CONFLICT DO NOTHING",
        )
        .bind(campaign)
        .bind(boundary)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            return Ok(None);
        }
        // Member rows are locked in member order, as settlement locks them.
        let cuts: Vec<(String, i64)> = sqlx::query_as(
            "WITH old AS (
                 SELECT member, growth FROM members
                  WHERE campaign_id = $1 AND growth * $3 / 100 < growth
                  ORDER BY member FOR UPDATE
             ), cut AS (
                 UPDATE members m SET growth = old.growth * $3 / 100, updated_at = now()
                   FROM old WHERE m.campaign_id = $1 AND m.member = old.member
                 RETURNING m.member, old.growth - m.growth AS removed
             ), entered AS (
                 INSERT INTO points_ledger (campaign_id, member, points, growth, reason, source)
                 SELECT $1, member, 0, -removed, 'downgrade', 'downgrade:' || $1 || ':' || $2 || ':' || member
                   FROM cut
             )
             SELECT member, removed FROM cut ORDER BY member",
        )
        .bind(campaign)
        .bind(boundary)
        .bind(keep_percent)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("UPDATE level_downgrades SET members = $3 WHERE campaign_id = $1 AND boundary = $2::date")
            .bind(campaign)
            .bind(boundary)
            .bind(i64::try_from(cuts.len()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(
            cuts.into_iter()
                .map(|(member, removed)| GrowthCut { member, removed })
                .collect(),
        ))
    }
}
