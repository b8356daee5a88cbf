//! The typed face of `scan.lua`.

use yima_campaign::{Campaign, Multipliers, PrizeKind, Role};

use crate::event::EventContext;
use crate::{EVENT_VERSION, Store, StoreError};

/// A campaign revision compiled into the script's arguments once, so a scan only
/// appends the per-scan values.
#[derive(Debug, Clone)]
pub struct ScanTable {
    campaign: String,
    revision: i32,
    thresholds: String,
    bounds: String,
    fallback: usize,
    points_per_scan: u32,
    growth_per_scan: u32,
    daily_limit: u32,
    prizes: Vec<PrizeArgs>,
}

#[derive(Debug, Clone)]
struct PrizeArgs {
    id: String,
    daily_cap: i64,
    kind: &'static str,
    value: u64,
    json: String,
}

impl ScanTable {
    /// Compiles a validated campaign at a revision.
    pub fn new(campaign: &Campaign, revision: i32) -> Self {
        Self::boosted(campaign, revision, Multipliers::NONE)
    }

    /// Compiles a campaign revision as it applies on days with these boosts.
    pub fn boosted(campaign: &Campaign, revision: i32, multipliers: Multipliers) -> Self {
        let file = &campaign.file;
        let table = campaign.boosted_odds_table(multipliers);
        let join = |values: &mut dyn Iterator<Item = String>, separator: &str| {
            values.collect::<Vec<_>>().join(separator)
        };
        let thresholds = join(
            &mut file.levels.iter().map(|l| l.min_growth.to_string()),
            ",",
        );
        let bounds = join(
            &mut (0..file.levels.len())
                .map(|level| join(&mut table.bounds(level).iter().map(u32::to_string), ",")),
            ";",
        );
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
                    daily_cap: prize
                        .daily_cap
                        .map_or(-1, |cap| i64::try_from(cap).unwrap_or(i64::MAX)),
                    kind,
                    value: prize.value,
                    json: serde_json::json!({
                        "id": prize.id, "name": prize.name, "kind": kind, "value": prize.value,
                    })
                    .to_string(),
                }
            })
            .collect();
        Self {
            campaign: file.id.clone(),
            revision,
            thresholds,
            bounds,
            fallback,
            points_per_scan: campaign.points_per_scan(multipliers),
            growth_per_scan: file.growth_per_scan,
            daily_limit: file.daily_scan_limit,
            prizes,
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
    /// The leaderboard month, `YYYY-MM` in the campaign's zone.
    pub period: &'a str,
    /// Milliseconds into that month: breaks leaderboard ties.
    pub ms_into_month: u32,
    /// The scanner's region differs from the batch's: counted as a diversion.
    pub diverted: bool,
}

/// What the script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// A new redemption; the body is the response, also stored for retries.
    Redeemed {
        /// The response.
        body: String,
        /// The prize awarded, if any (for metrics).
        prize: Option<String>,
    },
    /// The same member and role again: the stored response, byte for byte.
    Retry(String),
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
}

/// How long a redemption's answer is kept for retries: a week covers any client
/// retry policy; later retries get `already_redeemed`.
const RESULT_TTL_SECONDS: u64 = 7 * 24 * 3600;

impl Store {
    /// Runs the scan script: one round trip, atomic.
    pub async fn scan(
        &self,
        table: &ScanTable,
        call: &ScanCall<'_>,
    ) -> Result<ScanOutcome, StoreError> {
        let campaign = table.campaign.as_str();
        let keys = &self.keys;
        let mut invocation = self.scan_script.prepare_invoke();
        invocation
            .key(keys.redeemed(campaign, call.batch, call.role))
            .key(keys.result(campaign, call.batch, call.serial, call.role))
            .key(keys.member(campaign, call.member))
            .key(keys.daily(campaign, call.day, call.role, call.member))
            .key(keys.awarded(campaign))
            .key(keys.awarded_on(campaign, call.day))
            .key(keys.stats(campaign))
            .key(keys.events(campaign))
            .key(keys.board(campaign, call.period, None));
        // The scanner's region if sent, else the batch's.
        if let Some(region) = call.region.or(call.batch_region) {
            invocation.key(keys.board(campaign, call.period, Some(region)));
        }
        invocation
            .arg(call.serial)
            .arg(call.member)
            .arg(call.scan_id)
            .arg(table.daily_limit)
            .arg(RESULT_TTL_SECONDS)
            .arg(table.points_per_scan)
            .arg(table.growth_per_scan)
            .arg(call.draw_number)
            .arg(&table.thresholds)
            .arg(&table.bounds)
            .arg(table.fallback)
            .arg(table.prizes.len());
        for (prize, available) in table.prizes.iter().zip(call.available) {
            invocation
                .arg(&prize.id)
                .arg(*available)
                .arg(prize.daily_cap)
                .arg(prize.kind)
                .arg(prize.value)
                .arg(&prize.json);
        }
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
            growth: i64::from(table.growth_per_scan),
            region: call.region,
            batch_region: call.batch_region,
            request_id: call.request_id,
        };
        invocation.arg(
            event
                .members()
                .map_err(|e| StoreError::Protocol(format!("cannot encode the event: {e}")))?,
        );
        invocation
            .arg(call.ms_into_month)
            .arg(u8::from(call.diverted))
            .arg(call.region.or(call.batch_region).unwrap_or(""));
        let mut connection = self.connection.clone();
        let reply: Vec<redis::Value> = invocation.invoke_async(&mut connection).await?;
        parse_reply(reply)
    }
}

fn parse_reply(reply: Vec<redis::Value>) -> Result<ScanOutcome, StoreError> {
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
    Ok(match kind.as_str() {
        "new" => ScanOutcome::Redeemed {
            body: text(reply.get(1))?,
            prize: text(reply.get(2)).ok().filter(|prize| !prize.is_empty()),
        },
        "retry" => ScanOutcome::Retry(text(reply.get(1))?),
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
    })
}
