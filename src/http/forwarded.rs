//! The real client address behind trusted reverse proxies: the
//! `[log] trusted_proxies` ranges ([`TrustedProxies`]) and the walk of
//! `X-Forwarded-For` ([`client_address`]).
//!
//! Every hop a proxy forwards through appends the address it received the
//! request from, so the list reads `client, proxy1, proxy2` and only its
//! right end is written by machines we trust; the left end is whatever the
//! client sent. The walk therefore starts at the right and stops at the
//! first address that is not a trusted proxy: that hop is the last one a
//! trusted proxy saw, and the client cannot forge it (nginx's
//! `real_ip_recursive on`, Caddy's `trusted_proxies`).
//!
//! Pure code: no IO, no allocation per request (the walk reads the field
//! values where the parser found them).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address ranges whose `X-Forwarded-For` is believed. Empty by default:
/// then no header is ever read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// `(network, mask)` pairs; IPv4-mapped IPv6 ranges are kept here.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// Why a `trusted_proxies` item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(&'static str);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl TrustedProxies {
    /// Parses CIDR ranges (`10.0.0.0/8`, `::1/128`) or single addresses
    /// (`127.0.0.1`, a /32 or /128).
    ///
    /// # Errors
    /// The first bad item, with the reason.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<TrustedProxies, (String, CidrError)> {
        let mut trusted = TrustedProxies::default();
        for item in items {
            let item = item.as_ref();
            trusted
                .add(item)
                .map_err(|error| (item.to_string(), error))?;
        }
        Ok(trusted)
    }

    fn add(&mut self, item: &str) -> Result<(), CidrError> {
        let (addr, prefix) = match item.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (item, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError("not an IPv4 or IPv6 address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(text) => {
                if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrError("the prefix length is not a number"));
                }
                match text.parse::<u32>() {
                    Ok(n) if n <= max => n,
                    _ => return Err(CidrError("the prefix length is too long")),
                }
            }
        };
        match addr {
            IpAddr::V4(v4) => self.add_v4(u32::from(v4), prefix),
            IpAddr::V6(v6) => {
                // ::ffff:a.b.c.d/104 is a range of IPv4 addresses: keep it
                // with them, so that it matches however a peer is written.
                match v6.to_ipv4_mapped() {
                    Some(v4) if prefix >= 96 => self.add_v4(u32::from(v4), prefix - 96),
                    _ => {
                        let mask = mask128(prefix);
                        let net = u128::from(v6);
                        if net & !mask != 0 {
                            return Err(HOST_BITS);
                        }
                        self.v6.push((net, mask));
                        Ok(())
                    }
                }
            }
        }
    }

    fn add_v4(&mut self, net: u32, prefix: u32) -> Result<(), CidrError> {
        let mask = mask32(prefix);
        if net & !mask != 0 {
            return Err(HOST_BITS);
        }
        self.v4.push((net, mask));
        Ok(())
    }

    /// No range: the feature is off.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `addr` lies in a trusted range. An IPv4-mapped IPv6 address
    /// (`::ffff:10.1.2.3`, as a dual-stack socket reports IPv4 peers) is
    /// matched as the IPv4 address it is.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match canonical(addr) {
            IpAddr::V4(v4) => {
                let a = u32::from(v4);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }
}

/// An item whose address has bits set beyond its prefix (`10.0.0.1/8`) is
/// refused rather than silently widened: it is usually a typo for a single
/// address or a different range.
const HOST_BITS: CidrError =
    CidrError("address bits are set beyond the prefix length (write the network address)");

fn mask32(prefix: u32) -> u32 {
    u32::MAX.checked_shl(32 - prefix).unwrap_or(0)
}

fn mask128(prefix: u32) -> u128 {
    u128::MAX.checked_shl(128 - prefix).unwrap_or(0)
}

