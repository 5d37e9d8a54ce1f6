//! The tracking page and the dashboard in real Chromium, driven by Playwright (`tests/browser/track.mjs`)
//! against the real binary. `.ci/run` installs Debian's chromium and the npm package and
//! sets `WAYBILL_BROWSER_TESTS` and runs it with `-- --ignored`; a plain `cargo test`
//! lists it as ignored, saying what it needs. Screenshots land in `target/screenshots/`.

#[path = "support/listening.rs"]
mod listening;

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;

const KEY: &str = "browser-admin-key-000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and Playwright: set WAYBILL_BROWSER_TESTS (.ci/run installs both)"]
async fn the_tracking_page_and_the_dashboard_work_in_chromium() {
    let dir = std::env::var("WAYBILL_BROWSER_TESTS")
        .expect("WAYBILL_BROWSER_TESTS names tests/browser with its npm packages installed");
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("WAYBILL_API_KEYS", format!("admin:{KEY}"))
        .env("WAYBILL_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = listening::address(&mut child).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg("track.mjs")
        .current_dir(&dir)
        .env("WAYBILL_URL", format!("http://{addr}"))
        .env("WAYBILL_KEY", KEY)
        .env("SCREENSHOTS", &shots)
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("tracking page: ok"), "{said}");
    assert!(said.contains("dashboard: ok"), "{said}");
    assert!(shots.join("track-zh.png").exists());
    assert!(shots.join("dashboard.png").exists());
}
