//! Provider times: RFC 3339 when they have an offset, local wall-clock times when not.
//!
//! Kuaidi100 and KDNiao send `2026-11-27 10:02:00` with no offset (Beijing time), and
//! some AfterShip checkpoints carry the checkpoint's local time without one. Such a time
//! is read in the provider's configured zone. The original text is kept, because it is
//! what the provider said, and because checkpoint ids are derived from it: changing the
//! zone later must not turn a re-pushed checkpoint into a new one.

use jiff::civil::DateTime;
use jiff::fmt::temporal::Pieces;
use jiff::tz::TimeZone;
use waybill_core::Timestamp;

/// Longest time text we read; anything longer is not a time.
const MAX_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTime {
    pub instant: Timestamp,
    /// The offset the time was given in (or the zone's offset at that instant).
    pub utc_offset_seconds: i32,
    /// The text as the provider sent it.
    pub original: String,
}

impl ProviderTime {
    /// Reads `2026-11-27T10:02:00+08:00`, `2026-11-27T02:02:00Z`, `2026-11-27 10:02:00`,
    /// `2026-11-27T10:02:00`, `2026-11-27 10:02`, `2026/11/27 10:02:00` (with or without
    /// fractional seconds). A time without an offset is a wall-clock time in `zone`; in a
    /// gap or fold of that zone the earlier reading wins.
    pub fn parse(text: &str, zone: &TimeZone) -> Result<Self, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err("the time is empty".into());
        }
        if s.len() > MAX_LEN {
            return Err(format!("the time is {} bytes long; not a time", s.len()));
        }
        // `2026/11/27` is common in Chinese carrier data.
        let normal: String = if s.len() >= 10 && s.as_bytes()[4] == b'/' && s.as_bytes()[7] == b'/'
        {
            s.replacen('/', "-", 2)
        } else {
            s.to_owned()
        };
        let pieces =
            Pieces::parse(normal.as_str()).map_err(|e| format!("{s:?} is not a time: {e}"))?;
        let Some(time) = pieces.time() else {
            return Err(format!("{s:?} has a date but no time of day"));
        };
        let civil = DateTime::from_parts(pieces.date(), time);
        let (instant, offset) = match pieces.to_numeric_offset() {
            Some(offset) => {
                let ts = offset
                    .to_timestamp(civil)
                    .map_err(|e| format!("{s:?} is out of range: {e}"))?;
                (ts, offset)
            }
            None => {
                let zoned = zone
                    .to_ambiguous_zoned(civil)
                    .earlier()
                    .map_err(|e| format!("{s:?} is out of range: {e}"))?;
                (zoned.timestamp(), zoned.offset())
            }
        };
        Ok(Self {
            instant: Timestamp(instant.as_microsecond()),
            utc_offset_seconds: offset.seconds(),
            original: text.to_owned(),
        })
    }

    /// A time given as seconds since the epoch (`ts` fields), in UTC.
    pub fn from_unix_seconds(secs: i64) -> Result<Self, String> {
        let ts =
            jiff::Timestamp::from_second(secs).map_err(|e| format!("{secs} is not a time: {e}"))?;
        Ok(Self {
            instant: Timestamp(ts.as_microsecond()),
            utc_offset_seconds: 0,
            original: secs.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_microsecond()
    }

    #[test]
    fn offsets_are_taken_as_given() {
        let t = ProviderTime::parse("2026-11-27T10:02:00+08:00", &TimeZone::UTC).unwrap();
        assert_eq!(t.instant.0, at("2026-11-27T02:02:00Z"));
        assert_eq!(t.utc_offset_seconds, 8 * 3600);
        let z = ProviderTime::parse("2026-11-27T02:02:00.250Z", &shanghai()).unwrap();
        assert_eq!(z.instant.0, at("2026-11-27T02:02:00.25Z"));
        assert_eq!(z.utc_offset_seconds, 0);
    }

    #[test]
    fn local_times_are_read_in_the_zone_and_kept_verbatim() {
        for text in [
            "2026-11-27 10:02:00",
            "2026-11-27T10:02:00",
            "2026/11/27 10:02:00",
            " 2026-11-27 10:02 ",
        ] {
            let t = ProviderTime::parse(text, &shanghai()).unwrap();
            assert_eq!(t.instant.0, at("2026-11-27T02:02:00Z"), "{text}");
            assert_eq!(t.utc_offset_seconds, 8 * 3600);
            assert_eq!(t.original, text);
        }
        let utc = ProviderTime::parse("2026-11-27 10:02:00", &TimeZone::UTC).unwrap();
        assert_eq!(utc.instant.0, at("2026-11-27T10:02:00Z"));
    }

    #[test]
    fn a_wall_clock_time_in_a_gap_takes_the_earlier_offset() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let t = ProviderTime::parse("2026-03-08 02:30:00", &ny).unwrap();
        assert_eq!(t.utc_offset_seconds, -5 * 3600);
    }

    #[test]
    fn non_times_are_refused() {
        for bad in [
            "",
            "tomorrow",
            "2026-11-27",
            "2026-13-01 10:00:00",
            &"9".repeat(100),
        ] {
            assert!(ProviderTime::parse(bad, &shanghai()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unix_seconds() {
        let t = ProviderTime::from_unix_seconds(1_764_208_920).unwrap();
        assert_eq!(t.instant.0, 1_764_208_920_000_000);
        assert!(ProviderTime::from_unix_seconds(i64::MAX).is_err());
    }
}
