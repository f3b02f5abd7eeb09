//! Pushes and pulls through a fault-injecting proxy (tests/support/fault_proxy.rs): 500s,
//! 429s with Retry-After, connections cut mid-request and mid-blob. Both succeed, every
//! blob in the store matches its digest, and the resumed chunked upload sent no completed
//! chunk twice. Hostile proxies (corrupt blobs, giant manifests) are refused with nothing
//! stored.

mod support;

use sha2::Digest as _;
use std::path::Path;
use std::process::Command;
use support::fault_proxy::{Mode, Proxy};
use support::registry::{Registry, Setup};
use support::{assert_fails, run_ok, s, TestEnv};

const CHUNK: u64 = 1 << 20;

fn kiln(env: &TestEnv, store: &str) -> Command {
    let mut c = Command::new(support::kiln_bin());
    c.arg("--root").arg(env.path().join(store));
    c.env_remove("KILN_ROOT")
        .env("REGISTRY_AUTH_FILE", env.path().join("auth.json"))
        .env("HOME", env.path())
        .env("KILN_CERTS_DIR", env.path().join("certs.d"))
        .env("KILN_REGISTRY_CHUNK_SIZE", CHUNK.to_string())
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG")
        .stdin(std::process::Stdio::null());
    c
}

/// Incompressible bytes from a fixed seed (xorshift), so layers exceed the chunk size.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every blob in the store has the digest it is named by.
fn assert_store_verified(store: &Path) -> usize {
    let dir = store.join("blobs/sha256");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("blobs") {
        let e = e.expect("entry");
        let bytes = std::fs::read(e.path()).expect("read blob");
        let hex = hex::encode(sha2::Sha256::digest(&bytes));
        assert_eq!(
            hex,
            e.file_name().to_string_lossy(),
            "corrupt blob in the store"
        );
        n += 1;
    }
    n
}

fn build_image(env: &TestEnv, payload: &[u8]) -> String {
    run_ok(kiln(env, "src").args(["import", s(&support::busybox_tarball()), "busybox:local"]));
    let ctx = env.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nCOPY payload.bin /payload.bin\n",
    )
    .expect("df");
    std::fs::write(ctx.join("payload.bin"), payload).expect("payload");
    run_ok(kiln(env, "src").args(["build", "-q", "-t", "app:faults", s(&ctx)]));
    "app:faults".into()
}

#[test]
fn push_and_pull_survive_faults_and_resume_uploads() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::Plain);
    let proxy = Proxy::start(&reg.host, Mode::Faults);
    let payload = noise(6 << 20, 0x5eed);
    let name = build_image(&env, &payload);
    let dest = format!("{}/faults/app:1", proxy.host);
    let out = run_ok(kiln(&env, "src").args(["push", &name, &dest]));
    let digest = out
        .split("Digest: ")
        .nth(1)
        .expect("digest")
        .trim()
        .to_owned();
    let (raw, seen) = reg.inspect("faults/app:1");
    assert_eq!(seen, digest, "{out}");

    let stats = proxy.stats.lock().expect("stats");
    let injected = stats.injected.join("\n");
    for fault in [
        "GET ping #1: 500",
        "HEAD blob #1: 429",
        "PATCH upload #2: cut the request",
        "PATCH upload #4: 500",
        "PUT manifest #1: 502",
        "PUT upload-put-body #1: cut the request",
    ] {
        assert!(
            injected.contains(fault),
            "fault {fault:?} not injected:\n{injected}"
        );
    }
    // Chunked blobs: the registry received each byte once; kiln re-sent only the
    // interrupted chunks.
    let chunked: u64 = raw["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["size"].as_u64().expect("size"))
        .filter(|size| *size > CHUNK)
        .sum();
    let forwarded: u64 = stats.patch_forwarded.values().sum();
    assert_eq!(
        forwarded, chunked,
        "PATCH bytes forwarded per upload: {:?}",
        stats.patch_forwarded
    );
    assert!(
        stats.patch_attempted > forwarded,
        "no chunk was ever interrupted"
    );
    assert!(
        stats.patch_attempted < forwarded + 4 * CHUNK,
        "too much resent: {} for {forwarded}",
        stats.patch_attempted
    );
    drop(stats);

    // Pull through the proxy into an empty store: cut and failing blob downloads resume.
    let out = run_ok(kiln(&env, "dst").args(["pull", &dest]));
    assert!(out.contains(&digest), "{out}");
    let injected = proxy.stats.lock().expect("stats").injected.join("\n");
    for fault in [
        "GET manifest #1: 429",
        "GET blob #1: cut the response",
        "GET blob #2: 500",
        "GET blob #3: cut the response",
    ] {
        assert!(
            injected.contains(fault),
            "fault {fault:?} not injected:\n{injected}"
        );
    }
    assert!(assert_store_verified(&env.path().join("dst")) >= 4);
    let exported = env.path().join("exported");
    run_ok(kiln(&env, "dst").args(["export", &dest, "-o", s(&exported)]));
    assert!(
        std::fs::read(exported.join("payload.bin")).expect("payload") == payload,
        "payload differs"
    );
}

#[test]
fn corrupt_blobs_are_refused_and_never_stored() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::Plain);
    let name = build_image(&env, &noise(100_000, 7));
    let direct = format!("{}/hostile/app:1", reg.host);
    run_ok(kiln(&env, "src").args(["push", &name, &direct]));
    let proxy = Proxy::start(&reg.host, Mode::CorruptBlobs);
    let out = kiln(&env, "dst")
        .args(["pull", &format!("{}/hostile/app:1", proxy.host)])
        .output()
        .expect("kiln");
    assert_fails(&out, 1, &["has digest", "expected", "nothing was stored"]);
    let dst = env.path().join("dst");
    let blobs = std::fs::read_dir(dst.join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "a blob was stored");
    let tmp = std::fs::read_dir(dst.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(tmp, 0, "temp files left behind");
    let images = run_ok(kiln(&env, "dst").args(["images", "-q"]));
    assert!(images.trim().is_empty(), "{images}");

    let huge = Proxy::start(&reg.host, Mode::HugeManifest);
    let out = kiln(&env, "dst")
        .args(["pull", &format!("{}/hostile/app:1", huge.host)])
        .output()
        .expect("kiln");
    assert_fails(&out, 1, &["manifest", "larger than 4194304 bytes"]);
}
