//! The command line, as fixed by the public contract.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use yima_ledger::{MAX_BATCH_COUNT, MIN_KEPT_MONTHS};

/// yima: one-item-one-code scan-to-win campaigns.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Configuration file; settings can be overridden by YIMA_<SECTION>_<KEY>.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the Postgres schema (idempotent).
    Migrate,
    /// Manage campaigns.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Register or void batches of codes.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Write a batch's codes for the printer.
    Gen(GenArgs),
    /// Make a registration invite for one of `[members] architectures`; prints it
    /// alone on stdout (put it in the architecture's registration link).
    Invite {
        /// The architecture it joins.
        #[arg(long)]
        architecture: String,
        /// Where it is handed out (an expo, a sales rep, a store).
        #[arg(long)]
        channel: String,
        /// A tag a member joining with it gets (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// When it stops working, RFC 3339; never if left out.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Re-derive one scan's draw from the campaign's draw secret and its record; exit
    /// 0 and print the draw when it matches, 1 otherwise.
    Audit {
        /// The campaign.
        #[arg(long)]
        campaign: String,
        /// The scan id from the scan's response.
        #[arg(long)]
        scan: String,
    },
    /// Compare the campaign's Redis state (redemption bits, stock used, member points,
    /// growth and scans) with Postgres plus the scans not yet settled; exit 0 when they
    /// agree, else print each difference and exit 1.
    Reconcile {
        /// The campaign.
        #[arg(long)]
        campaign: String,
    },
    /// Rebuild the campaign's Redis state from Postgres (after Redis lost its data).
    /// Stop the campaign's gateways first; refuses while scans are still unsettled.
    Restore {
        /// The campaign.
        #[arg(long)]
        campaign: String,
    },
    /// Archive the scans of months older than the ones kept: each month's scans are
    /// written to `DIR/scans_YYYY_MM.csv`, counted for reconcile and restore, and
    /// dropped from Postgres. Redemptions, awards, payouts and claims stay.
    Archive {
        /// Months kept: this month and the ones before it (at least 2).
        #[arg(long, value_parser = clap::value_parser!(u32).range(i64::from(MIN_KEPT_MONTHS)..))]
        keep_months: u32,
        /// Directory the CSV files are written to (created if missing).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Apply the campaign's level downgrades due by now (`[level_downgrade]`), each
    /// period boundary once; run it daily from a timer.
    Downgrade {
        /// The campaign.
        #[arg(long)]
        campaign: String,
    },
    /// Settle scans from the Redis streams into Postgres until SIGINT/SIGTERM, then
    /// finish the batch in hand and exit 0.
    Settle {
        /// Name in the consumer group (default: host and process id).
        #[arg(long)]
        consumer: Option<String>,
        /// Entries per read and per transaction.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
        /// Milliseconds an entry may stay unacknowledged before this worker takes it
        /// over from another (crashed) one.
        #[arg(long, default_value_t = 30_000)]
        claim_idle_ms: u64,
        /// Serve Prometheus metrics at http://ADDR/metrics (settled events, batch size,
        /// stream lag, rejected duplicates, payouts).
        #[arg(long, value_name = "ADDR", env = "YIMA_SETTLE_METRICS_LISTEN")]
        metrics_listen: Option<String>,
    },
    /// Serve HTTP: scans, member and campaign reads, admin routes.
    Gateway {
        /// HTTP worker threads (default: one per core).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: Option<u16>,
    },
}

/// `yima campaign ...`
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create or update a campaign from a TOML file; on invalid input, list every
    /// problem, change nothing and exit non-zero.
    Apply {
        /// The campaign file.
        file: PathBuf,
    },
    /// Seal every stored draw secret under the newest draw key (after adding a key
    /// with a higher id to `YIMA_DRAW_KEYS`); then the old key can be removed.
    Reseal,
}

/// `yima batch ...`
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Register a batch; prints its id alone on stdout.
    Create {
        /// Campaign the batch's scans count towards.
        #[arg(long)]
        campaign: String,
        /// Product the codes are printed on.
        #[arg(long)]
        sku: String,
        /// Number of codes.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BATCH_COUNT)))]
        count: u32,
        /// Sales region or dealer code the batch ships to (anti-diversion).
        #[arg(long)]
        region: Option<String>,
    },
    /// Void a batch: its codes then scan as `batch_void`.
    Void {
        /// The batch id.
        id: u32,
    },
}

/// How each code is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One code per line.
    Txt,
    /// `serial,code,url` with a header row.
    Csv,
    /// One scan URL per line (code.url_prefix + code).
    Url,
}

/// `yima gen`
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// The batch whose codes to write.
    #[arg(long)]
    pub batch: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
    /// Output file (default: stdout). Written to `PATH.partial`, renamed when complete.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Rows per file; files are numbered `NAME-001.EXT`, `NAME-002.EXT`, ...
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u32).range(1..), requires = "out")]
    pub split: Option<u32>,
    /// Worker threads (default: all cores); output order is kept.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}
