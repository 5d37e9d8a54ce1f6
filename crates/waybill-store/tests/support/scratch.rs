//! Scratch space on the machine's services for tests: names no other test (or run) uses,
//! and clean-up that works from a `Drop`. Shared by the store, broker and scale-out tests
//! (each includes this file).

/// A name no other test in any process uses: `<prefix>_<pid>_<nanos>_<n>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `sql` on `url` and waits for it, on a thread and runtime of its own: a `Drop`
/// cannot wait on the test's runtime. Failures are ignored (clean-up is best effort;
/// `.ci/run` removes what a killed run left).
pub fn run_sql(url: &str, sql: String) {
    let url = url.to_owned();
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .ok()?;
            tokio::spawn(conn);
            client.batch_execute(&sql).await.ok()
        })
    })
    .join();
}

/// The value of `var`, which a test marked `#[ignore = "needs …"]` cannot run without.
/// Such tests run only when asked for (`cargo test -- --ignored`, as `.ci/run` does
/// with every service up), so a missing variable there is a failure, never a skip.
pub fn need(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: this test needs the service it names (see .ci/run)")
    })
}
