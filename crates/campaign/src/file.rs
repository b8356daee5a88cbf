//! The campaign file's shape: what a marketing team writes, as serde reads it. The
//! rules it must meet are in `rules`; this is only the vocabulary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::MallItem;
use crate::{ArchitectureRules, Boost};

/// What a prize is paid in; decides the unit of `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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

/// How a prize's stock is released over the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// Brand-chosen display name.
    pub name: String,
    /// Growth needed to reach it; 0 for the first level, strictly increasing.
    pub min_growth: u64,
}

/// A prize with its stock and its odds per level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
    /// (extension key; see [`crate::Campaign::available_stock`]).
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
    /// Redis hash tags the campaign is spread over (extension key; see [`crate::lanes`]):
    /// 1, the default, is one tag; more let one campaign use several cluster masters.
    #[serde(default = "one_lane", skip_serializing_if = "is_one_lane")]
    pub lanes: u16,
    /// Days after winning (or buying) that a physical prize may be claimed with a
    /// shipping address; after them it has expired (extension key, default 30).
    #[serde(default = "claim_window", skip_serializing_if = "is_claim_window")]
    pub claim_days: u32,
    /// Rules per member architecture, by architecture id (extension key; see
    /// [`crate::ArchitectureRules`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub architectures: BTreeMap<String, ArchitectureRules>,
}

/// The claim window when the file names none.
pub const DEFAULT_CLAIM_DAYS: u32 = 30;

fn claim_window() -> u32 {
    DEFAULT_CLAIM_DAYS
}

fn is_claim_window(days: &u32) -> bool {
    *days == DEFAULT_CLAIM_DAYS
}

fn one_lane() -> u16 {
    1
}

fn is_one_lane(lanes: &u16) -> bool {
    *lanes == 1
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}
