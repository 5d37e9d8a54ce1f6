//! Signed tracking links: `{public_url}/track/{order_id}?t={expiry}.{mac}`.
//!
//! The tracking page shows no personal data, but an order's whereabouts are still the
//! customer's business: a link is good for one order until its expiry, and only with a
//! MAC made with the server's tracking key. Anyone holding the link can read the page;
//! nobody can guess another order's.

use std::time::Duration;

use base64::Engine as _;
use waybill_core::Timestamp;
use waybill_providers::sign::{ct_eq, hmac_sha256};

use crate::views::percent_encode;

#[derive(Clone)]
pub struct Links {
    /// Base of the links, without a trailing slash.
    pub public_url: String,
    key: Vec<u8>,
    /// How long a link handed out now stays good.
    pub ttl: Duration,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("public_url", &self.public_url)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link has no token")]
    Missing,
    #[error("the link's token is malformed")]
    Malformed,
    #[error("the link has expired")]
    Expired,
    #[error("the link is not valid for this order")]
    Mismatch,
}

impl Links {
    pub fn new(public_url: &str, key: &[u8], ttl: Duration) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            key: key.to_vec(),
            ttl,
        }
    }

    fn mac(&self, order_id: &str, expiry: i64) -> String {
        let mac = hmac_sha256(
            &self.key,
            &[
                b"track\0",
                order_id.as_bytes(),
                b"\0",
                expiry.to_string().as_bytes(),
            ],
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
    }

    /// The token for `order_id`, good until `now + ttl`.
    pub fn token(&self, order_id: &str, now: Timestamp) -> String {
        let expiry = now.as_micros() / 1_000_000 + self.ttl.as_secs() as i64;
        format!("{expiry}.{}", self.mac(order_id, expiry))
    }

    /// The tracking page's URL for `order_id`.
    pub fn url(&self, order_id: &str, now: Timestamp) -> String {
        format!(
            "{}/track/{}?t={}",
            self.public_url,
            percent_encode(order_id),
            self.token(order_id, now)
        )
    }

    pub fn verify(
        &self,
        order_id: &str,
        token: Option<&str>,
        now: Timestamp,
    ) -> Result<(), LinkError> {
        let token = token.ok_or(LinkError::Missing)?;
        let (expiry, mac) =
            waybill_formats::tokens::split_link_token(token).ok_or(LinkError::Malformed)?;
        if !ct_eq(mac.as_bytes(), self.mac(order_id, expiry).as_bytes()) {
            return Err(LinkError::Mismatch);
        }
        if expiry < now.as_micros() / 1_000_000 {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_for_their_order_until_they_expire() {
        let links = Links::new("https://t.example/", b"key", Duration::from_secs(60));
        let now = Timestamp(1_000_000 * 1_000_000);
        let url = links.url("订单 1", now);
        assert!(url.starts_with("https://t.example/track/%E8%AE%A2%E5%8D%95%201?t=1000060."));
        let token = links.token("o1", now);
        assert_eq!(links.verify("o1", Some(&token), now), Ok(()));
        assert_eq!(
            links.verify("o2", Some(&token), now),
            Err(LinkError::Mismatch)
        );
        let later = Timestamp(now.as_micros() + 61_000_000);
        assert_eq!(
            links.verify("o1", Some(&token), later),
            Err(LinkError::Expired)
        );
        let other_key = Links::new("https://t.example", b"other", Duration::from_secs(60));
        assert_eq!(
            other_key.verify("o1", Some(&token), now),
            Err(LinkError::Mismatch)
        );
        assert_eq!(links.verify("o1", None, now), Err(LinkError::Missing));
        assert_eq!(
            links.verify("o1", Some("abc"), now),
            Err(LinkError::Malformed)
        );
        // A longer expiry with the old MAC does not verify.
        let (_, mac) = token.split_once('.').unwrap();
        assert_eq!(
            links.verify("o1", Some(&format!("9999999999.{mac}")), now),
            Err(LinkError::Mismatch)
        );
    }
}
