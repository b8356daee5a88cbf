//! Which edits a stored campaign accepts.
//!
//! Redis keys, stock counters, daily counters and the published draw secret all follow
//! from a campaign's definition, so an edit of a campaign that has started can redeem
//! codes again (new lanes move every key), re-award stock (a renamed prize starts at
//! zero), shift every campaign day (another time zone) or reopen draws anyone can
//! compute (a later end after the secret was revealed). Before the start anything may
//! change. Once started, ops may still tune it:
//! - names (campaign, levels, prizes, gifts);
//! - odds, daily caps, pacing, points and growth per scan, the daily limit, sign-in
//!   points, boosts, the out-of-stock fallback, diversion, the mall;
//! - a prize's stock: raised, or lowered to no less than what is already awarded;
//! - new prizes;
//! - the end, while the campaign is open, to a time still ahead.
//!
//! Everything else is refused, each with its path. After the end only names change.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::{Campaign, CampaignFile, Problem};

/// What a stored campaign has done so far: what an edit is checked against.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Whether any scan of it was redeemed (a campaign can hold scans only once
    /// started; this guards a clock that is behind).
    pub has_scans: bool,
    /// Prize id -> how many were awarded so far (settled or not).
    pub awarded: BTreeMap<String, u64>,
}

impl Campaign {
    /// Every reason `next` may not replace this stored campaign at `now`; empty when
    /// it may.
    pub fn change_problems(
        &self,
        next: &Campaign,
        now: Timestamp,
        progress: &Progress,
    ) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        if next.file.id != self.file.id {
            problem(
                "id".into(),
                format!("is `{}`, not `{}`", next.file.id, self.file.id),
            );
            return problems;
        }
        let started = progress.has_scans || now >= self.starts_at;
        if !started {
            return problems;
        }
        let (old, new) = (&self.file, &next.file);
        if now >= self.ends_at {
            for key in changed_keys(&without_names(old), &without_names(new)) {
                problem(
                    key,
                    format!(
                        "cannot change: the campaign ended at {} and its draw secret is public (only names may change)",
                        self.ends_at
                    ),
                );
            }
            return problems;
        }
        let started_at = "the campaign has started";
        if new.lanes != old.lanes {
            problem(
                "lanes".into(),
                format!(
                    "cannot change from {} to {} once {started_at}: every Redis key of the campaign would move and codes would redeem again",
                    old.lanes, new.lanes
                ),
            );
        }
        if new.timezone != old.timezone {
            problem(
                "timezone".into(),
                format!(
                    "cannot change from `{}` once {started_at}: campaign days and daily limits would shift",
                    old.timezone
                ),
            );
        }
        if next.starts_at != self.starts_at {
            problem(
                "starts_at".into(),
                format!("cannot change from {} once {started_at}", self.starts_at),
            );
        }
        if next.ends_at != self.ends_at && next.ends_at <= now {
            problem(
                "ends_at".into(),
                format!(
                    "{} has passed: a running campaign's end can move only to a time still ahead",
                    next.ends_at
                ),
            );
        }
        if new.levels.len() != old.levels.len() {
            problem(
                "levels".into(),
                format!(
                    "cannot go from {} to {} levels once {started_at}",
                    old.levels.len(),
                    new.levels.len()
                ),
            );
        } else {
            for (index, (was, is)) in old.levels.iter().zip(&new.levels).enumerate() {
                if was.min_growth != is.min_growth {
                    problem(
                        format!("levels[{index}].min_growth"),
                        format!(
                            "cannot change from {} once {started_at}: members would change level",
                            was.min_growth
                        ),
                    );
                }
            }
        }
        let thresholds = |campaign: &Campaign, name: &str| -> Vec<u64> {
            let rules = campaign.rules_of(Some(name));
            campaign
                .levels_in(rules)
                .iter()
                .map(|level| level.min_growth)
                .collect()
        };
        let mut names: Vec<&String> = old
            .architectures
            .keys()
            .chain(new.architectures.keys())
            .collect();
        names.sort();
        names.dedup();
        let own_levels = |file: &CampaignFile, name: &str| {
            file.architectures
                .get(name)
                .is_some_and(|section| section.levels.is_some())
        };
        for name in names {
            // Without its own levels on either side, the campaign's levels rule above.
            let own = own_levels(old, name) || own_levels(new, name);
            if own && thresholds(self, name) != thresholds(next, name) {
                problem(
                    format!("architectures.{name}.levels"),
                    format!(
                        "cannot change once {started_at}: the architecture's members would change level"
                    ),
                );
            }
        }
        if new.level_downgrade != old.level_downgrade {
            problem(
                "level_downgrade".into(),
                format!(
                    "cannot change once {started_at}: boundaries already applied would not match"
                ),
            );
        }
        for was in &old.prizes {
            let Some((index, is)) = new.prizes.iter().enumerate().find(|(_, p)| p.id == was.id)
            else {
                problem(
                    "prizes".into(),
                    format!(
                        "`{}` cannot be removed or renamed once {started_at} (its stock would start again); set its odds to 0 to stop drawing it",
                        was.id
                    ),
                );
                continue;
            };
            let at = |key: &str| format!("prizes[{index}].{key}");
            if is.kind != was.kind {
                problem(
                    at("kind"),
                    format!(
                        "cannot change once {started_at}: awards already made were of the old kind"
                    ),
                );
            }
            if is.value != was.value {
                problem(
                    at("value"),
                    format!(
                        "cannot change from {} once {started_at}: awards already made were worth that",
                        was.value
                    ),
                );
            }
            let awarded = progress.awarded.get(&was.id).copied().unwrap_or(0);
            if is.stock < awarded {
                problem(
                    at("stock"),
                    format!("{} is less than the {awarded} already awarded", is.stock),
                );
            }
        }
        problems
    }
}

