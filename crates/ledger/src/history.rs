//! A member's own history in one campaign, newest first, a page at a time.
//!
//! Pages are keyset-paginated on (time, key): a page starts strictly after the last
//! row of the one before, so the hundredth page costs what the first does and a row
//! settled meanwhile neither repeats nor hides another. Times travel as whole
//! microseconds since the epoch, Postgres's own resolution, so the comparison is exact.

use crate::{Ledger, LedgerError};

/// Where the next page starts: the last row's time and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    /// Microseconds since the epoch.
    pub micros: i64,
    /// The row's tie-breaker: a scan id, or a ledger entry's reason and source.
    pub key: String,
}

impl HistoryCursor {
    /// The cursor as clients carry it: `<micros>.<key>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.micros, self.key)
    }

    /// Reads a cursor a client sent back; `None` if it is not one: a time outside the
    /// years 1970 to 9999, or a key no row has (empty, long, or with a control
    /// character, which Postgres text cannot even hold).
    pub fn decode(text: &str) -> Option<Self> {
        /// 9999-12-31T23:59:59.999999Z.
        const LAST: i64 = 253_402_300_799_999_999;
        let (micros, key) = text.split_once('.')?;
        if key.is_empty() || key.chars().count() > 256 || key.chars().any(char::is_control) {
            return None;
        }
        let micros: i64 = micros.parse().ok()?;
        if !(0..=LAST).contains(&micros) {
            return None;
        }
        Some(Self {
            micros,
            key: key.to_string(),
        })
    }
}

/// One settled scan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScanEntry {
    /// The scan's id (its idempotency key).
    pub scan_id: String,
    /// `consumer` or `dealer`.
    pub role: String,
    /// When it was scanned, ms since the epoch.
    pub at_ms: i64,
    /// The prize won, if any.
    pub prize: Option<String>,
    /// Points credited.
    pub points: i64,
    /// Growth credited.
    pub growth: i64,
    /// Where it was scanned, if the client said.
    pub region: Option<String>,
    /// When, in microseconds: the cursor of the page after it.
    pub micros: i64,
}

/// One award, with its cash payout's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AwardEntry {
    /// The scan that won it.
    pub scan_id: String,
    /// When it was won, ms since the epoch.
    pub at_ms: i64,
    /// The prize's id.
    pub prize: String,
    /// `item`, `cash` or `points`.
    pub kind: String,
    /// Fen for items and cash, points for points.
    pub value: i64,
    /// A cash award's payout: `pending`, `delivered` or `failed`.
    pub payout_status: Option<String>,
    /// When the payout was delivered, ms since the epoch.
    pub delivered_at_ms: Option<i64>,
    /// When, in microseconds: the cursor of the page after it.
    pub micros: i64,
}

/// One change of the member's points or growth.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerEntry {
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// Points added (negative: spent or taken).
    pub points: i64,
    /// Growth added (negative: a level downgrade).
    pub growth: i64,
    /// `scan`, `sign_in`, `mall` or `downgrade`.
    pub reason: String,
    /// What caused it: the scan id, the sign-in day, the purchase.
    pub source: String,
    /// When, in microseconds: the cursor of the page after it.
    pub micros: i64,
}

/// One page of a member's history, and where the next one starts.
#[derive(Debug, Clone)]
pub struct HistoryPage<T> {
    /// At most the page size, newest first.
    pub items: Vec<T>,
    /// `None` on the last page.
    pub next: Option<HistoryCursor>,
}

/// A row that can say where the page after it starts.
trait Keyed {
    fn cursor(&self) -> HistoryCursor;
}

impl Keyed for ScanEntry {
    fn cursor(&self) -> HistoryCursor {
        HistoryCursor {
            micros: self.micros,
            key: self.scan_id.clone(),
        }
    }
}

impl Keyed for AwardEntry {
    fn cursor(&self) -> HistoryCursor {
        HistoryCursor {
            micros: self.micros,
            key: self.scan_id.clone(),
        }
    }
}

impl Keyed for LedgerEntry {
    /// The entry's key is its reason and source.
    fn cursor(&self) -> HistoryCursor {
        HistoryCursor {
            micros: self.micros,
            key: format!("{}.{}", self.reason, self.source),
        }
    }
}

