//! Writing redemptions into the book of record, exactly once.
//!
//! A batch of stream entries is written in one transaction: scans, awards, ledger
//! entries, member balances and cash payouts commit together or not at all, and the
//! worker acknowledges the entries only after the commit. Redelivered entries hit the
//! unique scan id and change nothing; an entry for a code and role that is already
//! settled under another stream entry is a double redemption (only possible after Redis
//! lost state) and is stored as rejected, never paid.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{Ledger, LedgerError};

/// One redemption as the gateway recorded it, in plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    /// The Redis stream entry id: tells a redelivery from a second redemption.
    pub stream_id: String,
    /// The idempotency key.
    pub scan_id: String,
    /// Campaign id.
    pub campaign: String,
    /// Campaign revision in force.
    pub revision: i32,
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// `consumer` or `dealer`.
    pub role: String,
    /// Member id.
    pub member: String,
    /// Campaign day in the campaign's zone.
    pub day: jiff::civil::Date,
    /// Gateway time, ms since the epoch.
    pub at_ms: i64,
    /// Level whose odds applied.
    pub level: i32,
    /// The draw number.
    pub draw: i32,
    /// Prize drawn ("" for none).
    pub drawn: String,
    /// Prize awarded, with its kind and value, if any.
    pub award: Option<Award>,
    /// Points credited.
    pub points: i64,
    /// Growth credited.
    pub growth: i64,
    /// Scanner's region.
    pub region: Option<String>,
    /// Batch's region.
    pub batch_region: Option<String>,
    /// Client request id.
    pub request_id: Option<String>,
}

/// A prize awarded by a redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Award {
    /// Prize id.
    pub prize: String,
    /// `item`, `cash` or `points`.
    pub kind: String,
    /// Fen for item and cash, points for points.
    pub value: i64,
}

/// What one settlement transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// New redemptions written.
    pub settled: usize,
    /// Entries already written by an earlier delivery.
    pub redelivered: usize,
    /// Second redemptions of an already settled code and role.
    pub rejected: usize,
}

