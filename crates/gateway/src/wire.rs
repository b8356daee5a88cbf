//! Every body the gateway answers with, as a type. The OpenAPI document is generated
//! from these same types, so a client generated from it reads every answer, and
//! schemathesis (run by `deploy/dev/test.sh`) checks each answer against them.

use serde::Serialize;
use std::collections::BTreeMap;
use strum::{IntoStaticStr, VariantArray};
use utoipa::ToSchema;

use yima_campaign::{ArchitectureRules, Boost, Level, Prize, PrizeKind};

use crate::limits::Scope;
use crate::status::ScanStatus;

/// Every error code an answer's `error` carries: the one list handlers pick from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, IntoStaticStr, VariantArray)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed; `detail` says how.
    BadRequest,
    /// Forged, tampered, malformed or unregistered code: one body for all of them.
    InvalidCode,
    /// Missing or invalid credential.
    Unauthorized,
    /// A valid credential used where it may not act (another member, or a route
    /// for another kind of caller).
    Forbidden,
    /// Body over the route's limit.
    PayloadTooLarge,
    /// A rate limit: `scope` says which, `retry_after_seconds` when to try again.
    RateLimited,
    /// A campaign file failed validation: `problems` lists every one.
    InvalidCampaign,
    /// The stored campaign does not accept this edit: `problems` lists why.
    RefusedChange,
    /// The campaign was edited meanwhile: apply again.
    CampaignChanged,
    /// Redis or Postgres failed; the log has the details.
    Unavailable,
    /// No such path.
    NotFound,
    /// The path exists, the method does not (`Allow` names the one that does).
    MethodNotAllowed,
    /// The member has no state in the campaign yet.
    UnknownMember,
    /// No such campaign on this gateway.
    UnknownCampaign,
    /// No such mall item.
    UnknownItem,
    /// No such batch.
    UnknownBatch,
    /// The campaign offers no sign-in task.
    NoSignIn,
    /// This gateway does not export metrics.
    MetricsDisabled,
    /// The campaign is not open now.
    CampaignClosed,
    /// The mall item is sold out.
    OutOfStock,
    /// Not enough settled points.
    InsufficientPoints,
    /// The member's level is below the item's.
    LevelTooLow,
    /// The purchase's request id was used for another purchase.
    RequestIdReused,
    /// This gateway takes no registrations (no invite secret is configured).
    NoRegistration,
    /// The invite is forged, tampered with, or for no architecture of this brand.
    InvalidInvite,
    /// The invite has expired.
    InviteExpired,
    /// The member is registered in another architecture.
    AlreadyRegistered,
    /// No such claim.
    UnknownClaim,
    /// An upload of shipments failed validation: `problems` lists every line.
    InvalidShipments,
    /// The claim is not in the state this step starts from, or was shipped with other
    /// values.
    ClaimConflict,
}

impl ErrorCode {
    /// The code as clients see it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One problem of a campaign file, at its path.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody<'a> {
    /// Where in the file: `prizes[1].odds[3]`; empty for the whole file.
    pub path: &'a str,
    /// What is wrong.
    pub message: &'a str,
}

/// Every error answer: the code, and what the code needs to be acted on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong.
    pub error: ErrorCode,
    /// With `bad_request`: what is wrong with the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    /// With `rate_limited`: which limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// With `rate_limited`: whole seconds until one more scan is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// With `invalid_campaign` and `refused_change`: every problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<ProblemBody<'a>>>,
}

impl ErrorBody<'_> {
    /// A body carrying nothing but its code.
    pub fn of(error: ErrorCode) -> Self {
        Self {
            error,
            detail: None,
            scope: None,
            retry_after_seconds: None,
            problems: None,
        }
    }
}

/// A prize a scan won, from the campaign's prize list (its current name). In the order
/// answers stored by earlier builds have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WonPrize<'a> {
    /// The prize id.
    pub id: &'a str,
    /// Item, cash or points.
    pub kind: PrizeKind,
    /// Its display name.
    pub name: &'a str,
    /// Fen for items and cash, points for points.
    pub value: u64,
}

