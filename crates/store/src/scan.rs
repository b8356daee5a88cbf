//! The typed face of `scan.lua`.

use yima_campaign::lanes::{code_lane, lane_share, lane_tag, member_lane};
use yima_campaign::{Campaign, Multipliers, OddsTable, PrizeKind, Role};

use crate::answer::{Answer, Stored};
use crate::event::EventContext;
use crate::{EVENT_VERSION, Store, StoreError};

/// A campaign revision compiled into the script's arguments once, so a scan only
/// appends the per-scan values.
#[derive(Debug, Clone)]
pub struct ScanTable {
    campaign: String,
    revision: i32,
    fallback: usize,
    lanes: u16,
    prizes: Vec<PrizeArgs>,
    /// One per rule set of the campaign (see `Campaign::rules_of`), its own first.
    rules: Vec<RuleArgs>,
}

#[derive(Debug, Clone)]
struct PrizeArgs {
    id: String,
    stock: u64,
    daily_cap: i64,
    kind: &'static str,
    value: u64,
}

/// What differs between rule sets: levels, odds, points and growth.
#[derive(Debug, Clone)]
struct RuleArgs {
    /// The architecture, for the event (`None`: the campaign's own rules).
    architecture: Option<String>,
    /// The draw per level, done in the gateway: the script gets what it drew.
    odds: OddsTable,
    levels: usize,
    growth_per_scan: u32,
    daily_limit: u32,
    /// `scan.lua` with this rule set's constants baked in (see [`bake`]).
    script: redis::Script,
}

/// The scan script's template (`lua/scan.lua`); [`bake`] fills its placeholders.
const SCAN: &str = include_str!("lua/scan.lua");

/// `scan.lua` for one rule set: its daily limit, points, growth, level thresholds and
/// whether the campaign has lanes written into the source rather than passed per call,
/// where each argument and its `tonumber` cost Redis about as much as a small command.
/// A campaign revision has one script per rule set, and an unchanged rule set bakes to
/// the same text (the same SHA1), so Redis's script cache, which Redis 7.0 never
/// evicts, grows only with edits of these constants; `SCRIPT FLUSH` is safe at any time
/// (a scan reloads on `NOSCRIPT`).
fn bake(
    daily_limit: u32,
    points_per_scan: u32,
    growth_per_scan: u32,
    thresholds: &[u64],
    laned: bool,
) -> String {
    let levels = thresholds.len() + 1;
    SCAN.replace("{{limit}}", &daily_limit.to_string())
        .replace("{{points}}", &points_per_scan.to_string())
        .replace("{{growth}}", &growth_per_scan.to_string())
        .replace("{{levels}}", &levels.to_string())
        .replace("{{quiet}}", &"0".repeat(levels + PLAN_TAIL))
        .replace("{{laned}}", if laned { "true" } else { "false" })
        .replace("{{level}}", &raise_level("level", thresholds))
        .replace("{{after}}", &raise_level("after", thresholds))
}

/// Digits of a scan's plan after its per-level ones: fallback, rebate, diverted, borrow.
const PLAN_TAIL: usize = 4;

/// Nested ifs setting `variable` and `<variable>_text` (1 and '1' before them) to the
/// highest level whose minimum growth `growth` reaches: `thresholds` are those of
/// levels 2, 3, … in ascending order, so level i + 1 is tested only once level i is
/// reached. The text is baked too: a `string.format` per call costs more than the test.
fn raise_level(variable: &str, thresholds: &[u64]) -> String {
    let mut code = String::new();
    for (index, threshold) in thresholds.iter().enumerate() {
        let level = index + 2;
        code.push_str(&format!(
            "if growth >= {threshold} then {variable}, {variable}_text = {level}, '{level}' "
        ));
    }
    for _ in thresholds {
        code.push_str("end ");
    }
    code.trim_end().to_string()
}

impl ScanTable {
    /// Compiles a validated campaign at a revision.
    pub fn new(campaign: &Campaign, revision: i32) -> Self {
        Self::boosted(campaign, revision, Multipliers::NONE)
    }

