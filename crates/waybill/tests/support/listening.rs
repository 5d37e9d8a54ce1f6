//! Waiting for a `waybill serve` child to listen: it names its address in the
//! "waybill is listening local=…" log line on stderr. Shared by the binary's tests
//! (each includes this file).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// The `host:port` `child` listens on, read from its stderr (which must be piped); then
/// stderr is drained in the background, so the child never blocks on a full pipe.
pub async fn address(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("local=").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("waybill exited before listening");
    })
    .await
    .expect("waybill listens within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    addr
}
