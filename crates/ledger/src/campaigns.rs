//! Campaigns as stored: the validated definition plus the columns queries filter on.

use crate::{Ledger, LedgerError};

/// A validated campaign in the plain values this crate stores.
#[derive(Debug, Clone)]
pub struct CampaignRecord {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Start, RFC 3339.
    pub starts_at: String,
    /// End, RFC 3339.
    pub ends_at: String,
    /// IANA zone.
    pub timezone: String,
    /// The whole definition as JSON.
    pub definition_json: String,
}

/// What `apply` did, so the CLI can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new campaign, at revision 1.
    Created,
    /// An existing campaign changed; its revision went up to this.
    Updated(i32),
    /// The stored definition was already identical.
    Unchanged,
}

/// Which stored state an apply was checked against: it is written only if that is
/// still the state, so two operators' edits never pass each other's checks unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No campaign with this id exists.
    Absent,
    /// The campaign is at this revision.
    Revision(i32),
}

impl Ledger {
    /// Creates or updates a campaign in one statement, if it is still in the
    /// `expected` state (else [`LedgerError::Conflict`]). Applying the same file twice
    /// changes nothing, so `campaign apply` is safe to repeat. A new campaign gets
    /// `sealed_secret` (its draw secret, sealed: Postgres never holds it in the clear);
    /// an existing one keeps the secret it was created with.
    pub async fn apply_campaign(
        &self,
        campaign: &CampaignRecord,
        sealed_secret: &[u8],
        expected: Expected,
    ) -> Result<Applied, LedgerError> {
        let expected_revision = match expected {
            Expected::Absent => None,
            Expected::Revision(revision) => Some(revision),
        };
        // The CTE tells "unchanged" (same definition at the expected revision) from
        // "moved" (another revision, or created meanwhile).
        let row: Option<(Option<i32>, Option<i32>)> = sqlx::query_as(
            "WITH current AS (SELECT revision, definition FROM campaigns WHERE id = $1),
             written AS (
                 INSERT INTO campaigns (id, name, starts_at, ends_at, timezone, definition, draw_secret)
                 SELECT $1, $2, $3::timestamptz, $4::timestamptz, $5, $6::jsonb, $7
                  WHERE $8::int IS NULL AND NOT EXISTS (SELECT 1 FROM current)
                 ON CONFLICT (id) DO NOTHING
                 RETURNING revision
             ),
             updated AS (
                 UPDATE campaigns SET
                     name = $2, starts_at = $3::timestamptz, ends_at = $4::timestamptz,
                     timezone = $5, definition = $6::jsonb,
                     revision = campaigns.revision + 1, updated_at = now()
                  WHERE id = $1 AND revision = $8 AND definition IS DISTINCT FROM $6::jsonb
                 RETURNING revision
             )
             SELECT (SELECT revision FROM written UNION ALL SELECT revision FROM updated LIMIT 1),
                    (SELECT revision FROM current
                      WHERE revision IS NOT DISTINCT FROM $8 AND definition = $6::jsonb)",
        )
        .bind(&campaign.id)
        .bind(&campaign.name)
        .bind(&campaign.starts_at)
        .bind(&campaign.ends_at)
        .bind(&campaign.timezone)
        .bind(&campaign.definition_json)
        .bind(sealed_secret)
        .bind(expected_revision)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some((Some(1), _)) if expected == Expected::Absent => Ok(Applied::Created),
            Some((Some(revision), _)) => Ok(Applied::Updated(revision)),
            Some((None, Some(_))) => Ok(Applied::Unchanged),
            _ => Err(LedgerError::Conflict(campaign.id.clone())),
        }
    }

    /// Whether any scan of a campaign is settled (through its batches, so the
    /// look-up uses the scans' (batch, serial, role) index).
    pub async fn campaign_has_scans(&self, id: &str) -> Result<bool, LedgerError> {
        let (has_scans,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM batches b WHERE b.campaign_id = $1
                              AND EXISTS (SELECT 1 FROM scans s WHERE s.batch_id = b.id))",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(has_scans)
    }
}

/// A stored campaign as gateways load it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredCampaign {
    /// Bumped on every change.
    pub revision: i32,
    /// The validated definition as JSON.
    pub definition_json: String,
    /// The draw secret as stored: sealed (see `yima_campaign::DrawKeyRing`).
    pub sealed_secret: Vec<u8>,
}

impl Ledger {
    /// Every campaign, for a gateway's start-up and full reloads.
    pub async fn campaigns(&self) -> Result<Vec<StoredCampaign>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT revision, definition::text AS definition_json, draw_secret AS sealed_secret
               FROM campaigns ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// One campaign, after a change notification.
    pub async fn campaign(&self, id: &str) -> Result<Option<StoredCampaign>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT revision, definition::text AS definition_json, draw_secret AS sealed_secret
               FROM campaigns WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

impl Ledger {
    /// A campaign as it was at `revision`, with its draw secret: what an audit needs.
    pub async fn campaign_at(
        &self,
        id: &str,
        revision: i32,
    ) -> Result<Option<StoredCampaign>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT r.revision, r.definition::text AS definition_json, c.draw_secret AS sealed_secret
               FROM campaign_revisions r JOIN campaigns c ON c.id = r.campaign_id
              WHERE r.campaign_id = $1 AND r.revision = $2",
        )
        .bind(id)
        .bind(revision)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// One revision of a campaign, as an auditor reads the history of its odds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Revision {
    /// The revision number.
    pub revision: i32,
    /// When it was stored, in Unix milliseconds: gateways apply it from then on (a
    /// notification away, and within a full reload at worst).
    pub effective_at_ms: i64,
    /// Its whole definition as JSON.
    pub definition_json: String,
}

impl Ledger {
    /// Every revision of a campaign, oldest first.
    pub async fn revisions(&self, id: &str) -> Result<Vec<Revision>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT revision, (extract(epoch FROM created_at) * 1000)::bigint AS effective_at_ms,
                    definition::text AS definition_json
               FROM campaign_revisions WHERE campaign_id = $1 ORDER BY revision",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every campaign's id and stored draw secret, and whether it is one of those
    /// stored in the clear before sealing existed (listed by the migration that
    /// introduced sealing): what sealing and resealing walk.
    pub async fn stored_secrets(&self) -> Result<Vec<(String, Vec<u8>, bool)>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.draw_secret, p.campaign_id IS NOT NULL
               FROM campaigns c LEFT JOIN plain_draw_secrets p ON p.campaign_id = c.id
              ORDER BY c.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces a campaign's stored secret with the same secret sealed anew, if it is
    /// still `old` (so two resealing operators never seal over each other's work), and
    /// takes it off the list of secrets stored in the clear.
    pub async fn reseal(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE campaigns SET draw_secret = $3 WHERE id = $1 AND draw_secret = $2")
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM plain_draw_secrets WHERE campaign_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Ledger {
    /// Every campaign's id and lane count (`lanes`, 1 when unset): what a settlement
    /// worker needs to find every stream.
    pub async fn campaign_lanes(&self) -> Result<Vec<(String, u16)>, LedgerError> {
        let rows: Vec<(String, i32)> = sqlx::query_as(
            "SELECT id, coalesce((definition->>'lanes')::int, 1) FROM campaigns ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, lanes)| (id, u16::try_from(lanes).unwrap_or(1)))
            .collect())
    }
}
