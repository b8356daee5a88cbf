//! Redis: the hot path's only store.
//!
//! Every scan of a one-lane campaign is one call of `scan.lua` on one multiplexed
//! connection: no pool, no pings, no second round trip; a campaign over lanes adds one
//! claim call (see `scan.rs`). Every key carries a hash tag (the campaign, or one of
//! its lanes) and every call touches one tag, so the scripts run unchanged on Redis
//! Cluster (several comma-separated seeds in the URL; see [`Connection`]). Postgres
//! stays the source of truth; this crate holds counters that `restore` can rebuild.
//!
//! Methods about a member take the member's tag (`Campaign::member_tag`); methods
//! about a whole campaign take all its tags (`Campaign::lane_tags`).

mod answer;
mod connection;
mod event;
mod keys;
mod scan;
mod snapshot;
mod stream;

use std::time::Duration;

pub use answer::{Answer, Finish, MalformedAnswer, Stored};
pub use connection::Connection;
pub use event::{EVENT_VERSION, MalformedEvent, ScanEvent};
pub use keys::Keys;
pub use scan::{ScanCall, ScanOutcome, ScanTable};
pub use snapshot::{BoardEntry, PIPELINE, TagState};
pub use stream::{BoardScan, Entry, SETTLE_GROUP, SettledAnswer, StreamReader, Unreadable};

/// Failures talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL could not be parsed.
    #[error("invalid Redis URL")]
    BadUrl(#[source] redis::RedisError),
    /// Redis did not answer or refused.
    #[error("Redis error")]
    Redis(#[from] redis::RedisError),
    /// The script answered something this version does not understand.
    #[error("unexpected reply from Redis: {0}")]
    Protocol(String),
}

/// A campaign's member counters as Redis holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberState {
    /// Spendable points.
    pub points: i64,
    /// Level progress.
    pub growth: i64,
    /// Redeemed scans.
    pub scans: i64,
}

/// What [`Store::recall`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recall {
    /// The member's own redemption, answered again.
    Own(Stored),
    /// Redeemed, and its answer let go after settlement: Postgres knows whose it was.
    Forgotten,
    /// Not redeemed, or someone else's.
    Nothing,
}

/// Campaign-wide counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignCounters {
    /// Redeemed scans.
    pub scans: i64,
    /// Scans that won a prize.
    pub wins: i64,
    /// Redeemed scans from outside their batch's region.
    pub diverted: i64,
    /// Diverted scans refused (campaigns with `diversion = "refuse"`).
    pub diverted_refused: i64,
    /// Redeemed scans per region (the scanner's, else the batch's), most first.
    pub regions: Vec<(String, i64)>,
    /// Prize id -> awarded so far.
    pub awarded: Vec<(String, i64)>,
}

impl CampaignCounters {
    /// How many of a prize were awarded so far.
    pub fn awarded_of(&self, prize: &str) -> i64 {
        self.awarded
            .iter()
            .find(|(id, _)| id == prize)
            .map_or(0, |(_, n)| *n)
    }
}

