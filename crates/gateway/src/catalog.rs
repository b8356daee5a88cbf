//! Campaigns and batches held in memory, so a scan reads no database.
//!
//! Loaded at start-up; kept current by Postgres `NOTIFY` (triggers on both tables);
//! a batch missing from memory is looked up once in Postgres (a batch registered a
//! moment ago may be scanned before its notification arrives). Each campaign carries
//! its revision: a scan always uses one consistent revision of the prize table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use yima_campaign::{Campaign, DrawKeyRing, DrawSecret, Multipliers};
use yima_ledger::{Batch, Ledger, LedgerError, StoredCampaign};
use yima_store::ScanTable;

/// How often a following catalog reloads everything, whatever it was told: the bound
/// on how long a change whose notification was lost can go unseen.
pub const FULL_RELOAD_EVERY: Duration = Duration::from_secs(60);

/// A campaign revision ready for scans.
#[derive(Debug)]
pub struct LoadedCampaign {
    /// The validated rules.
    pub campaign: Campaign,
    /// Its revision in Postgres.
    pub revision: i32,
    /// The script arguments compiled from it, for days without a boost.
    pub table: ScanTable,
    /// And for each other combination of boosts its days have...
    boosted: Vec<ScanTable>,
    /// ...which of them each boosted day uses.
    boosted_days: HashMap<jiff::civil::Date, usize>,
    /// The draw secret.
    pub secret: DrawSecret,
    /// The campaign's rule set for each of the brand's architectures, in the catalog's
    /// order (see [`Standing::architecture`]).
    rules_by_architecture: Vec<usize>,
}

impl LoadedCampaign {
    fn from_stored(
        stored: StoredCampaign,
        keys: &DrawKeyRing,
        architectures: &[HeldArchitecture],
    ) -> Result<Self, String> {
        let campaign =
            Campaign::from_definition_json(&stored.definition_json).map_err(|problems| {
                let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                format!(
                    "a stored campaign no longer validates: {}",
                    problems.join("; ")
                )
            })?;
        // A secret that does not open is never replaced by a guess: the campaign is
        // left out (scans answer unknown) until an operator fixes the keys.
        let secret = keys
            .open(&campaign.file.id, &stored.sealed_secret)
            .map_err(|error| format!("campaign {}: {error}", campaign.file.id))?;
        let table = ScanTable::new(&campaign, stored.revision);
        let mut combinations: Vec<Multipliers> = Vec::new();
        let mut boosted_days = HashMap::new();
        for (day, multipliers) in campaign.boosted_days() {
            let index = combinations
                .iter()
                .position(|m| *m == multipliers)
                .unwrap_or_else(|| {
                    combinations.push(multipliers);
                    combinations.len() - 1
                });
            boosted_days.insert(day, index);
        }
        let boosted = combinations
            .into_iter()
            .map(|m| ScanTable::boosted(&campaign, stored.revision, m))
            .collect();
        let rules_by_architecture = architectures
            .iter()
            .map(|a| campaign.rules_of(Some(&a.id)))
            .collect();
        Ok(Self {
            campaign,
            revision: stored.revision,
            table,
            boosted,
            boosted_days,
            secret,
            rules_by_architecture,
        })
    }

    /// The rule set a member of this standing scans under (`None`: one not held in
    /// memory, who is in the brand's first architecture or unregistered).
    pub fn rules_for(&self, standing: Option<Standing>) -> usize {
        let index = standing.map_or(0, |s| usize::from(s.architecture));
        self.rules_by_architecture.get(index).copied().unwrap_or(0)
    }

    /// The level (1-based) and its name that `growth` reaches under a rule set.
    pub fn level(&self, rules: usize, growth: i64) -> (usize, Option<&str>) {
        let level = self
            .campaign
            .level_in(rules, u64::try_from(growth).unwrap_or(0));
        let name = self
            .campaign
            .levels_in(rules)
            .get(level)
            .map(|l| l.name.as_str());
        (level + 1, name)
    }
}

impl LoadedCampaign {
    /// The script arguments for a campaign day, with its boosts applied.
    pub fn table_on(&self, day: jiff::civil::Date) -> &ScanTable {
        self.boosted_days
            .get(&day)
            .and_then(|&index| self.boosted.get(index))
            .unwrap_or(&self.table)
    }
}

/// How a gateway treats a member's scans, for those whose differ from an unregistered
/// member's: copied out of the catalog on each genuine scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The member's architecture, by its place in the brand's list (0: the first, which
    /// unregistered members count in too).
    pub architecture: u16,
    /// Registered in an architecture whose scans take the dealer role.
    pub dealer: bool,
    /// Blocked: no scan is drawn.
    pub blocked: bool,
}

/// One of the brand's architectures, as the catalog needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldArchitecture {
    /// Its id.
    pub id: String,
    /// Its members scan as dealers.
    pub dealer: bool,
}

