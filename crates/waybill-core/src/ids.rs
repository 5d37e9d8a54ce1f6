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
    #[error("{what} contains a control or whitespace character")]
    NotPrintable { what: &'static str },
    #[error("carrier must be a slug of lowercase letters, digits and '-', like \"sf-express\"")]
    NotSlug,
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
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
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
    /// A merchant's order id: 1–128 bytes of printable UTF-8 (CONTRACT §1).
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
