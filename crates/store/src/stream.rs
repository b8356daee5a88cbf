//! The settlement stream's consumer side: groups, reads, claims, acks.
//!
//! Entries are read through a consumer group so several workers share the work and an
//! entry a worker read but never acknowledged (it crashed) is claimed by another after
//! it has been idle for a while.

use std::collections::HashMap;
use std::time::Duration;

use redis::streams::{StreamAutoClaimOptions, StreamAutoClaimReply};

use crate::{Connection, Keys, ScanEvent, StoreError};

/// The consumer group every settlement worker joins.
pub const SETTLE_GROUP: &str = "settle";

/// A stream entry read for settlement.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The campaign whose stream it is on.
    pub campaign: String,
    /// The entry id, acknowledged after the commit.
    pub id: String,
    /// The parsed event, or why it could not be parsed.
    pub event: Result<ScanEvent, Unreadable>,
}

/// A settled scan whose answer Redis may let go (see [`StreamReader::forget_answers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledAnswer {
    /// The tag the answer is stored under: the stream's.
    pub tag: String,
    /// The tag of the code's lane, where its claim is, for a laned campaign.
    pub claim_tag: Option<String>,
    /// Batch of the code.
    pub batch: u32,
    /// Serial of the code.
    pub serial: u32,
    /// The role it was redeemed in.
    pub role: yima_campaign::Role,
}

/// A settled scan to count on its month's leaderboards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardScan {
    /// The member's tag (the stream's), where their boards are.
    pub tag: String,
    /// The month, `YYYY-MM` in the campaign's zone.
    pub period: String,
    /// The region board it also counts on (the scanner's region, else the batch's).
    pub region: Option<String>,
    /// Who scanned.
    pub member: String,
    /// Milliseconds into the month: whoever got there first ranks first among equals.
    pub ms_into_month: u32,
}

/// A stream entry no worker can read: kept whole so that settlement can set it aside
/// (acknowledged, stored with its payload) instead of letting it pin the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Why it could not be parsed.
    pub reason: String,
    /// Its fields as a JSON object of strings, as they were on the stream.
    pub payload: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Parses an entry's fields, keeping them whole when they do not make an event.
fn parse_event<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
) -> Result<ScanEvent, Unreadable> {
    ScanEvent::from_pairs(pairs.clone()).map_err(|error| Unreadable {
        reason: error.to_string(),
        payload: serde_json::Value::Object(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_string(), value.into()))
                .collect(),
        )
        .to_string(),
    })
}

/// A connection dedicated to one worker's blocking reads.
#[derive(Clone)]
pub struct StreamReader {
    connection: Connection,
    keys: Keys,
    consumer: String,
    /// `lua/board.lua`, hashed once.
    board_script: redis::Script,
    /// Where the next round of per-stream reads starts (cluster only), so one busy
    /// campaign does not starve the others.
    next_first: usize,
}

/// How long an empty round of per-stream reads waits on a cluster, at most, before the
/// caller reads again: the price of not blocking is this much latency when idle.
const CLUSTER_POLL: Duration = Duration::from_millis(50);

/// Scans counted per call of `board.lua`. A script blocks Redis while it runs: a whole
/// batch (1000 scans, ~3 ms) in one call held every scan arriving meanwhile, the p99 of
/// scans beside a worker; 100 hold them ~0.3 ms, for 9 more calls per batch.
const BOARD_CALL_SCANS: usize = 100;