/// Runs a history query for a page of `limit` rows: `$1` campaign, `$2` member, `$3`
/// one row more than the page (to know whether another follows); with a cursor, the
/// query's `{after}` becomes "(time, key) < (the cursor's)", `$4` and `$5` its parts
/// (a timestamp of whole microseconds since the epoch, made exactly).
async fn page<T>(
    ledger: &Ledger,
    sql: &str,
    (time, key): (&str, &str),
    (campaign, member): (&str, &str),
    cursor: Option<&HistoryCursor>,
    limit: i64,
) -> Result<HistoryPage<T>, LedgerError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin + Keyed,
{
    let after = match cursor {
        Some(_) => format!(
            "AND ({time}, {key}) < ('epoch'::timestamptz + $4 * interval '1 microsecond', $5)"
        ),
        None => String::new(),
    };
    let sql = sql.replace("{after}", &after);
    let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
        .bind(campaign)
        .bind(member)
        .bind(limit.saturating_add(1));
    if let Some(cursor) = cursor {
        query = query.bind(cursor.micros).bind(cursor.key.clone());
    }
    let mut items = query.fetch_all(&ledger.pool).await?;
    let keep = usize::try_from(limit).unwrap_or(0);
    let next = (items.len() > keep).then(|| {
        items.truncate(keep);
        items.last().map(Keyed::cursor)
    });
    Ok(HistoryPage {
        items,
        next: next.flatten(),
    })
}

impl Ledger {
    /// The member's settled scans, newest first, a page of `limit` after `cursor`.
    pub async fn member_scans(
        &self,
        campaign: &str,
        member: &str,
        cursor: Option<&HistoryCursor>,
        limit: i64,
    ) -> Result<HistoryPage<ScanEntry>, LedgerError> {
        page(
            self,
            "SELECT scan_id, role, round(extract(epoch FROM scanned_at) * 1000)::bigint AS at_ms,
                    prize, points, growth, region,
                    (extract(epoch FROM scanned_at) * 1000000)::bigint AS micros
               FROM scans
              WHERE campaign_id = $1 AND member = $2
                {after}
              ORDER BY scanned_at DESC, scan_id DESC
              LIMIT $3",
            ("scanned_at", "scan_id"),
            (campaign, member),
            cursor,
            limit,
        )
        .await
    }

    /// The member's awards with their payouts, newest first.
    pub async fn member_awards(
        &self,
        campaign: &str,
        member: &str,
        cursor: Option<&HistoryCursor>,
        limit: i64,
    ) -> Result<HistoryPage<AwardEntry>, LedgerError> {
        // Through the member's scans (indexed by campaign and member), then each award
        // by its key: awards has no index by member.
        page(
            self,
            "SELECT a.scan_id, round(extract(epoch FROM s.scanned_at) * 1000)::bigint AS at_ms,
                    a.prize_id AS prize, a.kind, a.value, p.status AS payout_status,
                    round(extract(epoch FROM p.delivered_at) * 1000)::bigint AS delivered_at_ms,
                    (extract(epoch FROM s.scanned_at) * 1000000)::bigint AS micros
               FROM scans s
               JOIN awards a ON a.scan_id = s.scan_id
               LEFT JOIN payouts p ON p.scan_id = a.scan_id
              WHERE s.campaign_id = $1 AND s.member = $2 AND s.prize IS NOT NULL
                {after}
              ORDER BY s.scanned_at DESC, s.scan_id DESC
              LIMIT $3",
            ("s.scanned_at", "s.scan_id"),
            (campaign, member),
            cursor,
            limit,
        )
        .await
    }

    /// The member's points ledger, newest first.
    pub async fn member_ledger(
        &self,
        campaign: &str,
        member: &str,
        cursor: Option<&HistoryCursor>,
        limit: i64,
    ) -> Result<HistoryPage<LedgerEntry>, LedgerError> {
        page(
            self,
            "SELECT round(extract(epoch FROM created_at) * 1000)::bigint AS at_ms,
                    points, growth, reason, source,
                    (extract(epoch FROM created_at) * 1000000)::bigint AS micros
               FROM points_entries
              WHERE campaign_id = $1 AND member = $2
                {after}
              ORDER BY created_at DESC, reason || '.' || source DESC
              LIMIT $3",
            ("created_at", "(reason || '.' || source)"),
            (campaign, member),
            cursor,
            limit,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_and_junk_is_refused() {
        let cursor = HistoryCursor {
            micros: 1_780_000_000_123_456,
            key: "scan.s-1.x".into(),
        };
        assert_eq!(HistoryCursor::decode(&cursor.encode()), Some(cursor));
        for junk in [
            "",
            ".",
            "12",
            "12.",
            "x.s",
            "-",
            "-1.s",
            "874086474133243466.s",
            "1.a\u{0}b",
            &format!("1.{}", "k".repeat(300)),
        ] {
            assert_eq!(HistoryCursor::decode(junk), None, "{junk:?}");
        }
    }
}
