//! Address ranges (`10.0.0.0/8`, `fd00::/8`, or a single address) for the network policy.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and a prefix length. Host bits are cleared on
/// parsing (`10.1.2.3/8` is `10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{value:?} is not an IP address (expected e.g. 10.0.0.0/8, 192.0.2.7 or fd00::/8)")]
    Address { value: String },
    #[error("{value:?}: the prefix length {prefix:?} must be a number from 0 to {max}")]
    Prefix {
        value: String,
        prefix: String,
        max: u8,
    },
}

impl Cidr {
    /// `addr/prefix` with the host bits cleared; `None` when `prefix` is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = max_prefix(addr);
        if prefix > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Some(Cidr { addr, prefix })
    }

    /// The single address `addr` (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: max_prefix(addr),
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network (an IPv4 network never contains an IPv6 address:
    /// callers unmap `::ffff:a.b.c.d` first, see [`unmapped`]).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    /// An IPv4 network as the IPv6 network of its v4-mapped addresses (`::ffff:a.b.c.d`).
    pub fn v4_mapped(&self) -> Option<Cidr> {
        match self.addr {
            IpAddr::V4(a) => Some(Cidr {
                addr: IpAddr::V6(a.to_ipv6_mapped()),
                prefix: 96 + self.prefix,
            }),
            IpAddr::V6(_) => None,
        }
    }
}

/// `ip`, with a v4-mapped IPv6 address turned into its IPv4 address.
pub fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

pub(crate) fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

pub(crate) fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `ADDR/PREFIX`, or a bare address (one host).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::Address {
            value: s.to_owned(),
        })?;
        let max = max_prefix(addr);
        let Some(prefix) = prefix else {
            return Ok(Cidr::host(addr));
        };
        let bad = || CidrError::Prefix {
            value: s.to_owned(),
            prefix: prefix.to_owned(),
            max,
        };
        let n: u8 = prefix.parse().map_err(|_| bad())?;
        if !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Cidr::new(addr, n).ok_or_else(bad)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().expect(s)
    }

    #[test]
    fn parses_networks_and_single_addresses() {
        assert_eq!(c("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(c("192.0.2.7").to_string(), "192.0.2.7/32");
        assert_eq!(c("fd00::1/8").to_string(), "fd00::/8");
        assert_eq!(c("::1").to_string(), "::1/128");
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn refuses_what_is_not_a_network_with_the_value() {
        for (bad, what) in [
            ("10.0.0/8", "not an IP address"),
            ("example.com", "not an IP address"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("fd00::/129", "from 0 to 128"),
            ("10.0.0.0/+8", "from 0 to 32"),
            ("10.0.0.0/", "from 0 to 32"),
        ] {
            let msg = bad.parse::<Cidr>().expect_err(bad).to_string();
            assert!(msg.contains(bad) && msg.contains(what), "{msg}");
        }
    }

    #[test]
    fn contains_and_v4_mapped() {
        let n = c("169.254.0.0/16");
        assert!(n.contains("169.254.169.254".parse().expect("test value")));
        assert!(!n.contains("169.255.0.1".parse().expect("test value")));
        assert!(!n.contains("::ffff:169.254.1.1".parse().expect("test value")));
        assert!(n.contains(unmapped("::ffff:169.254.1.1".parse().expect("test value"))));
        let m = n.v4_mapped().expect("test value");
        assert_eq!(m.to_string(), "::ffff:169.254.0.0/112");
        assert!(m.contains("::ffff:169.254.1.1".parse().expect("test value")));
        assert!(c("0.0.0.0/0").contains("1.2.3.4".parse().expect("test value")));
        assert!(c("fe80::/10").contains("febf::1".parse().expect("test value")));
        assert!(!c("fe80::/10").contains("fec0::1".parse().expect("test value")));
    }
}
