//! What the CLI and the admin routes do to stored state: store a campaign after
//! checking the edit against what the campaign has done, seal draw secrets, and apply
//! level downgrades (Postgres first, then Redis). Each
//! is a short orchestration of the pure rules (`yima_campaign`) over Postgres
//! (`yima_ledger`) and Redis (`yima_store`), so neither the web crate nor the binary
//! holds a second copy.

use jiff::Timestamp;
use yima_campaign::{Campaign, DrawKeyRing, DrawSecret, Problem, Progress, UnsealError};
use yima_ledger::{Applied, CampaignRecord, Expected, Ledger, LedgerError};
use yima_store::Store;

/// Why a validated campaign was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Postgres failed, or the campaign changed between the check and the write.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Redis failed while reading what the campaign has awarded.
    #[error(transparent)]
    Store(#[from] yima_store::StoreError),
    /// No randomness for the draw secret.
    #[error("cannot generate a draw secret: {0}")]
    Random(String),
    /// The stored campaign does not accept this edit (see `yima_campaign::change`).
    #[error("the stored campaign refuses {} change(s)", .0.len())]
    Refused(Vec<Problem>),
}

/// Stores a validated campaign: shared by `yima campaign apply` and the admin route.
/// An edit of a stored campaign is first checked against what it has done (scans,
/// awards from Redis's counters, which include the unsettled) and written only if the
/// campaign is still at the revision checked. A new campaign gets a fresh draw secret,
/// stored sealed under the newest draw key.
pub async fn apply_campaign(
    ledger: &Ledger,
    store: &Store,
    draw_keys: &DrawKeyRing,
    campaign: &Campaign,
    now: Timestamp,
) -> Result<Applied, ApplyError> {
    let id = &campaign.file.id;
    let expected = match ledger.campaign(id).await? {
        None => Expected::Absent,
        Some(stored) => {
            let current = Campaign::from_definition_json(&stored.definition_json)
                .map_err(ApplyError::Refused)?;
            let counters = store.counters(&current.lane_tags()).await?;
            let progress = Progress {
                has_scans: counters.scans > 0 || ledger.campaign_has_scans(id).await?,
                awarded: counters
                    .awarded
                    .iter()
                    .map(|(prize, n)| (prize.clone(), u64::try_from(*n).unwrap_or(0)))
                    .collect(),
            };
            let problems = current.change_problems(campaign, now, &progress);
            if !problems.is_empty() {
                return Err(ApplyError::Refused(problems));
            }
            Expected::Revision(stored.revision)
        }
    };
    let record = CampaignRecord {
        id: id.clone(),
        name: campaign.file.name.clone(),
        starts_at: campaign.starts_at.to_string(),
        ends_at: campaign.ends_at.to_string(),
        timezone: campaign.file.timezone.clone(),
        definition_json: campaign.definition_json(),
    };
    let (mut secret, mut nonce) = ([0u8; 32], [0u8; 12]);
    getrandom::fill(&mut secret).map_err(|e| ApplyError::Random(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| ApplyError::Random(e.to_string()))?;
    let sealed = draw_keys.seal(id, &DrawSecret::from_bytes(secret), nonce);
    Ok(ledger.apply_campaign(&record, &sealed, expected).await?)
}

/// What [`reseal_secrets`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Campaigns whose secret was sealed anew.
    pub resealed: usize,
    /// Campaigns looked at.
    pub campaigns: usize,
}

/// Which stored secrets [`reseal_secrets`] rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Only the secrets stored in the clear before sealing existed: what `migrate`
    /// does once after the upgrade. A plain secret written later is never sealed.
    Plain,
    /// Every secret not sealed under the newest key: a key rotation.
    NotCurrent,
}

/// Why stored secrets could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// Postgres failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Secrets need sealing and no draw keys are configured.
    #[error(
        "{0} campaign(s) hold a draw secret in the clear: set YIMA_DRAW_KEYS (or YIMA_DRAW_KEYS_FILE) and run this again"
    )]
    NoKeys(usize),
    /// A stored secret does not open with the keys given.
    #[error("campaign {campaign}: {error}")]
    Unseal {
        /// The campaign.
        campaign: String,
        /// Why.
        error: UnsealError,
    },
    /// No randomness for a nonce.
    #[error("cannot generate a nonce: {0}")]
    Random(String),
}

