//! RUN steps: the command runs sandboxed on an overlay of the stage's layers and what it
//! changes (new, changed and deleted files) becomes the step's layer.

mod support;

use support::TestEnv;

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn run_changes_become_a_layer_with_env_workdir_and_user_applied() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        ARG WHO=kiln\n\
        ENV GREETING=hello\n\
        WORKDIR /work\n\
        RUN echo \"$GREETING $WHO\" > msg && rm /bin/wc && mkdir -p /d/e && echo f > /d/e/f && hostname > host\n\
        RUN mkdir /out && chown app:app /out\n\
        USER app\n\
        RUN id -u > /out/uid && id -g >> /out/uid\n\
        CMD [\"cat\", \"/work/msg\"]\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    env.ok(&["build", "-q", "-t", "run:1", s(&ctx)]);
    let root = env.path().join("rootfs");
    env.ok(&["export", "run:1", "-o", s(&root)]);
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        read("work/msg"),
        "hello kiln\n",
        "ENV and ARG reach the command, WORKDIR is its cwd"
    );
    assert_eq!(read("d/e/f"), "f\n");
    assert_eq!(read("work/host"), "kiln\n", "the step has its own hostname");
    assert_eq!(read("out/uid"), "1000\n1000\n", "USER applies to RUN");
    assert!(
        !root.join("bin/wc").exists(),
        "a deleted file is whited out"
    );
    assert!(root.join("bin/cat").exists());
    for leaked in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        assert!(
            !root.join(leaked).exists(),
            "{leaked} must not leak into the image"
        );
    }
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "run:1"])).expect("inspect json");
    let layers = inspect[0]["RootFS"]["Layers"]
        .as_array()
        .expect("layers")
        .len();
    assert_eq!(layers, 5, "base, WORKDIR and three RUN layers");
}

#[test]
fn run_is_confined_like_docker() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN grep CapEff /proc/self/status > /caps; grep NoNewPrivs /proc/self/status >> /caps\n\
        RUN if mount -t tmpfs t /tmp 2>/dev/null; then echo mounted; else echo refused; fi > /mount\n\
        RUN ls /proc/self/fd > /fds\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    env.ok(&["build", "-q", "-t", "confined:1", s(&ctx)]);
    let root = env.path().join("rootfs");
    env.ok(&["export", "confined:1", "-o", s(&root)]);
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let caps = read("caps");
    assert!(
        caps.contains("CapEff:\t00000000a80425fb"),
        "Docker's default capabilities: {caps}"
    );
    assert!(caps.contains("NoNewPrivs:\t1"), "{caps}");
    assert_eq!(read("mount"), "refused\n", "mount is not allowed in a step");
    let fds: Vec<String> = read("fds").lines().map(str::to_string).collect();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "no descriptor of kiln's leaks in (3 is ls's own)"
    );
}

#[test]
fn a_failing_run_shows_its_last_lines_and_its_place() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nENV A=1\nRUN echo first; echo second >&2; exit 3\n",
        )],
    );
    let out = env.run(&["build", "--progress", "plain", "-t", "fails:1", s(&ctx)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A failed step exits 4 (it exited 1, "input rejected", before the exit codes were
    // split by kind).
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    // The message counts steps as the progress display does.
    assert!(stderr.contains(" [stage-0 3/3] RUN echo first"), "{stderr}");
    assert!(
        stderr.contains("error: RUN [stage-0 3/3] failed with exit code 3"),
        "{stderr}"
    );
    // stdout and stderr are separate pipes: their relative order is not fixed.
    assert!(stderr.contains("\n    first\n"), "{stderr}");
    assert!(stderr.contains("\n    second\n"), "{stderr}");
    assert!(stderr.contains("Dockerfile:3:1"), "{stderr}");
    assert!(
        !env.ok(&["images"]).contains("fails"),
        "no image for a failed build"
    );
    let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
    assert!(
        !mounts.contains(env.path().to_str().expect("utf-8")),
        "no mount left behind"
    );
}

#[test]
fn overlay_and_vfs_give_identical_layers() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN mkdir -p /a/b && echo x > /a/b/x && ln -s /a/b/x /a/link && ln /a/b/x /a/hard && chmod 4755 /a/b/x && echo p > /p1 && ln /p1 /p2\n\
        RUN rm -r /a/b && rm /bin/wc && mkdir /a/b && echo y > /a/b/y && chown 1000:50 /a/b/y\n\
        RUN echo more >> /p1\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let layers = |driver: &str| {
        env.ok(&[
            "build",
            "-q",
            "--source-date-epoch",
            "0",
            "--storage-driver",
            driver,
            "-t",
            &format!("drv-{driver}:1"),
            s(&ctx),
        ]);
        let inspect: serde_json::Value =
            serde_json::from_str(&env.ok(&["inspect", &format!("drv-{driver}:1")])).expect("json");
        inspect[0]["RootFS"]["Layers"].clone()
    };
    let overlay = layers("overlay");
    let vfs = layers("vfs");
    assert_eq!(overlay.as_array().map(Vec::len), Some(4));
    assert_eq!(
        overlay, vfs,
        "both storage drivers give the same layer digests"
    );
    let root = env.path().join("rootfs");
    env.ok(&["export", "drv-vfs:1", "-o", s(&root)]);
    assert!(!root.join("a/b/x").exists() && !root.join("bin/wc").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("a/b/y")).expect("y"),
        "y\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("a/hard")).expect("hard"),
        "x\n"
    );
    // A hard link of a lower layer breaks when one name changes (overlayfs copy-up).
    assert_eq!(std::fs::read_to_string(root.join("p2")).expect("p2"), "p\n");
}

