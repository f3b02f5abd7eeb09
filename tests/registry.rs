//! kiln against a real registry (Debian's docker-registry) in three setups: plain HTTP,
//! TLS with a CA of the test's own (certs.d), and htpasswd basic auth behind TLS. skopeo
//! pushes the base image; kiln pulls it, builds FROM it (RUN and COPY), pushes the result;
//! skopeo inspects and copies kiln's push and the digests agree.

mod support;

use std::path::Path;
use support::registry::{kiln, kiln_ok, seed_base, Registry, Setup, PASSWORD, USER};
use support::{assert_fails, run_ok, s, show, TestEnv};

/// The `sha256:…` after `prefix` in kiln's output.
fn digest_after(out: &str, prefix: &str) -> String {
    let at = out
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {out}"));
    out[at + prefix.len()..]
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
}

/// A file of an image's root filesystem, exported by kiln.
fn read_exported(env: &TestEnv, reg: &Registry, store: &str, image: &str, file: &str) -> String {
    let out = env.path().join(format!("export-{store}"));
    kiln_ok(env, reg, store, &["export", image, "-o", s(&out)]);
    std::fs::read_to_string(out.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn round_trip(setup: Setup) {
    let env = TestEnv::new();
    let reg = Registry::start(setup);
    let h = reg.host.clone();
    // The TLS setup's base is a Docker schema 2 image, the others OCI.
    let format = if setup == Setup::Tls { "v2s2" } else { "oci" };
    let base_digest = seed_base(&env, &reg, "base/busybox:1", format);
    if setup == Setup::TlsAuth {
        // Without credentials: the registry's 401 and what to do.
        let out = kiln(&env, &reg, "a")
            .args(["pull", &format!("{h}/base/busybox:1")])
            .output()
            .expect("kiln");
        // A registry's refusal exits 5 (1 before exit codes were split by kind).
        assert_fails(&out, 5, &["401 Unauthorized", &format!("kiln login {h}")]);
        let out = kiln(&env, &reg, "a")
            .args(["login", "-u", USER, "-p", "wrong-password", &h])
            .output()
            .expect("kiln");
        assert_fails(&out, 5, &["401"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("wrong-password"), "{err}");
        let mut login = kiln(&env, &reg, "a");
        login.args(["login", "-u", USER, "--password-stdin", &h]);
        login.stdin(std::process::Stdio::piped());
        let mut child = login
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("login");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("stdin"),
            format!("{PASSWORD}\n").as_bytes(),
        )
        .expect("write");
        let out = child.wait_with_output().expect("login");
        assert!(out.status.success(), "{}", show(&out));
        let auth = std::fs::read_to_string(env.path().join("auth.json")).expect("auth.json");
        assert!(auth.contains(&h), "{auth}");
    }

    // Pull: the digest kiln reports is skopeo's.
    let out = kiln_ok(&env, &reg, "a", &["pull", &format!("{h}/base/busybox:1")]);
    assert_eq!(digest_after(&out, "Digest: "), base_digest, "{out}");
    // Again: nothing is fetched.
    let out = kiln_ok(&env, &reg, "a", &["pull", &format!("{h}/base/busybox:1")]);
    assert!(out.contains("0 blobs fetched"), "{out}");
    // By digest.
    kiln_ok(
        &env,
        &reg,
        "a",
        &["pull", &format!("{h}/base/busybox@{base_digest}")],
    ); // Pushed unchanged to another repository: the same manifest bytes and media type,
       // the blobs mounted.
    let out = kiln_ok(
        &env,
        &reg,
        "a",
        &[
            "push",
            &format!("{h}/base/busybox:1"),
            &format!("{h}/mirror/busybox:1"),
        ],
    );
    assert!(out.contains("0 blobs uploaded, 2 mounted"), "{out}");
    let (raw, mirror_digest) = reg.inspect("mirror/busybox:1");
    assert_eq!(mirror_digest, base_digest);
    let expected_type = if format == "v2s2" {
        "application/vnd.docker.distribution.manifest.v2+json"
    } else {
        "application/vnd.oci.image.manifest.v1+json"
    };
    assert_eq!(raw["mediaType"], expected_type);

    // Build FROM the registry image in an empty store: kiln pulls it, builds, pushes.
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", &format!("FROM {h}/base/busybox:1\nRUN echo built-by-run > /run.txt\nCOPY added.txt /added.txt\n")),
            ("added.txt", "copied-by-copy\n"),
        ],
    );
    let app = format!("{h}/team/app:1");
    let out = kiln_ok(&env, &reg, "b", &["build", "-t", &app, "--push", s(&ctx)]);
    let pushed = digest_after(&out, &format!("Pushed {app}@"));
    let (raw, digest) = reg.inspect("team/app:1");
    assert_eq!(digest, pushed, "skopeo sees kiln's digest\n{out}");
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    for l in raw["layers"].as_array().expect("layers") {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
            "{raw}"
        );
    }
    // The base layer came by cross-repository mount or was already there; skopeo copies it all.
    let oci_dir = env.path().join("copied");
    run_ok(
        reg.skopeo()
            .arg("copy")
            .args(reg.skopeo_flags("src-"))
            .arg(format!("docker://{app}"))
            .arg(format!("oci:{}:app", oci_dir.display())),
    );
    // Pulled back into a third store, the files are there.
    kiln_ok(&env, &reg, "c", &["pull", &app]);
    assert_eq!(
        read_exported(&env, &reg, "c", &app, "run.txt"),
        "built-by-run\n"
    );
    assert_eq!(
        read_exported(&env, &reg, "c", &app, "added.txt"),
        "copied-by-copy\n"
    );

    // -o type=registry and zstd, pulled back.
    let z = format!("{h}/team/app:zstd");
    let out = kiln_ok(
        &env,
        &reg,
        "b",
        &["push", "--compression", "zstd", &app, &z],
    );
    let zdigest = digest_after(&out, "Digest: ");
    let (raw, digest) = reg.inspect("team/app:zstd");
    assert_eq!(digest, zdigest);
    for l in raw["layers"].as_array().expect("layers") {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "{raw}"
        );
    }
    kiln_ok(&env, &reg, "d", &["pull", &z]);
    assert_eq!(
        read_exported(&env, &reg, "d", &z, "run.txt"),
        "built-by-run\n"
    );
    let out = kiln_ok(
        &env,
        &reg,
        "b",
        &[
            "build",
            "-q",
            "-o",
            &format!("type=registry,name={h}/team/out:2"),
            s(&ctx),
        ],
    );
    assert!(out.trim().starts_with("sha256:"), "{out}");
    reg.inspect("team/out:2");

    if setup == Setup::TlsAuth {
        kiln_ok(&env, &reg, "a", &["logout", &h]);
        let auth = std::fs::read_to_string(env.path().join("auth.json")).expect("auth.json");
        assert!(!auth.contains(&h), "{auth}");
    }
}

