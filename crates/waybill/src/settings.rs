//! Settings: flags, then `WAYBILL_*` variables (both via clap), then the TOML file, then
//! defaults. Validated here once, so commands receive values that are known good.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use waybill_server::delivery::DeliverySettings;
use waybill_server::intake::{Webhooks, names};
use waybill_server::mail::{Locale, MailSettings};
use waybill_server::transport::Transport;
use waybill_server::{ApiKeys, Limits};
use waybill_store::{Synchronous, WriterOptions};

/// The file's shape. Every key is optional; unknown keys are an error, so a typo is not
/// silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub addr: Option<String>,
    pub data: Option<PathBuf>,
    pub public_url: Option<String>,
    pub api_keys: Option<String>,
    pub synchronous: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_batch_items: Option<usize>,
    /// Connections served at once; the rest wait to be accepted.
    pub max_connections: Option<usize>,
    /// Seconds a connection may take to send a request's headers (also how long an
    /// idle keep-alive connection stays open), and to send its body.
    pub header_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    /// Bytes of request bodies being read at once, across all connections.
    pub max_inflight_body_bytes: Option<usize>,
    pub cache_capacity: Option<usize>,
    /// The embedded store's page cache (the writer's), in MiB.
    pub page_cache_mib: Option<usize>,
    /// Customer e-mail: the SMTP server (`smtp://host:port`), the sender, the default
    /// language (`zh` or `en`).
    pub smtp_url: Option<String>,
    pub email_from: Option<String>,
    pub email_locale: Option<String>,
    /// Deliver outbound webhooks to loopback and private addresses.
    pub webhook_allow_private: Option<bool>,
    /// `[webhooks.<provider>]` tables: `secret` and `zone`.
    #[serde(default)]
    pub webhooks: std::collections::BTreeMap<String, WebhookFileConfig>,
    /// Scale-out: PostgreSQL instead of the embedded store, RabbitMQ intake, Redis.
    pub database_url: Option<String>,
    pub amqp_url: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    pub partitions: Option<u16>,
    pub db_pool: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFileConfig {
    pub secret: Option<String>,
    pub zone: Option<String>,
}

