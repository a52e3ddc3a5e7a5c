//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1
//! and 2), which a load balancer sends as the first bytes of a connection
//! to say whom it accepted that connection from (`[server] proxy_protocol`).
//!
//! [`parse`] is incremental: given the bytes received so far it answers
//! [`Parsed::NeedMore`], [`Parsed::Done`] with the header's length and the
//! address it carries, or [`Parsed::Invalid`], deciding as early as the
//! bytes allow (garbage is refused at its first byte that no header can
//! start with). Pure code: no IO, no allocation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest version 1 header, CRLF included (the specification's bound).
pub const V1_MAX_BYTES: usize = 107;

/// Longest version 2 header accepted, TLVs included. The specification
/// allows 64 KiB of TLVs; load balancers send a few dozen bytes (AWS's VPC
/// endpoint id, HAProxy's TLS details), and a connection must not make
/// wharf buffer more than a request head before it says who it is.
pub const V2_MAX_BYTES: usize = 4096;

/// The version 2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// What the bytes received so far make of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A valid header may still follow: read more.
    NeedMore,
    /// A whole header of `len` bytes. `source` is the client's address,
    /// or `None` when the header carries none (`PROXY UNKNOWN`, the
    /// `LOCAL` command of a health check, an unspecified or Unix family):
    /// the connection's own peer stands.
    Done {
        len: usize,
        source: Option<SocketAddr>,
    },
    /// Not a PROXY header, and no more bytes can make it one.
    Invalid,
}

/// Parses a PROXY header (version 1 or 2) at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let v2_prefix = buf.len().min(V2_SIGNATURE.len());
    if buf[..v2_prefix] == V2_SIGNATURE[..v2_prefix] {
        return if buf.len() < V2_SIGNATURE.len() {
            Parsed::NeedMore
        } else {
            parse_v2(buf)
        };
    }
    let v1_prefix = buf.len().min(V1_PREFIX.len());
    if buf[..v1_prefix] == V1_PREFIX[..v1_prefix] {
        return parse_v1(buf);
    }
    Parsed::Invalid
}

/// `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n`, `PROXY UNKNOWN ...\r\n`.
fn parse_v1(buf: &[u8]) -> Parsed {
    let window = &buf[..buf.len().min(V1_MAX_BYTES)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        // Only printable ASCII may come before the CRLF.
        if window.len() == V1_MAX_BYTES || !window.iter().all(|&b| (0x20..0x7f).contains(&b)) {
            return Parsed::Invalid;
        }
        return Parsed::NeedMore;
    };
    let line = &window[..cr];
    if !line.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return Parsed::Invalid;
    }
    match window.get(cr + 1) {
        None if cr + 1 < V1_MAX_BYTES => return Parsed::NeedMore,
        Some(b'\n') => {}
        _ => return Parsed::Invalid,
    }
    let len = cr + 2;
    let Ok(line) = std::str::from_utf8(line) else {
        return Parsed::Invalid;
    };
    let mut fields = line.split(' ');
    let (Some("PROXY"), Some(family)) = (fields.next(), fields.next()) else {
        return Parsed::Invalid;
    };
    if family == "UNKNOWN" {
        // The receiver must ignore whatever follows up to the CRLF.
        return Parsed::Done { len, source: None };
    }
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Parsed::Invalid;
    };
    let (src, _dst): (IpAddr, IpAddr) = match family {
        "TCP4" => match (src.parse::<Ipv4Addr>(), dst.parse::<Ipv4Addr>()) {
            (Ok(s), Ok(d)) => (s.into(), d.into()),
            _ => return Parsed::Invalid,
        },
        "TCP6" => match (src.parse::<Ipv6Addr>(), dst.parse::<Ipv6Addr>()) {
            (Ok(s), Ok(d)) => (s.into(), d.into()),
            _ => return Parsed::Invalid,
        },
        _ => return Parsed::Invalid,
    };
    let (Some(sport), Some(_)) = (v1_port(sport), v1_port(dport)) else {
        return Parsed::Invalid;
    };
    Parsed::Done {
        len,
        source: Some(SocketAddr::new(src, sport)),
    }
}

