//! The sandbox's networks: `NetworkMode::Private` (slirp4netns: addresses, DNS, reaching
//! outside but neither the host's loopback nor its own addresses, even for a step holding
//! NET_ADMIN and NET_RAW; the helper's lifetime) and `NetworkMode::Host`.
//! Needs root, busybox-static and slirp4netns.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_sandbox::{Confinement, NetworkMode, SandboxError};

use common::*;

#[test]
fn network_private_has_tap0_with_slirp_address_route_and_dns() {
    require_slirp4netns();
    let _lock = slirp_lock();
    let rootfs = Rootfs::new();
    let o = run_with(
        &rootfs,
        spec(
            "ls /sys/class/net | tr '\\n' ' '; echo; cat /sys/class/net/tap0/mtu; \
             ip -4 addr show dev tap0; ip route; cat /proc/net/route; cat /etc/resolv.conf",
        ),
        private(),
    );
    assert!(o.exit.success(), "{}", o.stderr);
    let out = &o.stdout;
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("lo tap0 "), "{out}");
    assert_eq!(lines.next(), Some("65520"), "{out}");
    assert!(out.contains("inet 10.0.2.100/24"), "{out}");
    assert!(out.contains("default via 10.0.2.2 dev tap0"), "{out}");
    // /proc/net/route: destination 0, gateway 10.0.2.2 (little-endian hex).
    assert!(
        out.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[0] == "tap0" && f[1] == "00000000" && f[2] == "0202000A"
        }),
        "{out}"
    );
    // The caller's resolv.conf (192.0.2.53) is replaced by slirp's DNS.
    assert!(out.ends_with("nameserver 10.0.2.3\n"), "{out}");
    assert!(!out.contains("192.0.2.53"), "{out}");
    assert_no_slirp_left("after a successful step");
}

#[test]
fn network_private_resolves_and_reaches_outside_through_slirp() {
    require_slirp4netns();
    // Only Debian's mirror: a DNS lookup through slirp's forwarder, then the
    // headers of one file (HEAD with nc: busybox 1.35's static wget crashes;
    // nc's stdin stays open until the answer is in, or nc would hang up).
    use std::net::ToSocketAddrs;
    if let Err(e) = ("deb.debian.org", 80).to_socket_addrs() {
        println!("skipped: this host cannot resolve deb.debian.org ({e})");
        return;
    }
    let _lock = slirp_lock();
    let rootfs = Rootfs::new();
    let o = run_with(
        &rootfs,
        spec(
            "set -e; nslookup deb.debian.org 10.0.2.3 > /tmp/ns; cat /tmp/ns; \
             a=$(grep -E '^Address: [0-9.]+$' /tmp/ns | head -n 1); a=${a#Address: }; \
             { printf 'HEAD /debian/dists/bookworm/Release HTTP/1.1\\r\\nHost: deb.debian.org\\r\\nConnection: close\\r\\n\\r\\n'; \
               i=0; while [ $i -lt 200 ] && [ ! -s /tmp/resp ]; do sleep 0.1; i=$((i+1)); done; } \
               | nc -w 20 \"$a\" 80 > /tmp/resp; head -n 1 /tmp/resp",
        ),
        private(),
    );
    assert!(
        o.exit.success(),
        "stdout: {}\nstderr: {}",
        o.stdout,
        o.stderr
    );
    assert!(o.stdout.contains("deb.debian.org"), "{}", o.stdout);
    assert!(o.stdout.contains("Name:\tdeb.debian.org"), "{}", o.stdout);
    assert!(o.stdout.ends_with(" 200 OK\r\n"), "{}", o.stdout);
    assert_no_slirp_left("after a successful step");
}

/// A host IPv4 address that is not loopback, if the host has one.
fn host_global_ipv4() -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut f = l.split_whitespace();
        f.find(|w| *w == "inet")?;
        Some(f.next()?.split('/').next()?.to_owned())
    })
}

/// Accept connections on `listener` in the background; count them.
fn count_accepts(listener: std::net::TcpListener) -> Arc<Mutex<u32>> {
    let n = Arc::new(Mutex::new(0));
    let counter = n.clone();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(b"hello from the host\n");
            *counter.lock().expect("lock") += 1;
        }
    });
    n
}

/// A shell loop printing `ADDR open` or `ADDR closed` for each `(addr, port)`.
fn probes(targets: &[(String, u16)]) -> String {
    targets
        .iter()
        .map(|(a, p)| {
            format!(
                "if nc -w 3 {a} {p} </dev/null >/dev/null; then echo \"{a} open\"; else echo \"{a} closed\"; fi; "
            )
        })
        .collect()
}

