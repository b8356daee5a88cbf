//! Campaigns: the rules a brand configures, checked before anything is stored.
//!
//! A campaign file is written by a marketing team and can move real money, so it is
//! refused whole when anything is wrong, and the refusal lists *every* problem with
//! its path (`prizes[1].odds[3]`) so the file can be fixed in one pass. This crate
//! does no IO: it turns TOML text into a [`Campaign`] or a list of [`Problem`]s.

mod audit;
mod board;
mod calendar;
mod change;
mod draw;
pub mod lanes;
mod mall;
mod parse;
pub mod request;
mod seal;

pub use audit::{AuditedDraw, RecordedDraw, audit};
pub use board::{MAX_BOARD_SCANS, Month, board_scans, board_score};
pub use calendar::{Boost, MAX_BOOST_PERCENT, Multipliers};
pub use change::Progress;
pub use draw::{BadDrawSecret, DrawSecret, OddsTable, Role};
pub use mall::{MallItem, Refusal};
pub use seal::{DrawKeyError, DrawKeyRing, SEALED_LEN, UnsealError};

use std::collections::HashSet;
use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// Parts per million: odds are integers so draws map exactly, with no float rounding.
pub const ODDS_SCALE: u32 = 1_000_000;
/// Levels a campaign may define; the seeds' programs use at most six.
pub const MAX_LEVELS: usize = 6;
/// The legal cap on a lottery-style promotion's top prize: 50,000 CNY in fen
/// (Anti-Unfair Competition Law, article on prize-giving sales).
pub const MAX_PRIZE_VALUE_FEN: u64 = 5_000_000;

/// The most points or growth one scan, sign-in or points prize may credit. Redis's Lua
/// holds numbers as doubles and writes them with 14 digits, so a balance must stay
/// far below 10^14 to be stored exactly (and never as `1e+14`).
pub const MAX_POINTS_PER_EVENT: u64 = 1_000_000_000;
/// The most a stock, daily cap or level threshold may be: far above any campaign,
/// and exact as a double.
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// One thing wrong with a campaign file, at a path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `name`, `levels[2].min_growth`, `prizes[0].odds[1]`; empty for the file.
    pub path: String,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// What a prize is paid in; decides the unit of `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrizeKind {
    /// A physical gift; value in fen, for the legal cap and accounting.
    Item,
    /// A red packet; value in fen.
    Cash,
    /// Bonus points; value in points.
    Points,
}

/// What a scan whose region differs from its batch's region (窜货, goods sold outside
/// the region they were shipped to) does besides being flagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Diversion {
    /// It counts as any scan; it is stored flagged and counted.
    #[default]
    Flag,
    /// It is refused with `wrong_region`, counted, and the code stays unredeemed.
    Refuse,
}

impl Diversion {
    fn is_flag(&self) -> bool {
        *self == Self::Flag
    }
}

/// Levels are kept only while earned: at each period boundary (in the campaign's
/// zone) every member keeps `keep_percent` of their growth, rounded down, and their
/// level follows. Upgrades stay instant; nothing else ever lowers growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelDowngrade {
    /// `month`, `quarter` or `year`.
    pub period: DowngradePeriod,
    /// Growth kept at each boundary, 0 to 99.
    pub keep_percent: u8,
}

/// The length of a downgrade period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DowngradePeriod {
    /// Boundaries on the 1st of every month.
    Month,
    /// On January, April, July and October 1st.
    Quarter,
    /// On January 1st.
    Year,
}

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

/// How a prize's stock is released over the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// At time t, at most `ceil(stock × elapsed / duration)` may have been awarded, so a
    /// launch-day rush cannot take the prizes meant for scanners in week ten.
    Linear,
    /// Like linear, but time is weighted by the local hour of day (`hourly_weights`,
    /// 24 numbers in the campaign's zone): tradesmen scan after work, so the evening
    /// releases more stock than 3 a.m.
    Hourly,
}

/// A member level: reached by accumulated growth, it selects the odds table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// Brand-chosen display name.
    pub name: String,
    /// Growth needed to reach it; 0 for the first level, strictly increasing.
    pub min_growth: u64,
}

