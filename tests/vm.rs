//! `--isolation vm`: RUN steps in a QEMU guest (software emulation here, so few and small
//! builds on the busybox image). The image equals the `oci` tier's byte for byte, mounts
//! of every kind but ssh work, a failing step fails as under `oci`, and what a step does
//! to its guest kernel (hostname, sysctls, a crash) leaves the host unchanged.

mod support;

use std::path::Path;
use std::process::Output;
use support::{assert_fails, files_containing, show, TestEnv};

fn busybox_env() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    env
}

/// `kiln build` of `ctx` under `tier` with SOURCE_DATE_EPOCH=0 and `extra` flags.
fn build(env: &TestEnv, ctx: &Path, tier: &str, extra: &[&str]) -> Output {
    let mut cmd = env.kiln();
    cmd.args(["build", "--progress", "plain", "--isolation", tier]);
    cmd.env("SOURCE_DATE_EPOCH", "0");
    cmd.args(extra).arg(ctx);
    cmd.output().expect("run kiln")
}

/// The image digest a successful build printed last.
fn digest(out: &Output) -> String {
    assert!(out.status.success(), "build failed:\n{}", show(out));
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("sha256:"), "no digest:\n{}", show(out));
    last
}

fn guest_release() -> String {
    let mut found: Vec<String> = std::fs::read_dir("/boot")
        .expect("/boot")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            name.strip_prefix("vmlinuz-").map(str::to_string)
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("a guest kernel in /boot (scripts/deps.sh installs it)")
}

const FILES: &str = r#"FROM busybox:test
SHELL ["/bin/sh", "-ec"]
WORKDIR /work
RUN mkdir -p d/e && echo one > d/e/f && ln d/e/f d/hard && ln -s e/f d/sym \
 && chown 1000:50 d/e/f && chmod 4755 d/e/f && mkdir -m 1777 /shared
RUN rm d/sym && rm -rf /tmp && echo gone > x && rm x
RUN rm -rf /home/app && mkdir -p /home/app/new && echo n > /home/app/new/f
USER app
RUN <<SCRIPT
id > /shared/who
echo "$HOME" >> /shared/who
SCRIPT
USER root
RUN uname -r
"#;

#[test]
fn vm_steps_give_the_same_image_as_the_oci_tier() {
    let env = busybox_env();
    let ctx = env.context("ctx", &[("Dockerfile", FILES)]);
    let oci = build(&env, &ctx, "oci", &["--network", "none", "-t", "files:oci"]);
    let vm = build(
        &env,
        &ctx,
        "vm",
        &["--network", "none", "--no-cache", "-t", "files:vm"],
    );
    // Each tier ran the steps itself: the guest's kernel answered `uname -r` under vm.
    let vm_text = show(&vm);
    assert!(vm_text.contains("isolation vm: QEMU microvm"), "{vm_text}");
    assert!(vm_text.contains(&guest_release()), "{vm_text}");
    let host = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    assert!(show(&oci).contains(&host), "{}", show(&oci));
    assert_eq!(
        digest(&vm),
        digest(&oci),
        "vm:\n{vm_text}\noci:\n{}",
        show(&oci)
    );
}

#[test]
fn a_failing_vm_step_fails_the_build_with_its_exit_code_and_output() {
    let env = busybox_env();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN echo about to fail && exit 3\n",
        )],
    );
    let out = build(&env, &ctx, "vm", &["--network", "none"]);
    assert_fails(&out, 4, &["exit code 3", "about to fail", "Dockerfile:2"]);
    env.ok(&["store", "verify"]);
}

/// A step the agent cannot run (its USER is in no passwd of the image) fails with the
/// agent's reason, not as a guest that went away.
#[test]
fn a_vm_step_with_an_unknown_user_says_so() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test\nUSER nosuchuser\nRUN true\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let out = build(&env, &ctx, "vm", &["--network", "none"]);
    assert_fails(
        &out,
        4,
        &["could not run in its VM", "USER nosuchuser", "Dockerfile:3"],
    );
    assert!(!show(&out).contains("ended its VM"), "{}", show(&out));
}

