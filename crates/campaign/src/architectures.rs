//! Rules per member architecture: a decorator may climb other levels, earn other points
//! and draw at other odds than a tradesman, and a dealer scanning a bag at stocking
//! (一码两扫) may be paid a fixed rebate for its SKU instead of drawing.
//!
//! A campaign has *rule sets*: number 0 is the campaign's own (its core keys), which
//! every member of an architecture without a section, and every unregistered member,
//! scans under; then one per `[architectures.<id>]` section, in id order. Prizes and
//! their stock stay campaign-wide: an architecture only says how likely each is.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::rules::{is_slug, level_problems};
use crate::{Campaign, CampaignFile, Level, MAX_POINTS_PER_EVENT, ODDS_SCALE, Problem};

/// One architecture's own rules; every key is optional and falls back to the campaign's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ArchitectureRules {
    /// Spendable points per scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_per_scan: Option<u32>,
    /// Level progress per scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_per_scan: Option<u32>,
    /// Scans per member and campaign day: a dealer stocking a pallet scans hundreds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_scan_limit: Option<u32>,
    /// Its own levels (1 to 6, the same rules as the campaign's); with them, `odds`
    /// must be given too, since the campaign's odds are per the campaign's levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<Level>>,
    /// Per prize id, its chance per scan for each level, in parts per million; a prize
    /// left out is never drawn by this architecture, and `odds = {}` draws nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odds: Option<BTreeMap<String, Vec<u32>>>,
    /// Fixed awards by the scanned batch's SKU, paid instead of a draw.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebates: Vec<Rebate>,
}

/// A fixed award for scanning a code of one SKU: the prize (points or cash, taken from
/// its stock like any award, so the stock is the rebate budget) is paid without a draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rebate {
    /// The SKU as batches are registered with it.
    pub sku: String,
    /// The id of the prize paid.
    pub prize: String,
}

impl Campaign {
    /// How many rule sets the campaign has: its own and one per architecture section.
    pub fn rule_sets(&self) -> usize {
        1 + self.file.architectures.len()
    }

    /// The rule set a member of `architecture` scans under (`None`: unregistered).
    pub fn rules_of(&self, architecture: Option<&str>) -> usize {
        architecture
            .and_then(|name| self.file.architectures.keys().position(|key| key == name))
            .map_or(0, |index| index + 1)
    }

    /// The architecture a rule set belongs to; `None` for the campaign's own.
    pub fn rules_name(&self, rules: usize) -> Option<&str> {
        let index = rules.checked_sub(1)?;
        self.file
            .architectures
            .keys()
            .nth(index)
            .map(String::as_str)
    }

    fn section(&self, rules: usize) -> Option<&ArchitectureRules> {
        let index = rules.checked_sub(1)?;
        self.file.architectures.values().nth(index)
    }

    /// The levels a rule set climbs.
    pub fn levels_in(&self, rules: usize) -> &[Level] {
        self.section(rules)
            .and_then(|section| section.levels.as_deref())
            .unwrap_or(&self.file.levels)
    }

    /// The level (0-based) this much growth reaches under a rule set.
    pub fn level_in(&self, rules: usize, growth: u64) -> usize {
        self.levels_in(rules)
            .iter()
            .rposition(|level| level.min_growth <= growth)
            .unwrap_or(0)
    }

    /// Points per scan before boosts.
    pub fn base_points_in(&self, rules: usize) -> u32 {
        self.section(rules)
            .and_then(|section| section.points_per_scan)
            .unwrap_or(self.file.points_per_scan)
    }

    /// Growth per scan.
    pub fn growth_per_scan_in(&self, rules: usize) -> u32 {
        self.section(rules)
            .and_then(|section| section.growth_per_scan)
            .unwrap_or(self.file.growth_per_scan)
    }

    /// Scans per member and campaign day.
    pub fn daily_scan_limit_in(&self, rules: usize) -> u32 {
        self.section(rules)
            .and_then(|section| section.daily_scan_limit)
            .unwrap_or(self.file.daily_scan_limit)
    }

    /// Each level's odds per prize, in prize order, before boosts.
    pub fn level_odds_in(&self, rules: usize) -> Vec<Vec<u32>> {
        let own = self
            .section(rules)
            .and_then(|section| section.odds.as_ref());
        (0..self.levels_in(rules).len())
            .map(|level| {
                self.file
                    .prizes
                    .iter()
                    .map(|prize| {
                        let odds = match own {
                            Some(own) => own.get(&prize.id),
                            None => Some(&prize.odds),
                        };
                        odds.and_then(|odds| odds.get(level)).copied().unwrap_or(0)
                    })
                    .collect()
            })
            .collect()
    }

