//! The settlement worker: Redis answered the scan, this makes it a record.
//!
//! Each round claims entries other workers left unacknowledged (they crashed), reads
//! new entries through the consumer group, writes them in one Postgres transaction and
//! acknowledges them only after the commit. A crash at any point leaves entries pending,
//! never lost: they are claimed again and the unique scan id makes the rewrite a no-op.
//! Several workers may run at once. Acknowledged entries are trimmed from the stream
//! about once a second, so Redis holds only what is still on its way.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};

use tokio::sync::watch;
use yima_ledger::{Award, DeadLetter, Ledger, LedgerError, Redemption, Settled};
use yima_store::{BoardScan, Entry, ScanEvent, SettledAnswer, StoreError, StreamReader};

/// Registers the worker's metrics with their help text, so they are listed (at zero)
/// before the first event arrives.
pub fn describe_metrics() {
    metrics::describe_counter!("yima_settled_events_total", "Scans written to Postgres.");
    metrics::describe_counter!(
        "yima_settle_redelivered_total",
        "Stream entries delivered again that were already settled (no effect)."
    );
    metrics::describe_counter!(
        "yima_settle_rejected_duplicates_total",
        "Second redemptions of a settled code and role (Redis lost state); stored as rejected, never paid."
    );
    metrics::describe_counter!(
        "yima_settle_dead_letters_total",
        "Stream entries that could not be read: stored in dead_letters and acknowledged."
    );
    metrics::describe_histogram!(
        "yima_settle_batch_size",
        "Entries per settlement transaction."
    );
    metrics::describe_histogram!(
        "yima_settle_commit_seconds",
        metrics::Unit::Seconds,
        "Time to write one batch to Postgres."
    );
    metrics::describe_gauge!(
        "yima_settle_lag",
        "Stream entries not yet settled (undelivered plus pending), per campaign."
    );
}

/// Failures that stop a round (the caller decides whether to retry).
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Postgres failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// How often a running worker looks for months whose leaderboards to freeze, and
/// makes sure this month's and next month's partitions of `scans` exist.
const BOARD_CHECK_EVERY: Duration = Duration::from_secs(60);

/// How a worker reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This worker's name in the consumer group (unique per process).
    pub consumer: String,
    /// Entries per read and per transaction.
    pub batch_size: usize,
    /// How long a read waits for new entries.
    pub block: Duration,
    /// How long an entry may stay unacknowledged before another worker takes it over.
    pub claim_idle: Duration,
    /// How often the list of campaigns is refreshed.
    pub campaign_refresh: Duration,
    /// How long another consumer with nothing pending may stay idle before it is
    /// removed from the group (a worker process that is gone).
    pub forget_consumers_after: Duration,
    /// How long after a month ends its leaderboards are frozen into Postgres: room for
    /// the month's last scans to settle.
    pub freeze_boards_after: Duration,
    /// How long a settled scan's answer stays in Redis for retries
    /// (`redis.answer_grace_seconds`); later retries are answered from Postgres.
    pub answer_grace: Duration,
}

/// Covers a client's retries and a page reloaded a few minutes later; at 40,000 scans
/// a second it keeps about 1.4 GB of answers in Redis (120 bytes each, docs/benchmarks.md).
pub const DEFAULT_ANSWER_GRACE: Duration = Duration::from_secs(300);

impl Default for Settings {
    fn default() -> Self {
        Self {
            consumer: "settle".into(),
            batch_size: 1000,
            block: Duration::from_secs(1),
            claim_idle: Duration::from_secs(30),
            campaign_refresh: Duration::from_secs(10),
            forget_consumers_after: Duration::from_secs(3600),
            freeze_boards_after: Duration::from_secs(3600),
            answer_grace: DEFAULT_ANSWER_GRACE,
        }
    }
}

/// Running totals, logged and returned on shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Redemptions written.
    pub settled: u64,
    /// Entries that were already written.
    pub redelivered: u64,
    /// Double redemptions stored as rejected.
    pub rejected: u64,
    /// Entries that could not be parsed, set aside in `dead_letters`.
    pub dead_letters: u64,
}