/// Every `200` answer to a scan. A first scan's (`won`, `rebate`, `no_prize`) is
/// rendered from the values the scan script stores (Redis, then Postgres), so a retry
/// answers the same bytes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanAnswer<'a> {
    /// How the scan ended (a retry answers the first scan's status).
    pub status: ScanStatus,
    /// The scan's id: one per code and role, the award's idempotency key.
    pub scan_id: &'a str,
    /// The prize won, or `null`.
    pub prize: Option<WonPrize<'a>>,
    /// Points this scan credited.
    pub points_awarded: i64,
    /// The member's points after it.
    pub points: i64,
    /// The member's level after it, from 1.
    pub level: usize,
}

/// `GET /v1/members/{member}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView<'a> {
    /// The member id.
    pub member: &'a str,
    /// Spendable points (settled and hot).
    pub points: i64,
    /// Level progress.
    pub growth: i64,
    /// Level reached, from 1.
    pub level: usize,
    /// The level's display name.
    pub level_name: Option<&'a str>,
    /// Growth the next level needs; `null` at the top.
    pub next_level_growth: Option<u64>,
    /// Redeemed scans.
    pub scans: i64,
}

/// `GET /v1/me`: who the token names, and where they stand in each campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me<'a> {
    /// The member id (the token's `sub`).
    pub member: &'a str,
    /// The registry's record; `null` until the member registers.
    pub registration: Option<Registration<'a>>,
    /// Every campaign the gateway serves, by id.
    pub campaigns: Vec<MemberCampaign<'a>>,
}

/// A member's standing in one campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCampaign<'a> {
    /// The campaign's id.
    pub campaign: &'a str,
    /// Its display name.
    pub name: &'a str,
    /// Points, growth, level and scans there.
    #[serde(flatten)]
    pub standing: MemberView<'a>,
}

/// A prize as a history names it; `kind` and `value` are left out if the campaign
/// file no longer lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPrize {
    /// The prize id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Item, cash or points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<PrizeKind>,
    /// Fen for items and cash, points for points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<u64>,
}

/// A settled scan, as its member reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanItem {
    /// The scan's id.
    pub scan_id: String,
    /// When, RFC 3339 in the campaign's zone.
    pub at: String,
    /// `consumer` or `dealer`.
    pub role: String,
    /// `won`, `rebate` (a fixed award for the SKU, no draw) or `no_prize`.
    pub status: &'static str,
    /// What it won.
    pub prize: Option<HistoryPrize>,
    /// Points it credited.
    pub points: i64,
    /// Growth it credited.
    pub growth: i64,
    /// Where it was scanned, if the scanner said.
    pub region: Option<String>,
}

/// A prize won.
#[derive(Debug, Serialize, ToSchema)]
pub struct AwardItem {
    /// The scan that won it.
    pub scan_id: String,
    /// When, RFC 3339 in the campaign's zone.
    pub at: String,
    /// The prize.
    pub prize: HistoryPrize,
    /// A cash prize's payout: `pending`, `delivered` or `failed`; `null` for others.
    pub payout: Option<String>,
    /// When the payout was delivered.
    pub paid_at: Option<String>,
}

/// One change of the member's points or growth.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerItem {
    /// When, RFC 3339 in the campaign's zone.
    pub at: String,
    /// Points added; negative when spent.
    pub points: i64,
    /// Growth added; negative after a level downgrade.
    pub growth: i64,
    /// `scan`, `sign_in`, `mall` or `downgrade`.
    pub reason: String,
    /// What caused it (the scan id, the sign-in day, the purchase).
    pub source: String,
}

