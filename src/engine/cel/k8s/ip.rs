//! The Kubernetes IP and CIDR libraries (`ip.go`, `cidr.go`): parsing with Go's `netip` rules
//! (no IPv4 octets with leading zeros, no zones, no IPv4-mapped IPv6), canonical forms
//! (RFC 5952 for IPv6), address classes, and prefix containment.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cel::common::types::{CelBool, CelInt, CelString};
use cel::{DeclarationError, Env, ExecutionError};

use super::types::{opaque_val, CIDR_TYPE, IP_TYPE};

/// An IP address value (`net.IP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip(pub IpAddr);

opaque_val!(Ip, IP_TYPE);

/// A CIDR value (`net.CIDR`): an address and a prefix length, host bits kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written (`cidr('10.0.0.1/8').ip()` is `10.0.0.1`).
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub bits: u8,
}

opaque_val!(Cidr, CIDR_TYPE);

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => f.write_str(&ipv6_canonical(a)),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ip(self.addr), self.bits)
    }
}

/// RFC 5952 text of an IPv6 address, as Go prints it: lowercase hex groups, the longest run of
/// two or more zero groups (the first on a tie) as `::`, never a dotted IPv4 tail.
pub fn ipv6_canonical(addr: Ipv6Addr) -> String {
    let groups = addr.segments();
    let (mut best_start, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < groups.len() {
        if groups[i] == 0 {
            let start = i;
            while i < groups.len() && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best_start, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    let hex = |g: &[u16]| g.iter().map(|x| format!("{x:x}")).collect::<Vec<_>>().join(":");
    if best_len < 2 {
        return hex(&groups);
    }
    format!(
        "{}::{}",
        hex(&groups[..best_start]),
        hex(&groups[best_start + best_len..])
    )
}

/// Parses an address the way the Kubernetes library does; the error says why it is refused.
pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    if text.contains('%') {
        return Err(format!("IP address {text:?} with zone value is not allowed"));
    }
    let addr: IpAddr = text
        .parse()
        .map_err(|_| format!("IP Address {text:?} parse error during conversion from string"))?;
    if let IpAddr::V6(v6) = addr {
        if v6.to_ipv4_mapped().is_some() {
            return Err(format!("IPv4-mapped IPv6 address {text:?} is not allowed"));
        }
    }
    Ok(addr)
}

/// Parses `addr/bits` as Go's `netip.ParsePrefix` does (decimal bits without sign or leading
/// zero, at most the address length), refusing IPv4-mapped IPv6 addresses.
pub fn parse_cidr(text: &str) -> Result<Cidr, String> {
    let bad = |why: &str| format!("network address parse error during conversion from string: {text:?}: {why}");
    let (addr, bits) = text.rsplit_once('/').ok_or_else(|| bad("no '/'"))?;
    if addr.contains('%') {
        return Err(bad("a zone is not allowed"));
    }
    let addr: IpAddr = addr.parse().map_err(|_| bad("bad address"))?;
    let valid_digits =
        !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) && !(bits.len() > 1 && bits.starts_with('0'));
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits: u8 = match bits.parse::<u8>() {
        Ok(b) if valid_digits && b <= max => b,
        _ => return Err(bad("bad bits after slash")),
    };
    if let IpAddr::V6(v6) = addr {
        if v6.to_ipv4_mapped().is_some() {
            return Err(format!("IPv4-mapped IPv6 address {text:?} is not allowed"));
        }
    }
    Ok(Cidr { addr, bits })
}

fn to_bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

impl Cidr {
    /// The same prefix with the host bits cleared.
    #[must_use]
    pub fn masked(self) -> Cidr {
        let (value, width) = to_bits(self.addr);
        let host_bits = u32::from(width - self.bits);
        let mask = if host_bits >= 128 { 0 } else { u128::MAX << host_bits };
        let kept = value & mask;
        let addr = if width == 32 {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(kept).unwrap_or(0)))
        } else {
            IpAddr::V6(Ipv6Addr::from(kept))
        };
        Cidr { addr, bits: self.bits }
    }

    /// Whether `addr` (of the same family) lies in this prefix.
    pub fn contains_ip(self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4() && Cidr { addr, bits: self.bits }.masked().addr == self.masked().addr
    }

    /// Whether `other` (of the same family) is this prefix or a narrower one inside it.
    pub fn contains_cidr(self, other: Cidr) -> bool {
        self.bits <= other.bits && self.contains_ip(other.addr)
    }
}

