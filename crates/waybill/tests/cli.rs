//! Black-box tests of the `waybill` command line (README.md, "What else is here"): the real binary, run
//! against temporary directories, with every `WAYBILL_*` variable of the developer's
//! environment removed so nothing leaks in.
//!
//! Covered: `ingest` (NDJSON, JSON array, CSV, re-ingest, bad lines, unknown formats,
//! `--server`), `order`, `replay`, `loadgen`, settings (`--config`, `./waybill.toml`,
//! `WAYBILL_DATA`, unknown keys), `openapi`, and `serve`'s generated admin key.

#[path = "support/dashboard.rs"]
mod dashboard;
#[path = "support/listening.rs"]
mod listening;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_waybill");
/// Every command here finishes in well under a second; this only bounds a hang.
const LIMIT: Duration = Duration::from_secs(30);
const ADMIN_KEY: &str = "cli-test-admin-key-0001";

/// A `waybill` command cut off from the developer's environment: no `WAYBILL_*`
/// variables, and run in `cwd`, so no stray `./waybill.toml` is read.
fn waybill(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WAYBILL_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env_remove("WAYBILL_API_KEYS")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("NO_COLOR", "1")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

struct Out {
    success: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "success: {}\n--- stdout\n{}--- stderr\n{}",
            self.success, self.stdout, self.stderr
        )
    }
}