impl FileConfig {
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("waybill.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

pub struct Settings {
    pub data: PathBuf,
    pub addr: String,
    pub public_url: Option<String>,
    /// From `WAYBILL_API_KEYS` or the file; empty means "generate an admin key".
    pub api_keys: ApiKeys,
    pub writer: WriterOptions,
    pub limits: Limits,
    pub webhooks: Webhooks,
    pub deliveries: DeliverySettings,
    /// How long a tracking link handed out stays good.
    pub tracking_link_ttl: std::time::Duration,
    /// The dashboard's stall limits per status (`WAYBILL_STALL_HOURS`).
    pub stall: waybill_store::StallRules,
    pub scale: ScaleOut,
}

/// Where the scale-out parts are, when they are used (docs/scaling.md).
#[derive(Debug, Clone)]
pub struct ScaleOut {
    /// `WAYBILL_DATABASE_URL`: PostgreSQL instead of the embedded store.
    pub database_url: Option<String>,
    /// `WAYBILL_AMQP_URL`: RabbitMQ, for `waybill worker`.
    pub amqp_url: Option<String>,
    /// `WAYBILL_REDIS_URL`: the order cache and the fan-out of changes between nodes.
    pub redis_url: Option<String>,
    /// `WAYBILL_REDIS_PREFIX`: of every key and channel (`waybill`).
    pub redis_prefix: String,
    /// `WAYBILL_PARTITIONS`: intake queues (8). Every process must agree.
    pub partitions: u16,
    /// `WAYBILL_DB_POOL`: PostgreSQL connections per process (16).
    pub db_pool: usize,
    /// `WAYBILL_OUTBOX_POLL_MS`: how often each process looks at the outbox for
    /// changes other processes made (500), besides hearing of them through Redis.
    pub outbox_poll: std::time::Duration,
}

impl ScaleOut {
    /// The PostgreSQL store's options, if one is configured.
    pub fn postgres(&self, announce: bool) -> Option<waybill_store::PgOptions> {
        self.database_url.as_ref().map(|url| {
            let mut o = waybill_store::PgOptions::new(url.clone());
            o.pool_size = self.db_pool;
            o.announce = announce;
            o.poll_interval = self.outbox_poll;
            o
        })
    }
}

/// Provider secrets and zones: `WAYBILL_WEBHOOK_SECRET_<PROVIDER>` and
/// `WAYBILL_WEBHOOK_ZONE_<PROVIDER>` beat the file's `[webhooks.<provider>]`.
fn webhooks(
    file: &std::collections::BTreeMap<String, WebhookFileConfig>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Webhooks> {
    let mut w = Webhooks::default();
    for name in file.keys() {
        if w.get(name).is_none() {
            bail!(
                "[webhooks.{name}]: unknown provider (expected one of {})",
                names().collect::<Vec<_>>().join(", ")
            );
        }
    }
    for name in names() {
        let upper = name.to_ascii_uppercase();
        let from_file = file.get(name);
        let secret = env(&format!("WAYBILL_WEBHOOK_SECRET_{upper}"))
            .or_else(|| from_file.and_then(|f| f.secret.clone()));
        if let Some(secret) = secret {
            w.set_secret(name, &secret)?;
        }
        let zone = env(&format!("WAYBILL_WEBHOOK_ZONE_{upper}"))
            .or_else(|| from_file.and_then(|f| f.zone.clone()));
        if let Some(zone) = zone {
            w.set_zone(name, &zone)?;
        }
    }
    Ok(w)
}

impl Settings {
    pub fn resolve(
        data: Option<PathBuf>,
        addr: Option<String>,
        public_url: Option<String>,
        file: FileConfig,
    ) -> anyhow::Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let keys_spec = env("WAYBILL_API_KEYS")
            .or(file.api_keys)
            .unwrap_or_default();
        let api_keys = ApiKeys::parse(&keys_spec).context("WAYBILL_API_KEYS")?;
        let sync_spec = env("WAYBILL_SYNCHRONOUS").or(file.synchronous);
        let synchronous = match sync_spec.as_deref() {
            None => Synchronous::Full,
            Some(s) => match Synchronous::parse(s) {
                Some(v) => v,
                None => bail!("synchronous must be full or normal, not {s:?}"),
            },
        };
        let parse_env = |k: &str| -> anyhow::Result<Option<usize>> {
            env(k)
                .map(|v| v.parse::<usize>().with_context(|| format!("{k}={v:?}")))
                .transpose()
        };
        let defaults = Limits::default();
        let seconds = |k: &str, from_file: Option<u64>, default: Duration| {
            let secs = parse_env(k)?.map(|s| s as u64).or(from_file);
            match secs {
                Some(0) => bail!("{k} must be at least 1 second"),
                Some(s) => Ok(Duration::from_secs(s)),
                None => Ok(default),
            }
        };
        let t = &defaults.transport;
        let transport = Transport {
            max_connections: parse_env("WAYBILL_MAX_CONNECTIONS")?
                .or(file.max_connections)
                .unwrap_or(t.max_connections),
            header_timeout: seconds(
                "WAYBILL_HEADER_TIMEOUT_SECS",
                file.header_timeout_secs,
                t.header_timeout,
            )?,
            body_timeout: seconds(
                "WAYBILL_BODY_TIMEOUT_SECS",
                file.body_timeout_secs,
                t.body_timeout,
            )?,
            max_inflight_body_bytes: parse_env("WAYBILL_MAX_INFLIGHT_BODY_BYTES")?
                .or(file.max_inflight_body_bytes)
                .unwrap_or(t.max_inflight_body_bytes),
            max_header_bytes: t.max_header_bytes,
        };
        let limits = Limits {
            max_body_bytes: parse_env("WAYBILL_MAX_BODY_BYTES")?
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            max_batch_items: parse_env("WAYBILL_MAX_BATCH_ITEMS")?
                .or(file.max_batch_items)
                .unwrap_or(defaults.max_batch_items),
            transport,
        };
        if limits.transport.max_connections == 0 {
            bail!("max_connections must be at least 1");
        }
        if limits.transport.max_inflight_body_bytes < limits.max_body_bytes {
            bail!("max_inflight_body_bytes must be at least max_body_bytes");
        }
        if limits.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        if limits.max_batch_items == 0 {
            bail!("max_batch_items must be at least 1");
        }
        let writer = WriterOptions {
            synchronous,
            cache_capacity: parse_env("WAYBILL_CACHE_CAPACITY")?
                .or(file.cache_capacity)
                .unwrap_or(WriterOptions::default().cache_capacity),
            page_cache_mib: parse_env("WAYBILL_PAGE_CACHE_MIB")?
                .or(file.page_cache_mib)
                .unwrap_or(WriterOptions::default().page_cache_mib),
            ..WriterOptions::default()
        };
        let webhooks = webhooks(&file.webhooks, env)?;
        let allow_private = match env("WAYBILL_WEBHOOK_ALLOW_PRIVATE")
            .or(file.webhook_allow_private.map(|b| b.to_string()))
            .as_deref()
        {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(other) => {
                bail!("WAYBILL_WEBHOOK_ALLOW_PRIVATE must be true or false, not {other:?}")
            }
        };
        let mail = match env("WAYBILL_SMTP_URL").or(file.smtp_url) {
            None => None,
            Some(smtp_url) => {
                let from = env("WAYBILL_EMAIL_FROM")
                    .or(file.email_from)
                    .context("WAYBILL_SMTP_URL needs WAYBILL_EMAIL_FROM (the sender address)")?;
                let locale = env("WAYBILL_EMAIL_LOCALE")
                    .or(file.email_locale)
                    .unwrap_or_else(|| "zh".into());
                let default_locale = Locale::parse(&locale).with_context(|| {
                    format!("WAYBILL_EMAIL_LOCALE must be zh or en, not {locale:?}")
                })?;
                Some(MailSettings {
                    smtp_url,
                    from,
                    default_locale,
                    // Known once the server has bound its address (see `serve`).
                    links: waybill_server::pages::Links::new("", b"", std::time::Duration::ZERO),
                })
            }
        };
        let deliveries = DeliverySettings {
            allow_private,
            mail,
            ..DeliverySettings::default()
        };
        let days = parse_env("WAYBILL_TRACKING_LINK_DAYS")?.unwrap_or(90);
        if days == 0 {
            bail!("WAYBILL_TRACKING_LINK_DAYS must be at least 1");
        }
        let stall =
            waybill_store::StallRules::parse(&env("WAYBILL_STALL_HOURS").unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("WAYBILL_STALL_HOURS: {e}"))?;
        let partitions = match env("WAYBILL_PARTITIONS") {
            Some(v) => v
                .parse::<u16>()
                .with_context(|| format!("WAYBILL_PARTITIONS={v:?}"))?,
            None => file.partitions.unwrap_or(8),
        };
        if partitions == 0 {
            bail!("WAYBILL_PARTITIONS must be at least 1");
        }
        let scale = ScaleOut {
            database_url: env("WAYBILL_DATABASE_URL").or(file.database_url),
            amqp_url: env("WAYBILL_AMQP_URL").or(file.amqp_url),
            redis_url: env("WAYBILL_REDIS_URL").or(file.redis_url),
            redis_prefix: env("WAYBILL_REDIS_PREFIX")
                .or(file.redis_prefix)
                .unwrap_or_else(|| "waybill".into()),
            partitions,
            db_pool: parse_env("WAYBILL_DB_POOL")?.or(file.db_pool).unwrap_or(16),
            outbox_poll: std::time::Duration::from_millis(
                parse_env("WAYBILL_OUTBOX_POLL_MS")?.unwrap_or(500).max(10) as u64,
            ),
        };
        Ok(Self {
            scale,
            stall,
            webhooks,
            deliveries,
            tracking_link_ttl: std::time::Duration::from_secs(days as u64 * 86_400),
            data: data
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from("waybill-data")),
            addr: addr
                .or(file.addr)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            public_url: public_url.or(file.public_url),
            api_keys,
            writer,
            limits,
        })
    }
}

// The config fuzz target's harness (fuzz/README.md); its corpus is replayed in the tests.
#[cfg(test)]
#[path = "../../../fuzz/fuzz_targets/config_harness.rs"]
mod config_harness;

#[cfg(test)]
mod tests {
    use super::config_harness;
    use super::*;

