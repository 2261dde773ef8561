//! Who is calling: the client address of a request, believing `X-Forwarded-For` only when the
//! connection comes from a configured trusted proxy (`server.trusted_proxies`).

use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpMessage as _;
use actix_web::HttpRequest;
use serde::{Deserialize, Deserializer};

/// A network in CIDR form (`10.0.0.0/8`, `fd00::/8`); a bare address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_eq(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the top `prefix` bits of two `width`-bit numbers agree.
fn mask_eq(a: u128, b: u128, width: u32, prefix: u8) -> bool {
    let prefix = u32::from(prefix).min(width);
    if prefix == 0 {
        return true;
    }
    let shift = width - prefix;
    (a >> shift) == (b >> shift)
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4 peers)
/// compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or a CIDR network"))?;
        let addr = canonical(addr);
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {width}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The client address of a request, stored in its extensions by [`ClientIp::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address of the peer, or — when the peer is a trusted proxy — the right-most address
    /// of `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address it
    /// saw, so everything left of the first untrusted hop may be forged by the client).
    pub fn resolve(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
        let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
        let mut client = canonical(peer);
        if !is_trusted(client) {
            return client;
        }
        let Some(list) = forwarded_for else {
            return client;
        };
        for hop in list.rsplit(',') {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !is_trusted(ip) {
                        break;
                    }
                }
                // Garbage where an address should be: stop at the last proxy we believe.
                None => break,
            }
        }
        client
    }

    /// The address a rate limit counts: the address itself for IPv4, its /64 network for IPv6
    /// (one subscriber usually holds a whole /64).
    pub fn limit_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }

    /// The client address of `req`, resolved once and kept in its extensions.
    pub fn of(req: &HttpRequest, trusted: &[IpNet]) -> Self {
        if let Some(ip) = req.extensions().get::<ClientIp>() {
            return *ip;
        }
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = Self(Self::resolve(peer, forwarded, trusted));
        req.extensions_mut().insert(ip);
        ip
    }
}

/// One `X-Forwarded-For` entry: an address, possibly `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.200.3.4")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped peers");
        let one: IpNet = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "::/129", "example.org", "10.0.0.0/x", ""] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        // An untrusted peer cannot claim another address.
        assert_eq!(
            ClientIp::resolve(ip("203.0.113.5"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.5")
        );
        // Through one proxy.
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // The client forged a left-most entry; the proxy appended the real one.
        assert_eq!(
            ClientIp::resolve(
                ip("10.0.0.2"),
                Some("1.1.1.1, 198.51.100.7, 10.0.0.9"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        // Garbage stops at the last believed proxy.
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), Some("1.1.1.1, <script>"), &trusted),
            ip("10.0.0.2")
        );
        // No proxies configured: the peer, always.
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), Some("1.2.3.4"), &[]),
            ip("10.0.0.2")
        );
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), Some("[2001:db8::5]:4711"), &trusted),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(
            ClientIp(ip("2001:db8:1:2:aaaa::1")).limit_key(),
            ClientIp(ip("2001:db8:1:2:bbbb::9")).limit_key()
        );
        assert_eq!(ClientIp(ip("198.51.100.7")).limit_key(), "198.51.100.7");
    }

    proptest::proptest! {
        /// `X-Forwarded-For` is attacker text: any value resolves to some address, never a
        /// panic; from an untrusted peer, always the peer.
        #[test]
        fn any_forwarded_for_resolves(xff in "\\PC{0,300}", last in 0u8..=255) {
            let peer = IpAddr::from([10, 0, 0, last]);
            let trusted = nets(&["10.0.0.0/8"]);
            let _ = ClientIp::resolve(peer, Some(&xff), &trusted);
            let untrusted = IpAddr::from([203, 0, 113, last]);
            proptest::prop_assert_eq!(ClientIp::resolve(untrusted, Some(&xff), &trusted), untrusted);
        }

        #[test]
        fn any_text_parses_as_a_network_or_fails_cleanly(s in "\\PC{0,60}") {
            let _ = s.parse::<IpNet>();
        }
    }
}