/// One worker.
pub struct Worker {
    reader: StreamReader,
    /// The reader's connection again, for a committed batch's follow-up (boards,
    /// answers' grace, acks) beside the next write and its non-blocking read; never
    /// used while the reader blocks.
    finisher: StreamReader,
    ledger: Ledger,
    settings: Settings,
    campaigns: Vec<String>,
    /// Lanes per campaign id, from the same refresh.
    lanes: HashMap<String, u16>,
    refreshed: Option<Instant>,
    lag_measured: Option<Instant>,
    claimed: Option<Instant>,
    totals: Totals,
    /// Entries delivered to this consumer and not yet written: read while the previous
    /// batch was being written, settled next.
    in_hand: Batch,
    /// The batch committed last, whose follow-up runs beside the next write.
    committed: Option<Committed>,
}

/// A committed batch and which of its entries the commit newly wrote.
struct Committed {
    batch: Batch,
    fresh: HashSet<(String, String)>,
}

impl Worker {
    /// A worker reading with `reader` and writing to `ledger`.
    pub fn new(reader: StreamReader, ledger: Ledger, settings: Settings) -> Self {
        Self {
            finisher: reader.clone(),
            reader,
            ledger,
            settings,
            campaigns: Vec::new(),
            lanes: HashMap::new(),
            refreshed: None,
            lag_measured: None,
            claimed: None,
            totals: Totals::default(),
            in_hand: Batch::default(),
            committed: None,
        }
    }

    /// What this worker has done so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Settles until `shutdown` turns true, then finishes the round in hand and returns.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<Totals, SettleError> {
        let mut backoff = Duration::from_millis(100);
        let mut boards_checked: Option<Instant> = None;
        while !*shutdown.borrow_and_update() {
            if boards_checked.is_none_or(|at| at.elapsed() >= BOARD_CHECK_EVERY) {
                self.freeze_ended_boards().await;
                self.create_months_ahead().await;
                boards_checked = Some(Instant::now());
            }
            match self.round().await {
                Ok(_) => backoff = Duration::from_millis(100),
                Err(error) => {
                    // Postgres or Redis away: wait and try again; nothing was acknowledged.
                    tracing::warn!(%error, "settlement round failed; retrying in {backoff:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        // What was read ahead is delivered to this consumer: settle it before leaving
        // rather than leave it for another worker to claim after `claim_idle`.
        if let Err(error) = self.follow_up().await {
            tracing::warn!(%error, "the last batch stays pending; another worker claims it");
        }
        let in_hand = std::mem::take(&mut self.in_hand);
        if let Err(error) = self.write_and_ack(in_hand).await {
            tracing::warn!(%error, "entries in hand stay pending; another worker claims them");
        }
        tracing::info!(?self.totals, "settlement worker stopped");
        Ok(self.totals)
    }

    /// Freezes the leaderboards of months that ended `freeze_boards_after` ago. A
    /// failure is logged and tried again at the next check.
    async fn freeze_ended_boards(&self) {
        let grace =
            i64::try_from(self.settings.freeze_boards_after.as_millis()).unwrap_or(i64::MAX);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            });
        let until = now.saturating_sub(grace);
        match self.ledger.freeze_ended_boards(until).await {
            Ok(0) => {}
            Ok(months) => tracing::info!(months, "froze ended months' leaderboards"),
            Err(error) => {
                tracing::warn!(%error, "freezing leaderboards failed; trying again later")
            }
        }
    }

    /// Creates this month's and next month's partitions of `scans` if missing, before a
    /// scan needs them. A failure is logged: settlement creates a missing month itself
    /// when it meets one.
    async fn create_months_ahead(&self) {
        if let Err(error) = self.ledger.ensure_months_ahead().await {
            tracing::warn!(%error, "creating the months ahead failed; trying again later");
        }
    }

    /// One round: refresh campaigns, claim stale entries, read new ones, settle.
    /// Returns how many entries it handled. After a failure the next round recreates
    /// streams and groups, which may be gone if Redis restarted empty.
    pub async fn round(&mut self) -> Result<usize, SettleError> {
        let result = self.try_round().await;
        if result.is_err() {
            self.campaigns.clear();
            self.refreshed = None;
        }
        result
    }

    async fn try_round(&mut self) -> Result<usize, SettleError> {
        if self
            .refreshed
            .is_none_or(|at| at.elapsed() >= self.settings.campaign_refresh)
        {
            // A stream per campaign, or per lane of a laned one.
            let lanes = self.ledger.campaign_lanes().await?;
            let mut campaigns: Vec<String> = lanes
                .iter()
                .flat_map(|(id, lanes)| yima_campaign::lanes::lane_tags(id, *lanes))
                .collect();
            self.lanes = lanes.into_iter().collect();
            campaigns.sort();
            for campaign in campaigns.iter().filter(|c| !self.campaigns.contains(c)) {
                self.reader.ensure_group(campaign).await?;
            }
            for campaign in &campaigns {
                self.reader
                    .forget_idle_consumers(campaign, self.settings.forget_consumers_after)
                    .await?;
            }
            self.campaigns = campaigns;
            self.refreshed = Some(Instant::now());
        }
        let mut handled = 0;
        // An entry becomes claimable only after `claim_idle`, so looking more often than
        // twice per that (or once a second) finds nothing new; and each look walks this
        // consumer's own pending entries, which include the batch read ahead.
        let claim_every = (self.settings.claim_idle / 2).min(Duration::from_secs(1));
        if self.claimed.is_none_or(|at| at.elapsed() >= claim_every) {
            handled += self.claim().await?;
            self.claimed = Some(Instant::now());
        }
        handled += self.settle_and_read_ahead().await?;
        if self
            .lag_measured
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            for campaign in &self.campaigns {
                self.reader.trim(campaign).await?;
                let lag = self.reader.lag(campaign).await? + self.reader.pending(campaign).await?;
                gauge!("yima_settle_lag", "campaign" => campaign.clone()).set(lag as f64);
            }
            self.lag_measured = Some(Instant::now());
        }
        Ok(handled)
    }

