//! `yima gen`: a batch's codes, streamed in constant memory, in serial order.
//!
//! Codes are rendered in chunks of [`CHUNK`] serials. With several threads, worker
//! `w` renders chunks `w, w+N, w+2N, ...` into a bounded channel and the writer takes
//! them round-robin, so output order is kept and at most `3N` chunks exist at once.
//! Files are written as `PATH.partial` and renamed only when complete, so a crash or
//! a full disk never leaves a truncated file that looks finished.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use yima_code::CodeKey;

use crate::cli::Format;

/// Serials per chunk: large enough to amortise channel hand-offs, small enough that
/// a chunk of CSV rows stays under a megabyte.
const CHUNK: u32 = 8192;

/// Everything that decides the bytes written; the same job always writes the same bytes.
pub struct Job {
    pub key: CodeKey,
    pub batch: u32,
    pub count: u32,
    pub format: Format,
    pub url_prefix: String,
}

impl Job {
    fn header(&self) -> &'static [u8] {
        match self.format {
            Format::Csv => b"serial,code,url\n",
            Format::Txt | Format::Url => b"",
        }
    }

    fn render(&self, serials: Range<u32>, out: &mut Vec<u8>) {
        let prefix = self.url_prefix.as_bytes();
        for (serial, code) in self.key.codes(self.batch, serials) {
            match self.format {
                Format::Txt => {}
                Format::Url => out.extend_from_slice(prefix),
                Format::Csv => {
                    out.extend_from_slice(itoa::Buffer::new().format(serial).as_bytes());
                    out.push(b',');
                    out.extend_from_slice(code.as_bytes());
                    out.push(b',');
                    out.extend_from_slice(prefix);
                }
            }
            out.extend_from_slice(code.as_bytes());
            out.push(b'\n');
        }
    }
}

/// One output file (or stdout) and the serials it holds.
struct Target {
    path: Option<PathBuf>,
    serials: Range<u32>,
}

/// Writes the job's codes to `out` (stdout when `None`), split into files of
/// `split` rows, using `threads` threads.
pub fn write(
    job: &Job,
    out: Option<&Path>,
    split: Option<u32>,
    threads: usize,
    force: bool,
) -> anyhow::Result<()> {
    let targets = plan(out, split, job.count);
    if !force {
        for path in targets.iter().filter_map(|t| t.path.as_deref()) {
            if path.is_file() {
                bail!(
                    "{} already exists; pass --force to overwrite it",
                    path.display()
                );
            }
        }
    }
    let chunks: Vec<(usize, Range<u32>)> = targets
        .iter()
        .enumerate()
        .flat_map(|(target, t)| {
            t.serials.clone().step_by(CHUNK as usize).map(move |start| {
                (
                    target,
                    start..start.saturating_add(CHUNK).min(t.serials.end),
                )
            })
        })
        .collect();

    let progress = if io::stderr().is_terminal() {
        let bar = ProgressBar::new(u64::from(job.count));
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} codes, {per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut sink: Option<(usize, Sink)> = None;
    let result = for_each_rendered(job, &chunks, threads, |index, bytes| {
        let (target, ref serials) = chunks[index];
        if sink.as_ref().is_none_or(|(open, _)| *open != target) {
            if let Some((_, done)) = sink.take() {
                done.finish()?;
            }
            let mut next = Sink::open(targets[target].path.as_deref())?;
            next.write_all(job.header())?;
            sink = Some((target, next));
        }
        if let Some((_, open)) = sink.as_mut() {
            open.write_all(bytes)?;
        }
        progress.inc(u64::from(serials.end - serials.start));
        Ok(())
    });
    match (result, sink) {
        (Ok(()), Some((_, last))) => last.finish()?,
        (Ok(()), None) => {}
        // `yima gen | head` is not an error.
        (Err(error), _) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        (Err(error), open) => {
            if let Some((_, sink)) = open {
                sink.abandon();
            }
            return Err(error).context("writing codes failed");
        }
    }
    progress.finish_and_clear();
    Ok(())
}

fn plan(out: Option<&Path>, split: Option<u32>, count: u32) -> Vec<Target> {
    let (Some(out), Some(rows)) = (out, split) else {
        return vec![Target {
            path: out.map(Path::to_path_buf),
            serials: 0..count,
        }];
    };
    let files = count.div_ceil(rows);
    let width = files.to_string().len().max(3);
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let extension = out
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (0..files)
        .map(|file| {
            let start = file * rows;
            let name = format!("{stem}-{:0width$}{extension}", file + 1);
            Target {
                path: Some(out.with_file_name(name)),
                serials: start..start.saturating_add(rows).min(count),
            }
        })
        .collect()
}

/// Renders `chunks` on `threads` threads and hands them to `consume` in order.
fn for_each_rendered(
    job: &Job,
    chunks: &[(usize, Range<u32>)],
    threads: usize,
    mut consume: impl FnMut(usize, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    if threads <= 1 || chunks.len() <= 1 {
        let mut buffer = Vec::new();
        for (index, (_, serials)) in chunks.iter().enumerate() {
            buffer.clear();
            job.render(serials.clone(), &mut buffer);
            consume(index, &buffer)?;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..threads)
            .map(|worker| {
                let (sender, receiver) = sync_channel::<Vec<u8>>(2);
                scope.spawn(move || {
                    for (_, serials) in chunks.iter().skip(worker).step_by(threads) {
                        let mut buffer = Vec::with_capacity(serials.len() * 64);
                        job.render(serials.clone(), &mut buffer);
                        if sender.send(buffer).is_err() {
                            return; // the writer gave up
                        }
                    }
                });
                receiver
            })
            .collect();
        for index in 0..chunks.len() {
            let bytes = receivers[index % threads]
                .recv()
                .map_err(|_| io::Error::other("a generator thread stopped"))?;
            consume(index, &bytes)?;
        }
        Ok(())
    })
}

/// Where rows go: stdout, a device such as /dev/null, or a file renamed on completion.
enum Sink {
    Stdout(io::StdoutLock<'static>),
    Device(File),
    File {
        file: File,
        partial: PathBuf,
        path: PathBuf,
    },
}

impl Sink {
    fn open(path: Option<&Path>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout(io::stdout().lock()));
        };
        if path.exists() && !path.is_file() {
            return Ok(Self::Device(OpenOptions::new().write(true).open(path)?));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)?;
        Ok(Self::File {
            file,
            partial,
            path: path.to_path_buf(),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Stdout(out) => out.write_all(bytes),
            Self::Device(file) | Self::File { file, .. } => file.write_all(bytes),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Self::Stdout(mut out) => out.flush(),
            Self::Device(_) => Ok(()),
            Self::File {
                file,
                partial,
                path,
            } => {
                file.sync_all()?;
                std::fs::rename(&partial, &path)
            }
        }
    }

    fn abandon(self) {
        if let Self::File { partial, .. } = self {
            let _ = std::fs::remove_file(partial);
        }
    }
}
