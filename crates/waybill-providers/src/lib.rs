//! Carrier and aggregator push formats, turned into canonical events.
//!
//! Each provider module knows three things about its provider and nothing else: how a
//! push is signed ([`Provider::verify`]), how its payload reads ([`Provider::parse`]) and
//! what answer stops it from retrying ([`Provider::reply`]). Everything here is pure: the
//! server hands in the raw request and a clock reading, and gets back typed events, so
//! each format can be tested (and fuzzed) byte by byte without a network.
//!
//! Shared pieces: [`checkpoint`] turns one provider checkpoint into a
//! [`TrackingEvent`] with a stable derived id, [`carriers`] is the one table of carrier
//! codes, [`codes`] the shape of the status mapping tables, [`clock`] reads provider
//! times (with a default zone for those that send none), and [`sign`] holds the
//! constant-time signature helpers.

pub mod aftership;
pub mod carriers;
pub mod checkpoint;
pub mod clock;
pub mod codes;
pub mod easypost;
mod form;
mod json;
pub mod kdniao;
pub mod kuaidi100;
pub mod seventeen_track;
pub mod shippo;
pub mod sign;
pub mod standard_webhooks;

use std::fmt;

use waybill_core::{Carrier, Timestamp, TrackingEvent, TrackingNumber};

pub use checkpoint::Checkpoint;
pub use clock::ProviderTime;

/// The providers whose own push formats `POST /v1/webhooks/{provider}` takes.
/// CloudEvents is served by the server itself: its payload is the canonical event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    AfterShip,
    EasyPost,
    Shippo,
    SeventeenTrack,
    Kuaidi100,
    Kdniao,
}

impl Provider {
    pub const ALL: [Provider; 6] = [
        Self::AfterShip,
        Self::EasyPost,
        Self::Shippo,
        Self::SeventeenTrack,
        Self::Kuaidi100,
        Self::Kdniao,
    ];

    /// The name in the path and in configuration (`WAYBILL_WEBHOOK_SECRET_<NAME>`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AfterShip => "aftership",
            Self::EasyPost => "easypost",
            Self::Shippo => "shippo",
            Self::SeventeenTrack => "17track",
            Self::Kuaidi100 => "kuaidi100",
            Self::Kdniao => "kdniao",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Where this provider's times are when they carry no offset, unless configured
    /// otherwise: the Chinese providers send Beijing time, the others UTC.
    pub const fn default_zone(self) -> &'static str {
        match self {
            Self::Kuaidi100 | Self::Kdniao | Self::SeventeenTrack => "Asia/Shanghai",
            Self::AfterShip | Self::EasyPost | Self::Shippo => "UTC",
        }
    }

    /// Checks the push's signature with the configured secret.
    pub fn verify(self, secret: &[u8], req: &Inbound<'_>) -> Result<(), AuthError> {
        match self {
            Self::AfterShip => aftership::verify(secret, req),
            Self::EasyPost => easypost::verify(secret, req),
            Self::Shippo => shippo::verify(secret, req),
            Self::SeventeenTrack => seventeen_track::verify(secret, req),
            Self::Kuaidi100 => kuaidi100::verify(secret, req),
            Self::Kdniao => kdniao::verify(secret, req),
        }
    }

    /// Reads a verified push into canonical events.
    pub fn parse_push(self, req: &Inbound<'_>, ctx: &Context) -> Result<Push, ParseError> {
        match self {
            Self::AfterShip => aftership::parse(req, ctx),
            Self::EasyPost => easypost::parse(req, ctx),
            Self::Shippo => shippo::parse(req, ctx),
            Self::SeventeenTrack => seventeen_track::parse(req, ctx),
            Self::Kuaidi100 => kuaidi100::parse(req, ctx),
            Self::Kdniao => kdniao::parse(req, ctx),
        }
    }

    /// The answer this provider expects: on `Ack` it stops retrying, on `Retry` it must
    /// send the push again later.
    pub fn reply(self, req: &Inbound<'_>, outcome: &Outcome) -> Reply {
        match self {
            Self::AfterShip => aftership::reply(req, outcome),
            Self::EasyPost => easypost::reply(req, outcome),
            Self::Shippo => shippo::reply(req, outcome),
            Self::SeventeenTrack => seventeen_track::reply(req, outcome),
            Self::Kuaidi100 => kuaidi100::reply(req, outcome),
            Self::Kdniao => kdniao::reply(req, outcome),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A push as it arrived: what the signature schemes and the parsers read.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub headers: &'a http::HeaderMap,
    /// The raw body, exactly as received: signatures cover these bytes.
    pub body: &'a [u8],
    /// The request path (without the query), for schemes that sign it.
    pub path: &'a str,
    /// When Waybill received the push, for timestamp tolerances and events without times.
    pub received_at: Timestamp,
}

impl Inbound<'_> {
    /// A header's value as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What parsing needs besides the request.
#[derive(Debug, Clone)]
pub struct Context {
    /// The zone of times sent without an offset.
    pub zone: jiff::tz::TimeZone,
}

impl Context {
    pub fn for_provider(p: Provider) -> Self {
        Self {
            zone: jiff::tz::TimeZone::get(p.default_zone()).expect("bundled time zone"),
        }
    }
}

/// A push, read: the events it carries, oldest first as the provider listed them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Push {
    pub events: Vec<TrackingEvent>,
    /// A correction of the parcel's carrier (Kuaidi100's `comOld` → `comNew`).
    pub carrier_change: Option<CarrierChange>,
    /// Status codes the mapping table does not know (each kept as an `unmapped` event):
    /// counted in `/metrics`.
    pub unknown_codes: Vec<String>,
}

/// The parcel known as `(from, tracking_number)` is `(to, tracking_number)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierChange {
    pub tracking_number: TrackingNumber,
    pub from: Carrier,
    pub to: Carrier,
}

/// How the server fared with a push, for [`Provider::reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Durably stored (as events, or in quarantine): the provider may forget it.
    Ack,
    /// Not stored: the provider must send it again. The text says why.
    Retry(String),
}

/// An HTTP answer in the provider's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// The answer of providers that only look at the status code.
    pub fn plain(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Ack => Self::json(200, serde_json::json!({"ok": true})),
            Outcome::Retry(why) => Self::json(503, serde_json::json!({"ok": false, "error": why})),
        }
    }
}

/// Why a push's signature was refused. The push leaves no trace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the signature is missing: expected {0}")]
    Missing(&'static str),
    #[error("the signature is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature does not match the payload")]
    Mismatch,
    #[error(
        "the signed timestamp is {skew_seconds} s away from now; the tolerance is {tolerance_seconds} s"
    )]
    Stale {
        skew_seconds: i64,
        tolerance_seconds: i64,
    },
}

/// Why a verified push could not be read. The push goes to quarantine with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not valid {format}: {detail}")]
    Syntax {
        format: &'static str,
        detail: String,
    },
    #[error("{0} is missing")]
    Missing(String),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("unsupported push type {0:?}")]
    UnsupportedType(String),
}

impl ParseError {
    pub fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    pub fn json(e: &serde_json::Error) -> Self {
        Self::Syntax {
            format: "JSON",
            detail: e.to_string(),
        }
    }
}