    /// Every input the `config` fuzz target kept reads without a panic, and the seeds'
    /// valid files still resolve.
    #[test]
    fn the_config_fuzz_corpus_replays_without_a_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
        let mut resolved = 0;
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            inputs += 1;
            let ok = std::panic::catch_unwind(|| config_harness::config(&data))
                .unwrap_or_else(|_| panic!("{} panicked the config reader", path.display()));
            resolved += usize::from(ok);
        }
        assert!(
            inputs >= 4 && resolved >= 2,
            "{resolved} of {inputs} resolved"
        );
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file: FileConfig =
            toml::from_str("addr = \"0.0.0.0:9000\"\ndata = \"/srv/wb\"\nmax_batch_items = 7")
                .unwrap();
        let s = Settings::resolve(None, Some("127.0.0.1:1".into()), None, file).unwrap();
        assert_eq!(s.addr, "127.0.0.1:1");
        assert_eq!(s.data, PathBuf::from("/srv/wb"));
        assert_eq!(s.limits.max_batch_items, 7);
    }

    #[test]
    fn webhook_secrets_come_from_the_environment_before_the_file() {
        let file: FileConfig = toml::from_str(
            "[webhooks.kuaidi100]\nsecret = \"file-salt\"\nzone = \"Asia/Tokyo\"\n[webhooks.17track]\nsecret = \"k\"",
        )
        .unwrap();
        let env =
            |k: &str| (k == "WAYBILL_WEBHOOK_SECRET_KUAIDI100").then(|| "env-salt".to_owned());
        let w = webhooks(&file.webhooks, env).unwrap();
        assert_eq!(
            w.get("kuaidi100").unwrap().secret.as_deref(),
            Some(&b"env-salt"[..])
        );
        assert_eq!(w.get("17track").unwrap().secret.as_deref(), Some(&b"k"[..]));
        assert!(w.get("aftership").unwrap().secret.is_none());
        let bad: FileConfig = toml::from_str("[webhooks.fedex]\nsecret = \"x\"").unwrap();
        assert!(webhooks(&bad.webhooks, |_| None).is_err());
        let zone: FileConfig =
            toml::from_str("[webhooks.kdniao]\nzone = \"Nowhere/Land\"").unwrap();
        assert!(webhooks(&zone.webhooks, |_| None).is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<FileConfig>("adr = \"x\"").is_err());
    }
}
