//! Reading and writing a campaign's countable state in Redis.

use std::collections::BTreeMap;

use yima_campaign::Role;
use yima_store::{Connection, Keys, Store};

use crate::ReconcileError;
use crate::state::{Balance, Bitmap, CampaignState};

/// Keys written per pipeline round trip.
pub(crate) const PIPELINE: usize = 1000;
/// Bytes of a bitmap written per `SETRANGE`.
const BITMAP_CHUNK: usize = 1 << 20;
/// How long day-scoped counters live, as `scan.lua` sets them.
const DAY_TTL_SECONDS: i64 = 172_800;

/// Day-scoped counters for the days whose limits are still enforced.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    /// The campaign days kept (today and yesterday in the campaign's zone).
    pub days: Vec<String>,
    /// (day, role, member) -> scans.
    pub daily: BTreeMap<(String, Role, String), i64>,
    /// (day, prize) -> awards.
    pub awarded_on: BTreeMap<(String, String), i64>,
}

impl Recent {
    /// Counts a settled scan if it fell on a kept day.
    pub fn count(&mut self, day: &str, role: Role, member: &str, prize: Option<&str>) {
        if !self.days.iter().any(|d| d == day) {
            return;
        }
        *self
            .daily
            .entry((day.to_string(), role, member.to_string()))
            .or_default() += 1;
        if let Some(prize) = prize {
            *self
                .awarded_on
                .entry((day.to_string(), prize.to_string()))
                .or_default() += 1;
        }
    }
}

/// Items grouped by their member's tag, so that one pipeline never spans tags: on a
/// cluster, a campaign's lanes live on different masters.
pub(crate) fn by_member_tag<'a, T>(
    rules: &'a yima_campaign::Campaign,
    items: &'a [T],
    member: impl Fn(&T) -> &str,
) -> BTreeMap<std::borrow::Cow<'a, str>, Vec<&'a T>> {
    let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for item in items {
        groups
            .entry(rules.member_tag(member(item)))
            .or_default()
            .push(item);
    }
    groups
}

/// Every key matching `pattern`, by `SCAN` (never `KEYS`: Redis keeps serving).
async fn scan_keys(
    connection: &mut Connection,
    pattern: &str,
) -> Result<Vec<String>, ReconcileError> {
    let mut cursor: u64 = 0;
    let mut found = Vec::new();
    loop {
        let mut command = redis::cmd("SCAN");
        command
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        // The pattern carries the campaign's hash tag: on a cluster, its master.
        let (next, keys): (u64, Vec<String>) =
            connection.query_on_slot_of(pattern, &command).await?;
        found.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The campaign's counters, member balances and redemption bitmaps as Redis holds them
/// under its tags (one per lane): counters added up, members gathered, each lane's code
/// bits turned back into serials.
pub(crate) async fn read(store: &Store, tags: &[String]) -> Result<CampaignState, ReconcileError> {
    let counters = store.counters(tags).await?;
    let mut state = CampaignState {
        scans: counters.scans,
        wins: counters.wins,
        awarded: counters.awarded.into_iter().collect(),
        ..CampaignState::default()
    };
    let lanes = u16::try_from(tags.len()).unwrap_or(u16::MAX);
    for (lane, tag) in (0u16..).zip(tags) {
        read_lane(store, tag, lanes, lane, &mut state).await?;
    }
    Ok(state)
}

/// Adds one tag's members and bitmaps to `state`.
async fn read_lane(
    store: &Store,
    campaign: &str,
    lanes: u16,
    lane: u16,
    state: &mut CampaignState,
) -> Result<(), ReconcileError> {
    let keys = store.keys();
    let mut connection = store.connection();
    let prefix = keys.member_prefix(campaign);
    let member_keys = scan_keys(&mut connection, &Keys::pattern(&prefix)).await?;
    for chunk in member_keys.chunks(PIPELINE) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("HMGET")
                .arg(key)
                .arg(&["points", "growth", "scans"]);
        }
        let values: Vec<Vec<Option<i64>>> = pipe.query_async(&mut connection).await?;
        for (key, values) in chunk.iter().zip(values) {
            let value = |i: usize| values.get(i).copied().flatten().unwrap_or(0);
            let member = key.strip_prefix(&prefix).unwrap_or(key);
            state.members.insert(
                member.to_string(),
                Balance {
                    points: value(0),
                    growth: value(1),
                    scans: value(2),
                },
            );
        }
    }

    let prefix = keys.redeemed_prefix(campaign);
    for key in scan_keys(&mut connection, &Keys::pattern(&prefix)).await? {
        let rest = key.strip_prefix(&prefix).unwrap_or(&key);
        let parsed = rest
            .split_once(':')
            .and_then(|(batch, role)| Some((batch.parse().ok()?, Role::from_name(role)?)));
        let Some((batch, role)) = parsed else {
            return Err(ReconcileError::Invalid(format!(
                "unexpected redemption key `{key}`"
            )));
        };
        let bytes: Vec<u8> = redis::AsyncCommands::get(&mut connection, &key).await?;
        let bits = Bitmap::from_bytes(bytes);
        if lanes <= 1 {
            state.redeemed.insert((batch, role), bits);
        } else {
            state
                .redeemed
                .entry((batch, role))
                .or_default()
                .add_lane(&bits, lanes, lane);
        }
    }
    Ok(())
}

