//! A `waybill` child process (this same binary with other arguments), started and
//! waited for until it logs that it is ready; for the phases that measure Waybill as
//! it runs in production, one process per node.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};

pub(crate) struct Child {
    child: tokio::process::Child,
}

impl Child {
    pub(crate) async fn spawn(
        args: &[&str],
        env: &[(&str, &str)],
        ready: &str,
    ) -> anyhow::Result<(Self, String)> {
        // WAYBILL_BENCH_CHILD_LOG: the children's log filter, their lines passed on to
        // this process's stderr (to profile them; e.g. `waybill_store::pg=trace`).
        let shown = std::env::var("WAYBILL_BENCH_CHILD_LOG").ok();
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(args)
            .envs(env.iter().copied())
            .env("WAYBILL_LOG", shown.as_deref().unwrap_or("info"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(l)) = lines.next_line().await {
                if l.contains(ready) {
                    return Some(l);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .with_context(|| format!("{args:?} did not say {ready:?}"))?;
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                if shown.is_some() {
                    eprintln!("{l}");
                }
            }
        });
        Ok((Self { child }, line))
    }

    /// `waybill … serve` with `args`: the child and the address it listens on (from its
    /// "waybill is listening local=…" line).
    pub(crate) async fn serve(
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<(Self, String)> {
        let (child, line) = Self::spawn(args, env, "local=").await?;
        let addr = line
            .split("local=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .context("the listening address")?
            .to_owned();
        Ok((child, addr))
    }

    /// The process id, while it runs: its `/proc` entry is what a soak reads.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}
