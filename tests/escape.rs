//! Escape attempts from RUN steps. Each test is named after the attack, runs it in a real
//! build, and checks that the host did not change (a sentinel outside the build, the host's
//! hostname, kernel settings, processes, listeners) and that the step saw the attack fail.

mod support;
#[path = "support/test_net.rs"]
mod test_net;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use support::TestEnv;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Build `dockerfile` (steps write what they observed under /out) and return the exported
/// root filesystem; the build must succeed.
fn build(env: &TestEnv, dockerfile: &str, extra: &[&str]) -> std::path::PathBuf {
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let mut args = vec!["build", "-q", "-t", "escape:1"];
    args.extend_from_slice(extra);
    args.push(s(&ctx));
    env.ok(&args);
    let root = env.path().join("rootfs");
    env.ok(&["export", "escape:1", "-o", s(&root)]);
    root
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn env_with_base() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    env
}

#[test]
fn workdir_proc_self_fd_cve_2024_21626() {
    let env = env_with_base();
    let sentinel = env.path().join("sentinel");
    std::fs::write(&sentinel, "host").expect("sentinel");
    for fd in 3..9 {
        let ctx = env.context(
            &format!("ctx{fd}"),
            &[(
                "Dockerfile",
                &format!("FROM busybox:test\nWORKDIR /proc/self/fd/{fd}\nRUN echo escaped > ../../../../../sentinel; ls ../../../ > /listing\n"),
            )],
        );
        let out = env.run(&["build", "-q", "-t", "fd:1", s(&ctx)]);
        // Whether the step fails (no such descriptor) or runs inside the image's own
        // /proc tree, the host file is untouched.
        let _ = out;
        assert_eq!(
            std::fs::read_to_string(&sentinel).expect("sentinel"),
            "host"
        );
    }
}

#[test]
fn write_proc_sysrq_trigger_and_proc_sys() {
    let env = env_with_base();
    let before = std::fs::read_to_string("/proc/sys/kernel/printk_ratelimit").expect("read");
    let root = build(
        &env,
        "FROM busybox:test\nRUN mkdir /out; \
         (echo h > /proc/sysrq-trigger) 2>/out/sysrq; echo $? >> /out/sysrq; \
         (echo 1234 > /proc/sys/kernel/printk_ratelimit) 2>/out/sys; echo $? >> /out/sys\n",
        &[],
    );
    assert!(
        !read(&root, "out/sys").ends_with("0\n"),
        "{}",
        read(&root, "out/sys")
    );
    assert!(
        !read(&root, "out/sysrq").ends_with("0\n"),
        "{}",
        read(&root, "out/sysrq")
    );
    let after = std::fs::read_to_string("/proc/sys/kernel/printk_ratelimit").expect("read");
    assert_eq!(before, after, "a kernel setting of the host changed");
}

#[test]
fn mount_a_filesystem() {
    let env = env_with_base();
    let root = build(
        &env,
        "FROM busybox:test\nRUN mkdir /out /mnt; if mount -t tmpfs t /mnt 2>/dev/null || mount --bind / /mnt 2>/dev/null; then echo mounted; else echo refused; fi > /out/r\n",
        &[],
    );
    assert_eq!(read(&root, "out/r"), "refused\n");
}

#[test]
fn load_a_kernel_module() {
    let env = env_with_base();
    let modules = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    let root = build(
        &env,
        "FROM busybox:test\nRUN mkdir /out; busybox head -c 4096 /bin/busybox > /x.ko; (busybox insmod /x.ko) 2>/out/r; echo $? >> /out/r\n",
        &[],
    );
    let r = read(&root, "out/r");
    assert!(!r.ends_with("\n0\n") && r.contains("not permitted"), "{r}");
    assert_eq!(
        std::fs::read_to_string("/proc/modules").unwrap_or_default(),
        modules
    );
}

#[test]
fn mknod_a_host_block_device_and_open_it() {
    let env = env_with_base();
    // The host's first disk; if the kernel lets the step open it, it could read the host.
    let parts = std::fs::read_to_string("/proc/partitions").expect("partitions");
    let (major, minor) = parts
        .lines()
        .skip(2)
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| (f[0].to_string(), f[1].to_string()))
        })
        .expect("a block device");
    let root = build(
        &env,
        &format!(
            "FROM busybox:test\nRUN mkdir /out; busybox mknod /disk b {major} {minor}; echo mknod=$? > /out/r; \
             (busybox head -c 512 /disk > /out/data) 2>>/out/r; echo open=$? >> /out/r\n"
        ),
        &[],
    );
    let r = read(&root, "out/r");
    assert!(
        r.contains("open=1"),
        "opening a host block device must fail: {r}"
    );
    assert_eq!(
        std::fs::metadata(root.join("out/data"))
            .map(|m| m.len())
            .unwrap_or(0),
        0
    );
}

