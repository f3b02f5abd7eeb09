//! Networks of RUN steps (`--network`, `RUN --network=`) and the entitlements a Dockerfile
//! needs from the command line (`--allow network.host`, `--allow security.insecure`).

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use support::{assert_fails, s, TestEnv};

fn exported(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let root = env
        .path()
        .join(format!("rootfs-{}", name.replace(':', "-")));
    env.ok(&["export", name, "-o", s(&root)]);
    root
}

fn read(root: &std::path::Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn network_modes_give_steps_the_interfaces_docker_would() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN ls /sys/class/net > /default\n\
        RUN --network=none ls /sys/class/net > /none\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    env.ok(&["build", "-q", "-t", "net:default", s(&ctx)]);
    let root = exported(&env, "net:default");
    assert_eq!(
        read(&root, "default"),
        "lo\ntap0\n",
        "private network by default"
    );
    assert_eq!(read(&root, "none"), "lo\n", "RUN --network=none");

    env.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        "net:none",
        s(&ctx),
    ]);
    let root = exported(&env, "net:none");
    assert_eq!(
        read(&root, "default"),
        "lo\n",
        "--network none for every step"
    );

    env.ok(&[
        "build",
        "-q",
        "--network",
        "host",
        "-t",
        "net:host",
        s(&ctx),
    ]);
    let root = exported(&env, "net:host");
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("host interfaces")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    assert_eq!(
        read(&root, "default"),
        format!("{}\n", host.join("\n")),
        "--network host shares the host's interfaces"
    );
    assert_eq!(read(&root, "none"), "lo\n", "RUN --network=none still wins");

    let out = env.run(&["build", "-q", "--network", "bridge", s(&ctx)]);
    assert_fails(
        &out,
        2,
        &["--network", "\"bridge\"", "default, none or host"],
    );
}

#[test]
fn run_network_host_needs_the_entitlement_and_then_reaches_host_loopback() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().expect("accept");
        let mut b = [0u8; 3];
        c.read_exact(&mut b).expect("read");
        c.write_all(b"pong\n").expect("write");
        b
    });
    let dockerfile = format!(
        "FROM busybox:test\n\
         RUN --network=host echo hi | nc -w 5 127.0.0.1 {port} > /reply\n"
    );
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    let out = env.run(&["build", "-q", "-t", "hostnet:1", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "Dockerfile:2",
            "RUN --network=host is not allowed",
            "--allow network.host",
        ],
    );
    assert!(
        env.run(&["inspect", "hostnet:1"]).status.code() != Some(0),
        "nothing was built"
    );
    env.ok(&[
        "build",
        "-q",
        "--allow",
        "network.host",
        "-t",
        "hostnet:1",
        s(&ctx),
    ]);
    assert_eq!(&server.join().expect("server"), b"hi\n");
    let root = exported(&env, "hostnet:1");
    assert_eq!(read(&root, "reply"), "pong\n");
}

#[test]
fn run_security_insecure_needs_the_entitlement_and_then_runs_privileged() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN --security=insecure grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status > /status; \
            mkdir -p /mnt; if mount -t tmpfs t /mnt 2>/mount-err; then echo mounted; umount /mnt; else echo refused; fi > /mount\n\
        RUN grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status > /after\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let out = env.run(&["build", "-q", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "Dockerfile:2",
            "RUN --security=insecure is not allowed",
            "--allow security.insecure",
        ],
    );
    let out = env.run(&["build", "-q", "--allow", "security.everything", s(&ctx)]);
    assert_fails(
        &out,
        2,
        &["--allow \"security.everything\"", "network.host"],
    );
    env.ok(&[
        "build",
        "-q",
        "--allow",
        "security.insecure",
        "-t",
        "insecure:1",
        s(&ctx),
    ]);
    let root = exported(&env, "insecure:1");
    // Every capability kiln holds (this host withholds CAP_SYS_RESOURCE, for one).
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    let bounding = own
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd")
        .trim();
    let status = read(&root, "status");
    assert!(status.contains(&format!("CapEff:\t{bounding}")), "{status}");
    assert!(status.contains("Seccomp:\t0"), "{status}");
    assert!(status.contains("NoNewPrivs:\t0"), "{status}");
    assert_eq!(read(&root, "mount"), "mounted\n");
    let after = read(&root, "after");
    assert!(
        after.contains("Seccomp:\t2") && after.contains("NoNewPrivs:\t1"),
        "the next step is confined again: {after}"
    );
}

#[test]
fn steps_share_one_private_network_unless_they_could_reconfigure_it() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN readlink /proc/self/ns/net > /ns1; ls /sys/class/net > /if1\n\
        RUN readlink /proc/self/ns/net > /ns2; ls /sys/class/net > /if2\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let host_ns = std::fs::read_link("/proc/self/ns/net").expect("host netns");
    let host_ns = format!("{}\n", host_ns.display());

    env.ok(&["build", "-q", "-t", "ns:shared", s(&ctx)]);
    let root = exported(&env, "ns:shared");
    assert_eq!(
        read(&root, "ns1"),
        read(&root, "ns2"),
        "one namespace per build"
    );
    assert_ne!(read(&root, "ns1"), host_ns, "not the host's");
    assert_eq!(
        read(&root, "if2"),
        "lo\ntap0\n",
        "the second step has the network too"
    );

    // With CAP_NET_ADMIN a step could change the network for the steps after it: it gets a
    // namespace of its own, and its change stays there.
    let dockerfile = "FROM busybox:test\n\
        RUN busybox ip link set lo mtu 1300 && cat /sys/class/net/lo/mtu > /mtu1\n\
        RUN cat /sys/class/net/lo/mtu > /mtu2; ls /sys/class/net > /if2\n";
    let ctx = env.context("ctx-admin", &[("Dockerfile", dockerfile)]);
    env.ok(&[
        "build",
        "-q",
        "--cap-add",
        "NET_ADMIN",
        "-t",
        "ns:own",
        s(&ctx),
    ]);
    let root = exported(&env, "ns:own");
    assert_eq!(read(&root, "mtu1"), "1300\n");
    assert_eq!(
        read(&root, "mtu2"),
        "65536\n",
        "the next step's network is fresh"
    );
    assert_eq!(read(&root, "if2"), "lo\ntap0\n");
}
