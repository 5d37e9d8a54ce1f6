//! Dashboard sessions: signing in with an admin key gives a session in an HTTP-only,
//! same-site cookie; the key itself is never stored in the browser.
//!
//! A session id is `{expiry}.{nonce}.{mac}`: the expiry in µs (decimal, no sign, no
//! leading zero), 16 random bytes and an HMAC-SHA256, all lowercase hex. The MAC key is
//! derived from the session key *and the admin key that signed in*, so a session lasts
//! only as long as that admin key is configured, and the nodes stay stateless: every
//! API node with the same session key and API keys accepts it. The session key is its
//! own (`WAYBILL_SESSION_KEY`), not the tracking key, which signs links handed out to
//! customers' mail. Sign-outs are kept in the store (by nonce, until the session would
//! have expired), so they hold across restarts and on every node.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use waybill_core::Timestamp;
use waybill_providers::sign::{ct_eq, hmac_sha256};

use crate::auth::{ApiKeys, Role};

/// The longest id [`Sessions::check`] reads: 19 digits, 32 and 64 hex, two dots.
const MAX_ID: usize = 19 + 1 + 32 + 1 + 64;

/// How far ahead of this node's clock another node's may be.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Sessions {
    key: Arc<[u8; 32]>,
    /// Keys sessions were signed with before a rotation: still accepted, never used to
    /// sign, so that changing the session key signs no one out.
    previous: Arc<[[u8; 32]]>,
    pub ttl: Duration,
}

/// A key of its own per process: sessions then live as long as it does.
impl Default for Sessions {
    fn default() -> Self {
        Self::new(&rand::rng().random::<[u8; 32]>())
    }
}

/// A validly signed, unexpired session (it may still have been signed out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub nonce: String,
    pub expiry: Timestamp,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Sessions {
    /// Sessions signed with a key derived from `secret` (the session key).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Arc::new(derive(secret)),
            previous: Arc::new([]),
            ttl: Duration::from_secs(8 * 3600),
        }
    }

    /// Also accepts sessions signed with these earlier session keys (a rotation: the
    /// new key signs, the old ones are read until their sessions have expired).
    pub fn with_previous<S: AsRef<[u8]>>(mut self, secrets: &[S]) -> Self {
        self.previous = secrets.iter().map(|s| derive(s.as_ref())).collect();
        self
    }

    fn mac(&self, admin_key: &str, expiry: i64, nonce: &str) -> String {
        mac_with(&self.key, admin_key, expiry, nonce)
    }
}

fn derive(secret: &[u8]) -> [u8; 32] {
    hmac_sha256(secret, &[b"waybill dashboard sessions"])
}

/// The MAC of a session id, under a key bound to the admin key that signed in.
fn mac_with(session_key: &[u8; 32], admin_key: &str, expiry: i64, nonce: &str) -> String {
    let key = hmac_sha256(session_key, &[b"admin key\0", admin_key.as_bytes()]);
    hex(&hmac_sha256(
        &key,
        &[
            b"session\0",
            expiry.to_string().as_bytes(),
            b"\0",
            nonce.as_bytes(),
        ],
    ))
}

impl Sessions {
    /// A new session for `admin_key`; its id goes in the cookie.
    pub fn open(&self, now: Timestamp, admin_key: &str) -> String {
        let expiry = now.as_micros() + self.ttl.as_micros() as i64;
        let nonce = hex(&rand::rng().random::<[u8; 16]>());
        format!("{expiry}.{nonce}.{}", self.mac(admin_key, expiry, &nonce))
    }

