//! A real package install: `apt-get install curl` in a RUN step on a debootstrapped Debian
//! base, reaching the Debian mirror through the step's private network; podman runs the
//! result.

mod support;

use support::{podman, run_ok, s, tool, TestEnv};

#[test]
fn apt_get_install_curl_on_debian_builds_and_runs_under_podman() {
    let podman_bin = tool("podman", "podman");
    tool("runc", "runc");
    let env = TestEnv::new();
    env.ok(&["import", s(&support::debian_tarball()), "debian:bookworm"]);
    let dockerfile = "FROM debian:bookworm\n\
        RUN apt-get update && apt-get install -y --no-install-recommends curl \
            && rm -rf /var/lib/apt/lists/*\n\
        CMD [\"curl\", \"--version\"]\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let archive = env.path().join("curl.tar");
    let dest = format!("type=oci-archive,dest={}", s(&archive));
    env.ok(&["build", "-q", "-t", "curl:1", "-o", &dest, s(&ctx)]);

    let root = env.path().join("rootfs");
    env.ok(&["export", "curl:1", "-o", s(&root)]);
    assert!(root.join("usr/bin/curl").is_file(), "curl is installed");
    // debootstrap leaves some of these in the base; the step's versions must not leak.
    let base = env.path().join("base");
    env.ok(&["export", "debian:bookworm", "-o", s(&base)]);
    for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        assert_eq!(
            std::fs::read(root.join(f)).ok(),
            std::fs::read(base.join(f)).ok(),
            "{f} is the base image's, not the step's"
        );
    }
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).expect("dpkg status");
    assert!(status.contains("Package: curl\nStatus: install ok installed"));

    let dir = env.path();
    let loaded = run_ok(podman(&podman_bin, dir).args(["load", "-q", "-i", s(&archive)]));
    assert!(loaded.contains("curl:1"), "podman load said: {loaded}");
    let out = run_ok(
        podman(&podman_bin, dir)
            .args(["run", "--rm"])
            .args(support::OCI_RUN_FLAGS)
            .arg("docker.io/library/curl:1"),
    );
    assert!(out.starts_with("curl 7.88"), "podman ran curl: {out}");
}
