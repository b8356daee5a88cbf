//! Points mall purchases: one transaction takes the points, the stock and writes the
//! order and its ledger entry, or nothing at all.

use crate::{Ledger, LedgerError};

/// One purchase as the gateway asks for it.
#[derive(Debug, Clone)]
pub struct Purchase<'a> {
    /// Campaign id.
    pub campaign: &'a str,
    /// Member id.
    pub member: &'a str,
    /// The client's idempotency key.
    pub request_id: &'a str,
    /// Item id.
    pub item: &'a str,
    /// The item's stock in the campaign revision in force.
    pub stock: u64,
}

/// What became of a purchase; `R` is the caller's reason to refuse a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseOutcome<R> {
    /// Bought now.
    Bought {
        /// Points paid.
        paid: i64,
        /// The response body stored with the order.
        body: String,
    },
    /// The request id was used before for this member and item: the stored body.
    Repeated(String),
    /// The request id was used before for another member or item.
    RequestIdReused,
    /// No settled balance for this member in this campaign.
    UnknownMember,
    /// The member's level or points do not allow it.
    Refused(R),
    /// Every unit is sold.
    OutOfStock,
}

impl Ledger {
    /// Buys one item for a member. `price` decides, from the member's settled points
    /// and growth (locked for the transaction), what they pay or why they may not buy;
    /// `answer` renders the response from the price paid and the points left, and is
    /// stored so a repeated request id gets the same bytes.
    ///
    /// Locks are taken member row first, then the item's sales row; settlement locks
    /// member rows only, so the two cannot deadlock.
    pub async fn purchase<R>(
        &self,
        purchase: &Purchase<'_>,
        price: impl FnOnce(i64, i64) -> Result<i64, R>,
        answer: impl FnOnce(i64, i64) -> String,
    ) -> Result<PurchaseOutcome<R>, LedgerError> {
        if let Some(repeated) = self.earlier_order(purchase).await? {
            return Ok(repeated);
        }
        let mut tx = self.pool.begin().await?;
        let Some((points, growth)): Option<(i64, i64)> = sqlx::query_as(
            "SELECT points, growth FROM members WHERE campaign_id = $1 AND member = $2 FOR UPDATE",
        )
        .bind(purchase.campaign)
        .bind(purchase.member)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(PurchaseOutcome::UnknownMember);
        };
        let paid = match price(points, growth) {
            Ok(paid) => paid,
            Err(refusal) => return Ok(PurchaseOutcome::Refused(refusal)),
        };
        let stock = i64::try_from(purchase.stock).unwrap_or(i64::MAX);
        let sold: Option<i64> = sqlx::query_scalar(
            "INSERT INTO mall_sales AS s (campaign_id, item_id, sold) SELECT $1, $2, 1 WHERE $3 > 0
             ON CONFLICT (campaign_id, item_id) DO UPDATE SET sold = s.sold + 1 WHERE s.sold < $3
             RETURNING sold",
        )
        .bind(purchase.campaign)
        .bind(purchase.item)
        .bind(stock)
        .fetch_optional(&mut *tx)
        .await?;
        if sold.is_none() {
            return Ok(PurchaseOutcome::OutOfStock);
        }
        let left: i64 = sqlx::query_scalar(
            "UPDATE members SET points = points - $3, updated_at = now()
              WHERE campaign_id = $1 AND member = $2 RETURNING points",
        )
        .bind(purchase.campaign)
        .bind(purchase.member)
        .bind(paid)
        .fetch_one(&mut *tx)
        .await?;
        let body = answer(paid, left);
        let ordered = sqlx::query(
            "INSERT INTO mall_orders (campaign_id, request_id, member, item_id, price_paid, body)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(purchase.campaign)
        .bind(purchase.request_id)
        .bind(purchase.member)
        .bind(purchase.item)
        .bind(paid)
        .bind(&body)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if ordered == 0 {
            // The same request id committed while this one waited: that one counts.
            drop(tx);
            return Ok(self
                .earlier_order(purchase)
                .await?
                .unwrap_or(PurchaseOutcome::RequestIdReused));
        }
        sqlx::query(
            "INSERT INTO points_ledger (campaign_id, member, points, growth, reason, source)
             VALUES ($1, $2, -$3, 0, 'mall', $4)",
        )
        .bind(purchase.campaign)
        .bind(purchase.member)
        .bind(paid)
        .bind(format!(
            "mall:{}:{}",
            purchase.campaign, purchase.request_id
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PurchaseOutcome::Bought { paid, body })
    }

    async fn earlier_order<R>(
        &self,
        purchase: &Purchase<'_>,
    ) -> Result<Option<PurchaseOutcome<R>>, LedgerError> {
        let order: Option<(String, String, String)> = sqlx::query_as(
            "SELECT member, item_id, body FROM mall_orders WHERE campaign_id = $1 AND request_id = $2",
        )
        .bind(purchase.campaign)
        .bind(purchase.request_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(order.map(|(member, item, body)| {
            if member == purchase.member && item == purchase.item {
                PurchaseOutcome::Repeated(body)
            } else {
                PurchaseOutcome::RequestIdReused
            }
        }))
    }
}