/// Seals stored draw secrets (anew) under the newest draw key. The secret itself never
/// changes, so its published commitment and every recorded draw stay valid. A secret
/// that does not open stops the run with its campaign named (with no keys, that is
/// every secret but the plain ones `migrate` seals). Safe to repeat or to run
/// beside another: each rewrite happens only if the stored bytes are still those read.
pub async fn reseal_secrets(
    ledger: &Ledger,
    keys: Option<&DrawKeyRing>,
    which: Reseal,
) -> Result<Resealed, ResealError> {
    let stored = ledger.stored_secrets().await?;
    let due: Vec<_> = stored
        .iter()
        // A rotation opens every secret, so one that does not open is named even
        // if it claims the newest key.
        .filter(|(_, _, listed_plain)| which == Reseal::NotCurrent || *listed_plain)
        .collect();
    let mut done = Resealed {
        resealed: 0,
        campaigns: stored.len(),
    };
    if due.is_empty() {
        return Ok(done);
    }
    let keys = keys.ok_or(ResealError::NoKeys(due.len()))?;
    for (campaign, sealed, listed_plain) in due {
        let unseal = |error| ResealError::Unseal {
            campaign: campaign.clone(),
            error,
        };
        let secret = match (keys.open(campaign, sealed), listed_plain) {
            (Ok(secret), _) => secret,
            (Err(UnsealError::Plain), true) => DrawSecret::from_bytes(
                sealed
                    .as_slice()
                    .try_into()
                    .map_err(|_| unseal(UnsealError::Malformed(sealed.len())))?,
            ),
            (Err(error), _) => return Err(unseal(error)),
        };
        if keys.is_current(sealed) {
            continue;
        }
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| ResealError::Random(e.to_string()))?;
        if ledger
            .reseal(campaign, sealed, &keys.seal(campaign, &secret, nonce))
            .await?
        {
            done.resealed += 1;
        }
    }
    Ok(done)
}

/// Why level downgrades could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum DowngradeError {
    /// Postgres failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Redis failed after Postgres recorded the cut; `restore` completes it.
    #[error(transparent)]
    Store(#[from] yima_store::StoreError),
    /// No such campaign.
    #[error("unknown campaign `{0}`")]
    UnknownCampaign(String),
    /// The stored campaign no longer validates.
    #[error("the stored campaign `{0}` does not validate")]
    Invalid(String),
}

/// Applies every level-downgrade boundary of the campaign due by `now` that was not
/// applied yet (see `LevelDowngrade`): growth is cut in Postgres, one transaction per
/// boundary, then in Redis. Safe to run often (a daily timer) and from several hosts.
/// A crash between the two leaves Redis with the old growth until `restore`;
/// `reconcile` names those members. Returns each boundary applied now, with the
/// number of members cut.
pub async fn apply_downgrades(
    store: &Store,
    ledger: &Ledger,
    campaign: &str,
    now: Timestamp,
) -> Result<Vec<(String, usize)>, DowngradeError> {
    let stored = ledger
        .campaign(campaign)
        .await?
        .ok_or_else(|| DowngradeError::UnknownCampaign(campaign.to_string()))?;
    let rules = Campaign::from_definition_json(&stored.definition_json)
        .map_err(|_| DowngradeError::Invalid(campaign.to_string()))?;
    let Some(policy) = rules.file.level_downgrade else {
        return Ok(Vec::new());
    };
    let mut applied = Vec::new();
    for boundary in rules.downgrade_boundaries(now) {
        let boundary = boundary.to_string();
        let Some(cuts) = ledger
            .apply_downgrade(campaign, &boundary, i64::from(policy.keep_percent))
            .await?
        else {
            continue;
        };
        for (tag, cuts) in &rules.by_member_tag(&cuts, |cut| cut.member.as_str()) {
            let cuts: Vec<(&str, i64)> = cuts
                .iter()
                .map(|cut| (cut.member.as_str(), cut.removed))
                .collect();
            store.cut_growth(tag, &cuts).await?;
        }
        applied.push((boundary, cuts.len()));
    }
    Ok(applied)
}