    /// Compiles a campaign revision as it applies on days with these boosts.
    pub fn boosted(campaign: &Campaign, revision: i32, multipliers: Multipliers) -> Self {
        let file = &campaign.file;
        let rules = (0..campaign.rule_sets())
            .map(|rules| {
                let table = campaign.boosted_odds_table(rules, multipliers);
                let levels = campaign.levels_in(rules);
                let thresholds: Vec<u64> = levels.iter().skip(1).map(|l| l.min_growth).collect();
                let growth_per_scan = campaign.growth_per_scan_in(rules);
                let daily_limit = campaign.daily_scan_limit_in(rules);
                let script = bake(
                    daily_limit,
                    campaign.points_per_scan(rules, multipliers),
                    growth_per_scan,
                    &thresholds,
                    file.lanes > 1,
                );
                RuleArgs {
                    architecture: campaign.rules_name(rules).map(str::to_string),
                    odds: table,
                    levels: levels.len(),
                    growth_per_scan,
                    daily_limit,
                    script: redis::Script::new(&script),
                }
            })
            .collect();
        let fallback = file
            .out_of_stock
            .as_deref()
            .and_then(|id| file.prizes.iter().position(|p| p.id == id))
            .map_or(0, |index| index + 1);
        let prizes = file
            .prizes
            .iter()
            .map(|prize| {
                let kind = match prize.kind {
                    PrizeKind::Item => "item",
                    PrizeKind::Cash => "cash",
                    PrizeKind::Points => "points",
                };
                PrizeArgs {
                    id: prize.id.clone(),
                    stock: prize.stock,
                    daily_cap: prize
                        .daily_cap
                        .map_or(-1, |cap| i64::try_from(cap).unwrap_or(i64::MAX)),
                    kind,
                    value: prize.value,
                }
            })
            .collect();
        Self {
            campaign: file.id.clone(),
            revision,
            fallback,
            lanes: file.lanes,
            prizes,
            rules,
        }
    }

    /// The campaign id.
    pub fn campaign(&self) -> &str {
        &self.campaign
    }

    /// The revision it was compiled from.
    pub fn revision(&self) -> i32 {
        self.revision
    }

    /// Redis hash tags the campaign is spread over.
    pub fn lanes(&self) -> u16 {
        self.lanes
    }

    fn rules(&self, index: usize) -> Result<&RuleArgs, StoreError> {
        self.rules
            .get(index)
            .ok_or_else(|| StoreError::Protocol(format!("no rule set {index}")))
    }
}

/// One verified scan, ready for the script.
#[derive(Debug, Clone)]
pub struct ScanCall<'a> {
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// Who scans.
    pub role: Role,
    /// The member id.
    pub member: &'a str,
    /// The campaign day in its time zone, `YYYY-MM-DD`.
    pub day: &'a str,
    /// The deterministic scan id.
    pub scan_id: &'a str,
    /// The draw number, `0..1_000_000`.
    pub draw_number: u32,
    /// Per prize, in campaign order: how many may have been awarded by now (pacing).
    pub available: &'a [u64],
    /// Milliseconds since the epoch, as the gateway saw it.
    pub at_ms: i64,
    /// Where the scanner says it is, for anti-diversion.
    pub region: Option<&'a str>,
    /// The batch's region.
    pub batch_region: Option<&'a str>,
    /// The client's request id, kept for support.
    pub request_id: Option<&'a str>,
    /// The leaderboard month, `YYYY-MM` in the campaign's zone (for settlement, which
    /// counts the scan on the boards).
    pub period: &'a str,
    /// Milliseconds into that month: breaks leaderboard ties.
    pub ms_into_month: u32,
    /// The scanner's region differs from the batch's: counted as a diversion.
    pub diverted: bool,
    /// The campaign's rule set the member scans under (`Campaign::rules_of`).
    pub rules: usize,
    /// The prize (index) paid as the batch SKU's rebate under those rules, instead of a
    /// draw (`Campaign::rebate_in`).
    pub rebate: Option<usize>,
}

impl ScanCall<'_> {
    /// What the member's daily counter counts: the campaign day and the role, so a new
    /// day (or a role changed mid-day) starts from zero without a key per day.
    fn counted_day(&self) -> String {
        format!("{}:{}", self.day, self.role.as_str())
    }
}

/// What the script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// A new redemption; its answer is also stored for retries.
    Redeemed(Answer),
    /// The same member and role again: the stored answer.
    Retry(Stored),
    /// Someone else redeemed this code in this role.
    AlreadyRedeemed {
        /// The asking member's points.
        points: i64,
        /// The asking member's growth.
        growth: i64,
    },
    /// The member reached the daily limit; the code stays unredeemed.
    DailyLimit {
        /// The asking member's points.
        points: i64,
        /// The asking member's growth.
        growth: i64,
    },
    /// The code is redeemed and its answer settled and let go after the grace window:
    /// Postgres knows whose it was (a retry) or not (`already_redeemed`).
    Forgotten {
        /// The asking member's points.
        points: i64,
        /// The asking member's growth.
        growth: i64,
    },
}