/// The definition as JSON with every display name blanked: what must stay equal after
/// the end.
fn without_names(file: &CampaignFile) -> serde_json::Value {
    let mut file = file.clone();
    file.name.clear();
    file.levels.iter_mut().for_each(|level| level.name.clear());
    file.prizes.iter_mut().for_each(|prize| prize.name.clear());
    file.mall.iter_mut().for_each(|item| item.name.clear());
    serde_json::to_value(file).unwrap_or_default()
}

/// The top-level keys whose values differ, in a stable order.
fn changed_keys(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (old, new) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|key| old.get(*key) != new.get(*key))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../../config/demo-campaign.toml");

    fn demo() -> Campaign {
        Campaign::from_toml(DEMO).expect("demo is valid")
    }

    fn edited(pairs: &[(&str, &str)]) -> Campaign {
        let mut text = DEMO.to_string();
        for (from, to) in pairs {
            assert!(text.contains(from), "demo lacks {from:?}");
            text = text.replacen(from, to, 1);
        }
        Campaign::from_toml(&text).expect("edited demo is valid")
    }

    fn at(time: &str) -> Timestamp {
        time.parse().expect("time")
    }

    const BEFORE: &str = "2025-12-01T00:00:00+08:00";
    const RUNNING: &str = "2026-06-01T12:00:00+08:00";
    const ENDED: &str = "2028-01-02T00:00:00+08:00";

    fn paths(stored: &Campaign, next: &Campaign, now: &str, progress: &Progress) -> Vec<String> {
        stored
            .change_problems(next, at(now), progress)
            .into_iter()
            .map(|p| p.path)
            .collect()
    }

    /// Every change the running-campaign rules refuse, in one edit.
    const REFUSED: &[(&str, &str)] = &[
        (
            "timezone  = \"Asia/Shanghai\"",
            "timezone  = \"Asia/Tokyo\"",
        ),
        ("2026-01-01T00:00:00+08:00", "2026-02-01T00:00:00+08:00"),
        ("min_growth = 500", "min_growth = 400"),
        ("value = 299900", "value = 199900"),
        ("kind = \"cash\"", "kind = \"item\""),
        ("id = \"bonus-50\"", "id = \"bonus-fifty\""),
        ("bonus-50 = [150000", "bonus-fifty = [150000"),
    ];

    #[test]
    fn anything_may_change_before_the_start() {
        let next = edited(REFUSED);
        assert_eq!(
            paths(&demo(), &next, BEFORE, &Progress::default()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_started_campaign_refuses_each_unsafe_change_at_its_path() {
        let next = edited(REFUSED);
        assert_eq!(
            paths(&demo(), &next, RUNNING, &Progress::default()),
            [
                "timezone",
                "starts_at",
                "levels[2].min_growth",
                "prizes[0].value",
                "prizes[1].kind",
                "prizes",
            ]
        );
        // A scan makes a campaign started even if the clock says otherwise.
        let scanned = Progress {
            has_scans: true,
            ..Progress::default()
        };
        assert_eq!(paths(&demo(), &next, BEFORE, &scanned).len(), 6);
    }

    #[test]
    fn lanes_are_fixed_once_started() {
        let uncapped = DEMO.replacen("daily_cap = 5\n", "", 1);
        let one = Campaign::from_toml(&uncapped).expect("valid");
        let laned = Campaign::from_toml(&uncapped.replacen(
            "daily_scan_limit = 30",
            "daily_scan_limit = 30\nlanes = 4",
            1,
        ))
        .expect("valid");
        assert!(paths(&one, &laned, BEFORE, &Progress::default()).is_empty());
        assert_eq!(
            paths(&one, &laned, RUNNING, &Progress::default()),
            ["lanes"]
        );
        assert_eq!(
            paths(&laned, &one, RUNNING, &Progress::default()),
            ["lanes"]
        );
    }

    #[test]
    fn a_running_campaign_accepts_tuning() {
        let next = edited(&[
            (
                "name = \"Putty scan & win (demo)\"",
                "name = \"Putty, renamed\"",
            ),
            ("name = \"master\"", "name = \"maestro\""),
            ("name = \"5G phone\"", "name = \"5G phone (new model)\""),
            ("stock = 100\n", "stock = 150\n"),
            ("daily_cap = 5", "daily_cap = 7"),
            ("odds = [5, 8, 12, 25]", "odds = [0, 0, 12, 50]"),
            ("points_per_scan = 10", "points_per_scan = 20"),
            ("daily_scan_limit = 30", "daily_scan_limit = 10"),
            ("2027-12-31T23:59:59+08:00", "2028-06-30T23:59:59+08:00"),
        ]);
        let mut text = DEMO.to_string();
        text.push_str(
            "\n[[prizes]]\nid = \"cup\"\nname = \"Cup\"\nkind = \"item\"\nvalue = 3000\nstock = 10\nodds = [1, 1, 1, 1]\n",
        );
        let added = Campaign::from_toml(&text).expect("valid");
        for next in [next, added] {
            assert_eq!(
                paths(&demo(), &next, RUNNING, &Progress::default()),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn stock_may_be_lowered_only_to_what_is_awarded() {
        let progress = Progress {
            has_scans: true,
            awarded: BTreeMap::from([("phone".to_string(), 40)]),
        };
        let to = |stock: u64| edited(&[("stock = 100\n", &format!("stock = {stock}\n"))]);
        assert!(paths(&demo(), &to(40), RUNNING, &progress).is_empty());
        let problems = demo().change_problems(&to(39), at(RUNNING), &progress);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "prizes[0].stock: 39 is less than the 40 already awarded"
        );
    }

    #[test]
    fn the_end_moves_only_to_a_time_ahead() {
        let earlier = edited(&[("2027-12-31T23:59:59+08:00", "2026-06-30T23:59:59+08:00")]);
        assert!(paths(&demo(), &earlier, RUNNING, &Progress::default()).is_empty());
        let past = edited(&[("2027-12-31T23:59:59+08:00", "2026-05-31T23:59:59+08:00")]);
        assert_eq!(
            paths(&demo(), &past, RUNNING, &Progress::default()),
            ["ends_at"]
        );
    }

    #[test]
    fn an_ended_campaign_changes_only_its_names() {
        let renamed = edited(&[
            (
                "name = \"Putty scan & win (demo)\"",
                "name = \"Putty 2027 (closed)\"",
            ),
            ("name = \"5G phone\"", "name = \"5G phone\u{2122}\""),
        ]);
        assert!(paths(&demo(), &renamed, ENDED, &Progress::default()).is_empty());
        let reopened = edited(&[
            ("2027-12-31T23:59:59+08:00", "2028-12-31T23:59:59+08:00"),
            ("odds = [5, 8, 12, 25]", "odds = [5, 8, 12, 26]"),
            ("stock = 100\n", "stock = 150\n"),
        ]);
        let problems = demo().change_problems(&reopened, at(ENDED), &Progress::default());
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["ends_at", "prizes"]);
        assert!(
            problems[0].message.contains("draw secret is public"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn another_campaign_id_is_refused() {
        let other = edited(&[("id = \"putty-demo\"", "id = \"other\"")]);
        assert_eq!(paths(&demo(), &other, BEFORE, &Progress::default()), ["id"]);
    }
}