/// Each prize's allotments over every lane, summed (laned campaigns).
pub(crate) async fn allotments(
    store: &Store,
    rules: &yima_campaign::Campaign,
) -> Result<std::collections::BTreeMap<String, i64>, ReconcileError> {
    let mut connection = store.connection();
    let fields: Vec<String> = rules
        .file
        .prizes
        .iter()
        .map(|prize| format!("allot:{}", prize.id))
        .collect();
    let mut sums = std::collections::BTreeMap::new();
    if fields.is_empty() {
        return Ok(sums);
    }
    for tag in rules.lane_tags() {
        let allotted: Vec<Option<i64>> = redis::cmd("HMGET")
            .arg(store.keys().awarded(&tag))
            .arg(&fields)
            .query_async(&mut connection)
            .await?;
        for (prize, allot) in rules.file.prizes.iter().zip(allotted) {
            *sums.entry(prize.id.clone()).or_default() += allot.unwrap_or(0);
        }
    }
    Ok(sums)
}

/// Gives each lane an allotment of every prize: what it has awarded, plus its share
/// of what is left, so allotments sum to the stock; and records that stock at this
/// revision in the bank with nothing owed (`Store::allot`), so a gateway starting
/// later moves nothing.
pub(crate) async fn write_allotments(
    store: &Store,
    rules: &yima_campaign::Campaign,
    revision: i32,
    states: &[CampaignState],
) -> Result<(), ReconcileError> {
    use yima_campaign::lanes::{lane_share, lane_tag};
    let lanes = rules.file.lanes;
    let mut connection = store.connection();
    for prize in &rules.file.prizes {
        let awarded: i64 = states
            .iter()
            .map(|s| s.awarded.get(&prize.id).copied().unwrap_or(0))
            .sum();
        let stock = i64::try_from(prize.stock).unwrap_or(i64::MAX);
        let left = u64::try_from(stock - awarded).unwrap_or(0);
        for (lane, state) in (0u16..).zip(states) {
            let own = state.awarded.get(&prize.id).copied().unwrap_or(0);
            let extra = i64::try_from(lane_share(left, lanes, lane)).unwrap_or(i64::MAX);
            redis::cmd("HSET")
                .arg(store.keys().awarded(&lane_tag(&rules.file.id, lanes, lane)))
                .arg(format!("allot:{}", prize.id))
                .arg(own + extra)
                .query_async::<()>(&mut connection)
                .await?;
        }
        redis::cmd("HSET")
            .arg(store.keys().awarded(&lane_tag(&rules.file.id, lanes, 0)))
            .arg(format!("bank:{}", prize.id))
            .arg(prize.stock)
            .arg(format!("bankrev:{}", prize.id))
            .arg(revision)
            // Awards beyond the stock (it was lowered below them) stay owed.
            .arg(format!("owed:{}", prize.id))
            .arg((stock - awarded).min(0))
            .query_async::<()>(&mut connection)
            .await?;
    }
    Ok(())
}