/// A page of a keyset-paged list: `GET /v1/me/scans`, `/awards` and `/ledger`
/// (newest first), `GET /v1/admin/members` (in member order).
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// In the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A registered member: profile, architecture, channel, tags.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registration<'a> {
    /// The member id.
    pub member: &'a str,
    /// The architecture's id.
    pub architecture: &'a str,
    /// Its display name; `null` if the brand no longer lists it.
    pub architecture_name: Option<&'a str>,
    /// Where the member's invite was handed out.
    pub channel: &'a str,
    /// Display name.
    pub nickname: Option<&'a str>,
    /// Region code.
    pub region: Option<&'a str>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<&'a str>,
    /// The phone, masked (`138****5678`): yima keeps no readable number.
    pub phone: Option<&'a str>,
    /// Tags, sorted.
    pub tags: &'a [String],
    /// When, ms since the epoch.
    pub registered_at_ms: i64,
    /// Blocked: scans answer `blocked`.
    pub blocked: bool,
}

/// Whether a registration created the member.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationResult {
    /// A new member.
    Registered,
    /// A repeat: already registered in this architecture, nothing changed.
    AlreadyRegistered,
}

/// `POST /v1/me/register`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered<'a> {
    /// Created or repeated.
    pub status: RegistrationResult,
    /// The member as registered.
    #[serde(flatten)]
    pub registration: Registration<'a>,
}

/// `POST /v1/admin/invites`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteMade<'a> {
    /// The signed invite: put it in the architecture's registration link.
    pub invite: String,
    /// The architecture it joins.
    pub architecture: &'a str,
    /// Where it is handed out.
    pub channel: &'a str,
    /// When it stops working; `null`: never.
    pub expires_at: Option<&'a str>,
}

/// `POST /v1/admin/members/{member}/tags`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retagged<'a> {
    /// The member.
    pub member: &'a str,
    /// Its tags now, sorted.
    pub tags: Vec<String>,
}

/// `POST /v1/admin/members/{member}/block` and `/unblock`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Blocked<'a> {
    /// The member.
    pub member: &'a str,
    /// Blocked now.
    pub blocked: bool,
    /// Whether this request changed it.
    pub changed: bool,
}

/// `POST /v1/dev/login` (the demo only).
#[derive(Debug, Serialize)]
pub struct DevToken {
    /// A member token (HS256), valid for 12 hours.
    pub token: String,
}

/// One place on a leaderboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardPlace {
    /// From 1.
    pub rank: usize,
    /// The member id.
    pub member: String,
    /// Scans in the month.
    pub scans: u64,
}

/// `GET /v1/campaigns/{id}/leaderboard`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Leaderboard<'a> {
    /// `YYYY-MM`.
    pub period: &'a str,
    /// The region asked for, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    /// Most scans first.
    pub entries: Vec<BoardPlace>,
}

/// What decided draws in one revision of a campaign, and from when.
#[derive(Debug, Serialize, ToSchema)]
pub struct OddsRevision {
    /// The revision number, from 1.
    pub revision: i32,
    /// When gateways began drawing with it (RFC 3339).
    pub effective_at: String,
    /// Its levels.
    pub levels: Vec<Level>,
    /// Its prizes, with odds per level and stock.
    pub prizes: Vec<Prize>,
    /// Its calendar boosts.
    pub boosts: Vec<Boost>,
    /// `no_prize` or the prize given when the drawn one is unavailable.
    pub out_of_stock: String,
    /// Its rules per member architecture: levels, points, odds and rebates that differ
    /// from the campaign's own.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub architectures: BTreeMap<String, ArchitectureRules>,
}