/// `addr`, with an IPv4-mapped IPv6 address turned into the IPv4 address.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The client address of a request from `peer`, given its
/// `X-Forwarded-For` field values in the order they came (several fields
/// count as one list, joined in order).
///
/// From a peer that is not trusted the header is ignored: the peer is the
/// client. Otherwise the list is walked from the right, past addresses that
/// are trusted proxies themselves, and the first untrusted one is the
/// client. When every hop is trusted, the leftmost is. An element that is
/// not an address (`unknown`, garbage) stops the walk: the last address
/// walked past is used (the peer, if it was the rightmost), as nginx does,
/// since nothing left of it can be tied to a trusted hop. Empty elements
/// (`a,,b`) are skipped. Addresses may carry a port (`1.2.3.4:80`,
/// `[::1]:80`), which is dropped.
pub fn client_address<'a, I>(peer: IpAddr, trusted: &TrustedProxies, fields: I) -> IpAddr
where
    I: DoubleEndedIterator<Item = &'a [u8]>,
{
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    for field in fields.rev() {
        for element in field.rsplit(|&b| b == b',') {
            let element = super::trim_ows(element);
            if element.is_empty() {
                continue;
            }
            let Some(addr) = parse_element(element) else {
                return client;
            };
            client = addr;
            if !trusted.contains(addr) {
                return addr;
            }
        }
    }
    client
}

/// One list element: an address, optionally with a port.
fn parse_element(element: &[u8]) -> Option<IpAddr> {
    // Longest forms: a bracketed IPv6 address with a port.
    if element.len() > 64 {
        return None;
    }
    let text = std::str::from_utf8(element).ok()?;
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let v6: Ipv6Addr = v6.parse().ok()?;
        if !after.is_empty() {
            valid_port(after.strip_prefix(':')?)?;
        }
        return Some(canonical(IpAddr::V6(v6)));
    }
    let (v4, port) = text.split_once(':')?;
    let v4: Ipv4Addr = v4.parse().ok()?;
    valid_port(port)?;
    Some(IpAddr::V4(v4))
}

