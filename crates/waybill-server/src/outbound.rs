//! Outbound connections that cannot be turned inward. A webhook URL is a stranger's
//! input: checked once when it is given, and again where the connection is made. The
//! HTTP client resolves names through [`Resolver`], which refuses a name if any of its
//! addresses is not public and hands the client only the addresses it checked, so a
//! name that answers "public" to the check and "private" to the connection (DNS
//! rebinding) never reaches the private one. A URL with an address for its host (the
//! client resolves nothing then) is checked by [`Resolver::screen`] before each send;
//! the URL parser has already turned decimal, octal and hex forms (`2130706433`,
//! `0177.0.0.1`, `0x7f.1`) into the address they mean.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Destination {
    #[error("the URL is not valid: {0}")]
    Invalid(String),
    #[error("only http and https URLs can receive webhooks")]
    Scheme,
    #[error(
        "{0} is not a public address (loopback, private, link-local, reserved or special-purpose); set WAYBILL_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    )]
    Private(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// What a name resolves to, by whatever means: the system's resolver, or a test's.
type LookupFn = dyn Fn(String, u16) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
    + Send
    + Sync;

/// Resolves names for outbound calls and refuses every address that is not public
/// (unless private destinations are allowed).
#[derive(Clone)]
pub struct Resolver {
    lookup: Arc<LookupFn>,
    allow_private: bool,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// The system's resolver.
    pub fn system(allow_private: bool) -> Self {
        Self::with_lookup(allow_private, |host, port| {
            Box::pin(async move {
                Ok(tokio::net::lookup_host((host.as_str(), port))
                    .await?
                    .map(|a| a.ip())
                    .collect())
            })
        })
    }

    /// Another way of resolving (tests use one that changes its answer).
    pub fn with_lookup(
        allow_private: bool,
        lookup: impl Fn(
            String,
            u16,
        ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            lookup: Arc::new(lookup),
            allow_private,
        }
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The scheme, and the address when the host is one; `Ok` with the URL, and the
    /// host's name when it must still be resolved.
    pub fn screen(&self, url: &str) -> Result<(url::Url, Option<String>), Destination> {
        let parsed = url::Url::parse(url).map_err(|e| Destination::Invalid(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Destination::Scheme);
        }
        let host = match parsed.host() {
            None => return Err(Destination::Invalid("no host".into())),
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
        };
        match host {
            Some(ip) if !self.allow_private && is_private(ip) => {
                Err(Destination::Private(ip.to_string()))
            }
            Some(_) => Ok((parsed, None)),
            None => {
                let name = parsed.host_str().unwrap_or_default().to_owned();
                Ok((parsed, Some(name)))
            }
        }
    }

    /// Checks a webhook URL as it is given: its scheme, and that every address its host
    /// has is public. (The connection checks again: see the module's comment.)
    pub async fn check(&self, url: &str) -> Result<url::Url, Destination> {
        let (parsed, name) = self.screen(url)?;
        if let Some(name) = name {
            let port = parsed.port_or_known_default().unwrap_or(443);
            self.public_addresses(&name, port).await?;
        }
        Ok(parsed)
    }

    /// The addresses of `name`, all public (unless private ones are allowed).
    async fn public_addresses(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, Destination> {
        let addrs = (self.lookup)(name.to_owned(), port)
            .await
            .map_err(|_| Destination::Unresolved(name.to_owned()))?;
        if addrs.is_empty() {
            return Err(Destination::Unresolved(name.to_owned()));
        }
        if !self.allow_private
            && let Some(ip) = addrs.iter().find(|ip| is_private(**ip))
        {
            return Err(Destination::Private(ip.to_string()));
        }
        Ok(addrs)
    }

    /// An HTTP client that resolves through this resolver, follows no redirect (a
    /// redirect could lead anywhere), uses no proxy from the environment (a proxy would
    /// resolve the name itself, past the check) and gives up connecting after `timeout`.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .dns_resolver(Arc::new(self.clone()))
            .build()
            .expect("a TLS backend is compiled in")
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            // The client puts the URL's port on what it gets back.
            let addrs = this.public_addresses(name.as_str(), 0).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Whether an address may not receive webhooks: everything that is not globally
/// routable. Deny by default — a list of private ranges always misses one (`0.0.0.1`,
/// benchmarking, NAT64 and 6to4 forms of loopback), so only what is known to be public
/// unicast passes.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !is_global_v4(v4),
        IpAddr::V6(v6) => !is_global_v6(v6),
    }
}

/// IPv4 special-purpose ranges (IANA's registry, RFC 6890 and successors) that are not
/// global unicast, as (network, prefix length).
const V4_SPECIAL: [(u32, u32); 15] = [
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10/8 private
    (0x6440_0000, 10), // 100.64/10 carrier-grade NAT
    (0x7f00_0000, 8),  // 127/8 loopback
    (0xa9fe_0000, 16), // 169.254/16 link local (cloud metadata)
    (0xac10_0000, 12), // 172.16/12 private
    (0xc000_0000, 24), // 192.0.0/24 protocol assignments
    (0xc000_0200, 24), // 192.0.2/24 documentation
    (0xc058_6300, 24), // 192.88.99/24 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168/16 private
    (0xc612_0000, 15), // 198.18/15 benchmarking
    (0xc633_6400, 24), // 198.51.100/24 documentation
    (0xcb00_7100, 24), // 203.0.113/24 documentation
    (0xe000_0000, 4),  // 224/4 multicast
    (0xf000_0000, 4),  // 240/4 reserved, and the broadcast address
];

fn is_global_v4(v4: Ipv4Addr) -> bool {
    let bits = u32::from(v4);
    !V4_SPECIAL
        .iter()
        .any(|&(net, len)| bits >> (32 - len) == net >> (32 - len))
}

fn is_global_v6(v6: Ipv6Addr) -> bool {
    let seg = v6.segments();
    let low_v4 = Ipv4Addr::from(u128::from(v6) as u32);
    // The deprecated IPv4-compatible form (::a.b.c.d, which holds :: and ::1) is never
    // a real destination; the forms that carry an IPv4 address are judged by it:
    // mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16, the address in
    // bits 16..48).
    if seg[..6] == [0; 6] {
        return false;
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0xffff] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(low_v4);
    }
    if seg[0] == 0x2002 {
        return is_global_v4(Ipv4Addr::from(
            (u32::from(seg[1]) << 16) | u32::from(seg[2]),
        ));
    }
    // Only global unicast (2000::/3) is routable; inside it, the ranges IANA marks as
    // not global: protocol assignments (2001::/23, which holds Teredo and ORCHID) and
    // documentation (2001:db8::/32, 3fff::/20).
    let refused = match (seg[0], seg[1]) {
        (0x2001, s1) => s1 < 0x0200 || s1 == 0x0db8,
        (0x3fff, s1) => s1 < 0x1000,
        _ => false,
    };
    (seg[0] & 0xe000) == 0x2000 && !refused
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    /// What the probe got through the old list of private ranges: reserved and
    /// special-purpose space, and IPv6 forms that embed a private IPv4 address.
    #[test]
    fn everything_not_globally_routable_is_refused() {
        for ip in [
            "0.0.0.1",
            "0.1.2.3",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "169.254.169.254",
            "::127.0.0.1",
            "::",
            "::ffff:169.254.169.254",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "ff02::1",
            "ff05::2",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "3fff:fff::1",
            "fc00::1",
            "fd00:ec2::254",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip} should be refused");
        }
        // Public addresses, including the embedded forms of a public IPv4 address.
        for ip in [
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "223.255.255.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "3fff:1000::1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip} should pass");
        }
    }

    /// Hosts written as addresses in any spelling the URL parser understands are the
    /// address they mean: loopback in decimal, octal and hex, mapped into IPv6, the
    /// unspecified address, link-local, the cloud metadata addresses.
    #[tokio::test]
    async fn destinations_are_checked_in_every_spelling() {
        let strict = Resolver::system(false);
        assert_eq!(
            strict.check("ftp://x.example/").await,
            Err(Destination::Scheme)
        );
        assert!(matches!(
            strict.check("not a url").await,
            Err(Destination::Invalid(_))
        ));
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://0.0.0.0/",
            "http://0/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
        ] {
            let got = strict.check(url).await;
            assert!(
                matches!(got, Err(Destination::Private(_))),
                "{url}: {got:?}"
            );
            assert!(
                matches!(strict.screen(url), Err(Destination::Private(_))),
                "{url}"
            );
        }
        let open = Resolver::system(true);
        assert!(open.check("http://127.0.0.1:8080/hook").await.is_ok());
        assert!(open.check("http://2130706433/").await.is_ok());
    }

    /// A name is refused if any of its addresses is not public.
    #[tokio::test]
    async fn a_name_with_one_private_address_is_refused() {
        let mixed = Resolver::with_lookup(false, |_, _| {
            Box::pin(async {
                Ok(vec![
                    "1.1.1.1".parse().unwrap(),
                    "10.0.0.7".parse().unwrap(),
                ])
            })
        });
        assert_eq!(
            mixed.check("https://mixed.example/hook").await,
            Err(Destination::Private("10.0.0.7".into()))
        );
        let none = Resolver::with_lookup(false, |_, _| Box::pin(async { Ok(Vec::new()) }));
        assert_eq!(
            none.check("https://nothing.example/").await,
            Err(Destination::Unresolved("nothing.example".into()))
        );
    }

    /// A resolver that answers a public address first and loopback after (DNS
    /// rebinding): the check passes, and the connection still never reaches loopback,
    /// because the client resolves through the same check. With private destinations
    /// allowed, the same answers do reach the receiver — so the client really uses this
    /// resolver, and the refusal above is the check's doing.
    #[tokio::test]
    async fn a_name_that_turns_private_after_the_check_is_never_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    let _ = conn
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await;
                });
            }
        });
        let rebinding = |allow_private: bool| {
            let asked = Arc::new(AtomicUsize::new(0));
            Resolver::with_lookup(allow_private, move |_, _| {
                let n = asked.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    Ok(vec![if n == 0 {
                        "1.1.1.1".parse().unwrap()
                    } else {
                        IpAddr::V4(Ipv4Addr::LOCALHOST)
                    }])
                })
            })
        };
        let url = format!("http://rebind.test:{port}/hook");

        let strict = rebinding(false);
        assert!(
            strict.check(&url).await.is_ok(),
            "the first answer is public"
        );
        let sent = strict
            .client(Duration::from_secs(2))
            .post(&url)
            .body("{}")
            .send()
            .await;
        let err = sent.expect_err("the second answer is loopback: refused");
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let mut refused = None;
        while let Some(c) = cause {
            refused = refused.or(c.downcast_ref::<Destination>().cloned());
            cause = c.source();
        }
        assert_eq!(
            refused,
            Some(Destination::Private("127.0.0.1".into())),
            "{err:?}"
        );
        // What a delivery records then: the reason, not "error sending request".
        let sent = crate::delivery::send(
            &strict.client(Duration::from_secs(2)),
            &strict,
            &url,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_1",
            "{}".into(),
            &crate::delivery::DeliverySettings::default(),
        )
        .await;
        let why = sent.error.unwrap_or_default();
        assert!(why.contains("127.0.0.1 is not a public address"), "{why}");
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "never connected");

        let open = rebinding(true);
        assert!(open.check(&url).await.is_ok());
        let sent = open
            .client(Duration::from_secs(2))
            .post(&url)
            .body("{}")
            .send()
            .await
            .expect("allowed: delivered to the receiver");
        assert_eq!(sent.status(), 204);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
