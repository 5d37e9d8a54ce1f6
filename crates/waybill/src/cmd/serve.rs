//! `waybill serve`: the HTTP service, on the embedded store or, with
//! `WAYBILL_DATABASE_URL`, as one of many stateless nodes on PostgreSQL (and Redis).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use waybill_server::{ApiKeys, AppState, Role};

use crate::settings::Settings;

/// The Kuaidi100 salt `--demo` uses when none is configured, so the README's tour can
/// sign a push.
pub const DEMO_KUAIDI100_SALT: &str = "demo-salt";

pub async fn run(mut settings: Settings, demo: bool) -> anyhow::Result<()> {
    if demo {
        // A local playground: webhooks may go to a receiver on this machine, and the
        // tour's Kuaidi100 push has a salt to sign with. Never use --demo in production.
        settings.deliveries.allow_private = true;
        if settings
            .webhooks
            .get("kuaidi100")
            .is_some_and(|p| p.secret.is_none())
        {
            settings
                .webhooks
                .set_secret("kuaidi100", DEMO_KUAIDI100_SALT)?;
        }
    }
    let store = super::store::for_serving(&settings).await?;
    let cluster = super::store::join_cluster(&settings, &store)?;
    let keys = if settings.api_keys.is_empty() {
        let key = admin_key(&settings.data)?;
        tracing::warn!(
            "WAYBILL_API_KEYS is not set: using the admin key in {}",
            settings.data.join("admin.key").display()
        );
        ApiKeys::default().with(key, Role::Admin)
    } else {
        settings.api_keys.clone()
    };
    let listener = TcpListener::bind(&settings.addr)
        .await
        .with_context(|| format!("binding {}", settings.addr))?;
    let local = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let tracking_key = secret_key(&settings.data, "WAYBILL_TRACKING_KEY", "tracking.key")?;
    let session_key = secret_key(&settings.data, "WAYBILL_SESSION_KEY", "session.key")?;
    let previous_session_keys = previous_keys("WAYBILL_SESSION_KEY_PREVIOUS")?;
    let links = waybill_server::pages::Links::new(
        &public_url,
        tracking_key.as_bytes(),
        settings.tracking_link_ttl,
    );
    if let Some(mail) = &mut settings.deliveries.mail {
        mail.links = links.clone();
    }
    let state = AppState {
        store: store.clone(),
        keys: Arc::new(keys),
        links: Arc::new(links),
        limits: settings.limits.clone(),
        bodies: Default::default(),
        sessions: waybill_server::pages::Sessions::new(session_key.as_bytes())
            .with_previous(&previous_session_keys),
        stall: Arc::new(settings.stall.clone()),
        webhooks: Arc::new(settings.webhooks.clone()),
        cluster,
        engines: waybill_server::engines::Engines::start(
            &store,
            Default::default(),
            settings.deliveries.clone(),
        ),
    };
    tracing::info!(%local, data = %settings.data.display(), "waybill is listening");
    if demo {
        // The demo counts its events too: the recorder must exist before it starts.
        waybill_server::telemetry::install();
        tokio::spawn(crate::cmd::demo::run(store));
        tracing::info!("demo traffic is flowing: try GET /v1/orders?limit=5");
    }
    waybill_server::run(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Reads the generated admin key, creating it on first start. Kept in the data
/// directory, readable by its owner only, so a newcomer's first `curl` just works.
fn admin_key(data: &Path) -> anyhow::Result<String> {
    kept_key(&data.join("admin.key"), || {
        format!("wb_admin_{}", random_hex(24))
    })
}

/// A signing key: from `env` (the tracking key signs links, the session key dashboard
/// sessions), or one generated on first start and kept in the data directory as `file`
/// (so links and sessions survive restarts). Two keys, so that whoever may make
/// tracking links cannot make dashboard sessions.
/// Keys a secret had before a rotation, comma-separated in `env`: still read, never
/// used to sign. Each must be as long as a key is.
fn previous_keys(env: &str) -> anyhow::Result<Vec<String>> {
    let spec = std::env::var(env).unwrap_or_default();
    let keys: Vec<String> = spec
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(short) = keys.iter().find(|k| k.len() < 16) {
        anyhow::bail!(
            "{env}: a key of {} characters; keys have 16 or more",
            short.len()
        );
    }
    Ok(keys)
}

fn secret_key(data: &Path, env: &str, file: &str) -> anyhow::Result<String> {
    if let Some(k) = std::env::var(env).ok().filter(|k| k.len() >= 16) {
        return Ok(k);
    }
    kept_key(&data.join(file), || random_hex(32))
}

/// The key in `path`, or `fresh()` written there first. The key is written whole to a
/// file of its own (mode 0600 from the start) and then linked into place, which fails
/// if another process got there first: two nodes starting at once on one data
/// directory end up with the same key, a crash never leaves a half-written one, and no
/// one else can read it even for a moment.
fn kept_key(path: &Path, fresh: impl FnOnce() -> String) -> anyhow::Result<String> {
    use std::io::Write;
    let read = || {
        std::fs::read_to_string(path)
            .ok()
            .map(|k| k.trim().to_owned())
            .filter(|k| k.len() >= 16)
    };
    if let Some(k) = read() {
        return Ok(k);
    }
    if path.exists() {
        anyhow::bail!(
            "{} holds no key of 16 or more characters; remove it to have one generated",
            path.display()
        );
    }
    let key = fresh();
    let staged = path.with_extension(format!("new.{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&staged)
        .with_context(|| format!("creating {}", staged.display()))?;
    f.write_all(format!("{key}\n").as_bytes())?;
    f.sync_all()?;
    drop(f);
    let linked = std::fs::hard_link(&staged, path);
    let _ = std::fs::remove_file(&staged);
    match linked {
        Ok(()) => Ok(key),
        // Another process won the race; its key is whole, because it was linked whole.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read().with_context(|| format!("{} was just created without a key", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `waybill serve`.
pub fn main(settings: Settings, demo: bool) -> anyhow::Result<()> {
    super::runtime()?.block_on(run(settings, demo))
}
