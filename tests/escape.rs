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

/// The embedded runtime, Debian's runc and crun (`--runtime`), and the embedded runtime
/// inside a guest (`--isolation vm`).
const RUNTIMES: [Option<&str>; 4] = [None, Some("runc"), Some("crun"), Some("vm")];

fn runtime_args(rt: Option<&str>) -> Vec<&str> {
    match rt {
        Some("vm") => vec!["--isolation", "vm"],
        Some(rt) => {
            support::tool(rt, rt);
            vec!["--runtime", rt]
        }
        None => Vec::new(),
    }
}

fn runtime_name(rt: Option<&str>) -> &str {
    rt.unwrap_or("embedded")
}

/// Compile `tests/data/<name>.c` statically to `out`.
fn compile_probe(name: &str, out: &Path) {
    let gcc = support::tool("gcc", "gcc");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/data/{name}.c"));
    support::run_ok(
        std::process::Command::new(gcc)
            .args(["-static", "-O2", "-o"])
            .arg(out)
            .arg(&source),
    );
}

/// A marker no file or process holds before the test makes it.
fn marker(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("KILNMARK-{what}-{}-{nanos:09}", std::process::id())
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

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
    // Control: a process holding an fd of a host directory does write beside it through
    // /proc/self/fd/N (what a leaked fd would give the step).
    let control = env.path().join("control");
    std::fs::create_dir(&control).expect("control dir");
    support::run_ok(std::process::Command::new("sh").arg("-c").arg(format!(
        "exec 7<{}; cd /proc/self/fd/7 && echo escaped > ../sentinel-control",
        s(&control)
    )));
    assert_eq!(
        std::fs::read_to_string(env.path().join("sentinel-control")).expect("control"),
        "escaped\n"
    );
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
    // Control: root on the host may write the setting (the same value back).
    std::fs::write("/proc/sys/kernel/printk_ratelimit", &before)
        .expect("control: the host writes /proc/sys/kernel/printk_ratelimit");
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
    // Control: the same step with the privileges it lacks (RUN --security=insecure) mounts.
    let root = build(
        &env,
        "FROM busybox:test\nRUN --security=insecure mkdir -p /out /mnt; if mount -t tmpfs t /mnt 2>/dev/null; then echo mounted; umount /mnt; else echo refused; fi > /out/r\n",
        &["--allow", "security.insecure"],
    );
    assert_eq!(read(&root, "out/r"), "mounted\n", "control");
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
    // Control: root on the host gets past the permission check with the same file (and
    // the kernel refuses it for its format, not for permission).
    let ko = env.path().join("x.ko");
    let head = std::fs::read("/bin/busybox").expect("busybox");
    std::fs::write(&ko, &head[..4096]).expect("x.ko");
    let host = std::process::Command::new("/bin/busybox")
        .arg("insmod")
        .arg(&ko)
        .output()
        .expect("insmod");
    let host_err = String::from_utf8_lossy(&host.stderr);
    assert!(
        !host.status.success() && !host_err.contains("not permitted"),
        "control: {host_err}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/modules").unwrap_or_default(),
        modules
    );
}

