//! The default network under `--isolation vm`: the guest's NIC is QEMU's user-mode
//! network, and QEMU runs in the network policy's cgroup, so a step reaches the outside
//! (the Debian mirror) but not the host's loopback services (QEMU's 10.0.2.2 alias for
//! them) nor the host's own addresses.

mod support;
#[path = "support/test_net.rs"]
mod test_net;

use std::net::{IpAddr, Ipv4Addr};
use support::{s, TestEnv};
use test_net::{fetch_from_host, host_addresses, probe, Server, PONG};

/// deb.debian.org's HTTP status line, fetched from the step (nc's input stays open until
/// the answer is in: the mirror's front end closes a half-closed connection first).
const MIRROR: &str = "{ printf 'GET /debian/ HTTP/1.1\\r\\nHost: deb.debian.org\\r\\nConnection: close\\r\\n\\r\\n'; \
     i=0; while [ $i -lt 200 ] && [ ! -s /tmp/resp ]; do sleep 0.1; i=$((i+1)); done; } \
     | nc -w 20 deb.debian.org 80 > /tmp/resp; head -1 /tmp/resp > /mirror";

#[test]
fn a_vm_step_reaches_the_mirror_but_not_the_hosts_loopback_or_addresses() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let server = Server::on_host("0.0.0.0:0");
    let port = server.port();
    let v4 = host_addresses()
        .0
        .expect("the host has a global IPv4 address");
    let gateway = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2));
    // Positive control: the host reaches the listener on loopback and on its address.
    assert!(fetch_from_host((Ipv4Addr::LOCALHOST, port).into()).contains("pong"));
    assert!(fetch_from_host((v4, port).into()).contains("pong"));
    let dockerfile = format!(
        "FROM busybox:test\nRUN {MIRROR}\nRUN {}\nRUN {}\n",
        probe(gateway, port, "/loopback"),
        probe(v4, port, "/address")
    );
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    env.ok(&["build", "-q", "--isolation", "vm", "-t", "net:vm", s(&ctx)]);
    let root = env.path().join("rootfs");
    env.ok(&["export", "net:vm", "-o", s(&root)]);
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    // The guest's network works: the mirror answered.
    assert!(read("mirror").starts_with("HTTP/1."), "{}", read("mirror"));
    for probe in ["loopback", "address"] {
        let got = read(probe);
        assert!(!got.contains(PONG.trim()), "{probe}: {got}");
        assert!(got.contains("rc=1"), "{probe}: {got}");
    }
    assert_eq!(
        server.accepted(),
        2,
        "only the host's own two fetches arrived"
    );
}

/// In a guest with a NIC, `RUN --network=none` gets only loopback; the step before it,
/// in the same guest, sees the NIC (the control). Without the NIC, the step would share
/// the guest's namespace as the steps of a guest without one do.
#[test]
fn run_network_none_in_a_vm_with_a_network_has_only_loopback() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\nRUN mkdir /out && ls /sys/class/net > /out/default\n\
                      RUN --network=none ls /sys/class/net > /out/none\n";
    let ctx = env.context("ctx-none", &[("Dockerfile", dockerfile)]);
    env.ok(&[
        "build",
        "-q",
        "--isolation",
        "vm",
        "-t",
        "net:none",
        s(&ctx),
    ]);
    let root = env.path().join("rootfs-none");
    env.ok(&["export", "net:none", "-o", s(&root)]);
    let read = |p: &str| std::fs::read_to_string(root.join("out").join(p)).expect(p);
    assert_eq!(
        read("default").split_whitespace().collect::<Vec<_>>(),
        ["eth0", "lo"]
    );
    assert_eq!(read("none").split_whitespace().collect::<Vec<_>>(), ["lo"]);
}
