//! Identifiers that parse: once a value of these types exists, it is valid.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} bytes long; the limit is {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} contains a control, whitespace or invisible formatting character")]
    NotPrintable { what: &'static str },
    #[error("carrier must be a slug of lowercase letters, digits and '-', like \"sf-express\"")]
    NotSlug,
}

/// Unicode's invisible formatting characters (category Cf): bidirectional overrides and
/// isolates, zero-width spaces and joiners, the byte-order mark, soft hyphens, tags.
/// In an id they make two different ids look the same, or text around them read in
/// another order.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

fn printable(what: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { what });
    }
    if s.len() > max {
        return Err(IdError::TooLong {
            what,
            len: s.len(),
            max,
        });
    }
    if s.chars()
        .any(|c| c.is_control() || c.is_whitespace() || is_invisible_format(c))
    {
        return Err(IdError::NotPrintable { what });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A merchant's order id: 1–128 bytes of printable UTF-8 (docs/api.md, "POST /v1/events").
    OrderId
);
string_id!(
    /// A carrier slug such as `sf-express` or `ups`.
    Carrier
);
string_id!(
    /// A carrier's tracking number, 1–64 printable bytes without spaces.
    TrackingNumber
);

impl OrderId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        printable("order_id", s, Self::MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

impl Carrier {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        printable("carrier", s, Self::MAX_LEN)?;
        let slug = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug {
            return Err(IdError::NotSlug);
        }
        Ok(Self(s.to_owned()))
    }
}

impl TrackingNumber {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        printable("tracking_number", s, Self::MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_printable_and_bounded() {
        assert!(OrderId::parse("order1").is_ok());
        assert!(OrderId::parse("订单-2026/11").is_ok());
        assert_eq!(OrderId::parse(""), Err(IdError::Empty { what: "order_id" }));
        assert!(matches!(
            OrderId::parse(&"x".repeat(129)),
            Err(IdError::TooLong { len: 129, .. })
        ));
        assert!(OrderId::parse(&"x".repeat(128)).is_ok());
        assert!(OrderId::parse("a\nb").is_err());
        assert!(OrderId::parse("a b").is_err());
    }

    /// The probe's ids: a right-to-left override and zero-width characters made ids
    /// that look like others (`order1` and `order1` with a zero-width space).
    #[test]
    fn invisible_formatting_characters_are_refused_in_ids() {
        for bad in [
            "order\u{200B}1",
            "\u{202E}1redro",
            "order\u{2066}1",
            "\u{FEFF}order1",
            "or\u{00AD}der1",
            "order\u{200D}1",
            "order\u{E0041}1",
        ] {
            assert_eq!(
                OrderId::parse(bad),
                Err(IdError::NotPrintable { what: "order_id" }),
                "{bad:?}"
            );
            assert!(TrackingNumber::parse(bad).is_err(), "{bad:?}");
        }
        // Visible text of every script stays welcome.
        assert!(OrderId::parse("طلب-١").is_ok());
        assert!(OrderId::parse("注文📦").is_ok());
    }

    #[test]
    fn carriers_are_slugs() {
        assert!(Carrier::parse("sf-express").is_ok());
        assert!(Carrier::parse("ups").is_ok());
        assert_eq!(Carrier::parse("SF"), Err(IdError::NotSlug));
        assert_eq!(Carrier::parse("sf_express"), Err(IdError::NotSlug));
    }

    #[test]
    fn tracking_numbers_have_no_spaces() {
        assert!(TrackingNumber::parse("SF1234567890123").is_ok());
        assert!(TrackingNumber::parse("SF 123").is_err());
        assert!(TrackingNumber::parse(&"9".repeat(65)).is_err());
    }
}
