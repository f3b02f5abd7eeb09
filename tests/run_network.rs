//! Networks of RUN steps (`--network`, `RUN --network=`) and the entitlements a Dockerfile
//! needs from the command line (`--allow network.host`, `--allow security.insecure`).

mod support;
#[path = "support/test_net.rs"]
mod test_net;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use support::{assert_fails, s, TestEnv};
use test_net::{fetch_from_host, host_addresses, probe, Server, TestNetns, PONG};

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
    // Other tests here add and remove veth pairs (kt*) on the host while this one runs.
    let not_a_test_veth = |n: &String| !n.starts_with("kt");
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("host interfaces")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(not_a_test_veth)
        .collect();
    host.sort();
    let seen: Vec<String> = read(&root, "default")
        .lines()
        .map(str::to_owned)
        .filter(not_a_test_veth)
        .collect();
    assert_eq!(seen, host, "--network host shares the host's interfaces");
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

/// Build `dockerfile` with `flags` (no cache) and return the exported root filesystem.
fn build_and_export(
    env: &TestEnv,
    tag: &str,
    flags: &[&str],
    dockerfile: &str,
) -> std::path::PathBuf {
    let ctx = env.context(
        &format!("ctx-{}", tag.replace(':', "-")),
        &[("Dockerfile", dockerfile)],
    );
    let mut args = vec!["build", "-q", "--no-cache", "-t", tag];
    args.extend_from_slice(flags);
    args.push(s(&ctx));
    env.ok(&args);
    exported(env, tag)
}

fn reached(root: &std::path::Path, file: &str) -> bool {
    read(root, file).contains(PONG.trim())
}

#[test]
fn reach_a_host_listener_on_0_0_0_0_through_the_host_address() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let v4_server = Server::on_host("0.0.0.0:0");
    let v6_server = Server::on_host("[::]:0");
    let (v4, v6) = host_addresses();
    let v4 = v4.expect("the host has a global IPv4 address");
    let mut dockerfile = format!(
        "FROM busybox:test\nRUN {}\n",
        probe(v4, v4_server.port(), "/v4")
    );
    if let Some(v6) = v6 {
        dockerfile.push_str(&format!("RUN {}\n", probe(v6, v6_server.port(), "/v6")));
    }
    // Positive control: the host reaches it, and so does a step on the host's network.
    assert!(fetch_from_host((v4, v4_server.port()).into()).contains("pong"));
    let host = build_and_export(
        &env,
        "hostaddr:host",
        &["--network", "host", "--allow", "network.host"],
        &dockerfile,
    );
    assert!(reached(&host, "v4"), "control: {}", read(&host, "v4"));
    if v6.is_some() {
        assert!(reached(&host, "v6"), "control: {}", read(&host, "v6"));
    }
    // The default network refuses the host's own addresses.
    let default = build_and_export(&env, "hostaddr:default", &[], &dockerfile);
    assert!(!reached(&default, "v4"), "{}", read(&default, "v4"));
    assert!(
        read(&default, "v4").contains("rc=1"),
        "{}",
        read(&default, "v4")
    );
    if v6.is_some() {
        assert!(!reached(&default, "v6"), "{}", read(&default, "v6"));
    }
}

#[test]
fn reach_a_link_local_listener() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ns = TestNetns::new("169.254");
    let server = ns.serve();
    // Positive control: the host reaches the link-local listener.
    assert!(fetch_from_host(server.addr).contains("pong"));
    let dockerfile = format!(
        "FROM busybox:test\nRUN {}\n",
        probe(ns.ns_addr, server.port(), "/ll")
    );
    let root = build_and_export(&env, "linklocal:default", &[], &dockerfile);
    assert!(!reached(&root, "ll"), "{}", read(&root, "ll"));
    assert!(read(&root, "ll").contains("rc=1"), "{}", read(&root, "ll"));
}

#[test]
fn network_deny_cidr_blocks_an_address_the_user_lists() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ns = TestNetns::new("10.213");
    let server = ns.serve();
    let dockerfile = format!(
        "FROM busybox:test\nRUN {}\n",
        probe(ns.ns_addr, server.port(), "/lan")
    );
    // Positive control: without the flag a step reaches the private address.
    let root = build_and_export(&env, "deny:without", &[], &dockerfile);
    assert!(reached(&root, "lan"), "control: {}", read(&root, "lan"));
    let cidr = format!("{}/24", ns.ns_addr);
    let root = build_and_export(&env, "deny:with", &["--network-deny", &cidr], &dockerfile);
    assert!(!reached(&root, "lan"), "{}", read(&root, "lan"));
    // A value that is not a network is refused before the build starts.
    let ctx = env.context(
        "ctx-bad",
        &[("Dockerfile", "FROM busybox:test\nRUN touch /x\n")],
    );
    let out = env.run(&["build", "--network-deny", "10.0.0/8", s(&ctx)]);
    assert_fails(
        &out,
        2,
        &["--network-deny", "\"10.0.0/8\"", "ADDRESS/PREFIX"],
    );
    let out = env.run(&["build", "--network-deny", "10.0.0.0/33", s(&ctx)]);
    assert_fails(&out, 2, &["--network-deny", "from 0 to 32"]);
}