impl StreamReader {
    /// Connects with a response timeout longer than any `BLOCK`, so an idle stream is
    /// not mistaken for a dead server (redis-rs would otherwise give up after 500 ms).
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        consumer: &str,
        block: Duration,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            connection: Connection::open(url, block + Duration::from_secs(5)).await?,
            keys: Keys::new(key_prefix),
            consumer: consumer.to_string(),
            board_script: redis::Script::new(include_str!("lua/board.lua")),
            next_first: 0,
        })
    }

    /// Creates the group on a campaign's stream (and the stream) unless it exists;
    /// a new group starts at the first entry, so nothing written before is skipped.
    pub async fn ensure_group(&mut self, campaign: &str) -> Result<(), StoreError> {
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.events(campaign))
            .arg(SETTLE_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.connection)
            .await;
        match created {
            Err(error) if error.code() != Some("BUSYGROUP") => Err(error.into()),
            _ => Ok(()),
        }
    }

    /// New entries for this consumer, waiting up to `block` when there are none (not
    /// at all for a zero `block`).
    pub async fn read(
        &mut self,
        campaigns: &[String],
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>, StoreError> {
        if campaigns.is_empty() {
            // No stream to block on: wait as a read finding nothing would, so a caller
            // looping on reads does not spin until a campaign exists.
            tokio::time::sleep(block).await;
            return Ok(Vec::new());
        }
        if !self.connection.is_cluster() || campaigns.len() == 1 {
            return self.read_streams(campaigns, count, block).await;
        }
        // On a cluster, streams of different campaigns live in different slots: one
        // command cannot read (or block on) several. Each is read without blocking,
        // starting one further along each round, and an empty round waits a little.
        let first = self.next_first % campaigns.len();
        self.next_first = first + 1;
        let mut entries = Vec::new();
        for campaign in campaigns[first..].iter().chain(&campaigns[..first]) {
            let room = count.saturating_sub(entries.len());
            if room == 0 {
                break;
            }
            let found = self
                .read_streams(std::slice::from_ref(campaign), room, Duration::ZERO)
                .await?;
            entries.extend(found);
        }
        if entries.is_empty() {
            tokio::time::sleep(block.min(CLUSTER_POLL)).await;
        }
        Ok(entries)
    }

    /// One `XREADGROUP` over the streams of `campaigns` (all in one slot on a cluster).
    async fn read_streams(
        &mut self,
        campaigns: &[String],
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>, StoreError> {
        let keys: Vec<String> = campaigns.iter().map(|c| self.keys.events(c)).collect();
        // Read as a plain value and walked by hand: the typed stream reply copies every
        // field into a map of values first, which doubled the cost of a read.
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(SETTLE_GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count);
        if !block.is_zero() {
            // BLOCK 0 would wait forever.
            command
                .arg("BLOCK")
                .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        let reply: redis::Value = command
            .arg("STREAMS")
            .arg(&keys)
            .arg(vec![">"; keys.len()])
            .query_async(&mut self.connection)
            .await?;
        let streams: Vec<(&redis::Value, &redis::Value)> = match &reply {
            redis::Value::Array(streams) => streams
                .iter()
                .filter_map(|stream| match stream {
                    redis::Value::Array(pair) if pair.len() == 2 => Some((&pair[0], &pair[1])),
                    _ => None,
                })
                .collect(),
            redis::Value::Map(streams) => streams.iter().map(|(k, v)| (k, v)).collect(),
            _ => Vec::new(),
        };
        let mut entries = Vec::new();
        for (key, items) in streams {
            let Some(key) = text(key) else { continue };
            let Some(campaign) = campaigns.iter().find(|c| self.keys.events(c) == key) else {
                continue;
            };
            entries.extend(raw_entries(campaign, items));
        }
        Ok(entries)
    }

    /// Takes over entries another consumer read but has not acknowledged for `idle`.
    pub async fn claim(
        &mut self,
        campaign: &str,
        idle: Duration,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let reply: StreamAutoClaimReply = redis::AsyncCommands::xautoclaim_options(
            &mut self.connection,
            self.keys.events(campaign),
            SETTLE_GROUP,
            &self.consumer,
            u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
            "0-0",
            StreamAutoClaimOptions::default().count(count),
        )
        .await?;
        Ok(reply
            .claimed
            .into_iter()
            .map(|item| entry(campaign, item.id, &item.map))
            .collect())
    }

    /// Acknowledges settled entries.
    pub async fn ack(&mut self, campaign: &str, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let _: i64 = redis::AsyncCommands::xack(
            &mut self.connection,
            self.keys.events(campaign),
            SETTLE_GROUP,
            ids,
        )
        .await?;
        Ok(())
    }

    /// Gives the stored answers of settled scans (and, for laned campaigns, their
    /// codes' claims) `grace` to live: until then a retry is answered from Redis, after
    /// it from Postgres (`redemptions.answer`). Claims go first, each pipeline within one tag
    /// (one slot on a cluster): an owner must never outlive its answer, or the member
    /// lane would take a retry for a new scan. Called after the commit and before the
    /// ack, so a crash in between only repeats it.
    pub async fn forget_answers(
        &mut self,
        answers: &[SettledAnswer],
        grace: Duration,
    ) -> Result<(), StoreError> {
        let seconds = grace.as_secs();
        let mut claims: Vec<(&str, String)> = answers
            .iter()
            .filter_map(|a| {
                let tag = a.claim_tag.as_deref()?;
                Some((tag, self.keys.claim(tag, a.batch, a.serial, a.role)))
            })
            .collect();
        let mut results: Vec<(&str, String)> = answers
            .iter()
            .map(|a| {
                let key = self.keys.result(&a.tag, a.batch, a.serial, a.role);
                (a.tag.as_str(), key)
            })
            .collect();
        for keys in [&mut claims, &mut results] {
            keys.sort();
            for chunk in keys.chunk_by(|a, b| a.0 == b.0) {
                let mut pipe = redis::pipe();
                for (_, key) in chunk {
                    pipe.cmd("EXPIRE").arg(key).arg(seconds).ignore();
                }
                pipe.query_async::<()>(&mut self.connection).await?;
            }
        }
        Ok(())
    }

    /// Counts settled scans on their months' leaderboards (campaign-wide and the scan's
    /// region's), script calls (`lua/board.lua`) of up to [`BOARD_CALL_SCANS`] scans of
    /// one tag each. Called once per batch after the commit, for the scans that batch
    /// newly settled: a crash before it leaves those scans off the live boards until
    /// `yima restore` rebuilds them (boards are for display; a month's prizes go by the
    /// board frozen from Postgres).
    pub async fn count_on_boards(&mut self, scans: &[BoardScan]) -> Result<(), StoreError> {
        let mut by_tag: Vec<&BoardScan> = scans.iter().collect();
        by_tag.sort_by(|a, b| a.tag.cmp(&b.tag));
        let calls = by_tag
            .chunk_by(|a, b| a.tag == b.tag)
            .flat_map(|scans| scans.chunks(BOARD_CALL_SCANS));
        for chunk in calls {
            let mut boards: Vec<String> = Vec::new();
            let mut invocation = self.board_script.prepare_invoke();
            for scan in chunk {
                let regions = std::iter::once(None).chain(scan.region.as_deref().map(Some));
                for region in regions {
                    let key = self.keys.board(&scan.tag, &scan.period, region);
                    let index = match boards.iter().position(|k| *k == key) {
                        Some(index) => index,
                        None => {
                            boards.push(key);
                            boards.len() - 1
                        }
                    };
                    invocation
                        .arg(index + 1)
                        .arg(&scan.member)
                        .arg(scan.ms_into_month);
                }
            }
            for key in &boards {
                invocation.key(key);
            }
            let _: i64 = invocation.invoke_async(&mut self.connection).await?;
        }
        Ok(())
    }

    /// Drops the entries every worker has acknowledged (they are settled), so the stream
    /// holds only what is still on its way to Postgres: see [`trim_floor`] for why the
    /// group's last delivered id is read *before* the pending entries.
    /// Approximate (`~`): Redis frees whole nodes, keeping at most a node more.
    /// (Each `XTRIM ~` removes at most a bounded number of entries, by default 100
    /// nodes' worth: one call a second fell behind a worker settling faster than that.)
    pub async fn trim(&mut self, campaign: &str) -> Result<u64, StoreError> {
        let key = self.keys.events(campaign);
        let groups: redis::streams::StreamInfoGroupsReply =
            redis::AsyncCommands::xinfo_groups(&mut self.connection, &key).await?;
        let Some(delivered) = groups
            .groups
            .into_iter()
            .find(|g| g.name == SETTLE_GROUP)
            .map(|group| group.last_delivered_id)
        else {
            return Ok(0);
        };
        let pending: redis::streams::StreamPendingReply =
            redis::AsyncCommands::xpending(&mut self.connection, &key, SETTLE_GROUP).await?;
        let oldest_pending = match &pending {
            redis::streams::StreamPendingReply::Data(data) if data.count > 0 => {
                Some(data.start_id.as_str())
            }
            _ => None,
        };
        let oldest_unacked = trim_floor(&delivered, oldest_pending);
        // In steps, so no single call holds Redis for long; and in as many steps as it
        // takes, so trimming keeps up however fast entries are settled.
        const STEP: u64 = 10_000;
        let mut trimmed = 0;
        loop {
            let removed: u64 = redis::cmd("XTRIM")
                .arg(&key)
                .arg("MINID")
                .arg("~")
                .arg(&oldest_unacked)
                .arg("LIMIT")
                .arg(STEP)
                .query_async(&mut self.connection)
                .await?;
            // Whole nodes only, so a step may remove a little less than STEP while more
            // remains: stop when one removes nothing.
            if removed == 0 {
                return Ok(trimmed);
            }
            trimmed += removed;
        }
    }

    /// Removes other consumers that hold no pending entries and have been idle for
    /// `idle`: every worker process joins under a name of its own, so without this the
    /// group would list every worker that ever ran. One holding entries is kept until
    /// they are claimed from it. Returns how many were removed.
    pub async fn forget_idle_consumers(
        &mut self,
        campaign: &str,
        idle: Duration,
    ) -> Result<usize, StoreError> {
        let key = self.keys.events(campaign);
        let consumers: redis::streams::StreamInfoConsumersReply =
            redis::AsyncCommands::xinfo_consumers(&mut self.connection, &key, SETTLE_GROUP).await?;
        let idle_ms = usize::try_from(idle.as_millis()).unwrap_or(usize::MAX);
        let mut removed = 0;
        for consumer in consumers.consumers {
            if consumer.name == self.consumer || consumer.pending > 0 || consumer.idle < idle_ms {
                continue;
            }
            let _: i64 = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&key)
                .arg(SETTLE_GROUP)
                .arg(&consumer.name)
                .query_async(&mut self.connection)
                .await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Entries delivered to some consumer and not yet acknowledged.
    pub async fn pending(&mut self, campaign: &str) -> Result<u64, StoreError> {
        pending(&mut self.connection, &self.keys.events(campaign)).await
    }

    /// Entries added but not yet delivered to the group (never 0 while some wait).
    pub async fn lag(&mut self, campaign: &str) -> Result<u64, StoreError> {
        lag(&mut self.connection, &self.keys.events(campaign)).await
    }
}

/// Entries of a stream delivered to some consumer of the group and not acknowledged.
pub(crate) async fn pending(connection: &mut Connection, key: &str) -> Result<u64, StoreError> {
    let reply: redis::Value = match redis::cmd("XPENDING")
        .arg(key)
        .arg(SETTLE_GROUP)
        .query_async(connection)
        .await
    {
        // No worker has created the group yet: nothing is pending.
        Err(error) if error.code() == Some("NOGROUP") => return Ok(0),
        reply => reply?,
    };
    match reply {
        redis::Value::Array(items) => Ok(items
            .first()
            .and_then(|v| redis::from_redis_value_ref::<u64>(v).ok())
            .unwrap_or(0)),
        _ => Ok(0),
    }
}

/// How many entries were ever added to a stream, trims notwithstanding (0 if there is
/// no stream): the scan script adds one per redeemed scan and counts scans nowhere
/// else, so this is the scan counter a stream carries for free (see `Store::counters`).
pub(crate) async fn entries_added(
    connection: &mut Connection,
    key: &str,
) -> Result<i64, StoreError> {
    if !redis::AsyncCommands::exists::<_, bool>(connection, key).await? {
        return Ok(0);
    }
    let info: HashMap<String, redis::Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query_async(connection)
        .await?;
    let added = info.get("entries-added").ok_or_else(|| {
        StoreError::Protocol(
            "XINFO STREAM has no entries-added: yima needs Redis 7.0 or newer".into(),
        )
    })?;
    redis::from_redis_value_ref(added).map_err(|e| StoreError::Protocol(e.to_string()))
}

/// Entries added to a stream but not yet delivered to the group (all of them before a
/// worker created the group). Redis cannot always
/// count them (its `lag` is nil after some deletions and claims); then, if any entry
/// is undelivered, the stream's length stands in as an upper bound, so the lag never
/// reads 0 while entries wait.
pub(crate) async fn lag(connection: &mut Connection, key: &str) -> Result<u64, StoreError> {
    let groups: redis::streams::StreamInfoGroupsReply =
        redis::AsyncCommands::xinfo_groups(connection, key).await?;
    let Some(group) = groups.groups.into_iter().find(|g| g.name == SETTLE_GROUP) else {
        // No worker has joined yet: every entry waits.
        return Ok(redis::AsyncCommands::xlen(connection, key).await?);
    };
    if let Some(lag) = group.lag {
        return Ok(lag as u64);
    }
    let after: redis::streams::StreamRangeReply = redis::AsyncCommands::xrange_count(
        connection,
        key,
        format!("({}", group.last_delivered_id),
        "+",
        1,
    )
    .await?;
    if after.ids.is_empty() {
        return Ok(0);
    }
    Ok(redis::AsyncCommands::xlen(connection, key).await?)
}

/// The text of a string reply, borrowed.
fn text(value: &redis::Value) -> Option<&str> {
    match value {
        redis::Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        redis::Value::SimpleString(text) => Some(text),
        redis::Value::VerbatimString { text, .. } => Some(text),
        _ => None,
    }
}

/// Entries of an `XREADGROUP`/`XRANGE`-shaped reply: `[[id, [field, value, ...]], ...]`.
fn raw_entries(campaign: &str, items: &redis::Value) -> Vec<Entry> {
    let redis::Value::Array(items) = items else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let redis::Value::Array(parts) = item else {
                return None;
            };
            let id = text(parts.first()?)?.to_string();
            let pairs: Vec<(&str, &str)> = match parts.get(1)? {
                redis::Value::Array(flat) => flat
                    .chunks_exact(2)
                    .filter_map(|pair| Some((text(&pair[0])?, text(&pair[1])?)))
                    .collect(),
                redis::Value::Map(pairs) => pairs
                    .iter()
                    .filter_map(|(name, value)| Some((text(name)?, text(value)?)))
                    .collect(),
                _ => Vec::new(),
            };
            Some(Entry {
                campaign: campaign.to_string(),
                id,
                event: parse_event(pairs.iter().copied()),
            })
        })
        .collect()
}

fn entry(campaign: &str, id: String, map: &HashMap<String, redis::Value>) -> Entry {
    let pairs = map
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), text(value)?)));
    Entry {
        campaign: campaign.to_string(),
        id,
        event: parse_event(pairs),
    }
}

