//! `waybill ingest FILE...`: NDJSON, JSON array or CSV, into the embedded store or to a
//! running server.
//!
//! Every item goes through the same validator as `POST /v1/events`, so a file that
//! loads here would load over HTTP, with the same errors.

use crate::out::say;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use waybill_formats::clock;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use waybill_formats::wire;
use waybill_server::problem::{ItemError, Problem};
use waybill_server::views::IngestReport;
use waybill_store::{Counted, ItemOutcome, Pending, Store, Submission};

/// One item of a file: its JSON text, or why it could not even be read.
pub type RawItem = Result<String, String>;

/// Totals over all files.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

/// Reads a file's items, choosing the format by extension.
pub fn read_items(path: &Path) -> anyhow::Result<Box<dyn Iterator<Item = RawItem>>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let open = || File::open(path).with_context(|| format!("opening {}", path.display()));
    Ok(match ext.as_str() {
        "ndjson" | "jsonl" => {
            let lines = BufReader::new(open()?).lines();
            Box::new(lines.filter_map(|l| match l {
                Ok(l) if l.trim().is_empty() => None,
                Ok(l) => Some(Ok(l)),
                Err(e) => Some(Err(e.to_string())),
            }))
        }
        "json" => {
            let text = std::fs::read_to_string(path)?;
            let items: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON array", path.display()))?;
            Box::new(items.into_iter().map(|r| Ok(r.get().to_owned())))
        }
        "csv" => Box::new(
            wire::csv_items(open()?)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
        ),
        _ => bail!(
            "{}: unknown format (use .ndjson, .jsonl, .json or .csv)",
            path.display()
        ),
    })
}

/// A bar over the items of all the files, with the percentage done and the rate in
/// whole events a second. The items are counted first, by reading the files once more
/// (for a JSON array or a CSV file that is a second parse: the price of a true total).
fn progress(files: &[PathBuf]) -> anyhow::Result<ProgressBar> {
    let mut total = 0u64;
    for path in files {
        total += read_items(path)?.count() as u64;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} events ({percent}%), {rate} events/s, {elapsed}",
        )
        .map(|s| {
            s.progress_chars("=> ").with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}", state.per_sec());
                },
            )
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("ingesting {} file(s)", files.len()));
    Ok(bar)
}

/// A batch being committed, with its file and its items' numbers there, so that a
/// refusal can say where the item was.
type InFlight<'a> = (Pending, &'a Path, Vec<usize>);

/// Loads files into the embedded store, keeping a few batches in flight so parsing and
/// committing overlap.
pub fn into_store(store: &Store, files: &[PathBuf], batch: usize) -> anyhow::Result<Totals> {
    let bar = progress(files)?;
    let mut totals = Totals::default();
    let mut in_flight: VecDeque<InFlight<'_>> = VecDeque::new();
    let wait = |(p, path, numbers): InFlight<'_>, totals: &mut Totals| -> anyhow::Result<()> {
        let outcomes = p.blocking_recv().context("the writer stopped")??;
        for (out, n) in outcomes.into_iter().zip(numbers) {
            match (out.counted(), out) {
                (_, ItemOutcome::Rejected(r)) => {
                    totals.rejected += 1;
                    bar.suspend(|| eprintln!("{}: item {n}: {r}", path.display()));
                }
                (Counted::Accepted, _) => totals.accepted += 1,
                (_, _) => totals.duplicates += 1,
            }
        }
        Ok(())
    };
    for path in files {
        let mut events = Vec::with_capacity(batch);
        let mut numbers = Vec::with_capacity(batch);
        let items = read_items(path)?;
        let received = clock::now();
        let mut items = items.enumerate().peekable();
        while let Some((i, item)) = items.next() {
            match item.and_then(|json| wire::parse_one(&json, received)) {
                Ok(ev) => {
                    events.push(ev);
                    numbers.push(i + 1);
                }
                Err(e) => {
                    totals.rejected += 1;
                    bar.suspend(|| eprintln!("{}: item {}: {e}", path.display(), i + 1));
                }
            }
            if events.len() >= batch || items.peek().is_none() {
                bar.inc(events.len() as u64);
                let full = std::mem::replace(&mut events, Vec::with_capacity(batch));
                let full_numbers = std::mem::replace(&mut numbers, Vec::with_capacity(batch));
                if !full.is_empty() {
                    let pending = store.enqueue(Submission::Events(full))?;
                    in_flight.push_back((pending, path.as_path(), full_numbers));
                }
                if in_flight.len() >= 4
                    && let Some(p) = in_flight.pop_front()
                {
                    wait(p, &mut totals)?;
                }
            }
        }
    }
    while let Some(p) = in_flight.pop_front() {
        wait(p, &mut totals)?;
    }
    bar.finish_and_clear();
    Ok(totals)
}

