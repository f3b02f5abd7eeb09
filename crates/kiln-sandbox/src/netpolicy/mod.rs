//! The default network's policy, enforced outside the step: slirp4netns (the only process
//! that talks to the outside for a private network) runs in a cgroup v2 directory of its
//! own with `BPF_PROG_TYPE_CGROUP_SOCK_ADDR` programs on connect (TCP, UDP) and UDP
//! sendmsg, for IPv4 and IPv6, and `BPF_PROG_TYPE_CGROUP_SKB` programs on egress that drop
//! ICMP to the same ranges (ping sockets send without connecting). QEMU's user network
//! runs in such a cgroup too. Nothing a step does inside its namespace (routes, netfilter,
//! raw or packet sockets) changes what slirp4netns may connect to.

mod cgroup2;
mod cidr;
mod host_addrs;
mod icmp;
#[cfg(test)]
mod interp;
mod policy;
mod program;

use std::path::PathBuf;

pub use cgroup2::{find_v2_mount, PolicyCgroup, MOUNTINFO};
pub use cidr::{unmapped, Cidr, CidrError};
pub use host_addrs::{interface_addresses, resolvers};
pub use policy::{NetworkPolicy, Reason, Rule, DNS_PORT};

/// Why the policy could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum NetPolicyError {
    #[error(
        "no cgroup v2 hierarchy is mounted (none in {mountinfo}); the default network filters \
         slirp4netns's connections with BPF programs on a cgroup v2 directory. Mount one \
         (mount -t cgroup2 none /sys/fs/cgroup/unified) or build with --network none"
    )]
    NoCgroup2 { mountinfo: PathBuf },
    #[error(
        "{op} the network policy's cgroup {path}: {source}; the default network needs a \
         writable cgroup v2 hierarchy (or build with --network none)"
    )]
    Cgroup {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "loading the network policy's BPF program {program}: {source} (verifier: {log}); \
         the kernel needs BPF_PROG_TYPE_CGROUP_SOCK_ADDR and packet access for \
         BPF_PROG_TYPE_CGROUP_SKB (Linux 5.2+) and kiln CAP_BPF or CAP_SYS_ADMIN; or build \
         with --network none"
    )]
    Load {
        program: &'static str,
        #[source]
        source: std::io::Error,
        log: String,
    },
    #[error(
        "attaching the network policy's BPF program {program} to {path}: {source}; or build \
         with --network none"
    )]
    Attach {
        program: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the network policy has {rules} ranges (the host's addresses and --network-deny), more \
         than its BPF program can hold; give fewer or wider --network-deny ranges"
    )]
    TooManyRules { rules: usize },
    #[error("listing the host's network interfaces (getifaddrs): {source}")]
    Interfaces {
        #[source]
        source: std::io::Error,
    },
}