    /// The session an id names, if it is in canonical form, signed for one of the
    /// admin keys configured now, unexpired, and no longer-lived than a session this
    /// build opens.
    pub fn check(&self, id: &str, now: Timestamp, keys: &ApiKeys) -> Option<Session> {
        if id.len() > MAX_ID {
            return None;
        }
        let mut parts = id.split('.');
        let (Some(expiry), Some(nonce), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        // One spelling per session: a second one ("+1…", "01…") would be a session
        // the sign-out list does not know.
        let canonical = !expiry.is_empty()
            && expiry.len() <= 19
            && expiry.bytes().all(|b| b.is_ascii_digit())
            && !expiry.starts_with('0');
        if !canonical || !lower_hex(nonce, 32) || !lower_hex(mac, 64) {
            return None;
        }
        let expiry: i64 = expiry.parse().ok()?;
        // A minute of slack: the node that opened it may run a little ahead of this one.
        let latest = now
            .as_micros()
            .saturating_add((self.ttl + CLOCK_SKEW).as_micros() as i64);
        if expiry <= now.as_micros() || expiry > latest {
            return None;
        }
        let mut signed = false;
        for session_key in std::iter::once(&*self.key).chain(self.previous.iter()) {
            for key in keys.of_role(Role::Admin) {
                let expected = mac_with(session_key, key, expiry, nonce);
                signed |= ct_eq(mac.as_bytes(), expected.as_bytes());
            }
        }
        signed.then(|| Session {
            nonce: nonce.to_owned(),
            expiry: Timestamp(expiry),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-key-0000000000001";

    fn keys() -> ApiKeys {
        ApiKeys::default().with(ADMIN.into(), Role::Admin)
    }

    #[test]
    fn sessions_open_and_expire() {
        let s = Sessions::new(b"session key");
        let now = waybill_formats::clock::now();
        let id = s.open(now, ADMIN);
        assert_eq!(s.check(&id, now, &keys()).unwrap().nonce.len(), 32);
        assert!(s.check("forged", now, &keys()).is_none());
        let later = Timestamp(now.as_micros() + s.ttl.as_micros() as i64);
        assert!(s.check(&id, later, &keys()).is_none());
        // A longer life written into the id breaks its signature.
        let (expiry, rest) = id.split_once('.').unwrap();
        let stretched = format!("{}.{rest}", expiry.parse::<i64>().unwrap() + 1);
        assert!(s.check(&stretched, now, &keys()).is_none());
        // Another node with the same keys takes it; one with another key does not.
        assert!(
            Sessions::new(b"session key")
                .check(&id, now, &keys())
                .is_some()
        );
        assert!(
            Sessions::new(b"another key")
                .check(&id, now, &keys())
                .is_none()
        );
    }

    /// A new session key signs no one out: sessions signed with the previous one are
    /// read while it is listed, new ones are signed with the new key only, and a key
    /// that is not listed signs nothing that is accepted.
    #[test]
    fn rotating_the_session_key_keeps_open_sessions() {
        let now = waybill_formats::clock::now();
        let old = Sessions::new(b"the old session key");
        let open = old.open(now, ADMIN);
        let rotated =
            Sessions::new(b"the new session key").with_previous(&[b"the old session key"]);
        assert!(rotated.check(&open, now, &keys()).is_some());
        let fresh = rotated.open(now, ADMIN);
        assert!(rotated.check(&fresh, now, &keys()).is_some());
        assert!(
            old.check(&fresh, now, &keys()).is_none(),
            "signed with the new key"
        );
        let done = Sessions::new(b"the new session key");
        assert!(
            done.check(&open, now, &keys()).is_none(),
            "the old key dropped"
        );
        assert!(done.check(&fresh, now, &keys()).is_some());
        let stranger =
            Sessions::new(b"the new session key").with_previous(&[b"someone else's key"]);
        assert!(stranger.check(&open, now, &keys()).is_none());
    }

    /// The probe's reuse of a signed-out cookie: the same session spelt another way.
    #[test]
    fn only_the_canonical_spelling_is_read() {
        let s = Sessions::new(b"session key");
        let now = waybill_formats::clock::now();
        let id = s.open(now, ADMIN);
        assert!(s.check(&id, now, &keys()).is_some());
        let upper = {
            let (head, mac) = id.rsplit_once('.').unwrap();
            format!("{head}.{}", mac.to_uppercase())
        };
        for variant in [
            format!("0{id}"),
            format!("+{id}"),
            format!("{id}."),
            format!("{id}.x"),
            format!(" {id}"),
            upper,
        ] {
            assert!(s.check(&variant, now, &keys()).is_none(), "{variant}");
        }
    }

    /// A session is bound to the admin key that opened it.
    #[test]
    fn a_session_ends_with_its_admin_key() {
        let s = Sessions::new(b"session key");
        let now = waybill_formats::clock::now();
        let id = s.open(now, ADMIN);
        let other = "admin-key-0000000000002";
        let both = keys().with(other.into(), Role::Admin);
        assert!(s.check(&id, now, &both).is_some());
        let rotated = ApiKeys::default().with(other.into(), Role::Admin);
        assert!(s.check(&id, now, &rotated).is_none());
        // A key that is no longer admin cannot hold a session either.
        let demoted = ApiKeys::default().with(ADMIN.into(), Role::Read);
        assert!(s.check(&id, now, &demoted).is_none());
    }

    /// Whoever holds the session key still cannot mint a session longer than a sign-in
    /// gives.
    #[test]
    fn a_session_lives_no_longer_than_a_sign_in_gives() {
        let s = Sessions::new(b"session key");
        let now = waybill_formats::clock::now();
        let far = Timestamp(now.as_micros() + 2 * s.ttl.as_micros() as i64);
        let id = s.open(far, ADMIN);
        assert!(s.check(&id, far, &keys()).is_some());
        assert!(s.check(&id, now, &keys()).is_none());
        // A node half a minute ahead of this one opened it: still good here.
        let ahead = Timestamp(now.as_micros() + 30_000_000);
        assert!(s.check(&s.open(ahead, ADMIN), now, &keys()).is_some());
        assert!(s.check(&"9".repeat(400_000), now, &keys()).is_none());
    }
}