impl Standing {
    fn of(stored: &yima_ledger::Standing, architectures: &[HeldArchitecture]) -> Self {
        let index = stored
            .architecture
            .as_deref()
            .and_then(|name| architectures.iter().position(|a| a.id == name));
        Self {
            architecture: index.and_then(|i| u16::try_from(i).ok()).unwrap_or(0),
            dealer: index.is_some_and(|i| architectures[i].dealer),
            blocked: stored.blocked,
        }
    }
}

/// What the gateway knows of campaigns and batches.
#[derive(Debug)]
pub struct Catalog {
    /// Opens the campaigns' sealed draw secrets.
    keys: DrawKeyRing,
    campaigns: RwLock<HashMap<String, Arc<LoadedCampaign>>>,
    batches: RwLock<HashMap<u32, Arc<Batch>>>,
    /// The brand's architectures, the first being where unregistered members count;
    /// set once before loading.
    architectures: RwLock<Vec<HeldArchitecture>>,
    /// Members of every architecture but the first, and blocked members: everyone whose
    /// scans differ from an unregistered member's. Dealers and decoration companies,
    /// thousands to hundreds of thousands, not the millions of tradesmen.
    standings: RwLock<HashMap<String, Standing>>,
    loaded: AtomicBool,
    changes: tokio::sync::watch::Sender<u64>,
    /// Batch ids looked up and not found, with when: a code naming an unknown batch
    /// costs one query per [`UNKNOWN_BATCH_TTL`], not one per scan.
    unknown: std::sync::Mutex<HashMap<u32, std::time::Instant>>,
}

/// The architectures whose members are held in memory: all but the first.
fn held(architectures: &[HeldArchitecture]) -> Vec<String> {
    architectures.iter().skip(1).map(|a| a.id.clone()).collect()
}

/// How long a batch id found missing is answered from memory. A batch registered in
/// that window is seen as soon as its notification arrives.
pub const UNKNOWN_BATCH_TTL: Duration = Duration::from_secs(10);

/// Unknown batch ids remembered at most; past it the memory starts again.
const MAX_UNKNOWN_BATCHES: usize = 100_000;

