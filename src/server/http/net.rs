//! Who is on the other end: the client's address (behind trusted proxies), the server's
//! public origin, and the count of streams each address holds open.

use super::error::Error;
use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{HeaderMap, request::Parts},
};
use ipnet::IpNet;
use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::{Arc, Mutex},
};

/// `CHAT_TRUSTED_PROXIES`: the peers whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and CIDR ranges, where `loopback` and
    /// `private` name the usual ranges; `none` (or nothing) trusts no proxy.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "none" => {}
                "loopback" => nets.extend(["127.0.0.0/8", "::1/128"].map(net)),
                "private" => nets
                    .extend(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"].map(net)),
                _ => nets.push(match item.parse::<IpNet>() {
                    Ok(range) => range,
                    Err(_) => item
                        .parse::<IpAddr>()
                        .map(IpNet::from)
                        .map_err(|_| format!("{item:?} is not an address or CIDR range"))?,
                }),
            }
        }
        Ok(Self(nets))
    }
}

fn net(range: &str) -> IpNet {
    range.parse().expect("a well-known range parses")
}

/// IPv4 peers on a dual-stack socket arrive as `::ffff:a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of a request: the socket's peer or, when that peer is a trusted
/// proxy, the nearest untrusted hop of `X-Forwarded-For` (read right to left, since
/// each proxy appends the address it received from, and everything left of the first
/// untrusted hop may be forged by the client).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = canonical(peer);
    if !trusted.contains(client) {
        return client;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Some(address) = parse_hop(hop) else {
            // A hop we cannot read: stop at the last one we could.
            break;
        };
        client = canonical(address);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The client's address, as an extractor. Requests that did not come through
/// [`super::serve`] (which records the peer) count as loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn of(parts: &Parts, trusted: &TrustedProxies) -> Self {
        Self(client_address(peer_of(parts), &parts.headers, trusted))
    }

    /// What per-address limits count under: the address itself, or its /64 for IPv6,
    /// the prefix one subscriber is usually given (so that one network is not 2^64
    /// clients).
    pub fn limit_key(self) -> IpAddr {
        match self.0 {
            IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
            v4 => v4,
        }
    }
}

/// The socket's peer, as recorded by [`super::serve`]; loopback for a request that did
/// not come through it (a test calling the router).
fn peer_of(parts: &Parts) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
    canonical(peer)
}

/// The socket's peer, whatever any header says: what `/metrics` decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(peer_of(parts)))
    }
}

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    Arc<TrustedProxies>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &Arc::<TrustedProxies>::from_ref(state)))
    }
}

/// `CHAT_PUBLIC_URL`, reduced to its origin: `scheme://host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicOrigin(String);

impl PublicOrigin {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The host name, lowercase, without the port (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        let authority = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => host,
            _ => authority,
        };
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for PublicOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PublicOrigin {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let uri: axum::http::Uri = raw
            .trim()
            .parse()
            .map_err(|_| format!("{raw:?} is not a URL"))?;
        let scheme = uri.scheme_str().filter(|s| matches!(*s, "http" | "https"));
        let (Some(scheme), Some(authority)) = (scheme, uri.authority()) else {
            return Err(format!("{raw:?} must be an http:// or https:// URL"));
        };
        if !matches!(uri.path(), "" | "/")
            || uri.query().is_some()
            || authority.as_str().contains('@')
        {
            return Err(format!("{raw:?} must be an origin, without a path"));
        }
        // As a browser sends it: lowercase, without a default port.
        let host = authority.host().to_ascii_lowercase();
        let origin = match authority.port_u16() {
            Some(port) if !matches!((scheme, port), ("http", 80) | ("https", 443)) => {
                format!("{scheme}://{host}:{port}")
            }
            _ => format!("{scheme}://{host}"),
        };
        Ok(Self(origin))
    }
}

