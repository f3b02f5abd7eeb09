//! Which destinations the default network refuses: loopback, "this host" (0.0.0.0/8, ::),
//! link-local (169.254.0.0/16, fe80::/10, where cloud metadata services live), multicast
//! and broadcast, every address of the host's own interfaces, and the ranges the user
//! lists (`--network-deny`). The host's DNS resolvers stay reachable on port 53: slirp4netns
//! forwards the step's DNS (10.0.2.3) to them.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use super::cidr::{unmapped, Cidr};
use super::NetPolicyError;

/// The port DNS resolvers are reachable on.
pub const DNS_PORT: u16 = 53;

/// Why a range is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Loopback,
    /// 0.0.0.0/8 and `::`: connecting there reaches the local host.
    ThisHost,
    LinkLocal,
    MulticastOrBroadcast,
    /// An address of one of the host's interfaces (named) when the network started.
    HostAddress {
        interface: String,
    },
    /// `--network-deny`.
    UserDenied,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Loopback => write!(f, "loopback addresses are refused"),
            Reason::ThisHost => write!(f, "the unspecified address (this host) is refused"),
            Reason::LinkLocal => write!(
                f,
                "link-local addresses (cloud metadata services) are refused"
            ),
            Reason::MulticastOrBroadcast => {
                write!(f, "multicast and broadcast addresses are refused")
            }
            Reason::HostAddress { interface } => {
                write!(f, "the host's own addresses are refused ({interface})")
            }
            Reason::UserDenied => write!(f, "listed with --network-deny"),
        }
    }
}

/// One refused range and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub cidr: Cidr,
    pub reason: Reason,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}: {}", self.cidr, self.reason)
    }
}

/// The default network's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Checked in order; the first match names the reason.
    pub rules: Vec<Rule>,
    /// Resolvers reachable on [`DNS_PORT`] even when a rule covers them.
    pub dns: Vec<IpAddr>,
}

fn fixed_rules() -> Vec<Rule> {
    let v4 = |a: [u8; 4]| IpAddr::from(a);
    let v6 = |a: [u16; 8]| IpAddr::from(a);
    [
        (v4([127, 0, 0, 0]), 8, Reason::Loopback),
        (v6([0, 0, 0, 0, 0, 0, 0, 1]), 128, Reason::Loopback),
        (v4([0, 0, 0, 0]), 8, Reason::ThisHost),
        (v6([0; 8]), 128, Reason::ThisHost),
        (v4([169, 254, 0, 0]), 16, Reason::LinkLocal),
        (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10, Reason::LinkLocal),
        (v4([224, 0, 0, 0]), 4, Reason::MulticastOrBroadcast),
        (v4([255, 255, 255, 255]), 32, Reason::MulticastOrBroadcast),
        (
            v6([0xff00, 0, 0, 0, 0, 0, 0, 0]),
            8,
            Reason::MulticastOrBroadcast,
        ),
    ]
    .into_iter()
    .filter_map(|(addr, prefix, reason)| {
        Some(Rule {
            cidr: Cidr::new(addr, prefix)?,
            reason,
        })
    })
    .collect()
}

impl NetworkPolicy {
    /// The policy from what the host has now: its interface addresses and the resolvers of
    /// `/etc/resolv.conf`, plus `user_denied`.
    pub fn for_host(user_denied: &[Cidr]) -> Result<NetworkPolicy, NetPolicyError> {
        let addrs = super::host_addrs::interface_addresses()?;
        let dns = super::host_addrs::resolvers(Path::new("/etc/resolv.conf"));
        Ok(NetworkPolicy::new(&addrs, dns, user_denied))
    }

    /// The policy for a host with these interface addresses and resolvers.
    pub fn new(
        host_addrs: &[(String, IpAddr)],
        dns: Vec<IpAddr>,
        user_denied: &[Cidr],
    ) -> NetworkPolicy {
        let mut rules = fixed_rules();
        for (interface, addr) in host_addrs {
            let addr = unmapped(*addr);
            if rules.iter().any(|r| r.cidr.contains(addr)) {
                continue;
            }
            rules.push(Rule {
                cidr: Cidr::host(addr),
                reason: Reason::HostAddress {
                    interface: interface.clone(),
                },
            });
        }
        for cidr in user_denied {
            rules.push(Rule {
                cidr: *cidr,
                reason: Reason::UserDenied,
            });
        }
        let mut dns: Vec<IpAddr> = dns.into_iter().map(unmapped).collect();
        dns.dedup();
        NetworkPolicy { rules, dns }
    }

    /// The rule that refuses `ip` (v4-mapped IPv6 addresses are checked as IPv4), if any.
    pub fn refusing(&self, ip: IpAddr) -> Option<&Rule> {
        let ip = unmapped(ip);
        self.rules.iter().find(|r| r.cidr.contains(ip))
    }

    /// The rule that refuses a connection to `ip` port `port` (a resolver on port 53 is
    /// allowed), if any.
    pub fn refusing_connection(&self, ip: IpAddr, port: u16) -> Option<&Rule> {
        if port == DNS_PORT && self.dns.contains(&unmapped(ip)) {
            return None;
        }
        self.refusing(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    fn policy() -> NetworkPolicy {
        NetworkPolicy::new(
            &[
                ("lo".into(), ip("127.0.0.1")),
                ("eth0".into(), ip("192.0.2.2")),
                ("eth0".into(), ip("fd00::2")),
                ("eth0".into(), ip("fe80::fc:ff:fe00:1")),
            ],
            vec![ip("127.0.0.53"), ip("10.255.255.53")],
            &["10.9.0.0/16".parse().expect("cidr")],
        )
    }

    #[test]
    fn refuses_host_loopback_link_local_and_user_ranges() {
        let p = policy();
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("0.0.0.0", "this host"),
            ("::", "this host"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("192.0.2.2", "own addresses are refused (eth0)"),
            ("::ffff:192.0.2.2", "own addresses are refused (eth0)"),
            ("fd00::2", "own addresses are refused (eth0)"),
            ("10.9.3.4", "--network-deny"),
            ("255.255.255.255", "broadcast"),
        ] {
            let rule = p
                .refusing(ip(addr))
                .unwrap_or_else(|| panic!("{addr} allowed"));
            assert!(rule.to_string().contains(why), "{addr}: {rule}");
        }
        for addr in [
            "151.101.2.132",
            "192.0.2.3",
            "fd00::3",
            "10.8.0.1",
            "2a04:4e42::644",
        ] {
            assert!(p.refusing(ip(addr)).is_none(), "{addr} refused");
        }
    }

    #[test]
    fn the_fixed_rules_are_all_there() {
        let fixed: Vec<String> = fixed_rules().iter().map(|r| r.cidr.to_string()).collect();
        assert_eq!(
            fixed,
            [
                "127.0.0.0/8",
                "::1/128",
                "0.0.0.0/8",
                "::/128",
                "169.254.0.0/16",
                "fe80::/10",
                "224.0.0.0/4",
                "255.255.255.255/32",
                "ff00::/8"
            ]
        );
    }

    #[test]
    fn resolvers_stay_reachable_on_port_53_only() {
        let p = policy();
        assert!(p.refusing_connection(ip("127.0.0.53"), 53).is_none());
        assert!(p.refusing_connection(ip("::ffff:127.0.0.53"), 53).is_none());
        assert!(p.refusing_connection(ip("127.0.0.53"), 80).is_some());
        assert!(p.refusing_connection(ip("127.0.0.1"), 53).is_some());
    }
}