#[test]
fn network_private_reaches_neither_host_loopback_nor_host_addresses() {
    require_slirp4netns();
    let _lock = slirp_lock();
    let lo = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let lo_port = lo.local_addr().expect("addr").port();
    let lo_accepts = count_accepts(lo);
    let ip = host_global_ipv4().expect("the host has a global IPv4 address");
    let host = std::net::TcpListener::bind((ip.as_str(), 0)).expect("listen on the host address");
    let host_port = host.local_addr().expect("addr").port();
    let host_accepts = count_accepts(host);
    let rootfs = Rootfs::new();
    // Positive control: on the host's network both listeners answer the same probes.
    let script = probes(&[("127.0.0.1".into(), lo_port), (ip.clone(), host_port)]);
    let c = Confinement {
        network: NetworkMode::Host,
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec(&script), c);
    assert_eq!(
        o.stdout,
        format!("127.0.0.1 open\n{ip} open\n"),
        "{}",
        o.stderr
    );
    assert_eq!(*lo_accepts.lock().expect("lock"), 1);
    assert_eq!(*host_accepts.lock().expect("lock"), 1);

    let script = probes(&[
        ("10.0.2.2".into(), lo_port),
        ("127.0.0.1".into(), lo_port),
        (ip.clone(), host_port),
    ]);
    let o = run_with(&rootfs, spec(&script), private());
    assert!(o.exit.success(), "{}", o.stderr);
    assert_eq!(
        o.stdout,
        format!("10.0.2.2 closed\n127.0.0.1 closed\n{ip} closed\n"),
        "{}",
        o.stderr
    );
    assert_eq!(*lo_accepts.lock().expect("lock"), 1, "no new connection");
    assert_eq!(*host_accepts.lock().expect("lock"), 1, "no new connection");
    assert_no_slirp_left("after a successful step");
}

#[test]
fn network_policy_holds_against_a_step_with_net_admin_and_net_raw() {
    // The policy is not in the step's namespace (no route, no netfilter rule there): it is
    // a BPF program on slirp4netns's own cgroup v2 directory. A step that may reconfigure
    // its network (NET_ADMIN) and send raw frames (NET_RAW) still only talks to
    // slirp4netns, whose connections are checked outside.
    require_slirp4netns();
    let _lock = slirp_lock();
    let ip = host_global_ipv4().expect("the host has a global IPv4 address");
    let host = std::net::TcpListener::bind((ip.as_str(), 0)).expect("listen on the host address");
    let port = host.local_addr().expect("addr").port();
    let accepts = count_accepts(host);
    let rootfs = Rootfs::new();
    let mut c = private();
    c.capabilities
        .extend(["CAP_NET_ADMIN".into(), "CAP_NET_RAW".into()]);
    // While the step runs, slirp4netns is in a kiln-net-* cgroup (v2).
    let script = format!(
        "ip route add {ip}/32 via 10.0.2.2 dev tap0 && echo routed; \
         {} \
         sleep 0.5",
        probes(&[(ip.clone(), port)])
    );
    let me = std::process::id();
    let (o, cgroups) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                for (pid, _) in slirp_children_of(me) {
                    if let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
                        if cg.contains("kiln-net-") {
                            return cg;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            String::new()
        });
        let o = run_with(&rootfs, spec(&script), c);
        (o, watcher.join().expect("watcher"))
    });
    assert!(o.exit.success(), "{}", o.stderr);
    assert!(
        o.stdout.starts_with("routed\n"),
        "the step could change its routes: {}",
        o.stdout
    );
    assert!(o.stdout.contains(&format!("{ip} closed\n")), "{}", o.stdout);
    assert_eq!(*accepts.lock().expect("lock"), 0);
    let line = cgroups
        .lines()
        .find(|l| l.starts_with("0::/kiln-net-"))
        .unwrap_or_else(|| panic!("slirp4netns not in a policy cgroup: {cgroups:?}"));
    let dir = std::path::Path::new("/sys/fs/cgroup/unified").join(&line[4..]);
    assert_no_slirp_left("after the step");
    assert!(!dir.exists(), "{} is removed after the step", dir.display());
}

#[test]
fn network_private_slirp4netns_runs_during_the_step_and_is_reaped_after() {
    require_slirp4netns();
    let _lock = slirp_lock();
    let rootfs = Rootfs::new();
    let me = std::process::id();
    let seen = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if slirp_children_of(me).iter().any(|(_, st)| *st != 'Z') {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        });
        let o = run_with(&rootfs, spec("sleep 1; exit 3"), private());
        assert_eq!(o.exit.code, Some(3), "{}", o.stderr);
        watcher.join().expect("watcher")
    });
    assert!(seen, "no slirp4netns ran during the step");
    assert_no_slirp_left("after a failing step");

    // A setup failure after slirp4netns started (missing cwd).
    let mut p = spec("true");
    p.cwd = "/does/not/exist".into();
    let r = try_run_with(&rootfs, p, private());
    match r {
        Err(SandboxError::Setup { .. }) => {}
        Err(e) => panic!("expected a setup error, got {e}"),
        Ok(o) => panic!("expected a setup error, got {:?}", o.exit),
    }
    assert_no_slirp_left("after a setup failure");
}

