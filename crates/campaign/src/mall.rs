//! The points mall (积分商城): gifts bought with points, some only from a level up,
//! cheaper for higher levels. Pure rules; the purchase itself is a Postgres
//! transaction in `ledger`.

use serde::{Deserialize, Serialize};

use crate::Problem;

/// A gift in the campaign's points mall (campaign-file extension `[[mall]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallItem {
    /// Stable id, as for prizes.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Full price in points.
    pub price: u64,
    /// How many can ever be sold; lowering it below what was sold stops sales.
    pub stock: u64,
    /// The lowest level (1-based) that may buy it.
    #[serde(default = "first_level")]
    pub min_level: usize,
    /// Percent off per level (level 1 first); levels past the list get its last entry,
    /// an empty list means full price for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discount_percent: Vec<u8>,
}

fn first_level() -> usize {
    1
}

/// Why a member may not buy an item, whatever its stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Below the item's `min_level`.
    LevelTooLow,
    /// Fewer points than the price at the member's level.
    InsufficientPoints,
}

impl crate::Campaign {
    /// A prize by id: what a stored answer names is rendered from it.
    pub fn prize(&self, id: &str) -> Option<&crate::Prize> {
        self.file.prizes.iter().find(|p| p.id == id)
    }

    /// The display name of a prize or mall item by id (what a member reads in their
    /// history, their prizes and ops' claims).
    pub fn gift_name(&self, id: &str) -> Option<&str> {
        self.prize(id).map(|p| p.name.as_str()).or_else(|| {
            self.file
                .mall
                .iter()
                .find(|m| m.id == id)
                .map(|m| m.name.as_str())
        })
    }
}

impl MallItem {
    /// What a member of `level` (0-based) with `points` pays, or why they may not buy.
    /// A discount rounds in the brand's favour: the price is rounded up.
    pub fn price_for(&self, level: usize, points: u64) -> Result<u64, Refusal> {
        if level + 1 < self.min_level {
            return Err(Refusal::LevelTooLow);
        }
        let percent = self
            .discount_percent
            .get(level)
            .or(self.discount_percent.last())
            .map_or(0, |&p| u64::from(p));
        let price = (u128::from(self.price) * u128::from(100 - percent)).div_ceil(100);
        let price = u64::try_from(price).unwrap_or(u64::MAX);
        if points < price {
            return Err(Refusal::InsufficientPoints);
        }
        Ok(price)
    }
}

/// Every problem of the mall section, given the campaign's number of levels.
pub(crate) fn problems(items: &[MallItem], levels: usize) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem {
                path: format!("mall[{index}].{key}"),
                message,
            });
        };
        if !crate::rules::is_slug(&item.id) {
            problem(
                "id",
                format!("`{}` must be 1-64 of a-z, 0-9, '-', '_'", item.id),
            );
        } else if !ids.insert(item.id.as_str()) {
            problem("id", format!("`{}` is used twice", item.id));
        }
        if item.name.trim().is_empty() || item.name.chars().count() > 100 {
            problem("name", "must be 1 to 100 characters".into());
        }
        if item.price == 0 || item.price > i64::MAX as u64 {
            problem("price", "must be at least 1 point".into());
        }
        if item.stock > i64::MAX as u64 {
            problem("stock", "is too large".into());
        }
        if item.min_level == 0 || item.min_level > levels {
            problem("min_level", format!("must be a level from 1 to {levels}"));
        }
        if item.discount_percent.len() > levels {
            problem(
                "discount_percent",
                format!(
                    "has {} entries for {levels} levels",
                    item.discount_percent.len()
                ),
            );
        }
        if item.discount_percent.iter().any(|&p| p >= 100) {
            problem("discount_percent", "each must be 0 to 99".into());
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(min_level: usize, discount_percent: Vec<u8>) -> MallItem {
        MallItem {
            id: "umbrella".into(),
            name: "Umbrella".into(),
            price: 999,
            stock: 10,
            min_level,
            discount_percent,
        }
    }

    #[test]
    fn a_level_below_the_minimum_is_refused_whatever_the_points() {
        let item = item(2, vec![]);
        assert_eq!(item.price_for(0, u64::MAX), Err(Refusal::LevelTooLow));
        assert_eq!(item.price_for(1, 999), Ok(999));
        assert_eq!(item.price_for(5, 999), Ok(999));
    }

    #[test]
    fn discounts_round_the_price_up_and_the_last_one_carries_on() {
        let item = item(1, vec![0, 10, 25]);
        assert_eq!(item.price_for(0, 10_000), Ok(999));
        assert_eq!(item.price_for(1, 10_000), Ok(900)); // 899.1 rounds up
        assert_eq!(item.price_for(2, 10_000), Ok(750)); // 749.25 rounds up
        assert_eq!(item.price_for(5, 10_000), Ok(750));
    }

    #[test]
    fn the_exact_price_is_enough_and_one_point_less_is_not() {
        let item = item(1, vec![10]);
        assert_eq!(item.price_for(0, 900), Ok(900));
        assert_eq!(item.price_for(0, 899), Err(Refusal::InsufficientPoints));
    }

    #[test]
    fn every_bad_key_is_named() {
        let mut bad = item(0, vec![0, 100, 5]);
        bad.id = "Bad Id".into();
        bad.price = 0;
        let paths: Vec<String> = problems(&[bad], 2).into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "mall[0].id",
                "mall[0].price",
                "mall[0].min_level",
                "mall[0].discount_percent",
                "mall[0].discount_percent"
            ]
        );
        let twice = problems(&[item(1, vec![]), item(1, vec![])], 2);
        assert_eq!(twice.len(), 1);
        assert_eq!(twice[0].message, "`umbrella` is used twice");
        assert!(problems(&[item(2, vec![0, 50])], 2).is_empty());
    }
}