/// A shell pipeline printing deb.debian.org's HTTP reply (resolved and fetched from the
/// step). nc's standard input stays open until the answer is in (at most 20 s): the
/// mirror's front end closes a half-closed connection before it answers.
const DEB_HTTP_PROBE: &str = "{ printf 'GET /debian/ HTTP/1.1\\r\\nHost: deb.debian.org\\r\\nConnection: close\\r\\n\\r\\n'; \
     i=0; while [ $i -lt 200 ] && [ ! -s /tmp/resp ]; do sleep 0.1; i=$((i+1)); done; } \
     | nc -w 20 deb.debian.org 80 > /tmp/resp; cat /tmp/resp";

#[test]
fn the_internet_stays_reachable_from_the_default_network() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN (DEB_HTTP_PROBE | head -1) > /http 2>&1\n"
        .replace("DEB_HTTP_PROBE", DEB_HTTP_PROBE);
    let root = build_and_export(&env, "internet:default", &[], &dockerfile);
    assert!(
        read(&root, "http").starts_with("HTTP/1."),
        "{}",
        read(&root, "http")
    );
}

#[test]
fn a_shared_network_outlives_the_stage_that_started_it() {
    // Regression: slirp4netns got PR_SET_PDEATHSIG from the thread of the first stage that
    // needed the network; when that stage ended the kernel killed it, and a parallel stage
    // still running lost DNS. Stage `a` starts the network and ends; stage `b` resolves
    // after that.
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test AS a\n\
        RUN echo a > /a\n\
        FROM busybox:test AS b\n\
        RUN --network=none sleep 2\n\
        RUN (DEB_HTTP_PROBE | head -1) > /b 2>&1\n\
        FROM busybox:test\n\
        COPY --from=a /a /a\n\
        COPY --from=b /b /b\n"
        .replace("DEB_HTTP_PROBE", DEB_HTTP_PROBE);
    let root = build_and_export(&env, "pdeathsig:1", &["--jobs", "2"], &dockerfile);
    assert_eq!(read(&root, "a"), "a\n");
    assert!(
        read(&root, "b").starts_with("HTTP/1."),
        "{}",
        read(&root, "b")
    );
}

#[test]
fn add_url_cannot_fetch_from_host_loopback() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let loopback = Server::on_host("127.0.0.1:0");
    let any = Server::on_host("0.0.0.0:0");
    let (v4, _) = host_addresses();
    let v4 = v4.expect("the host has a global IPv4 address");
    let host_flags = ["--network", "host", "--allow", "network.host"];
    for (url, rule) in [
        (
            format!("http://127.0.0.1:{}/f", loopback.port()),
            "loopback addresses are refused",
        ),
        (
            format!("http://localhost:{}/f", loopback.port()),
            "loopback addresses are refused",
        ),
        (
            format!("http://{v4}:{}/f", any.port()),
            "the host's own addresses are refused",
        ),
    ] {
        let dockerfile = format!("FROM busybox:test\nADD {url} /f\n");
        // Positive control: with the host's network (allowed), ADD fetches it.
        let root = build_and_export(&env, "addhost:host", &host_flags, &dockerfile);
        assert_eq!(read(&root, "f"), PONG, "{url}");
        let ctx = env.context("ctx-add-default", &[("Dockerfile", &dockerfile)]);
        let out = env.run(&["build", "--no-cache", s(&ctx)]);
        let addr = if url.contains("localhost") {
            "127.0.0.1"
        } else {
            url.split(['/', ':']).nth(3).unwrap_or("")
        };
        assert_fails(
            &out,
            1,
            &[
                "Dockerfile:2",
                &url,
                addr,
                rule,
                "--network host --allow network.host",
            ],
        );
    }
}

