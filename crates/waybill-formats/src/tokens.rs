//! The small tokens the API hands out and reads back: a page's cursor, a stream's
//! `Last-Event-ID`, and the shape of a tracking link's token (`EXPIRY.MAC`; the MAC is
//! checked by the server, which holds the key). Each reads back exactly what is written
//! and nothing else, so a forged or mangled token is refused, never half-read.

/// `o` and a position in lowercase hex, 1 to 15 digits (every `i64` position a store
/// hands out fits).
pub fn encode_cursor(position: i64) -> String {
    format!("o{position:x}")
}

pub fn decode_cursor(c: &str) -> Option<i64> {
    let hex = c.strip_prefix('o')?;
    let shaped = (1..=15).contains(&hex.len())
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    shaped.then(|| i64::from_str_radix(hex, 16).ok()).flatten()
}

/// A stream message's id as a reconnecting client sends it back: a non-negative integer
/// (surrounding spaces allowed, as EventSource implementations differ).
pub fn last_event_id(header: &str) -> Option<i64> {
    header.trim().parse::<i64>().ok().filter(|id| *id >= 0)
}

/// A tracking link's token split into its expiry (Unix seconds) and its MAC (URL-safe
/// base64), or `None` when it is not of that shape.
pub fn split_link_token(token: &str) -> Option<(i64, &str)> {
    let (expiry, mac) = token.split_once('.')?;
    let digits =
        !expiry.is_empty() && expiry.len() <= 19 && expiry.bytes().all(|b| b.is_ascii_digit());
    let mac_shaped = !mac.is_empty()
        && mac
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !digits || !mac_shaped {
        return None;
    }
    Some((expiry.parse().ok()?, mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What is written reads back, and only that: a cursor for every position.
        #[test]
        fn a_cursor_reads_back_as_its_position(n in 0i64..=i64::MAX >> 4) {
            prop_assert_eq!(decode_cursor(&encode_cursor(n)), Some(n));
        }

        /// Any text decodes to a position whose cursor is that very text, or to nothing.
        #[test]
        fn a_decoded_cursor_is_one_that_was_written(s in "o?[0-9a-fA-F+-]{0,17}|\\PC{0,20}") {
            if let Some(n) = decode_cursor(&s) {
                // Leading zeros aside, the same text.
                let digits = s[1..].trim_start_matches('0');
                let written = encode_cursor(n);
                prop_assert_eq!(if digits.is_empty() { "0" } else { digits }, &written[1..]);
            }
        }
    }

    #[test]
    fn mangled_tokens_are_refused() {
        for c in ["", "o", "O1", "oA", "o+1", "o-1", "o1234567890abcdef", "x1"] {
            assert_eq!(decode_cursor(c), None, "{c:?}");
        }
        assert_eq!(decode_cursor("o00ff"), Some(255));
        assert_eq!(last_event_id(" 42 "), Some(42));
        for id in ["", "-1", "1.5", "null", "99999999999999999999"] {
            assert_eq!(last_event_id(id), None, "{id:?}");
        }
        assert_eq!(
            split_link_token("1804096211.3Y_zP4b-"),
            Some((1804096211, "3Y_zP4b-"))
        );
        for t in [
            "",
            ".",
            "1.",
            ".abc",
            "-1.abc",
            "+1.abc",
            "1.a=b",
            "1.a.b",
            "99999999999999999999.a",
        ] {
            assert_eq!(split_link_token(t), None, "{t:?}");
        }
    }
}
