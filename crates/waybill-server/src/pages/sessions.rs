//! Dashboard sessions: signing in with an admin key gives a session in an HTTP-only,
//! same-site cookie; the key itself is never stored in the browser.
//!
//! A session id is `{expiry}.{nonce}.{mac}`, signed with a key derived from the tracking
//! key, so every API node sharing `WAYBILL_TRACKING_KEY` accepts it: the nodes stay
//! stateless. Signing out forgets the session on the node that was asked (and the
//! browser drops the cookie); another node would still take a copy of the cookie until
//! it expires, at most [`Sessions::ttl`] after sign-in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use waybill_core::Timestamp;
use waybill_providers::sign::{ct_eq, hmac_sha256};

#[derive(Clone)]
pub struct Sessions {
    key: Arc<[u8; 32]>,
    /// Sessions signed out here, until they would have expired anyway.
    closed: Arc<Mutex<HashMap<String, i64>>>,
    pub ttl: Duration,
}

/// A key of its own per process: sessions then live as long as it does.
impl Default for Sessions {
    fn default() -> Self {
        Self::new(&rand::rng().random::<[u8; 32]>())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// Sessions signed with a key derived from `secret` (the tracking key).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Arc::new(hmac_sha256(secret, &[b"waybill dashboard sessions"])),
            closed: Arc::default(),
            ttl: Duration::from_secs(8 * 3600),
        }
    }

    fn mac(&self, expiry: i64, nonce: &str) -> String {
        hex(&hmac_sha256(
            &*self.key,
            &[
                b"session\0",
                expiry.to_string().as_bytes(),
                b"\0",
                nonce.as_bytes(),
            ],
        ))
    }

    /// A new session; its id goes in the cookie.
    pub fn open(&self, now: Timestamp) -> String {
        let expiry = now.as_micros() + self.ttl.as_micros() as i64;
        let nonce = hex(&rand::rng().random::<[u8; 16]>());
        format!("{expiry}.{nonce}.{}", self.mac(expiry, &nonce))
    }

    pub fn valid(&self, id: &str, now: Timestamp) -> bool {
        let mut parts = id.splitn(3, '.');
        let (Some(expiry), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(expiry) = expiry.parse::<i64>() else {
            return false;
        };
        ct_eq(mac.as_bytes(), self.mac(expiry, nonce).as_bytes())
            && expiry > now.as_micros()
            && !self.closed.lock().expect("not poisoned").contains_key(id)
    }

    pub fn close(&self, id: &str) {
        let Some(expiry) = id.split('.').next().and_then(|e| e.parse::<i64>().ok()) else {
            return;
        };
        let mut closed = self.closed.lock().expect("not poisoned");
        let now = crate::wire::now().as_micros();
        closed.retain(|_, until| *until > now);
        closed.insert(id.to_owned(), expiry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_and_close() {
        let s = Sessions::new(b"tracking key");
        let now = crate::wire::now();
        let id = s.open(now);
        assert!(s.valid(&id, now));
        assert!(!s.valid("forged", now));
        assert!(!s.valid(&id, Timestamp(now.as_micros() + s.ttl.as_micros() as i64)));
        // A longer life written into the id breaks its signature.
        let (expiry, rest) = id.split_once('.').unwrap();
        let stretched = format!("{}.{rest}", expiry.parse::<i64>().unwrap() + 1);
        assert!(!s.valid(&stretched, now));
        // Another node with the same key takes it; one with another key does not.
        assert!(Sessions::new(b"tracking key").valid(&id, now));
        assert!(!Sessions::new(b"another key").valid(&id, now));
        s.close(&id);
        assert!(!s.valid(&id, now));
    }
}