impl crate::Store {
    /// The id of the newest entry on a campaign's stream (`None` if it is empty or
    /// gone). Reading it before and after a multi-key read tells whether scans landed
    /// in between.
    pub async fn stream_tail(&self, campaign: &str) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        let newest: redis::streams::StreamRangeReply = redis::AsyncCommands::xrevrange_count(
            &mut connection,
            self.keys.events(campaign),
            "+",
            "-",
            1,
        )
        .await?;
        Ok(newest.ids.into_iter().next().map(|entry| entry.id))
    }

    /// Entries the settlement group has not acknowledged: pending with some worker or
    /// not yet delivered, oldest first. Without a group, every entry on the stream.
    pub async fn unacknowledged(&self, campaign: &str) -> Result<Vec<Entry>, StoreError> {
        let mut connection = self.connection.clone();
        let key = self.keys.events(campaign);
        let exists: bool = redis::AsyncCommands::exists(&mut connection, &key).await?;
        if !exists {
            return Ok(Vec::new());
        }
        let groups: redis::streams::StreamInfoGroupsReply =
            redis::AsyncCommands::xinfo_groups(&mut connection, &key).await?;
        let mut start = "-".to_string();
        if let Some(group) = groups.groups.iter().find(|g| g.name == SETTLE_GROUP) {
            let pending: redis::streams::StreamPendingReply =
                redis::AsyncCommands::xpending(&mut connection, &key, SETTLE_GROUP).await?;
            start = match pending {
                redis::streams::StreamPendingReply::Data(data) if data.count > 0 => data.start_id,
                _ => format!("({}", group.last_delivered_id),
            };
        }
        let mut entries = Vec::new();
        loop {
            let page: redis::streams::StreamRangeReply =
                redis::AsyncCommands::xrange_count(&mut connection, &key, &start, "+", 1000)
                    .await?;
            let Some(last) = page.ids.last() else {
                return Ok(entries);
            };
            start = format!("({}", last.id);
            entries.extend(
                page.ids
                    .into_iter()
                    .map(|item| entry(campaign, item.id, &item.map)),
            );
        }
    }
}

