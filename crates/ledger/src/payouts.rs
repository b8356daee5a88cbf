//! The cash payout outbox: rows written with their award in the settlement
//! transaction, claimed by dispatchers under a lease, marked delivered or failed.
//!
//! A claim bumps `attempts` and pushes `next_attempt` past the lease in the same
//! statement, so a dispatcher that dies mid-request leaves the row to be claimed again
//! once the lease runs out, and two dispatchers never hold the same row at once.

use std::time::Duration;

use crate::{Ledger, LedgerError};

/// A payout due for (another) delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DuePayout {
    /// The scan id: the payout's idempotency key at the payment provider.
    pub scan_id: String,
    /// Campaign of the award.
    pub campaign: String,
    /// Member paid.
    pub member: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// This attempt's number, from 1.
    pub attempt: i32,
}

/// Outbox counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayoutCounts {
    /// Not yet delivered (including those waiting for a retry).
    pub pending: i64,
    /// Accepted by the webhook.
    pub delivered: i64,
    /// Given up on: refused by the webhook, or out of attempts.
    pub failed: i64,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Ledger {
    /// Claims up to `limit` due payouts for `lease`, oldest due first.
    pub async fn claim_payouts(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DuePayout>, LedgerError> {
        Ok(sqlx::query_as(
            "UPDATE payouts p
                SET attempts = p.attempts + 1,
                    next_attempt = now() + make_interval(secs => $2::double precision / 1000)
               FROM (SELECT scan_id FROM payouts
                      WHERE status = 'pending' AND next_attempt <= now()
                      ORDER BY next_attempt
                      LIMIT $1
                      FOR UPDATE SKIP LOCKED) due,
                    awards a
              WHERE p.scan_id = due.scan_id AND a.scan_id = due.scan_id
          RETURNING p.scan_id, a.campaign_id AS campaign, p.member, p.amount_fen,
                    p.attempts AS attempt",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records a delivery. Returns false if the row was no longer pending.
    pub async fn payout_delivered(&self, scan_id: &str) -> Result<bool, LedgerError> {
        let updated = sqlx::query(
            "UPDATE payouts SET status = 'delivered', delivered_at = now(), last_error = NULL
              WHERE scan_id = $1 AND status = 'pending'",
        )
        .bind(scan_id)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Schedules another attempt after `after`, keeping the reason.
    pub async fn payout_retry(
        &self,
        scan_id: &str,
        after: Duration,
        error: &str,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE payouts
                SET next_attempt = now() + make_interval(secs => $2::double precision / 1000),
                    last_error = $3
              WHERE scan_id = $1 AND status = 'pending'",
        )
        .bind(scan_id)
        .bind(millis(after))
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up on a payout; it stays in the table for finance to settle by hand.
    pub async fn payout_failed(&self, scan_id: &str, error: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE payouts SET status = 'failed', last_error = $2
              WHERE scan_id = $1 AND status = 'pending'",
        )
        .bind(scan_id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many payouts are in each status.
    pub async fn payout_counts(&self) -> Result<PayoutCounts, LedgerError> {
        let (pending, delivered, failed): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'pending'),
                    count(*) FILTER (WHERE status = 'delivered'),
                    count(*) FILTER (WHERE status = 'failed')
               FROM payouts",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(PayoutCounts {
            pending,
            delivered,
            failed,
        })
    }
}