fn valid_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(items: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(items).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn walk(peer: &str, trust: &[&str], fields: &[&str]) -> IpAddr {
        let fields: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
        client_address(ip(peer), &trusted(trust), fields.into_iter())
    }

    #[test]
    fn ranges_parse_and_match() {
        let t = trusted(&[
            "127.0.0.1/32",
            "10.0.0.0/8",
            "::1/128",
            "fd00::/8",
            "192.0.2.7",
        ]);
        for yes in [
            "127.0.0.1",
            "10.0.0.0",
            "10.255.255.255",
            "::1",
            "fd12::3",
            "192.0.2.7",
        ] {
            assert!(t.contains(ip(yes)), "{yes}");
        }
        for no in [
            "127.0.0.2",
            "11.0.0.1",
            "::2",
            "fe00::1",
            "192.0.2.8",
            "9.255.255.255",
        ] {
            assert!(!t.contains(ip(no)), "{no}");
        }
        let all = trusted(&["0.0.0.0/0", "::/0"]);
        assert!(all.contains(ip("8.8.8.8")) && all.contains(ip("2001:db8::1")));
        assert!(TrustedProxies::default().is_empty());
        assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_ranges() {
        let t = trusted(&["10.0.0.0/8"]);
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(!t.contains(ip("::ffff:11.1.2.3")));
        // And a mapped range holds plain IPv4 addresses.
        let mapped = trusted(&["::ffff:192.168.0.0/112"]);
        assert!(mapped.contains(ip("192.168.3.4")));
        assert!(!mapped.contains(ip("192.169.0.1")));
        // IPv4-compatible addresses (::a.b.c.d) are IPv6, not IPv4.
        assert!(!t.contains(ip("::10.1.2.3")));
    }

    #[test]
    fn bad_items_are_refused_by_name() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/8/8",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "localhost",
            "10.0.0",
            "10.0.0.1/8",
            "fd00::1/8",
            "10.0.0.0/0008",
            "[::1]/128",
            "010.0.0.0/8",
        ] {
            let error = TrustedProxies::parse(&["127.0.0.1/32", bad]).unwrap_err();
            assert_eq!(error.0, bad);
        }
    }

    #[test]
    fn untrusted_peer_ignores_the_header() {
        assert_eq!(walk("127.0.0.1", &[], &["6.6.6.6"]), ip("127.0.0.1"));
        assert_eq!(
            walk("127.0.0.1", &["10.0.0.0/8"], &["6.6.6.6"]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn walk_takes_the_rightmost_untrusted_hop() {
        let trust = ["127.0.0.1/32", "10.0.0.0/8"];
        assert_eq!(
            walk("127.0.0.1", &trust, &["203.0.113.9"]),
            ip("203.0.113.9")
        );
        // The client wrote 6.6.6.6; the first proxy saw 198.51.100.2.
        assert_eq!(
            walk("127.0.0.1", &trust, &["6.6.6.6, 198.51.100.2, 10.0.0.5"]),
            ip("198.51.100.2")
        );
        // Several fields are one list, in order.
        assert_eq!(
            walk("127.0.0.1", &trust, &["6.6.6.6, 198.51.100.2", "10.1.1.1"]),
            ip("198.51.100.2")
        );
        assert_eq!(
            walk("127.0.0.1", &trust, &["6.6.6.6", "198.51.100.2,10.1.1.1"]),
            ip("198.51.100.2")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            walk("127.0.0.1", &trust, &["10.0.0.1, 10.0.0.2"]),
            ip("10.0.0.1")
        );
        // No header, or an empty one: the peer.
        assert_eq!(walk("127.0.0.1", &trust, &[]), ip("127.0.0.1"));
        assert_eq!(walk("127.0.0.1", &trust, &[" , "]), ip("127.0.0.1"));
        // Empty elements are skipped; ports and brackets dropped.
        assert_eq!(
            walk("127.0.0.1", &trust, &["1.2.3.4:5678,, 10.0.0.1 ,"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            walk("127.0.0.1", &trust, &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            walk("127.0.0.1", &trust, &["2001:db8::1"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            walk("127.0.0.1", &trust, &["[2001:db8::2]"]),
            ip("2001:db8::2")
        );
        // A mapped address in the header is the IPv4 address.
        assert_eq!(
            walk("127.0.0.1", &trust, &["::ffff:1.2.3.4"]),
            ip("1.2.3.4")
        );
        // A mapped peer is trusted as its IPv4 address.
        assert_eq!(
            walk("::ffff:127.0.0.1", &trust, &["1.2.3.4"]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn a_malformed_element_stops_the_walk() {
        let trust = ["127.0.0.1/32", "10.0.0.0/8"];
        // The rightmost is garbage: the peer itself.
        assert_eq!(
            walk("127.0.0.1", &trust, &["1.2.3.4, junk"]),
            ip("127.0.0.1")
        );
        // Garbage after trusted hops: the last one walked past.
        assert_eq!(
            walk("127.0.0.1", &trust, &["1.2.3.4, unknown, 10.0.0.9"]),
            ip("10.0.0.9")
        );
        for junk in [
            "1.2.3.4:",
            "1.2.3.4:99999",
            "[::1",
            "[::1]x",
            "::1]:80",
            "1.2.3.4.5",
            "1.2.3.4 5",
            "\u{ff}",
            "for=1.2.3.4",
            "_hidden",
            "[1.2.3.4]",
        ] {
            assert_eq!(
                walk("127.0.0.1", &trust, &[junk]),
                ip("127.0.0.1"),
                "{junk:?}"
            );
        }
        let long = format!("{}1", "0".repeat(80));
        assert_eq!(walk("127.0.0.1", &trust, &[&long]), ip("127.0.0.1"));
    }
}