async fn run(cmd: &mut Command) -> Out {
    let out = tokio::time::timeout(LIMIT, cmd.output())
        .await
        .expect("waybill finishes in time")
        .expect("waybill runs");
    Out {
        success: out.status.success(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs a command that must succeed.
async fn ok(cmd: &mut Command) -> Out {
    let out = run(cmd).await;
    assert!(out.success, "waybill failed:\n{out:?}");
    out
}

/// Runs a command that must fail, and returns what it said.
async fn fails(cmd: &mut Command) -> Out {
    let out = run(cmd).await;
    assert!(!out.success, "waybill should have failed:\n{out:?}");
    out
}

/// `waybill --data DATA ingest FILES...`, which must succeed; returns its totals line.
async fn ingest(cwd: &Path, data: &Path, files: &[&Path]) -> Out {
    ok(waybill(cwd)
        .arg("--data")
        .arg(data)
        .arg("ingest")
        .args(files))
    .await
}

/// The same with an item rejected: it must fail (exit status 1), totals still printed.
async fn ingest_failing(cwd: &Path, data: &Path, files: &[&Path]) -> Out {
    fails(
        waybill(cwd)
            .arg("--data")
            .arg(data)
            .arg("ingest")
            .args(files),
    )
    .await
}

fn totals(accepted: usize, duplicates: usize, rejected: usize) -> String {
    format!("accepted {accepted}, duplicates {duplicates}, rejected {rejected}\n")
}

/// `waybill --data DATA order ID`, which must succeed; returns its stdout.
async fn order(cwd: &Path, data: &Path, id: &str) -> String {
    ok(waybill(cwd).arg("--data").arg(data).args(["order", id]))
        .await
        .stdout
}

/// The value of a `key   value` line at the top of `order`'s output.
fn field<'a>(order: &'a str, key: &str) -> &'a str {
    order
        .lines()
        .find_map(|l| l.strip_prefix(key).filter(|r| r.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {key} line in:\n{order}"))
        .trim()
}

/// The timeline rows of `order`'s output: (occurred_at, status word, whole row).
fn timeline(order: &str) -> Vec<(jiff::Timestamp, String, String)> {
    order
        .lines()
        .skip_while(|l| !l.starts_with("OCCURRED"))
        .skip(1)
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            let mut words = l.split_whitespace();
            let at = words.next().unwrap();
            let at = at
                .parse()
                .unwrap_or_else(|e| panic!("{at:?} is not a timestamp: {e}"));
            (at, words.next().unwrap().to_owned(), l.to_owned())
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// One order's parcel, sent out of order, with offsets chosen so that sorting the
/// printed times as text would give a different order from sorting the instants.
const ORD1: &str = r#"{"order_id":"ORD-1","carrier":"sf-express","tracking_number":"SF1000000001","status":"in_transit","occurred_at":"2024-11-21T08:00:00+08:00","location":"广州转运中心"}
{"order_id":"ORD-1","carrier":"sf-express","tracking_number":"SF1000000001","status":"picked_up","occurred_at":"2024-11-20T03:00:00Z","location":"深圳南山"}
{"order_id":"ORD-1","carrier":"sf-express","tracking_number":"SF1000000001","status":"delivered","occurred_at":"2024-11-22T09:00:00+08:00","location":"北京朝阳"}
{"order_id":"ORD-1","carrier":"sf-express","tracking_number":"SF1000000001","status":"info_received","occurred_at":"2024-11-20T09:00:00+08:00","location":"深圳"}
{"order_id":"ORD-1","carrier":"sf-express","tracking_number":"SF1000000001","status":"out_for_delivery","occurred_at":"2024-11-21T23:30:00Z","location":"北京"}
"#;
const ORD1_IN_ORDER: [&str; 5] = [
    "info_received",
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
];

#[tokio::test]
async fn ingest_ndjson_counts_duplicates_and_a_reingest_is_all_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    // The last line repeats the first: a carrier re-sending a checkpoint.
    let first = ORD1.lines().next().unwrap();
    let file = write(cwd, "events.ndjson", &format!("{ORD1}\n{first}\n"));

    let out = ingest(cwd, &data, &[&file]).await;
    assert_eq!(out.stdout, totals(5, 1, 0));
    let out = ingest(cwd, &data, &[&file]).await;
    assert_eq!(out.stdout, totals(0, 6, 0), "a re-ingest changes nothing");
    // `.jsonl` is the same format under another name.
    let jsonl = write(cwd, "events.jsonl", ORD1);
    assert_eq!(ingest(cwd, &data, &[&jsonl]).await.stdout, totals(0, 5, 0));
}

#[tokio::test]
async fn ingest_json_array_in_the_seed_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    // Pretty-printed on purpose: items span lines.
    let file = write(
        cwd,
        "seed.json",
        r#"[
  {"event_type": "create", "order_id": "seed-1", "details": ""},
  {
    "event_type": "ship",
    "order_id": "seed-1",
    "details": ""
  },
  {"event_type": "received", "order_id": "seed-1", "details": ""}
]
"#,
    );
    assert_eq!(ingest(cwd, &data, &[&file]).await.stdout, totals(3, 0, 0));
    // No occurred_at: the derived ids leave time out, so a re-send is a duplicate.
    assert_eq!(ingest(cwd, &data, &[&file]).await.stdout, totals(0, 3, 0));
    let shown = order(cwd, &data, "seed-1").await;
    assert_eq!(field(&shown, "status"), "picked_up", "{shown}");
    let kinds: Vec<String> = timeline(&shown).into_iter().map(|(_, k, _)| k).collect();
    assert_eq!(kinds, ["created", "info_received", "picked_up"], "{shown}");
}

#[tokio::test]
async fn ingest_csv_with_a_header_row() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let file = write(
        cwd,
        "events.csv",
        "order_id,carrier,tracking_number,status,occurred_at,location,description\n\
         csv-1,yto,YT0000000001,info_received,2024-11-20T10:00:00+08:00,\"上海市, 青浦区\",已下单\n\
         csv-1,yto,YT0000000001,picked_up,2024-11-20T15:00:00+08:00,,揽收\n\
         csv-1,yto,YT0000000001,delivered,2024-11-21T12:00:00+08:00,杭州,\"签收, 本人\"\n",
    );
    assert_eq!(ingest(cwd, &data, &[&file]).await.stdout, totals(3, 0, 0));
    assert_eq!(ingest(cwd, &data, &[&file]).await.stdout, totals(0, 3, 0));

    let shown = order(cwd, &data, "csv-1").await;
    assert_eq!(field(&shown, "status"), "delivered", "{shown}");
    let rows = timeline(&shown);
    let kinds: Vec<&str> = rows.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["info_received", "picked_up", "delivered"],
        "{shown}"
    );
    // Quoted fields keep their commas; an empty field is an absent one.
    assert!(rows[0].2.contains("上海市, 青浦区"), "{shown}");
    assert!(rows[2].2.contains("签收, 本人"), "{shown}");
    assert!(!rows[1].2.contains("青浦区"), "{shown}");
}