#[test]
fn network_host_sees_host_interfaces() {
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("host /sys/class/net")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let rootfs = Rootfs::new();
    let c = Confinement {
        network: NetworkMode::Host,
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec("ls /sys/class/net"), c);
    assert!(o.exit.success(), "{}", o.stderr);
    let mut seen: Vec<String> = o.stdout.split_whitespace().map(String::from).collect();
    seen.sort();
    assert_eq!(seen, host);
}

/// Run `busybox nc ARGS` with `input`, first moving it into the cgroup of `procs` (a
/// `cgroup.procs` path) when given; true when nc succeeded.
fn nc_in(procs: Option<&std::path::Path>, args: &str, input: &str) -> bool {
    let join = procs.map_or(String::new(), |p| format!("echo $$ > {} && ", p.display()));
    std::process::Command::new(busybox())
        .args(["sh", "-c"])
        .arg(format!(
            "{join}printf '{input}' | exec {} nc {args}",
            busybox().display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn policy_programs_refuse_in_the_kernel_for_ipv4_ipv6_mapped_and_udp() {
    // The BPF programs themselves, on a policy cgroup this test joins with a probe: TCP
    // connect over IPv4, IPv6 and v4-mapped IPv6, and UDP sendmsg, each with a control from
    // outside the cgroup. A resolver on port 53 stays reachable.
    require_root();
    use kiln_sandbox::netpolicy::{PolicyCgroup, MOUNTINFO};
    let policy = kiln_sandbox::NetworkPolicy::new(&[], vec!["127.0.0.1".parse().expect("ip")], &[]);
    let cgroup =
        PolicyCgroup::create(&policy, std::path::Path::new(MOUNTINFO)).expect("policy cgroup");
    let procs = cgroup.dir().join("cgroup.procs");
    let tcp = std::net::TcpListener::bind("[::]:0").expect("listen on [::]");
    let port = tcp.local_addr().expect("addr").port();
    let accepts = count_accepts(tcp);
    for addr in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
        let args = format!("-w 3 {addr} {port}");
        let before = *accepts.lock().expect("lock");
        assert!(nc_in(None, &args, ""), "control: {addr} from outside");
        assert!(
            !nc_in(Some(&procs), &args, ""),
            "{addr} from the policy cgroup"
        );
        // Give the control's accept a moment to be counted, then compare.
        let deadline = Instant::now() + Duration::from_secs(5);
        while *accepts.lock().expect("lock") == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            *accepts.lock().expect("lock"),
            before + 1,
            "{addr}: only the control"
        );
    }
    let udp = std::net::UdpSocket::bind("[::]:0").expect("udp");
    udp.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let uport = udp.local_addr().expect("addr").port();
    let mut buf = [0u8; 64];
    for addr in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
        let to = std::net::SocketAddr::new(addr.parse().expect("ip"), uport);
        assert!(
            !udp_send(Some(&procs), to, "refused"),
            "{addr}: sendmsg from the policy cgroup"
        );
        assert!(
            udp_send(None, to, "control"),
            "control: {addr} from outside"
        );
        let n = udp.recv(&mut buf).expect("the control datagram");
        assert_eq!(&buf[..n], b"control", "{addr}: only the control arrives");
    }
    // The resolver's port 53 is the exception (when it is free here to listen on).
    if let Ok(dns) = std::net::UdpSocket::bind("127.0.0.1:53") {
        dns.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let to = "127.0.0.1:53".parse().expect("addr");
        assert!(
            udp_send(Some(&procs), to, "query"),
            "port 53 of the resolver"
        );
        let n = dns.recv(&mut buf).expect("the resolver's datagram");
        assert_eq!(&buf[..n], b"query");
    }
}

const UDP_HELPER_ENV: &str = "KILN_SANDBOX_TEST_UDP_HELPER";

/// Send one UDP datagram from a child process (this test binary running
/// [`helper_udp_send`]) that first joins the cgroup of `procs`, when given; true when
/// `sendto` succeeded.
fn udp_send(procs: Option<&std::path::Path>, to: std::net::SocketAddr, payload: &str) -> bool {
    let procs = procs.map_or(String::new(), |p| p.display().to_string());
    std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "helper_udp_send",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(UDP_HELPER_ENV, format!("{procs}|{to}|{payload}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.code() == Some(0))
}

/// Not a test on its own: run by [`udp_send`] in a child process. Exits 0 when the
/// datagram was sent, 3 when `sendto` failed.
#[test]
fn helper_udp_send() {
    let Ok(spec) = std::env::var(UDP_HELPER_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (procs, to, payload) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if !procs.is_empty() {
        // "0": the process writing it.
        std::fs::write(procs, "0").expect("join the policy cgroup");
    }
    let to: std::net::SocketAddr = to.parse().expect("address");
    let sock = std::net::UdpSocket::bind("[::]:0").expect("udp socket");
    let sent = sock.send_to(payload.as_bytes(), to);
    std::process::exit(if sent.is_ok() { 0 } else { 3 });
}