    /// Settles the batch in hand while the next is read and the batch before is
    /// followed up, so Postgres and Redis work at the same time; with nothing in hand,
    /// follows up the last batch and waits up to `block` for new entries. Returns how
    /// many entries it wrote or read.
    async fn settle_and_read_ahead(&mut self) -> Result<usize, SettleError> {
        let (size, block) = (self.settings.batch_size, self.settings.block);
        if self.in_hand.is_empty() {
            self.follow_up().await?;
            let entries = self.reader.read(&self.campaigns, size, block).await?;
            let read = entries.len();
            self.in_hand = self.parse(entries);
            return Ok(read);
        }
        let batch = std::mem::take(&mut self.in_hand);
        if let Err(error) = self.set_aside(&batch.dead).await {
            self.in_hand = batch;
            return Err(error);
        }
        let started = Instant::now();
        let previous = self.committed.take();
        let (written, next, followed) = tokio::join!(
            self.ledger.settle_fresh(&batch.redemptions),
            self.reader.read(&self.campaigns, size, Duration::ZERO),
            follow_up(&mut self.finisher, self.settings.answer_grace, previous),
        );
        // Entries read are delivered to this consumer whatever happened to the write:
        // keep them in hand.
        let next = next.map(|entries| self.parse(entries));
        let (settled, fresh) = match written {
            Ok(written) => written,
            Err(error) => {
                self.in_hand = batch;
                if let Ok(next) = next {
                    self.in_hand.append(next);
                }
                return Err(error.into());
            }
        };
        self.record(settled, batch.redemptions.len(), started);
        let written = batch.redemptions.len();
        self.committed = Some(Committed { batch, fresh });
        let read = match next {
            Ok(next) => {
                self.in_hand = next;
                Ok(())
            }
            Err(error) => Err(SettleError::Store(error)),
        };
        followed?;
        read?;
        Ok(written)
    }