/// Times a laned scan borrows stock for its drawn prize before taking what its lane has.
const MAX_BORROWS: usize = 3;

/// The first step of a laned scan, in the member's lane: retry, taken, daily limit, or the daily scan counted (`lua/reserve.lua`).
const RESERVE: &str = include_str!("lua/reserve.lua");

/// Gives back a reserved daily scan that did not become a redemption (`lua/unreserve.lua`).
const UNRESERVE: &str = include_str!("lua/unreserve.lua");

/// A code lane's claim, once per code and role across every lane (`lua/claim.lua`).
const CLAIM: &str = include_str!("lua/claim.lua");

/// Lends half of what a lane's allotment has left to a lane that ran dry, taking first (`lua/lend.lua`).
const LEND: &str = include_str!("lua/lend.lua");

/// Records a revision's stock of a prize in the bank, once per revision and never an older one (`lua/bank.lua`).
const BANK: &str = include_str!("lua/bank.lua");

/// Pays out what the bank owes the lanes, paying first (`lua/pay.lua`).
const PAY: &str = include_str!("lua/pay.lua");

/// Takes from what a lane's allotment has left, never what it awarded, taking first (`lua/take.lua`).
const TAKE: &str = include_str!("lua/take.lua");

/// Gives up the allotment lease if this process still holds it (`lua/release.lua`).
const RELEASE: &str = include_str!("lua/release.lua");

/// How long a process may hold the allotment lease before another takes over.
const ALLOT_LEASE_MS: u64 = 30_000;

/// The lane scripts, hashed once (a scan must not hash a script per call).
pub(crate) struct LaneScripts {
    reserve: redis::Script,
    unreserve: redis::Script,
    claim: redis::Script,
    lend: redis::Script,
    bank: redis::Script,
    pay: redis::Script,
    take: redis::Script,
    release: redis::Script,
}

impl Default for LaneScripts {
    fn default() -> Self {
        Self {
            reserve: redis::Script::new(RESERVE),
            unreserve: redis::Script::new(UNRESERVE),
            claim: redis::Script::new(CLAIM),
            lend: redis::Script::new(LEND),
            bank: redis::Script::new(BANK),
            pay: redis::Script::new(PAY),
            take: redis::Script::new(TAKE),
            release: redis::Script::new(RELEASE),
        }
    }
}

impl Store {
    /// Runs a scan: for a one-lane campaign the scan script, one round trip, atomic.
    /// Across lanes: the daily limit reserved in the member's lane, the code claimed in
    /// its lane, then the script in the member's lane. A member at the limit never
    /// holds a claim, so nobody is told `already_redeemed` for a code that stays free.
    pub async fn scan(
        &self,
        table: &ScanTable,
        call: &ScanCall<'_>,
    ) -> Result<ScanOutcome, StoreError> {
        if table.lanes <= 1 {
            let tag = table.campaign.as_str();
            return match self.run_scan(table, call, tag, false).await? {
                Reply::Outcome(outcome) => Ok(outcome),
                other => Err(StoreError::Protocol(format!(
                    "unexpected scan reply {other:?}"
                ))),
            };
        }
        self.scan_laned(table, call).await
    }

