//! `--runtime`: the same RUN steps through the embedded runtime and Debian's runc, crun
//! and runsc (gVisor) give the same layers, with the same confinement.
//! A runtime test is skipped (with a printed reason) only when its binary is absent.

mod support;

use support::{assert_fails, s, TestEnv};

const RUNTIMES: [&str; 3] = ["runc", "crun", "runsc"];

/// The runtime's path, or `None` (and a printed reason) when it is not installed.
fn installed(name: &str) -> Option<String> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let p = std::path::Path::new(dir).join(name);
        if p.is_file() {
            return Some(p.to_string_lossy().into_owned());
        }
    }
    eprintln!("skipping --runtime {name}: it is not installed (apt-get install {name})");
    None
}

/// Dockerfiles whose RUN steps change files in every way a layer records.
const DOCKERFILES: &[(&str, &str)] = &[
    (
        "files",
        "FROM busybox:test\n\
         RUN for c in mkdir rm ln mv touch chown chmod cp; do /bin/busybox ln -s busybox /bin/$c; done\n\
         RUN mkdir -p /a/b/c && echo one > /a/b/c/f && echo two > /a/x && ln -s /a/x /a/sym && ln /a/x /a/hard\n\
         RUN rm /a/x && mv /a/b /a/moved && chmod 4755 /a/moved && chown 1000:50 /a/moved/c/f\n\
         RUN rm -r /a/moved && mkdir /a/moved && echo fresh > /a/moved/n\n\
         RUN echo gone > /tmp/t && rm /tmp/t && rm /bin/wc\n",
    ),
    (
        "user-workdir-env",
        "FROM busybox:test\n\
         ENV GREETING=hi\n\
         WORKDIR /home/app/w\n\
         RUN /bin/busybox chown app:app /home/app/w\n\
         USER app\n\
         ARG WHO=kiln\n\
         RUN echo \"$GREETING $WHO $(id -u):$(id -g) $(id -G) $HOME $(pwd)\" > out\n",
    ),
    (
        "heredocs",
        "FROM busybox:test\n\
         RUN <<EOF\n\
         echo one > /h1\n\
         EOF\n\
         RUN <<EOF\n\
         #!/bin/sh\n\
         echo two \"$0\" > /h2\n\
         EOF\n",
    ),
    (
        "shell-and-exec",
        "FROM busybox:test\n\
         SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
         RUN echo shell > /s\n\
         RUN [\"/bin/sh\", \"-c\", \"echo exec > /e; hostname > /h\"]\n",
    ),
];

/// Build `dockerfile` with `runtime` (None: embedded) at a fixed epoch; the image ID.
fn build(env: &TestEnv, name: &str, dockerfile: &str, runtime: Option<&str>) -> String {
    let ctx = env.context(&format!("ctx-{name}"), &[("Dockerfile", dockerfile)]);
    let mut args = vec!["build", "-q", "--source-date-epoch", "0"];
    if let Some(rt) = runtime {
        args.extend(["--runtime", rt]);
    }
    args.push(s(&ctx));
    env.ok(&args).trim().to_string()
}

#[test]
fn every_runtime_gives_the_embedded_runtimes_layers() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    for (name, dockerfile) in DOCKERFILES {
        let embedded = build(&env, name, dockerfile, None);
        let layers = env.inspect(&embedded)["RootFS"]["Layers"].clone();
        for rt in RUNTIMES {
            let Some(path) = installed(rt) else { continue };
            for given in [rt, path.as_str()] {
                let id = build(&env, name, dockerfile, Some(given));
                assert_eq!(
                    env.inspect(&id)["RootFS"]["Layers"],
                    layers,
                    "{name}: --runtime {given} gave other layers than the embedded runtime"
                );
                assert_eq!(id, embedded, "{name}: --runtime {given} gave another image");
            }
        }
    }
}

#[test]
fn runtimes_apply_dockers_confinement() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    // Capabilities, no_new_privs, masked and read-only /proc paths, seccomp, devices.
    let dockerfile = "FROM busybox:test\n\
        RUN grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status > /status\n\
        RUN for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do [ -e $f ] && wc -c < $f; done > /masked; (echo 1 > /proc/sys/kernel/panic) 2>/dev/null && echo writable > /sys-write || echo read-only > /sys-write\n\
        RUN /bin/busybox unshare -m true 2>/dev/null && echo yes > /unshare || echo no > /unshare\n\
        RUN /bin/busybox mknod /sda b 8 0 && (/bin/busybox head -c 1 /sda > /dev/null 2>&1 && echo opened > /dev-open || echo refused > /dev-open); /bin/busybox rm -f /sda\n";
    for rt in ["runc", "crun"] {
        if installed(rt).is_none() {
            continue;
        }
        let ctx = env.context(&format!("conf-{rt}"), &[("Dockerfile", dockerfile)]);
        env.ok(&[
            "build",
            "-q",
            "-t",
            &format!("conf:{rt}"),
            "--runtime",
            rt,
            s(&ctx),
        ]);
        let root = env.export(&format!("conf:{rt}"), &format!("root-{rt}"));
        let read = |p: &str| {
            std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{rt} {p}: {e}"))
        };
        let status = read("status");
        assert!(
            status.contains("CapEff:\t00000000a80425fb"),
            "{rt}: Docker's capabilities\n{status}"
        );
        assert!(
            status.contains("NoNewPrivs:\t1"),
            "{rt}: no_new_privs\n{status}"
        );
        assert!(
            status.contains("Seccomp:\t2"),
            "{rt}: a seccomp filter\n{status}"
        );
        let masked = read("masked");
        assert!(
            !masked.is_empty() && masked.lines().all(|l| l.trim() == "0"),
            "{rt}: masked /proc files read empty\n{masked}"
        );
        assert_eq!(
            read("sys-write"),
            "read-only\n",
            "{rt}: /proc/sys is read-only"
        );
        assert_eq!(read("unshare"), "no\n", "{rt}: seccomp refuses unshare");
        assert_eq!(
            read("dev-open"),
            "refused\n",
            "{rt}: a host block device cannot be opened"
        );
    }
}

