//! Signature helpers shared by the providers' schemes. Comparisons are constant-time:
//! a signature check must not tell an attacker how many leading bytes were right.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use waybill_core::Timestamp;

use crate::AuthError;

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

pub fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

pub fn hex_upper(bytes: &[u8]) -> String {
    hex_lower(bytes).to_ascii_uppercase()
}

pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Equal length and equal bytes, in time that depends only on the length.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Compares a received signature text with the expected one, ignoring ASCII case (hex
/// digests are sent in either case) in constant time.
pub fn ct_eq_ignore_case(received: &str, expected: &str) -> bool {
    ct_eq(
        received.trim().to_ascii_lowercase().as_bytes(),
        expected.to_ascii_lowercase().as_bytes(),
    )
}

/// Signed timestamps more than this far from our clock are refused as replays.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Checks a signed Unix timestamp (seconds) against the receipt time.
pub fn check_freshness(signed_at_seconds: i64, now: Timestamp) -> Result<(), AuthError> {
    let skew = (now.as_micros() / 1_000_000).saturating_sub(signed_at_seconds);
    if skew.abs() > TOLERANCE_SECONDS {
        return Err(AuthError::Stale {
            skew_seconds: skew,
            tolerance_seconds: TOLERANCE_SECONDS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex_lower(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn digests_match_known_values() {
        assert_eq!(
            hex_lower(&md5(&[b"abc"])),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex_lower(&sha256(&[b"a", b"bc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex_upper(&[0xab, 0x01]), "AB01");
        assert_eq!(base64(b"hi"), "aGk=");
    }

    #[test]
    fn comparison() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq_ignore_case(" ABCdef ", "abcdef"));
        assert!(!ct_eq_ignore_case("abcdee", "abcdef"));
    }

    #[test]
    fn freshness() {
        let now = Timestamp(1_000_000 * 1_000_000);
        assert!(check_freshness(1_000_000 - 300, now).is_ok());
        assert!(check_freshness(1_000_000 + 300, now).is_ok());
        assert!(matches!(
            check_freshness(1_000_000 - 301, now),
            Err(AuthError::Stale {
                skew_seconds: 301,
                ..
            })
        ));
        assert!(check_freshness(i64::MIN, now).is_err());
    }
}