#[test]
fn ptrace_a_host_process() {
    let env = env_with_base();
    let me = std::process::id();
    let root = build(
        &env,
        &format!(
            "FROM busybox:test\nRUN mkdir /out; ls /proc | grep -c '^[0-9]' > /out/n; \
             (test -e /proc/{me}/status && echo visible || echo hidden) > /out/host\n"
        ),
        &[],
    );
    assert_eq!(
        read(&root, "out/host"),
        "hidden\n",
        "the host's processes are not visible"
    );
    let n: u32 = read(&root, "out/n").trim().parse().expect("count");
    assert!(n <= 4, "only the step's own processes are visible, saw {n}");
}

#[test]
fn reboot_and_sethostname() {
    let env = env_with_base();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let root = build(
        &env,
        "FROM busybox:test\nRUN mkdir /out; (busybox reboot -f) 2>/out/reboot; echo $? >> /out/reboot; \
         hostname evil; hostname > /out/host\n",
        &[],
    );
    assert!(!read(&root, "out/reboot").ends_with("\n0\n"));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"),
        host,
        "the host's hostname is unchanged"
    );
}

#[test]
fn reach_a_host_loopback_listener() {
    let env = env_with_base();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let root = build(
        &env,
        &format!(
            "FROM busybox:test\nRUN mkdir /out; (echo hi | busybox nc -w 2 127.0.0.1 {port}) 2>/out/nc; echo $? >> /out/nc; \
             (echo hi | busybox nc -w 2 10.0.2.2 {port}) 2>>/out/nc; echo $? >> /out/nc\n"
        ),
        &[],
    );
    let mut accepted = false;
    if let Ok((mut c, _)) = listener.accept() {
        let mut b = [0u8; 8];
        accepted = c.read(&mut b).unwrap_or(0) > 0;
        let _ = c.write_all(b"x");
    }
    assert!(
        !accepted,
        "a step reached a listener on the host's loopback: {}",
        read(&root, "out/nc")
    );
}

#[test]
fn fork_bomb_under_pids_limit() {
    let env = env_with_base();
    // 200 processes at once, then the processes the step sees listed into /count without
    // forking again (`exec`).
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN i=0; while [ $i -lt 200 ]; do sleep 86470 & i=$((i+1)); done 2>/dev/null; \
             exec >/count; exec busybox find /proc -maxdepth 1 -name '[0-9]*'\n",
        )],
    );
    // Positive control: the default limit (2048) lets the step have its 200 processes.
    let root = build(
        &env,
        &std::fs::read_to_string(ctx.join("Dockerfile")).expect("Dockerfile"),
        &[],
    );
    let seen = read(&root, "count").lines().count();
    assert!(seen > 200, "{seen} processes under the default limit");
    // Under --pids-limit 32 the shell cannot fork the 33rd: the step fails.
    let out = env.run(&["build", "-q", "--no-cache", "--pids-limit", "32", s(&ctx)]);
    support::assert_fails(&out, 1, &["failed with exit code 2"]);
    let leftover = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("86470"))
        })
        .count();
    assert_eq!(leftover, 0, "the step's processes are gone");
}

#[test]
fn memory_hog_under_memory_limit() {
    let env = env_with_base();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN x=$(busybox head -c 268435456 /dev/zero | busybox tr '\\0' a); echo ${#x}\n",
        )],
    );
    let out = env.run(&["build", "-q", "--memory", "64m", "-t", "hog:1", s(&ctx)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the hog is stopped: {stderr}");
    assert!(
        stderr.contains("failed with signal 9") || stderr.contains("failed with exit code"),
        "{stderr}"
    );
}

#[test]
fn setuid_binary_gains_no_capabilities() {
    let env = env_with_base();
    let root = build(
        &env,
        "FROM busybox:test\nRUN mkdir -p /out /s && chmod 777 /out && cp /bin/busybox /s/grep && cp /bin/busybox /s/id && chmod 4755 /s/grep /s/id\n\
         USER app\nRUN /s/grep CapEff /proc/self/status > /out/caps; /s/id -u > /out/uid\n",
        &[],
    );
    assert!(
        read(&root, "out/caps").contains("0000000000000000"),
        "{}",
        read(&root, "out/caps")
    );
    assert_eq!(
        read(&root, "out/uid"),
        "1000\n",
        "setuid does not make the step root"
    );
}

#[test]
fn symlink_planted_in_a_layer_then_copy_through_it() {
    let env = env_with_base();
    let outside = env.path().join("outside");
    std::fs::create_dir(&outside).expect("outside");
    let ctx = env.context(
        "ctx",
        &[
            ("payload", "owned\n"),
            (
                "Dockerfile",
                &format!(
                    "FROM busybox:test\nRUN ln -s {} /planted\nCOPY payload /planted/payload\n",
                    outside.display()
                ),
            ),
        ],
    );
    env.ok(&["build", "-q", "-t", "planted:1", s(&ctx)]);
    assert!(
        !outside.join("payload").exists(),
        "COPY wrote through a planted symlink"
    );
    let root = env.path().join("rootfs");
    env.ok(&["export", "planted:1", "-o", s(&root)]);
    let inside = root
        .join(outside.strip_prefix("/").expect("absolute"))
        .join("payload");
    assert_eq!(
        std::fs::read_to_string(inside).expect("payload"),
        "owned\n",
        "it landed inside the image"
    );
}

#[test]
fn leaked_file_descriptors() {
    let env = env_with_base();
    let root = build(
        &env,
        "FROM busybox:test\nRUN mkdir /out; ls /proc/self/fd > /out/fds\n",
        &[],
    );
    let listing = read(&root, "out/fds");
    let fds: Vec<&str> = listing.lines().collect();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "only stdio (and ls's own directory)"
    );
}

