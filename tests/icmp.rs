//! Pings from a step. A step holds CAP_NET_RAW (Docker's default set), so it can send ICMP
//! echo requests. The user-mode network (slirp4netns, or QEMU's for a guest) sends them
//! out through ping sockets where the host allows those (`net.ipv4.ping_group_range`, open
//! on most distributions), without `connect()`: the egress programs on its cgroup must drop
//! those to the host's own addresses, as the connect programs refuse TCP and UDP.

mod support;
#[path = "support/test_net.rs"]
mod test_net;

use support::{s, TestEnv};
use test_net::{host_addresses, TestNetns};

const PING_GROUPS: &str = "/proc/sys/net/ipv4/ping_group_range";

/// Ping sockets allowed to every group while alive (the user-mode network stacks then use
/// them, as on most distributions); the host's setting comes back on drop.
struct PingSockets(String);

impl PingSockets {
    fn open() -> PingSockets {
        let old = std::fs::read_to_string(PING_GROUPS).expect("ping_group_range");
        std::fs::write(PING_GROUPS, "0 2147483647").expect("open ping_group_range");
        PingSockets(old.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

impl Drop for PingSockets {
    fn drop(&mut self) {
        let _ = std::fs::write(PING_GROUPS, &self.0);
    }
}

#[test]
fn a_steps_pings_reach_an_allowed_address_but_not_the_hosts() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let _ping = PingSockets::open();
    let lan = TestNetns::new("10.214");
    let host = host_addresses()
        .0
        .expect("the host has a global IPv4 address");
    let ping = |to: &dyn std::fmt::Display, out: &str| {
        format!("ping -c 1 -W 5 {to} > /out/{out} 2>&1; echo rc=$? >> /out/{out}")
    };
    let dockerfile = format!(
        "FROM busybox:test\nRUN mkdir /out; {}; {}\n",
        ping(&lan.ns_addr, "allowed"),
        ping(&host, "host")
    );
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    for (tier, flags) in [("oci", vec![]), ("vm", vec!["--isolation", "vm"])] {
        let tag = format!("icmp:{tier}");
        let mut args = vec!["build", "-q", "--no-cache", "-t", &tag];
        args.extend(flags);
        args.push(s(&ctx));
        env.ok(&args);
        let root = env.path().join(format!("rootfs-{tier}"));
        env.ok(&["export", &tag, "-o", s(&root)]);
        let read = |p: &str| {
            std::fs::read_to_string(root.join("out").join(p))
                .unwrap_or_else(|e| panic!("{tier}: {p}: {e}"))
        };
        // Positive control: the same ping reaches an address the policy allows.
        let allowed = read("allowed");
        assert!(allowed.contains("1 packets received"), "{tier}: {allowed}");
        let to_host = read("host");
        assert!(to_host.contains("0 packets received"), "{tier}: {to_host}");
        assert!(to_host.contains("rc=1"), "{tier}: {to_host}");
    }
}