/// Go's `netip.Addr` classes.
fn is_multicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.octets()[0] >> 4 == 0xe,
        IpAddr::V6(a) => a.segments()[0] >> 8 == 0xff,
    }
}

fn is_link_local_unicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.octets()[..2] == [169, 254],
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn is_link_local_multicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.octets()[..3] == [224, 0, 0],
        IpAddr::V6(a) => a.segments()[0] & 0xff0f == 0xff02,
    }
}

fn is_global_unicast(addr: IpAddr) -> bool {
    if let IpAddr::V4(a) = addr {
        if a.is_unspecified() || a.is_broadcast() {
            return false;
        }
    }
    !addr.is_unspecified() && !addr.is_loopback() && !is_multicast(addr) && !is_link_local_unicast(addr)
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_overload!(env, fn to_ip: (CelString) -> Result<Ip>, name = "ip")?;
    cel::add_overload!(env, fn is_ip: (CelString) -> CelBool, name = "isIP")?;
    cel::add_overload!(env, fn is_canonical: (CelString) -> Result<CelBool>, name = "ip.isCanonical")?;
    cel::add_overload!(env, fn ip_string: (Ip) -> CelString, name = "string")?;
    cel::add_member_overload!(env, fn family: (Ip) -> CelInt)?;
    cel::add_member_overload!(env, fn is_unspecified: (Ip) -> CelBool)?;
    cel::add_member_overload!(env, fn is_loopback: (Ip) -> CelBool)?;
    cel::add_member_overload!(env, fn is_link_local_multicast_fn: (Ip) -> CelBool, name = "isLinkLocalMulticast")?;
    cel::add_member_overload!(env, fn is_link_local_unicast_fn: (Ip) -> CelBool, name = "isLinkLocalUnicast")?;
    cel::add_member_overload!(env, fn is_global_unicast_fn: (Ip) -> CelBool, name = "isGlobalUnicast")?;

    cel::add_overload!(env, fn to_cidr: (CelString) -> Result<Cidr>, name = "cidr")?;
    cel::add_overload!(env, fn is_cidr: (CelString) -> CelBool, name = "isCIDR")?;
    cel::add_overload!(env, fn cidr_string: (Cidr) -> CelString, name = "string")?;
    cel::add_member_overload!(env, fn contains_ip_ip: (Cidr, Ip) -> CelBool, name = "containsIP")?;
    cel::add_member_overload!(env, fn contains_ip_string: (Cidr, CelString) -> Result<CelBool>, name = "containsIP")?;
    cel::add_member_overload!(env, fn contains_cidr_cidr: (Cidr, Cidr) -> CelBool, name = "containsCIDR")?;
    cel::add_member_overload!(env, fn contains_cidr_string: (Cidr, CelString) -> Result<CelBool>,
        name = "containsCIDR")?;
    cel::add_member_overload!(env, fn cidr_ip: (Cidr) -> Ip, name = "ip")?;
    cel::add_member_overload!(env, fn prefix_length: (Cidr) -> CelInt)?;
    cel::add_member_overload!(env, fn masked: (Cidr) -> Cidr)?;
    Ok(())
}

fn to_ip(text: &CelString<'_>) -> Result<Ip, ExecutionError> {
    parse_ip(text.inner())
        .map(Ip)
        .map_err(|e| ExecutionError::function_error("ip", e))
}

fn is_ip(text: &CelString<'_>) -> CelBool {
    CelBool::from(parse_ip(text.inner()).is_ok())
}

fn is_canonical(text: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let addr = parse_ip(text.inner()).map_err(|e| ExecutionError::function_error("ip.isCanonical", e))?;
    Ok(CelBool::from(Ip(addr).to_string() == text.inner()))
}

fn ip_string(ip: &Ip) -> CelString<'static> {
    ip.to_string().into()
}

fn family(ip: &Ip) -> CelInt {
    CelInt::from(if ip.0.is_ipv4() { 4 } else { 6 })
}