#[test]
fn add_url_cannot_fetch_from_link_local_or_through_a_redirect() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let link_local = TestNetns::new("169.254");
    let ll_server = link_local.serve();
    let lan = TestNetns::new("10.213");
    let lan_server = lan.serve();
    let loopback = Server::on_host("127.0.0.1:0");
    // Positive controls: ADD fetches from an allowed address; the host reaches the
    // link-local server.
    let ok = format!("http://{}/f", lan_server.addr);
    let root = build_and_export(
        &env,
        "addll:lan",
        &[],
        &format!("FROM busybox:test\nADD {ok} /f\n"),
    );
    assert_eq!(read(&root, "f"), PONG);
    assert!(fetch_from_host(ll_server.addr).contains("pong"));

    let refused = |url: &str, phrases: &[&str]| {
        let ctx = env.context(
            "ctx-refused",
            &[("Dockerfile", &format!("FROM busybox:test\nADD {url} /f\n"))],
        );
        let out = env.run(&["build", "--no-cache", s(&ctx)]);
        let mut all = vec!["Dockerfile:2", url];
        all.extend_from_slice(phrases);
        assert_fails(&out, 1, &all);
    };
    let ll = format!("http://{}/f", ll_server.addr);
    refused(
        &ll,
        &[&link_local.ns_addr.to_string(), "link-local addresses"],
    );
    // A redirect from an allowed server to the host's loopback is checked again.
    let hop = format!("127.0.0.1:{}", loopback.port());
    let redirect = format!("http://{}/redirect/{hop}", lan_server.addr);
    refused(
        &redirect,
        &[
            &format!("http://{hop}/file"),
            "loopback addresses are refused",
        ],
    );
    // The download size limit holds while streaming.
    let ctx = env.context(
        "ctx-size",
        &[("Dockerfile", &format!("FROM busybox:test\nADD {ok} /f\n"))],
    );
    let out = env.run(&["build", "--no-cache", "--max-download-size", "2", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[&ok, "larger than the 2-byte limit", "--max-download-size"],
    );
}

#[test]
fn without_cgroup_v2_the_default_network_fails_and_names_network_none() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx-nocg2",
        &[("Dockerfile", "FROM busybox:test\nRUN echo ran > /ran\n")],
    );
    let v2 = find_v2_mount().expect("this host mounts a cgroup v2 hierarchy");
    // kiln in a mount namespace of its own where the v2 hierarchy is unmounted.
    let without_v2 = |flags: &[&str]| {
        let mut c = std::process::Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!("umount {} && exec \"$@\"", v2))
            .arg("sh")
            .arg(support::kiln_bin())
            .arg("--root")
            .arg(env.store())
            .args(["build", "--no-cache"])
            .args(flags)
            .arg(&ctx)
            .env_remove("KILN_ROOT")
            .stdin(std::process::Stdio::null());
        c.output().expect("run unshare")
    };
    // Positive control: the same setup builds without a network.
    let out = without_v2(&["--network", "none", "-t", "nocg2:none"]);
    assert!(out.status.success(), "{}", support::show(&out));
    // The default network is never silently unfiltered.
    let out = without_v2(&["-t", "nocg2:default"]);
    // An isolation that cannot start is the engine's kind Io: exit 3 (1 before the exit
    // code came from the error's kind).
    assert_fails(
        &out,
        3,
        &[
            "Dockerfile:2",
            "no cgroup v2 hierarchy is mounted",
            "--network none",
        ],
    );
}

/// The mount point of the host's cgroup v2 hierarchy.
fn find_v2_mount() -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(str::to_owned))?
    })
}

#[test]
fn oci_runtimes_on_the_build_network_get_the_same_policy() {
    // runc joins the namespace kiln made (the build's shared one, or one of the step's own
    // with NET_ADMIN): its traffic leaves through the same filtered slirp4netns.
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let lan = TestNetns::new("10.213");
    let allowed = lan.serve();
    let (v4, _) = host_addresses();
    let v4 = v4.expect("the host has a global IPv4 address");
    let host = Server::on_host(&format!("{v4}:0"));
    let dockerfile = format!(
        "FROM busybox:test\nRUN {}; {}\n",
        probe(lan.ns_addr, allowed.port(), "/lan"),
        probe(v4, host.port(), "/host")
    );
    for (tag, flags) in [
        ("rt:shared", &["--runtime", "runc"][..]),
        (
            "rt:own",
            &["--runtime", "runc", "--cap-add", "NET_ADMIN"][..],
        ),
    ] {
        let root = build_and_export(&env, tag, flags, &dockerfile);
        // Positive control: the runtime's step reaches an allowed address.
        assert!(
            reached(&root, "lan"),
            "{tag} control: {}",
            read(&root, "lan")
        );
        assert!(!reached(&root, "host"), "{tag}: {}", read(&root, "host"));
    }
    assert_eq!(host.accepted(), 0);
}

/// Parallel stages of different lengths resolve and download from deb.debian.org while the
/// others start and end, 20 builds in a row (bench/dns_stress.sh runs the same Dockerfile
/// 200 times): not one resolution or download may fail. Before the shared network's
/// lifetime was fixed, the stage that ended first took DNS away from the others.
#[test]
fn parallel_stages_resolve_and_download_in_20_builds_in_a_row() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/dns-stress/Dockerfile"),
    )
    .expect("the stress Dockerfile");
    let ctx = env.context("ctx-dns-stress", &[("Dockerfile", &dockerfile)]);
    for n in 1..=20 {
        let out = env.run(&["build", "-q", "--no-cache", "--jobs", "4", s(&ctx)]);
        assert!(
            out.status.success(),
            "build {n} of 20 failed:\n{}",
            support::show(&out)
        );
    }
}
