//! Every rule a campaign file must meet before it may move money, each broken one
//! reported with its path so the file can be fixed in one pass.

use std::collections::HashSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::{
    Campaign, CampaignFile, Level, MAX_COUNT, MAX_LEVELS, MAX_POINTS_PER_EVENT,
    MAX_PRIZE_VALUE_FEN, ODDS_SCALE, Pacing, PrizeKind, Problem, architectures, calendar, lanes,
    mall,
};

impl Campaign {
    /// Checks every rule and collects every problem.
    pub fn validate(file: CampaignFile) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });

        if !is_slug(&file.id) {
            problem(
                "id".into(),
                format!(
                    "`{}` must be 1-64 of a-z, 0-9, '-', '_', starting with a letter or digit",
                    file.id
                ),
            );
        }
        if file.lanes == 0 || file.lanes > lanes::MAX_LANES {
            problem(
                "lanes".into(),
                format!("{} must be 1 to {}", file.lanes, lanes::MAX_LANES),
            );
        }
        if file.name.trim().is_empty() || file.name.chars().count() > 100 {
            problem("name".into(), "must be 1 to 100 characters".into());
        }
        let mut parse_time = |key: &str, value: &str| match value.parse::<Timestamp>() {
            Ok(time) => Some(time),
            Err(error) => {
                problem(
                    key.into(),
                    format!("`{value}` is not an RFC 3339 time with offset ({error})"),
                );
                None
            }
        };
        let starts_at = parse_time("starts_at", &file.starts_at);
        let ends_at = parse_time("ends_at", &file.ends_at);
        if let (Some(start), Some(end)) = (starts_at, ends_at)
            && end <= start
        {
            problem("ends_at".into(), "must be after starts_at".into());
        }
        let timezone = match TimeZone::get(&file.timezone) {
            Ok(zone) => Some(zone),
            Err(_) => {
                problem(
                    "timezone".into(),
                    format!("`{}` is not an IANA time zone", file.timezone),
                );
                None
            }
        };
        if !(1..=3650).contains(&file.claim_days) {
            problem(
                "claim_days".into(),
                format!("{} must be 1 to 3650", file.claim_days),
            );
        }
        if file.daily_scan_limit == 0 {
            problem("daily_scan_limit".into(), "must be at least 1".into());
        }
        for (key, value) in [
            ("points_per_scan", file.points_per_scan),
            ("growth_per_scan", file.growth_per_scan),
            ("sign_in_points", file.sign_in_points),
        ] {
            if u64::from(value) > MAX_POINTS_PER_EVENT {
                problem(
                    key.into(),
                    format!("{value} exceeds {MAX_POINTS_PER_EVENT}"),
                );
            }
        }

        for found in level_problems(&file.levels) {
            problem(format!("levels{}", found.path), found.message);
        }

        let mut prize_ids = HashSet::new();
        for (index, prize) in file.prizes.iter().enumerate() {
            let at = |key: &str| format!("prizes[{index}].{key}");
            if !is_slug(&prize.id) {
                problem(
                    at("id"),
                    format!("`{}` must be 1-64 of a-z, 0-9, '-', '_'", prize.id),
                );
            } else if !prize_ids.insert(prize.id.as_str()) {
                problem(at("id"), format!("`{}` is used twice", prize.id));
            }
            if prize.name.trim().is_empty() {
                problem(at("name"), "must not be empty".into());
            }
            if prize.value == 0 {
                problem(at("value"), "must be at least 1".into());
            }
            if prize.kind == PrizeKind::Points && prize.value > MAX_POINTS_PER_EVENT {
                problem(
                    at("value"),
                    format!("{} points exceeds {MAX_POINTS_PER_EVENT}", prize.value),
                );
            }
            if prize.stock > MAX_COUNT {
                problem(at("stock"), format!("{} exceeds {MAX_COUNT}", prize.stock));
            }
            if matches!(prize.kind, PrizeKind::Item | PrizeKind::Cash)
                && prize.value > MAX_PRIZE_VALUE_FEN
            {
                problem(
                    at("value"),
                    format!(
                        "{} fen exceeds the legal cap of 50,000 CNY ({MAX_PRIZE_VALUE_FEN} fen) for a prize-giving sale",
                        prize.value
                    ),
                );
            }
            match (prize.pacing, &prize.hourly_weights) {
                (Some(Pacing::Hourly), None) => problem(
                    at("hourly_weights"),
                    "pacing = \"hourly\" needs 24 hourly weights".into(),
                ),
                (Some(Pacing::Hourly), Some(weights))
                    if weights.len() != 24 || weights.iter().all(|&w| w == 0) =>
                {
                    problem(
                        at("hourly_weights"),
                        format!("needs 24 weights, not all zero (got {})", weights.len()),
                    )
                }
                (Some(Pacing::Linear) | None, Some(_)) => problem(
                    at("hourly_weights"),
                    "only applies with pacing = \"hourly\"".into(),
                ),
                _ => {}
            }
            // A lane checks its own allotment; pacing and daily caps are campaign-wide
            // counts no lane can see (not supported across lanes yet).
            if file.lanes > 1 && prize.pacing.is_some() {
                problem(at("pacing"), "is not supported with lanes > 1".into());
            }
            if file.lanes > 1 && prize.daily_cap.is_some() {
                problem(at("daily_cap"), "is not supported with lanes > 1".into());
            }
            if let Some(cap) = prize.daily_cap
                && cap > prize.stock
            {
                problem(
                    at("daily_cap"),
                    format!("{cap} exceeds the total stock {}", prize.stock),
                );
            }
            if prize.odds.len() != file.levels.len() {
                problem(
                    at("odds"),
                    format!(
                        "needs one entry per level ({}), got {}",
                        file.levels.len(),
                        prize.odds.len()
                    ),
                );
            }
            for (level, &odds) in prize.odds.iter().enumerate() {
                if odds > ODDS_SCALE {
                    problem(
                        at(&format!("odds[{level}]")),
                        format!("{odds} exceeds {ODDS_SCALE} parts per million"),
                    );
                }
            }
        }
        if let Some(fallback) = file.out_of_stock.as_deref()
            && fallback != "no_prize"
            && !file.prizes.iter().any(|p| p.id == fallback)
        {
            problem(
                "out_of_stock".into(),
                format!("`{fallback}` is neither `no_prize` nor a prize id"),
            );
        }
        for (level, spec) in file.levels.iter().enumerate() {
            let total: u64 = file
                .prizes
                .iter()
                .filter_map(|p| p.odds.get(level))
                .map(|&o| u64::from(o))
                .sum();
            if total > u64::from(ODDS_SCALE) {
                problem(
                    format!("levels[{level}]"),
                    format!(
                        "odds of all prizes for `{}` add up to {total}, more than {ODDS_SCALE}",
                        spec.name
                    ),
                );
            }
        }

        if let Some(policy) = file.level_downgrade
            && policy.keep_percent >= 100
        {
            problem(
                "level_downgrade.keep_percent".into(),
                "must be 0 to 99 (100 would never downgrade)".into(),
            );
        }
        problems.extend(mall::problems(&file.mall, file.levels.len()));
        problems.extend(architectures::problems(&file));
        problems.extend(calendar::problems(&file.boosts));

        match (starts_at, ends_at, timezone) {
            (Some(starts_at), Some(ends_at), Some(timezone)) if problems.is_empty() => Ok(Self {
                file,
                starts_at,
                ends_at,
                timezone,
            }),
            _ => Err(problems),
        }
    }
}