/// A connection to the hot store, cheap to clone (one multiplexed socket).
#[derive(Clone)]
pub struct Store {
    connection: Connection,
    keys: Keys,
    lane_scripts: std::sync::Arc<scan::LaneScripts>,
    /// Laned campaign revisions whose allotments this process has set up.
    allotted: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<(String, i32)>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects one multiplexed connection. `response_timeout` bounds every reply so
    /// a stalled Redis turns into an error instead of a hung request.
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        response_timeout: Duration,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            connection: Connection::open(url, response_timeout).await?,
            keys: Keys::new(key_prefix),
            lane_scripts: Default::default(),
            allotted: Default::default(),
        })
    }

    /// The key schema, for tests and tools that inspect Redis directly.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The connection itself, for tools (restore, reconcile) that read and write many
    /// keys; the scan path never needs it.
    pub fn connection(&self) -> Connection {
        self.connection.clone()
    }

    /// Round-trips a PING: used by readiness checks, never on the scan path.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await?;
        Ok(())
    }

    /// Takes a mall purchase's price off the member's hot balance, after Postgres
    /// committed it. Spending is checked against Postgres, so a crash before this call
    /// overspends nothing: Redis shows more points than Postgres until `restore`, and
    /// `reconcile` names the member. A member Redis does not know is left alone.
    pub async fn spend_points(
        &self,
        tag: &str,
        member: &str,
        points: i64,
    ) -> Result<(), StoreError> {
        const SPEND: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then \
            redis.call('HINCRBY', KEYS[1], 'points', -tonumber(ARGV[1])) end return 0";
        let mut connection = self.connection.clone();
        let _: i64 = redis::Script::new(SPEND)
            .key(self.keys.member(tag, member))
            .arg(points)
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    /// The top `limit` of a month's leaderboard, best first, with each member's scans.
    /// A laned campaign has a board per lane and every member is on its own lane's
    /// only, so the top of the whole is the top of the lanes' tops merged.
    pub async fn leaderboard(
        &self,
        tags: &[String],
        period: &str,
        region: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let mut top: Vec<(String, f64)> = Vec::new();
        for tag in tags {
            let lane: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(self.keys.board(tag, period, region))
                .arg(0)
                .arg(limit - 1)
                .arg("REV")
                .arg("WITHSCORES")
                .query_async(&mut connection)
                .await?;
            top.extend(lane);
        }
        // ZRANGE REV's order: score, then member, both descending.
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        top.truncate(limit);
        Ok(top
            .into_iter()
            .map(|(member, score)| (member, yima_campaign::board_scans(score)))
            .collect())
    }

    /// A member's place (1-based) on a month's leaderboard, `None` if not on it: one
    /// more than the members scoring higher on every lane's board (a member is on its
    /// own lane's only).
    pub async fn board_rank(
        &self,
        tags: &[String],
        own_tag: &str,
        period: &str,
        member: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut connection = self.connection.clone();
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(self.keys.board(own_tag, period, None))
            .arg(member)
            .query_async(&mut connection)
            .await?;
        let Some(score) = score else {
            return Ok(None);
        };
        let mut above = 0u64;
        for tag in tags {
            let count: u64 = redis::cmd("ZCOUNT")
                .arg(self.keys.board(tag, period, None))
                .arg(format!("({score:.0}"))
                .arg("+inf")
                .query_async(&mut connection)
                .await?;
            above += count;
        }
        Ok(Some(above + 1))
    }

    /// A member's counters in a campaign; `None` if the member never scanned there.
    pub async fn member(&self, tag: &str, member: &str) -> Result<Option<MemberState>, StoreError> {
        let mut connection = self.connection.clone();
        let values: Vec<Option<i64>> = redis::cmd("HMGET")
            .arg(self.keys.member(tag, member))
            .arg(&["points", "growth", "scans"])
            .query_async(&mut connection)
            .await?;
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let value = |index: usize| values.get(index).copied().flatten().unwrap_or(0);
        Ok(Some(MemberState {
            points: value(0),
            growth: value(1),
            scans: value(2),
        }))
    }

    /// What Redis remembers of `member`'s redemption of this code in this role, for
    /// the refusals that come before the scan script (a closed campaign, a voided
    /// batch): a retry gets its answer even then. `tag` is the member's tag (where the
    /// scan script stores it); `lanes` the campaign's, to find the code's bit.
    pub async fn recall(
        &self,
        (tag, lanes): (&str, u16),
        (campaign, batch, serial, role): (&str, u32, u32, yima_campaign::Role),
        member: &str,
    ) -> Result<Recall, StoreError> {
        let mut connection = self.connection.clone();
        let stored: Option<String> =
            redis::AsyncCommands::get(&mut connection, self.keys.result(tag, batch, serial, role))
                .await?;
        if let Some(stored) = stored {
            let (owner, answer) = stored
                .split_once('\n')
                .ok_or_else(|| StoreError::Protocol(format!("stored answer `{stored}`")))?;
            if owner != member {
                return Ok(Recall::Nothing);
            }
            let answer = Stored::parse(answer).map_err(|e| StoreError::Protocol(e.to_string()))?;
            return Ok(Recall::Own(answer));
        }
        let (lane, bit) = yima_campaign::lanes::code_lane(serial, lanes);
        let code_tag = yima_campaign::lanes::lane_tag(campaign, lanes, lane);
        let redeemed: u8 = redis::AsyncCommands::getbit(
            &mut connection,
            self.keys.redeemed(&code_tag, batch, role),
            usize::try_from(bit).unwrap_or(usize::MAX),
        )
        .await?;
        Ok(if redeemed == 1 {
            Recall::Forgotten
        } else {
            Recall::Nothing
        })
    }

    /// The stream entry of a scan, searched from the oldest entry: a tool for audits
    /// and support, not for the hot path.
    pub async fn find_event(
        &self,
        tags: &[String],
        scan_id: &str,
    ) -> Result<Option<ScanEvent>, StoreError> {
        for tag in tags {
            if let Some(event) = self.find_event_in(tag, scan_id).await? {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    async fn find_event_in(
        &self,
        tag: &str,
        scan_id: &str,
    ) -> Result<Option<ScanEvent>, StoreError> {
        type Entries = Vec<(String, Vec<(String, String)>)>;
        let mut connection = self.connection.clone();
        let key = self.keys.events(tag);
        let mut start = "-".to_string();
        loop {
            let entries: Entries = redis::cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await?;
            let Some((last, _)) = entries.last() else {
                return Ok(None);
            };
            start = format!("({last}");
            // An entry that cannot be read is not the scan asked for; the settlement
            // worker is what reports it.
            let found = entries.iter().find_map(|(_, fields)| {
                ScanEvent::from_pairs(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                    .ok()
                    .filter(|event| event.scan_id == scan_id)
            });
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// Adds points earned outside a scan (a task) to the member's hot balance, after
    /// Postgres committed them; the same crash window as [`Store::spend_points`].
    pub async fn credit_points(
        &self,
        tag: &str,
        member: &str,
        points: i64,
    ) -> Result<i64, StoreError> {
        let mut connection = self.connection.clone();
        Ok(redis::AsyncCommands::hincr(
            &mut connection,
            self.keys.member(tag, member),
            "points",
            points,
        )
        .await?)
    }

    /// Scans on the stream not yet settled: undelivered plus unacknowledged, as the
    /// workers report it, for a gateway's own `/metrics`.
    pub async fn settlement_lag(&self, tags: &[String]) -> Result<u64, StoreError> {
        let mut connection = self.connection.clone();
        let mut lag = 0;
        for tag in tags {
            let key = self.keys.events(tag);
            lag += stream::lag(&mut connection, &key).await?;
            lag += stream::pending(&mut connection, &key).await?;
        }
        Ok(lag)
    }

    /// Counts a diverted scan that the campaign refuses.
    pub async fn count_refused_diversion(&self, tag: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: i64 = redis::AsyncCommands::hincr(
            &mut connection,
            self.keys.stats(tag),
            "diverted_refused",
            1,
        )
        .await?;
        Ok(())
    }

    /// Scans, wins and awards per prize, summed over the campaign's tags. A tag's scans
    /// are its stream's entries (one per redeemed scan) plus what `restore` counted
    /// before the stream began (`scans_before_stream`: a field of its own, so the
    /// `scans` that gateways before 0.11 count is never added twice); its wins, what it
    /// awarded.
    pub async fn counters(&self, tags: &[String]) -> Result<CampaignCounters, StoreError> {
        let mut connection = self.connection.clone();
        type Pairs = Vec<(String, i64)>;
        let mut sums: [std::collections::BTreeMap<String, i64>; 2] = Default::default();
        let mut streamed = 0;
        for tag in tags {
            streamed += stream::entries_added(&mut connection, &self.keys.events(tag)).await?;
            let (stats, awarded): (Pairs, Pairs) = redis::pipe()
                .hgetall(self.keys.stats(tag))
                .hgetall(self.keys.awarded(tag))
                .query_async(&mut connection)
                .await?;
            for (sum, pairs) in sums.iter_mut().zip([stats, awarded]) {
                for (name, value) in pairs {
                    *sum.entry(name).or_default() += value;
                }
            }
        }
        let [stats, awarded] = sums;
        // Lane allotments and the bank share the awards hash, as `kind:prize` fields
        // (prize ids never hold a colon).
        let awarded: Pairs = awarded
            .into_iter()
            .filter(|(name, _)| !name.contains(':'))
            .collect();
        let stats: Pairs = stats.into_iter().collect();
        let stat = |name: &str| stats.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| *v);
        Ok(CampaignCounters {
            scans: stat("scans_before_stream") + streamed,
            // Each win counts its prize once: the scan script keeps no count of its own.
            wins: awarded.iter().map(|(_, n)| n).sum(),
            diverted: stat("diverted"),
            diverted_refused: stat("diverted_refused"),
            regions: {
                let mut regions: Vec<(String, i64)> = stats
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix("region:")?.to_string(), *v)))
                    .collect();
                regions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                regions
            },
            awarded,
        })
    }
}
