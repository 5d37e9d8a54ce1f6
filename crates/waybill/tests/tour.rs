//! The README's two-minute tour, run as written: `waybill serve --demo` in a fresh
//! directory (so the admin key is generated into `./waybill-data/`), then the tour's
//! shell block, word for word but for the addresses (a free port instead of 8080 and
//! 9000), the path of the receiver script and `cargo run --release -q --`, which
//! becomes this build's binary. It needs `bash`, `curl` and `python3`, which `.ci/run`
//! has; a plain `cargo test` lists it as ignored.

#[path = "support/listening.rs"]
mod listening;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

const README: &str = include_str!("../../../README.md");

/// The first `sh` block under the tour's heading.
fn tour_script() -> &'static str {
    let tour = &README[README
        .find("## A two-minute tour")
        .expect("the tour's heading")..];
    let start = tour.find("```sh\n").expect("the tour's shell block") + "```sh\n".len();
    let len = tour[start..].find("```").expect("the block's end");
    &tour[start..start + len]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs bash, curl and python3 (.ci/run has them)"]
async fn the_readme_tour_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["serve", "--demo", "--addr", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("WAYBILL_API_KEYS")
        .env_remove("WAYBILL_DATA")
        .env("WAYBILL_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = listening::address(&mut server).await;

    let receiver = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/webhook_receiver.py");
    let hook_port = free_port().to_string();
    let script = tour_script()
        .replace("localhost:8080", &addr)
        .replace("cargo run --release -q --", env!("CARGO_BIN_EXE_waybill"))
        .replace("scripts/webhook_receiver.py", receiver.to_str().unwrap())
        .replace("9000", &hook_port);
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("WAYBILL_DATA")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the tour finishes")
    .expect("bash runs");
    let said = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    let all = format!("{said}\n--- stderr\n{errors}");

    // Each step answered as the tour's comments say.
    // (The demo's orders are DEMO…: these match the tour's own answers only.)
    let order1 = |status: &str| format!("{{\"order_id\":\"order1\",\"status\":\"{status}\"");
    assert!(said.contains(&order1("created")), "{all}");
    assert!(
        said.contains(&order1("delivered")),
        "order1 delivered: {all}"
    );
    assert!(said.contains("unknown status"), "the refused event: {all}");
    assert!(
        said.contains("\"result\":true"),
        "the Kuaidi100 push: {all}"
    );
    assert!(
        said.contains("ZT9001"),
        "order4 claims the pushed parcel: {all}"
    );
    assert!(said.contains("sub_"), "the subscription: {all}");
    assert!(said.contains("\n204\n"), "the subscription removed: {all}");
    assert!(said.contains("waybill_events_total"), "the metrics: {all}");
    // `waybill order order2`: the late scan first, both in place, nothing from 1970.
    // (curl's answers end without a newline: the table's first line follows one.)
    let start = said
        .find(" order2\nstatus ")
        .unwrap_or_else(|| panic!("no order table: {all}"));
    let table = &said[start..];
    let table = &table[table.find("OCCURRED").expect("the timeline")..];
    let picked = table.find("picked_up").expect("picked_up in the table");
    let out_for = table.find("out_for_delivery").expect("out_for_delivery");
    assert!(picked < out_for, "{table}");
    let table = &table[..table.find('{').unwrap_or(table.len())];
    assert!(!table.contains("1970"), "{table}");
    assert!(!errors.contains("rror"), "{all}");

    // It cleaned up: no subscription is left retrying against the gone receiver.
    let key = std::fs::read_to_string(dir.path().join("waybill-data/admin.key")).unwrap();
    let subs: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{addr}/v1/subscriptions"))
        .bearer_auth(key.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(subs["subscriptions"], serde_json::json!([]), "{subs}");
    let _ = server.kill().await;
}
