//! Calendar boosts: 逢8 days, a weekday super member day, explicit windows. On a
//! boosted campaign day points per scan and prize odds are multiplied.
//!
//! Stacking rule: every boost whose day matches applies, and their percentages
//! multiply (200 % and 150 % give 300 %), each product capped at [`MAX_BOOST_PERCENT`].
//! Points per scan are rounded down. Each prize's odds are multiplied and rounded down;
//! if a level's odds then add up to more than 1,000,000, that level's odds are scaled
//! back proportionally (rounded down) so they fit. Growth is never boosted. The
//! campaign's time zone decides the day.

use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};

use crate::{Campaign, ODDS_SCALE, OddsTable, Problem};

/// The largest combined multiplier, in percent.
pub const MAX_BOOST_PERCENT: u32 = 1000;

/// One boost rule (campaign-file extension `[[boosts]]`). Exactly one of
/// `days_containing`, `weekday` or `from`/`to` says when it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Boost {
    /// Shown to ops and members ("逢8", "super member day").
    pub name: String,
    /// Days of the month whose number contains this digit: "8" means the 8th, 18th
    /// and 28th.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_containing: Option<String>,
    /// A day of the week, `monday` to `sunday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<String>,
    /// First day of an explicit window, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day of the window, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Points per scan, in percent (200 doubles them).
    #[serde(default = "unchanged")]
    pub points_percent: u32,
    /// Every prize's odds, in percent.
    #[serde(default = "unchanged")]
    pub odds_percent: u32,
}

fn unchanged() -> u32 {
    100
}

/// What the boosts in force on one day multiply, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Multipliers {
    /// Applied to points per scan.
    pub points_percent: u32,
    /// Applied to each prize's odds.
    pub odds_percent: u32,
}

impl Multipliers {
    /// No boost.
    pub const NONE: Self = Self {
        points_percent: 100,
        odds_percent: 100,
    };
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

impl Boost {
    /// Whether it applies on a campaign day (rules already validated).
    pub fn applies_on(&self, day: Date) -> bool {
        if let Some(digit) = &self.days_containing {
            return day.day().to_string().contains(digit.as_str());
        }
        if let Some(name) = &self.weekday {
            return WEEKDAYS
                .iter()
                .any(|(n, weekday)| n == name && *weekday == day.weekday());
        }
        match (self.from.as_deref(), self.to.as_deref()) {
            (Some(from), Some(to)) => match (from.parse::<Date>(), to.parse::<Date>()) {
                (Ok(from), Ok(to)) => from <= day && day <= to,
                _ => false,
            },
            _ => false,
        }
    }
}

impl Campaign {
    /// The multipliers in force on a campaign day.
    pub fn multipliers_on(&self, day: Date) -> Multipliers {
        let mut points = 100u64;
        let mut odds = 100u64;
        for boost in self.file.boosts.iter().filter(|b| b.applies_on(day)) {
            points = (points * u64::from(boost.points_percent) / 100).min(MAX_BOOST_PERCENT.into());
            odds = (odds * u64::from(boost.odds_percent) / 100).min(MAX_BOOST_PERCENT.into());
        }
        Multipliers {
            points_percent: u32::try_from(points).unwrap_or(MAX_BOOST_PERCENT),
            odds_percent: u32::try_from(odds).unwrap_or(MAX_BOOST_PERCENT),
        }
    }

    /// Points per scan of a rule set under `multipliers`.
    pub fn points_per_scan(&self, rules: usize, multipliers: Multipliers) -> u32 {
        let points =
            u64::from(self.base_points_in(rules)) * u64::from(multipliers.points_percent) / 100;
        u32::try_from(points).unwrap_or(u32::MAX)
    }

    /// The odds table of a rule set under `multipliers`, per the stacking rule.
    pub fn boosted_odds_table(&self, rules: usize, multipliers: Multipliers) -> OddsTable {
        let scaled: Vec<Vec<u32>> = self
            .level_odds_in(rules)
            .into_iter()
            .map(|level| {
                let odds: Vec<u64> = level
                    .into_iter()
                    .map(|o| u64::from(o) * u64::from(multipliers.odds_percent) / 100)
                    .collect();
                let total: u64 = odds.iter().sum();
                let scale = u64::from(ODDS_SCALE);
                odds.into_iter()
                    .map(|o| if total > scale { o * scale / total } else { o })
                    .map(|o| u32::try_from(o).unwrap_or(ODDS_SCALE))
                    .collect()
            })
            .collect();
        OddsTable::from_level_odds(&scaled)
    }

