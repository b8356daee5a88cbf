//! Paced stock: how much of a prize may have gone by a moment of the campaign.

use jiff::Timestamp;

use crate::{Campaign, Pacing, Prize};

impl Campaign {
    /// How many of a prize may have been awarded by `now`: its stock, or for a paced
    /// prize the share released so far (rounded up, so one is available at the start).
    pub fn available_stock(&self, prize: &Prize, now: Timestamp) -> u64 {
        let now = now.clamp(self.starts_at, self.ends_at);
        let (done, total) = match (prize.pacing, prize.hourly_weights.as_deref()) {
            (Some(Pacing::Linear), _) => {
                let ms = |t: Timestamp| i128::from(t.as_millisecond());
                (
                    ms(now) - ms(self.starts_at),
                    ms(self.ends_at) - ms(self.starts_at),
                )
            }
            (Some(Pacing::Hourly), Some(weights)) => {
                let mass = |t: Timestamp| self.hourly_mass(weights, t);
                (
                    mass(now) - mass(self.starts_at),
                    mass(self.ends_at) - mass(self.starts_at),
                )
            }
            _ => return prize.stock,
        };
        if total <= 0 {
            return prize.stock;
        }
        let released = (i128::from(prize.stock) * done.max(0) + total - 1) / total;
        u64::try_from(released)
            .unwrap_or(prize.stock)
            .min(prize.stock)
    }

    /// Hour-weighted seconds from the local epoch to `at`: the weight of each local hour
    /// times the seconds of it that have passed.
    fn hourly_mass(&self, weights: &[u32], at: Timestamp) -> i128 {
        let local = i128::from(at.as_second() + i64::from(self.timezone.to_offset(at).seconds()));
        let day: i128 = weights.iter().map(|&w| i128::from(w)).sum();
        let (days, second) = (local.div_euclid(86_400), local.rem_euclid(86_400));
        // `second` is in 0..86_400, so the hour is 0 to 23.
        let hour = usize::try_from(second / 3600).unwrap_or(0);
        let before: i128 = weights.iter().take(hour).map(|&w| i128::from(w)).sum();
        let current = weights.get(hour).map_or(0, |&w| i128::from(w));
        days * day * 3600 + before * 3600 + current * (second - hour as i128 * 3600)
    }
}
