//! The `yima` binary: parses the command line, loads the configuration once and
//! hands plain values to the library crates.

mod cli;
mod codegen;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use yima_admin::Reseal;
use yima_campaign::{Campaign, RecordedDraw};
use yima_gateway::Clock;
use yima_ledger::{Applied, Ledger, NewBatch};

use crate::cli::{BatchCommand, CampaignCommand, Cli, Command};
use yima::app::{self, GatewayApp, store};
use yima::config::Config;
use yima::metrics;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // Drivers often repeat their cause in their own message; say each part once.
            let mut message = error.to_string();
            for cause in error.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let explicit = cli.config.is_some();
    let path = cli
        .config
        .unwrap_or_else(|| PathBuf::from("config/yima.toml"));
    let config = Config::load(&path, explicit)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command, config))
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let ledger = || app::ledger(&config);
    match command {
        Command::Migrate => {
            let ledger = ledger().await?;
            ledger.migrate().await?;
            // Secrets stored before sealing existed are sealed now; without keys that
            // is an error only if there are such secrets.
            let keys = config.draw_keys().ok();
            let sealed = yima_admin::reseal_secrets(&ledger, keys.as_ref(), Reseal::Plain).await?;
            if sealed.resealed > 0 {
                tracing::info!(
                    campaigns = sealed.resealed,
                    "sealed draw secrets stored in the clear"
                );
            }
            // This month's and next month's partitions of `scans`, ahead of any scan.
            ledger.ensure_months_ahead().await?;
            tracing::info!("schema is up to date");
        }
        Command::Campaign(CampaignCommand::Reseal) => {
            let keys = config.draw_keys()?;
            let done =
                yima_admin::reseal_secrets(&ledger().await?, Some(&keys), Reseal::NotCurrent)
                    .await?;
            eprintln!(
                "resealed {} of {} campaign draw secret(s) under draw key {}",
                done.resealed,
                done.campaigns,
                keys.sealing_id()
            );
        }
        Command::Campaign(CampaignCommand::Apply { file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let known: Vec<&str> = config
                .members
                .architectures
                .iter()
                .map(|a| a.id.as_str())
                .collect();
            let checked = Campaign::from_toml(&text).and_then(|campaign| {
                let unknown = campaign.unknown_architectures(&known);
                if unknown.is_empty() {
                    Ok(campaign)
                } else {
                    Err(unknown)
                }
            });
            let campaign = match checked {
                Ok(campaign) => campaign,
                Err(problems) => {
                    eprintln!(
                        "{}: {} problem(s), nothing changed:",
                        file.display(),
                        problems.len()
                    );
                    for problem in problems {
                        eprintln!("  - {problem}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
            };
            let id = &campaign.file.id;
            let applied = yima_admin::apply_campaign(
                &ledger().await?,
                &store(&config).await?,
                &config.draw_keys()?,
                &campaign,
                jiff::Timestamp::now(),
            )
            .await;
            match applied {
                Err(yima_admin::ApplyError::Refused(problems)) => {
                    eprintln!(
                        "{}: the stored campaign {id} refuses {} change(s), nothing changed:",
                        file.display(),
                        problems.len()
                    );
                    for problem in problems {
                        eprintln!("  - {problem}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
                Err(error) => return Err(error.into()),
                Ok(Applied::Created) => eprintln!("campaign {id} created"),
                Ok(Applied::Updated(revision)) => {
                    eprintln!("campaign {id} updated to revision {revision}")
                }
                Ok(Applied::Unchanged) => eprintln!("campaign {id} unchanged"),
            }
        }
        Command::Batch(BatchCommand::Create {
            campaign,
            sku,
            count,
            region,
        }) => {
            let key_id = config.key_ring()?.signing_key().id();
            let batch = NewBatch {
                campaign,
                sku,
                count,
                region,
                key_id,
            };
            let batch = ledger().await?.create_batch(&batch).await?;
            tracing::info!(
                batch = batch.id,
                count = batch.count,
                key_id,
                "batch registered"
            );
            println!("{}", batch.id);
        }
        Command::Batch(BatchCommand::Void { id }) => {
            ledger().await?.void_batch(id).await?;
            eprintln!("batch {id} is void");
        }
        Command::Invite {
            architecture,
            channel,
            tags,
            expires,
        } => {
            let invite = config.registry()?.make_invite(
                &architecture,
                &channel,
                &tags,
                expires.as_deref(),
            )?;
            println!("{invite}");
        }
        Command::Gen(args) => {
            let batch = ledger().await?.batch(args.batch).await?;
            let ring = config.key_ring()?;
            let key = ring.get(batch.key_id).with_context(|| {
                format!(
                    "batch {} is signed with code key {}, which is not among the configured keys {:?}",
                    batch.id,
                    batch.key_id,
                    ring.ids().collect::<Vec<_>>()
                )
            })?;
            let job = codegen::Job {
                key: key.clone(),
                batch: batch.id,
                count: batch.count,
                format: args.format,
                url_prefix: config.code.url_prefix.clone(),
            };
            let threads = args.threads.map(usize::from).unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            });
            tokio::task::spawn_blocking(move || {
                codegen::write(&job, args.out.as_deref(), args.split, threads, args.force)
            })
            .await
            .context("code generation stopped")??;
        }
        Command::Audit { campaign, scan } => {
            let ledger = ledger().await?;
            let (record, revision, member, source) =
                recorded_draw(&config, &ledger, &campaign, &scan).await?;
            let stored = ledger
                .campaign_at(&campaign, revision)
                .await?
                .with_context(|| format!("campaign {campaign} has no revision {revision}"))?;
            let rules = Campaign::from_definition_json(&stored.definition_json)
                .map_err(|_| anyhow::anyhow!("stored revision {revision} does not validate"))?;
            let secret = config.draw_keys()?.open(&campaign, &stored.sealed_secret)?;
            let effective = ledger
                .revisions(&campaign)
                .await?
                .into_iter()
                .find(|r| r.revision == revision)
                .and_then(|r| jiff::Timestamp::from_millisecond(r.effective_at_ms).ok())
                .map_or_else(String::new, |at| format!(", in force from {at}"));
            let none = |id: &str| {
                if id.is_empty() {
                    "no_prize".to_string()
                } else {
                    id.to_string()
                }
            };
            println!("scan      {} ({source})", record.scan_id);
            println!("campaign  {campaign} revision {revision}{effective}");
            println!(
                "code      batch {} serial {} role {}",
                record.batch,
                record.serial,
                record.role.as_str()
            );
            println!(
                "member    {member} at level {}, under the rules of {}",
                record.level,
                record.architecture.as_deref().map_or_else(
                    || "the campaign".to_string(),
                    |a| format!("architecture {a}")
                )
            );
            match yima_campaign::audit(&rules, &secret, &record) {
                Ok(audited) => {
                    println!(
                        "draw      {} of 1000000 (recomputed from the draw secret)",
                        audited.draw
                    );
                    println!("drawn     {}", none(&record.drawn));
                    println!(
                        "awarded   {}{}",
                        none(&record.prize),
                        if audited.rebate {
                            " (the SKU's rebate: no draw decides it)"
                        } else if audited.substituted {
                            " (drawn prize unavailable)"
                        } else {
                            ""
                        }
                    );
                    println!("result    MATCH");
                }
                Err(mismatches) => {
                    for mismatch in mismatches {
                        println!("mismatch  {mismatch}");
                    }
                    println!("result    MISMATCH");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Reconcile { campaign } => {
            let report =
                yima_reconcile::reconcile(&store(&config).await?, &ledger().await?, &campaign)
                    .await?;
            for difference in &report.differences {
                println!("{difference}");
            }
            let claims: Vec<String> = report
                .claims
                .iter()
                .map(|(status, count)| format!("{count} {status}"))
                .collect();
            eprintln!(
                "campaign {campaign}: {} settled scan(s), {} unsettled, {} member(s), claims: {}: {}",
                report.settled,
                report.in_flight,
                report.members,
                if claims.is_empty() {
                    "none".to_string()
                } else {
                    claims.join(", ")
                },
                match report.differences.len() {
                    0 => "Redis agrees with Postgres".to_string(),
                    n => format!("{n} difference(s)"),
                }
            );
            if !report.differences.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Restore { campaign } => {
            let restored = yima_reconcile::restore(
                &store(&config).await?,
                &ledger().await?,
                &campaign,
                jiff::Timestamp::now(),
            )
            .await?;
            eprintln!(
                "campaign {campaign} restored: {} scan(s), {} bitmap(s), {} member(s); {} stale key(s) removed",
                restored.scans, restored.bitmaps, restored.members, restored.removed
            );
        }
        Command::Archive { keep_months, to } => {
            std::fs::create_dir_all(&to)
                .with_context(|| format!("cannot create {}", to.display()))?;
            let ledger = ledger().await?;
            let (due, kept_from) = ledger.months_to_archive(keep_months).await?;
            if due.is_empty() {
                eprintln!("nothing to archive: every month kept is from {kept_from} on");
            }
            for month in due {
                let archived = ledger.archive_month(month, &to).await?;
                eprintln!(
                    "archived {}: {} scan(s) to {}",
                    archived.period(),
                    archived.rows,
                    archived.file.display()
                );
            }
        }
        Command::Downgrade { campaign } => {
            let applied = yima_admin::apply_downgrades(
                &store(&config).await?,
                &ledger().await?,
                &campaign,
                jiff::Timestamp::now(),
            )
            .await?;
            if applied.is_empty() {
                eprintln!("campaign {campaign}: no level downgrade due");
            }
            for (boundary, members) in applied {
                eprintln!(
                    "campaign {campaign}: downgrade of {boundary} applied to {members} member(s)"
                );
            }
        }
        Command::Settle {
            consumer,
            batch_size,
            claim_idle_ms,
            metrics_listen,
        } => {
            let recorder = metrics::recorder()?;
            if let Some(listen) = &metrics_listen {
                metrics::serve(listen, recorder)?;
            }
            let consumer = consumer.unwrap_or_else(|| {
                let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "yima".into());
                format!("{host}-{}", std::process::id())
            });
            let settings = yima_settle::Settings {
                consumer,
                batch_size: batch_size as usize,
                claim_idle: std::time::Duration::from_millis(claim_idle_ms),
                answer_grace: std::time::Duration::from_secs(config.redis.answer_grace_seconds),
                ..yima_settle::Settings::default()
            };
            tracing::info!(consumer = %settings.consumer, "settlement worker started");
            let ledger = ledger().await?;
            let worker = app::worker(&config, ledger.clone(), settings).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("stopping: finishing the batch in hand");
                let _ = stop.send(true);
            });
            let payouts = match config.payouts() {
                Some(payouts) => {
                    let dispatcher = yima_payout::Dispatcher::new(ledger.clone(), payouts)?;
                    Some(tokio::spawn(dispatcher.run(stopped.clone())))
                }
                None => {
                    tracing::warn!("no payouts.webhook_url: cash payouts wait in the outbox");
                    None
                }
            };
            let totals = worker.run(stopped).await?;
            if let Some(payouts) = payouts {
                payouts.await.context("payout dispatcher stopped")?;
            }
            eprintln!(
                "settled {}, redelivered {}, rejected {}, dead letters {}",
                totals.settled, totals.redelivered, totals.rejected, totals.dead_letters
            );
        }
        Command::Gateway { workers } => {
            let listener = std::net::TcpListener::bind(&config.http.listen)
                .with_context(|| format!("cannot listen on {}", config.http.listen))?;
            let workers = workers.map(usize::from).unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            });
            let gateway = GatewayApp::build(&config, Clock::system(), listener, workers).await?;
            tracing::info!(address = %gateway.address(), "gateway listening");
            gateway.run().await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A scan's recorded draw: the settled row in Postgres, or — not settled yet — its
/// entry on the Redis stream. Returns the record, the revision, the member and which
/// record was read.
async fn recorded_draw(
    config: &Config,
    ledger: &Ledger,
    campaign: &str,
    scan: &str,
) -> anyhow::Result<(RecordedDraw, i32, String, &'static str)> {
    if let Some(settled) = ledger.settled_draw(campaign, scan).await? {
        let role = yima_campaign::Role::from_name(&settled.role)
            .with_context(|| format!("settled scan has unknown role `{}`", settled.role))?;
        let narrow = |value: i32| u32::try_from(value).context("settled level or draw is negative");
        let sku = ledger.batch(settled.batch).await?.sku;
        let record = RecordedDraw {
            scan_id: scan.to_string(),
            batch: settled.batch,
            serial: settled.serial,
            role,
            level: narrow(settled.level)?,
            draw: narrow(settled.draw)?,
            drawn: settled.drawn,
            prize: settled.prize,
            day: settled
                .day
                .parse()
                .with_context(|| format!("settled scan has a bad day `{}`", settled.day))?,
            architecture: settled.architecture,
            sku,
        };
        return Ok((record, settled.revision, settled.member, "settled record"));
    }
    let event = store(config)
        .await?
        .find_event(
            &ledger
                .campaign_lanes()
                .await?
                .into_iter()
                .filter(|(id, _)| id == campaign)
                .flat_map(|(id, lanes)| yima_campaign::lanes::lane_tags(&id, lanes))
                .collect::<Vec<_>>(),
            scan,
        )
        .await?
        .with_context(|| format!("no scan {scan} recorded for campaign {campaign}"))?;
    let sku = ledger.batch(event.batch).await?.sku;
    Ok((
        event.recorded_draw(&sku),
        event.revision,
        event.member,
        "stream entry, not settled yet",
    ))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