impl Ledger {
    /// Settles a batch in one transaction; safe to call again with any of the same
    /// entries.
    pub async fn settle(&self, batch: &[Redemption]) -> Result<Settled, LedgerError> {
        if batch.is_empty() {
            return Ok(Settled::default());
        }
        let column = |f: &dyn Fn(&Redemption) -> String| batch.iter().map(f).collect::<Vec<_>>();
        let optional =
            |f: &dyn Fn(&Redemption) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
        let mut tx = self.pool.begin().await?;

        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO scans (scan_id, stream_id, campaign_id, revision, batch_id, serial, role,
                                member, day, scanned_at, level, draw, drawn, prize, points, growth,
                                region, batch_region, request_id)
             SELECT s.scan_id, s.stream_id, s.campaign_id, s.revision, s.batch_id, s.serial, s.role,
                    s.member, s.day::date, to_timestamp(s.at_ms / 1000.0), s.level, s.draw,
                    nullif(s.drawn, ''), nullif(s.prize, ''), s.points, s.growth,
                    s.region, s.batch_region, s.request_id
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[],
                           $7::text[], $8::text[], $9::text[], $10::bigint[], $11::int[], $12::int[],
                           $13::text[], $14::text[], $15::bigint[], $16::bigint[], $17::text[],
                           $18::text[], $19::text[])
                 AS s(scan_id, stream_id, campaign_id, revision, batch_id, serial, role, member, day,
                      at_ms, level, draw, drawn, prize, points, growth, region, batch_region, request_id)
             ON CONFLICT DO NOTHING
             RETURNING scan_id",
        )
        .bind(column(&|r| r.scan_id.clone()))
        .bind(column(&|r| r.stream_id.clone()))
        .bind(column(&|r| r.campaign.clone()))
        .bind(batch.iter().map(|r| r.revision).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| i64::from(r.batch)).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| i64::from(r.serial)).collect::<Vec<_>>())
        .bind(column(&|r| r.role.clone()))
        .bind(column(&|r| r.member.clone()))
        .bind(column(&|r| r.day.to_string()))
        .bind(batch.iter().map(|r| r.at_ms).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.level).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.draw).collect::<Vec<_>>())
        .bind(column(&|r| r.drawn.clone()))
        .bind(column(&|r| r.award.as_ref().map(|a| a.prize.clone()).unwrap_or_default()))
        .bind(batch.iter().map(|r| r.points).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.growth).collect::<Vec<_>>())
        .bind(optional(&|r| r.region.clone()))
        .bind(optional(&|r| r.batch_region.clone()))
        .bind(optional(&|r| r.request_id.clone()))
        .fetch_all(&mut *tx)
        .await?;
        let inserted: HashSet<String> = inserted.into_iter().collect();
        // The same scan id may appear twice in one batch; only the first entry is new.
        let mut fresh: Vec<&Redemption> = Vec::with_capacity(inserted.len());
        let mut taken = HashSet::new();
        let mut others: Vec<&Redemption> = Vec::new();
        for redemption in batch {
            if inserted.contains(&redemption.scan_id) && taken.insert(redemption.scan_id.as_str()) {
                fresh.push(redemption);
            } else {
                others.push(redemption);
            }
        }

        // Which of the others are redeliveries of the entry already settled?
        let settled_from: HashMap<String, String> = if others.is_empty() {
            HashMap::new()
        } else {
            sqlx::query_as::<_, (String, String)>(
                "SELECT scan_id, stream_id FROM scans WHERE scan_id = ANY($1)",
            )
            .bind(others.iter().map(|r| r.scan_id.clone()).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
        };
        let rejected: Vec<&Redemption> = others
            .iter()
            .copied()
            .filter(|r| settled_from.get(&r.scan_id) != Some(&r.stream_id))
            .collect();
        if !rejected.is_empty() {
            sqlx::query(
                "INSERT INTO rejected_redemptions (stream_id, scan_id, campaign_id, member, prize, points, scanned_at)
                 SELECT s.stream_id, s.scan_id, s.campaign_id, s.member, nullif(s.prize, ''), s.points,
                        to_timestamp(s.at_ms / 1000.0)
                   FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
                     AS s(stream_id, scan_id, campaign_id, member, prize, points, at_ms)
                 ON CONFLICT DO NOTHING",
            )
            .bind(rejected.iter().map(|r| r.stream_id.clone()).collect::<Vec<_>>())
            .bind(rejected.iter().map(|r| r.scan_id.clone()).collect::<Vec<_>>())
            .bind(rejected.iter().map(|r| r.campaign.clone()).collect::<Vec<_>>())
            .bind(rejected.iter().map(|r| r.member.clone()).collect::<Vec<_>>())
            .bind(rejected.iter().map(|r| r.award.as_ref().map(|a| a.prize.clone()).unwrap_or_default()).collect::<Vec<_>>())
            .bind(rejected.iter().map(|r| r.points).collect::<Vec<_>>())
            .bind(rejected.iter().map(|r| r.at_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }

        let awarded: Vec<(&Redemption, &Award)> = fresh
            .iter()
            .filter_map(|r| r.award.as_ref().map(|a| (*r, a)))
            .collect();
        if !awarded.is_empty() {
            sqlx::query(
                "INSERT INTO awards (scan_id, campaign_id, prize_id, kind, value, member, awarded_at)
                 SELECT s.scan_id, s.campaign_id, s.prize_id, s.kind, s.value, s.member,
                        to_timestamp(s.at_ms / 1000.0)
                   FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
                     AS s(scan_id, campaign_id, prize_id, kind, value, member, at_ms)",
            )
            .bind(awarded.iter().map(|(r, _)| r.scan_id.clone()).collect::<Vec<_>>())
            .bind(awarded.iter().map(|(r, _)| r.campaign.clone()).collect::<Vec<_>>())
            .bind(awarded.iter().map(|(_, a)| a.prize.clone()).collect::<Vec<_>>())
            .bind(awarded.iter().map(|(_, a)| a.kind.clone()).collect::<Vec<_>>())
            .bind(awarded.iter().map(|(_, a)| a.value).collect::<Vec<_>>())
            .bind(awarded.iter().map(|(r, _)| r.member.clone()).collect::<Vec<_>>())
            .bind(awarded.iter().map(|(r, _)| r.at_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            let cash: Vec<&(&Redemption, &Award)> =
                awarded.iter().filter(|(_, a)| a.kind == "cash").collect();
            if !cash.is_empty() {
                sqlx::query(
                    "INSERT INTO payouts (scan_id, member, amount_fen)
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])",
                )
                .bind(
                    cash.iter()
                        .map(|(r, _)| r.scan_id.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    cash.iter()
                        .map(|(r, _)| r.member.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(cash.iter().map(|(_, a)| a.value).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
            }
        }

        if !fresh.is_empty() {
            sqlx::query(
                "INSERT INTO points_ledger (campaign_id, member, points, growth, reason, source)
                 SELECT s.campaign_id, s.member, s.points, s.growth, 'scan', s.scan_id
                   FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
                     AS s(campaign_id, member, points, growth, scan_id)",
            )
            .bind(fresh.iter().map(|r| r.campaign.clone()).collect::<Vec<_>>())
            .bind(fresh.iter().map(|r| r.member.clone()).collect::<Vec<_>>())
            .bind(fresh.iter().map(|r| r.points).collect::<Vec<_>>())
            .bind(fresh.iter().map(|r| r.growth).collect::<Vec<_>>())
            .bind(fresh.iter().map(|r| r.scan_id.clone()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            add_to_balances(&mut tx, fresh.iter().copied()).await?;
        }
        tx.commit().await?;
        Ok(Settled {
            settled: fresh.len(),
            redelivered: others.len() - rejected.len(),
            rejected: rejected.len(),
        })
    }
}

/// Adds a batch's new redemptions to their members' balances. Members are updated in
/// sorted order, so concurrent workers lock rows in the same order and cannot deadlock.
async fn add_to_balances<'r>(
    tx: &mut sqlx::PgTransaction<'_>,
    redemptions: impl Iterator<Item = &'r Redemption>,
) -> Result<(), LedgerError> {
    let mut balances: BTreeMap<(&str, &str), (i64, i64, i64)> = BTreeMap::new();
    for r in redemptions {
        let entry = balances
            .entry((r.campaign.as_str(), r.member.as_str()))
            .or_default();
        *entry = (entry.0 + r.points, entry.1 + r.growth, entry.2 + 1);
    }
    if balances.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO members AS m (campaign_id, member, points, growth, scans)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
         ON CONFLICT (campaign_id, member) DO UPDATE SET
             points = m.points + excluded.points, growth = m.growth + excluded.growth,
             scans = m.scans + excluded.scans, updated_at = now()",
    )
    .bind(balances.keys().map(|(c, _)| *c).collect::<Vec<_>>())
    .bind(balances.keys().map(|(_, m)| *m).collect::<Vec<_>>())
    .bind(balances.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(balances.values().map(|v| v.1).collect::<Vec<_>>())
    .bind(balances.values().map(|v| v.2).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
