//! The sandbox's networks: `NetworkMode::Private` (slirp4netns: addresses, DNS, reaching
//! outside but not the host's loopback, the helper's lifetime) and `NetworkMode::Host`.
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

#[test]
fn network_private_cannot_reach_host_loopback() {
    require_slirp4netns();
    let _lock = slirp_lock();
    let lo = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let lo_port = lo.local_addr().expect("addr").port();
    let lo_accepts = count_accepts(lo);
    // Positive control: a listener on a non-loopback host address is reached
    // through slirp's NAT, so the failures below are not nc's.
    let control = host_global_ipv4().and_then(|ip| {
        let l = std::net::TcpListener::bind((ip.as_str(), 0)).ok()?;
        let port = l.local_addr().ok()?.port();
        Some((ip, port, count_accepts(l)))
    });
    let mut script = format!(
        "for a in 10.0.2.2 127.0.0.1; do \
           if nc -w 3 $a {lo_port} </dev/null; then echo \"$a open\"; else echo \"$a closed\"; fi; \
         done; "
    );
    if let Some((ip, port, _)) = &control {
        script.push_str(&format!(
            "nc -w 3 {ip} {port} </dev/null; echo \"control $?\""
        ));
    } else {
        println!("no non-loopback IPv4 address on this host: positive control skipped");
    }
    let rootfs = Rootfs::new();
    let o = run_with(&rootfs, spec(&script), private());
    assert!(o.exit.success(), "{}", o.stderr);
    assert!(o.stdout.contains("10.0.2.2 closed\n"), "{}", o.stdout);
    assert!(o.stdout.contains("127.0.0.1 closed\n"), "{}", o.stdout);
    assert!(!o.stdout.contains("open"), "{}", o.stdout);
    assert_eq!(*lo_accepts.lock().expect("lock"), 0, "{}", o.stdout);
    if let Some((_, _, accepts)) = control {
        assert!(o.stdout.ends_with("control 0\n"), "{}", o.stdout);
        assert_eq!(*accepts.lock().expect("lock"), 1);
    }
    assert_no_slirp_left("after a successful step");
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