/// `GET /v1/campaigns/{id}`: the public campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView<'a> {
    /// The campaign id.
    pub id: &'a str,
    /// Display name.
    pub name: &'a str,
    /// RFC 3339.
    pub starts_at: &'a str,
    /// RFC 3339.
    pub ends_at: &'a str,
    /// IANA zone of its days.
    pub timezone: &'a str,
    /// The revision this gateway serves.
    pub revision: i32,
    /// Points per scan.
    pub points_per_scan: u32,
    /// Growth per scan.
    pub growth_per_scan: u32,
    /// Scans per member, role and day.
    pub daily_scan_limit: u32,
    /// Levels now.
    pub levels: &'a [Level],
    /// Prizes now.
    pub prizes: &'a [Prize],
    /// `no_prize` or the substitute prize.
    pub out_of_stock: &'a str,
    /// Rules per member architecture now, where they differ from the campaign's own.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub architectures: &'a BTreeMap<String, ArchitectureRules>,
    /// SHA-256 of the draw secret, published before the first scan.
    pub draw_commitment: String,
    /// The draw secret, once the campaign has ended; `null` before.
    pub draw_secret: Option<String>,
    /// Every revision of the odds, oldest first.
    pub revisions: Vec<OddsRevision>,
}

/// A prize's live counters.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrizeStats<'a> {
    /// The prize id.
    pub id: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Total stock.
    pub stock: i64,
    /// Awarded so far.
    pub awarded: i64,
    /// Stock left.
    pub remaining: i64,
}

/// Redeemed scans of one region.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionScans {
    /// The region (the scanner's, else the batch's).
    pub region: String,
    /// Redeemed scans.
    pub scans: i64,
}

/// `GET /v1/campaigns/{id}/stats`: live counters from Redis.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats<'a> {
    /// Redeemed scans.
    pub scans: i64,
    /// Scans that won.
    pub wins: i64,
    /// Redeemed scans from outside their batch's region.
    pub diverted: i64,
    /// Diverted scans refused.
    pub diverted_refused: i64,
    /// Per prize.
    pub prizes: Vec<PrizeStats<'a>>,
    /// Per region, most first.
    pub regions: Vec<RegionScans>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Overall readiness.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Everything answers.
    Ready,
    /// Scans are served; Postgres does not answer.
    Degraded,
    /// Redis does not answer or the catalog is loading.
    NotReady,
}

/// Whether a dependency answers.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    /// It answered.
    Ok,
    /// It did not.
    Unreachable,
}

impl From<bool> for Reachability {
    fn from(answered: bool) -> Self {
        if answered {
            Self::Ok
        } else {
            Self::Unreachable
        }
    }
}

/// Whether the catalog is in memory.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatalogState {
    /// Campaigns and batches are loaded.
    Loaded,
    /// Not yet.
    Loading,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Overall.
    pub status: Readiness,
    /// Redis.
    pub redis: Reachability,
    /// Postgres.
    pub postgres: Reachability,
    /// The in-memory catalog.
    pub catalog: CatalogState,
    /// Campaigns served.
    pub campaigns: usize,
}

/// What applying a campaign file did.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyResult {
    /// A new campaign.
    Created,
    /// A new revision.
    Updated,
    /// The same file again: nothing changed.
    Unchanged,
}

/// `POST /v1/admin/campaigns`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Applied<'a> {
    /// The campaign id.
    pub campaign: &'a str,
    /// What happened.
    pub result: ApplyResult,
    /// The revision written; `null` when unchanged.
    pub revision: Option<i32>,
}

/// `POST /v1/admin/batches`: the batch created.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchCreated {
    /// The id written into its codes.
    pub id: u32,
    /// Its campaign.
    pub campaign: String,
    /// Its product.
    pub sku: String,
    /// Number of codes.
    pub count: u32,
    /// Where it ships, if known.
    pub region: Option<String>,
    /// The code key its codes are signed with.
    pub key_id: u8,
}

/// `POST /v1/admin/batches/{id}/void`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Voided {
    /// The batch id.
    pub id: u32,
    /// Always `void`.
    #[schema(example = "void")]
    pub status: &'static str,
}