impl Catalog {
    /// An empty catalog whose campaigns' secrets open with `keys`.
    pub fn new(keys: DrawKeyRing) -> Self {
        Self {
            keys,
            unknown: std::sync::Mutex::default(),
            campaigns: RwLock::default(),
            batches: RwLock::default(),
            architectures: RwLock::default(),
            standings: RwLock::default(),
            loaded: AtomicBool::new(false),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Catalog {
    /// A receiver that sees every change applied to the catalog, so callers can wait
    /// for a reload instead of guessing how long it takes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// The draw keys: they open the campaigns' secrets, and seal those of campaigns
    /// created through the admin route.
    pub fn draw_keys(&self) -> &DrawKeyRing {
        &self.keys
    }

    /// Whether the first full load has completed (readiness).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// A campaign by id.
    pub fn campaign(&self, id: &str) -> Option<Arc<LoadedCampaign>> {
        // A poisoned lock only means a writer panicked between whole-value inserts.
        let guard = self
            .campaigns
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.get(id).cloned()
    }

    /// The brand's architectures in configured order (before [`Catalog::load_all`]).
    pub fn set_architectures(&self, architectures: Vec<HeldArchitecture>) {
        *self
            .architectures
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = architectures;
    }

    /// How `member`'s scans are treated: `None` for a member who is not blocked and is
    /// unregistered or in the brand's first architecture.
    pub fn standing(&self, member: &str) -> Option<Standing> {
        self.standings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(member)
            .copied()
    }

    /// Every loaded campaign.
    pub fn campaigns(&self) -> Vec<Arc<LoadedCampaign>> {
        let guard = self
            .campaigns
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.values().cloned().collect()
    }

    /// A batch by id: memory first, then Postgres.
    pub async fn batch(&self, ledger: &Ledger, id: u32) -> Result<Option<Arc<Batch>>, LedgerError> {
        if let Some(batch) = self.cached_batch(id) {
            return Ok(Some(batch));
        }
        let recently_missing = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .is_some_and(|at| at.elapsed() < UNKNOWN_BATCH_TTL);
        if recently_missing {
            return Ok(None);
        }
        self.reload_batch(ledger, id).await?;
        let found = self.cached_batch(id);
        if found.is_none() {
            let mut unknown = self
                .unknown
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if unknown.len() >= MAX_UNKNOWN_BATCHES {
                unknown.clear();
            }
            unknown.insert(id, std::time::Instant::now());
        }
        Ok(found)
    }

    /// A batch by id if it is in memory.
    pub fn cached_batch(&self, id: u32) -> Option<Arc<Batch>> {
        let guard = self
            .batches
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.get(&id).cloned()
    }

    /// Loads everything; replaces what was there.
    pub async fn load_all(&self, ledger: &Ledger) -> Result<(), LedgerError> {
        let mut campaigns = HashMap::new();
        for stored in ledger.campaigns().await? {
            match LoadedCampaign::from_stored(stored, &self.keys, &self.architectures()) {
                Ok(loaded) => {
                    campaigns.insert(loaded.campaign.file.id.clone(), Arc::new(loaded));
                }
                Err(reason) => tracing::error!(%reason, "campaign not loaded"),
            }
        }
        let batches: HashMap<u32, Arc<Batch>> = ledger
            .batches()
            .await?
            .into_iter()
            .map(|b| (b.id, Arc::new(b)))
            .collect();
        let architectures = self.architectures();
        let standings: HashMap<String, Standing> = ledger
            .standings(&held(&architectures))
            .await?
            .into_iter()
            .map(|s| (s.member.clone(), Standing::of(&s, &architectures)))
            .collect();
        tracing::debug!(
            campaigns = campaigns.len(),
            batches = batches.len(),
            standings = standings.len(),
            "catalog loaded"
        );
        *self
            .standings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = standings;
        *self
            .campaigns
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = campaigns;
        *self
            .batches
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = batches;
        self.loaded.store(true, Ordering::Release);
        self.changed();
        Ok(())
    }

    async fn reload_campaign(&self, ledger: &Ledger, id: &str) -> Result<(), LedgerError> {
        let Some(stored) = ledger.campaign(id).await? else {
            return Ok(());
        };
        match LoadedCampaign::from_stored(stored, &self.keys, &self.architectures()) {
            Ok(loaded) => {
                tracing::info!(
                    campaign = id,
                    revision = loaded.revision,
                    "campaign reloaded"
                );
                self.campaigns
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(id.to_string(), Arc::new(loaded));
                self.changed();
            }
            Err(reason) => tracing::error!(%reason, "campaign not reloaded"),
        }
        Ok(())
    }

    fn architectures(&self) -> Vec<HeldArchitecture> {
        self.architectures
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn reload_member(&self, ledger: &Ledger, member: &str) -> Result<(), LedgerError> {
        let architectures = self.architectures();
        let standing = ledger.standing(member, &held(&architectures)).await?;
        {
            let mut standings = self
                .standings
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if standing.architecture.is_some() || standing.blocked {
                standings.insert(member.to_string(), Standing::of(&standing, &architectures));
            } else {
                standings.remove(member);
            }
        }
        self.changed();
        Ok(())
    }

    async fn reload_batch(&self, ledger: &Ledger, id: u32) -> Result<(), LedgerError> {
        match ledger.batch(id).await {
            Ok(batch) => {
                self.batches
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(id, Arc::new(batch));
                self.changed();
                Ok(())
            }
            Err(LedgerError::UnknownBatch(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Follows change notifications forever, with a full reload every
    /// [`FULL_RELOAD_EVERY`]; see [`Catalog::follow_every`].
    pub async fn follow(self: Arc<Self>, ledger: Ledger) {
        self.follow_every(ledger, FULL_RELOAD_EVERY).await
    }

    /// Follows change notifications forever: reconnects with backoff, and reloads
    /// everything after each (re)connect so nothing missed while away stays stale.
    /// sqlx's listener reconnects by itself and would hide the gap (notifications
    /// sent meanwhile are lost), so a lost connection is taken as the end of this
    /// listener: a new one listens first, then everything is reloaded. A full reload
    /// every `reload_every` bounds how long anything else missed can stay stale.
    pub async fn follow_every(self: Arc<Self>, ledger: Ledger, reload_every: Duration) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.follow_once(&ledger, reload_every).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(%error, "catalog listener lost; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Listens, loads everything, then follows until the connection is lost (`Ok`) or
    /// a query fails (`Err`).
    async fn follow_once(
        &self,
        ledger: &Ledger,
        reload_every: Duration,
    ) -> Result<(), LedgerError> {
        let mut listener = ledger.catalog_listener().await?;
        self.load_all(ledger).await?;
        let mut reload = tokio::time::interval(reload_every);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reload.tick().await;
        loop {
            let notification = tokio::select! {
                _ = reload.tick() => {
                    self.load_all(ledger).await?;
                    continue;
                }
                received = listener.try_recv() => received?,
            };
            let Some(notification) = notification else {
                tracing::warn!("catalog listener connection lost; listening again and reloading");
                return Ok(());
            };
            match notification.payload().split_once(':') {
                Some(("campaigns", id)) => self.reload_campaign(ledger, id).await?,
                Some(("members", member)) => self.reload_member(ledger, member).await?,
                Some(("batches", id)) => {
                    if let Ok(id) = id.parse() {
                        self.reload_batch(ledger, id).await?;
                    }
                }
                _ => tracing::warn!(
                    payload = notification.payload(),
                    "unknown catalog notification"
                ),
            }
        }
    }
}