#[tokio::test]
async fn ingest_several_files_adds_up_the_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let a = write(cwd, "a.ndjson", ORD1);
    let b = write(
        cwd,
        "b.json",
        r#"[{"order_id":"ORD-2","status":"created"},{"order_id":"ORD-2","status":"cancelled"}]"#,
    );
    assert_eq!(ingest(cwd, &data, &[&a, &b]).await.stdout, totals(7, 0, 0));
}

#[tokio::test]
async fn a_bad_line_is_rejected_and_reported_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let mut lines: Vec<&str> = ORD1.lines().collect();
    lines.insert(2, r#"{"order_id": "ORD-1", "status": "#);
    let file = write(cwd, "bad.ndjson", &(lines.join("\n") + "\n"));
    // A rejected item fails the run, after every other item is in.
    let out = ingest_failing(cwd, &data, &[&file]).await;
    assert_eq!(out.stdout, totals(5, 0, 1), "{out:?}");
    assert!(out.stderr.contains("error: 1 item(s) rejected"), "{out:?}");
    let place = format!("{}: item 3", file.display());
    assert!(out.stderr.contains(&place), "{out:?}");
    assert!(out.stderr.contains("malformed JSON"), "{out:?}");

    // A line can parse and still be refused by the store: this parcel belongs to ORD-1.
    let other = write(
        cwd,
        "other.ndjson",
        r#"{"order_id":"ORD-9","status":"created"}
{"order_id":"ORD-9","carrier":"sf-express","tracking_number":"SF1000000001","status":"returning","occurred_at":"2024-11-23T09:00:00+08:00"}
{"order_id":"ORD-9","status":"cancelled"}
"#,
    );
    let out = ingest_failing(cwd, &data, &[&other]).await;
    assert_eq!(out.stdout, totals(2, 0, 1), "{out:?}");
    assert!(out.stderr.contains("belongs to order ORD-1"), "{out:?}");
    let place = format!("{}: item 2", other.display());
    assert!(out.stderr.contains(&place), "{out:?}");
    // The refused event changed nothing.
    let shown = order(cwd, &data, "ORD-1").await;
    assert_eq!(field(&shown, "status"), "delivered", "{shown}");
    assert!(!shown.contains("returning"), "{shown}");
}

#[tokio::test]
async fn ingest_refuses_unknown_formats_and_missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let txt = write(cwd, "events.txt", ORD1);
    let out = fails(
        waybill(cwd)
            .arg("--data")
            .arg(&data)
            .arg("ingest")
            .arg(&txt),
    )
    .await;
    assert!(out.stderr.contains("unknown format"), "{out:?}");
    assert!(out.stderr.contains("events.txt"), "{out:?}");
    assert!(!out.stdout.contains("accepted"), "{out:?}");

    let missing = cwd.join("nowhere.ndjson");
    let out = fails(
        waybill(cwd)
            .arg("--data")
            .arg(&data)
            .arg("ingest")
            .arg(&missing),
    )
    .await;
    assert!(out.stderr.contains("nowhere.ndjson"), "{out:?}");

    let not_array = write(cwd, "object.json", r#"{"order_id":"x","status":"created"}"#);
    let out = fails(
        waybill(cwd)
            .arg("--data")
            .arg(&data)
            .arg("ingest")
            .arg(&not_array),
    )
    .await;
    assert!(out.stderr.contains("not a JSON array"), "{out:?}");
}

#[tokio::test]
async fn order_prints_status_and_timeline_in_time_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let file = write(cwd, "events.ndjson", ORD1);
    ingest(cwd, &data, &[&file]).await;

    let shown = order(cwd, &data, "ORD-1").await;
    assert_eq!(field(&shown, "order"), "ORD-1", "{shown}");
    assert_eq!(field(&shown, "status"), "delivered", "{shown}");
    let rows = timeline(&shown);
    let kinds: Vec<&str> = rows.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds, ORD1_IN_ORDER, "{shown}");
    assert!(
        rows.windows(2).all(|w| w[0].0 <= w[1].0),
        "not in occurred_at order:\n{shown}"
    );
    // Times are shown in the offset they were reported in.
    assert!(
        rows[0].2.starts_with("2024-11-20T09:00:00+08:00"),
        "{shown}"
    );
    assert!(rows[1].2.starts_with("2024-11-20T03:00:00Z"), "{shown}");
    assert!(shown.contains("SF1000000001"), "{shown}");
    assert!(!shown.contains("(!)"), "no event was flagged:\n{shown}");
}

