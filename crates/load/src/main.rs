//! `yima-load`: the client side of `benches/load.sh`.
//!
//! wrk cannot hold a fixed request rate (its latencies hide the queueing a slow server
//! causes) nor report p99.9, and the bench needs both; so this drives `POST /v1/scan`
//! over keep-alive HTTP/1.1 connections itself, either closed-loop (as fast as the
//! server answers) or open-loop at a fixed rate, and serves the HTTP echo that is the
//! ceiling for rejections. It prints one line of `key=value` pairs for the script.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scans codes from a file, one request per code, each code used once.
    Scan(ScanArgs),
    /// Answers every request with its own body: HTTP and nothing else, the ceiling any
    /// answer of the gateway's is measured against.
    Echo {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// Server threads (the gateway's default is one per core).
        #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
        workers: usize,
    },
}

#[derive(clap::Args)]
struct ScanArgs {
    /// The gateway (or echo) address.
    #[arg(long)]
    target: SocketAddr,
    /// One code per line.
    #[arg(long)]
    codes: PathBuf,
    /// Start at this line of the file, so phases of one run use different codes.
    #[arg(long, default_value_t = 0)]
    skip: usize,
    /// Open connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Requests per second across all connections (open loop); without it, each
    /// connection sends its next request as soon as the last is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Change each code's last character, so its signature no longer matches: every
    /// request is a forgery the gateway must reject.
    #[arg(long)]
    forge: bool,
    /// Start again at the first code when all are used (for forgeries and the echo,
    /// where a repeat costs the same as a first).
    #[arg(long)]
    cycle: bool,
    /// Members to spread the scans over.
    #[arg(long, default_value_t = 50_000)]
    members: usize,
    /// Send `Authorization: Bearer <this>` with every request, and name the member in
    /// the body: the service key (or, for the forged-token phase, a bad token).
    #[arg(long, conflicts_with = "member_secret")]
    bearer: Option<String>,
    /// Sign each member's own token (HS256, this secret, as the brand's login would)
    /// and send it instead of naming the member: the member-token path. Tokens are
    /// made before the clock starts, one per member, at most `MAX_TOKENS` of them.
    #[arg(long)]
    member_secret: Option<String>,
    /// Client threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Scan(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads.max(1))
                .enable_all()
                .build()?;
            let report = runtime.block_on(scan(args))?;
            println!("{report}");
            Ok(())
        }
        Command::Echo { listen, workers } => echo(listen, workers),
    }
}

#[actix_web::main]
async fn echo(listen: SocketAddr, workers: usize) -> anyhow::Result<()> {
    use actix_web::{App, HttpServer, web};
    HttpServer::new(|| {
        App::new().default_service(web::to(|body: web::Bytes| async move {
            actix_web::HttpResponse::Ok()
                .content_type("application/json")
                .body(body)
        }))
    })
    .workers(workers.max(1))
    .bind(listen)?
    .run()
    .await?;
    Ok(())
}

/// Most member tokens made ahead of a run (~200 bytes each).
const MAX_TOKENS: usize = 2_000_000;

/// How a request says who it is for.
enum Credential {
    /// No header; the member in the body.
    None,
    /// One header for all; the member in the body.
    Bearer(String),
    /// Member `n`'s own token; no member in the body.
    MemberTokens(Vec<String>),
}

/// What every connection shares: the codes and the next one to use.
struct Plan {
    codes: Vec<String>,
    credential: Credential,
    next: AtomicUsize,
    connections: usize,
    members: usize,
    cycle: bool,
    rate: Option<f64>,
    start: Instant,
    deadline: Instant,
}

/// One connection's tally.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    ok: u64,
    client_errors: u64,
    server_errors: u64,
    exhausted: bool,
}

