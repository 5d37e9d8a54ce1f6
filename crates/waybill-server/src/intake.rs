//! Which providers `POST /v1/webhooks/{provider}` serves, with their secrets and zones.
//!
//! A provider without a secret is switched off: its pushes are refused unread (CloudEvents
//! excepted: without a secret it takes an `ingest` key instead, like `/v1/events`).

use std::collections::HashMap;
use std::fmt;

use waybill_providers::{Context, Provider};

/// The path name of the CloudEvents intake, which is served here rather than by a
/// provider module: its payload is the canonical event.
pub const CLOUDEVENTS: &str = "cloudevents";

/// Every provider name the path accepts.
pub fn names() -> impl Iterator<Item = &'static str> {
    Provider::ALL
        .into_iter()
        .map(Provider::as_str)
        .chain([CLOUDEVENTS])
}

#[derive(Clone)]
pub struct ProviderSettings {
    pub secret: Option<Vec<u8>>,
    pub context: Context,
}

/// Per provider: its secret and the zone of its times without an offset.
#[derive(Clone)]
pub struct Webhooks {
    by_name: HashMap<&'static str, ProviderSettings>,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secrets themselves.
        let mut enabled: Vec<_> = self
            .by_name
            .iter()
            .filter(|(_, s)| s.secret.is_some())
            .map(|(n, _)| *n)
            .collect();
        enabled.sort_unstable();
        f.debug_struct("Webhooks")
            .field("enabled", &enabled)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("unknown webhook provider {0:?} (expected one of {1})")]
    UnknownProvider(String, String),
    #[error("the webhook secret for {0} is empty")]
    EmptySecret(String),
    #[error("unknown time zone {zone:?} for {provider}")]
    UnknownZone { provider: String, zone: String },
}

impl Default for Webhooks {
    fn default() -> Self {
        let mut by_name: HashMap<&'static str, ProviderSettings> = Provider::ALL
            .into_iter()
            .map(|p| {
                (
                    p.as_str(),
                    ProviderSettings {
                        secret: None,
                        context: Context::for_provider(p),
                    },
                )
            })
            .collect();
        by_name.insert(
            CLOUDEVENTS,
            ProviderSettings {
                secret: None,
                context: Context {
                    zone: jiff::tz::TimeZone::UTC,
                },
            },
        );
        Self { by_name }
    }
}

impl Webhooks {
    fn entry(&mut self, provider: &str) -> Result<&mut ProviderSettings, WebhookConfigError> {
        let known = names().collect::<Vec<_>>().join(", ");
        self.by_name
            .get_mut(provider)
            .ok_or_else(|| WebhookConfigError::UnknownProvider(provider.to_owned(), known))
    }

    pub fn set_secret(&mut self, provider: &str, secret: &str) -> Result<(), WebhookConfigError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(WebhookConfigError::EmptySecret(provider.to_owned()));
        }
        self.entry(provider)?.secret = Some(secret.as_bytes().to_vec());
        Ok(())
    }

    pub fn set_zone(&mut self, provider: &str, zone: &str) -> Result<(), WebhookConfigError> {
        let tz = jiff::tz::TimeZone::get(zone).map_err(|_| WebhookConfigError::UnknownZone {
            provider: provider.to_owned(),
            zone: zone.to_owned(),
        })?;
        self.entry(provider)?.context.zone = tz;
        Ok(())
    }

    pub fn get(&self, provider: &str) -> Option<&ProviderSettings> {
        self.by_name.get(provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_zones_are_per_provider_and_validated() {
        let mut w = Webhooks::default();
        assert!(w.get("kuaidi100").unwrap().secret.is_none());
        w.set_secret("kuaidi100", " salt ").unwrap();
        assert_eq!(
            w.get("kuaidi100").unwrap().secret.as_deref(),
            Some(&b"salt"[..])
        );
        assert!(matches!(
            w.set_secret("fedex", "x"),
            Err(WebhookConfigError::UnknownProvider(..))
        ));
        assert!(w.set_secret("17track", " ").is_err());
        assert!(w.set_zone("aftership", "Mars/Olympus").is_err());
        w.set_zone("aftership", "Asia/Tokyo").unwrap();
        assert!(!format!("{w:?}").contains("salt"));
        assert_eq!(names().count(), 7);
    }
}