    /// Follows up the batch committed last, if any (see [`follow_up`]).
    async fn follow_up(&mut self) -> Result<(), SettleError> {
        let committed = self.committed.take();
        follow_up(&mut self.finisher, self.settings.answer_grace, committed).await
    }

    /// Takes over and settles entries other consumers left unacknowledged (crashed).
    async fn claim(&mut self) -> Result<usize, SettleError> {
        let mut claimed = 0;
        for campaign in self.campaigns.clone() {
            let entries = self
                .reader
                .claim(
                    &campaign,
                    self.settings.claim_idle,
                    self.settings.batch_size,
                )
                .await?;
            claimed += entries.len();
            let batch = self.parse(entries);
            self.write_and_ack(batch).await?;
        }
        Ok(claimed)
    }

    async fn write_and_ack(&mut self, batch: Batch) -> Result<(), SettleError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.set_aside(&batch.dead).await?;
        let started = Instant::now();
        let (settled, fresh) = self.ledger.settle_fresh(&batch.redemptions).await?;
        self.record(settled, batch.redemptions.len(), started);
        let committed = Some(Committed { batch, fresh });
        follow_up(&mut self.finisher, self.settings.answer_grace, committed).await
    }

    /// The entries as redemptions to write, and unreadable ones as dead letters to
    /// set aside: both are acknowledged once stored, so a bad entry never pins the
    /// stream.
    fn parse(&mut self, entries: Vec<Entry>) -> Batch {
        let mut batch = Batch::with_capacity(entries.len());
        for entry in entries {
            match entry.event {
                Ok(event) => {
                    if let Some(answer) = self.settled_answer(&entry.campaign, &event) {
                        batch.answers.push(answer);
                    }
                    if let Some((period, ms_into_month)) = &event.board {
                        let scan = BoardScan {
                            tag: entry.campaign.clone(),
                            period: period.clone(),
                            region: event.region.clone().or_else(|| event.batch_region.clone()),
                            member: event.member.clone(),
                            ms_into_month: *ms_into_month,
                        };
                        batch
                            .boards
                            .push(((event.scan_id.clone(), entry.id.clone()), scan));
                    }
                    batch.redemptions.push(redemption(entry.id.clone(), event));
                }
                Err(unreadable) => {
                    tracing::error!(stream = %entry.campaign, id = %entry.id, reason = %unreadable.reason, "unreadable stream entry set aside in dead_letters");
                    batch.dead.push(DeadLetter {
                        campaign_id: yima_campaign::lanes::campaign_of(&entry.campaign).to_string(),
                        stream: entry.campaign.clone(),
                        stream_id: entry.id.clone(),
                        reason: unreadable.reason,
                        payload: unreadable.payload,
                    });
                }
            }
            batch.acks.push((entry.campaign, entry.id));
        }
        batch
    }

    /// Where a settled scan's answer (and its claim) is, once it may be let go: only
    /// for events that carry their answer (Postgres can then answer a retry), and only
    /// for campaigns whose lanes are known (a laned claim must go before its answer).
    fn settled_answer(&self, tag: &str, event: &ScanEvent) -> Option<SettledAnswer> {
        event.answer.as_ref()?;
        let lanes = *self.lanes.get(&event.campaign)?;
        let claim_tag = (lanes > 1).then(|| {
            let (lane, _) = yima_campaign::lanes::code_lane(event.serial, lanes);
            yima_campaign::lanes::lane_tag(&event.campaign, lanes, lane).into_owned()
        });
        Some(SettledAnswer {
            tag: tag.to_string(),
            claim_tag,
            batch: event.batch,
            serial: event.serial,
            role: event.role,
        })
    }

    /// Stores the batch's dead letters, before anything of the batch is acknowledged.
    async fn set_aside(&mut self, dead: &[DeadLetter]) -> Result<(), SettleError> {
        if dead.is_empty() {
            return Ok(());
        }
        let stored = self.ledger.set_aside(dead).await?;
        self.totals.dead_letters += stored;
        counter!("yima_settle_dead_letters_total").increment(stored);
        Ok(())
    }

    fn record(&mut self, settled: Settled, size: usize, started: Instant) {
        histogram!("yima_settle_commit_seconds").record(started.elapsed().as_secs_f64());
        histogram!("yima_settle_batch_size").record(size as f64);
        counter!("yima_settled_events_total").increment(settled.settled as u64);
        counter!("yima_settle_redelivered_total").increment(settled.redelivered as u64);
        counter!("yima_settle_rejected_duplicates_total").increment(settled.rejected as u64);
        self.totals.settled += settled.settled as u64;
        self.totals.redelivered += settled.redelivered as u64;
        self.totals.rejected += settled.rejected as u64;
        if settled.rejected > 0 {
            tracing::warn!(
                count = settled.rejected,
                "double redemptions rejected (Redis lost state?)"
            );
        }
        tracing::debug!(?settled, "batch settled");
    }
}