/// A port in a version 1 header: 1 to 5 digits, at most 65535.
fn v1_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The binary header: signature, version and command, family and
/// transport, length, addresses, TLVs (skipped).
fn parse_v2(buf: &[u8]) -> Parsed {
    let Some(&version_command) = buf.get(12) else {
        return Parsed::NeedMore;
    };
    let local = match version_command {
        0x20 => true,
        0x21 => false,
        _ => return Parsed::Invalid,
    };
    let Some(&family) = buf.get(13) else {
        return Parsed::NeedMore;
    };
    // Family (high nibble): unspecified, IPv4, IPv6, Unix; transport (low
    // nibble): unspecified, stream, datagram.
    if family >> 4 > 3 || family & 0x0f > 2 {
        return Parsed::Invalid;
    }
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Parsed::NeedMore;
    };
    let body_len = usize::from(u16::from_be_bytes([hi, lo]));
    let len = 16 + body_len;
    if len > V2_MAX_BYTES {
        return Parsed::Invalid;
    }
    let address_len = match family >> 4 {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    };
    if !local && body_len < address_len {
        // Too short for its own addresses: no byte can mend that.
        return Parsed::Invalid;
    }
    let Some(body) = buf.get(16..len) else {
        return Parsed::NeedMore;
    };
    if local {
        // A health check or the proxy's own connection: the peer stands.
        return Parsed::Done { len, source: None };
    }
    let source = match family >> 4 {
        1 => match (body.get(0..4), body.get(8..10)) {
            (Some(&[a, b, c, d]), Some(&[p, q])) => Some(SocketAddr::new(
                Ipv4Addr::new(a, b, c, d).into(),
                u16::from_be_bytes([p, q]),
            )),
            _ => return Parsed::Invalid,
        },
        2 => match (
            body.get(0..16).and_then(|s| <[u8; 16]>::try_from(s).ok()),
            body.get(32..34),
        ) {
            (Some(octets), Some(&[p, q])) => Some(SocketAddr::new(
                Ipv6Addr::from(octets).into(),
                u16::from_be_bytes([p, q]),
            )),
            _ => return Parsed::Invalid,
        },
        // Unspecified or Unix: no IP address to use.
        _ => None,
    };
    Parsed::Done { len, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    /// Every prefix of a valid header needs more; the whole is `expected`.
    fn incremental(header: &[u8], expected: Parsed) {
        for n in 0..header.len() {
            assert_eq!(
                parse(&header[..n]),
                Parsed::NeedMore,
                "prefix {n} of {header:?}"
            );
        }
        assert_eq!(parse(header), expected, "{header:?}");
        let mut more = header.to_vec();
        more.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(parse(&more), expected, "{header:?} and a request");
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(command);
        out.push(family);
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn v1_headers() {
        let h = b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n";
        incremental(
            h,
            Parsed::Done {
                len: h.len(),
                source: addr("192.0.2.1:56324"),
            },
        );
        let h = b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
        incremental(
            h,
            Parsed::Done {
                len: h.len(),
                source: addr("[2001:db8::1]:1"),
            },
        );
        let h = b"PROXY UNKNOWN\r\n";
        incremental(
            h,
            Parsed::Done {
                len: h.len(),
                source: None,
            },
        );
        let h = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        incremental(
            h,
            Parsed::Done {
                len: h.len(),
                source: None,
            },
        );
        // The longest header there is (UNKNOWN with IPv6 addresses), at
        // the bound.
        let a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let h = format!("PROXY UNKNOWN {a} {a} 65535 65535\r\n");
        assert_eq!(h.len(), V1_MAX_BYTES);
        incremental(
            h.as_bytes(),
            Parsed::Done {
                len: h.len(),
                source: None,
            },
        );
        let h = format!("PROXY TCP6 {a} {a} 65535 65535\r\n");
        let source = Some(SocketAddr::new(a.parse().unwrap(), 65535));
        incremental(
            h.as_bytes(),
            Parsed::Done {
                len: h.len(),
                source,
            },
        );
    }

    #[test]
    fn v1_malformed() {
        for bad in [
            &b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\n"[..],
            b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\rX",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 56324\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443 1\r\n",
            b"PROXY TCP4  192.0.2.1 198.51.100.1 56324 443\r\n",
            b"PROXY TCP4 2001:db8::1 198.51.100.1 56324 443\r\n",
            b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 65536 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 -1 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 +1 443\r\n",
            b"PROXY TCP4 192.0.2.256 198.51.100.1 1 443\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.1 1 443\r\n",
            b"PROXY tcp4 192.0.2.1 198.51.100.1 1 443\r\n",
            b"PROXY\r\n",
            b"PROXY \r\n",
            b"PROXY TCP4 192.0.2.1\t198.51.100.1 1 443\r\n",
            b"PROXY TCP4 \xff",
            b"proxy TCP4",
            b"GET / HTTP/1.1\r\n",
            b"\x16\x03\x01",
            b"PROXX",
        ] {
            assert_eq!(
                parse(bad),
                Parsed::Invalid,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // No CRLF within 107 bytes.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX_BYTES, b'x');
        assert_eq!(parse(&long[..V1_MAX_BYTES - 1]), Parsed::NeedMore);
        assert_eq!(parse(&long), Parsed::Invalid);
        long.truncate(V1_MAX_BYTES - 1);
        long.push(b'\r');
        assert_eq!(
            parse(&long),
            Parsed::Invalid,
            "a CR at the bound leaves no room"
        );
        assert_eq!(parse(b""), Parsed::NeedMore);
    }

    #[test]
    fn v2_headers() {
        let ipv4 = [192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb];
        incremental(
            &v2(0x21, 0x11, &ipv4),
            Parsed::Done {
                len: 28,
                source: addr("192.0.2.1:56324"),
            },
        );
        // TLVs after the addresses are skipped.
        let mut with_tlv = ipv4.to_vec();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x03, b'a', b'b', b'c']);
        incremental(
            &v2(0x21, 0x11, &with_tlv),
            Parsed::Done {
                len: 34,
                source: addr("192.0.2.1:56324"),
            },
        );
        let mut ipv6 = [0u8; 36];
        ipv6[0] = 0x20;
        ipv6[1] = 0x01;
        ipv6[15] = 7;
        ipv6[32] = 0x12;
        ipv6[33] = 0x34;
        incremental(
            &v2(0x21, 0x21, &ipv6),
            Parsed::Done {
                len: 52,
                source: addr("[2001::7]:4660"),
            },
        );
        // LOCAL (health checks): the peer stands, whatever the body.
        incremental(
            &v2(0x20, 0x00, &[]),
            Parsed::Done {
                len: 16,
                source: None,
            },
        );
        incremental(
            &v2(0x20, 0x11, &ipv4),
            Parsed::Done {
                len: 28,
                source: None,
            },
        );
        // Unspecified family and Unix sockets carry no IP address.
        incremental(
            &v2(0x21, 0x00, &[1, 2, 3]),
            Parsed::Done {
                len: 19,
                source: None,
            },
        );
        incremental(
            &v2(0x21, 0x31, &[0; 216]),
            Parsed::Done {
                len: 232,
                source: None,
            },
        );
    }

    #[test]
    fn v2_malformed() {
        let ipv4 = [192, 0, 2, 1, 198, 51, 100, 1, 0, 1, 0, 2];
        for bad in [
            v2(0x11, 0x11, &ipv4),      // version 1 in a binary header
            v2(0x22, 0x11, &ipv4),      // unknown command
            v2(0x21, 0x41, &ipv4),      // unknown family
            v2(0x21, 0x13, &ipv4),      // unknown transport
            v2(0x21, 0x11, &ipv4[..8]), // too short for IPv4 addresses
            v2(0x21, 0x21, &ipv4),      // too short for IPv6 addresses
        ] {
            assert_eq!(parse(&bad), Parsed::Invalid, "{bad:?}");
        }
        // Longer than wharf accepts: refused from the length field on.
        let mut huge = v2(0x21, 0x11, &ipv4);
        huge[14..16].copy_from_slice(&(V2_MAX_BYTES as u16).to_be_bytes());
        assert_eq!(parse(&huge[..16]), Parsed::Invalid);
        // A broken signature.
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIX\n"), Parsed::Invalid);
        assert_eq!(parse(b"\r\n\r\n\0\r\nQU"), Parsed::NeedMore);
        assert_eq!(parse(b"\r\nGET"), Parsed::Invalid);
    }
}