#[tokio::test]
async fn order_fails_for_an_unknown_order_or_an_empty_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let out = fails(
        waybill(cwd)
            .arg("--data")
            .arg(&data)
            .args(["order", "ORD-1"]),
    )
    .await;
    assert!(out.stderr.contains("no store in"), "{out:?}");

    let file = write(cwd, "events.ndjson", ORD1);
    ingest(cwd, &data, &[&file]).await;
    let out = fails(
        waybill(cwd)
            .arg("--data")
            .arg(&data)
            .args(["order", "ORD-404"]),
    )
    .await;
    assert!(out.stderr.contains("no order \"ORD-404\""), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[tokio::test]
async fn replay_rebuilds_the_same_projections() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    // Two files; the second re-sends one event, which must not be replayed twice.
    let a = write(cwd, "a.ndjson", ORD1);
    let b = write(
        cwd,
        "b.ndjson",
        &format!(
            "{}\n{}\n",
            r#"{"order_id":"ORD-3","carrier":"jd","tracking_number":"JD0000000000001","status":"info_received","occurred_at":"2024-11-24T10:00:00+08:00"}"#,
            ORD1.lines().nth(1).unwrap()
        ),
    );
    assert_eq!(ingest(cwd, &data, &[&a, &b]).await.stdout, totals(6, 1, 0));
    let before = (
        order(cwd, &data, "ORD-1").await,
        order(cwd, &data, "ORD-3").await,
    );

    let out = ok(waybill(cwd).arg("--data").arg(&data).arg("replay")).await;
    assert!(
        out.stdout.starts_with("replayed 6 events"),
        "replay should apply each stored event once:\n{out:?}"
    );
    let after = (
        order(cwd, &data, "ORD-1").await,
        order(cwd, &data, "ORD-3").await,
    );
    assert_eq!(before.0, after.0);
    assert_eq!(before.1, after.1);
    // And replay is repeatable.
    let out = ok(waybill(cwd).arg("--data").arg(&data).arg("replay")).await;
    assert!(out.stdout.starts_with("replayed 6 events"), "{out:?}");
    assert_eq!(order(cwd, &data, "ORD-1").await, before.0);
}