/// Open streams per client address, for `CHAT_MAX_STREAMS_PER_CLIENT`.
///
/// A std `Mutex`: held for one map update per stream opened or closed, never across an
/// `.await`. An address leaves the map when its last stream closes, so the map holds at
/// most one entry per open stream.
pub struct StreamCounter {
    max: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

impl StreamCounter {
    /// `max` streams per address; 0 for no limit.
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a stream of `rooms` rooms for `address` (a stream weighs one per room:
    /// each room it follows costs the node a channel), or refuses it with
    /// `429 rate_limited`.
    pub fn open(self: &Arc<Self>, address: IpAddr, rooms: usize) -> Result<StreamSlot, Error> {
        let weight = u32::try_from(rooms.max(1)).unwrap_or(u32::MAX);
        let mut open = self.open.lock().expect("stream counter lock poisoned");
        let count = open.entry(address).or_insert(0);
        if self.max > 0 && count.saturating_add(weight) > self.max {
            if *count == 0 {
                open.remove(&address);
            }
            return Err(Error::RateLimited {
                retry_after_secs: 5,
            });
        }
        *count += weight;
        Ok(StreamSlot {
            counter: Arc::clone(self),
            address,
            weight,
        })
    }
}

/// One counted stream; closing it (dropping this) frees the slot.
pub struct StreamSlot {
    counter: Arc<StreamCounter>,
    address: IpAddr,
    weight: u32,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .counter
            .open
            .lock()
            .expect("stream counter lock poisoned");
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(self.weight);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in xff {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted: TrustedProxies = "loopback,private".parse().unwrap();
        let h = headers(&["1.2.3.4"]);
        assert_eq!(client_address(ip("8.8.8.8"), &h, &trusted), ip("8.8.8.8"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted: TrustedProxies = "loopback,10.0.0.0/8".parse().unwrap();
        // The client forged the first entry; the proxy at 10.0.0.2 appended the real one.
        let h = headers(&["6.6.6.6, 5.5.5.5", "10.0.0.2"]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &trusted), ip("5.5.5.5"));
        assert_eq!(
            client_address(ip("127.0.0.1"), &headers(&[]), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(
                ip("::ffff:127.0.0.1"),
                &headers(&["[2001:db8::1]"]),
                &trusted
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &headers(&["5.5.5.5:4711"]), &trusted),
            ip("5.5.5.5")
        );
        let none = TrustedProxies::none();
        assert_eq!(client_address(ip("127.0.0.1"), &h, &none), ip("127.0.0.1"));
    }

    #[test]
    fn an_ipv6_client_is_limited_as_its_64_and_an_ipv4_one_as_itself() {
        let key = |raw: &str| ClientAddr(ip(raw)).limit_key();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2::"));
        assert_eq!(
            key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            key("2001:db8:1:2::7")
        );
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("192.0.2.7"), ip("192.0.2.7"));
    }

    #[test]
    fn public_origins_are_reduced_to_scheme_and_authority() {
        let origin: PublicOrigin = "https://Chat.Example.com:443/".parse().unwrap();
        assert_eq!(origin.as_str(), "https://chat.example.com");
        assert!(origin.is_https());
        let origin: PublicOrigin = "http://localhost:3000".parse().unwrap();
        assert_eq!(origin.as_str(), "http://localhost:3000");
        assert!(!origin.is_https());
        for bad in [
            "chat.example.com",
            "ftp://x",
            "https://x/path",
            "https://x/?q",
            "https://user@x",
            "",
        ] {
            assert!(bad.parse::<PublicOrigin>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_stream_counter_refuses_past_the_limit_and_frees_slots() {
        let counter = StreamCounter::new(2);
        let a = ip("1.1.1.1");
        let first = counter.open(a, 1).unwrap();
        let _second = counter.open(a, 1).unwrap();
        assert!(counter.open(a, 1).is_err());
        assert!(
            counter.open(ip("2.2.2.2"), 1).is_ok(),
            "other addresses are separate"
        );
        drop(first);
        let _third = counter.open(a, 1).unwrap();
        drop(_third);
        drop(_second);
        assert!(
            counter.open.lock().unwrap().is_empty(),
            "nothing is left behind"
        );
    }

    #[test]
    fn a_stream_weighs_one_per_room() {
        let counter = StreamCounter::new(50);
        let a = ip("1.1.1.1");
        let forty = counter.open(a, 40).unwrap();
        assert!(counter.open(a, 11).is_err(), "40 + 11 rooms is past 50");
        let ten = counter.open(a, 10).unwrap();
        drop(forty);
        drop(ten);
        assert!(counter.open.lock().unwrap().is_empty());
        assert!(counter.open(ip("2.2.2.2"), 51).is_err());
        assert!(
            counter.open.lock().unwrap().is_empty(),
            "a refusal leaves nothing"
        );
    }

    proptest! {
        #[test]
        fn any_forwarded_header_yields_an_address_without_panicking(
            values in proptest::collection::vec(".{0,64}", 0..4),
            peer in any::<[u8; 4]>(),
        ) {
            let mut h = HeaderMap::new();
            for value in &values {
                if let Ok(value) = value.parse() {
                    h.append("x-forwarded-for", value);
                }
            }
            let trusted: TrustedProxies = "loopback,private".parse().unwrap();
            let _ = client_address(IpAddr::from(peer), &h, &trusted);
        }

        #[test]
        fn any_proxy_list_or_origin_parses_or_is_refused_without_panicking(raw in ".{0,80}") {
            let _ = raw.parse::<TrustedProxies>();
            let _ = raw.parse::<PublicOrigin>();
        }
    }
}
