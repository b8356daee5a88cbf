//! A campaign tag's countable state read and written whole: what `reconcile` compares
//! and `restore` rebuilds. Members and bitmaps are found with `SCAN` (never `KEYS`:
//! Redis keeps serving), and writes go in pipelines of [`PIPELINE`] keys that never
//! span tags (on a cluster, a campaign's lanes live on different masters).

use std::collections::BTreeMap;

use yima_campaign::Role;

use crate::{Connection, Keys, MemberState, Store, StoreError};

/// Keys written per pipeline round trip.
pub const PIPELINE: usize = 1000;
/// Bytes of a bitmap written per `SETRANGE`.
const BITMAP_CHUNK: usize = 1 << 20;
/// How long day-scoped counters live, as `scan.lua` sets them.
const DAY_TTL_SECONDS: i64 = 172_800;
/// How long a month's leaderboard stays after its first scan, as `scan.lua` keeps it.
const BOARD_TTL_SECONDS: u64 = 100 * 24 * 3600;

/// What `restore` writes under one tag: its counters, bitmaps, balances and the
/// day-scoped counters of the days whose limits are still enforced.
#[derive(Debug, Default)]
pub struct TagState<'a> {
    /// Settled scans: the kept stream counts its own, the stats hash the rest (see
    /// `Store::counters`); wins are the sum of `awarded`.
    pub scans: i64,
    /// Further stats counters (diversions, regions).
    pub counts: &'a [(String, i64)],
    /// Awards per prize.
    pub awarded: Vec<(&'a str, i64)>,
    /// Awards per (campaign day, prize).
    pub awarded_on: Vec<(&'a str, &'a str, i64)>,
    /// Redemption bitmaps per (batch, role).
    pub bitmaps: Vec<(u32, Role, &'a [u8])>,
    /// Balances per member.
    pub members: Vec<(&'a str, MemberState)>,
    /// Scans per (campaign day, role, member), in day order.
    pub daily: Vec<(&'a str, Role, &'a str, i64)>,
}

/// One member's place on a month's board, with the score `scan.lua` would give it.
#[derive(Debug, Clone)]
pub struct BoardEntry<'a> {
    /// The member.
    pub member: &'a str,
    /// The regional board too, if any.
    pub region: Option<&'a str>,
    /// `yima_campaign::board_score`.
    pub score: f64,
}

impl Store {
    /// Every member balance under `tag`.
    pub async fn member_balances(
        &self,
        tag: &str,
    ) -> Result<Vec<(String, MemberState)>, StoreError> {
        let mut connection = self.connection();
        let prefix = self.keys.member_prefix(tag);
        let keys = scan_keys(&mut connection, &Keys::pattern(&prefix)).await?;
        let mut balances = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(PIPELINE) {
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
                balances.push((
                    member.to_string(),
                    MemberState {
                        points: value(0),
                        growth: value(1),
                        scans: value(2),
                    },
                ));
            }
        }
        Ok(balances)
    }

    /// Every redemption bitmap under `tag`, by (batch, role).
    pub async fn redemption_bitmaps(
        &self,
        tag: &str,
    ) -> Result<Vec<(u32, Role, Vec<u8>)>, StoreError> {
        let mut connection = self.connection();
        let prefix = self.keys.redeemed_prefix(tag);
        let mut bitmaps = Vec::new();
        for key in scan_keys(&mut connection, &Keys::pattern(&prefix)).await? {
            let rest = key.strip_prefix(&prefix).unwrap_or(&key);
            let parsed = rest
                .split_once(':')
                .and_then(|(batch, role)| Some((batch.parse().ok()?, Role::from_name(role)?)));
            let Some((batch, role)) = parsed else {
                return Err(StoreError::Protocol(format!(
                    "unexpected redemption key `{key}`"
                )));
            };
            let bytes: Vec<u8> = redis::AsyncCommands::get(&mut connection, &key).await?;
            bitmaps.push((batch, role, bytes));
        }
        Ok(bitmaps)
    }

    /// Each prize's allotments over `tags`, summed (laned campaigns).
    pub async fn allotments(
        &self,
        tags: &[String],
        prizes: &[&str],
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut sums = BTreeMap::new();
        if prizes.is_empty() {
            return Ok(sums);
        }
        let fields: Vec<String> = prizes.iter().map(|id| format!("allot:{id}")).collect();
        let mut connection = self.connection();
        for tag in tags {
            let allotted: Vec<Option<i64>> = redis::cmd("HMGET")
                .arg(self.keys.awarded(tag))
                .arg(&fields)
                .query_async(&mut connection)
                .await?;
            for (prize, allot) in prizes.iter().zip(allotted) {
                *sums.entry((*prize).to_string()).or_default() += allot.unwrap_or(0);
            }
        }
        Ok(sums)
    }

    /// Sets one lane's allotment of a prize.
    pub async fn set_allotment(
        &self,
        tag: &str,
        prize: &str,
        allot: i64,
    ) -> Result<(), StoreError> {
        redis::cmd("HSET")
            .arg(self.keys.awarded(tag))
            .arg(format!("allot:{prize}"))
            .arg(allot)
            .query_async::<()>(&mut self.connection())
            .await?;
        Ok(())
    }

    /// Records in the bank (lane 0's `tag`) that a prize's stock at `revision` is
    /// allotted, with `owed` awards beyond it (see `Store::allot`).
    pub async fn set_bank(
        &self,
        tag: &str,
        prize: &str,
        stock: u64,
        revision: i32,
        owed: i64,
    ) -> Result<(), StoreError> {
        redis::cmd("HSET")
            .arg(self.keys.awarded(tag))
            .arg(format!("bank:{prize}"))
            .arg(stock)
            .arg(format!("bankrev:{prize}"))
            .arg(revision)
            .arg(format!("owed:{prize}"))
            .arg(owed)
            .query_async::<()>(&mut self.connection())
            .await?;
        Ok(())
    }

    /// Replaces everything countable under `tag` with `state`; the stream and stored
    /// scan answers (for retries) are kept. Bitmaps are written first: should this be
    /// interrupted, codes already redeemed are refused again before anything else is
    /// counted, and running it again completes it. Returns how many stale keys went.
    pub async fn replace_state(
        &self,
        tag: &str,
        state: &TagState<'_>,
    ) -> Result<usize, StoreError> {
        let keys = &self.keys;
        let mut connection = self.connection();
        let kept = [keys.events(tag), keys.result_prefix(tag)];
        let stale: Vec<String> = scan_keys(&mut connection, &keys.campaign_pattern(tag))
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

        for (batch, role, bitmap) in &state.bitmaps {
            let key = keys.redeemed(tag, *batch, *role);
            for (index, chunk) in bitmap.chunks(BITMAP_CHUNK).enumerate() {
                redis::cmd("SETRANGE")
                    .arg(&key)
                    .arg(index * BITMAP_CHUNK)
                    .arg(chunk)
                    .query_async::<()>(&mut connection)
                    .await?;
            }
        }

        // The stream is kept, and counts its own scans (see `Store::counters`).
        let streamed = crate::stream::entries_added(&mut connection, &keys.events(tag)).await?;
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(keys.stats(tag))
            .arg("scans_before_stream")
            .arg(state.scans - streamed)
            .arg(state.counts)
            .ignore();
        for (prize, count) in &state.awarded {
            pipe.cmd("HSET")
                .arg(keys.awarded(tag))
                .arg(prize)
                .arg(count)
                .ignore();
        }
        for (day, prize, count) in &state.awarded_on {
            let key = keys.awarded_on(tag, day);
            pipe.cmd("HSET").arg(&key).arg(prize).arg(count).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(DAY_TTL_SECONDS).ignore();
        }
        pipe.query_async::<()>(&mut connection).await?;

        for chunk in state.members.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for (member, balance) in chunk {
                pipe.cmd("HSET")
                    .arg(keys.member(tag, member))
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

        // The daily counter is two fields of the member hash (see scan.lua); `daily` is
        // in day order, so a member's latest day is the one kept.
        for chunk in state.daily.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for (day, role, member, count) in chunk {
                pipe.cmd("HSET")
                    .arg(keys.member(tag, member))
                    .arg("day")
                    .arg(format!("{day}:{}", role.as_str()))
                    .arg("today")
                    .arg(*count)
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection).await?;
        }
        Ok(stale.len())
    }

    /// Writes a month's leaderboard entries under `tag`.
    pub async fn write_board(
        &self,
        tag: &str,
        period: &str,
        entries: &[BoardEntry<'_>],
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        for chunk in entries.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for entry in chunk {
                let key = self.keys.board(tag, period, entry.region);
                pipe.cmd("ZADD")
                    .arg(&key)
                    .arg(format!("{:.0}", entry.score))
                    .arg(entry.member)
                    .ignore();
                pipe.cmd("EXPIRE").arg(&key).arg(BOARD_TTL_SECONDS).ignore();
            }
            pipe.query_async::<()>(&mut connection).await?;
        }
        Ok(())
    }

    /// Takes `removed` growth off each member under `tag` (a level downgrade Postgres
    /// has recorded).
    pub async fn cut_growth(&self, tag: &str, cuts: &[(&str, i64)]) -> Result<(), StoreError> {
        let mut connection = self.connection();
        for chunk in cuts.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for (member, removed) in chunk {
                pipe.cmd("HINCRBY")
                    .arg(self.keys.member(tag, member))
                    .arg("growth")
                    .arg(-removed)
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection).await?;
        }
        Ok(())
    }
}

/// Every key matching `pattern`, by `SCAN`.
async fn scan_keys(connection: &mut Connection, pattern: &str) -> Result<Vec<String>, StoreError> {
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
