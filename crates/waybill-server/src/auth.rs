//! API keys and their roles (docs/api.md, "Access").

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::AppState;
use crate::problem::ApiError;

/// What a key may do. `admin` may do everything; `ingest` and `read` are disjoint, so
/// a key handed to a carrier integration cannot read customers' orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Ingest,
    Read,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "ingest" => Some(Self::Ingest),
            "read" => Some(Self::Read),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Ingest => "ingest",
            Self::Read => "read",
        }
    }

    fn allows(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("API key entry {0:?} is not ROLE:KEY")]
    NotAPair(String),
    #[error("unknown role {0:?} (expected admin, ingest or read)")]
    UnknownRole(String),
    #[error("API keys must be at least 16 characters (entry for role {0})")]
    TooShort(String),
}

/// The configured keys.
#[derive(Clone, Default)]
pub struct ApiKeys(Vec<(String, Role)>);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the keys themselves.
        f.debug_list()
            .entries(self.0.iter().map(|(_, r)| r))
            .finish()
    }
}

impl ApiKeys {
    /// Parses `admin:KEY1,ingest:KEY2,read:KEY3`.
    pub fn parse(spec: &str) -> Result<Self, KeysError> {
        let mut keys = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (role, key) = item
                .split_once(':')
                .ok_or_else(|| KeysError::NotAPair(item.chars().take(8).collect()))?;
            let role =
                Role::parse(role.trim()).ok_or_else(|| KeysError::UnknownRole(role.into()))?;
            let key = key.trim();
            if key.len() < 16 {
                return Err(KeysError::TooShort(role.to_string()));
            }
            keys.push((key.to_owned(), role));
        }
        Ok(Self(keys))
    }

    pub fn with(mut self, key: String, role: Role) -> Self {
        self.0.push((key, role));
        self
    }

    /// The configured keys of one role.
    pub fn of_role(&self, role: Role) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(_, r)| *r == role)
            .map(|(k, _)| k.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The role of a presented key. Every configured key is compared in constant time,
    /// so the answer's timing says nothing about how much of a key matched.
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        let mut found = None;
        for (key, role) in &self.0 {
            if waybill_providers::sign::ct_eq(key.as_bytes(), presented.as_bytes()) {
                found = Some(*role);
            }
        }
        found
    }

    /// Checks the request's bearer key against the role the route needs.
    pub fn authorize(&self, headers: &HeaderMap, needed: Role) -> Result<Role, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated("missing Authorization header"))?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("Authorization header is not ASCII"))?;
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let key = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key)
            .ok_or(ApiError::Unauthenticated(
                "expected Authorization: Bearer <key>",
            ))?;
        let role = self
            .role_of(key.trim())
            .ok_or(ApiError::Unauthenticated("unknown API key"))?;
        if role.allows(needed) {
            Ok(role)
        } else {
            Err(ApiError::Forbidden { role, needed })
        }
    }
}

/// The role a route needs, as a type: a handler declares it once, in its signature,
/// with [`Authorized`].
pub trait Needs: Send + Sync {
    const ROLE: Role;
}

/// The roles as types, for [`Authorized`].
pub mod needs {
    use super::{Needs, Role};

    pub struct Admin;
    pub struct Ingest;
    pub struct Read;

    impl Needs for Admin {
        const ROLE: Role = Role::Admin;
    }
    impl Needs for Ingest {
        const ROLE: Role = Role::Ingest;
    }
    impl Needs for Read {
        const ROLE: Role = Role::Read;
    }
}

/// A request whose bearer key holds the role `N` needs (or admin); `.0` is the role the
/// key holds. Taken before the body, so an unauthenticated request is refused before a
/// byte of it is read.
pub struct Authorized<N: Needs>(pub Role, pub std::marker::PhantomData<N>);

impl<N: Needs> FromRequestParts<AppState> for Authorized<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let role = state.keys.authorize(&parts.headers, N::ROLE)?;
        Ok(Self(role, std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contracts_format() {
        let keys =
            ApiKeys::parse("admin:aaaaaaaaaaaaaaaa, ingest:bbbbbbbbbbbbbbbb,read:cccccccccccccccc")
                .unwrap();
        assert_eq!(keys.role_of("aaaaaaaaaaaaaaaa"), Some(Role::Admin));
        assert_eq!(keys.role_of("bbbbbbbbbbbbbbbb"), Some(Role::Ingest));
        assert_eq!(keys.role_of("cccccccccccccccc"), Some(Role::Read));
        assert_eq!(keys.role_of("aaaaaaaaaaaaaaab"), None);
        assert_eq!(keys.role_of(""), None);
    }

    #[test]
    fn refuses_bad_specs() {
        assert!(matches!(
            ApiKeys::parse("admin"),
            Err(KeysError::NotAPair(_))
        ));
        assert!(matches!(
            ApiKeys::parse("root:aaaaaaaaaaaaaaaa"),
            Err(KeysError::UnknownRole(_))
        ));
        assert!(matches!(
            ApiKeys::parse("read:short"),
            Err(KeysError::TooShort(_))
        ));
        assert!(ApiKeys::parse("").unwrap().is_empty());
    }

    #[test]
    fn roles_are_disjoint_except_admin() {
        assert!(Role::Admin.allows(Role::Read));
        assert!(Role::Admin.allows(Role::Ingest));
        assert!(!Role::Ingest.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Ingest));
        assert!(!Role::Read.allows(Role::Admin));
    }
}