/// Replaces the campaign's counters, balances, bitmaps and day-scoped counters with
/// `state`, `recent` and the further campaign counters `counts` (diversions, regions). Stored scan answers (for retries) and the stream are kept.
/// Bitmaps are written first: should this be interrupted, codes already redeemed are
/// refused again before anything else is counted, and running it again completes it.
pub(crate) async fn write(
    store: &Store,
    campaign: &str,
    state: &CampaignState,
    recent: &Recent,
    counts: &[(String, i64)],
) -> Result<usize, ReconcileError> {
    let keys = store.keys();
    let mut connection = store.connection();
    let kept = [keys.events(campaign), keys.result_prefix(campaign)];
    let stale: Vec<String> = scan_keys(&mut connection, &keys.campaign_pattern(campaign))
        .await?
        .into_iter()
        .filter(|key| key != &kept[0] && !key.starts_with(&kept[1]))
        .collect();
    for chunk in stale.chunks(PIPELINE) {
        redis::cmd("UNLINK")
            .arg(chunk)
            .query_async::<()>(&mut connection)
            .await?;
    }

    for ((batch, role), bitmap) in &state.redeemed {
        let key = keys.redeemed(campaign, *batch, *role);
        for (index, chunk) in bitmap.as_bytes().chunks(BITMAP_CHUNK).enumerate() {
            redis::cmd("SETRANGE")
                .arg(&key)
                .arg(index * BITMAP_CHUNK)
                .arg(chunk)
                .query_async::<()>(&mut connection)
                .await?;
        }
    }

    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(keys.stats(campaign))
        .arg("scans")
        .arg(state.scans)
        .arg("wins")
        .arg(state.wins)
        .arg(counts)
        .ignore();
    for (prize, count) in &state.awarded {
        pipe.cmd("HSET")
            .arg(keys.awarded(campaign))
            .arg(prize)
            .arg(count)
            .ignore();
    }
    for ((day, prize), count) in &recent.awarded_on {
        let key = keys.awarded_on(campaign, day);
        pipe.cmd("HSET").arg(&key).arg(prize).arg(count).ignore();
        pipe.cmd("EXPIRE").arg(&key).arg(DAY_TTL_SECONDS).ignore();
    }
    pipe.query_async::<()>(&mut connection).await?;

    let members: Vec<(&String, &Balance)> = state.members.iter().collect();
    for chunk in members.chunks(PIPELINE) {
        let mut pipe = redis::pipe();
        for (member, balance) in chunk {
            pipe.cmd("HSET")
                .arg(keys.member(campaign, member))
                .arg("points")
                .arg(balance.points)
                .arg("growth")
                .arg(balance.growth)
                .arg("scans")
                .arg(balance.scans)
                .ignore();
        }
        pipe.query_async::<()>(&mut connection).await?;
    }

    let daily: Vec<_> = recent.daily.iter().collect();
    for chunk in daily.chunks(PIPELINE) {
        let mut pipe = redis::pipe();
        for ((day, role, member), count) in chunk {
            pipe.cmd("SET")
                .arg(keys.daily(campaign, day, *role, member))
                .arg(*count)
                .arg("EX")
                .arg(DAY_TTL_SECONDS)
                .ignore();
        }
        pipe.query_async::<()>(&mut connection).await?;
    }
    Ok(stale.len())
}

/// How long a month's leaderboard stays in Redis after its first scan, as `scan.lua`
/// keeps it.
const BOARD_TTL_SECONDS: u64 = 100 * 24 * 3600;

/// Writes a month's leaderboards from settled scans, with the scores `scan.lua` would
/// have given them: a member reached their count at their last scan.
pub(crate) async fn write_boards(
    store: &Store,
    rules: &yima_campaign::Campaign,
    month: &yima_campaign::Month,
    rows: &[yima_ledger::BoardRow],
) -> Result<(), ReconcileError> {
    let keys = store.keys();
    let mut connection = store.connection();
    let start = month.starts_at.as_millisecond();
    // Each member's row goes to its own lane's board.
    for (campaign, rows) in &by_member_tag(rules, rows, |row| &row.member) {
        for chunk in rows.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for row in chunk {
                let key = keys.board(campaign, &month.period, row.region.as_deref());
                let into = u32::try_from(row.reached_ms - start).unwrap_or(u32::MAX);
                let scans = u64::try_from(row.scans).unwrap_or(0);
                pipe.cmd("ZADD")
                    .arg(&key)
                    .arg(format!("{:.0}", yima_campaign::board_score(scans, into)))
                    .arg(&row.member)
                    .ignore();
                pipe.cmd("EXPIRE").arg(&key).arg(BOARD_TTL_SECONDS).ignore();
            }
            pipe.query_async::<()>(&mut connection).await?;
        }
    }
    Ok(())
}
