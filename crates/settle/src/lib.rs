//! The settlement worker: Redis answered the scan, this makes it a record.
//!
//! Each round claims entries other workers left unacknowledged (they crashed), reads
//! new entries through the consumer group, writes them in one Postgres transaction and
//! acknowledges them only after the commit. A crash at any point leaves entries pending,
//! never lost: they are claimed again and the unique scan id makes the rewrite a no-op.
//! Several workers may run at once. Acknowledged entries are trimmed from the stream
//! about once a second, so Redis holds only what is still on its way.

use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};

use tokio::sync::watch;
use yima_ledger::{Award, Ledger, LedgerError, Redemption, Settled};
use yima_store::{Entry, ScanEvent, StoreError, StreamReader};

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
        "yima_settle_malformed_total",
        "Stream entries that could not be read; left pending."
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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            consumer: "settle".into(),
            batch_size: 1000,
            block: Duration::from_secs(1),
            claim_idle: Duration::from_secs(30),
            campaign_refresh: Duration::from_secs(10),
            forget_consumers_after: Duration::from_secs(3600),
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
    /// Entries that could not be parsed (left pending, logged).
    pub malformed: u64,
}

/// One worker.
pub struct Worker {
    reader: StreamReader,
    ledger: Ledger,
    settings: Settings,
    campaigns: Vec<String>,
    refreshed: Option<Instant>,
    lag_measured: Option<Instant>,
    totals: Totals,
}

impl Worker {
    /// A worker reading with `reader` and writing to `ledger`.
    pub fn new(reader: StreamReader, ledger: Ledger, settings: Settings) -> Self {
        Self {
            reader,
            ledger,
            settings,
            campaigns: Vec::new(),
            refreshed: None,
            lag_measured: None,
            totals: Totals::default(),
        }
    }

    /// Settles until `shutdown` turns true, then finishes the round in hand and returns.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<Totals, SettleError> {
        let mut backoff = Duration::from_millis(100);
        while !*shutdown.borrow_and_update() {
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
        tracing::info!(?self.totals, "settlement worker stopped");
        Ok(self.totals)
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
            let mut campaigns: Vec<String> = self.ledger.campaign_ids().await?;
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
        for campaign in self.campaigns.clone() {
            let claimed = self
                .reader
                .claim(
                    &campaign,
                    self.settings.claim_idle,
                    self.settings.batch_size,
                )
                .await?;
            handled += self.settle(claimed).await?;
        }
        let entries = self
            .reader
            .read(
                &self.campaigns,
                self.settings.batch_size,
                self.settings.block,
            )
            .await?;
        handled += self.settle(entries).await?;
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

    async fn settle(&mut self, entries: Vec<Entry>) -> Result<usize, SettleError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let mut redemptions = Vec::with_capacity(entries.len());
        let mut acks: Vec<(String, String)> = Vec::with_capacity(entries.len());
        for entry in &entries {
            match &entry.event {
                Ok(event) => {
                    redemptions.push(redemption(&entry.id, event));
                    acks.push((entry.campaign.clone(), entry.id.clone()));
                }
                Err(reason) => {
                    // Left pending: it is claimed again and logged again until fixed.
                    self.totals.malformed += 1;
                    counter!("yima_settle_malformed_total").increment(1);
                    tracing::error!(campaign = %entry.campaign, id = %entry.id, %reason, "malformed stream entry");
                }
            }
        }
        let started = Instant::now();
        let settled: Settled = self.ledger.settle(&redemptions).await?;
        histogram!("yima_settle_commit_seconds").record(started.elapsed().as_secs_f64());
        histogram!("yima_settle_batch_size").record(redemptions.len() as f64);
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
        acks.sort();
        for campaign in &self.campaigns {
            let ids: Vec<String> = acks
                .iter()
                .filter(|(c, _)| c == campaign)
                .map(|(_, id)| id.clone())
                .collect();
            self.reader.ack(campaign, &ids).await?;
        }
        tracing::debug!(?settled, "batch settled");
        Ok(entries.len())
    }
}

fn redemption(stream_id: &str, event: &ScanEvent) -> Redemption {
    Redemption {
        stream_id: stream_id.to_string(),
        scan_id: event.scan_id.clone(),
        campaign: event.campaign.clone(),
        revision: event.revision,
        batch: event.batch,
        serial: event.serial,
        role: event.role.as_str().to_string(),
        member: event.member.clone(),
        day: event.day.clone(),
        at_ms: event.at_ms,
        level: i32::try_from(event.level).unwrap_or(i32::MAX),
        draw: i32::try_from(event.draw).unwrap_or(i32::MAX),
        drawn: event.drawn.clone(),
        award: (!event.prize.is_empty()).then(|| Award {
            prize: event.prize.clone(),
            kind: event.kind.clone(),
            value: event.value,
        }),
        points: event.points,
        growth: event.growth,
        region: event.region.clone(),
        batch_region: event.batch_region.clone(),
        request_id: event.request_id.clone(),
    }
}
