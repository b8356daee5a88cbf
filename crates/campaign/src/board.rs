//! Monthly scan leaderboards (排行榜): who scanned most this month, per campaign and
//! per region, held in Redis sorted sets.
//!
//! Ties go to whoever reached the score first. One sorted-set score carries both: the
//! scans in the high bits and, in the low 32 bits, how early in the month the member
//! reached them (`u32::MAX` minus milliseconds into the month; a month is under 2^32
//! ms). More scans rank first; among equal scans, the earlier. A double holds integers
//! exactly up to 2^53, so up to 2^21 (about 2 million) scans per member and month.
//! Two members reaching the same score in the same millisecond rank by member id, in
//! reverse byte order (Redis's order for equal scores read high to low).

use jiff::{Timestamp, ToSpan};

use crate::Campaign;

/// Bits of the score that hold the time.
const TIME_BITS: u32 = 32;

/// The most scans a score can carry exactly.
pub const MAX_BOARD_SCANS: u64 = (1 << (f64::MANTISSA_DIGITS - TIME_BITS)) - 1;

/// The sorted-set score of `scans` reached `ms_into_month` milliseconds into the month.
pub fn board_score(scans: u64, ms_into_month: u32) -> f64 {
    let scans = scans.min(MAX_BOARD_SCANS);
    ((scans << TIME_BITS) | u64::from(u32::MAX - ms_into_month)) as f64
}

/// The scans a score carries.
pub fn board_scans(score: f64) -> u64 {
    if score.is_finite() && score >= 0.0 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a finite, non-negative score; `as` saturates anything above u64"
        )]
        let bits = score as u64;
        bits >> TIME_BITS
    } else {
        0
    }
}

/// A calendar month of the campaign's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    /// `YYYY-MM`, as the leaderboard API names periods.
    pub period: String,
    /// When the month began.
    pub starts_at: Timestamp,
    /// When the next one begins.
    pub ends_at: Timestamp,
}

impl Month {
    /// Milliseconds from the month's start to `now` (in it), for the tie-break bits.
    pub fn ms_into(&self, now: Timestamp) -> u32 {
        u32::try_from(now.as_millisecond() - self.starts_at.as_millisecond()).unwrap_or(u32::MAX)
    }
}

impl Campaign {
    /// The month `now` falls in, in the campaign's time zone.
    pub fn month(&self, now: Timestamp) -> Month {
        let date = self.day(now);
        self.month_of(date.year(), date.month())
            .unwrap_or_else(|| unreachable_month(now))
    }

    /// The month a `YYYY-MM` period names, if it is one.
    pub fn period(&self, period: &str) -> Option<Month> {
        let (year, month) = period.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        self.month_of(year.parse().ok()?, month.parse().ok()?)
    }

    /// Milliseconds from the start of `now`'s month to `now`.
    pub fn ms_into_month(&self, now: Timestamp) -> u32 {
        self.month(now).ms_into(now)
    }

    fn month_of(&self, year: i16, month: i8) -> Option<Month> {
        let first = jiff::civil::Date::new(year, month, 1).ok()?;
        let midnight =
            |date: jiff::civil::Date| self.timezone.to_timestamp(date.at(0, 0, 0, 0)).ok();
        Some(Month {
            period: format!("{year:04}-{month:02}"),
            starts_at: midnight(first)?,
            ends_at: midnight(first.checked_add(1.month()).ok()?)?,
        })
    }
}

/// Every timestamp lies in a month of every zone; a month jiff cannot build (beyond
/// its supported years) is treated as the Unix epoch's rather than panicking.
fn unreachable_month(now: Timestamp) -> Month {
    let _ = now;
    Month {
        period: "1970-01".into(),
        starts_at: Timestamp::UNIX_EPOCH,
        ends_at: Timestamp::UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_scans_rank_first_then_whoever_reached_them_first() {
        let month_ms = 31 * 24 * 3600 * 1000;
        assert!(board_score(2, month_ms) > board_score(1, 0));
        assert!(board_score(5, 1000) > board_score(5, 1001));
        assert!(board_score(MAX_BOARD_SCANS, month_ms) > board_score(MAX_BOARD_SCANS - 1, 0));
        for scans in [0, 1, 7, 1000, MAX_BOARD_SCANS] {
            for ms in [0, 1, 999, month_ms, u32::MAX] {
                assert_eq!(board_scans(board_score(scans, ms)), scans, "{scans} {ms}");
            }
        }
        assert_eq!(board_scans(f64::NAN), 0);
        assert_eq!(board_scans(-1.0), 0);
    }

    #[test]
    fn scores_survive_the_text_redis_and_lua_exchange() {
        // Lua writes scores with "%.0f" and Redis answers them with "%.17g".
        let score = board_score(MAX_BOARD_SCANS, 123_456_789);
        let text = format!("{score:.0}");
        let back: f64 = text.parse().expect("number");
        assert_eq!(back, score);
        assert_eq!(board_scans(back), MAX_BOARD_SCANS);
    }
}
