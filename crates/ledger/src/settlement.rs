//! Writing redemptions into the book of record, exactly once.
//!
//! A batch of stream entries is written in one transaction: redemptions, scans (each
//! also its member's ledger entry), awards, member balances and cash payouts commit
//! together or not at all, and the worker acknowledges the entries only after the
//! commit. A code and role is redeemed once (`redemptions`, whatever month the scan
//! was in): a redelivered entry hits it and changes nothing, and an entry for a code
//! and role settled under another stream entry is a double redemption (only possible
//! after Redis lost state), stored as rejected, never paid.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::PoisonError;

use crate::{Ledger, LedgerError};

/// The statement for a batch holding codes and roles already redeemed: it writes the
/// new redemptions, skipping those, and, from the rows it inserted, their scans,
/// awards, payouts and balances. The input holds each code and role once.
///
/// Balances are upserted in (campaign, member) byte order (collation "C", as Rust
/// orders strings for [`BALANCES`]), so concurrent workers lock member rows in the same
/// order and cannot deadlock.
const ANY_BATCH: &str = "WITH input AS (
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                                      $6::bigint[], $7::text[], $8::text[], $9::text[], $10::bigint[],
                                      $11::bigint[], $12::bigint[], $13::text[], $14::text[],
                                      $15::text[], $16::bigint[], $17::bigint[], $18::bigint[],
                                      $19::text[], $20::text[], $21::text[], $22::text[],
                                      $23::text[])
                   AS s(scan_id, stream_id, campaign_id, revision, batch_id, serial, role, member,
                        day, at_ms, level, draw, drawn, prize, kind, value, points, growth,
                        region, batch_region, request_id, architecture, answer)
             ), redeemed AS (
                 INSERT INTO redemptions (batch_id, serial, role, member, answer)
                 SELECT batch_id, serial, role, member, answer FROM input
                 ON CONFLICT DO NOTHING
                 RETURNING batch_id, serial, role
             ), scanned AS (
                 INSERT INTO scans (scan_id, stream_id, campaign_id, revision, batch_id, serial, role,
                                    member, day, scanned_at, level, draw, drawn, prize, points,
                                    growth, region, batch_region, request_id, architecture)
                 SELECT scan_id, stream_id, campaign_id, revision, batch_id, serial, role, member,
                        day::date, to_timestamp(at_ms / 1000.0), level, draw, nullif(drawn, ''),
                        nullif(prize, ''), points, growth, region, batch_region, request_id,
                        architecture
                   FROM input JOIN redeemed USING (batch_id, serial, role)
                 RETURNING scan_id, stream_id, campaign_id, member, points, growth, scanned_at
             ), awarded AS (
                 INSERT INTO awards (scan_id, campaign_id, prize_id, kind, value, member, awarded_at)
                 SELECT s.scan_id, s.campaign_id, i.prize, i.kind, i.value, s.member, s.scanned_at
                   FROM scanned s JOIN input i USING (scan_id, stream_id)
                  WHERE i.prize <> ''
                 RETURNING scan_id, kind, value, member
             ), paid AS (
                 INSERT INTO payouts (scan_id, member, amount_fen)
                 SELECT scan_id, member, value FROM awarded WHERE kind = 'cash'
             ), balanced AS (
                 INSERT INTO members AS m (campaign_id, member, points, growth, scans)
                 SELECT campaign_id, member, sum(points), sum(growth), count(*)
                   FROM scanned GROUP BY campaign_id, member
                  ORDER BY campaign_id COLLATE \"C\", member COLLATE \"C\"
                 ON CONFLICT (campaign_id, member) DO UPDATE SET
                     points = m.points + excluded.points, growth = m.growth + excluded.growth,
                     scans = m.scans + excluded.scans, updated_at = now()
             )
             SELECT scan_id, stream_id FROM scanned";

/// A batch's balances, one row per (campaign, member), in that order (see
/// [`ANY_BATCH`] for why the order).
const BALANCES: &str = "INSERT INTO members AS m (campaign_id, member, points, growth, scans)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
             ON CONFLICT (campaign_id, member) DO UPDATE SET
                 points = m.points + excluded.points, growth = m.growth + excluded.growth,
                 scans = m.scans + excluded.scans, updated_at = now()";

/// A batch written in a transaction left open for the rest of it, and the (scan id,
/// stream id) pairs it inserted.
type Written = (
    sqlx::Transaction<'static, sqlx::Postgres>,
    Vec<(String, String)>,
);