async fn scan(args: ScanArgs) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&args.codes)
        .with_context(|| format!("reading {}", args.codes.display()))?;
    let codes: Vec<String> = text
        .lines()
        .skip(args.skip)
        .map(|line| {
            let mut code = line.trim().to_string();
            if args.forge {
                // Any other character of the same alphabet: the layout still parses,
                // the signature does not match.
                let last = code.pop().unwrap_or('0');
                code.push(if last == 'A' { 'B' } else { 'A' });
            }
            code
        })
        .filter(|code| !code.is_empty())
        .collect();
    if codes.is_empty() {
        bail!(
            "no codes in {} after line {}",
            args.codes.display(),
            args.skip
        );
    }
    let mut members = args.members.max(1);
    let credential = match (args.bearer, args.member_secret) {
        (Some(bearer), _) => Credential::Bearer(bearer),
        (None, Some(secret)) => {
            members = members.min(MAX_TOKENS).min(codes.len());
            let signer = yima_identity::MemberTokens::new(yima_identity::TokenKeys {
                hs256_secret: Some(secret.as_bytes()),
                ..yima_identity::TokenKeys::default()
            })?;
            let tokens = (0..members)
                .map(|n| signer.issue(&format!("m{n}"), 3600))
                .collect::<Result<Vec<_>, _>>()?;
            Credential::MemberTokens(tokens)
        }
        (None, None) => Credential::None,
    };
    let start = Instant::now() + Duration::from_millis(50);
    let plan = Arc::new(Plan {
        codes,
        credential,
        next: AtomicUsize::new(0),
        connections: args.connections.max(1),
        members,
        cycle: args.cycle,
        rate: args.rate,
        start,
        deadline: start + Duration::from_secs(args.duration),
    });
    let tasks: Vec<_> = (0..plan.connections)
        .map(|index| tokio::spawn(connection(args.target, plan.clone(), index)))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await??;
        total.latencies_us.extend(tally.latencies_us);
        total.ok += tally.ok;
        total.client_errors += tally.client_errors;
        total.server_errors += tally.server_errors;
        total.exhausted |= tally.exhausted;
    }
    let elapsed = plan.deadline.min(Instant::now()) - plan.start;
    let mut latencies = total.latencies_us;
    latencies.sort_unstable();
    let quantile = |q: f64| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a rank within the sample, clamped to it"
        )]
        let rank = (latencies.len() as f64 * q).ceil() as usize;
        let index = rank.clamp(1, latencies.len().max(1));
        latencies
            .get(index - 1)
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    Ok(format!(
        "requests={} rate={:.0} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} ok={} \
         client_errors={} server_errors={} codes_used={} exhausted={}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        quantile(0.50),
        quantile(0.99),
        quantile(0.999),
        quantile(1.0),
        total.ok,
        total.client_errors,
        total.server_errors,
        plan.next.load(Ordering::Relaxed).min(plan.codes.len()),
        total.exhausted,
    ))
}

/// One keep-alive connection. At a fixed rate, request `k` of connection `i` is due at
/// `(k * connections + i) / rate`; its latency runs from when it was due if the
/// connection was still busy then (the server's slowness delayed it: coordinated
/// omission), else from when it was sent (a late timer is not the server's fault).
async fn connection(target: SocketAddr, plan: Arc<Plan>, index: usize) -> anyhow::Result<Tally> {
    let mut stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let mut tally = Tally::default();
    let mut request = Vec::with_capacity(512);
    let mut response = Vec::with_capacity(4096);
    let host = target.to_string();
    let mut last_done = plan.start;
    tokio::time::sleep_until(plan.start.into()).await;
    for k in 0u64.. {
        let due = match plan.rate {
            Some(rate) => {
                let offset = (k as f64 * plan.connections as f64 + index as f64) / rate;
                let due = plan.start + Duration::from_secs_f64(offset);
                if due >= plan.deadline {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                Some(due)
            }
            None => None,
        };
        if Instant::now() >= plan.deadline {
            break;
        }
        let n = plan.next.fetch_add(1, Ordering::Relaxed);
        let index = if plan.cycle { n % plan.codes.len() } else { n };
        let Some(code) = plan.codes.get(index) else {
            tally.exhausted = true;
            break;
        };
        let member = n % plan.members;
        let (body, authorization) = match &plan.credential {
            Credential::None => (format!(r#"{{"code":"{code}","member":"m{member}"}}"#), None),
            Credential::Bearer(token) => (
                format!(r#"{{"code":"{code}","member":"m{member}"}}"#),
                Some(token.as_str()),
            ),
            Credential::MemberTokens(tokens) => (
                format!(r#"{{"code":"{code}"}}"#),
                tokens.get(member).map(String::as_str),
            ),
        };
        let authorization = authorization
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        request.clear();
        request.extend_from_slice(
            format!(
                "POST /v1/scan HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 {authorization}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let sent = Instant::now();
        let origin = match due {
            Some(due) if last_done > due => due,
            _ => sent,
        };
        stream.write_all(&request).await?;
        let status = read_response(&mut stream, &mut response).await?;
        let done = Instant::now();
        last_done = done;
        tally
            .latencies_us
            .push(u32::try_from((done - origin).as_micros()).unwrap_or(u32::MAX));
        match status {
            200..=299 => tally.ok += 1,
            400..=499 => tally.client_errors += 1,
            _ => tally.server_errors += 1,
        }
    }
    Ok(tally)
}

/// Reads one response with a `Content-Length` body; returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<u16> {
    buffer.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = parsed.parse(buffer)? {
            let status = parsed.code.unwrap_or(0);
            let length = parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .context("response without Content-Length")?;
            while buffer.len() < head + length {
                if stream.read_buf(buffer).await? == 0 {
                    bail!("connection closed mid-response");
                }
            }
            return Ok(status);
        }
        if stream.read_buf(buffer).await? == 0 {
            bail!("connection closed before a response");
        }
    }
}