#[test]
fn vm_steps_get_cache_secret_tmpfs_and_bind_mounts() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test\n\
        RUN --mount=type=cache,target=/cache echo run >> /cache/runs; echo runs: $(wc -l < /cache/runs); \
            echo old: $(ls /cache | grep -c old-); rm -f /cache/old-*; touch /cache/old-$(wc -l < /cache/runs)\n\
        RUN --mount=type=bind,source=.,target=/ctx,rw echo changed > /ctx/input.txt && touch /ctx/new\n\
        RUN --mount=type=secret,id=tok echo secret-bytes: $(wc -c < /run/secrets/tok)\n\
        RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/y && echo tmpfs: $(grep -c ' /scratch tmpfs' /proc/mounts)\n\
        RUN --mount=type=bind,source=input.txt,target=/in echo bound: $(cat /in)\n";
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", dockerfile), ("input.txt", "from-context")],
    );
    let secret = env.path().join("tok");
    std::fs::write(&secret, "s3cret-value").expect("secret");
    let secret_flag = format!("id=tok,src={}", secret.display());
    let flags = [
        "--network",
        "none",
        "--no-cache",
        "--secret",
        &secret_flag,
        "-t",
        "m:1",
    ];
    let first = build(&env, &ctx, "vm", &flags);
    digest(&first);
    let second = build(&env, &ctx, "vm", &flags);
    digest(&second);
    let third = build(&env, &ctx, "vm", &flags);
    digest(&third);
    let text = show(&second);
    // The cache mount kept what the first build's step wrote in its guest, and lost what
    // the second one removed (the control: what that one found there).
    assert!(show(&first).contains("runs: 1"), "{}", show(&first));
    assert!(show(&first).contains("old: 0"), "{}", show(&first));
    assert!(text.contains("runs: 2"), "{text}");
    assert!(text.contains("old: 1"), "{text}");
    assert!(show(&third).contains("old: 1"), "{}", show(&third));
    // A rw bind mount's writes stay in the step.
    assert_eq!(
        std::fs::read_to_string(ctx.join("input.txt")).expect("input"),
        "from-context"
    );
    assert!(!ctx.join("new").exists());
    assert!(text.contains("secret-bytes: 12"), "{text}");
    assert!(text.contains("tmpfs: 1"), "{text}");
    assert!(text.contains("bound: from-context"), "{text}");
    // The secret is in no blob of the store.
    let hit = files_containing(&env.store().join("blobs"), b"s3cret-value");
    assert!(hit.is_empty(), "the secret reached the store: {hit:?}");
}

/// An insecure step changes its guest's hostname and a sysctl, then crashes the guest
/// kernel through /proc/sysrq-trigger: the build fails saying so; the host's hostname and
/// sysctl are as before, and no QEMU is left.
#[test]
fn a_step_that_crashes_its_guest_kernel_fails_and_the_host_is_unchanged() {
    let env = busybox_env();
    let step = "RUN --security=insecure hostname evil-guest && echo guest-hostname: $(hostname) \
                && echo 1 > /proc/sys/net/ipv4/ip_forward \
                && echo guest-forward: $(cat /proc/sys/net/ipv4/ip_forward) \
                && echo 1 > /proc/sys/kernel/sysrq && echo c > /proc/sysrq-trigger";
    let dockerfile = format!("FROM busybox:test\n{step}\n");
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    let read = |p: &str| std::fs::read_to_string(p).expect(p);
    let hostname = read("/proc/sys/kernel/hostname");
    let forward = read("/proc/sys/net/ipv4/ip_forward");
    let flags = ["--network", "none", "--allow", "security.insecure"];
    let out = build(&env, &ctx, "vm", &flags);
    // Positive control: the step did change both in its guest before the crash.
    let says = [
        "guest-hostname: evil-guest",
        "guest-forward: 1",
        "ended its VM",
        "Kernel panic - not syncing: sysrq triggered crash",
    ];
    assert_fails(&out, 4, &says);
    assert_eq!(read("/proc/sys/kernel/hostname"), hostname);
    assert_eq!(read("/proc/sys/net/ipv4/ip_forward"), forward);
    assert_no_qemu(&env);
    env.ok(&["store", "verify"]);
}

/// A step that sleeps past `--timeout` is stopped with its whole guest; the build says so
/// (as under `oci`) and leaves no QEMU running.
#[test]
fn a_vm_step_past_its_timeout_is_killed_with_its_guest() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test\nRUN echo started && sleep 1000\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let mut cmd = env.kiln();
    cmd.args([
        "build",
        "--progress",
        "plain",
        "--isolation",
        "vm",
        "--network",
        "none",
    ]);
    cmd.args(["--timeout", "8s"]).arg(&ctx);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("run kiln");
    // Positive control: the probe finds the guest's QEMU while the step runs.
    env.wait_for_qemu();
    let out = child.wait_with_output().expect("wait for kiln");
    assert_fails(&out, 4, &["started", "did not finish within --timeout 8s"]);
    assert_no_qemu(&env);
    env.ok(&["store", "verify"]);
}

fn assert_no_qemu(env: &TestEnv) {
    let left = env.qemus();
    assert!(left.is_empty(), "left running: {left}");
}