#[test]
fn ptrace_a_host_process() {
    let env = env_with_base();
    let me = std::process::id();
    assert!(
        Path::new(&format!("/proc/{me}/status")).exists(),
        "control: the host sees the process"
    );
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
    // Control: with CAP_SYS_ADMIN (RUN --security=insecure) sethostname works, and changes
    // only the step's own UTS namespace.
    let privileged = build(
        &env,
        "FROM busybox:test\nRUN --security=insecure mkdir -p /out; hostname evil; hostname > /out/host\n",
        &["--allow", "security.insecure"],
    );
    assert_eq!(read(&privileged, "out/host"), "evil\n", "control");
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
    // Control: the host's own client reaches it.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("control: connect");
    client.write_all(b"hi").expect("control: send");
    let (mut c, _) = listener.accept().expect("control: accept");
    let mut b = [0u8; 2];
    c.read_exact(&mut b).expect("control: receive");
    drop((client, c));
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

/// The `NAME=N` value a step printed (plain progress output).
fn printed(out: &std::process::Output, name: &str) -> u32 {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find_map(|l| l.split(&format!("{name}=")).nth(1)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("the step printed no {name}=\n{}", support::show(out)))
}

#[test]
fn fork_bomb_under_pids_limit() {
    let env = env_with_base();
    // `sleep 1234`: a command line no other process on the host has. The subshell stops at
    // the first fork the limit refuses; the step goes on and counts what runs.
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN (i=0; while [ $i -lt 200 ]; do sleep 1234 & i=$((i+1)); done) 2>/dev/null; \
             set -- /proc/[0-9]*; echo procs=$#\n",
        )],
    );
    let procs = |extra: &[&str]| {
        let mut args = vec!["build", "--progress", "plain", "--no-cache"];
        args.extend_from_slice(extra);
        args.push(s(&ctx));
        let out = env.run(&args);
        assert!(out.status.success(), "{}", support::show(&out));
        printed(&out, "procs")
    };
    // Control: without a limit every background job starts.
    let unlimited = procs(&[]);
    assert!(unlimited > 150, "control: {unlimited} processes");
    let limited = procs(&["--pids-limit", "32"]);
    assert!(limited <= 32, "the pids limit holds: {limited} processes");
    // The build returned although the jobs sleep for 20 minutes: they died with the step.
    let leftover = std::process::Command::new("pgrep")
        .args(["-c", "-f", "^sleep 1234$"])
        .output()
        .expect("pgrep");
    assert_eq!(
        String::from_utf8_lossy(&leftover.stdout).trim(),
        "0",
        "the step's processes are gone"
    );
}

#[test]
fn memory_hog_under_memory_limit() {
    let env = env_with_base();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN x=$(busybox head -c 134217728 /dev/zero | busybox tr '\\0' a); echo ${#x}\n",
        )],
    );
    // Control: without a limit the same step gets its memory.
    let out = env.run(&["build", "-q", "--no-cache", "-t", "hog:0", s(&ctx)]);
    assert!(out.status.success(), "control: {}", support::show(&out));
    let out = env.run(&[
        "build",
        "-q",
        "--no-cache",
        "--memory",
        "64m",
        "-t",
        "hog:1",
        s(&ctx),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "the hog is stopped: {stderr}");
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
        "FROM busybox:test\nRUN mkdir -p /out /s && chmod 777 /out && cp /bin/busybox /s/grep && cp /bin/busybox /s/id && chmod 4755 /s/grep /s/id && /s/grep CapEff /proc/self/status > /out/rootcaps\n\
         USER app\nRUN /s/grep CapEff /proc/self/status > /out/caps; /s/id -u > /out/uid\n",
        &[],
    );
    assert!(
        !read(&root, "out/rootcaps").contains("0000000000000000"),
        "control: as root the same probe shows capabilities: {}",
        read(&root, "out/rootcaps")
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
        "FROM busybox:test\nRUN mkdir /out; ls /proc/self/fd > /out/fds; \
         (exec 7</dev/null; ls /proc/self/fd) > /out/control\n",
        &[],
    );
    // Control: an fd the process does inherit shows in the same listing.
    assert!(
        read(&root, "out/control").lines().any(|l| l == "7"),
        "control: {}",
        read(&root, "out/control")
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
    // its interface, past its own routes and netfilter: they reach the user-mode network
    // (slirp4netns on tap0; QEMU's on a guest's eth0), which connects on the host's side.
    // The policy is checked there, on that process's cgroup.
    for (rt, iface) in [(None, "tap0"), (Some("vm"), "eth0")] {
        raw_tcp_syn_on(rt, iface);
    }
}

fn raw_tcp_syn_on(rt: Option<&str>, iface: &str) {
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
                 RUN /rawsyn {iface} {} {} && /rawsyn {iface} {v4} {} && sleep 1\n",
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
    let mut args = vec!["build", "-q", "--no-cache"];
    args.extend(runtime_args(rt));
    args.push(s(&ctx));
    env.ok(&args);
    let name = runtime_name(rt);
    // Positive control: the hand-made SYN to an allowed address was carried out.
    assert!(
        allowed.accepted() > 0,
        "{name}: the raw SYN did not reach the allowed server"
    );
    assert_eq!(
        host.accepted(),
        0,
        "{name}: a raw SYN from the step reached the host's own address"
    );
}

