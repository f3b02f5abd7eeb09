//! Real runs of the embedded backend in a busybox root filesystem: processes, confinement
//! (capabilities, seccomp, masked paths, /dev, fds, pid namespace), the root filesystem
//! left as it was, bad requests, and dying with kiln. Networks are in `network.rs`,
//! cgroup limits in `limits.rs`.
//!
//! Needs root and Debian's `busybox-static` (`/bin/busybox`); every test
//! fails with a clear message otherwise. All mounts happen in the sandbox's
//! children after they made mount propagation private; this process never
//! mounts anything. Root filesystems live in temp dirs.

use std::path::Path;
use std::time::{Duration, Instant};

use kiln_sandbox::{Confinement, Embedded, Exit, RunRequest, Sandbox, SandboxError, SeccompPolicy};

mod common;

use common::*;

#[test]
fn echo_output_is_captured_and_streams_are_separate() {
    let o = sh("echo out; echo err >&2; echo out2");
    assert_eq!(o.stdout, "out\nout2\n");
    assert_eq!(o.stderr, "err\n");
    assert!(o.exit.success());
}

#[test]
fn exit_codes_and_signals() {
    assert_eq!(
        sh("exit 3").exit,
        Exit {
            code: Some(3),
            signal: None
        }
    );
    // The command is pid 1 of its pid namespace (as under runc): signals it has no handler
    // for are not delivered from inside the namespace, so it cannot kill itself with them.
    assert_eq!(
        sh("kill -KILL $$; exit 4").exit,
        Exit {
            code: Some(4),
            signal: None
        }
    );
    // A signal the kernel sends (CPU time limit) still ends it, and is reported as such.
    let o = sh("ulimit -t 1; while :; do :; done");
    assert_eq!(o.exit.code, None, "{}", o.stderr);
    assert!(
        matches!(o.exit.signal, Some(libc::SIGXCPU | libc::SIGKILL)),
        "{:?}",
        o.exit
    );
}