/// Nothing of the host reaches a VM step: kiln's environment, its registry credentials
/// file and the store's path appear nowhere the step reads (its environment, the guest
/// kernel's command line, its mounts, its whole filesystem). Control: the same probe finds
/// the marker once a build argument passes it in.
#[test]
fn nothing_of_the_host_reaches_a_vm_step() {
    let env = busybox_env();
    let marker = "host-marker-7731";
    let store = env.store().display().to_string();
    let probe = format!(
        "RUN --security=insecure (env; cat /proc/cmdline /proc/mounts; find / -xdev 2>/dev/null; \
         find / -xdev -type f 2>/dev/null | xargs grep -l {marker} 2>/dev/null) > /seen; echo marker-hits: $(grep -c {marker} /seen); \
         echo store-hits: $(grep -c '{store}' /seen); rm /seen"
    );
    let dockerfile = format!("FROM busybox:test\nARG PASSED\n{probe}\n");
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    let auth = env.path().join("auth.json");
    std::fs::write(
        &auth,
        format!("{{\"auths\":{{\"r.example\":{{\"auth\":\"{marker}\"}}}}}}"),
    )
    .expect("auth file");
    let run = |extra: &[&str]| {
        let mut cmd = env.kiln();
        cmd.args([
            "build",
            "--progress",
            "plain",
            "--isolation",
            "vm",
            "--network",
            "none",
        ]);
        cmd.args(["--allow", "security.insecure", "--no-cache"])
            .args(extra)
            .arg(&ctx);
        cmd.env("KILN_TEST_MARK", marker)
            .env("REGISTRY_AUTH_FILE", &auth);
        let out = cmd.output().expect("run kiln");
        assert!(out.status.success(), "{}", show(&out));
        show(&out)
    };
    let clean = run(&[]);
    assert!(clean.contains("marker-hits: 0"), "{clean}");
    assert!(clean.contains("store-hits: 0"), "{clean}");
    let control = run(&["--build-arg", &format!("PASSED={marker}")]);
    assert!(!control.contains("marker-hits: 0"), "{control}");
}

/// An insecure step loads a kernel module (the guest kernel's own `dummy.ko`, copied in from
/// the build context), mounts a filesystem and calls reboot: inside its pid namespace that
/// ends the step (SIGHUP, as in any container), so the build fails with signal 1; the
/// host's module list and mounts are as before. Control: the step saw the module loaded and
/// the mount made in its guest.
#[test]
fn a_step_that_loads_a_module_mounts_and_reboots_changes_only_its_guest() {
    let env = busybox_env();
    let release = guest_release();
    let ko = Path::new("/lib/modules")
        .join(&release)
        .join("kernel/drivers/net/dummy.ko");
    let ctx = env.context("ctx", &[]);
    std::fs::copy(&ko, ctx.join("dummy.ko")).expect("the guest kernel's dummy.ko");
    let dockerfile = "FROM busybox:test\nCOPY dummy.ko /dummy.ko\n\
        RUN --security=insecure busybox insmod /dummy.ko && echo guest-module: $(grep -c '^dummy ' /proc/modules) \
         && mkdir -p /m && mount -t tmpfs guest-tmpfs /m && echo guest-mount: $(grep -c guest-tmpfs /proc/mounts) \
         && reboot -f\n";
    std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("Dockerfile");
    let modules = || {
        let mut names: Vec<String> = std::fs::read_dir("/sys/module")
            .expect("/sys/module")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mounts = || std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let (modules_before, mounts_before) = (modules(), mounts());
    assert!(
        !modules_before.iter().any(|m| m == "dummy"),
        "the host has dummy loaded already"
    );
    let flags = ["--network", "none", "--allow", "security.insecure"];
    let out = build(&env, &ctx, "vm", &flags);
    assert_fails(
        &out,
        4,
        &["guest-module: 1", "guest-mount: 1", "failed with signal 1"],
    );
    assert_eq!(modules(), modules_before);
    assert!(!mounts().contains("guest-tmpfs"), "{}", mounts());
    assert_eq!(mounts().lines().count(), mounts_before.lines().count());
    assert_no_qemu(&env);
}

/// A stage's guest powers off when the stage ends, not with the build: while the last
/// stage's step runs, the first stage's guest is gone. Control: the probe sees the
/// running stage's QEMU.
#[test]
fn a_stage_releases_its_guest_when_it_ends() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test AS first\nRUN echo first > /first\n\
                      FROM busybox:test\nCOPY --from=first /first /first\n\
                      RUN echo last && sleep 4\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let mut cmd = env.kiln();
    cmd.args(["build", "--progress", "plain", "--isolation", "vm"]);
    cmd.args(["--network", "none"]).arg(&ctx);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run kiln");
    let mut most = 0;
    while child.try_wait().expect("wait for kiln").is_none() {
        most = most.max(env.qemus().lines().count());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wait for kiln");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        most, 1,
        "guests running at once (the control: at least one)"
    );
    assert_no_qemu(&env);
}