#[test]
fn runtimes_apply_pids_limits() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done 2>/dev/null; wait\n";
    let ctx = env.context("pids", &[("Dockerfile", dockerfile)]);
    for rt in ["runc", "crun"] {
        if installed(rt).is_none() {
            continue;
        }
        let out = env.run(&[
            "build",
            "-q",
            "--pids-limit",
            "10",
            "--runtime",
            rt,
            s(&ctx),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                || err.contains("fork")
                || err.contains("Resource temporarily unavailable"),
            "{rt}: 40 processes under --pids-limit 10 must fail\n{}",
            support::show(&out)
        );
    }
}

#[test]
fn private_network_reaches_out_through_runc_and_crun() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    // slirp's gateway answers on the private network; the host's loopback is not mapped.
    let dockerfile = "FROM busybox:test\n\
        RUN /bin/busybox ip route > /route; /bin/busybox cat /etc/resolv.conf > /resolv\n";
    let ctx = env.context("net", &[("Dockerfile", dockerfile)]);
    for rt in ["runc", "crun"] {
        if installed(rt).is_none() {
            continue;
        }
        env.ok(&[
            "build",
            "-q",
            "-t",
            &format!("net:{rt}"),
            "--runtime",
            rt,
            s(&ctx),
        ]);
        let root = env.export(&format!("net:{rt}"), &format!("net-{rt}"));
        let route = std::fs::read_to_string(root.join("route")).expect("route");
        assert!(
            route.contains("default via 10.0.2.2"),
            "{rt}: slirp's default route\n{route}"
        );
        let resolv = std::fs::read_to_string(root.join("resolv")).expect("resolv");
        assert_eq!(resolv, "nameserver 10.0.2.3\n", "{rt}: slirp's DNS");
    }
}

#[test]
fn unknown_runtime_is_refused_with_what_to_do() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context("ctx", &[("Dockerfile", "FROM busybox:test\nRUN true\n")]);
    let out = env.run(&["build", "--runtime", "no-such-runtime", s(&ctx)]);
    // A refused build option is a command-line mistake: exit 2 (1 before exit codes were
    // chosen by the error's kind).
    assert_fails(
        &out,
        2,
        &[
            "--runtime no-such-runtime",
            "not found in PATH",
            "apt-get install no-such-runtime",
        ],
    );
    let out = env.run(&["build", "--runtime", "/etc/passwd", s(&ctx)]);
    assert_fails(&out, 2, &["/etc/passwd is not an executable file"]);
}

#[test]
fn info_lists_the_runtimes_found() {
    let env = TestEnv::new();
    let out = env.ok(&["info"]);
    assert!(out.contains("embedded"), "{out}");
    for rt in RUNTIMES {
        if let Some(path) = installed(rt) {
            let line = out
                .lines()
                .find(|l| l.trim_start().starts_with(rt))
                .unwrap_or_else(|| panic!("{rt} missing from kiln info:\n{out}"));
            assert!(line.contains(&path), "{line}");
            assert!(line.contains("version"), "{line}");
        }
    }
}

#[test]
fn insecure_steps_and_network_none_mean_the_same_through_every_runtime() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN --security=insecure grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status > /insecure\n\
        RUN --network=none /bin/busybox ip -o link | /bin/busybox cut -d: -f2 > /links\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let build = |tag: &str, runtime: Option<&str>| {
        let mut args = vec!["build", "-q", "-t", tag, "--allow", "security.insecure"];
        if let Some(rt) = runtime {
            args.extend(["--runtime", rt]);
        }
        args.push(s(&ctx));
        env.ok(&args);
        let root = env.export(tag, &format!("root-{}", tag.replace(':', "-")));
        let read = |p: &str| std::fs::read_to_string(root.join(p)).expect("read");
        (read("insecure"), read("links"))
    };
    let embedded = build("ins:embedded", None);
    assert!(
        embedded.0.contains("NoNewPrivs:\t0") && embedded.0.contains("Seccomp:\t0"),
        "{}",
        embedded.0
    );
    assert_eq!(embedded.1.trim(), "lo", "--network=none has only lo");
    for rt in ["runc", "crun"] {
        if installed(rt).is_none() {
            continue;
        }
        assert_eq!(build(&format!("ins:{rt}"), Some(rt)), embedded, "{rt}");
    }
}
