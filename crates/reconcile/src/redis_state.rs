//! A campaign's countable state in Redis, in the terms of [`CampaignState`]: the
//! store reads and writes each tag; this joins the lanes.

use std::collections::BTreeMap;

use yima_campaign::Role;
use yima_store::{BoardEntry, MemberState, Store, TagState};

use crate::ReconcileError;
use crate::state::{Balance, Bitmap, CampaignState};

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

/// The campaign's counters, member balances and redemption bitmaps as Redis holds them
/// under its tags (one per lane): counters added up, members gathered, each lane's code
/// bits turned back into serials.
pub(crate) async fn read(store: &Store, tags: &[String]) -> Result<CampaignState, ReconcileError> {
    let counters = store.counters(tags).await?;
    let mut state = CampaignState {
        scans: counters.scans,
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
    tag: &str,
    lanes: u16,
    lane: u16,
    state: &mut CampaignState,
) -> Result<(), ReconcileError> {
    for (member, balance) in store.member_balances(tag).await? {
        state.members.insert(
            member,
            Balance {
                points: balance.points,
                growth: balance.growth,
                scans: balance.scans,
            },
        );
    }
    for (batch, role, bytes) in store.redemption_bitmaps(tag).await? {
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
) -> Result<BTreeMap<String, i64>, ReconcileError> {
    let prizes: Vec<&str> = rules.file.prizes.iter().map(|p| p.id.as_str()).collect();
    Ok(store.allotments(&rules.lane_tags(), &prizes).await?)
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
            let tag = lane_tag(&rules.file.id, lanes, lane);
            store.set_allotment(&tag, &prize.id, own + extra).await?;
        }
        // Awards beyond the stock (it was lowered below them) stay owed.
        let bank = lane_tag(&rules.file.id, lanes, 0);
        let owed = (stock - awarded).min(0);
        store
            .set_bank(&bank, &prize.id, prize.stock, revision, owed)
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
    let tag_state = TagState {
        scans: state.scans,
        counts,
        awarded: state
            .awarded
            .iter()
            .map(|(prize, n)| (prize.as_str(), *n))
            .collect(),
        awarded_on: recent
            .awarded_on
            .iter()
            .map(|((day, prize), n)| (day.as_str(), prize.as_str(), *n))
            .collect(),
        bitmaps: state
            .redeemed
            .iter()
            .map(|((batch, role), bits)| (*batch, *role, bits.as_bytes()))
            .collect(),
        members: state
            .members
            .iter()
            .map(|(member, b)| {
                let balance = MemberState {
                    points: b.points,
                    growth: b.growth,
                    scans: b.scans,
                };
                (member.as_str(), balance)
            })
            .collect(),
        daily: recent
            .daily
            .iter()
            .map(|((day, role, member), n)| (day.as_str(), *role, member.as_str(), *n))
            .collect(),
    };
    Ok(store.replace_state(campaign, &tag_state).await?)
}

/// Writes a month's leaderboards from settled scans, with the scores `scan.lua` would
/// have given them: a member reached their count at their last scan.
pub(crate) async fn write_boards(
    store: &Store,
    rules: &yima_campaign::Campaign,
    month: &yima_campaign::Month,
    rows: &[yima_ledger::BoardRow],
) -> Result<(), ReconcileError> {
    let start = month.starts_at.as_millisecond();
    // Each member's row goes to its own lane's board.
    for (tag, rows) in &rules.by_member_tag(rows, |row| &row.member) {
        let entries: Vec<BoardEntry<'_>> = rows
            .iter()
            .map(|row| {
                let into = u32::try_from(row.reached_ms - start).unwrap_or(u32::MAX);
                let scans = u64::try_from(row.scans).unwrap_or(0);
                BoardEntry {
                    member: &row.member,
                    region: row.region.as_deref(),
                    score: yima_campaign::board_score(scans, into),
                }
            })
            .collect();
        store.write_board(tag, &month.period, &entries).await?;
    }
    Ok(())
}
