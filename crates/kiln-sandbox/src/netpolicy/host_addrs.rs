//! What the host has: its interface addresses (getifaddrs) and its DNS resolvers.

// getifaddrs returns a C linked list; every unsafe block is commented.
#![allow(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::NetPolicyError;

/// Every IPv4 and IPv6 address of every interface of this network namespace, with the
/// interface's name.
pub fn interface_addresses() -> Result<Vec<(String, IpAddr)>, NetPolicyError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list it allocates into `head`; freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(NetPolicyError::Interfaces {
            source: std::io::Error::last_os_error(),
        });
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose family says its
        // real type; each arm reads only that type.
        let addr = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        sin.sin_addr.s_addr,
                    ))))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
                }
                _ => None,
            }
        };
        if let Some(addr) = addr {
            out.push((name, addr));
        }
    }
    // SAFETY: `head` came from getifaddrs and nothing refers to the list any more.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The `nameserver` addresses of a resolv.conf (missing or unreadable: none).
pub fn resolvers(resolv_conf: &Path) -> Vec<IpAddr> {
    let text = std::fs::read_to_string(resolv_conf).unwrap_or_default();
    parse_resolvers(&text)
}

fn parse_resolvers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|a| a.split('%').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# x\nsearch example\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n\
                    nameserver bogus\noptions edns0\n";
        let got = parse_resolvers(text);
        assert_eq!(
            got,
            vec![
                "127.0.0.53".parse::<IpAddr>().expect("test value"),
                "fe80::1".parse().expect("test value")
            ]
        );
    }

    #[test]
    fn this_host_has_loopback() {
        let addrs = interface_addresses().expect("getifaddrs");
        assert!(
            addrs.iter().any(|(n, a)| n == "lo" && a.is_loopback()),
            "{addrs:?}"
        );
    }
}