#[test]
fn raw_socket_sniffing_sees_no_host_traffic() {
    const MARKER: &str = "KILN-HOST-TRAFFIC-MARKER";
    let env = env_with_base();
    let gcc = support::tool("gcc", "gcc");
    let ctx = env.context(
        "ctx-sniff",
        &[(
            "Dockerfile",
            &format!("FROM busybox:test\nCOPY sniff /sniff\nRUN mkdir -p /out && /sniff {MARKER} 3 > /out/sniff\n"),
        )],
    );
    let sniff = ctx.join("sniff");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/sniff.c");
    support::run_ok(
        std::process::Command::new(gcc)
            .args(["-static", "-O2", "-o"])
            .arg(&sniff)
            .arg(&source),
    );
    // Host traffic while the step runs: datagrams carrying the marker to the host's
    // loopback and to each of its addresses.
    let mut targets = vec!["127.0.0.1".to_string()];
    if let Ok(out) = std::process::Command::new("hostname").arg("-I").output() {
        targets.extend(
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
                .map(str::to_string),
        );
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for t in &targets {
                    let _ = sock.send_to(MARKER.as_bytes(), (t.as_str(), 9));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    // Control: the same sniffer on the host does see the traffic.
    let control = support::run_ok(std::process::Command::new(&sniff).args([MARKER, "1"]));
    let built = env.run(&["build", "-q", "-t", "escape:1", s(&ctx)]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().expect("sender");
    assert!(
        control.starts_with("socket-open") && !control.contains("marker-seen=0"),
        "the sniffer works on the host: {control}"
    );
    assert_eq!(built.status.code(), Some(0), "{}", support::show(&built));
    let root = env.path().join("rootfs");
    env.ok(&["export", "escape:1", "-o", s(&root)]);
    assert_eq!(
        read(&root, "out/sniff"),
        "socket-open marker-seen=0\n",
        "a raw socket in a step (CAP_NET_RAW, as in Docker) sees only the step's own network"
    );
}

#[test]
fn raw_tcp_syn_frames_cannot_reach_the_host_address() {
    // A step holding CAP_NET_RAW (Docker's default set) writes Ethernet frames by hand on
    // tap0, past its own routes and netfilter: they reach slirp4netns, which connects on
    // the host's side. The policy is checked there, on slirp4netns's cgroup.
    let env = env_with_base();
    let gcc = support::tool("gcc", "gcc");
    let lan = test_net::TestNetns::new("10.213");
    let allowed = lan.serve();
    let (v4, _) = test_net::host_addresses();
    let v4 = v4.expect("the host has a global IPv4 address");
    let host = test_net::Server::on_host(&format!("{v4}:0"));
    let ctx = env.context(
        "ctx-rawsyn",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox:test\nCOPY rawsyn /rawsyn\n\
                 RUN /rawsyn tap0 {} {} && /rawsyn tap0 {v4} {} && sleep 1\n",
                lan.ns_addr,
                allowed.port(),
                host.port()
            ),
        )],
    );
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/rawsyn.c");
    support::run_ok(
        std::process::Command::new(gcc)
            .args(["-static", "-O2", "-o"])
            .arg(ctx.join("rawsyn"))
            .arg(&source),
    );
    env.ok(&["build", "-q", "--no-cache", s(&ctx)]);
    // Positive control: the hand-made SYN to an allowed address was carried out.
    assert!(
        allowed.accepted() > 0,
        "the raw SYN did not reach the allowed server"
    );
    assert_eq!(
        host.accepted(),
        0,
        "a raw SYN from the step reached the host's own address"
    );
}