    async fn scan_laned(
        &self,
        table: &ScanTable,
        call: &ScanCall<'_>,
    ) -> Result<ScanOutcome, StoreError> {
        let (campaign, lanes) = (table.campaign.as_str(), table.lanes);
        let rules = table.rules(call.rules)?;
        self.ensure_allotments(table).await?;
        let (code_lane, bit) = code_lane(call.serial, lanes);
        let code_tag = lane_tag(campaign, lanes, code_lane);
        let own_lane = member_lane(call.member, lanes);
        let member_tag = lane_tag(campaign, lanes, own_lane);
        let bitmap = self.keys.redeemed(&code_tag, call.batch, call.role);
        let claim_key = self
            .keys
            .claim(&code_tag, call.batch, call.serial, call.role);
        let member_key = self.keys.member(&member_tag, call.member);
        let counted = call.counted_day();
        let mut connection = self.connection.clone();
        let reserved: redis::Value = self
            .lane_scripts
            .reserve
            .key(
                self.keys
                    .result(&member_tag, call.batch, call.serial, call.role),
            )
            .key(&member_key)
            .arg(call.member)
            .arg(rules.daily_limit)
            .arg(&counted)
            .invoke_async(&mut connection)
            .await?;
        match parse_reply(reserved)? {
            Reply::Outcome(outcome @ (ScanOutcome::Retry(_) | ScanOutcome::DailyLimit { .. })) => {
                return Ok(outcome);
            }
            Reply::Taken => return self.taken(&member_tag, call.member, false).await,
            Reply::Reserved => {}
            other => {
                return Err(StoreError::Protocol(format!(
                    "unexpected reservation {other:?}"
                )));
            }
        }
        let unreserve = || async {
            let _: i64 = self
                .lane_scripts
                .unreserve
                .key(&member_key)
                .arg(&counted)
                .invoke_async(&mut self.connection.clone())
                .await?;
            Ok::<_, StoreError>(())
        };
        let claim: String = self
            .lane_scripts
            .claim
            .key(&bitmap)
            .key(&claim_key)
            .arg(bit)
            .arg(call.member)
            .invoke_async(&mut connection)
            .await?;
        if claim == "taken" || claim == "forgotten" {
            unreserve().await?;
            return self
                .taken(&member_tag, call.member, claim == "forgotten")
                .await;
        }
        // Borrowing while allowed and useful; the last attempt takes what the lane has.
        let mut may_borrow = true;
        for attempt in 0..=MAX_BORROWS {
            let borrow = may_borrow && attempt < MAX_BORROWS;
            match self.run_scan(table, call, &member_tag, borrow).await? {
                Reply::Dry(prize) => may_borrow = self.borrow(table, &prize, own_lane).await?,
                // This member's other request for the code redeemed it first.
                Reply::Outcome(outcome @ ScanOutcome::Retry(_)) => {
                    unreserve().await?;
                    return Ok(outcome);
                }
                Reply::Outcome(outcome) => return Ok(outcome),
                other => {
                    return Err(StoreError::Protocol(format!(
                        "unexpected scan reply {other:?}"
                    )));
                }
            }
        }
        Err(StoreError::Protocol(
            "a scan taking what its lane has answered `dry`".into(),
        ))
    }

    /// `already_redeemed` (or `forgotten`: whose it was is for Postgres to say), with
    /// the asking member's balance.
    async fn taken(
        &self,
        member_tag: &str,
        member: &str,
        forgotten: bool,
    ) -> Result<ScanOutcome, StoreError> {
        let state = self.member(member_tag, member).await?.unwrap_or_default();
        let (points, growth) = (state.points, state.growth);
        Ok(if forgotten {
            ScanOutcome::Forgotten { points, growth }
        } else {
            ScanOutcome::AlreadyRedeemed { points, growth }
        })
    }

