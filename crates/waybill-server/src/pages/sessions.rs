//! Dashboard sessions: signing in with an admin key gives a random session id in an
//! HTTP-only, same-site cookie; the key itself is never stored in the browser. Kept in
//! memory: a restart signs everyone out, which is the safe direction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use waybill_core::Timestamp;

/// Sessions kept at once; past it, the oldest go first.
const MAX_SESSIONS: usize = 1000;

#[derive(Clone)]
pub struct Sessions {
    live: Arc<Mutex<HashMap<String, Timestamp>>>,
    pub ttl: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            live: Arc::default(),
            ttl: Duration::from_secs(8 * 3600),
        }
    }
}

impl Sessions {
    /// A new session; its id goes in the cookie.
    pub fn open(&self, now: Timestamp) -> String {
        let bytes: [u8; 32] = rand::rng().random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let expiry = Timestamp(now.as_micros() + self.ttl.as_micros() as i64);
        let mut live = self.live.lock().expect("not poisoned");
        live.retain(|_, until| *until > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(id.clone(), expiry);
        id
    }

    pub fn valid(&self, id: &str, now: Timestamp) -> bool {
        self.live
            .lock()
            .expect("not poisoned")
            .get(id)
            .is_some_and(|until| *until > now)
    }

    pub fn close(&self, id: &str) {
        self.live.lock().expect("not poisoned").remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_and_close() {
        let s = Sessions::default();
        let now = Timestamp(1_000_000);
        let id = s.open(now);
        assert_eq!(id.len(), 64);
        assert!(s.valid(&id, now));
        assert!(!s.valid("forged", now));
        assert!(!s.valid(&id, Timestamp(now.as_micros() + s.ttl.as_micros() as i64)));
        s.close(&id);
        assert!(!s.valid(&id, now));
    }
}