    /// The prize (index) a rule set pays for scanning a code of `sku`, if any.
    pub fn rebate_in(&self, rules: usize, sku: &str) -> Option<usize> {
        let rebate = self
            .section(rules)?
            .rebates
            .iter()
            .find(|rebate| rebate.sku == sku)?;
        self.file.prizes.iter().position(|p| p.id == rebate.prize)
    }

    /// A problem for each section naming an architecture the brand does not have (the
    /// deployment's list, which the file cannot know): its rules would never apply.
    pub fn unknown_architectures(&self, known: &[&str]) -> Vec<Problem> {
        self.file
            .architectures
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
            .map(|name| Problem {
                path: format!("architectures.{name}"),
                message: format!(
                    "`{name}` is not one of the brand's architectures ({})",
                    known.join(", ")
                ),
            })
            .collect()
    }

    /// Whether a prize is paid as some architecture's rebate.
    pub fn is_rebate_prize(&self, prize: &str) -> bool {
        self.file
            .architectures
            .values()
            .any(|section| section.rebates.iter().any(|r| r.prize == prize))
    }
}

/// Every problem of the architecture sections.
pub(crate) fn problems(file: &CampaignFile) -> Vec<Problem> {
    let mut problems = Vec::new();
    let prizes: HashSet<&str> = file.prizes.iter().map(|p| p.id.as_str()).collect();
    for (name, section) in &file.architectures {
        let at = |key: &str| format!("architectures.{name}{key}");
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        if !is_slug(name) {
            problem(
                at(""),
                format!("`{name}` must be 1-64 of a-z, 0-9, '-', '_', as the architecture's id"),
            );
        }
        for (key, value) in [
            ("points_per_scan", section.points_per_scan),
            ("growth_per_scan", section.growth_per_scan),
        ] {
            if let Some(value) = value
                && u64::from(value) > MAX_POINTS_PER_EVENT
            {
                problem(
                    at(&format!(".{key}")),
                    format!("{value} exceeds {MAX_POINTS_PER_EVENT}"),
                );
            }
        }
        if section.daily_scan_limit == Some(0) {
            problem(at(".daily_scan_limit"), "must be at least 1".into());
        }
        let levels = match &section.levels {
            Some(levels) => {
                for found in level_problems(levels) {
                    problem(at(&format!(".levels{}", found.path)), found.message);
                }
                if section.odds.is_none() {
                    problem(
                        at(".odds"),
                        "is required with its own levels: the campaign's odds are per the campaign's levels (`odds = {}` draws nothing)".into(),
                    );
                }
                levels.len()
            }
            None => file.levels.len(),
        };
        if let Some(odds) = &section.odds {
            for (prize, per_level) in odds {
                let at = |key: &str| at(&format!(".odds.{prize}{key}"));
                if !prizes.contains(prize.as_str()) {
                    problem(at(""), format!("`{prize}` is not a prize id"));
                }
                if per_level.len() != levels {
                    problem(
                        at(""),
                        format!(
                            "needs one entry per level ({levels}), got {}",
                            per_level.len()
                        ),
                    );
                }
                for (level, &odds) in per_level.iter().enumerate() {
                    if odds > ODDS_SCALE {
                        problem(
                            at(&format!("[{level}]")),
                            format!("{odds} exceeds {ODDS_SCALE} parts per million"),
                        );
                    }
                }
            }
            for level in 0..levels {
                let total: u64 = odds
                    .values()
                    .filter_map(|per_level| per_level.get(level))
                    .map(|&odds| u64::from(odds))
                    .sum();
                if total > u64::from(ODDS_SCALE) {
                    problem(
                        at(".odds"),
                        format!(
                            "odds of all prizes at level {} add up to {total}, more than {ODDS_SCALE}",
                            level + 1
                        ),
                    );
                }
            }
        }
        let mut skus = HashSet::new();
        for (index, rebate) in section.rebates.iter().enumerate() {
            let at = |key: &str| at(&format!(".rebates[{index}].{key}"));
            let length = rebate.sku.chars().count();
            if length == 0 || length > 64 || rebate.sku.chars().any(char::is_control) {
                problem(at("sku"), "must be 1 to 64 printable characters".into());
            } else if !skus.insert(rebate.sku.as_str()) {
                problem(at("sku"), format!("`{}` has two rebates", rebate.sku));
            }
            match file.prizes.iter().find(|p| p.id == rebate.prize) {
                None => problem(at("prize"), format!("`{}` is not a prize id", rebate.prize)),
                Some(prize) if prize.kind == crate::PrizeKind::Item => problem(
                    at("prize"),
                    format!(
                        "`{}` is an item: a rebate is paid in points or cash",
                        rebate.prize
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../../config/demo-campaign.toml");

    fn demo() -> Campaign {
        Campaign::from_toml(DEMO).expect("the demo campaign is valid")
    }

    /// The demo with its `[architectures]` sections replaced by `sections`.
    fn with_sections(sections: &str) -> Result<Campaign, Vec<String>> {
        let (core, _) = DEMO
            .split_once("[architectures.")
            .expect("demo has sections");
        Campaign::from_toml(&format!("{core}{sections}"))
            .map_err(|problems| problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn each_architecture_has_its_own_rule_set_and_the_rest_have_the_campaigns() {
        let campaign = demo();
        assert_eq!(campaign.rule_sets(), 3);
        let (dealer, decorator) = (
            campaign.rules_of(Some("dealer")),
            campaign.rules_of(Some("decorator")),
        );
        assert_eq!(
            (dealer, decorator),
            (1, 2),
            "in id order after the campaign's"
        );
        assert_eq!(campaign.rules_of(Some("tradesman")), 0);
        assert_eq!(campaign.rules_of(None), 0);
        assert_eq!(campaign.rules_name(decorator), Some("decorator"));
        assert_eq!(campaign.rules_name(0), None);
        assert_eq!(campaign.rules_name(3), None);

        assert_eq!(campaign.base_points_in(0), 10);
        assert_eq!(campaign.base_points_in(decorator), 20);
        assert_eq!(campaign.base_points_in(dealer), 0);
        assert_eq!(campaign.growth_per_scan_in(dealer), 1);
        assert_eq!(campaign.daily_scan_limit_in(dealer), 500);
        assert_eq!(campaign.daily_scan_limit_in(decorator), 30, "inherited");

        assert_eq!(campaign.levels_in(0).len(), 4);
        assert_eq!(campaign.levels_in(dealer).len(), 4, "inherited");
        assert_eq!(campaign.levels_in(decorator).len(), 2);
        assert_eq!(campaign.level_in(0, 999), 2);
        assert_eq!(campaign.level_in(decorator, 999), 0);
        assert_eq!(campaign.level_in(decorator, 1000), 1);
        assert_eq!(campaign.level_in(decorator, u64::MAX), 1);
    }

    #[test]
    fn odds_follow_the_architecture_and_unnamed_prizes_are_never_drawn() {
        let campaign = demo();
        let ids: Vec<&str> = campaign.file.prizes.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            ["phone", "red-packet-8", "bonus-50", "dealer-rebate"],
            "the demo's prize order, which the rows below follow"
        );
        assert_eq!(
            campaign.level_odds_in(0)[3],
            [25, 60000, 200000, 0],
            "the campaign's own, top level"
        );
        assert_eq!(
            campaign.level_odds_in(campaign.rules_of(Some("decorator"))),
            [[0, 50000, 150000, 0], [0, 80000, 200000, 0]]
        );
        let dealer = campaign.rules_of(Some("dealer"));
        assert!(
            campaign
                .level_odds_in(dealer)
                .iter()
                .all(|level| level.iter().all(|&odds| odds == 0)),
            "`odds = {{}}` draws nothing"
        );
        let boosted = campaign.boosted_odds_table(
            campaign.rules_of(Some("decorator")),
            crate::Multipliers {
                points_percent: 100,
                odds_percent: 200,
            },
        );
        assert_eq!(boosted.bounds(0), [0, 100000, 400000, 400000]);
    }

    #[test]
    fn a_rebate_is_found_by_exact_sku_under_its_architecture_only() {
        let campaign = demo();
        let dealer = campaign.rules_of(Some("dealer"));
        assert_eq!(campaign.rebate_in(dealer, "PUTTY-20KG"), Some(3));
        assert_eq!(campaign.rebate_in(dealer, "putty-20kg"), None);
        assert_eq!(campaign.rebate_in(dealer, "PUTTY-5KG"), None);
        assert_eq!(campaign.rebate_in(0, "PUTTY-20KG"), None);
        assert!(campaign.is_rebate_prize("dealer-rebate"));
        assert!(!campaign.is_rebate_prize("red-packet-8"));
    }

    #[test]
    fn every_problem_of_every_section_is_named_at_its_path() {
        let problems = with_sections(
            r#"
[architectures.Bad-Name]
points_per_scan = 2000000000
daily_scan_limit = 0

[architectures.decorator]
levels = [{ name = "a", min_growth = 5 }, { name = "a", min_growth = 1 }]

[architectures.dealer]
rebates = [
    { sku = "PUTTY-20KG", prize = "dealer-rebate" },
    { sku = "PUTTY-20KG", prize = "phone" },
    { sku = "", prize = "nothing" },
]

[architectures.dealer.odds]
ghost = [1, 2, 3, 4]
phone = [1, 2]
red-packet-8 = [1000000, 1000000, 1000000, 1000001]
bonus-50 = [1, 1, 1, 1]
"#,
        )
        .expect_err("refused");
        let expected = [
            "architectures.Bad-Name: `Bad-Name` must be",
            "architectures.Bad-Name.points_per_scan: 2000000000 exceeds",
            "architectures.Bad-Name.daily_scan_limit: must be at least 1",
            "architectures.dealer.odds.ghost: `ghost` is not a prize id",
            "architectures.dealer.odds.phone: needs one entry per level (4), got 2",
            "architectures.dealer.odds.red-packet-8[3]: 1000001 exceeds",
            "architectures.dealer.odds: odds of all prizes at level 1 add up to 1000003",
            "architectures.dealer.odds: odds of all prizes at level 2 add up to 1000005",
            "architectures.dealer.odds: odds of all prizes at level 3 add up to 1000004",
            "architectures.dealer.odds: odds of all prizes at level 4 add up to 1000006",
            "architectures.dealer.rebates[1].sku: `PUTTY-20KG` has two rebates",
            "architectures.dealer.rebates[1].prize: `phone` is an item",
            "architectures.dealer.rebates[2].sku: must be 1 to 64",
            "architectures.dealer.rebates[2].prize: `nothing` is not a prize id",
            "architectures.decorator.levels[0].min_growth: the first level must start at 0",
            "architectures.decorator.levels[1].name: `a` is used twice",
            "architectures.decorator.levels[1].min_growth: must be greater",
            "architectures.decorator.odds: is required with its own levels",
        ];
        for wanted in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(wanted)),
                "missing {wanted:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn a_value_of_the_wrong_type_inside_a_section_is_named_with_the_others() {
        let problems = with_sections(
            r#"
[architectures.dealer]
points_per_scan = "ten"
rebates = [{ sku = "PUTTY-20KG", prize = "phone" }]
"#,
        )
        .expect_err("refused");
        assert!(
            problems[0].starts_with("architectures.dealer.points_per_scan: "),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("architectures.dealer.rebates[0].prize: `phone` is an item")),
            "{problems:?}"
        );
    }

    #[test]
    fn sections_naming_architectures_the_brand_lacks_are_listed() {
        let campaign = demo();
        assert!(
            campaign
                .unknown_architectures(&["tradesman", "dealer", "decorator"])
                .is_empty()
        );
        let unknown = campaign.unknown_architectures(&["tradesman", "dealer"]);
        assert_eq!(
            unknown.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "architectures.decorator: `decorator` is not one of the brand's architectures (tradesman, dealer)"
            ]
        );
    }

    #[test]
    fn an_architectures_levels_are_fixed_once_the_campaign_started() {
        let campaign = demo();
        let moved = Campaign::from_toml(&DEMO.replace("min_growth = 1000", "min_growth = 900"))
            .expect("valid");
        let started = campaign.starts_at;
        let progress = crate::Progress::default();
        let problems: Vec<String> = campaign
            .change_problems(&moved, started, &progress)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("architectures.decorator.levels: cannot change"));
        let before = campaign
            .starts_at
            .checked_sub(jiff::SignedDuration::from_secs(1));
        assert!(
            campaign
                .change_problems(&moved, before.expect("representable"), &progress)
                .is_empty(),
            "before the start anything may change"
        );
        let odds_only = Campaign::from_toml(&DEMO.replace(
            "red-packet-8 = [50000, 80000]",
            "red-packet-8 = [60000, 90000]",
        ))
        .expect("valid");
        assert!(
            campaign
                .change_problems(&odds_only, started, &progress)
                .is_empty(),
            "odds may change while it runs, as the campaign's may"
        );
    }
}
