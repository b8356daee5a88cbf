//! Levels: which one a member's growth reaches, and when growth is cut back.

use jiff::Timestamp;

use crate::{Campaign, DowngradePeriod};

impl Campaign {
    /// The downgrade boundaries (first days of periods) after the campaign's first
    /// day, up to `until` and the campaign's end, oldest first.
    pub fn downgrade_boundaries(&self, until: Timestamp) -> Vec<jiff::civil::Date> {
        let Some(policy) = self.file.level_downgrade else {
            return Vec::new();
        };
        let step = match policy.period {
            DowngradePeriod::Month => 1,
            DowngradePeriod::Quarter => 3,
            DowngradePeriod::Year => 12,
        };
        let first = self.day(self.starts_at);
        let last = self.day(until.min(self.ends_at));
        let mut boundaries = Vec::new();
        let mut month = first.first_of_month();
        loop {
            month = match month.checked_add(jiff::ToSpan::months(1)) {
                Ok(next) => next,
                Err(_) => break,
            };
            if month > last {
                break;
            }
            if (i32::from(month.month()) - 1) % step == 0 {
                boundaries.push(month);
            }
        }
        boundaries
    }
}
