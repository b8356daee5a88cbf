//! Redis against the book of record: `yima reconcile` and `yima restore`.
//!
//! Redis holds the hot counters (redemption bits, stock used, member balances), which
//! are derived data: every one of them follows from the settled scans in Postgres plus
//! the scans still on the stream. `reconcile` recomputes them that way and names each
//! difference; `restore` writes them back after Redis lost its data.

mod redis_state;
mod state;

use std::collections::HashSet;

use jiff::Timestamp;
use yima_campaign::lanes::member_lane;
use yima_campaign::{Campaign, Role};
use yima_ledger::{Ledger, LedgerError, SettledRecord, SettledRow};
use yima_store::{Entry, ScanEvent, Store, StoreError};

pub use state::{Balance, Bitmap, CampaignState, Difference, SERIALS_NAMED};

use crate::redis_state::Recent;

/// How many times reconcile re-reads Redis when scans land during the read.
const READ_ATTEMPTS: u32 = 5;

/// Why a reconcile or restore could not finish; nothing was written for any of these
/// except a Redis failure in the middle of a restore, which a rerun completes.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Postgres failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// No such campaign in Postgres.
    #[error("unknown campaign `{0}`")]
    UnknownCampaign(String),
    /// Scans kept landing while Redis was read, so no consistent view was had.
    #[error(
        "scans kept arriving while Redis was read ({0} attempts); reconcile when the campaign is quieter"
    )]
    Busy(u32),
    /// The stream holds scans Postgres does not have yet; restoring now would lose them.
    #[error(
        "{0} scan(s) on the stream are not settled yet; run `yima settle` until they are, then restore"
    )]
    Unsettled(usize),
    /// Data that this build cannot account for.
    #[error("{0}")]
    Invalid(String),
}

/// What a reconciliation compared and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Each way Redis differs; empty when they agree.
    pub differences: Vec<Difference>,
    /// Settled scans read from Postgres.
    pub settled: u64,
    /// Scans on the stream not yet settled, counted on Postgres's side.
    pub in_flight: usize,
    /// Members compared.
    pub members: usize,
    /// Claims of physical prizes by state (`claimed`, `shipped`, `delivered`).
    pub claims: Vec<(String, i64)>,
}

/// What a restore wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Settled scans replayed.
    pub scans: u64,
    /// Member balances written.
    pub members: usize,
    /// Redemption bitmaps written.
    pub bitmaps: usize,
    /// Stale keys removed first.
    pub removed: usize,
}

/// Compares the campaign's Redis state with Postgres plus the unsettled stream.
///
/// Safe while scans and settlement run: Redis is read between two looks at the
/// stream's newest entry (and read again if it moved), settled scans newer than that
/// entry are left out, and the settled record and stream entries are matched in one
/// Postgres snapshot. Only member balances and bitmaps are read with `SCAN`, so the
/// time it takes grows with the campaign.
pub async fn reconcile(
    store: &Store,
    ledger: &Ledger,
    campaign: &str,
) -> Result<Report, ReconcileError> {
    let rules = rules(ledger, campaign).await?;
    let tags = rules.lane_tags();
    let lanes = rules.file.lanes;
    for _ in 0..READ_ATTEMPTS {
        let before = tails(store, &tags).await?;
        let redis = redis_state::read(store, &tags).await?;
        if tails(store, &tags).await? != before {
            continue;
        }
        // Each lane's stream has its own order: a scan is newer than the read if it is
        // newer than the tail of its own lane's stream (its member's lane).
        let bounds: Vec<_> = before
            .iter()
            .map(|t| t.as_deref().and_then(position))
            .collect();
        let newer = |lane: u16, id: &str| match (bounds.get(usize::from(lane)), position(id)) {
            (Some(Some(bound)), Some(id)) => id > *bound,
            _ => false,
        };
        let mut entries = Vec::new();
        for (lane, tag) in (0u16..).zip(&tags) {
            for (id, event) in events(store.unacknowledged(tag).await?)? {
                if !newer(lane, &id) {
                    entries.push((id, event));
                }
            }
        }
        let mut postgres = CampaignState::default();
        let mut daily: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for (_, event) in &entries {
            if !event.prize.is_empty() {
                *daily
                    .entry((event.day.to_string(), event.prize.clone()))
                    .or_default() += 1;
            }
        }
        let mut failure = None;
        // Scans come first: a code settled after Redis was read is not marked.
        let mut unread = HashSet::new();
        let record = ledger
            .read_settled(campaign, &pairs(&entries), |row| match row {
                SettledRow::Scan(scan) => {
                    if let Some(prize) = &scan.prize {
                        *daily.entry((scan.day.clone(), prize.clone())).or_default() += 1;
                    }
                    if newer(member_lane(&scan.member, lanes), &scan.stream_id) {
                        // Settled after Redis was read: Redis had not counted it.
                        postgres.debit(&scan.member, balance(scan.points, scan.growth));
                        unread.insert((scan.batch, scan.serial, scan.role));
                    } else {
                        postgres.count(scan.prize.as_deref(), 1);
                    }
                }
                SettledRow::Redeemed {
                    batch,
                    serial,
                    role: name,
                } => {
                    if let Some(role) = role(&name, &mut failure)
                        && !unread.contains(&(batch, serial, name))
                    {
                        postgres.mark(batch, serial, role);
                    }
                }
            })
            .await?;
        if let Some(failure) = failure {
            return Err(failure);
        }
        for archived in &record.archived {
            postgres.count(archived.prize.as_deref(), archived.scans);
            if let Some(prize) = &archived.prize {
                *daily
                    .entry((archived.day.clone(), prize.clone()))
                    .or_default() += archived.scans;
            }
        }
        let in_flight = add_balances_and_in_flight(&mut postgres, &record, &entries);
        let allotted = if lanes > 1 {
            redis_state::allotments(store, &rules).await?
        } else {
            Default::default()
        };
        let mut differences = postgres.differences(&redis);
        differences.extend(postgres.broken_rules(&redis, &rules, &daily, &allotted));
        differences.extend(
            ledger
                .dead_letters(campaign)
                .await?
                .into_iter()
                .map(|letter| Difference::DeadLetter {
                    stream: letter.stream,
                    id: letter.stream_id,
                    reason: letter.reason,
                }),
        );
        let (claims, orphans) = ledger.claim_audit(campaign).await?;
        differences.extend(
            orphans
                .into_iter()
                .map(|(id, source)| Difference::OrphanClaim { id, source }),
        );
        return Ok(Report {
            differences,
            settled: record.scans,
            in_flight,
            members: postgres.members.len().max(redis.members.len()),
            claims,
        });
    }
    Err(ReconcileError::Busy(READ_ATTEMPTS))
}