/// The SQLSTATE of a row for which no partition exists (`check_violation`).
const NO_PARTITION: &str = "23514";

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
    /// The architecture whose rules applied (`None`: the campaign's own).
    pub architecture: Option<String>,
    /// The answer the member got (see `redemptions.answer`); `None` from older gateways.
    pub answer: Option<String>,
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
    ///
    /// A batch of new codes is COPYed in (redemptions, scans, awards), since COPY costs
    /// Postgres about a quarter less than the same rows through one statement; a batch
    /// holding a redeemed code is written by the statement that skips those instead.
    /// Entries not inserted are then sorted into redeliveries and double redemptions.
    pub async fn settle(&self, batch: &[Redemption]) -> Result<Settled, LedgerError> {
        Ok(self.settle_fresh(batch).await?.0)
    }

    /// [`Ledger::settle`], also answering which entries this call newly wrote (scan id,
    /// stream id): what settlement counts once more, on the leaderboards.
    pub async fn settle_fresh(
        &self,
        batch: &[Redemption],
    ) -> Result<(Settled, HashSet<(String, String)>), LedgerError> {
        if batch.is_empty() {
            return Ok((Settled::default(), HashSet::new()));
        }
        // The same stream entry twice is one redemption (and would pair twice below).
        // Entry ids are only unique within a stream: entries of two campaigns (or lanes)
        // added in the same millisecond share one, so an entry is its scan and its id.
        // The statement takes each code and role once; a second entry for it is sorted
        // out below with the entries the statement did not insert.
        let mut seen = HashSet::new();
        let mut codes = HashSet::new();
        let (mut first, mut others) = (Vec::new(), Vec::new());
        for redemption in batch {
            if !seen.insert((redemption.scan_id.as_str(), redemption.stream_id.as_str())) {
                continue;
            }
            if codes.insert((
                redemption.batch,
                redemption.serial,
                redemption.role.as_str(),
            )) {
                first.push(redemption);
            } else {
                others.push(redemption);
            }
        }
        let repeated = batch.len() - seen.len();
        self.ensure_months(first.iter().map(|r| r.day)).await?;
        // Almost every batch is new: its rows are copied in (see `copy_new`). A batch
        // holding anything already redeemed fails on it and is written again by the
        // statement that skips those, entry by entry sorted out below, in a fresh
        // transaction.
        let written = match self.copy_new(&first).await {
            Err(LedgerError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                self.write_any(&first).await
            }
            written => written,
        };
        if let Err(LedgerError::Database(sqlx::Error::Database(e))) = &written
            && e.code().as_deref() == Some(NO_PARTITION)
        {
            // `yima archive` dropped a month this process thought was there.
            self.forget_months();
        }
        let (mut tx, inserted) = written?;
        let inserted: HashSet<(&str, &str)> = inserted
            .iter()
            .map(|(scan, entry)| (scan.as_str(), entry.as_str()))
            .collect();
        let (fresh, not_inserted): (Vec<&Redemption>, Vec<&Redemption>) = first
            .iter()
            .copied()
            .partition(|r| inserted.contains(&(r.scan_id.as_str(), r.stream_id.as_str())));
        others.extend(not_inserted);

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

        tx.commit().await?;
        let settled = Settled {
            settled: fresh.len(),
            redelivered: others.len() - rejected.len() + repeated,
            rejected: rejected.len(),
        };
        let fresh = fresh
            .iter()
            .map(|r| (r.scan_id.clone(), r.stream_id.clone()))
            .collect();
        Ok((settled, fresh))
    }

    /// Who redeemed a code in a role and the answer they got (`None` for scans settled
    /// before answers were kept), if the redemption is settled: a retry after Redis let
    /// the answer go. One look-up in the key of `redemptions`, archived month or not.
    pub async fn scan_answer(
        &self,
        batch: u32,
        serial: u32,
        role: &str,
    ) -> Result<Option<(String, Option<String>)>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT member, answer FROM redemptions
              WHERE batch_id = $1 AND serial = $2 AND role = $3",
        )
        .bind(i64::from(batch))
        .bind(i64::from(serial))
        .bind(role)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Makes sure the partitions of `scans` holding these days, and the month after
    /// each, exist, so settlement never meets a month without one and the next month's
    /// is there before it starts. Months this process created or met are remembered:
    /// a batch of a known month costs nothing here.
    pub async fn ensure_months(
        &self,
        days: impl IntoIterator<Item = jiff::civil::Date>,
    ) -> Result<(), LedgerError> {
        let mut wanted = BTreeSet::new();
        for day in days {
            let first = day.first_of_month();
            wanted.insert(first);
            // December 9999 has none after it.
            wanted.extend(first.last_of_month().tomorrow().ok());
        }
        let missing: Vec<jiff::civil::Date> = {
            let known = self.months.lock().unwrap_or_else(PoisonError::into_inner);
            wanted.difference(&known).copied().collect()
        };
        for month in &missing {
            sqlx::query("SELECT yima_scans_month($1::date)")
                .bind(month.to_string())
                .execute(&self.pool)
                .await?;
        }
        self.months
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(missing);
        Ok(())
    }

    /// Makes sure this month's and next month's partitions exist (UTC: campaign months
    /// are never more than a day away from it), ahead of any scan of them.
    pub async fn ensure_months_ahead(&self) -> Result<(), LedgerError> {
        self.ensure_months([crate::utc_today()]).await
    }

    /// Forgets which months' partitions exist, so the next batch checks again.
    fn forget_months(&self) {
        self.months
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Writes a batch expected to be new in a new transaction, left open for the rest
    /// of the batch; answers the (scan id, stream id) pairs it inserted: all of them.
    ///
    /// Its redemptions, scans and awards are COPYed in, which Postgres writes in
    /// batches of rows (one WAL record and buffer lock per page, not per row) where an
    /// INSERT from a query writes row by row; `redemptions` refuses a code and role
    /// already redeemed (a unique violation: the caller writes the batch again with
    /// [`ANY_BATCH`]), so nothing is copied twice. Payouts and balances follow as
    /// statements.
    async fn copy_new(&self, batch: &[&Redemption]) -> Result<Written, LedgerError> {
        let mut redemptions = CopyRows::default();
        let mut scans = CopyRows::default();
        let mut awards = CopyRows::default();
        let mut payouts: (Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
        let mut balances: BTreeMap<(&str, &str), (i64, i64, i64)> = BTreeMap::new();
        for r in batch {
            let scanned_at = jiff::Timestamp::from_millisecond(r.at_ms)
                .map_err(|e| {
                    LedgerError::Invalid(format!("scan {}: time {}: {e}", r.scan_id, r.at_ms))
                })?
                .to_string();
            redemptions
                .int(r.batch.into())
                .int(r.serial.into())
                .text(&r.role)
                .text(&r.member)
                .optional(r.answer.as_deref())
                .end_row();
            scans
                .text(&r.scan_id)
                .text(&r.stream_id)
                .text(&r.campaign)
                .int(r.revision.into())
                .int(r.batch.into())
                .int(r.serial.into())
                .text(&r.role)
                .text(&r.member)
                .text(&r.day.to_string())
                .text(&scanned_at)
                .int(r.level.into())
                .int(r.draw.into())
                .optional(Some(r.drawn.as_str()).filter(|d| !d.is_empty()))
                .optional(r.award.as_ref().map(|a| a.prize.as_str()))
                .int(r.points)
                .int(r.growth)
                .optional(r.region.as_deref())
                .optional(r.batch_region.as_deref())
                .optional(r.request_id.as_deref())
                .optional(r.architecture.as_deref())
                .end_row();
            if let Some(award) = &r.award {
                awards
                    .text(&r.scan_id)
                    .text(&r.campaign)
                    .text(&award.prize)
                    .text(&award.kind)
                    .int(award.value)
                    .text(&r.member)
                    .text(&scanned_at)
                    .end_row();
                if award.kind == "cash" {
                    payouts.0.push(&r.scan_id);
                    payouts.1.push(&r.member);
                    payouts.2.push(award.value);
                }
            }
            let balance = balances.entry((&r.campaign, &r.member)).or_default();
            balance.0 += r.points;
            balance.1 += r.growth;
            balance.2 += 1;
        }
        let mut tx = self.pool.begin().await?;
        redemptions
            .copy(
                &mut tx,
                "COPY redemptions (batch_id, serial, role, member, answer) FROM STDIN",
            )
            .await?;
        scans
            .copy(
                &mut tx,
                "COPY scans (scan_id, stream_id, campaign_id, revision, batch_id, serial, role,
                             member, day, scanned_at, level, draw, drawn, prize, points, growth,
                             region, batch_region, request_id, architecture) FROM STDIN",
            )
            .await?;
        awards
            .copy(
                &mut tx,
                "COPY awards (scan_id, campaign_id, prize_id, kind, value, member, awarded_at)
                 FROM STDIN",
            )
            .await?;
        if !payouts.0.is_empty() {
            sqlx::query(
                "INSERT INTO payouts (scan_id, member, amount_fen)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])",
            )
            .bind(&payouts.0)
            .bind(&payouts.1)
            .bind(&payouts.2)
            .execute(&mut *tx)
            .await?;
        }
        let (keys, sums): (Vec<_>, Vec<_>) = balances.into_iter().unzip();
        sqlx::query(BALANCES)
            .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
            .bind(sums.iter().map(|s| s.0).collect::<Vec<_>>())
            .bind(sums.iter().map(|s| s.1).collect::<Vec<_>>())
            .bind(sums.iter().map(|s| s.2).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        let inserted = batch
            .iter()
            .map(|r| (r.scan_id.clone(), r.stream_id.clone()))
            .collect();
        Ok((tx, inserted))
    }

    /// Writes a batch with [`ANY_BATCH`] in a new transaction, left open for the rest
    /// of the batch; answers the (scan id, stream id) pairs it inserted.
    async fn write_any(&self, batch: &[&Redemption]) -> Result<Written, LedgerError> {
        let text = |f: &dyn Fn(&Redemption) -> &str| batch.iter().map(|r| f(r)).collect::<Vec<_>>();
        let optional = |f: &dyn Fn(&Redemption) -> Option<&str>| {
            batch.iter().map(|r| f(r)).collect::<Vec<_>>()
        };
        let number =
            |f: &dyn Fn(&Redemption) -> i64| batch.iter().map(|r| f(r)).collect::<Vec<_>>();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query_as(ANY_BATCH)
            .bind(text(&|r| &r.scan_id))
            .bind(text(&|r| &r.stream_id))
            .bind(text(&|r| &r.campaign))
            .bind(number(&|r| i64::from(r.revision)))
            .bind(number(&|r| i64::from(r.batch)))
            .bind(number(&|r| i64::from(r.serial)))
            .bind(text(&|r| &r.role))
            .bind(text(&|r| &r.member))
            .bind(batch.iter().map(|r| r.day.to_string()).collect::<Vec<_>>())
            .bind(number(&|r| r.at_ms))
            .bind(number(&|r| i64::from(r.level)))
            .bind(number(&|r| i64::from(r.draw)))
            .bind(text(&|r| &r.drawn))
            .bind(text(&|r| r.award.as_ref().map_or("", |a| &a.prize)))
            .bind(text(&|r| r.award.as_ref().map_or("", |a| &a.kind)))
            .bind(number(&|r| r.award.as_ref().map_or(0, |a| a.value)))
            .bind(number(&|r| r.points))
            .bind(number(&|r| r.growth))
            .bind(optional(&|r| r.region.as_deref()))
            .bind(optional(&|r| r.batch_region.as_deref()))
            .bind(optional(&|r| r.request_id.as_deref()))
            .bind(optional(&|r| r.architecture.as_deref()))
            .bind(optional(&|r| r.answer.as_deref()))
            .fetch_all(&mut *tx)
            .await?;
        Ok((tx, inserted))
    }
}

/// Rows in COPY's text format: tab-separated columns, `\N` for NULL, and a backslash,
/// tab, newline or carriage return inside a value escaped, so any text (a member id, a
/// client's request id) arrives as it was.
#[derive(Debug, Default)]
struct CopyRows {
    data: Vec<u8>,
    /// Columns written in the current row.
    columns: usize,
}

impl CopyRows {
    fn separate(&mut self) {
        if self.columns > 0 {
            self.data.push(b'\t');
        }
        self.columns += 1;
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.separate();
        for &byte in value.as_bytes() {
            match byte {
                b'\\' => self.data.extend_from_slice(b"\\\\"),
                b'\t' => self.data.extend_from_slice(b"\\t"),
                b'\n' => self.data.extend_from_slice(b"\\n"),
                b'\r' => self.data.extend_from_slice(b"\\r"),
                other => self.data.push(other),
            }
        }
        self
    }

    fn optional(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => {
                self.separate();
                self.data.extend_from_slice(b"\\N");
                self
            }
        }
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.separate();
        self.data.extend_from_slice(value.to_string().as_bytes());
        self
    }

    fn end_row(&mut self) {
        self.data.push(b'\n');
        self.columns = 0;
    }

    /// Copies the rows in with `statement` (`COPY … FROM STDIN`); none, nothing sent.
    async fn copy(
        self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        statement: &str,
    ) -> Result<(), LedgerError> {
        if self.data.is_empty() {
            return Ok(());
        }
        let mut copy = tx.copy_in_raw(statement).await?;
        copy.send(self.data).await?;
        copy.finish().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::CopyRows;

    #[test]
    fn copy_rows_escape_what_copy_text_reads_specially() {
        let mut rows = CopyRows::default();
        rows.text("a\tb\\c\nd\re").optional(None).int(-5).end_row();
        rows.text("").optional(Some("\\N")).end_row();
        assert_eq!(
            String::from_utf8(rows.data).expect("utf-8"),
            "a\\tb\\\\c\\nd\\re\t\\N\t-5\n\t\\\\N\n"
        );
    }
}