#[test]
fn plain_http_registry_round_trip() {
    round_trip(Setup::Plain);
}

#[test]
fn tls_registry_with_own_ca_round_trip() {
    round_trip(Setup::Tls);
}

#[test]
fn htpasswd_registry_behind_tls_round_trip() {
    round_trip(Setup::TlsAuth);
}

/// `--pull` resolves a base image again at its registry; without it the store's copy is
/// used and the steps after FROM come from the step cache.
#[test]
fn pull_flag_takes_the_registrys_current_base_image() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::Plain);
    let h = reg.host.clone();
    let first = seed_base(&env, &reg, "base:1", "oci");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM {h}/base:1\nRUN ls / > /listing\n"),
        )],
    );
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--progress", "plain"];
        args.extend_from_slice(extra);
        args.push(s(&ctx));
        let out = kiln(&env, &reg, "a").args(&args).output().expect("kiln");
        assert!(out.status.success(), "{}", show(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    build(&["-t", "app:1"]);
    assert!(!read_exported(&env, &reg, "a", "app:1", "listing").contains("marker"));

    // The registry's base:1 moves on: a new image with /marker, pushed by kiln from
    // another store.
    let next = env.context(
        "next",
        &[("Dockerfile", "FROM busybox:seed\nRUN echo new > /marker\n")],
    );
    let pushed = kiln_ok(
        &env,
        &reg,
        "seed",
        &[
            "build",
            "-q",
            "-t",
            &format!("{h}/base:1"),
            "--push",
            s(&next),
        ],
    );
    let second = reg.inspect("base:1").1;
    assert_ne!(first, second, "{pushed}");

    // Without --pull: the store's base:1, the RUN step cached.
    let log = build(&["-t", "app:2"]);
    assert!(log.contains("CACHED"), "{log}");
    assert!(!read_exported(&env, &reg, "a", "app:2", "listing").contains("marker"));
    // With --pull: the registry's current base:1, so the RUN step runs again.
    let log = build(&["--pull", "-t", "app:3"]);
    assert!(
        log.contains(&format!("resolved {h}/base:1 to {second}")),
        "{log}"
    );
    assert!(!log.contains("CACHED"), "{log}");
    assert!(read_exported(&env, &reg, "a", "app:3", "listing").contains("marker"));
}

/// A registry that requires client certificates: kiln presents `client.cert` /
/// `client.key` from the certs.d directory, and is refused without them.
#[test]
fn client_certificate_from_certs_d() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::MutualTls);
    let digest = seed_base(&env, &reg, "base/busybox:1", "oci");
    let name = format!("{}/base/busybox:1", reg.host);
    let out = kiln_ok(&env, &reg, "a", &["pull", &name]);
    assert_eq!(digest_after(&out, "Digest: "), digest);
    // The same CA but no client certificate: the handshake fails, with the TLS hint.
    let only_ca = env.path().join("only-ca");
    std::fs::create_dir_all(only_ca.join(&reg.host)).expect("mkdir");
    std::fs::copy(
        reg.certs_dir().join(&reg.host).join("ca.crt"),
        only_ca.join(&reg.host).join("ca.crt"),
    )
    .expect("copy ca");
    let out = kiln(&env, &reg, "b")
        .env("KILN_CERTS_DIR", &only_ca)
        .args(["pull", &name])
        .output()
        .expect("kiln");
    assert_fails(&out, 5, &["cannot reach https://", "certs.d"]);
}

