//! Cash prizes (red packets) reach members through the payment provider's webhook.
//!
//! Settlement writes each cash award to the `payouts` outbox in the same transaction
//! as the award. The dispatcher claims due rows under a lease, POSTs each with an
//! HMAC-SHA256 signature and the scan id as idempotency key, and records the answer:
//! delivered, retry later with backoff, or failed for finance to handle. A crash
//! between the POST and the record means the POST is repeated with the same key, so
//! the provider — which pays a key once — never pays twice.

mod webhook;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use yima_ledger::{DuePayout, Ledger, LedgerError};

pub use webhook::{
    ATTEMPT_HEADER, BadSignature, IDEMPOTENCY_HEADER, Outcome, SIGNATURE_HEADER, backoff, outcome,
    sign, verify,
};

/// Makes ring the process's TLS crypto provider unless one is set. reqwest is built
/// without a bundled provider (the default one compiles a large C library), so every
/// process that builds a reqwest client — the worker, tests — calls this first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Registers the dispatcher's metrics with their help text.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "yima_payouts_total",
        "Payout attempts by outcome: delivered, retried, failed."
    );
}

/// Why the dispatcher could not start or finish a round.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// Postgres failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The HTTP client could not be built (TLS roots, bad settings).
    #[error("cannot build the webhook client")]
    Client(#[source] reqwest::Error),
    /// The webhook URL is not http(s).
    #[error("payout webhook URL must start with http:// or https://")]
    BadUrl,
    /// An `http://` webhook without `allow_http`.
    #[error(
        "payout webhook URL is http://: use https://, or set payouts.allow_http = true for development"
    )]
    PlainHttp,
}

/// Where and how payouts are sent.
#[derive(Clone)]
pub struct Settings {
    /// The provider's webhook.
    pub url: String,
    /// Key of the signature; shared with the provider.
    pub secret: Vec<u8>,
    /// Attempts before a payout is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubles each time.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// Per-request timeout (also bounds the claim's lease).
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How often an idle dispatcher looks for due payouts.
    pub poll: Duration,
    /// Whether an `http://` webhook is accepted: only for development, since the
    /// payout and its signature would cross the network in clear.
    pub allow_http: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("max_attempts", &self.max_attempts)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Accepted by the webhook.
    pub delivered: usize,
    /// To be tried again later.
    pub retried: usize,
    /// Given up on.
    pub failed: usize,
}

impl Round {
    /// Payouts handled.
    pub fn handled(&self) -> usize {
        self.delivered + self.retried + self.failed
    }
}

/// Sends due payouts. Several may run at once (in several workers): claims never
/// overlap.
pub struct Dispatcher {
    ledger: Ledger,
    client: reqwest::Client,
    settings: Settings,
}

impl Dispatcher {
    /// A dispatcher posting to `settings.url`.
    pub fn new(ledger: Ledger, settings: Settings) -> Result<Self, PayoutError> {
        let http = settings.url.starts_with("http://");
        if !(http || settings.url.starts_with("https://")) {
            return Err(PayoutError::BadUrl);
        }
        if http && !settings.allow_http {
            return Err(PayoutError::PlainHttp);
        }
        install_crypto_provider();
        // Never follow a redirect: a 301 to a page answering 200 would mark a payout
        // delivered, and a 307/308 would carry the signed request to another host. A
        // 3xx is refused for good and left for finance.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .build()
            .map_err(PayoutError::Client)?;
        Ok(Self {
            ledger,
            client,
            settings,
        })
    }

    /// Claims due payouts (at most `concurrency`), sends them concurrently and records
    /// each answer.
    pub async fn round(&self) -> Result<Round, PayoutError> {
        let lease = self.settings.timeout * 2 + Duration::from_secs(10);
        let due = self
            .ledger
            .claim_payouts(self.settings.concurrency, lease)
            .await?;
        let mut sends = tokio::task::JoinSet::new();
        for payout in due {
            let client = self.client.clone();
            let settings = self.settings.clone();
            sends.spawn(async move {
                let answer = send(&client, &settings, &payout).await;
                (payout, answer)
            });
        }
        let mut round = Round::default();
        while let Some(sent) = sends.join_next().await {
            let Ok((payout, (status, detail))) = sent else {
                continue; // a panicked send: the lease runs out and it is claimed again
            };
            match outcome(status) {
                Outcome::Delivered => {
                    self.ledger.payout_delivered(&payout.scan_id).await?;
                    metrics::counter!("yima_payouts_total", "outcome" => "delivered").increment(1);
                    round.delivered += 1;
                }
                Outcome::Retry
                    if u32::try_from(payout.attempt).unwrap_or(u32::MAX)
                        < self.settings.max_attempts =>
                {
                    let attempt = u32::try_from(payout.attempt).unwrap_or(u32::MAX);
                    let wait = backoff(
                        attempt,
                        self.settings.retry_base,
                        self.settings.retry_max,
                        &payout.scan_id,
                    );
                    tracing::debug!(scan_id = %payout.scan_id, attempt, %detail, ?wait, "payout will be retried");
                    self.ledger
                        .payout_retry(&payout.scan_id, wait, &detail)
                        .await?;
                    metrics::counter!("yima_payouts_total", "outcome" => "retried").increment(1);
                    round.retried += 1;
                }
                Outcome::Retry | Outcome::Refused => {
                    tracing::error!(scan_id = %payout.scan_id, attempt = payout.attempt, %detail, "payout failed; left for finance");
                    self.ledger.payout_failed(&payout.scan_id, &detail).await?;
                    metrics::counter!("yima_payouts_total", "outcome" => "failed").increment(1);
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }

    /// Dispatches until `shutdown` turns true, finishing the round in hand.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow_and_update() {
            let wait = match self.round().await {
                Ok(round) if round.handled() > 0 => continue,
                Ok(_) => self.settings.poll,
                Err(error) => {
                    tracing::warn!(%error, "payout round failed; retrying");
                    self.settings.poll.max(Duration::from_secs(1))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// One POST; the status (`None`: no answer) and a short description for the record.
async fn send(
    client: &reqwest::Client,
    settings: &Settings,
    payout: &DuePayout,
) -> (Option<u16>, String) {
    let body = serde_json::json!({
        "payout_id": payout.scan_id,
        "campaign": payout.campaign,
        "member": payout.member,
        "amount_fen": payout.amount_fen,
        "currency": "CNY",
    })
    .to_string();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let response = client
        .post(&settings.url)
        .header("content-type", "application/json")
        .header(IDEMPOTENCY_HEADER, &payout.scan_id)
        .header(
            SIGNATURE_HEADER,
            sign(&settings.secret, now, &payout.scan_id, body.as_bytes()),
        )
        .header(ATTEMPT_HEADER, payout.attempt)
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status();
            (Some(status.as_u16()), format!("HTTP {status}"))
        }
        Err(error) => (None, error.without_url().to_string()),
    }
}