/// A prize with its stock and its odds per level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prize {
    /// Stable id, used in stock keys and awards.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Item, cash or points.
    pub kind: PrizeKind,
    /// Fen for items and cash, points for points.
    pub value: u64,
    /// Total that may ever be awarded: a hard cap.
    pub stock: u64,
    /// Most that may be awarded per campaign day, if capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u64>,
    /// Release the stock evenly over the campaign instead of first come, first served
    /// (extension key; see [`Campaign::available_stock`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<Pacing>,
    /// With `pacing = "hourly"`: the relative weight of each local hour, 0 to 23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_weights: Option<Vec<u32>>,
    /// Chance per scan for each level, in parts per million.
    pub odds: Vec<u32>,
}

/// A campaign as written in its TOML file (the contract's core keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// Stable id: lowercase letters, digits, `-` and `_`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Start, RFC 3339 with an offset.
    pub starts_at: String,
    /// End, RFC 3339 with an offset.
    pub ends_at: String,
    /// IANA zone deciding which calendar day a scan falls on.
    pub timezone: String,
    /// Spendable points per scan.
    pub points_per_scan: u32,
    /// Level progress per scan.
    pub growth_per_scan: u32,
    /// Scans per member, role and campaign day.
    pub daily_scan_limit: u32,
    /// One to six levels.
    pub levels: Vec<Level>,
    /// The prizes; may be empty for a points-only campaign.
    #[serde(default)]
    pub prizes: Vec<Prize>,
    /// What a scan gets when the prize it drew is out of stock, over its daily cap or
    /// not yet released by pacing: `no_prize` (the default) or a prize id to award
    /// instead, such as bonus points (extension key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_stock: Option<String>,
    /// Scans from outside their batch's region: `flag` (the default) or `refuse`
    /// (extension key).
    #[serde(default, skip_serializing_if = "Diversion::is_flag")]
    pub diversion: Diversion,
    /// Points for the daily sign-in task; 0 (the default) offers none (extension key).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sign_in_points: u32,
    /// Optional level downgrades at period boundaries (extension key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_downgrade: Option<LevelDowngrade>,
    /// Calendar boosts (extension key; see the `calendar` rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boosts: Vec<Boost>,
    /// The points mall's gifts (extension key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mall: Vec<MallItem>,
    /// Redis hash tags the campaign is spread over (extension key; see [`lanes`]):
    /// 1, the default, is one tag; more let one campaign use several cluster masters.
    #[serde(default = "one_lane", skip_serializing_if = "is_one_lane")]
    pub lanes: u16,
}

fn one_lane() -> u16 {
    1
}

fn is_one_lane(lanes: &u16) -> bool {
    *lanes == 1
}

/// A campaign that passed every check, with its times parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// The file as written (normalised through serde), stored as the definition.
    pub file: CampaignFile,
    /// Parsed `starts_at`.
    pub starts_at: Timestamp,
    /// Parsed `ends_at`.
    pub ends_at: Timestamp,
    /// Parsed `timezone`.
    pub timezone: TimeZone,
}

