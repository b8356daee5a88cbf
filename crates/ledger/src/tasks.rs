//! Tasks that earn points outside scans; for now the daily sign-in (每日签到).

use crate::{Ledger, LedgerError};

impl Ledger {
    /// Credits a member's sign-in for a campaign day, at most once: the ledger entry's
    /// key (its source names campaign, member and day) makes a second sign-in that day
    /// a no-op, however many arrive at once. Returns the balance after, or `None` if
    /// the member had already signed in that day.
    pub async fn sign_in(
        &self,
        campaign: &str,
        member: &str,
        day: &str,
        points: i64,
    ) -> Result<Option<i64>, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let credited = sqlx::query(
            "INSERT INTO points_ledger (campaign_id, member, points, growth, reason, source)
             VALUES ($1, $2, $3, 0, 'sign_in', 'sign-in:' || $1 || ':' || $2 || ':' || $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(campaign)
        .bind(member)
        .bind(points)
        .bind(day)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if credited == 0 {
            return Ok(None);
        }
        let balance: i64 = sqlx::query_scalar(
            "INSERT INTO members AS m (campaign_id, member, points) VALUES ($1, $2, $3)
             ON CONFLICT (campaign_id, member) DO UPDATE
                 SET points = m.points + excluded.points, updated_at = now()
             RETURNING points",
        )
        .bind(campaign)
        .bind(member)
        .bind(points)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(balance))
    }
}
