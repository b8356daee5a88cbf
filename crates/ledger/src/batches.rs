//! Batches: registered print runs whose id is signed into every code.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::{Ledger, LedgerError};

/// Largest batch: a billion labels is far beyond any production line's run, and
/// keeps a batch's redemption bitmap at 125 MB.
pub const MAX_BATCH_COUNT: u32 = 1_000_000_000;

/// Whether a batch's codes may still be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// Codes scan normally.
    Active,
    /// Withdrawn (lost shipment, misprint): its codes scan as `batch_void`.
    Void,
}

/// A batch to register.
#[derive(Debug, Clone)]
pub struct NewBatch {
    /// The campaign its scans count towards.
    pub campaign: String,
    /// The product it is printed on.
    pub sku: String,
    /// Number of codes, `1..=MAX_BATCH_COUNT`.
    pub count: u32,
    /// Sales region or dealer it ships to, for anti-diversion checks.
    pub region: Option<String>,
    /// The key that signs its codes (the ring's newest at registration).
    pub key_id: u8,
}

impl NewBatch {
    /// Every rule the schema enforces, checked up front so the operator gets all of
    /// them in words rather than a constraint name.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.count == 0 || self.count > MAX_BATCH_COUNT {
            problems.push(format!(
                "count must be between 1 and {MAX_BATCH_COUNT}, got {}",
                self.count
            ));
        }
        let sku_len = self.sku.chars().count();
        if sku_len == 0 || sku_len > 64 || self.sku.chars().any(char::is_control) {
            problems.push("sku must be 1 to 64 printable characters".into());
        }
        if let Some(region) = &self.region {
            let valid = (1..=32).contains(&region.len())
                && region
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                problems.push(format!(
                    "region `{region}` must be 1 to 32 of A-Z, a-z, 0-9, '-' or '_'"
                ));
            }
        }
        problems
    }
}

/// A registered batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The id written into its codes.
    pub id: u32,
    /// Its campaign.
    pub campaign: String,
    /// Its product.
    pub sku: String,
    /// Number of codes; serials run `0..count`.
    pub count: u32,
    /// Where it ships, if known.
    pub region: Option<String>,
    /// The key its codes are signed with.
    pub key_id: u8,
    /// Active or void.
    pub status: BatchStatus,
}

/// The columns [`from_row`] reads, spliced into each statement at compile time.
macro_rules! columns {
    () => {
        "id, campaign_id, sku, count, region, key_id, status"
    };
}

fn from_row(row: &PgRow) -> Result<Batch, sqlx::Error> {
    let narrow = |column: &str, e: std::num::TryFromIntError| sqlx::Error::ColumnDecode {
        index: column.into(),
        source: Box::new(e),
    };
    let status: String = row.try_get("status")?;
    Ok(Batch {
        id: u32::try_from(row.try_get::<i64, _>("id")?).map_err(|e| narrow("id", e))?,
        campaign: row.try_get("campaign_id")?,
        sku: row.try_get("sku")?,
        count: u32::try_from(row.try_get::<i64, _>("count")?).map_err(|e| narrow("count", e))?,
        region: row.try_get("region")?,
        key_id: u8::try_from(row.try_get::<i16, _>("key_id")?).map_err(|e| narrow("key_id", e))?,
        status: if status == "void" {
            BatchStatus::Void
        } else {
            BatchStatus::Active
        },
    })
}

impl Ledger {
    /// Registers a batch and returns it with its new id.
    pub async fn create_batch(&self, batch: &NewBatch) -> Result<Batch, LedgerError> {
        let problems = batch.problems();
        if !problems.is_empty() {
            return Err(LedgerError::Invalid(problems.join("; ")));
        }
        // One statement: the campaign check and the insert cannot race a deletion.
        let row = sqlx::query(concat!(
            "INSERT INTO batches (campaign_id, sku, count, region, key_id)
             SELECT id, $2, $3, $4, $5 FROM campaigns WHERE id = $1 RETURNING ",
            columns!()
        ))
        .bind(&batch.campaign)
        .bind(&batch.sku)
        .bind(i64::from(batch.count))
        .bind(&batch.region)
        .bind(i16::from(batch.key_id))
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or_else(|| LedgerError::UnknownCampaign(batch.campaign.clone()))?;
        Ok(from_row(&row)?)
    }

    /// One batch by id.
    pub async fn batch(&self, id: u32) -> Result<Batch, LedgerError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM batches WHERE id = $1"
        ))
        .bind(i64::from(id))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(LedgerError::UnknownBatch(id))?;
        Ok(from_row(&row)?)
    }

    /// Every batch, for a gateway's start-up and full reloads (a few thousand rows
    /// even for a national campaign: batches are print runs, not items).
    pub async fn batches(&self) -> Result<Vec<Batch>, LedgerError> {
        let rows = sqlx::query(concat!("SELECT ", columns!(), " FROM batches ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Voids a batch. Voiding twice is not an error and keeps the first timestamp.
    pub async fn void_batch(&self, id: u32) -> Result<Batch, LedgerError> {
        let row = sqlx::query(concat!(
            "UPDATE batches SET status = 'void', voided_at = coalesce(voided_at, now())
             WHERE id = $1 RETURNING ",
            columns!()
        ))
        .bind(i64::from(id))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(LedgerError::UnknownBatch(id))?;
        Ok(from_row(&row)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> NewBatch {
        NewBatch {
            campaign: "c".into(),
            sku: "PUTTY-20KG".into(),
            count: 1000,
            region: Some("CN-31".into()),
            key_id: 1,
        }
    }

    #[test]
    fn a_sound_batch_has_no_problems() {
        assert!(batch().problems().is_empty());
        assert!(
            NewBatch {
                region: None,
                count: MAX_BATCH_COUNT,
                ..batch()
            }
            .problems()
            .is_empty()
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = NewBatch {
            count: 0,
            sku: String::new(),
            region: Some("上海".into()),
            ..batch()
        };
        let problems = bad.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("count"));
        assert!(problems[1].contains("sku"));
        assert!(problems[2].contains("region"));
        let absurd = NewBatch {
            count: MAX_BATCH_COUNT + 1,
            sku: "x\n".into(),
            ..batch()
        };
        assert_eq!(absurd.problems().len(), 2);
    }
}