#[test]
fn missing_program_is_an_exec_error() {
    let rootfs = Rootfs::new();
    let mut p = spec("");
    p.args = vec!["nope".into()];
    match try_run_with(&rootfs, p, Confinement::default()) {
        Err(SandboxError::Exec { program, .. }) => assert_eq!(program, "nope"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(o) => panic!("ran: {:?}", o.exit),
    }
}

#[test]
fn env_cwd_uid_gid_are_applied() {
    let rootfs = Rootfs::new();
    let mut p = spec("echo $FOO; pwd; id -u; id -g; id -G");
    p.env.push("FOO=bar baz".into());
    p.cwd = "/home/user".into();
    p.uid = 1000;
    p.gid = 1000;
    p.additional_gids = vec![2000];
    let o = run_with(&rootfs, p, Confinement::default());
    assert!(o.exit.success(), "stderr: {}", o.stderr);
    assert_eq!(o.stdout, "bar baz\n/home/user\n1000\n1000\n1000 2000\n");
    // As in Docker, a non-root user ends up without effective capabilities.
    let mut p = spec("grep CapEff /proc/self/status");
    p.uid = 1000;
    let o = run_with(&rootfs, p, Confinement::default());
    assert_eq!(
        o.stdout.split_whitespace().nth(1),
        Some("0000000000000000"),
        "{}",
        o.stderr
    );
}

#[test]
fn missing_cwd_is_a_setup_error() {
    let rootfs = Rootfs::new();
    let mut p = spec("true");
    p.cwd = "/does/not/exist".into();
    match try_run_with(&rootfs, p, Confinement::default()) {
        Err(SandboxError::Setup { step, .. }) => {
            assert!(step.contains("/does/not/exist"), "{step}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(o) => panic!("ran: {:?}", o.exit),
    }
}

#[test]
fn hostname_is_set_and_host_hostname_unchanged() {
    let before = rustix::system::uname().nodename().to_owned();
    let out = ok("hostname; cat /etc/hostname");
    assert_eq!(out, "kiln-test\nkiln-test\n");
    assert_eq!(rustix::system::uname().nodename(), before.as_c_str());
}

#[test]
fn hosts_and_resolv_conf_are_bound() {
    let out = ok("cat /etc/hosts /etc/resolv.conf");
    assert_eq!(out, "127.0.0.1\tlocalhost\nnameserver 192.0.2.53\n");
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

#[test]
fn capabilities_no_new_privs_and_seccomp_in_proc_status() {
    let status = ok("cat /proc/self/status");
    assert_eq!(
        status_field(&status, "CapEff:"),
        "00000000a80425fb",
        "Docker's default capability set"
    );
    assert_eq!(status_field(&status, "CapPrm:"), "00000000a80425fb");
    assert_eq!(status_field(&status, "CapBnd:"), "00000000a80425fb");
    assert_eq!(status_field(&status, "CapInh:"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb:"), "0000000000000000");
    assert_eq!(status_field(&status, "NoNewPrivs:"), "1");
    assert_eq!(status_field(&status, "Seccomp:"), "2");
}

#[test]
fn capability_list_is_honoured() {
    let rootfs = Rootfs::new();
    let script =
        "grep -E 'CapEff|CapBnd' /proc/self/status; touch /tmp/f; chown 1 /tmp/f; echo rc=$?";
    let none = Confinement {
        capabilities: vec![],
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec(script), none);
    assert!(
        o.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("CapBnd:\t0000000000000000"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.ends_with("rc=1\n"),
        "chown without CAP_CHOWN: {}",
        o.stdout
    );
    let chown_only = Confinement {
        capabilities: vec!["chown".into()],
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec(script), chown_only);
    assert!(
        o.stdout.contains("CapEff:\t0000000000000001"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.ends_with("rc=0\n"), "{} {}", o.stdout, o.stderr);
}

#[test]
fn unconfined_seccomp_and_privs_are_honoured() {
    let rootfs = Rootfs::new();
    let c = Confinement {
        seccomp: SeccompPolicy::Unconfined,
        no_new_privs: false,
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec("cat /proc/self/status"), c);
    assert!(o.exit.success(), "{}", o.stderr);
    assert_eq!(status_field(&o.stdout, "NoNewPrivs:"), "0");
    assert_eq!(status_field(&o.stdout, "Seccomp:"), "0");
}

#[test]
fn seccomp_without_no_new_privs_still_loads() {
    let rootfs = Rootfs::new();
    let c = Confinement {
        no_new_privs: false,
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec("cat /proc/self/status"), c);
    assert!(o.exit.success(), "{}", o.stderr);
    assert_eq!(status_field(&o.stdout, "NoNewPrivs:"), "0");
    assert_eq!(status_field(&o.stdout, "Seccomp:"), "2");
}

#[test]
fn default_profile_denies_unshare_that_capabilities_allow() {
    // unshare(CLONE_NEWUSER) needs no capability: only seccomp stops it.
    let script = "unshare -U true; echo rc=$?";
    let rootfs = Rootfs::new();
    let unconfined = Confinement {
        seccomp: SeccompPolicy::Unconfined,
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec(script), unconfined);
    assert_eq!(o.stdout, "rc=0\n", "without seccomp: {}", o.stderr);
    let o = run_with(&rootfs, spec(script), Confinement::default());
    assert_eq!(o.stdout, "rc=1\n", "with Docker's profile: {}", o.stderr);
    assert!(o.stderr.contains("Operation not permitted"), "{}", o.stderr);
}

#[test]
fn default_profile_conditional_personality_rule_allows_linux32() {
    // personality(PER_LINUX32) is allowed by an argument-conditional rule.
    assert_eq!(ok("linux32 uname -m"), "i686\n");
}

#[test]
fn custom_profile_denies_a_syscall() {
    // Allow everything except mkdir/mkdirat, with EACCES.
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#;
    let rootfs = Rootfs::new();
    let c = Confinement {
        seccomp: SeccompPolicy::Profile(profile.into()),
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec("mkdir /tmp/x; echo rc=$?"), c);
    assert!(
        o.stdout.contains("rc=1"),
        "stdout {} stderr {}",
        o.stdout,
        o.stderr
    );
    assert!(o.stderr.contains("Permission denied"), "{}", o.stderr);
}

#[test]
fn mount_is_denied() {
    let o = sh("mount -t tmpfs x /mnt");
    assert_ne!(o.exit.code, Some(0), "mount succeeded inside the sandbox");
    assert!(!o.stderr.is_empty());
}

#[test]
fn proc_sys_sysrq_and_readonly_paths_are_read_only() {
    let o = sh("echo kiln > /proc/sys/kernel/domainname");
    assert_ne!(o.exit.code, Some(0), "wrote /proc/sys");
    assert!(o.stderr.contains("Read-only"), "{}", o.stderr);
    // This test kernel may lack CONFIG_MAGIC_SYSRQ; check it where it exists.
    if Path::new("/proc/sysrq-trigger").exists() {
        let o = sh("echo h > /proc/sysrq-trigger");
        assert_ne!(o.exit.code, Some(0), "wrote /proc/sysrq-trigger");
        assert!(o.stderr.contains("Read-only"), "{}", o.stderr);
    }
    let rootfs = Rootfs::new();
    let mut c = Confinement::default();
    c.readonly_paths.push("/mnt".into());
    let o = run_with(&rootfs, spec("touch /mnt/x; touch /tmp/x"), c);
    assert_eq!(o.exit.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("/mnt/x") && o.stderr.contains("Read-only"),
        "{}",
        o.stderr
    );
    assert!(!rootfs.path().join("mnt/x").exists());
}

/// Bytes in a host file (proc files report size 0: read them).
fn host_len(p: &str) -> usize {
    std::fs::read(p).map(|v| v.len()).unwrap_or(0)
}

#[test]
fn masked_paths_are_empty() {
    // Docker's list, checked where this kernel has the file with content.
    for f in [
        "/proc/kcore",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_stats",
    ] {
        if host_len(f) == 0 && !Path::new(f).exists() {
            continue;
        }
        let out = ok(&format!(
            "if [ -e {f} ]; then head -c 100 {f} | wc -c; else echo missing; fi"
        ));
        assert_eq!(out, "0\n", "{f} not masked");
    }
    for d in ["/proc/scsi", "/proc/acpi", "/sys/firmware"] {
        let out = ok(&format!("ls -A {d} 2>/dev/null | wc -l"));
        assert_eq!(out, "0\n", "{d} not masked");
    }
    assert!(
        host_len("/proc/timer_list") > 0,
        "host /proc/timer_list is empty: the test proves nothing"
    );
    // User-given masks: a file and a directory with content.
    let rootfs = Rootfs::new();
    let mut c = Confinement::default();
    c.masked_paths.push("/etc/passwd".into());
    c.masked_paths.push("/bin".into());
    c.masked_paths.push("/not/there".into());
    // /bin is masked, so even busybox is gone.
    let mut p = spec("");
    p.args = vec!["/bin/busybox".into(), "true".into()];
    let r = try_run_with(&rootfs, p, c);
    assert!(
        matches!(r, Err(SandboxError::Exec { .. })),
        "masked /bin still executable"
    );
    let mut c = Confinement::default();
    c.masked_paths.push("/etc/passwd".into());
    assert_eq!(
        run_with(&rootfs, spec("wc -c < /etc/passwd"), c).stdout,
        "0\n"
    );
}

#[test]
fn only_standard_dev_nodes() {
    let out = ok("ls -A /dev | tr '\\n' ' '; echo; stat -c '%n %t,%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ")
    );
    let nodes: Vec<&str> = lines.collect();
    assert_eq!(
        nodes,
        [
            "/dev/null 1,3",
            "/dev/zero 1,5",
            "/dev/full 1,7",
            "/dev/random 1,8",
            "/dev/urandom 1,9",
            "/dev/tty 5,0"
        ]
    );
    assert_eq!(
        ok("echo hi > /dev/null && head -c 4 /dev/zero | wc -c"),
        "4\n"
    );
}

#[test]
fn only_stdio_fds_are_open() {
    // ls opens the directory itself: 3 is its own fd.
    let out = ok("ls /proc/self/fd | tr '\\n' ' '");
    assert_eq!(out, "0 1 2 3 ");
}

#[test]
fn network_none_sees_only_lo() {
    let rootfs = Rootfs::new();
    let o = run_with(
        &rootfs,
        spec("ls /sys/class/net | tr '\\n' ' '; cat /proc/net/dev | wc -l"),
        Confinement::default(),
    );
    assert!(o.exit.success(), "{}", o.stderr);
    assert_eq!(o.stdout, "lo 3\n");
}

#[test]
fn shell_as_pid_1_reaps_orphaned_zombies() {
    // No init of kiln's: orphans are reparented to the command (pid 1), here busybox sh,
    // which reaps them. The orphan exits at once; a zombie would show state Z.
    let out = ok("(true &) ; (true &); i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; cat /proc/[0-9]*/stat | grep -c ' Z ' || true");
    assert_eq!(out, "0\n");
}

#[test]
fn pid_namespace_hides_host_processes() {
    let out = ok("echo $$; ls -d /proc/[0-9]* | wc -l");
    let v: Vec<u32> = out
        .split_whitespace()
        .map(|s| s.parse().expect("number"))
        .collect();
    assert_eq!(v[0], 1, "the command is pid 1 of its pid namespace");
    assert!(v[1] <= 4, "saw {} processes: host pids are visible", v[1]);
    let proc1 = ok("cat /proc/1/cmdline | wc -c");
    assert_ne!(proc1.trim(), "0");
}

#[test]
fn orphans_are_reaped_and_killed_at_exit() {
    // A background job outlives the command: the run must still end promptly.
    let start = Instant::now();
    let o = sh("sleep 30 & echo started");
    assert!(o.exit.success());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "waited for the orphan"
    );
}

#[test]
fn rootfs_is_left_without_mount_points() {
    let rootfs = Rootfs::new();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for d in ["", "etc"] {
        let f = std::fs::File::open(rootfs.path().join(d)).expect("open");
        f.set_modified(old).expect("set mtime");
    }
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let mut before = std::collections::HashMap::new();
    for d in ["", "etc"] {
        let f = std::fs::File::open(rootfs.path().join(d)).expect("open");
        f.set_modified(old).expect("set mtime");
        before.insert(d, old);
    }
    let o = run_with(
        &rootfs,
        spec("ls /etc/hosts /etc/resolv.conf /etc/hostname /proc/1 >/dev/null && touch /tmp/made"),
        Confinement::default(),
    );
    assert!(o.exit.success(), "{}", o.stderr);
    for p in [
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
        "proc",
        "dev",
        "sys",
    ] {
        assert!(
            std::fs::symlink_metadata(rootfs.path().join(p)).is_err(),
            "{p} left in the rootfs"
        );
    }
    assert!(
        rootfs.path().join("tmp/made").exists(),
        "writes to the rootfs are kept"
    );
    for d in ["", "etc"] {
        let after = std::fs::metadata(rootfs.path().join(d))
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(after, old, "mtime of /{d} changed");
    }
}

#[test]
fn existing_etc_files_are_kept_and_not_modified() {
    let rootfs = Rootfs::new();
    std::fs::write(rootfs.path().join("etc/hosts"), "original\n").expect("write");
    let o = run_with(
        &rootfs,
        spec("cat /etc/hosts; echo changed > /etc/hosts"),
        Confinement::default(),
    );
    assert!(o.exit.success(), "{}", o.stderr);
    assert_eq!(o.stdout, "127.0.0.1\tlocalhost\n");
    assert_eq!(
        std::fs::read_to_string(rootfs.path().join("etc/hosts")).expect("read"),
        "original\n"
    );
}

#[test]
fn symlinked_etc_cannot_escape_the_rootfs() {
    // /etc/resolv.conf -> /../../../tmp/<victim>: resolved inside the rootfs.
    let victim = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(victim.path(), "host file\n").expect("write");
    let rootfs = Rootfs::new();
    let target = format!("/../../../..{}", victim.path().display());
    std::os::unix::fs::symlink(&target, rootfs.path().join("etc/resolv.conf")).expect("symlink");
    let r = try_run_with(
        &rootfs,
        spec("cat /etc/resolv.conf"),
        Confinement::default(),
    );
    assert!(r.is_err(), "a dangling (in-root) symlink must be refused");
    assert_eq!(
        std::fs::read_to_string(victim.path()).expect("read"),
        "host file\n"
    );
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let rootfs = Rootfs::new();
    let mut p = spec("true");
    p.args.clear();
    assert!(matches!(
        try_run_with(&rootfs, p, Confinement::default()),
        Err(SandboxError::Invalid(_))
    ));
    let mut p = spec("true");
    p.cwd = "relative".into();
    assert!(matches!(
        try_run_with(&rootfs, p, Confinement::default()),
        Err(SandboxError::Invalid(_))
    ));
    let out = Buf::default();
    let host_root = Embedded.run(RunRequest {
        rootfs: Path::new("/"),
        process: spec("true"),
        confinement: Confinement::default(),
        hosts: String::new(),
        resolv_conf: String::new(),
        mounts: Vec::new(),
        inline_script: None,
        shared_network: None,
        stdout: Box::new(out.clone()),
        stderr: Box::new(out),
    });
    assert!(matches!(host_root, Err(SandboxError::Invalid(_))));
    let missing = tempfile::tempdir().expect("temp").path().join("gone");
    let r = Embedded.run(RunRequest {
        rootfs: &missing,
        process: spec("true"),
        confinement: Confinement::default(),
        hosts: String::new(),
        resolv_conf: String::new(),
        mounts: Vec::new(),
        inline_script: None,
        shared_network: None,
        stdout: Box::new(Buf::default()),
        stderr: Box::new(Buf::default()),
    });
    assert!(matches!(r, Err(SandboxError::Io { .. })), "{r:?}");
    let c = Confinement {
        capabilities: vec!["CAP_NOPE".into()],
        ..Confinement::default()
    };
    assert!(matches!(
        try_run_with(&rootfs, spec("true"), c),
        Err(SandboxError::Invalid(_))
    ));
    let c = Confinement {
        seccomp: SeccompPolicy::Profile("{".into()),
        ..Confinement::default()
    };
    assert!(matches!(
        try_run_with(&rootfs, spec("true"), c),
        Err(SandboxError::Seccomp(_))
    ));
}

/// Host pids whose command line is exactly `argv`.
fn host_pids_running(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .ok()
                        .as_deref()
                        == Some(&want[..])
                })
                .collect()
        })
        .unwrap_or_default()
}

const HELPER_ENV: &str = "KILN_SANDBOX_TEST_HELPER";
const HELPER_NET_ENV: &str = "KILN_SANDBOX_TEST_HELPER_NET";

/// Not a test on its own: run by `sandbox_dies_with_kiln` in a child process.
#[test]
fn helper_long_sleep_in_sandbox() {
    let Ok(tag) = std::env::var(HELPER_ENV) else {
        return;
    };
    let rootfs = Rootfs::new();
    let mut p = spec("");
    p.args = vec!["sleep".into(), tag];
    let c = match std::env::var(HELPER_NET_ENV).as_deref() {
        Ok("private") => private(),
        _ => Confinement::default(),
    };
    let _ = try_run_with(&rootfs, p, c);
}

/// Whether `pid` is gone or a zombie (dead, waiting for its new parent).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

#[test]
fn sandbox_dies_with_kiln() {
    kill_kiln_during_a_step("none", 3000);
}

#[test]
fn sandbox_and_slirp4netns_die_with_kiln() {
    require_slirp4netns();
    kill_kiln_during_a_step("private", 5000);
}

fn kill_kiln_during_a_step(network: &str, base: u32) {
    require_root();
    // A unique duration identifies our sleeper among the host's processes.
    let tag = format!("{}", base + std::process::id() % 1000);
    let exe = std::env::current_exe().expect("test binary");
    // The helper dies without cleaning up: its temp dirs go under ours.
    let work = tempfile::Builder::new()
        .prefix("kiln-helper-")
        .tempdir()
        .expect("temp dir");
    let mut helper = std::process::Command::new(exe)
        .args(["--exact", "helper_long_sleep_in_sandbox", "--nocapture"])
        .env(HELPER_ENV, &tag)
        .env(HELPER_NET_ENV, network)
        .env("TMPDIR", work.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn helper");
    let deadline = Instant::now() + Duration::from_secs(20);
    while host_pids_running(&["sleep", &tag]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the sandboxed sleep never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let slirps: Vec<u32> = slirp_children_of(helper.id())
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    if network == "private" {
        assert_eq!(
            slirps.len(),
            1,
            "the helper's step runs without slirp4netns"
        );
    }
    helper.kill().expect("kill helper");
    let _ = helper.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host_pids_running(&["sleep", &tag]).is_empty() {
        assert!(Instant::now() < deadline, "the sandbox outlived kiln");
        std::thread::sleep(Duration::from_millis(20));
    }
    while !slirps.iter().all(|pid| dead(*pid)) {
        assert!(
            Instant::now() < deadline,
            "slirp4netns {slirps:?} outlived kiln"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
