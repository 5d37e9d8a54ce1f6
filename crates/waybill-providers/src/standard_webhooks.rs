//! Standard Webhooks signatures (standardwebhooks.com): `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, with a `whsec_<base64>` secret. Waybill verifies them on the
//! CloudEvents intake, and will sign its own outbound deliveries the same way.

use base64::Engine as _;

use crate::sign::{base64, check_freshness, ct_eq, hmac_sha256};
use crate::{AuthError, Inbound};

/// The HMAC key of a secret: the bytes after `whsec_`, base64-decoded; a secret without
/// the prefix is used as it is.
pub fn key(secret: &[u8]) -> Vec<u8> {
    match secret.strip_prefix(b"whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|_| secret.to_vec()),
        None => secret.to_vec(),
    }
}

/// The `v1,<base64>` signature of a message.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(
        &key(secret),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", base64(&mac))
}

pub fn verify(secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
    let id = req
        .header("webhook-id")
        .ok_or(AuthError::Missing("webhook-id"))?;
    let ts = req
        .header("webhook-timestamp")
        .ok_or(AuthError::Missing("webhook-timestamp"))?;
    let signatures = req
        .header("webhook-signature")
        .ok_or(AuthError::Missing("webhook-signature"))?;
    let ts: i64 = ts
        .trim()
        .parse()
        .map_err(|_| AuthError::Malformed("webhook-timestamp is not a number of seconds"))?;
    check_freshness(ts, req.received_at)?;
    let expected = sign(secret, id, ts, req.body);
    // Several space-separated signatures may be sent during a secret rotation.
    let mut any_v1 = false;
    for candidate in signatures.split_whitespace() {
        if candidate.starts_with("v1,") {
            any_v1 = true;
            if ct_eq(candidate.as_bytes(), expected.as_bytes()) {
                return Ok(());
            }
        }
    }
    if any_v1 {
        Err(AuthError::Mismatch)
    } else {
        Err(AuthError::Malformed(
            "webhook-signature has no v1 signature",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::Timestamp;

    #[test]
    fn matches_the_specifications_example() {
        // The example of the Standard Webhooks specification.
        let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verifies_and_refuses() {
        let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = b"{}";
        let now = 1_700_000_000i64;
        let good = sign(secret, "m1", now, body);
        let check = |id: &str, ts: &str, sig: &str, body: &[u8]| {
            let mut h = http::HeaderMap::new();
            h.insert("webhook-id", id.parse().unwrap());
            h.insert("webhook-timestamp", ts.parse().unwrap());
            h.insert("webhook-signature", sig.parse().unwrap());
            verify(
                secret,
                &Inbound {
                    headers: &h,
                    body,
                    path: "/",
                    received_at: Timestamp(now * 1_000_000),
                },
            )
        };
        let ts = now.to_string();
        assert_eq!(check("m1", &ts, &good, body), Ok(()));
        assert_eq!(check("m1", &ts, &format!("v1,AAAA {good}"), body), Ok(()));
        assert_eq!(check("m2", &ts, &good, body), Err(AuthError::Mismatch));
        assert_eq!(check("m1", &ts, &good, b"{ }"), Err(AuthError::Mismatch));
        assert!(matches!(
            check("m1", &ts, "v2,abc", body),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            check("m1", "soon", &good, body),
            Err(AuthError::Malformed(_))
        ));
        let old = (now - 600).to_string();
        let stale = sign(secret, "m1", now - 600, body);
        assert!(matches!(
            check("m1", &old, &stale, body),
            Err(AuthError::Stale { .. })
        ));
    }
}
