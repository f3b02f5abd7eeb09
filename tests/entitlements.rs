//! Entitlements (`--allow network.host`, `--allow security.insecure`) hold whatever a RUN
//! step came from: the Dockerfile, an ONBUILD trigger of an earlier stage, or an ONBUILD
//! trigger in a base image's config. Each test shows the same build succeeding with the
//! entitlement (and the step then really privileged), then refused without it, with a
//! message that names where the step came from.

mod support;

use std::path::{Path, PathBuf};
use support::{assert_fails, s, show, TestEnv};

fn env_with_base() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    env
}

/// The exported root filesystem of image `name`.
fn exported(env: &TestEnv, name: &str, dir: &str) -> PathBuf {
    let root = env.path().join(dir);
    env.ok(&["export", name, "-o", s(&root)]);
    root
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// kiln's own bounding set: what a privileged step gets.
fn own_bounding_set() -> String {
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    own.lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd")
        .trim()
        .to_string()
}

/// The step shared the host's network: it saw every interface the host had both before
/// and after the build (test veth pairs other tests add and remove meanwhile aside).
fn assert_shares_host_network(before: &str, seen: &str) {
    let after = std::fs::read_to_string("/proc/self/net/dev").expect("net/dev");
    let after = interfaces(&after);
    let stable: Vec<String> = interfaces(before)
        .into_iter()
        .filter(|i| after.contains(i))
        .collect();
    let seen = interfaces(seen);
    assert!(stable.len() > 1, "the host has more than lo: {stable:?}");
    for i in &stable {
        assert!(seen.contains(i), "the step did not see {i}: {seen:?}");
    }
}

/// Interface names in a `/proc/net/dev` listing, sorted.
fn interfaces(net_dev: &str) -> Vec<String> {
    let mut v: Vec<String> = net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn onbuild_trigger_of_an_earlier_stage_needs_allow_security_insecure() {
    let env = env_with_base();
    let dockerfile = "FROM busybox:test AS base\n\
        ONBUILD RUN --security=insecure grep -E '^(CapEff|Seccomp):' /proc/self/status > /status\n\
        FROM base\n\
        RUN true\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    // Positive control: allowed, the trigger runs privileged.
    env.ok(&[
        "build",
        "-q",
        "--allow",
        "security.insecure",
        "-t",
        "trigger:allowed",
        s(&ctx),
    ]);
    let root = exported(&env, "trigger:allowed", "allowed");
    let status = read(&root, "status");
    assert!(
        status.contains(&format!("CapEff:\t{}", own_bounding_set()))
            && status.contains("Seccomp:\t0"),
        "the allowed trigger ran privileged: {status}"
    );
    // Without --allow (and without the cache's help): refused at the trigger, before it ran.
    let out = env.run(&[
        "build",
        "-q",
        "--no-cache",
        "-t",
        "trigger:refused",
        s(&ctx),
    ]);
    assert_fails(
        &out,
        1,
        &[
            "RUN --security=insecure in ONBUILD trigger `RUN --security=insecure grep",
            "of stage base, Dockerfile:2, run by FROM at Dockerfile:3",
            "is not allowed: the build was not given --allow security.insecure",
        ],
    );
    assert_ne!(
        env.run(&["inspect", "trigger:refused"]).status.code(),
        Some(0),
        "nothing was built"
    );
}

#[test]
fn onbuild_trigger_in_a_base_image_config_needs_allow() {
    let env = env_with_base();
    // The base image carries the trigger in its config (`OnBuild`); building it runs nothing.
    let base = env.context(
        "base",
        &[(
            "Dockerfile",
            "FROM busybox:test\n\
             ONBUILD RUN --security=insecure --network=host sh -c 'grep -E \"^(CapEff|Seccomp):\" /proc/self/status > /status; cat /proc/net/dev > /netdev'\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "evil-base:1", s(&base)]);
    let inspect = env.inspect("evil-base:1");
    assert!(
        inspect.to_string().contains("--security=insecure"),
        "the trigger is in the base image's config: {inspect}"
    );
    let ctx = env.context("ctx", &[("Dockerfile", "FROM evil-base:1\nRUN true\n")]);
    let host_net = std::fs::read_to_string("/proc/self/net/dev").expect("net/dev");
    // Positive control: with both entitlements the trigger runs privileged on the host's
    // network.
    env.ok(&[
        "build",
        "-q",
        "--allow",
        "security.insecure",
        "--allow",
        "network.host",
        "-t",
        "child:allowed",
        s(&ctx),
    ]);
    let root = exported(&env, "child:allowed", "allowed");
    let status = read(&root, "status");
    assert!(
        status.contains(&format!("CapEff:\t{}", own_bounding_set()))
            && status.contains("Seccomp:\t0"),
        "{status}"
    );
    assert_shares_host_network(&host_net, &read(&root, "netdev"));
    // Without any --allow: refused, naming the base image and the FROM that ran it.
    let out = env.run(&["build", "-q", "--no-cache", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "ONBUILD trigger `RUN --security=insecure --network=host sh -c",
            "of base image evil-base:1, run by FROM at Dockerfile:1",
            "--allow network.host",
            "Dockerfile:1",
        ],
    );
    // One entitlement is not the other.
    let out = env.run(&[
        "build",
        "-q",
        "--no-cache",
        "--allow",
        "network.host",
        s(&ctx),
    ]);
    assert_fails(
        &out,
        1,
        &[
            "of base image evil-base:1, run by FROM at Dockerfile:1",
            "the build was not given --allow security.insecure",
        ],
    );
    let out = env.run(&[
        "build",
        "-q",
        "--no-cache",
        "--allow",
        "security.insecure",
        s(&ctx),
    ]);
    assert_fails(
        &out,
        1,
        &[
            "of base image evil-base:1",
            "the build was not given --allow network.host",
        ],
    );
}

#[test]
fn onbuild_network_host_needs_allow_network_host() {
    let env = env_with_base();
    let dockerfile = "FROM busybox:test AS netbase\n\
        RUN true\n\
        ONBUILD RUN --network=host cat /proc/net/dev > /netdev\n\
        FROM netbase\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let host_net = std::fs::read_to_string("/proc/self/net/dev").expect("net/dev");
    env.ok(&[
        "build",
        "-q",
        "--allow",
        "network.host",
        "-t",
        "net:allowed",
        s(&ctx),
    ]);
    let root = exported(&env, "net:allowed", "allowed");
    assert_shares_host_network(&host_net, &read(&root, "netdev"));
    let out = env.run(&["build", "-q", "--no-cache", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "RUN --network=host in ONBUILD trigger `RUN --network=host cat /proc/net/dev > /netdev`",
            "of stage netbase, Dockerfile:3, run by FROM at Dockerfile:4",
            "--allow network.host",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{}", show(&out));
}
