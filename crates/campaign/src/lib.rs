//! Campaigns: the rules a brand configures, checked before anything is stored.
//!
//! A campaign file is written by a marketing team and can move real money, so it is
//! refused whole when anything is wrong, and the refusal lists *every* problem with
//! its path (`prizes[1].odds[3]`) so the file can be fixed in one pass. This crate
//! does no IO: it turns TOML text into a [`Campaign`] or a list of [`Problem`]s.

mod architectures;
mod audit;
mod board;
mod calendar;
mod change;
mod draw;
mod file;
pub mod lanes;
mod levels;
mod mall;
mod parse;
pub mod request;
mod rules;
mod seal;
mod stock;

pub use architectures::{ArchitectureRules, Rebate};
pub use audit::{AuditedDraw, RecordedDraw, audit};
pub use board::{MAX_BOARD_SCANS, Month, board_scans, board_score};
pub use calendar::{Boost, MAX_BOOST_PERCENT, Multipliers};
pub use change::Progress;
pub use draw::{BadDrawSecret, DrawSecret, OddsTable, Role};
pub use file::{
    CampaignFile, Diversion, DowngradePeriod, Level, LevelDowngrade, Pacing, Prize, PrizeKind,
};
pub use mall::{MallItem, Refusal};
pub use seal::{DrawKeyError, DrawKeyRing, SEALED_LEN, UnsealError};

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

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

    /// Whether scans are accepted at `now`: from `starts_at` up to, not including, `ends_at`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// The campaign day `now` falls on, in the campaign's time zone (`2026-11-23`):
    /// daily limits and caps reset at local midnight, not UTC midnight.
    pub fn day(&self, now: Timestamp) -> jiff::civil::Date {
        self.timezone.to_datetime(now).date()
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

#[cfg(test)]
mod tests;
