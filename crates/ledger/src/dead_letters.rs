//! Stream entries settlement could not read, set aside with their payload.

use crate::{Ledger, LedgerError};

/// An unreadable stream entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetter {
    /// The stream it was on (a campaign, or one lane of it).
    pub stream: String,
    /// Its entry id on that stream.
    pub stream_id: String,
    /// The campaign the stream belongs to.
    pub campaign_id: String,
    /// Why it could not be read.
    pub reason: String,
    /// Its fields, a JSON object as text.
    pub payload: String,
}

impl Ledger {
    /// Stores unreadable entries before they are acknowledged; storing one again (a
    /// crash before the acknowledgement) changes nothing. Returns how many were new.
    pub async fn set_aside(&self, letters: &[DeadLetter]) -> Result<u64, LedgerError> {
        if letters.is_empty() {
            return Ok(0);
        }
        let column = |f: fn(&DeadLetter) -> &str| -> Vec<&str> { letters.iter().map(f).collect() };
        let stored = sqlx::query(
            "INSERT INTO dead_letters (stream, stream_id, campaign_id, reason, payload)
             SELECT s, i, c, r, p::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 AS t(s, i, c, r, p)
             ON CONFLICT (stream, stream_id) DO NOTHING",
        )
        .bind(column(|l| &l.stream))
        .bind(column(|l| &l.stream_id))
        .bind(column(|l| &l.campaign_id))
        .bind(column(|l| &l.reason))
        .bind(column(|l| &l.payload))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(stored)
    }

    /// A campaign's unreadable entries, oldest first: what reconcile reports.
    pub async fn dead_letters(&self, campaign: &str) -> Result<Vec<DeadLetter>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT stream, stream_id, campaign_id, reason, payload::text AS payload
               FROM dead_letters WHERE campaign_id = $1 ORDER BY received_at, stream, stream_id",
        )
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?)
    }
}