/// Every problem of a list of levels, at paths relative to the list (`[2].min_growth`).
pub(crate) fn level_problems(levels: &[Level]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |path: String, message: String| problems.push(Problem { path, message });
    if levels.is_empty() || levels.len() > MAX_LEVELS {
        problem(
            String::new(),
            format!("needs 1 to {MAX_LEVELS} levels, got {}", levels.len()),
        );
    }
    let mut level_names = HashSet::new();
    for (index, level) in levels.iter().enumerate() {
        if level.name.trim().is_empty() {
            problem(format!("[{index}].name"), "must not be empty".into());
        } else if !level_names.insert(level.name.as_str()) {
            problem(
                format!("[{index}].name"),
                format!("`{}` is used twice", level.name),
            );
        }
        if index == 0 && level.min_growth != 0 {
            problem(
                "[0].min_growth".into(),
                "the first level must start at 0".into(),
            );
        }
        if level.min_growth > MAX_COUNT {
            problem(
                format!("[{index}].min_growth"),
                format!("{} exceeds {MAX_COUNT}", level.min_growth),
            );
        }
        if index > 0 && level.min_growth <= levels[index - 1].min_growth {
            problem(
                format!("[{index}].min_growth"),
                format!(
                    "must be greater than the previous level's {}",
                    levels[index - 1].min_growth
                ),
            );
        }
    }

    problems
}

pub(crate) fn is_slug(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