#[tokio::test]
async fn loadgen_output_ingests_without_rejections() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let file = cwd.join("load.ndjson");
    let out = ok(waybill(cwd)
        .args(["loadgen", "--orders", "50", "--out"])
        .arg(&file))
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(
        out.stdout
            .starts_with(&format!("wrote {} events for 50 orders", lines.len())),
        "{out:?}"
    );
    let orders: HashSet<&str> = lines
        .iter()
        .map(|e| e["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(orders.len(), 50);
    // Loadgen's ids are unique per event; a re-sent event repeats its id.
    let distinct: HashSet<&str> = lines
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();

    let out = ingest(cwd, &data, &[&file]).await;
    assert_eq!(
        out.stdout,
        totals(distinct.len(), lines.len() - distinct.len(), 0),
        "{out:?}"
    );
    // Every order can be shown.
    let one = orders.iter().min().unwrap();
    let shown = order(cwd, &data, one).await;
    assert!(!timeline(&shown).is_empty(), "{shown}");
}

/// A running `waybill serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Kills the server and waits until it is gone.
    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Starts `waybill serve` on a free port and waits until it says where it listens.
/// `keys` is the `WAYBILL_API_KEYS` value, or `None` to leave it unset.
async fn serve(cwd: &Path, data: &Path, keys: Option<&str>) -> Server {
    serve_with(data, keys, waybill(cwd), &[]).await
}

/// As [`serve`], from a command the caller has prepared (extra variables, say).
async fn serve_with(data: &Path, keys: Option<&str>, mut cmd: Command, more: &[&str]) -> Server {
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(more)
        .env("WAYBILL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(keys) = keys {
        cmd.env("WAYBILL_API_KEYS", keys);
    }
    let mut child = cmd.spawn().expect("waybill starts");
    let addr = listening::address(&mut child).await;
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(LIMIT).build().unwrap()
}

async fn get_order(base: &str, key: &str, id: &str) -> Value {
    let resp = http()
        .get(format!("{base}/v1/orders/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GET /v1/orders/{id}");
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_to_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let server = serve(cwd, &data, Some(&format!("admin:{ADMIN_KEY}"))).await;
    let base = &server.base;

    // Small batches, so that the bad item sits in the third batch.
    let mut lines: Vec<&str> = ORD1.lines().collect();
    lines.insert(4, r#"{"order_id":"ORD-1","status":"teleported"}"#);
    let file = write(cwd, "events.ndjson", &(lines.join("\n") + "\n"));
    let out = fails(
        waybill(cwd)
            .args([
                "ingest", "--batch", "2", "--server", base, "--key", ADMIN_KEY,
            ])
            .arg(&file),
    )
    .await;
    assert_eq!(out.stdout, totals(5, 0, 1), "{out:?}");
    assert!(out.stderr.contains("unknown status"), "{out:?}");
    let place = format!("{}: item 5", file.display());
    assert!(out.stderr.contains(&place), "{out:?}");
    let got = get_order(base, ADMIN_KEY, "ORD-1").await;
    assert_eq!(got["status"], "delivered", "{got}");
    assert_eq!(
        got["shipments"][0]["tracking_number"], "SF1000000001",
        "{got}"
    );

    // A pretty-printed JSON array and a CSV go over the wire too.
    let json = write(
        cwd,
        "seed.json",
        "[\n  {\n    \"event_type\": \"create\",\n    \"order_id\": \"seed-2\"\n  },\n  {\n    \"event_type\": \"ship\",\n    \"order_id\": \"seed-2\"\n  }\n]\n",
    );
    let csv = write(
        cwd,
        "events.csv",
        "order_id,status,occurred_at\nseed-2,picked_up,2024-11-26T10:00:00+08:00\n",
    );
    let out = ok(waybill(cwd)
        .args(["ingest", "--server", base, "--key", ADMIN_KEY])
        .arg(&json)
        .arg(&csv))
    .await;
    assert_eq!(out.stdout, totals(3, 0, 0), "{out:?}");
    let got = get_order(base, ADMIN_KEY, "seed-2").await;
    assert_eq!(got["status"], "picked_up", "{got}");

    // A batch in which every item is bad is refused as a whole (422); the command
    // still counts and reports each item.
    let bad = write(
        cwd,
        "bad.json",
        r#"[{"order_id":"x","status":"lost"},{"order_id":"x","status":"found"}]"#,
    );
    let out = fails(
        waybill(cwd)
            .args(["ingest", "--server", base, "--key", ADMIN_KEY])
            .arg(&bad),
    )
    .await;
    assert_eq!(out.stdout, totals(0, 0, 2), "{out:?}");
    let place = format!("{}: item 2: unknown status \"found\"", bad.display());
    assert!(out.stderr.contains(&place), "{out:?}");

    // The same file again: all duplicates, acknowledged (the bad item still fails it).
    let out = fails(
        waybill(cwd)
            .args(["ingest", "--server", base, "--key", ADMIN_KEY])
            .arg(&file),
    )
    .await;
    assert_eq!(out.stdout, totals(0, 5, 1), "{out:?}");

    let out = fails(
        waybill(cwd)
            .args([
                "ingest",
                "--server",
                base,
                "--key",
                "not-the-key-at-all-0000",
            ])
            .arg(&file),
    )
    .await;
    assert!(out.stderr.contains("401"), "{out:?}");
    assert!(!out.stdout.contains("accepted"), "{out:?}");
}

/// `waybill order` beside a running server shows what the server acknowledged, at
/// once (the server's rows lag its log by up to a second; the command reads the log past
/// them), never a time of 1970, in columns that line up with Chinese place names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_beside_a_running_server_shows_what_was_acknowledged() {
    use unicode_width::UnicodeWidthStr;
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let server = serve(cwd, &data, Some(&format!("admin:{ADMIN_KEY}"))).await;
    for round in 0..3 {
        let id = format!("ORD-{round}");
        let number = format!("SF100000000{round}");
        let body = ORD1.replace("ORD-1", &id).replace("SF1000000001", &number);
        let resp = http()
            .post(format!("{}/v1/events", server.base))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let shown = order(cwd, &data, &id).await;
        assert_eq!(field(&shown, "status"), "delivered", "{shown}");
        assert!(!shown.contains("1970"), "{shown}");
        let rows = timeline(&shown);
        let kinds: Vec<&str> = rows.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(kinds, ORD1_IN_ORDER, "{shown}");
        // Each column starts at the same display column on every line of the table.
        let lines: Vec<&str> = shown
            .lines()
            .skip_while(|l| !l.starts_with("OCCURRED"))
            .collect();
        let at = |l: &str, word: &str| l[..l.find(word).unwrap()].width();
        let tracking = at(lines[0], "TRACKING");
        let location = at(lines[0], "LOCATION");
        for l in &lines[1..] {
            assert_eq!(at(l, &number), tracking, "{shown}");
            let place = l.split_whitespace().nth(3).unwrap();
            assert_eq!(at(l, place), location, "{shown}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn config_file_settings_are_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let events = write(cwd, "events.ndjson", ORD1);
    let from_file = cwd.join("from-file");
    let config = write(
        cwd,
        "custom.toml",
        &format!("data = {:?}\n", from_file.display().to_string()),
    );

    let out = ok(waybill(cwd)
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&events))
    .await;
    assert_eq!(out.stdout, totals(5, 0, 0));
    assert!(from_file.join("waybill.sqlite3").exists());
    assert!(!cwd.join("waybill-data").exists(), "the default was used");
    let shown = ok(waybill(cwd)
        .arg("--config")
        .arg(&config)
        .args(["order", "ORD-1"]))
    .await
    .stdout;
    assert_eq!(field(&shown, "status"), "delivered");

    // A flag beats the file.
    let from_flag = cwd.join("from-flag");
    ok(waybill(cwd)
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&from_flag)
        .arg("ingest")
        .arg(&events))
    .await;
    assert!(from_flag.join("waybill.sqlite3").exists());

    // Without --config, ./waybill.toml is read if it exists.
    let other = tempfile::tempdir().unwrap();
    let from_default = other.path().join("from-default");
    write(
        other.path(),
        "waybill.toml",
        &format!("data = {:?}\n", from_default.display().to_string()),
    );
    let out = ok(waybill(other.path()).arg("ingest").arg(&events)).await;
    assert_eq!(out.stdout, totals(5, 0, 0));
    assert!(from_default.join("waybill.sqlite3").exists());
}

#[tokio::test]
async fn a_config_file_with_an_unknown_key_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let events = write(cwd, "events.ndjson", ORD1);
    let config = write(cwd, "typo.toml", "dta = \"somewhere\"\n");
    let out = fails(
        waybill(cwd)
            .arg("--config")
            .arg(&config)
            .arg("ingest")
            .arg(&events),
    )
    .await;
    assert!(out.stderr.contains("typo.toml"), "{out:?}");
    assert!(out.stderr.contains("dta"), "{out:?}");
    assert!(!cwd.join("somewhere").exists());
    assert!(!cwd.join("waybill-data").exists());

    // An explicitly named file that does not exist is an error too, not the defaults.
    let out = fails(
        waybill(cwd)
            .arg("--config")
            .arg(cwd.join("absent.toml"))
            .arg("ingest")
            .arg(&events),
    )
    .await;
    assert!(out.stderr.contains("absent.toml"), "{out:?}");
    assert!(!cwd.join("waybill-data").exists());
}

#[tokio::test]
async fn waybill_data_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let events = write(cwd, "events.ndjson", ORD1);
    let data = cwd.join("from-env");
    let out = ok(waybill(cwd)
        .env("WAYBILL_DATA", &data)
        .arg("ingest")
        .arg(&events))
    .await;
    assert_eq!(out.stdout, totals(5, 0, 0));
    assert!(data.join("waybill.sqlite3").exists());
    assert!(!cwd.join("waybill-data").exists());
    let shown = ok(waybill(cwd)
        .env("WAYBILL_DATA", &data)
        .args(["order", "ORD-1"]))
    .await
    .stdout;
    assert_eq!(field(&shown, "status"), "delivered");
    // The flag beats the environment.
    let elsewhere = cwd.join("elsewhere");
    let out = fails(
        waybill(cwd)
            .env("WAYBILL_DATA", &data)
            .arg("--data")
            .arg(&elsewhere)
            .args(["order", "ORD-1"]),
    )
    .await;
    assert!(out.stderr.contains("elsewhere"), "{out:?}");
}

#[tokio::test]
async fn openapi_prints_an_openapi_3_1_document() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(waybill(tmp.path()).arg("openapi")).await;
    let doc: Value = serde_json::from_str(&out.stdout).expect("the document is JSON");
    let version = doc["openapi"].as_str().expect("an openapi field");
    assert!(version.starts_with("3.1"), "openapi {version}");
    for path in ["/v1/events", "/v1/orders/{order_id}"] {
        assert!(
            doc["paths"].get(path).is_some(),
            "no {path} in the document"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_keys_generates_a_working_admin_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let server = serve(cwd, &data, None).await;
    let key_file = data.join("admin.key");
    let key = std::fs::read_to_string(&key_file).expect("admin.key is written");
    let key = key.trim();
    assert!(key.len() >= 16, "a short key: {key:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin.key is readable by others");
    }

    let list = |key: String| {
        let url = format!("{}/v1/orders", server.base);
        async move {
            http()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(list(key.to_owned()).await, 200);
    assert_eq!(list(format!("{key}x")).await, 401);
    server.stop().await;

    // A restart keeps the same key.
    let server = serve(cwd, &data, None).await;
    let again = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(again.trim(), key);
    let status = http()
        .get(format!("{}/v1/orders", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

/// A user's mistake is one line on stderr, even with backtraces asked for; the exit
/// status says it failed.
#[tokio::test]
async fn a_user_error_is_one_line_without_a_backtrace() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let file = write(cwd, "events.ndjson", ORD1);
    ingest(cwd, &data, &[&file]).await;
    let out = fails(
        waybill(cwd)
            .env("RUST_BACKTRACE", "1")
            .arg("--data")
            .arg(&data)
            .args(["order", "nosuchorder"]),
    )
    .await;
    assert_eq!(out.stderr, "error: no order \"nosuchorder\"\n", "{out:?}");
}

#[tokio::test]
async fn loadgen_writes_to_standard_output_with_a_dash() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(waybill(tmp.path()).args(["loadgen", "--orders", "5", "--out", "-"])).await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() > 10, "{out:?}");
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert!(v["order_id"].is_string(), "{l}");
    }
    assert!(out.stderr.contains("wrote"), "{out:?}");
    assert!(!tmp.path().join("-").exists(), "no file named -");
}

/// A reader that stops early (`| head -1`) ends the command quietly, not with a panic.
#[tokio::test]
async fn openapi_into_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = waybill(tmp.path())
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    assert_eq!(first.trim(), "{");
    drop(stdout);
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Two mistakes met in the first hour get a hint: a server address without its scheme,
/// and a bulk load into a store a running server holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_hints_at_the_scheme_and_at_the_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let file = write(cwd, "events.ndjson", ORD1);
    let out = fails(
        waybill(cwd)
            .args(["ingest", "--server", "localhost:8080", "--key", ADMIN_KEY])
            .arg(&file),
    )
    .await;
    assert!(
        out.stderr.contains("--server http://localhost:8080"),
        "{out:?}"
    );
    let server = serve(cwd, &data, Some(&format!("admin:{ADMIN_KEY}"))).await;
    let out = fails(
        waybill(cwd)
            .arg("--data")
            .arg(&data)
            .arg("ingest")
            .arg(&file),
    )
    .await;
    assert!(
        out.stderr.contains("in use by another Waybill process"),
        "{out:?}"
    );
    assert!(out.stderr.contains("--server http://"), "{out:?}");
    server.stop().await;
}

/// The demo restarted on the same data continues: what it had sent before comes back as
/// duplicates without a pause, and new events flow at once. (The demo is slowed to one
/// batch a minute here, so a pause after resent events would outlast the test's wait.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_continues_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let keys = format!("admin:{ADMIN_KEY}");
    let demo = |cwd: &Path| {
        let mut cmd = waybill(cwd);
        cmd.env("WAYBILL_DEMO_TICK_MS", "60000");
        cmd
    };
    async fn accepted(base: &str) -> u64 {
        let text = http()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("waybill_events_total{outcome=\"accepted\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |n| n.parse().unwrap())
    }
    async fn until_accepted(base: &str) -> u64 {
        tokio::time::timeout(LIMIT, async {
            loop {
                let n = accepted(base).await;
                if n > 0 {
                    return n;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the demo's events were accepted in time")
    }
    let mut first = serve_with(&data, Some(&keys), demo(cwd), &["--demo"]).await;
    let before = until_accepted(&first.base).await;
    first.child.kill().await.unwrap();
    let _ = first.child.wait().await;
    let again = serve_with(&data, Some(&keys), demo(cwd), &["--demo"]).await;
    let after = until_accepted(&again.base).await;
    assert!(before > 0 && after > 0);
    let orders = http()
        .get(format!("{}/v1/orders?limit=100", again.base))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let ids: Vec<&str> = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("DEMO1-")), "{ids:?}");
    again.stop().await;
}

/// The session key rotated without signing anyone out: a dashboard session opened
/// under the old key still works once the old key is listed as previous, and stops
/// when it is dropped; a previous key too short to be one is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_key_rotates_without_signing_anyone_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, data) = (tmp.path(), tmp.path().join("data"));
    let keys = format!("admin:{ADMIN_KEY}");
    let (old, new) = ("session-key-old-000000001", "session-key-new-000000002");
    let with = |session: &str, previous: Option<&str>| {
        let mut cmd = waybill(cwd);
        cmd.env("WAYBILL_SESSION_KEY", session);
        if let Some(p) = previous {
            cmd.env("WAYBILL_SESSION_KEY_PREVIOUS", p);
        }
        cmd
    };

    let mut first = serve_with(&data, Some(&keys), with(old, None), &[]).await;
    let cookie = dashboard::session(&first.base, ADMIN_KEY).await;
    assert_eq!(dashboard::status(&first.base, &cookie).await, 200);
    first.child.kill().await.unwrap();
    let _ = first.child.wait().await;

    let mut rotated = serve_with(&data, Some(&keys), with(new, Some(old)), &[]).await;
    assert_eq!(dashboard::status(&rotated.base, &cookie).await, 200);
    rotated.child.kill().await.unwrap();
    let _ = rotated.child.wait().await;

    let done = serve_with(&data, Some(&keys), with(new, None), &[]).await;
    assert_eq!(dashboard::status(&done.base, &cookie).await, 401);
    done.stop().await;

    let out = fails(
        with(new, Some("short"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(&data),
    )
    .await;
    assert!(
        out.stderr.contains("WAYBILL_SESSION_KEY_PREVIOUS"),
        "{out:?}"
    );
}

/// `waybill soak` drives a real `serve` child and reports each interval: the rows carry
/// the child's memory and descriptors, and the summary counts what every part of the
/// traffic (ingest, reads, streams, webhooks) got back, with no errors.
#[tokio::test]
async fn soak_reports_each_interval_and_every_part_of_its_traffic() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = ok(waybill(tmp.path()).args([
        "soak",
        "--minutes",
        "0.2",
        "--report-secs",
        "3",
        "--rate",
        "100",
        "--streams",
        "2",
        "--dir",
        data.to_str().unwrap(),
    ]))
    .await;
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 12 && w[0].parse::<f64>().is_ok())
        .collect();
    assert_eq!(rows.len(), 4, "a row every 3 s for 12 s:\n{out:?}");
    for w in &rows {
        let (rss, anon): (f64, f64) = (w[6].parse().unwrap(), w[7].parse().unwrap());
        let fds: usize = w[8].parse().unwrap();
        assert!(
            rss > 1.0 && anon > 0.0 && anon < rss && fds > 3,
            "the child's own figures: {w:?}"
        );
        assert_eq!(w[11], "0", "no errors: {out:?}");
    }
    let events: Vec<u64> = rows.iter().map(|w| w[1].parse().unwrap()).collect();
    assert!(
        events.windows(2).all(|p| p[0] < p[1]),
        "ingest goes on: {events:?}"
    );
    let summary = out.stdout.split("whole run:").nth(1).expect("a summary");
    let count = |what: &str| -> u64 {
        summary
            .split(what)
            .next()
            .and_then(|s| s.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{what} in {summary}"))
    };
    assert!(count(" webhooks received") > 0, "{summary}");
    assert!(count(" stream messages") > 0, "{summary}");
    assert!(count(" per-order streams opened") > 0, "{summary}");
    assert!(count(" reads p50") > 0, "{summary}");
    assert_eq!(count(" errors"), 0, "{summary}");
    assert!(
        data.join("waybill.sqlite3").exists(),
        "a given --dir is kept"
    );
}