    /// Every day of the campaign window with a boost, and its multipliers: what a
    /// gateway looks a scan's day up in, instead of evaluating the rules per scan.
    pub fn boosted_days(&self) -> Vec<(Date, Multipliers)> {
        if self.file.boosts.is_empty() {
            return Vec::new();
        }
        let first = self.day(self.starts_at);
        let last = self.day(self.ends_at);
        first
            .series(jiff::ToSpan::day(1))
            .take_while(|d| *d <= last)
            .map(|day| (day, self.multipliers_on(day)))
            .filter(|(_, multipliers)| *multipliers != Multipliers::NONE)
            .collect()
    }

    /// Every distinct set of multipliers over the campaign's days, no boost first.
    pub fn all_multipliers(&self) -> Vec<Multipliers> {
        let mut all = vec![Multipliers::NONE];
        for (_, multipliers) in self.boosted_days() {
            if !all.contains(&multipliers) {
                all.push(multipliers);
            }
        }
        all
    }
}

/// Every problem of the boosts section.
pub(crate) fn problems(boosts: &[Boost]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (index, boost) in boosts.iter().enumerate() {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem {
                path: format!("boosts[{index}]{key}"),
                message,
            });
        };
        if boost.name.trim().is_empty() || boost.name.chars().count() > 100 {
            problem(".name", "must be 1 to 100 characters".into());
        }
        let window = boost.from.is_some() || boost.to.is_some();
        let kinds = usize::from(boost.days_containing.is_some())
            + usize::from(boost.weekday.is_some())
            + usize::from(window);
        if kinds != 1 {
            problem(
                "",
                "needs exactly one of `days_containing`, `weekday` or `from` and `to`".into(),
            );
        }
        if let Some(digit) = &boost.days_containing
            && (digit.len() != 1 || !digit.bytes().all(|b| b.is_ascii_digit()))
        {
            problem(".days_containing", format!("`{digit}` is not one digit"));
        }
        if let Some(name) = &boost.weekday
            && !WEEKDAYS.iter().any(|(n, _)| n == name)
        {
            problem(".weekday", format!("`{name}` is not monday to sunday"));
        }
        if window {
            let parse = |value: Option<&str>| value.and_then(|v| v.parse::<Date>().ok());
            match (parse(boost.from.as_deref()), parse(boost.to.as_deref())) {
                (Some(from), Some(to)) if from <= to => {}
                (Some(_), Some(_)) => problem(".to", "must not be before `from`".into()),
                _ => problem("", "`from` and `to` must both be YYYY-MM-DD dates".into()),
            }
        }
        for (key, percent) in [
            (".points_percent", boost.points_percent),
            (".odds_percent", boost.odds_percent),
        ] {
            if !(100..=MAX_BOOST_PERCENT).contains(&percent) {
                problem(key, format!("must be 100 to {MAX_BOOST_PERCENT}"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const BASE: &str = r#"
id = "boosted"
name = "boosted"
starts_at = "2026-06-01T00:00:00+08:00"
ends_at = "2026-07-01T00:00:00+08:00"
timezone = "Asia/Shanghai"
points_per_scan = 10
growth_per_scan = 10
daily_scan_limit = 5

[[levels]]
name = "one"
min_growth = 0

[[levels]]
name = "two"
min_growth = 100

[[prizes]]
id = "big"
name = "big"
kind = "item"
value = 1
stock = 10
odds = [100000, 600000]

[[prizes]]
id = "small"
name = "small"
kind = "item"
value = 1
stock = 10
odds = [200000, 300000]
"#;

    fn campaign(boosts: &str) -> Campaign {
        Campaign::from_toml(&format!("{BASE}\n{boosts}")).expect("valid")
    }

    const EIGHTS: &str =
        "[[boosts]]\nname = \"逢8\"\ndays_containing = \"8\"\npoints_percent = 200\n";
    const SATURDAYS: &str = "[[boosts]]\nname = \"super day\"\nweekday = \"saturday\"\npoints_percent = 150\nodds_percent = 200\n";
    const LAUNCH: &str = "[[boosts]]\nname = \"launch\"\nfrom = \"2026-06-01\"\nto = \"2026-06-03\"\nodds_percent = 300\n";

    fn percents(campaign: &Campaign, day: Date) -> (u32, u32) {
        let m = campaign.multipliers_on(day);
        (m.points_percent, m.odds_percent)
    }

    #[test]
    fn each_kind_of_boost_picks_its_days() {
        let eights = campaign(EIGHTS);
        let boosted: Vec<i8> = (1..=30)
            .filter(|&d| eights.multipliers_on(date(2026, 6, d)) != Multipliers::NONE)
            .collect();
        assert_eq!(boosted, [8, 18, 28]);

        let saturdays = campaign(SATURDAYS);
        let boosted: Vec<i8> = (1..=30)
            .filter(|&d| saturdays.multipliers_on(date(2026, 6, d)) != Multipliers::NONE)
            .collect();
        assert_eq!(boosted, [6, 13, 20, 27], "June 2026's Saturdays");

        let launch = campaign(LAUNCH);
        assert_eq!(percents(&launch, date(2026, 5, 31)), (100, 100));
        assert_eq!(percents(&launch, date(2026, 6, 1)), (100, 300));
        assert_eq!(
            percents(&launch, date(2026, 6, 3)),
            (100, 300),
            "to is inclusive"
        );
        assert_eq!(percents(&launch, date(2026, 6, 4)), (100, 100));
    }

    #[test]
    fn boosts_on_the_same_day_multiply_up_to_the_cap() {
        // June 28, 2026 is a Sunday; June 18 a Thursday; Saturday the 8th does not exist
        // in June 2026, but August 8 is one.
        let both = campaign(&format!("{EIGHTS}{SATURDAYS}"));
        assert_eq!(percents(&both, date(2026, 6, 18)), (200, 100));
        assert_eq!(percents(&both, date(2026, 6, 13)), (150, 200));
        assert_eq!(percents(&both, date(2026, 8, 8)), (300, 200));
        let big = "[[boosts]]\nname = \"a\"\nweekday = \"monday\"\npoints_percent = 1000\n\
                   [[boosts]]\nname = \"b\"\nweekday = \"monday\"\npoints_percent = 500\n";
        assert_eq!(percents(&campaign(big), date(2026, 6, 1)), (1000, 100));
        assert_eq!(
            campaign(big).points_per_scan(0, campaign(big).multipliers_on(date(2026, 6, 1))),
            100
        );
    }

    #[test]
    fn boosted_odds_scale_and_are_scaled_back_when_a_level_overflows() {
        let campaign = campaign("");
        let table = campaign.boosted_odds_table(
            0,
            Multipliers {
                points_percent: 100,
                odds_percent: 200,
            },
        );
        // Level one: 200,000 + 400,000 fits.
        assert_eq!(table.bounds(0), [200_000, 600_000]);
        // Level two: 1,200,000 + 600,000 is too much: back to 1,000,000 in proportion.
        assert_eq!(table.bounds(1), [666_666, 999_999]);
        assert_eq!(
            campaign.boosted_odds_table(0, Multipliers::NONE),
            campaign.odds_table(),
            "no boost, the campaign's own odds"
        );
    }

    #[test]
    fn every_distinct_multiplier_of_the_window_is_listed_once() {
        let all = campaign(&format!("{EIGHTS}{SATURDAYS}{LAUNCH}")).all_multipliers();
        let mut percents: Vec<(u32, u32)> = all
            .iter()
            .map(|m| (m.points_percent, m.odds_percent))
            .collect();
        percents.sort_unstable();
        // June 2026: plain days, 8/18/28 (none a Saturday), Saturdays, the launch days.
        assert_eq!(percents, [(100, 100), (100, 300), (150, 200), (200, 100)]);
    }

    #[test]
    fn bad_boosts_are_named() {
        let bad = "[[boosts]]\nname = \"\"\ndays_containing = \"88\"\nweekday = \"caturday\"\n\
                   points_percent = 50\nodds_percent = 2000\n\
                   [[boosts]]\nname = \"w\"\nfrom = \"2026-06-05\"\nto = \"2026-06-01\"\n\
                   [[boosts]]\nname = \"x\"\nfrom = \"June\"\n";
        let problems = Campaign::from_toml(&format!("{BASE}\n{bad}")).expect_err("invalid");
        let named: Vec<(String, String)> =
            problems.into_iter().map(|p| (p.path, p.message)).collect();
        let paths: Vec<&str> = named.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "boosts[0].name",
                "boosts[0]",
                "boosts[0].days_containing",
                "boosts[0].weekday",
                "boosts[0].points_percent",
                "boosts[0].odds_percent",
                "boosts[1].to",
                "boosts[2]",
            ],
            "{named:?}"
        );
    }
}