/// Rebuilds the campaign's Redis state from Postgres: redemption bitmaps, stock used,
/// campaign counters, member balances, and today's and yesterday's (campaign time)
/// daily limits and prize caps.
///
/// Run it with the campaign's gateways stopped: a scan answered while it runs may be
/// overwritten. It refuses while the stream holds unsettled scans, since their effect
/// would be lost. Stored answers of earlier scans are kept; where Redis lost them a
/// retried scan answers `already_redeemed` instead of repeating its body.
pub async fn restore(
    store: &Store,
    ledger: &Ledger,
    campaign: &str,
    now: Timestamp,
) -> Result<Restored, ReconcileError> {
    let (rules, revision) = rules_at(ledger, campaign).await?;
    let tags = rules.lane_tags();
    let lanes = rules.file.lanes.max(1);
    let today = rules.day(now);
    let yesterday = today
        .yesterday()
        .map_err(|e| ReconcileError::Invalid(e.to_string()))?;
    let days = vec![today.to_string(), yesterday.to_string()];
    let mut entries = Vec::new();
    for tag in &tags {
        entries.extend(events(store.unacknowledged(tag).await?)?);
    }
    // One state per lane, each as that lane's keys hold it: a code's bit in its code
    // lane, everything else in its member's lane.
    let mut states = vec![CampaignState::default(); usize::from(lanes)];
    let mut recents: Vec<Recent> = (0..lanes)
        .map(|_| Recent {
            days: days.clone(),
            ..Recent::default()
        })
        .collect();
    let mut failure = None;
    let record = ledger
        .read_settled(campaign, &pairs(&entries), |row| match row {
            SettledRow::Scan(scan) => {
                let Some(role) = role(&scan.role, &mut failure) else {
                    return;
                };
                let lane = usize::from(member_lane(&scan.member, lanes));
                states[lane].count(scan.prize.as_deref(), 1);
                recents[lane].count(&scan.day, role, &scan.member, scan.prize.as_deref());
            }
            SettledRow::Redeemed {
                batch,
                serial,
                role: name,
            } => {
                if let Some(role) = role(&name, &mut failure) {
                    let (code_lane, bit) = yima_campaign::lanes::code_lane(serial, lanes);
                    states[usize::from(code_lane)].mark(batch, bit, role);
                }
            }
        })
        .await?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    // Archived months' counts go to the first lane, whose counters are added up with
    // the others' when read.
    for archived in &record.archived {
        states[0].count(archived.prize.as_deref(), archived.scans);
    }
    let unsettled = entries
        .iter()
        .filter(|(id, event)| {
            !record
                .settled_entries
                .contains(&(id.clone(), event.scan_id.clone()))
        })
        .count();
    if unsettled > 0 {
        return Err(ReconcileError::Unsettled(unsettled));
    }
    let mut balances = CampaignState::default();
    add_balances_and_in_flight(&mut balances, &record, &[]);
    for (member, balance) in balances.members {
        states[usize::from(member_lane(&member, lanes))]
            .members
            .insert(member, balance);
    }
    // Diverted scans are flagged in Postgres and scans keep their regions; refused
    // ones were never stored, so that count starts again from zero. Lanes' counters
    // are added up when read: these go to the first.
    let (diverted, _) = ledger.diverted_scans(campaign, 0).await?;
    let mut counts = vec![("diverted".to_string(), diverted)];
    for (region, scans) in ledger.region_scans(campaign).await? {
        counts.push((format!("region:{region}"), scans));
    }
    let mut removed = 0;
    for (lane, tag) in tags.iter().enumerate() {
        let counts = if lane == 0 { counts.as_slice() } else { &[] };
        removed += redis_state::write(store, tag, &states[lane], &recents[lane], counts).await?;
    }
    if lanes > 1 {
        redis_state::write_allotments(store, &rules, revision, &states).await?;
    }
    let members: usize = states.iter().map(|s| s.members.len()).sum();
    let bitmaps: usize = states.iter().map(|s| s.redeemed.len()).sum();
    // This month's and last month's leaderboards.
    let this_month = rules.month(now);
    let last_month = rules.month(this_month.starts_at - jiff::SignedDuration::from_millis(1));
    for month in [last_month, this_month] {
        let rows = ledger
            .board_rows(
                campaign,
                month.starts_at.as_millisecond(),
                month.ends_at.as_millisecond(),
            )
            .await?;
        redis_state::write_boards(store, &rules, &month, &rows).await?;
    }
    Ok(Restored {
        scans: record.scans,
        members,
        bitmaps,
        removed,
    })
}

