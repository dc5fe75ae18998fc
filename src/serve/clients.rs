//! Who a request comes from, for the rate limits and the sign-up memory.
//!
//! The client is the TCP peer, unless the peer is a proxy the operator
//! named (`serve.trusted_proxies`, loopback by default): then it is read
//! from `X-Forwarded-For`, right to left, skipping the trusted proxies'
//! own addresses: the rightmost address no trusted proxy has is the
//! client (the rule of nginx's `real_ip_recursive` and of Caddy's
//! `trusted_proxies`). Everything left of it was written by the client and
//! is ignored, so a client cannot choose its own bucket by sending the
//! header, and a peer that is not trusted is never asked.
//!
//! IPv6 clients are limited by their network (`serve.ipv6_prefix`, /64 by
//! default): a site gets a /64 or more, so one host can take a fresh
//! address for every request.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// Bits of an IPv6 address that name one client unless configured.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// How the service tells its clients apart.
#[derive(Debug, Clone)]
pub struct ClientRule {
    /// The proxies whose `X-Forwarded-For` is read.
    pub trusted_proxies: Vec<IpNet>,
    /// The prefix length an IPv6 client is limited by.
    pub ipv6_prefix: u8,
}

impl Default for ClientRule {
    fn default() -> Self {
        ClientRule { trusted_proxies: default_trusted_proxies(), ipv6_prefix: DEFAULT_IPV6_PREFIX }
    }
}

/// Loopback, where the documented TLS proxy runs (docs/deploy.md).
pub fn default_trusted_proxies() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"].iter().map(|net| net.parse().expect("a valid network")).collect()
}

/// `10.0.0.0/8`, `::1/128` or a bare address (one host).
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from)).map(|net| net.trunc())
}

impl ClientRule {
    /// Whether `ip` is one of the trusted proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted(ip)
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` that carried the
    /// `X-Forwarded-For` header lines `forwarded`, in the order received.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl DoubleEndedIterator<Item = &'a [u8]>) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusted(client) {
            return client;
        }
        for line in forwarded.rev() {
            let Ok(line) = std::str::from_utf8(line) else { return client };
            for hop in line.rsplit(',') {
                // Garbage where an address should be: the trusted proxy
                // that passed it on is the last address known.
                let Some(ip) = parse_hop(hop) else { return client };
                client = canonical(ip);
                if !self.trusted(client) {
                    return client;
                }
            }
        }
        client
    }

    /// The bucket a client is limited in: its address, or its IPv6 network.
    pub fn bucket(&self, client: IpAddr) -> IpAddr {
        match canonical(client) {
            IpAddr::V6(ip) => {
                let bits = u32::from(self.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask))
            }
            v4 => v4,
        }
    }
}

/// One address of `X-Forwarded-For`: `203.0.113.7`, `2001:db8::1`, or
/// either with a port (`[2001:db8::1]:443`, `203.0.113.7:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok()))
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:203.0.113.7`) is
/// that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(rule: &ClientRule, peer: &str, lines: &[&str]) -> String {
        rule.client(peer.parse().unwrap(), lines.iter().map(|line| line.as_bytes())).to_string()
    }

    #[test]
    fn the_rightmost_address_no_trusted_proxy_has_is_the_client() {
        let rule = ClientRule {
            trusted_proxies: ["127.0.0.0/8", "10.0.0.0/8"].iter().map(|n| parse_network(n).unwrap()).collect(),
            ipv6_prefix: 64,
        };
        assert_eq!(client(&rule, "127.0.0.1", &["203.0.113.7"]), "203.0.113.7");
        assert_eq!(client(&rule, "127.0.0.1", &["6.6.6.6, 203.0.113.7, 10.0.0.2"]), "203.0.113.7");
        assert_eq!(client(&rule, "127.0.0.1", &["6.6.6.6", "203.0.113.7", "10.0.0.2"]), "203.0.113.7", "lines");
        assert_eq!(client(&rule, "198.51.100.1", &["203.0.113.7"]), "198.51.100.1", "an untrusted peer");
        assert_eq!(client(&rule, "127.0.0.1", &[]), "127.0.0.1", "no header");
        assert_eq!(client(&rule, "127.0.0.1", &["10.0.0.3, 10.0.0.2"]), "10.0.0.3", "all trusted");
        assert_eq!(client(&rule, "127.0.0.1", &["6.6.6.6, junk, 10.0.0.2"]), "10.0.0.2", "garbage stops");
        assert_eq!(client(&rule, "::ffff:127.0.0.1", &["[2001:db8::1]:443"]), "2001:db8::1");
        let nobody = ClientRule { trusted_proxies: Vec::new(), ipv6_prefix: 64 };
        assert_eq!(client(&nobody, "127.0.0.1", &["203.0.113.7"]), "127.0.0.1");
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_network() {
        let rule = ClientRule::default();
        let bucket = |ip: &str| rule.bucket(ip.parse().unwrap()).to_string();
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(bucket("2001:db8:1:2:ffff::9"), "2001:db8:1:2::");
        assert_eq!(bucket("203.0.113.7"), "203.0.113.7");
        let whole = ClientRule { ipv6_prefix: 128, ..ClientRule::default() };
        assert_eq!(whole.bucket("2001:db8::1".parse().unwrap()).to_string(), "2001:db8::1");
        let none = ClientRule { ipv6_prefix: 0, ..ClientRule::default() };
        assert_eq!(none.bucket("2001:db8::1".parse().unwrap()).to_string(), "::");
    }
}