fn is_unspecified(ip: &Ip) -> CelBool {
    CelBool::from(ip.0.is_unspecified())
}

fn is_loopback(ip: &Ip) -> CelBool {
    CelBool::from(ip.0.is_loopback())
}

fn is_link_local_multicast_fn(ip: &Ip) -> CelBool {
    CelBool::from(is_link_local_multicast(ip.0))
}

fn is_link_local_unicast_fn(ip: &Ip) -> CelBool {
    CelBool::from(is_link_local_unicast(ip.0))
}

fn is_global_unicast_fn(ip: &Ip) -> CelBool {
    CelBool::from(is_global_unicast(ip.0))
}

fn to_cidr(text: &CelString<'_>) -> Result<Cidr, ExecutionError> {
    parse_cidr(text.inner()).map_err(|e| ExecutionError::function_error("cidr", e))
}

fn is_cidr(text: &CelString<'_>) -> CelBool {
    CelBool::from(parse_cidr(text.inner()).is_ok())
}

fn cidr_string(cidr: &Cidr) -> CelString<'static> {
    cidr.to_string().into()
}

fn contains_ip_ip(cidr: &Cidr, ip: &Ip) -> CelBool {
    CelBool::from(cidr.contains_ip(ip.0))
}

fn contains_ip_string(cidr: &Cidr, text: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let addr = parse_ip(text.inner()).map_err(|e| ExecutionError::function_error("containsIP", e))?;
    Ok(CelBool::from(cidr.contains_ip(addr)))
}

fn contains_cidr_cidr(cidr: &Cidr, other: &Cidr) -> CelBool {
    CelBool::from(cidr.contains_cidr(*other))
}

fn contains_cidr_string(cidr: &Cidr, text: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let other = parse_cidr(text.inner()).map_err(|e| ExecutionError::function_error("containsCIDR", e))?;
    Ok(CelBool::from(cidr.contains_cidr(other)))
}

fn cidr_ip(cidr: &Cidr) -> Ip {
    Ip(cidr.addr)
}

fn prefix_length(cidr: &Cidr) -> CelInt {
    CelInt::from(i64::from(cidr.bits))
}

fn masked(cidr: &Cidr) -> Cidr {
    cidr.masked()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_canonical_forms_follow_rfc_5952() {
        for (text, canonical) in [
            ("2001:DB8::ABCD", "2001:db8::abcd"),
            ("2001:db8::0:0:0:abcd", "2001:db8::abcd"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("0:0:0:0:0:0:0:0", "::"),
            ("::1", "::1"),
            ("fe80::", "fe80::"),
            ("::1.2.3.4", "::102:304"),
        ] {
            let Ok(IpAddr::V6(a)) = parse_ip(text) else {
                panic!("{text} should parse");
            };
            assert_eq!(ipv6_canonical(a), canonical, "{text}");
        }
    }

    #[test]
    fn refused_addresses() {
        for text in [
            "127.0.0.256",
            ":::1",
            "127.0.0.01",
            "::ffff:1.2.3.4",
            "fe80::1%eth0",
            "",
            " 1.2.3.4",
        ] {
            assert!(parse_ip(text).is_err(), "{text}");
        }
    }

    #[test]
    fn cidr_masking_and_containment() {
        let c = parse_cidr("192.168.0.1/24").expect("valid");
        assert_eq!(c.to_string(), "192.168.0.1/24");
        assert_eq!(c.masked().to_string(), "192.168.0.0/24");
        assert_eq!(
            parse_cidr("10.1.2.3/0").expect("valid").masked().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            parse_cidr("2001:db8::1/32").expect("valid").masked().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_cidr("::1/128").expect("valid").masked().to_string(), "::1/128");
        let wide = parse_cidr("10.0.0.0/8").expect("valid");
        assert!(wide.contains_cidr(parse_cidr("10.1.0.0/16").expect("valid")));
        assert!(!parse_cidr("10.1.0.0/16").expect("valid").contains_cidr(wide));
        assert!(!wide.contains_ip("::a00:1".parse().expect("v6")), "families differ");
        for bad in [
            "192.168.0.0/33",
            "::1/129",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0",
            "10.0.0.0/",
            "::ffff:1.2.3.4/120",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }
}