#[test]
fn steps_that_change_nothing_stack_fine() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\nRUN true\nRUN true\nRUN echo after > /after\nRUN true\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    env.ok(&["build", "-q", "-t", "empties:1", s(&ctx)]);
    let root = env.path().join("rootfs");
    env.ok(&["export", "empties:1", "-o", s(&root)]);
    assert_eq!(
        std::fs::read_to_string(root.join("after")).expect("after"),
        "after\n"
    );
}

#[test]
fn heredoc_runs_are_scripts_files_or_shell_input_as_in_buildkit() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = concat!(
        "FROM busybox:test\n",
        "RUN <<EOF\n",
        "echo one > /one\n",
        "echo two >> /one\n",
        "EOF\n",
        "RUN <<EOF\n",
        "#!/bin/sh\n",
        "echo \"$0\" > /script-name\n",
        "stat -c '%a %U' /dev/pipes/EOF > /script-mode\n",
        "if touch /dev/pipes/x 2>/dev/null; then echo writable; else echo read-only; fi > /pipes\n",
        "EOF\n",
        "RUN cat <<A > /a && cat <<-B > /b\n",
        "alpha $HOME\n",
        "A\n",
        "\tbeta\n",
        "\tB\n",
        "RUN sh <<'EOF'\n",
        "echo \"$((1+2))\" > /arith\n",
        "EOF\n",
    );
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    env.ok(&["build", "-q", "-t", "heredoc:1", s(&ctx)]);
    let root = env.path().join("rootfs");
    env.ok(&["export", "heredoc:1", "-o", s(&root)]);
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        read("one"),
        "one\ntwo\n",
        "a heredoc alone is the shell's script"
    );
    assert_eq!(
        read("script-name"),
        "/dev/pipes/EOF\n",
        "a heredoc with #! runs as a file"
    );
    assert_eq!(read("script-mode"), "755 root\n");
    assert_eq!(read("pipes"), "read-only\n");
    assert_eq!(
        read("a"),
        "alpha /root\n",
        "the shell reads and expands the heredoc"
    );
    assert_eq!(read("b"), "beta\n", "<<- strips tabs");
    assert_eq!(read("arith"), "3\n");
    assert!(
        !root.join("dev/pipes").exists(),
        "the script stays out of the image"
    );
    let history = env.ok(&["history", "heredoc:1"]);
    assert!(
        history.contains("/bin/sh -c /dev/pipes/EOF"),
        "history shows what ran: {history}"
    );
}

#[test]
fn failing_heredoc_run_shows_its_output_and_location() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\nRUN <<EOF\necho about to fail >&2\nexit 3\nEOF\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let out = env.run(&["build", "-q", s(&ctx)]);
    support::assert_fails(&out, 4, &["Dockerfile:2", "about to fail", "exit code 3"]);
}

/// Steps of two stages running at the same time: each step's filesystem is unmounted
/// while the other stage starts steps (forks that copy descriptors, new mount namespaces
/// that are peers for a moment). Before the unmount waited out such a brief hold, about
/// four builds in ten failed with "cannot unmount"; ten builds in a row must pass.
#[test]
fn parallel_stages_with_many_steps_build_ten_times_in_a_row() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let mut dockerfile = String::new();
    for stage in ["a", "b"] {
        dockerfile.push_str(&format!("FROM busybox:test AS {stage}\n"));
        for i in 0..15 {
            dockerfile.push_str(&format!("RUN echo {stage}{i} > /{stage}{i}\n"));
        }
    }
    dockerfile.push_str("FROM busybox:test\nCOPY --from=a /a14 /a\nCOPY --from=b /b14 /b\n");
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    for n in 0..10 {
        // The race is on the host's overlay mounts: the oci tier, also in the suite's
        // `KILN_ISOLATION=vm` rerun (twenty TCG guests booting two at a time there made
        // a guest hit its soft-lockup panic once).
        let out = env.run(&[
            "build",
            "-q",
            "--no-cache",
            "--jobs",
            "2",
            "--isolation",
            "oci",
            s(&ctx),
        ]);
        assert!(out.status.success(), "build {n}: {}", support::show(&out));
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
    let store = env.store();
    assert!(
        !mounts.contains(store.to_str().expect("utf-8")),
        "mounts left in the store: {mounts}"
    );
}
