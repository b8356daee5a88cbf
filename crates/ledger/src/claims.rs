//! Claims: a physical prize (an item award, a mall order) on its way to the member who
//! won or bought it. Unclaimed until the member gives an address (within the
//! campaign's claim window), then claimed → shipped → delivered, each step once and
//! audited in `claim_changes`.

use crate::{Ledger, LedgerError};

/// A prize of one member that is shipped, as the member centre lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimable {
    /// `award:<scan_id>` or `order:<request_id>`.
    pub source: String,
    /// The prize or mall item id.
    pub gift: String,
    /// When it was won or bought, ms since the epoch.
    pub at_ms: i64,
    /// `claimed`, `shipped` or `delivered`; `None` while unclaimed.
    pub status: Option<String>,
    /// The carrier, once shipped.
    pub carrier: Option<String>,
    /// The tracking number, once shipped.
    pub tracking: Option<String>,
}

/// A claim as ops and the logistics team read it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claim {
    /// Its id, in the ship and deliver routes.
    pub id: i64,
    /// Campaign id.
    pub campaign_id: String,
    /// Member id.
    pub member: String,
    /// What it ships for.
    pub source: String,
    /// The prize or mall item id.
    pub gift: String,
    /// `claimed`, `shipped` or `delivered`.
    pub status: String,
    /// Who receives it.
    pub name: String,
    /// Their phone.
    pub phone: String,
    /// Province, city, district.
    pub region: String,
    /// Street and room.
    pub address: String,
    /// Carrier, once shipped.
    pub carrier: Option<String>,
    /// Tracking number, once shipped.
    pub tracking: Option<String>,
    /// When claimed, ms since the epoch.
    pub claimed_at_ms: i64,
}

/// A claim to write.
#[derive(Debug, Clone, Copy)]
pub struct NewClaim<'a> {
    /// Campaign id.
    pub campaign: &'a str,
    /// The member claiming, whose the prize must be.
    pub member: &'a str,
    /// `award:<scan_id>` or `order:<request_id>`.
    pub source: &'a str,
    /// Who receives it.
    pub name: &'a str,
    /// Their phone, normalised.
    pub phone: &'a str,
    /// Province, city, district.
    pub region: &'a str,
    /// Street and room.
    pub address: &'a str,
    /// Days after winning that a prize may be claimed.
    pub claim_days: u32,
    /// Now, as the gateway's clock says (ms since the epoch): the window's judge.
    pub now_ms: i64,
}

/// What a claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// Written now.
    Claimed,
    /// Claimed before: nothing changed.
    AlreadyClaimed,
    /// Not a physical prize of this member in this campaign.
    NotYours,
    /// The claim window has passed.
    Expired,
}

/// What a ship or deliver step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepped {
    /// Done now.
    Done,
    /// Done before with the same values: nothing changed.
    Already,
    /// No such claim.
    Unknown,
    /// Not in the state the step starts from (or shipped with other values).
    Conflict,
}

/// Every physical prize of a member: item awards and mall orders, with their claims.
const CLAIMABLE: &str = "
    SELECT 'award:' || a.scan_id AS source, a.prize_id AS gift,
           (extract(epoch FROM a.awarded_at) * 1000)::bigint AS at_ms
      FROM awards a
     WHERE a.campaign_id = $1 AND a.member = $2 AND a.kind = 'item'
    UNION ALL
    SELECT 'order:' || o.request_id, o.item_id, (extract(epoch FROM o.created_at) * 1000)::bigint
      FROM mall_orders o
     WHERE o.campaign_id = $1 AND o.member = $2";