/// Whether `pid` has a child process (the sandbox of a running step).
fn has_children(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks.flatten().any(|t| {
                std::fs::read_to_string(t.path().join("children"))
                    .is_ok_and(|c| !c.trim().is_empty())
            })
        })
        .unwrap_or(false)
}

#[test]
fn proc_1_environ_cmdline_and_mem_hold_nothing_of_the_build() {
    let env = env_with_base();
    // 0: a secret the step does not mount; 1: an undeclared build arg; 2: kiln's own
    // environment.
    let markers = [marker("secret"), marker("buildarg"), marker("hostenv")];
    let hexes: Vec<String> = markers.iter().map(|m| hex(m)).collect();
    let secret = env.path().join("secret");
    std::fs::write(&secret, &markers[0]).expect("secret");
    let ctx = env.context(
        "ctx-scan",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox:test\nCOPY procscan /procscan\n\
                 RUN mkdir /out && /procscan {} > /out/scan && sleep 3\n",
                hexes.join(" ")
            ),
        )],
    );
    let probe = ctx.join("procscan");
    compile_probe("procscan", &probe);
    let secret_flag = format!("id=unused,src={}", s(&secret));
    let arg_flag = format!("UNDECLARED={}", markers[1]);
    for rt in RUNTIMES {
        let name = runtime_name(rt);
        let tag = format!("scan-{name}:1");
        let mut args = vec!["build", "-q", "--no-cache", "-t", &tag];
        args.extend(["--secret", &secret_flag, "--build-arg", &arg_flag]);
        args.extend(runtime_args(rt));
        args.push(s(&ctx));
        let mut child = env
            .kiln()
            .args(&args)
            .env("KILN_ESCAPE_TEST_MARKER", &markers[2])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kiln");
        // Positive control: while the step runs, the same probe on the host finds every
        // marker in the kiln process (looked for again until it does: under vm the first
        // child, QEMU, starts before kiln has read the secrets).
        let expected = |control: &str| {
            [(0, "mem"), (1, "cmdline"), (2, "environ")]
                .map(|(i, what)| format!("found {i} pid {} in {what}", child_pid(control)))
        };
        let mut control = String::new();
        loop {
            if has_children(child.id()) {
                let mut cmd = std::process::Command::new(&probe);
                cmd.args(["-p", &child.id().to_string()]).args(&hexes);
                control = support::run_ok(&mut cmd);
                if expected(&control).iter().all(|e| control.contains(e)) {
                    break;
                }
            }
            if child.try_wait().expect("wait").is_some() {
                panic!("{name}: control: the probe never found every marker in kiln while its step ran:\n{control}");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let out = child.wait_with_output().expect("wait for kiln");
        assert!(out.status.success(), "{name}: {}", support::show(&out));
        let root = env.path().join(format!("rootfs-{name}"));
        env.ok(&["export", &tag, "-o", s(&root)]);
        let scan = read(&root, "out/scan");
        assert!(
            !scan.contains("found"),
            "{name}: a process in the step holds the build's secrets:\n{scan}"
        );
        // The scan read pid 1's memory: a copy of kiln there would have been found.
        let pid1 = scan
            .lines()
            .find(|l| l.starts_with("pid 1 "))
            .unwrap_or_else(|| panic!("{name}: pid 1 was not scanned:\n{scan}"));
        assert!(
            !pid1.ends_with(" mem=0") && !pid1.contains("environ=0 "),
            "{name}: pid 1's memory and environment were readable: {pid1}"
        );
    }
}

/// The pid in the probe's `pid P ...` line (the one process it was pointed at).
fn child_pid(scan: &str) -> String {
    scan.lines()
        .find_map(|l| l.strip_prefix("pid "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn forged_exit_status_through_proc_fds() {
    let env = env_with_base();
    // The step writes a success record (8 zero bytes after a tag) into every fd of every
    // process it can see, then fails. Control: a pipe its own shell holds (fd 5, read by
    // `tr`) is among them, and what reaches it comes out of `tr` changed.
    let ctx = env.context(
        "ctx-forge",
        &[(
            "Dockerfile",
            "FROM busybox:test\n\
             RUN mkfifo /tmp/f; tr K k < /tmp/f > /tmp/got & t=$!; exec 5>/tmp/f; n=0; \
             for f in /proc/[0-9]*/fd/*; do \
               if printf '\\0\\0\\0\\0\\0\\0\\0\\0KILNFORGE' > \"$f\" 2>/dev/null; then n=$((n+1)); fi; \
             done; exec 5>&-; wait $t; \
             grep -q kILNFORGE /tmp/got && echo control-reached-a-pipe-of-pid-1; \
             echo \"wrote into $n fds\"; exit 7\n",
        )],
    );
    for rt in RUNTIMES {
        let name = runtime_name(rt);
        let mut args = vec!["build", "--progress", "plain", "--no-cache"];
        args.extend(runtime_args(rt));
        args.push(s(&ctx));
        let out = env.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("control-reached-a-pipe-of-pid-1"),
            "{name}: control: the step's writes reach a pipe its shell holds\n{}",
            support::show(&out)
        );
        assert_ne!(
            out.status.code(),
            Some(0),
            "{name}: a failing step was recorded as a success\n{}",
            support::show(&out)
        );
        assert!(
            err.contains("exit code 7"),
            "{name}: the build fails with the step's own exit code\n{}",
            support::show(&out)
        );
    }
}

/// Host devices the steps try: name, mknod arguments, whether root on the host opens it
/// (the positive control, for those present here).
fn host_devices() -> Vec<(&'static str, &'static str)> {
    let mut devices = vec![("kmsg", "c 1 11"), ("loop-control", "c 10 237")];
    for (name, node, path) in [
        ("loop0", "b 7 0", "/dev/loop0"),
        ("kvm", "c 10 232", "/dev/kvm"),
    ] {
        if Path::new(path).exists() {
            devices.push((name, node));
        }
    }
    devices
}

#[test]
fn mknod_char_device_kmsg_cannot_be_opened() {
    let env = env_with_base();
    let step_mark = marker("kmsg-from-step");
    // Positive control: root on the host opens each device (/dev/kmsg for writing).
    for (name, _) in host_devices() {
        let path = format!("/dev/{name}");
        std::fs::OpenOptions::new()
            .read(name != "kmsg")
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("control: root on the host opens {path}: {e}"));
    }

    let mut script = String::from(
        "FROM busybox:test\nRUN --mount=type=tmpfs,target=/t --mount=type=cache,target=/c \
         mkdir -p /out; ",
    );
    for (name, node) in host_devices() {
        let open = if name == "kmsg" {
            format!("exec 3>$d/{name} && echo {step_mark} >&3")
        } else {
            format!("exec 3<>$d/{name}")
        };
        script.push_str(&format!(
            "for d in /dev / /tmp /t /c; do busybox mknod $d/{name} {node}; \
             if ({open}) 2>>/out/errors; then echo \"{name} $d opened\"; else echo \"{name} $d refused\"; fi; \
             rm -f $d/{name}; done >> /out/devices; "
        ));
    }
    // The standard nodes still work (/dev/tty: no controlling terminal, but not refused).
    script.push_str(
        "{ echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; \
           head -c 5 /dev/urandom | wc -c; head -c 2 /dev/random | wc -c; \
           echo x > /dev/full || echo full-is-full; (exec 3<>/dev/tty) 2>&1; (exec 3<>/dev/ptmx) && echo ptmx-ok; true; } > /out/standard 2>&1\n",
    );
    let ctx = env.context("ctx-dev", &[("Dockerfile", &script)]);
    for rt in RUNTIMES {
        let name = runtime_name(rt);
        let tag = format!("dev-{name}:1");
        let mut args = vec!["build", "-q", "--no-cache", "-t", &tag];
        args.extend(runtime_args(rt));
        args.push(s(&ctx));
        env.ok(&args);
        let root = env.path().join(format!("rootfs-dev-{name}"));
        env.ok(&["export", &tag, "-o", s(&root)]);
        let devices = read(&root, "out/devices");
        let tried = devices.lines().count();
        assert_eq!(tried, host_devices().len() * 5, "{name}: {devices}");
        assert!(
            !devices.contains("opened"),
            "{name}: a step opened a host device it made with mknod:\n{devices}\n{}",
            read(&root, "out/errors")
        );
        let standard = read(&root, "out/standard");
        assert!(
            standard.starts_with("null-ok\n3\n5\n2\n"),
            "{name}: the standard nodes work:\n{standard}"
        );
        assert!(standard.contains("full-is-full"), "{name}: {standard}");
        assert!(standard.contains("ptmx-ok"), "{name}: {standard}");
        assert!(
            !standard.contains("denied") && !standard.contains("not permitted"),
            "{name}: /dev/tty is not refused:\n{standard}"
        );
    }
}

/// A step writes a program over /etc/hosts (a file kiln binds in, which the step may
/// change, as in Docker) and makes it setuid root. The backing file must be on a private
/// nosuid/nodev/noexec tmpfs of kiln's, never a plain file in the host's /tmp that another
/// user could run as root or that fills the host's disk.
#[test]
fn setuid_program_planted_through_etc_hosts_stays_powerless() {
    let env = env_with_base();
    let ctx = env.context(
        "ctx-hosts",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN mkdir /out && cat /bin/busybox > /etc/hosts && chmod 4755 /etc/hosts \
             && stat -c %a /etc/hosts > /out/mode && grep ' /etc/hosts ' /proc/self/mountinfo > /out/mount \
             && i=0; until grep -q go /etc/hostname || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done\n",
        )],
    );
    let mut child = env
        .kiln()
        .args(["build", "-q", "--network", "none", "-t", "hosts:1", s(&ctx)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start kiln");
    // While the step runs: where kiln keeps the file, as kiln's own mount namespace sees it.
    let backing = loop {
        let tmp = format!(
            "/proc/{}/root{}",
            child.id(),
            std::env::temp_dir().display()
        );
        // Any kiln-sandbox-* directory (other builds' and stale ones too) whose hosts file
        // is setuid: only this build's step makes one.
        let found = std::fs::read_dir(&tmp).ok().and_then(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("kiln-sandbox-"))
                .map(|e| e.path().join("hosts"))
                .find(|p| {
                    std::fs::metadata(p).is_ok_and(|m| {
                        use std::os::unix::fs::PermissionsExt;
                        m.permissions().mode() & 0o4000 != 0
                    })
                })
        });
        let setuid = found.is_some();
        if setuid {
            break found.expect("found");
        }
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            panic!(
                "the build ended before the planted file was seen\n{}",
                support::show(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // Control: the attack ran; the file behind /etc/hosts is a setuid-root program now.
    let dir = backing.parent().expect("dir").to_path_buf();
    let mountinfo =
        std::fs::read_to_string(format!("/proc/{}/mountinfo", child.id())).expect("mountinfo");
    let host_path = dir
        .to_string_lossy()
        .split_once("/root")
        .map(|(_, p)| p.to_string())
        .expect("path");
    let line = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(host_path.as_str()))
        .unwrap_or_else(|| panic!("{host_path} is not a mount of kiln's:\n{mountinfo}"));
    // Let the step end (it waits for this word in its /etc/hostname, the same tmpfs).
    std::fs::write(dir.join("hostname"), "go\n").expect("release the step");
    let out = child.wait_with_output().expect("wait for kiln");
    assert!(out.status.success(), "{}", support::show(&out));
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(
            line.contains(flag),
            "the file is on a mount without {flag}: {line}"
        );
    }
    assert!(line.contains(" tmpfs "), "not a private tmpfs: {line}");
    // The host's own /tmp never held the file.
    let host_side = std::path::Path::new(&host_path).join("hosts");
    assert!(
        !host_side.exists(),
        "{} exists on the host",
        host_side.display()
    );
    let root = env.path().join("rootfs");
    env.ok(&["export", "hosts:1", "-o", s(&root)]);
    assert_eq!(
        read(&root, "out/mode"),
        "4755\n",
        "the step did chmod its /etc/hosts"
    );
    let step_view = read(&root, "out/mount");
    assert!(
        step_view.contains("nosuid") && step_view.contains("noexec"),
        "{step_view}"
    );
}

/// A step run from a terminal opens /dev/tty to push keystrokes into the user's shell
/// (TIOCSTI). The step is in a session of its own without a controlling terminal, so
/// /dev/tty opens nothing. Control: the same probe under the same terminal on the host
/// opens it.
#[test]
fn open_the_users_terminal_through_dev_tty() {
    let env = env_with_base();
    let script = support::tool("script", "bsdutils");
    // The words are split in the command so that the progress display, which shows the
    // command, does not show them.
    let probe = r#"(exec 3</dev/tty) 2>/dev/null && echo "tty-""opened" || echo "tty-""refused""#;
    let under_terminal = |cmd: &str| {
        let out = std::process::Command::new(&script)
            .args(["-qec", cmd, "/dev/null"])
            .env_remove("KILN_ROOT")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run script");
        assert!(out.status.success(), "{}", support::show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let control = under_terminal(&format!("sh -c '{probe}'"));
    assert!(control.contains("tty-opened"), "control: {control}");
    for rt in RUNTIMES {
        let name = runtime_name(rt);
        let ctx = env.context(
            &format!("ctx-tty-{name}"),
            &[("Dockerfile", &format!("FROM busybox:test\nRUN {probe}\n"))],
        );
        let cmd = format!(
            "{} --root {} build --no-cache --progress plain {} {}",
            support::kiln_bin().display(),
            env.store().display(),
            runtime_args(rt).join(" "),
            ctx.display()
        );
        let out = under_terminal(&cmd);
        assert!(out.contains("tty-refused"), "{name}: {out}");
        assert!(!out.contains("tty-opened"), "{name}: {out}");
    }
}

/// The standard nodes are the host's own inodes, bound in: a step must not change their
/// mode, owner or times for the whole host. Control: the host (root) can, and the step can
/// still read and write the device.
#[test]
fn chmod_the_hosts_dev_null_through_the_bound_node() {
    use std::os::unix::fs::MetadataExt;
    let env = env_with_base();
    let ctime = || {
        std::fs::metadata("/dev/full")
            .map(|m| (m.ctime(), m.ctime_nsec()))
            .expect("stat")
    };
    // Control: the same change from the host touches the inode (same mode, new ctime).
    let before = ctime();
    let mode = std::fs::metadata("/dev/full").expect("stat").mode() & 0o7777;
    std::thread::sleep(std::time::Duration::from_millis(20));
    support::run_ok(
        std::process::Command::new("chmod")
            .arg(format!("{mode:o}"))
            .arg("/dev/full"),
    );
    assert_ne!(
        ctime(),
        before,
        "control: chmod on the host changes /dev/full's ctime"
    );
    for rt in RUNTIMES {
        let name = runtime_name(rt);
        let before = ctime();
        let ctx = env.context(
            &format!("ctx-chmod-{name}"),
            &[(
                "Dockerfile",
                &format!(
                    "FROM busybox:test\nRUN mkdir /out; (chmod {mode:o} /dev/full) 2>/out/chmod; echo $? >> /out/chmod; \
                     (touch /dev/full) 2>>/out/chmod; echo $? >> /out/chmod; \
                     echo x > /dev/null && head -c 4 /dev/zero | wc -c > /out/io\n"
                ),
            )],
        );
        let mut args = vec!["build", "-q", "--no-cache", "-t", "chmod:1"];
        args.extend(runtime_args(rt));
        args.push(s(&ctx));
        env.ok(&args);
        let root = env.path().join(format!("rootfs-chmod-{name}"));
        env.ok(&["export", "chmod:1", "-o", s(&root)]);
        let out = read(&root, "out/chmod");
        assert!(
            !out.contains("\n0\n") && !out.starts_with("0\n"),
            "{name}: {out}"
        );
        assert_eq!(
            read(&root, "out/io").trim(),
            "4",
            "{name}: the device still works"
        );
        assert_eq!(ctime(), before, "{name}: the host's /dev/full was changed");
    }
}
