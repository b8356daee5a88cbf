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

impl Ledger {
    /// Creates or updates a campaign in one statement. Applying the same file twice
    /// changes nothing, so `campaign apply` is safe to repeat. A new campaign gets
    /// `draw_secret`; an existing one keeps the secret it was created with.
    pub async fn apply_campaign(
        &self,
        campaign: &CampaignRecord,
        draw_secret: &[u8; 32],
    ) -> Result<Applied, LedgerError> {
        let row: Option<(i32,)> = sqlx::query_as(
            "INSERT INTO campaigns (id, name, starts_at, ends_at, timezone, definition, draw_secret)
             VALUES ($1, $2, $3::timestamptz, $4::timestamptz, $5, $6::jsonb, $7)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name, starts_at = excluded.starts_at,
                 ends_at = excluded.ends_at, timezone = excluded.timezone,
                 definition = excluded.definition,
                 revision = campaigns.revision + 1, updated_at = now()
             WHERE campaigns.definition IS DISTINCT FROM excluded.definition
             RETURNING revision",
        )
        .bind(&campaign.id)
        .bind(&campaign.name)
        .bind(&campaign.starts_at)
        .bind(&campaign.ends_at)
        .bind(&campaign.timezone)
        .bind(&campaign.definition_json)
        .bind(draw_secret.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => Applied::Unchanged,
            Some((1,)) => Applied::Created,
            Some((revision,)) => Applied::Updated(revision),
        })
    }
}

/// A stored campaign as gateways load it.
#[derive(Debug, Clone)]
pub struct StoredCampaign {
    /// Bumped on every change.
    pub revision: i32,
    /// The validated definition as JSON.
    pub definition_json: String,
    /// The draw secret.
    pub draw_secret: [u8; 32],
}

impl Ledger {
    /// Every campaign, for a gateway's start-up and full reloads.
    pub async fn campaigns(&self) -> Result<Vec<StoredCampaign>, LedgerError> {
        let rows: Vec<(i32, String, Vec<u8>)> = sqlx::query_as(
            "SELECT revision, definition::text, draw_secret FROM campaigns ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(stored).collect()
    }

    /// One campaign, after a change notification.
    pub async fn campaign(&self, id: &str) -> Result<Option<StoredCampaign>, LedgerError> {
        let row: Option<(i32, String, Vec<u8>)> = sqlx::query_as(
            "SELECT revision, definition::text, draw_secret FROM campaigns WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(stored).transpose()
    }
}

fn stored(
    (revision, definition_json, secret): (i32, String, Vec<u8>),
) -> Result<StoredCampaign, LedgerError> {
    let draw_secret = secret
        .try_into()
        .map_err(|_| LedgerError::Invalid("a stored draw secret is not 32 bytes".into()))?;
    Ok(StoredCampaign {
        revision,
        definition_json,
        draw_secret,
    })
}

impl Ledger {
    /// A campaign as it was at `revision`, with its draw secret: what an audit needs.
    pub async fn campaign_at(
        &self,
        id: &str,
        revision: i32,
    ) -> Result<Option<StoredCampaign>, LedgerError> {
        let row: Option<(i32, String, Vec<u8>)> = sqlx::query_as(
            "SELECT r.revision, r.definition::text, c.draw_secret
               FROM campaign_revisions r JOIN campaigns c ON c.id = r.campaign_id
              WHERE r.campaign_id = $1 AND r.revision = $2",
        )
        .bind(id)
        .bind(revision)
        .fetch_optional(&self.pool)
        .await?;
        row.map(stored).transpose()
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