/// The id below which every entry of a stream is acknowledged, from the group's last
/// delivered id read first and its oldest pending id read after. Read the other way
/// round, another worker could read entries between the two looks: they are pending,
/// yet below the last delivered id seen second, and trimming there would delete
/// entries a worker still holds. Read in this order, an entry delivered after the
/// first look has a larger id than it, and one delivered before is either still
/// pending (seen by the second look) or acknowledged.
pub fn trim_floor(delivered_seen_first: &str, oldest_pending_seen_after: Option<&str>) -> String {
    match oldest_pending_seen_after {
        Some(pending) if stream_id_less(pending, delivered_seen_first) => pending.to_string(),
        _ => delivered_seen_first.to_string(),
    }
}

/// `a < b` for stream ids `ms-seq`.
fn stream_id_less(a: &str, b: &str) -> bool {
    let parse = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    parse(a) < parse(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_oldest_pending_entry_or_the_last_delivered_one() {
        // Nothing pending: everything up to the last delivered entry is acknowledged.
        assert_eq!(trim_floor("1700-5", None), "1700-5");
        // Pending below it: kept from there.
        assert_eq!(trim_floor("1700-5", Some("1600-0")), "1600-0");
        assert_eq!(trim_floor("1700-5", Some("1700-4")), "1700-4");
        // Another worker read entries after the first look: they are pending above
        // the id seen first, and the floor stays at that id, below them.
        assert_eq!(trim_floor("1700-5", Some("1800-0")), "1700-5");
        assert_eq!(trim_floor("1700-5", Some("1700-6")), "1700-5");
        // Ids compare as numbers, not text.
        assert_eq!(trim_floor("999-0", Some("1000-0")), "999-0");
        assert_eq!(trim_floor("1000-10", Some("1000-9")), "1000-9");
    }
}