/// Sends files to a running server as NDJSON batches.
pub async fn to_server(
    server: &str,
    key: &str,
    files: &[PathBuf],
    batch: usize,
) -> anyhow::Result<Totals> {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/events", server.trim_end_matches('/'));
    let bar = progress(files)?;
    let mut totals = Totals::default();
    for path in files {
        let mut items = read_items(path)?.enumerate().peekable();
        let mut body = String::new();
        // The file's item number of each line in `body`: the server counts from 0 per batch.
        let mut numbers: Vec<usize> = Vec::with_capacity(batch);
        while let Some((i, item)) = items.next() {
            match item {
                Ok(json) => {
                    // A JSON array's items keep their own line breaks (pretty-printed
                    // files); in NDJSON one item must be one line. Outside strings a
                    // line break is only whitespace, and inside them JSON escapes it.
                    if json.contains(['\n', '\r']) {
                        body.push_str(&json.replace(['\n', '\r'], " "));
                    } else {
                        body.push_str(&json);
                    }
                    body.push('\n');
                    numbers.push(i + 1);
                }
                Err(e) => {
                    totals.rejected += 1;
                    bar.suspend(|| eprintln!("{}: item {}: {e}", path.display(), i + 1));
                }
            }
            let n = numbers.len();
            if n >= batch || (items.peek().is_none() && n > 0) {
                let (status, text) =
                    post_with_backoff(&client, &url, key, std::mem::take(&mut body)).await?;
                if status.is_success() {
                    let r: IngestReport = serde_json::from_str(&text)?;
                    totals.accepted += r.accepted;
                    totals.duplicates += r.duplicates;
                    totals.rejected += r.rejected.len();
                    report_refused(&bar, path, &numbers, r.rejected);
                } else if status.as_u16() == 422 {
                    totals.rejected += n;
                    match serde_json::from_str::<Problem>(&text) {
                        Ok(p) if !p.errors.is_empty() => {
                            report_refused(&bar, path, &numbers, p.errors);
                        }
                        _ => bar.suspend(|| eprintln!("batch refused: {text}")),
                    }
                } else {
                    bail!("{url} answered {status}: {text}");
                }
                bar.inc(n as u64);
                numbers.clear();
            }
        }
    }
    bar.finish_and_clear();
    Ok(totals)
}

/// Prints the server's per-item refusals with the items' numbers in the file.
fn report_refused(bar: &ProgressBar, path: &Path, numbers: &[usize], errors: Vec<ItemError>) {
    for e in errors {
        let n = numbers.get(e.index).copied().unwrap_or(0);
        bar.suspend(|| eprintln!("{}: item {n}: {}", path.display(), e.error));
    }
}

/// Posts one batch; while the server answers 503 (its write queue is full) waits as its
/// `Retry-After` says and sends the same batch again: re-sent events are deduplicated,
/// so a retry can never double anything.
async fn post_with_backoff(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: String,
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    const ATTEMPTS: u32 = 30;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let resp = client
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/x-ndjson")
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("posting to {url}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE && attempt < ATTEMPTS {
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 30);
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            continue;
        }
        return Ok((status, resp.text().await?));
    }
}

/// `waybill ingest FILE… [--server URL --key KEY]`. The totals go to stdout; a run
/// in which any item was rejected fails (exit status 1) once every file is through,
/// so a script notices.
pub fn main(
    settings: crate::settings::Settings,
    args: &crate::cli::IngestArgs,
) -> anyhow::Result<()> {
    let totals = match &args.server {
        Some(server) => {
            if !(server.starts_with("http://") || server.starts_with("https://")) {
                bail!("--server {server:?} needs its scheme: --server http://{server}");
            }
            let key = args
                .key
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("--server needs --key (or WAYBILL_API_KEY)"))?;
            super::runtime()?.block_on(to_server(server, key, &args.files, args.batch))?
        }
        None => {
            let store = super::store::for_bulk_load(&settings)?;
            into_store(&store, &args.files, args.batch)?
        }
    };
    say!(
        "accepted {}, duplicates {}, rejected {}",
        totals.accepted,
        totals.duplicates,
        totals.rejected
    );
    if totals.rejected > 0 {
        bail!(
            "{} item(s) rejected, each named above with its file and place",
            totals.rejected
        );
    }
    Ok(())
}