#[test]
fn tls_without_the_ca_is_refused_with_a_hint() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::Tls);
    let out = kiln(&env, &reg, "a")
        .env("KILN_CERTS_DIR", env.path().join("no-certs"))
        .args(["pull", &format!("{}/x:1", reg.host)])
        .output()
        .expect("kiln");
    assert_fails(
        &out,
        5,
        &["cannot reach https://", "ca.crt", "--tls-verify=false"],
    );
    // --tls-verify=false reaches it (and the image is not there).
    let out = kiln(&env, &reg, "a")
        .env("KILN_CERTS_DIR", env.path().join("no-certs"))
        .args(["pull", "--tls-verify=false", &format!("{}/x:1", reg.host)])
        .output()
        .expect("kiln");
    assert_fails(&out, 5, &["404 Not Found", "MANIFEST_UNKNOWN"]);
}

/// An index with two platforms, made by hand from kiln's OCI layout and pushed by skopeo
/// (`--all`); kiln picks the platform asked for.
#[test]
fn index_platform_selection() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::Plain);
    kiln_ok(
        &env,
        &reg,
        "seed",
        &["import", s(&support::busybox_tarball()), "busybox:seed"],
    );
    let layout = env.path().join("layout");
    kiln_ok(
        &env,
        &reg,
        "seed",
        &[
            "save",
            "--format",
            "oci-dir",
            "-o",
            s(&layout),
            "busybox:seed",
        ],
    );
    let index = make_multi_arch(&layout);
    run_ok(
        reg.skopeo()
            .args(["copy", "--all", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{}/multi:1", reg.host)),
    );
    let (raw, digest) = reg.inspect("multi:1");
    assert_eq!(
        raw["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{raw}"
    );
    let _ = (digest, index);
    let name = format!("{}/multi:1", reg.host);
    kiln_ok(
        &env,
        &reg,
        "arm",
        &["pull", "--platform", "linux/arm64", &name],
    );
    let arch = |store: &str| {
        let out = kiln_ok(&env, &reg, store, &["inspect", &name]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("inspect json");
        v[0]["Architecture"]
            .as_str()
            .expect("Architecture")
            .to_owned()
    };
    assert_eq!(arch("arm"), "arm64");
    kiln_ok(&env, &reg, "host", &["pull", &name]);
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(arch("host"), host_arch);
    let out = kiln(&env, &reg, "none")
        .args(["pull", "--platform", "linux/s390x", &name])
        .output()
        .expect("kiln");
    assert_fails(
        &out,
        1,
        &[
            "no image for platform linux/s390x",
            "linux/amd64",
            "linux/arm64",
            "--platform",
        ],
    );
}

/// Rewrites the layout's index.json into a nested index: the original (amd64) manifest and
/// a copy whose config says arm64. Returns the index digest.
fn make_multi_arch(layout: &Path) -> String {
    let blobs = layout.join("blobs/sha256");
    let read = |d: &str| std::fs::read(blobs.join(d.trim_start_matches("sha256:"))).expect("blob");
    let write = |bytes: &[u8]| -> String {
        use sha2::Digest;
        let hex = hex::encode(sha2::Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).expect("write blob");
        format!("sha256:{hex}")
    };
    let top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let desc = top["manifests"][0].clone();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(desc["digest"].as_str().expect("d"))).expect("m");
    let mut config: serde_json::Value =
        serde_json::from_slice(&read(manifest["config"]["digest"].as_str().expect("c")))
            .expect("c");
    let amd_size = desc["size"].clone();
    config["architecture"] = "arm64".into();
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let mut arm = manifest.clone();
    arm["config"]["digest"] = write(&config_bytes).into();
    arm["config"]["size"] = config_bytes.len().into();
    let arm_bytes = serde_json::to_vec(&arm).expect("json");
    let arm_digest = write(&arm_bytes);
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": mt, "digest": desc["digest"], "size": amd_size, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": mt, "digest": arm_digest, "size": arm_bytes.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
        ]
    });
    let index_bytes = serde_json::to_vec(&index).expect("json");
    let index_digest = write(&index_bytes);
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index_bytes.len()}]
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&top).expect("json"),
    )
    .expect("write");
    index_digest
}

/// ADD downloads use the registry client's HTTP settings: an https server whose CA is only
/// in certs.d is trusted, and without that CA the download is refused. (Loopback is only
/// reachable with the host network, which lifts ADD's address policy.)
#[test]
fn add_url_trusts_the_certs_d_ca_of_its_host() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::Tls);
    let h = reg.host.clone();
    kiln_ok(
        &env,
        &reg,
        "a",
        &["import", s(&support::busybox_tarball()), "busybox:test"],
    );
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM busybox:test\nADD https://{h}/v2/ /v2.json\n"),
        )],
    );
    let args = [
        "build",
        "-q",
        "--no-cache",
        "--network",
        "host",
        "--allow",
        "network.host",
        "-t",
        "added:1",
        s(&ctx),
    ];
    kiln_ok(&env, &reg, "a", &args);
    assert_eq!(
        read_exported(&env, &reg, "a", "added:1", "v2.json").trim(),
        "{}"
    );
    let out = kiln(&env, &reg, "a")
        .env("KILN_CERTS_DIR", env.path().join("no-certs"))
        .args(args)
        .output()
        .expect("kiln");
    assert_fails(&out, 1, &["cannot download", &format!("https://{h}/v2/")]);
}