/// A settled scan from outside its batch's region.
#[derive(Debug, Serialize, ToSchema)]
pub struct DivertedScan {
    /// The scan id.
    pub scan_id: String,
    /// Member id.
    pub member: String,
    /// `consumer` or `dealer`.
    pub role: String,
    /// Where the scanner was.
    pub region: String,
    /// Where the batch was shipped.
    pub batch_region: String,
    /// Batch of the code.
    pub batch: i64,
    /// Serial of the code.
    pub serial: i64,
    /// Gateway time, ms since the epoch.
    pub at_ms: i64,
}

impl From<yima_ledger::DivertedScan> for DivertedScan {
    fn from(scan: yima_ledger::DivertedScan) -> Self {
        Self {
            scan_id: scan.scan_id,
            member: scan.member,
            role: scan.role,
            region: scan.region,
            batch_region: scan.batch_region,
            batch: scan.batch,
            serial: scan.serial,
            at_ms: scan.at_ms,
        }
    }
}

/// `GET /v1/admin/campaigns/{id}/diversions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Diversions {
    /// All settled diverted scans.
    pub total: i64,
    /// The newest of them.
    pub scans: Vec<DivertedScan>,
}

/// `POST /v1/members/{member}/redeem`: stored with the purchase, so a repeated request
/// id answers these same bytes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redeemed<'a> {
    /// Always `redeemed`.
    #[schema(example = "redeemed")]
    pub status: &'static str,
    /// The purchase's request id.
    pub request_id: &'a str,
    /// The item bought.
    pub item: &'a str,
    /// Points paid.
    pub price_paid: i64,
    /// Points left.
    pub points: i64,
}

/// Whether a sign-in credited points.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignInResult {
    /// The first today: points credited.
    SignedIn,
    /// Signed in already today: nothing credited.
    AlreadySignedIn,
}

/// `POST /v1/members/{member}/sign-in`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    /// What happened.
    pub status: SignInResult,
    /// The campaign day, `YYYY-MM-DD`.
    pub day: String,
    /// Points credited now.
    pub points_awarded: i64,
    /// Points after it.
    pub points: i64,
}

/// One member on the dashboard's leaderboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopScanner {
    /// The member id.
    pub member: String,
    /// Scans in the month.
    pub scans: u64,
}

/// A flagged scan on the dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlaggedScan {
    /// Member id.
    pub member: String,
    /// `consumer` or `dealer`.
    pub role: String,
    /// Where the scanner was.
    pub region: String,
    /// Where the batch was shipped.
    pub batch_region: String,
    /// Gateway time, ms since the epoch.
    pub at_ms: i64,
}

/// Settled diverted scans, for the dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct Flagged {
    /// How many in all.
    pub settled: i64,
    /// The newest.
    pub newest: Vec<FlaggedScan>,
}

/// `GET /dashboard/data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardData<'a> {
    /// The campaign id.
    pub campaign: &'a str,
    /// Its display name.
    pub name: &'a str,
    /// Gateway time of this read, ms since the epoch.
    pub at_ms: i64,
    /// Live counters.
    pub stats: Stats<'a>,
    /// This month, `YYYY-MM`.
    pub period: &'a str,
    /// This month's top ten.
    pub leaderboard: Vec<TopScanner>,
    /// Diverted scans.
    pub flagged: Flagged,
}

/// A time in milliseconds since the epoch as RFC 3339 in UTC, as the JSON and CSV
/// answers carry times ("" for one outside jiff's range, which no stored time is).
pub(crate) fn utc_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|at| at.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_have_one_name_for_clients_and_for_serde() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::VARIANTS {
            assert_eq!(
                serde_json::to_value(code).expect("serialises"),
                code.as_str()
            );
            assert!(seen.insert(code.as_str()), "{code:?}");
        }
    }

    #[test]
    fn a_bare_error_body_is_its_code_alone() {
        let body = serde_json::to_string(&ErrorBody::of(ErrorCode::InvalidCode)).expect("body");
        assert_eq!(body, crate::INVALID_CODE_BODY);
    }
}