impl Campaign {
    /// The hash tag a member's Redis state lives under: the id for one lane, else the
    /// member's lane.
    pub fn member_tag(&self, member: &str) -> std::borrow::Cow<'_, str> {
        let lanes = self.file.lanes;
        lanes::lane_tag(&self.file.id, lanes, lanes::member_lane(member, lanes))
    }

    /// Items grouped by their member's tag, so that one pipeline never spans tags: on
    /// a cluster, a campaign's lanes live on different masters.
    pub fn by_member_tag<'a, T>(
        &'a self,
        items: &'a [T],
        member: impl Fn(&T) -> &str,
    ) -> std::collections::BTreeMap<std::borrow::Cow<'a, str>, Vec<&'a T>> {
        let mut groups: std::collections::BTreeMap<_, Vec<_>> = Default::default();
        for item in items {
            groups
                .entry(self.member_tag(member(item)))
                .or_default()
                .push(item);
        }
        groups
    }

    /// Every hash tag of the campaign: counters, boards and streams are per tag.
    pub fn lane_tags(&self) -> Vec<String> {
        lanes::lane_tags(&self.file.id, self.file.lanes)
    }

    /// Parses and validates a campaign file, listing every problem: values of the
    /// wrong type and broken rules alike.
    pub fn from_toml(text: &str) -> Result<Self, Vec<Problem>> {
        let parse::Read {
            file,
            mut problems,
            patched,
        } = parse::read(text);
        let Some(file) = file else {
            return Err(problems);
        };
        match Self::validate(file) {
            Ok(campaign) if problems.is_empty() => Ok(campaign),
            Ok(_) => Err(problems),
            Err(rule_problems) => {
                problems.extend(
                    rule_problems
                        .into_iter()
                        .filter(|problem| !parse::is_patched(&patched, &problem.path)),
                );
                Err(problems)
            }
        }
    }

    /// A campaign from its stored definition (the JSON of [`Campaign::definition_json`]),
    /// checked again, since rules may have grown since it was stored.
    pub fn from_definition_json(text: &str) -> Result<Self, Vec<Problem>> {
        let file: CampaignFile = serde_json::from_str(text).map_err(|error| {
            vec![Problem {
                path: String::new(),
                message: format!("the stored definition is not a campaign: {error}"),
            }]
        })?;
        Self::validate(file)
    }

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
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                problem("ends_at".into(), "must be after starts_at".into());
            }
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

        if file.levels.is_empty() || file.levels.len() > MAX_LEVELS {
            problem(
                "levels".into(),
                format!("needs 1 to {MAX_LEVELS} levels, got {}", file.levels.len()),
            );
        }
        let mut level_names = HashSet::new();
        for (index, level) in file.levels.iter().enumerate() {
            if level.name.trim().is_empty() {
                problem(format!("levels[{index}].name"), "must not be empty".into());
            } else if !level_names.insert(level.name.as_str()) {
                problem(
                    format!("levels[{index}].name"),
                    format!("`{}` is used twice", level.name),
                );
            }
            if index == 0 && level.min_growth != 0 {
                problem(
                    "levels[0].min_growth".into(),
                    "the first level must start at 0".into(),
                );
            }
            if level.min_growth > MAX_COUNT {
                problem(
                    format!("levels[{index}].min_growth"),
                    format!("{} exceeds {MAX_COUNT}", level.min_growth),
                );
            }
            if index > 0 && level.min_growth <= file.levels[index - 1].min_growth {
                problem(
                    format!("levels[{index}].min_growth"),
                    format!(
                        "must be greater than the previous level's {}",
                        file.levels[index - 1].min_growth
                    ),
                );
            }
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
            if let Some(cap) = prize.daily_cap {
                if cap > prize.stock {
                    problem(
                        at("daily_cap"),
                        format!("{cap} exceeds the total stock {}", prize.stock),
                    );
                }
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
        if let Some(fallback) = file.out_of_stock.as_deref() {
            if fallback != "no_prize" && !file.prizes.iter().any(|p| p.id == fallback) {
                problem(
                    "out_of_stock".into(),
                    format!("`{fallback}` is neither `no_prize` nor a prize id"),
                );
            }
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

        if let Some(policy) = file.level_downgrade {
            if policy.keep_percent >= 100 {
                problem(
                    "level_downgrade.keep_percent".into(),
                    "must be 0 to 99 (100 would never downgrade)".into(),
                );
            }
        }
        problems.extend(mall::problems(&file.mall, file.levels.len()));
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

    /// Whether scans are accepted at `now`: from `starts_at` up to, not including, `ends_at`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// The campaign day `now` falls on, in the campaign's time zone (`2026-11-23`):
    /// daily limits and caps reset at local midnight, not UTC midnight.
    pub fn day(&self, now: Timestamp) -> jiff::civil::Date {
        self.timezone.to_datetime(now).date()
    }

    /// The level (0-based) a member with this much growth has reached.
    pub fn level_for(&self, growth: u64) -> usize {
        self.file
            .levels
            .iter()
            .rposition(|level| level.min_growth <= growth)
            .unwrap_or(0)
    }

    /// The odds of every level as cumulative bounds.
    pub fn odds_table(&self) -> OddsTable {
        OddsTable::new(self.file.levels.len(), &self.file.prizes)
    }

    /// The definition as JSON, the form kept in Postgres.
    pub fn definition_json(&self) -> String {
        serde_json::to_string(&self.file).unwrap_or_default()
    }
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn is_slug(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