impl Ledger {
    /// A member's physical prizes in a campaign, newest first, with their claims.
    pub async fn claimables(
        &self,
        campaign: &str,
        member: &str,
    ) -> Result<Vec<Claimable>, LedgerError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT p.source, p.gift, p.at_ms, c.status, c.carrier, c.tracking
               FROM ({CLAIMABLE}) p LEFT JOIN claims c ON c.source = p.source
              ORDER BY p.at_ms DESC, p.source LIMIT 100"
        )))
        .bind(campaign)
        .bind(member)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims a prize with an address: once, by its own member, within the window.
    pub async fn claim(&self, claim: &NewClaim<'_>) -> Result<Claimed, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let found: Option<(String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT p.gift, p.at_ms + $4::bigint * 86400000 > $5
               FROM ({CLAIMABLE}) p WHERE p.source = $3"
        )))
        .bind(claim.campaign)
        .bind(claim.member)
        .bind(claim.source)
        .bind(i64::from(claim.claim_days))
        .bind(claim.now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((gift, open)) = found else {
            return Ok(Claimed::NotYours);
        };
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM claims WHERE source = $1")
            .bind(claim.source)
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_some() {
            return Ok(Claimed::AlreadyClaimed);
        }
        if !open {
            return Ok(Claimed::Expired);
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO claims (campaign_id, member, source, gift, status, name, phone, region, address)
             VALUES ($1, $2, $3, $4, 'claimed', $5, $6, $7, $8)
             ON CONFLICT (source) DO NOTHING RETURNING id",
        )
        .bind(claim.campaign)
        .bind(claim.member)
        .bind(claim.source)
        .bind(&gift)
        .bind(claim.name)
        .bind(claim.phone)
        .bind(claim.region)
        .bind(claim.address)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            // A concurrent claim of the same prize won.
            return Ok(Claimed::AlreadyClaimed);
        };
        audit(&mut tx, id, "claimed", "").await?;
        tx.commit().await?;
        Ok(Claimed::Claimed)
    }

    /// Claims of a campaign in one state, oldest first, after claim `after` (keyset).
    pub async fn claims(
        &self,
        campaign: &str,
        status: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Claim>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT id, campaign_id, member, source, gift, status, name, phone, region, address,
                    carrier, tracking, (extract(epoch FROM claimed_at) * 1000)::bigint AS claimed_at_ms
               FROM claims WHERE campaign_id = $1 AND status = $2 AND id > $3
              ORDER BY id LIMIT $4",
        )
        .bind(campaign)
        .bind(status)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Marks a claimed prize shipped with its carrier and tracking number.
    pub async fn ship(
        &self,
        id: i64,
        carrier: &str,
        tracking: &str,
    ) -> Result<Stepped, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let step = ship_in(&mut tx, id, carrier, tracking).await?;
        tx.commit().await?;
        Ok(step)
    }

    /// Ships every `(id, carrier, tracking)` in one transaction, or none: the steps
    /// that cannot be taken are returned (by position) and nothing is written.
    pub async fn ship_all(
        &self,
        shipments: &[(i64, String, String)],
    ) -> Result<Result<(usize, usize), Vec<(usize, Stepped)>>, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let (mut shipped, mut already, mut refused) = (0, 0, Vec::new());
        for (index, (id, carrier, tracking)) in shipments.iter().enumerate() {
            match ship_in(&mut tx, *id, carrier, tracking).await? {
                Stepped::Done => shipped += 1,
                Stepped::Already => already += 1,
                other => refused.push((index, other)),
            }
        }
        if !refused.is_empty() {
            tx.rollback().await?;
            return Ok(Err(refused));
        }
        tx.commit().await?;
        Ok(Ok((shipped, already)))
    }

    /// Claims of a campaign by state (`claimed`, `shipped`, `delivered`), and those
    /// whose source is not a physical prize of their member and gift: for reconcile.
    pub async fn claim_audit(
        &self,
        campaign: &str,
    ) -> Result<(Vec<(String, i64)>, Vec<(i64, String)>), LedgerError> {
        let counts = sqlx::query_as(
            "SELECT status, count(*) FROM claims WHERE campaign_id = $1 GROUP BY 1 ORDER BY 1",
        )
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        let orphans = sqlx::query_as(
            "SELECT c.id, c.source FROM claims c
              WHERE c.campaign_id = $1
                AND NOT EXISTS (SELECT 1 FROM awards a
                                 WHERE c.source = 'award:' || a.scan_id AND a.campaign_id = c.campaign_id
                                   AND a.member = c.member AND a.prize_id = c.gift AND a.kind = 'item')
                AND NOT EXISTS (SELECT 1 FROM mall_orders o
                                 WHERE c.source = 'order:' || o.request_id AND o.campaign_id = c.campaign_id
                                   AND o.member = c.member AND o.item_id = c.gift)
              ORDER BY c.id",
        )
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        Ok((counts, orphans))
    }

    /// Marks a shipped prize delivered.
    pub async fn deliver(&self, id: i64) -> Result<Stepped, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM claims WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let step = match status.as_deref() {
            None => Stepped::Unknown,
            Some("delivered") => Stepped::Already,
            Some("shipped") => {
                sqlx::query(
                    "UPDATE claims SET status = 'delivered', delivered_at = now() WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                audit(&mut tx, id, "delivered", "").await?;
                Stepped::Done
            }
            Some(_) => Stepped::Conflict,
        };
        tx.commit().await?;
        Ok(step)
    }
}

async fn ship_in(
    tx: &mut sqlx::PgConnection,
    id: i64,
    carrier: &str,
    tracking: &str,
) -> Result<Stepped, LedgerError> {
    let row: Option<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT status, carrier, tracking FROM claims WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, was_carrier, was_tracking)) = row else {
        return Ok(Stepped::Unknown);
    };
    if status != "claimed" {
        let same =
            was_carrier.as_deref() == Some(carrier) && was_tracking.as_deref() == Some(tracking);
        return Ok(if status == "shipped" && same {
            Stepped::Already
        } else {
            Stepped::Conflict
        });
    }
    sqlx::query(
        "UPDATE claims SET status = 'shipped', carrier = $2, tracking = $3, shipped_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(carrier)
    .bind(tracking)
    .execute(&mut *tx)
    .await?;
    audit(tx, id, "shipped", &format!("{carrier} {tracking}")).await?;
    Ok(Stepped::Done)
}

async fn audit(
    tx: &mut sqlx::PgConnection,
    claim: i64,
    change: &str,
    detail: &str,
) -> Result<(), LedgerError> {
    sqlx::query("INSERT INTO claim_changes (claim_id, change, detail) VALUES ($1, $2, $3)")
        .bind(claim)
        .bind(change)
        .bind(detail)
        .execute(tx)
        .await?;
    Ok(())
}