    /// Moves stock of `prize` into `lane` from the first other lane with some left;
    /// `false` when no lane has any.
    async fn borrow(&self, table: &ScanTable, prize: &str, lane: u16) -> Result<bool, StoreError> {
        let (campaign, lanes) = (table.campaign.as_str(), table.lanes);
        let mut connection = self.connection.clone();
        for step in 1..lanes {
            let donor = (lane + step) % lanes;
            let given: i64 = self
                .lane_scripts
                .lend
                .key(self.keys.awarded(&lane_tag(campaign, lanes, donor)))
                .arg(prize)
                .invoke_async(&mut connection)
                .await?;
            if given > 0 {
                let _: i64 = redis::AsyncCommands::hincr(
                    &mut connection,
                    self.keys.awarded(&lane_tag(campaign, lanes, lane)),
                    format!("allot:{prize}"),
                    given,
                )
                .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Brings every lane's allotments to this revision's stock, once per campaign
    /// revision and process; see [`Store::allot`].
    async fn ensure_allotments(&self, table: &ScanTable) -> Result<(), StoreError> {
        let done = (table.campaign.clone(), table.revision);
        if self.allotted.lock().is_ok_and(|set| set.contains(&done)) {
            return Ok(());
        }
        if self.allot(table).await?
            && let Ok(mut set) = self.allotted.lock()
        {
            set.insert(done);
        }
        Ok(())
    }

    /// Brings a laned campaign's allotments to the stock of `table`'s revision: the
    /// revision's stock is recorded in the bank (once, and never an older revision's),
    /// then what the bank owes is paid out to the lanes in even shares, or what it is
    /// owed (stock was lowered) is taken from what lanes have left, never from what
    /// they awarded. So allotments never sum to more than the stock, whatever the
    /// order of edits, gateways and scans; lowering stock below what is awarded leaves
    /// the shortfall owed, to be netted against a later raise. `false` when another
    /// process holds the lease and is moving stock now (call again later).
    pub async fn allot(&self, table: &ScanTable) -> Result<bool, StoreError> {
        let (campaign, lanes) = (table.campaign.as_str(), table.lanes);
        let lane_key = |lane: u16| self.keys.awarded(&lane_tag(campaign, lanes, lane));
        let bank = lane_key(0);
        let mut connection = self.connection.clone();
        let mut owed = Vec::with_capacity(table.prizes.len());
        for prize in &table.prizes {
            let mut legacy = String::new();
            loop {
                let reply: redis::Value = self
                    .lane_scripts
                    .bank
                    .key(&bank)
                    .arg(&prize.id)
                    .arg(table.revision)
                    .arg(prize.stock)
                    .arg(&legacy)
                    .invoke_async(&mut connection)
                    .await?;
                match parse_reply(reply)? {
                    Reply::Owed(amount) => {
                        owed.push((prize, amount));
                        break;
                    }
                    Reply::Unbanked if legacy.is_empty() => {
                        // The per-lane scheme allotted the sum of the lanes' shares.
                        let mut sum: u64 = 0;
                        for lane in 0..lanes {
                            let share: Option<u64> = redis::AsyncCommands::hget(
                                &mut connection,
                                lane_key(lane),
                                format!("share:{}", prize.id),
                            )
                            .await?;
                            sum += share.unwrap_or(0);
                        }
                        legacy = sum.to_string();
                    }
                    other => {
                        return Err(StoreError::Protocol(format!(
                            "unexpected bank reply {other:?}"
                        )));
                    }
                }
            }
        }
        if owed.iter().all(|(_, amount)| *amount == 0) {
            return Ok(true);
        }
        let lease = self.keys.allot_lease(&lane_tag(campaign, lanes, 0));
        // Unique to this attempt, so no other process can release it.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let token = format!("{}:{}:{nanos}", std::process::id(), table.revision);
        let acquired: Option<String> = redis::cmd("SET")
            .arg(&lease)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ALLOT_LEASE_MS)
            .query_async(&mut connection)
            .await?;
        if acquired.is_none() {
            return Ok(false);
        }
        for (prize, amount) in owed {
            if amount > 0 {
                let total = u64::try_from(amount).unwrap_or(0);
                for lane in 0..lanes {
                    let share = lane_share(total, lanes, lane);
                    if share == 0 {
                        continue;
                    }
                    let given: i64 = self
                        .lane_scripts
                        .pay
                        .key(&bank)
                        .arg(&prize.id)
                        .arg(share)
                        .invoke_async(&mut connection)
                        .await?;
                    if given > 0 {
                        let _: i64 = redis::AsyncCommands::hincr(
                            &mut connection,
                            lane_key(lane),
                            format!("allot:{}", prize.id),
                            given,
                        )
                        .await?;
                    }
                }
            } else if amount < 0 {
                let mut wanted = -amount;
                for lane in 0..lanes {
                    if wanted == 0 {
                        break;
                    }
                    let taken: i64 = self
                        .lane_scripts
                        .take
                        .key(lane_key(lane))
                        .arg(&prize.id)
                        .arg(wanted)
                        .invoke_async(&mut connection)
                        .await?;
                    if taken > 0 {
                        let _: i64 = redis::AsyncCommands::hincr(
                            &mut connection,
                            &bank,
                            format!("owed:{}", prize.id),
                            taken,
                        )
                        .await?;
                        wanted -= taken;
                    }
                }
            }
        }
        let _: i64 = self
            .lane_scripts
            .release
            .key(&lease)
            .arg(&token)
            .invoke_async(&mut connection)
            .await?;
        Ok(true)
    }

    /// The scan script on the keys of one tag (the campaign's, or a member lane's):
    /// an outcome, or `Dry` when a lane's allotment of the drawn prize is used up and
    /// `borrow` asks to hear it (rather than take the prize as out of stock).
    async fn run_scan(
        &self,
        table: &ScanTable,
        call: &ScanCall<'_>,
        tag: &str,
        borrow: bool,
    ) -> Result<Reply, StoreError> {
        let campaign = table.campaign.as_str();
        let rules = table.rules(call.rules)?;
        let keys = &self.keys;
        let mut invocation = rules.script.prepare_invoke();
        invocation
            .key(keys.redeemed(tag, call.batch, call.role))
            .key(keys.result(tag, call.batch, call.serial, call.role))
            .key(keys.member(tag, call.member))
            .key(keys.awarded(tag))
            .key(keys.awarded_on(tag, call.day))
            .key(keys.stats(tag))
            .key(keys.events(tag));
        let draw = Candidates::of(table, rules, call);
        let event = EventContext {
            v: EVENT_VERSION,
            scan_id: call.scan_id,
            campaign,
            revision: table.revision,
            batch: call.batch,
            serial: call.serial,
            role: call.role.as_str(),
            member: call.member,
            day: call.day,
            at_ms: call.at_ms,
            draw: call.draw_number,
            growth: i64::from(rules.growth_per_scan),
            architecture: rules.architecture.as_deref(),
            region: call.region,
            batch_region: call.batch_region,
            request_id: call.request_id,
            period: call.period,
            ms_into_month: call.ms_into_month,
        };
        invocation
            .arg(call.serial)
            .arg(call.member)
            .arg(call.counted_day())
            .arg(draw.plan(call.diverted, borrow)?)
            .arg(
                serde_json::to_string(&event)
                    .map_err(|e| StoreError::Protocol(format!("cannot encode the event: {e}")))?,
            )
            .arg(call.region.or(call.batch_region).unwrap_or(""));
        for index in draw.prizes {
            let (Some(prize), Some(available)) =
                (table.prizes.get(index), call.available.get(index))
            else {
                return Err(StoreError::Protocol(format!("no prize {index}")));
            };
            invocation
                .arg(&prize.id)
                .arg(*available)
                .arg(prize.daily_cap)
                .arg(prize.kind)
                .arg(prize.value);
        }
        let mut connection = self.connection.clone();
        let reply: redis::Value = invocation.invoke_async(&mut connection).await?;
        parse_reply(reply)
    }
}

/// The prizes one scan can award, found in the gateway so the script reads five
/// arguments per prize it may give rather than per prize of the campaign, and does
/// no draw: which prize the draw number picks at each level, the fallback for an
/// unavailable one, and the SKU's rebate. Positions are 1-based into `prizes`.
#[derive(Debug, PartialEq, Eq)]
struct Candidates {
    /// Campaign prize indexes, each once.
    prizes: Vec<usize>,
    /// Per level, the position the draw picked (0: nothing).
    per_level: Vec<usize>,
    fallback: usize,
    rebate: usize,
}

impl Candidates {
    /// The script's plan argument (see `scan.lua`): a digit per level, then the
    /// fallback, the rebate, diverted and borrow, so most scans pass all zeros.
    fn plan(&self, diverted: bool, borrow: bool) -> Result<String, StoreError> {
        let positions = self.per_level.iter().chain([&self.fallback, &self.rebate]);
        let flags = [usize::from(diverted), usize::from(borrow)];
        positions
            .chain(flags.iter())
            .map(|&digit| {
                u32::try_from(digit)
                    .ok()
                    .and_then(|digit| char::from_digit(digit, 10))
                    .ok_or_else(|| {
                        StoreError::Protocol(format!("candidate {digit} is not one digit"))
                    })
            })
            .collect()
    }

    fn of(table: &ScanTable, rules: &RuleArgs, call: &ScanCall<'_>) -> Self {
        let mut prizes: Vec<usize> = Vec::new();
        let mut position = |index: Option<usize>| match index {
            None => 0,
            Some(index) => match prizes.iter().position(|&p| p == index) {
                Some(found) => found + 1,
                None => {
                    prizes.push(index);
                    prizes.len()
                }
            },
        };
        let rebate = position(call.rebate);
        let per_level = (0..rules.levels)
            .map(|level| {
                let drawn = rules.odds.pick(level, call.draw_number);
                position(drawn.filter(|_| rebate == 0))
            })
            .collect();
        let fallback = position(table.fallback.checked_sub(1));
        Self {
            prizes,
            per_level,
            fallback,
            rebate,
        }
    }
}

/// A script's answer: a scan's outcome, or a step of a laned scan.
#[derive(Debug)]
enum Reply {
    Outcome(ScanOutcome),
    /// The lane's allotment of this prize is used up.
    Dry(String),
    /// RESERVE: a member of the same lane redeemed the code.
    Taken,
    /// RESERVE: counted against the daily limit.
    Reserved,
    /// BANK: what the bank owes the lanes (negative: is owed).
    Owed(i64),
    /// BANK: written by the per-lane scheme; give the stock it allotted.
    Unbanked,
}

fn parse_reply(reply: redis::Value) -> Result<Reply, StoreError> {
    let reply = match reply {
        // The scan script's commonest reply, bare: a new redemption's answer.
        redis::Value::BulkString(answer) => {
            return std::str::from_utf8(&answer)
                .map_err(|e| e.to_string())
                .and_then(|answer| Answer::parse(answer).map_err(|e| e.to_string()))
                .map(|answer| Reply::Outcome(ScanOutcome::Redeemed(answer)))
                .map_err(StoreError::Protocol);
        }
        redis::Value::Array(items) => items,
        other => {
            return Err(StoreError::Protocol(format!(
                "unknown script reply {other:?}"
            )));
        }
    };
    let text = |value: Option<&redis::Value>| -> Result<String, StoreError> {
        value
            .map(redis::from_redis_value_ref::<String>)
            .transpose()
            .map_err(|e| StoreError::Protocol(e.to_string()))?
            .ok_or_else(|| StoreError::Protocol("short reply".into()))
    };
    let number = |value: Option<&redis::Value>| -> Result<i64, StoreError> {
        value
            .map(redis::from_redis_value_ref::<i64>)
            .transpose()
            .map_err(|e| StoreError::Protocol(e.to_string()))?
            .ok_or_else(|| StoreError::Protocol("short reply".into()))
    };
    let kind = text(reply.first())?;
    Ok(Reply::Outcome(match kind.as_str() {
        "dry" => return Ok(Reply::Dry(text(reply.get(1))?)),
        "taken" => return Ok(Reply::Taken),
        "reserved" => return Ok(Reply::Reserved),
        "owed" => return Ok(Reply::Owed(number(reply.get(1))?)),
        "unbanked" => return Ok(Reply::Unbanked),
        "retry" => ScanOutcome::Retry(
            Stored::parse(&text(reply.get(1))?).map_err(|e| StoreError::Protocol(e.to_string()))?,
        ),
        "forgotten" => ScanOutcome::Forgotten {
            points: number(reply.get(1))?,
            growth: number(reply.get(2))?,
        },
        "already_redeemed" => ScanOutcome::AlreadyRedeemed {
            points: number(reply.get(1))?,
            growth: number(reply.get(2))?,
        },
        "daily_limit" => ScanOutcome::DailyLimit {
            points: number(reply.get(1))?,
            growth: number(reply.get(2))?,
        },
        other => {
            return Err(StoreError::Protocol(format!(
                "unknown scan reply `{other}`"
            )));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAMPAIGN: &str = r#"
id = "c"
name = "c"
starts_at = "2026-01-01T00:00:00+08:00"
ends_at = "2026-12-31T00:00:00+08:00"
timezone = "Asia/Shanghai"
points_per_scan = 10
growth_per_scan = 10
daily_scan_limit = 10
out_of_stock = "pen"

[[levels]]
name = "one"
min_growth = 0

[[levels]]
name = "two"
min_growth = 100

[[levels]]
name = "three"
min_growth = 500

[[prizes]]
id = "phone"
name = "phone"
kind = "item"
value = 1
stock = 1
odds = [10, 0, 10]

[[prizes]]
id = "cup"
name = "cup"
kind = "item"
value = 1
stock = 1
odds = [0, 20, 10]

[[prizes]]
id = "pen"
name = "pen"
kind = "item"
value = 1
stock = 1
odds = [0, 0, 0]
"#;

    fn candidates(draw_number: u32, rebate: Option<usize>) -> Candidates {
        let campaign = Campaign::from_toml(CAMPAIGN).expect("valid");
        let table = ScanTable::new(&campaign, 1);
        let call = ScanCall {
            batch: 1,
            serial: 1,
            role: Role::Consumer,
            member: "m",
            day: "2026-06-01",
            scan_id: "s",
            draw_number,
            available: &[1, 1, 1],
            at_ms: 0,
            region: None,
            batch_region: None,
            request_id: None,
            period: "2026-06",
            ms_into_month: 0,
            diverted: false,
            rules: 0,
            rebate,
        };
        Candidates::of(&table, &table.rules[0], &call)
    }

    #[test]
    fn a_scan_carries_each_prize_it_can_award_once() {
        // Bounds per level: phone 10 / 0 / 10, then cup to 10 / 20 / 20.
        let at = |number, prizes: &[usize], per_level: &[usize]| {
            let found = candidates(number, None);
            assert_eq!(found.prizes, prizes, "{number}");
            assert_eq!(found.per_level, per_level, "{number}");
            assert_eq!(prizes.get(found.fallback - 1), Some(&2), "the pen, always");
            assert_eq!(found.rebate, 0);
        };
        at(5, &[0, 1, 2], &[1, 2, 1]);
        at(15, &[1, 2], &[0, 1, 1]);
        at(25, &[2], &[0, 0, 0]);
    }

    #[test]
    fn a_rebate_is_the_only_prize_drawn() {
        let found = candidates(5, Some(1));
        assert_eq!(found.prizes, [1, 2]);
        assert_eq!((found.rebate, found.fallback), (1, 2));
        assert_eq!(found.per_level, [0, 0, 0]);
    }

    #[test]
    fn a_plan_is_a_digit_per_level_then_fallback_rebate_diverted_and_borrow() {
        let found = candidates(5, Some(1));
        assert_eq!(found.plan(false, false).expect("plan"), "0002100");
        assert_eq!(found.plan(true, true).expect("plan"), "0002111");
        assert_eq!(
            candidates(5, None).plan(false, false).expect("plan"),
            "1213000"
        );
        let wide = Candidates {
            prizes: Vec::new(),
            per_level: vec![10],
            fallback: 0,
            rebate: 0,
        };
        assert!(matches!(
            wide.plan(false, false),
            Err(StoreError::Protocol(_))
        ));
    }

    /// Every reply a script can begin with, as `parse_reply` reads them (a new
    /// redemption's answer comes bare).
    const REPLY_TAGS: [&str; 9] = [
        "dry",
        "taken",
        "reserved",
        "owed",
        "unbanked",
        "retry",
        "already_redeemed",
        "daily_limit",
        "forgotten",
    ];

    fn tags_returned(script: &str) -> Vec<&str> {
        script
            .split("return {'")
            .skip(1)
            .filter_map(|rest| rest.split('\'').next())
            .collect()
    }

    #[test]
    fn every_reply_a_script_can_give_is_one_the_parser_reads() {
        let scripts = [SCAN, RESERVE, CLAIM, BANK];
        let returned: Vec<&str> = scripts.iter().flat_map(|s| tags_returned(s)).collect();
        assert!(returned.len() >= 9, "{returned:?}");
        for tag in &returned {
            assert!(REPLY_TAGS.contains(tag), "a script returns `{tag}`");
        }
        for tag in REPLY_TAGS {
            assert!(returned.contains(&tag), "no script returns `{tag}`");
            let reply = redis::Value::Array(vec![
                redis::Value::BulkString(tag.as_bytes().to_vec()),
                redis::Value::Int(0),
                redis::Value::Int(0),
            ]);
            assert!(
                !matches!(parse_reply(reply), Err(StoreError::Protocol(ref e)) if e.contains("unknown scan reply")),
                "the parser reads `{tag}`"
            );
        }
        let unknown = redis::Value::Array(vec![redis::Value::BulkString(b"maybe".to_vec())]);
        assert!(parse_reply(unknown).is_err());
        let answer = redis::Value::BulkString(b"won phone 10 110 2".to_vec());
        assert!(matches!(
            parse_reply(answer),
            Ok(Reply::Outcome(ScanOutcome::Redeemed(_)))
        ));
        let garbled = redis::Value::BulkString(b"won".to_vec());
        assert!(parse_reply(garbled).is_err());
    }

    #[test]
    fn levels_are_raised_by_nested_ifs_in_ascending_order() {
        assert_eq!(raise_level("level", &[]), "");
        assert_eq!(
            raise_level("after", &[100, 500]),
            "if growth >= 100 then after, after_text = 2, '2' \
             if growth >= 500 then after, after_text = 3, '3' end end"
        );
    }

    #[test]
    fn each_rule_set_bakes_every_placeholder_and_an_unchanged_one_the_same_script() {
        let campaign = Campaign::from_toml(CAMPAIGN).expect("campaign");
        let table = ScanTable::new(&campaign, 1);
        let baked = bake(10, 10, 10, &[100, 500], false);
        assert!(!baked.contains("{{"), "{baked}");
        assert!(baked.contains("local quiet = plan == '0000000'\n"));
        assert!(baked.contains("local laned = false\n"));
        assert!(baked.contains("elseif today >= 10 then"));
        assert!(baked.contains("if growth >= 500 then level, level_text = 3, '3'"));
        assert!(bake(10, 10, 10, &[100, 500], true).contains("local laned = true\n"));
        assert_eq!(
            table.rules[0].script.get_hash(),
            redis::Script::new(&baked).get_hash()
        );
        // A new revision with the same constants reuses the script Redis has cached;
        // a boost that changes the points per scan is a script of its own.
        let again = ScanTable::new(&campaign, 2);
        assert_eq!(
            table.rules[0].script.get_hash(),
            again.rules[0].script.get_hash()
        );
        assert_ne!(
            redis::Script::new(&bake(10, 20, 10, &[100, 500], false)).get_hash(),
            table.rules[0].script.get_hash()
        );
    }
}