async fn rules(ledger: &Ledger, campaign: &str) -> Result<Campaign, ReconcileError> {
    Ok(rules_at(ledger, campaign).await?.0)
}

/// The stored campaign and its revision.
async fn rules_at(ledger: &Ledger, campaign: &str) -> Result<(Campaign, i32), ReconcileError> {
    let stored = ledger
        .campaign(campaign)
        .await?
        .ok_or_else(|| ReconcileError::UnknownCampaign(campaign.to_string()))?;
    let rules = Campaign::from_definition_json(&stored.definition_json).map_err(|_| {
        ReconcileError::Invalid(format!("stored campaign {campaign} does not validate"))
    })?;
    Ok((rules, stored.revision))
}

/// Parsed stream entries; one that cannot be parsed is counted by Redis and cannot be
/// accounted for, so it stops the comparison.
fn events(entries: Vec<Entry>) -> Result<Vec<(String, ScanEvent)>, ReconcileError> {
    entries
        .into_iter()
        .map(|entry| match entry.event {
            Ok(event) => Ok((entry.id, event)),
            Err(reason) => Err(ReconcileError::Invalid(format!(
                "stream entry {} cannot be read: {reason}",
                entry.id
            ))),
        })
        .collect()
}

fn pairs(entries: &[(String, ScanEvent)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(id, event)| (id.clone(), event.scan_id.clone()))
        .collect()
}

fn role(name: &str, failure: &mut Option<ReconcileError>) -> Option<Role> {
    let role = Role::from_name(name);
    if role.is_none() && failure.is_none() {
        *failure = Some(ReconcileError::Invalid(format!(
            "settled scan with unknown role `{name}`"
        )));
    }
    role
}

fn balance(points: i64, growth: i64) -> Balance {
    Balance {
        points,
        growth,
        scans: 1,
    }
}

/// Credits the settled balances, then counts each unsettled entry as Redis did.
/// Returns how many entries were unsettled.
fn add_balances_and_in_flight(
    state: &mut CampaignState,
    record: &SettledRecord,
    entries: &[(String, ScanEvent)],
) -> usize {
    for row in &record.balances {
        state.credit(
            &row.member,
            Balance {
                points: row.points,
                growth: row.growth,
                scans: row.scans,
            },
        );
    }
    let mut in_flight = 0;
    for (_, event) in entries.iter().filter(|(id, event)| {
        !record
            .settled_entries
            .contains(&(id.clone(), event.scan_id.clone()))
    }) {
        let prize = (!event.prize.is_empty()).then_some(event.prize.as_str());
        state.record(event.batch, event.serial, event.role, prize);
        state.credit(&event.member, balance(event.points, event.growth));
        in_flight += 1;
    }
    in_flight
}

/// A stream id's position, `(milliseconds, sequence)`.
fn position(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The newest entry of each lane's stream.
async fn tails(store: &Store, tags: &[String]) -> Result<Vec<Option<String>>, ReconcileError> {
    let mut tails = Vec::with_capacity(tags.len());
    for tag in tags {
        tails.push(store.stream_tail(tag).await?);
    }
    Ok(tails)
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn stream_ids_order_by_time_then_sequence() {
        assert!(position("1700000000000-5") < position("1700000000000-10"));
        assert!(position("1700000000000-99") < position("1700000000001-0"));
        assert!(position("999-0") < position("1000-0"));
        assert_eq!(position("garbage"), None);
        assert_eq!(position("1-x"), None);
    }
}