/// What follows a batch's commit, before its entries are acknowledged: the newly
/// settled scans counted on the leaderboards, the answers given their grace window,
/// then the acks. A crash in between repeats the last two (harmless) and skips the
/// first for those scans (see `StreamReader::count_on_boards`); so does a failure,
/// whose entries stay pending until a worker claims them.
async fn follow_up(
    reader: &mut StreamReader,
    grace: Duration,
    committed: Option<Committed>,
) -> Result<(), SettleError> {
    let Some(Committed { batch, fresh }) = committed else {
        return Ok(());
    };
    let boards: Vec<BoardScan> = batch
        .boards
        .into_iter()
        .filter(|(entry, _)| fresh.contains(entry))
        .map(|(_, scan)| scan)
        .collect();
    if !boards.is_empty() {
        reader.count_on_boards(&boards).await?;
    }
    reader.forget_answers(&batch.answers, grace).await?;
    let mut acks = batch.acks;
    acks.sort();
    for chunk in acks.chunk_by(|a, b| a.0 == b.0) {
        let ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
        reader.ack(&chunk[0].0, &ids).await?;
    }
    Ok(())
}

/// Redemptions to write in one transaction, dead letters to set aside, and the
/// stream entries they came from.
#[derive(Default)]
struct Batch {
    redemptions: Vec<Redemption>,
    dead: Vec<DeadLetter>,
    /// (stream, entry id), acknowledged after the commit.
    acks: Vec<(String, String)>,
    /// Answers Redis may let go once the batch is committed.
    answers: Vec<SettledAnswer>,
    /// Scans to count on the boards if the commit wrote them, by (scan id, entry id).
    boards: Vec<((String, String), BoardScan)>,
}

impl Batch {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            redemptions: Vec::with_capacity(capacity),
            dead: Vec::new(),
            acks: Vec::with_capacity(capacity),
            answers: Vec::with_capacity(capacity),
            boards: Vec::with_capacity(capacity),
        }
    }

    fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    fn append(&mut self, mut other: Batch) {
        self.redemptions.append(&mut other.redemptions);
        self.dead.append(&mut other.dead);
        self.acks.append(&mut other.acks);
        self.answers.append(&mut other.answers);
        self.boards.append(&mut other.boards);
    }
}

fn redemption(stream_id: String, event: ScanEvent) -> Redemption {
    Redemption {
        stream_id,
        scan_id: event.scan_id,
        campaign: event.campaign,
        revision: event.revision,
        batch: event.batch,
        serial: event.serial,
        role: event.role.as_str().to_string(),
        member: event.member,
        day: event.day,
        at_ms: event.at_ms,
        level: i32::try_from(event.level).unwrap_or(i32::MAX),
        draw: i32::try_from(event.draw).unwrap_or(i32::MAX),
        drawn: event.drawn,
        award: (!event.prize.is_empty()).then_some(Award {
            prize: event.prize,
            kind: event.kind,
            value: event.value,
        }),
        points: event.points,
        growth: event.growth,
        region: event.region,
        batch_region: event.batch_region,
        request_id: event.request_id,
        architecture: event.architecture,
        answer: event.answer,
    }
}
