//! Registry build caches (`--cache-to` / `--cache-from type=registry`) against a real
//! registry (Debian's docker-registry): two stores that share nothing but the registry; the
//! second reuses every step the first exported (CACHED, RUN not run, the same image); a
//! changed file misses from its step on; mode=min leaves out stages the image is not built
//! from; a missing or hostile cache is a warning and the build runs without it.

mod support;

use std::path::{Path, PathBuf};
use support::registry::{kiln, kiln_ok, seed_base, Registry, Setup, PASSWORD, USER};
use support::{run_ok, s, show, statuses, tool, TestEnv};

/// A build with plain progress in `store`: (image ID, step statuses, stdout, stderr).
struct Built {
    id: String,
    steps: Vec<(String, String)>,
    stdout: String,
    stderr: String,
}

fn build(env: &TestEnv, reg: &Registry, store: &str, args: &[&str]) -> Built {
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    let out = kiln(env, reg, store).args(&all).output().expect("kiln");
    assert!(out.status.success(), "kiln {all:?} failed:\n{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Built {
        id: stdout.lines().last().expect("image ID").to_owned(),
        steps: statuses(&stderr),
        stdout,
        stderr,
    }
}

fn marks(b: &Built) -> Vec<&str> {
    b.steps.iter().map(|(_, st)| st.as_str()).collect()
}

impl Built {
    /// Did every step end with `status`?
    fn all(&self, status: &str) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|(_, st)| st == status)
    }
}

/// A test dir, a registry, and busybox pushed there as `base/busybox:1`.
fn start(setup: Setup) -> (TestEnv, Registry, String) {
    let env = TestEnv::new();
    let reg = Registry::start(setup);
    let h = reg.host.clone();
    seed_base(&env, &reg, "base/busybox:1", "oci");
    (env, reg, h)
}

/// A file of an image's root filesystem.
fn read_file(env: &TestEnv, reg: &Registry, store: &str, image: &str, file: &str) -> String {
    let out = env
        .path()
        .join(format!("export-{store}-{}", image.replace(':', "-")));
    kiln_ok(env, reg, store, &["export", image, "-o", s(&out)]);
    std::fs::read_to_string(out.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn context(env: &TestEnv, dir: &str, dockerfile: &str, app: &str) -> PathBuf {
    env.context(dir, &[("Dockerfile", dockerfile), ("app.txt", app)])
}

/// RUN steps whose output no second run can repeat (random bytes), and that print a line
/// (`-42`, computed so the instruction's text does not contain it) when they run.
fn single_stage(h: &str) -> String {
    format!(
        "FROM {h}/base/busybox:1\n\
         COPY app.txt /app.txt\n\
         RUN echo step-one-$((40+2)) && od -An -tx1 -N16 /dev/urandom > /stamp\n\
         WORKDIR /work\n\
         RUN echo step-two-$((40+2)) && cat /app.txt /stamp > /work/both\n\
         ENV DONE=yes\n"
    )
}

fn reuse_across_stores(setup: Setup) {
    let (env, reg, h) = start(setup);
    if setup == Setup::TlsAuth {
        kiln_ok(&env, &reg, "a", &["login", "-u", USER, "-p", PASSWORD, &h]);
    }
    let df = single_stage(&h);
    let ctx = context(&env, "ctx", &df, "app v1\n");
    let cache = format!("{h}/cache/app:1");
    let a = build(
        &env,
        &reg,
        "a",
        &[
            "-t",
            "app:a",
            "--cache-to",
            &format!("type=registry,ref={cache},mode=max"),
            s(&ctx),
        ],
    );
    assert!(a.all("DONE"), "{:?}", a.steps);
    assert!(a.stderr.contains("step-one-42"), "{}", a.stderr);
    assert!(
        a.stdout
            .contains(&format!("Exported cache {cache}@sha256:")),
        "{}",
        a.stdout
    );
    assert!(a.stderr.contains("Compressing cache layer"), "{}", a.stderr);
    // Exporting again: the same cache, and no layer compressed again.
    let a2 = build(
        &env,
        &reg,
        "a",
        &[
            "--cache-to",
            &format!("type=registry,ref={cache},mode=max"),
            s(&ctx),
        ],
    );
    assert!(a2.all("CACHED"), "{:?}", a2.steps);
    assert!(!a2.stderr.contains("Compressing"), "{}", a2.stderr);
    let exported = |b: &Built| {
        b.stdout
            .lines()
            .find(|l| l.starts_with("Exported cache"))
            .map(str::to_owned)
    };
    assert_eq!(exported(&a2), exported(&a));
    // The cache manifest as the registry has it.
    let manifest = reg.raw_manifest("cache/app:1");
    assert_eq!(
        manifest["artifactType"], "application/vnd.kiln.build-cache.v1",
        "{manifest}"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.kiln.cache.config.v1+json"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 4, "COPY, RUN, WORKDIR, RUN: {manifest}");
    assert!(layers
        .iter()
        .all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"));

    // Store B shares nothing with A but the registry; its checkout of the same context
    // has other files (inodes, times) owned by another user.
    let ctx_b = context(&env, "ctx-b", &df, "app v1\n");
    for f in ["Dockerfile", "app.txt"] {
        std::os::unix::fs::lchown(ctx_b.join(f), Some(4242), Some(4343)).expect("chown");
    }
    let b = build(
        &env,
        &reg,
        "b",
        &[
            "-t",
            "app:b",
            "--cache-from",
            &format!("type=registry,ref={cache}"),
            s(&ctx_b),
        ],
    );
    assert_eq!(marks(&b), vec!["CACHED"; a.steps.len()], "{}", b.stderr);
    assert!(!b.stderr.contains("-42"), "a RUN step ran:\n{}", b.stderr);
    assert_eq!(b.id, a.id, "the same image as store A's");
    assert_eq!(
        read_file(&env, &reg, "b", "app:b", "work/both"),
        read_file(&env, &reg, "a", "app:a", "work/both")
    );
    // The imported records are the store's own now: a rebuild without the cache is cached.
    let again = build(&env, &reg, "b", &["-t", "app:b2", s(&ctx)]);
    assert_eq!(again.id, a.id);
    assert!(again.all("CACHED"), "{:?}", again.steps);

    // A changed source file misses from its COPY on.
    let changed = context(&env, "ctx2", &df, "app v2\n");
    let c = build(
        &env,
        &reg,
        "c",
        &["-t", "app:c", "--cache-from", &cache, s(&changed)],
    );
    assert_eq!(
        marks(&c),
        vec!["CACHED", "DONE", "DONE", "DONE", "DONE"],
        "{}",
        c.stderr
    );
    assert!(c.stderr.contains("step-one-42"), "{}", c.stderr);
    assert_ne!(
        read_file(&env, &reg, "c", "app:c", "stamp"),
        read_file(&env, &reg, "a", "app:a", "stamp")
    );
}

#[test]
fn a_second_store_reuses_every_step_from_a_registry_cache() {
    reuse_across_stores(Setup::Plain);
}

#[test]
fn registry_cache_behind_tls_and_auth() {
    reuse_across_stores(Setup::TlsAuth);
}

/// A builder stage the image does not start FROM: mode=max exports its RUN, mode=min not.
/// With mode=min the builder runs again; its output is the same, so the final stage's
/// steps, keyed on the files they copy from it, come from the cache.
#[test]
fn mode_min_leaves_out_stages_the_image_is_not_built_from() {
    let (env, reg, h) = start(Setup::Plain);
    let df = format!(
        "FROM {h}/base/busybox:1 AS builder\n\
         RUN echo builder-$((40+2)) && echo built > /built\n\
         FROM {h}/base/busybox:1\n\
         COPY --from=builder /built /from-builder\n\
         COPY app.txt /app.txt\n\
         RUN echo final-$((40+2)) && cat /app.txt /from-builder > /final\n"
    );
    let ctx = context(&env, "ctx", &df, "app\n");
    let a = build(
        &env,
        &reg,
        "a",
        &[
            "-t",
            "app:a",
            "--cache-to",
            &format!("type=registry,ref={h}/cache/app:min"),
            "--cache-to",
            &format!("type=registry,ref={h}/cache/app:max,mode=max,compression=zstd"),
            s(&ctx),
        ],
    );
    let min = reg.raw_manifest("cache/app:min");
    let max = reg.raw_manifest("cache/app:max");
    assert_eq!(min["layers"].as_array().map(Vec::len), Some(3), "{min}");
    assert_eq!(max["layers"].as_array().map(Vec::len), Some(4), "{max}");
    assert_eq!(
        max["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(min["annotations"]["dev.kiln.cache.mode"], "min");

    let with_max = build(
        &env,
        &reg,
        "b",
        &[
            "-t",
            "app:b",
            "--cache-from",
            &format!("{h}/cache/app:max"),
            s(&ctx),
        ],
    );
    assert!(with_max.all("CACHED"), "{}", with_max.stderr);
    assert!(!with_max.stderr.contains("-42"), "{}", with_max.stderr);
    assert_eq!(with_max.id, a.id);

    let with_min = build(
        &env,
        &reg,
        "c",
        &[
            "-t",
            "app:c",
            "--cache-from",
            &format!("{h}/cache/app:min"),
            s(&ctx),
        ],
    );
    let builder_run = with_min
        .steps
        .iter()
        .find(|(n, _)| n.starts_with("[builder 2/2] RUN"))
        .unwrap_or_else(|| panic!("{:?}", with_min.steps));
    assert_eq!(builder_run.1, "DONE", "{}", with_min.stderr);
    assert!(
        with_min.stderr.contains("builder-42"),
        "{}",
        with_min.stderr
    );
    assert!(!with_min.stderr.contains("final-42"), "{}", with_min.stderr);
    // The final stage's steps came from the cache: the same image as A's.
    assert_eq!(with_min.id, a.id);
}

/// `curl` against the plain registry: a blob (monolithic POST) and a manifest.
fn curl(args: &[&str]) {
    let out = run_ok(
        std::process::Command::new(tool("curl", "curl"))
            .args(["-sS", "-w", "\n%{http_code}"])
            .args(args),
    );
    let code = out.lines().last().unwrap_or_default();
    assert!(code.starts_with('2'), "curl {args:?}: {out}");
}

fn put_blob(reg: &Registry, repo: &str, dir: &Path, name: &str, bytes: &[u8]) -> (String, usize) {
    let digest = format!("sha256:{}", support::sha256_hex(bytes));
    let file = dir.join(name);
    std::fs::write(&file, bytes).expect("blob");
    let headers = run_ok(std::process::Command::new(tool("curl", "curl")).args([
        "-sSf",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "-X",
        "POST",
        &format!("http://{}/v2/{repo}/blobs/uploads/", reg.host),
    ]));
    let location = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Location in {headers}"));
    let sep = if location.contains('?') { '&' } else { '?' };
    curl(&[
        "-X",
        "PUT",
        "--data-binary",
        &format!("@{}", file.display()),
        "-H",
        "Content-Type: application/octet-stream",
        &format!("{location}{sep}digest={digest}"),
    ]);
    (digest, bytes.len())
}

fn put_manifest(reg: &Registry, repo: &str, dir: &Path, tag: &str, manifest: &serde_json::Value) {
    let file = dir.join(format!("manifest-{tag}.json"));
    std::fs::write(&file, serde_json::to_vec(manifest).expect("json")).expect("manifest");
    curl(&[
        "-X",
        "PUT",
        "--data-binary",
        &format!("@{}", file.display()),
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        &format!("http://{}/v2/{repo}/manifests/{tag}", reg.host),
    ]);
}

#[test]
fn missing_or_hostile_caches_are_warnings_and_the_build_runs() {
    let (env, reg, h) = start(Setup::Plain);
    let df = single_stage(&h);
    let ctx = context(&env, "ctx", &df, "app\n");
    let dir = env.path();

    // A cache config that is not JSON.
    let (garbage, garbage_size) = put_blob(&reg, "cache/bad", dir, "garbage", b"\x00not json{{{");
    put_manifest(
        &reg,
        "cache/bad",
        dir,
        "garbage",
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.kiln.build-cache.v1",
            "config": {"mediaType": "application/vnd.kiln.cache.config.v1+json",
                       "digest": garbage, "size": garbage_size},
            "layers": []
        }),
    );
    // A well-formed config whose record points past the manifest's layers, with a key
    // path-like content, and a layer that claims to be tiny.
    let config = serde_json::json!({
        "schemaVersion": 1,
        "records": [{
            "key": format!("sha256:{}", "0".repeat(64)),
            "created": "2026-01-01T00:00:00Z",
            "layer": {"index": 7, "digest": garbage, "size": 1,
                      "mediaType": "application/vnd.oci.image.layer.v1.tar",
                      "diffId": garbage}
        }]
    });
    let bytes = serde_json::to_vec(&config).expect("json");
    let (cfg, cfg_size) = put_blob(&reg, "cache/bad", dir, "config", &bytes);
    put_manifest(
        &reg,
        "cache/bad",
        dir,
        "index",
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.kiln.cache.config.v1+json",
                       "digest": cfg, "size": cfg_size},
            "layers": []
        }),
    );

    let b = build(
        &env,
        &reg,
        "b",
        &[
            "-t",
            "app:b",
            "--cache-from",
            &format!("{h}/cache/missing:1"),
            "--cache-from",
            &format!("type=registry,ref={h}/cache/bad:garbage"),
            "--cache-from",
            &format!("type=registry,ref={h}/cache/bad:index"),
            "--cache-from",
            &format!("{h}/base/busybox:1"),
            s(&ctx),
        ],
    );
    assert!(b.all("DONE"), "{:?}", b.steps);
    for phrase in [
        &format!("warning: --cache-from {h}/cache/missing:1: 404"),
        &format!("warning: --cache-from {h}/cache/bad:garbage: "),
        "not a kiln cache config",
        &format!("warning: --cache-from {h}/cache/bad:index: "),
        "layer index 7 but the manifest has 0 layers",
        &format!("warning: --cache-from {h}/base/busybox:1: "),
        "not a kiln build cache",
        "building without this cache",
    ] {
        assert!(b.stderr.contains(phrase), "no {phrase:?} in:\n{}", b.stderr);
    }
    // The store is intact: the same context builds cached.
    let again = build(&env, &reg, "b", &["-t", "app:b2", s(&ctx)]);
    assert!(again.all("CACHED"), "{:?}", again.steps);
    assert_eq!(again.id, b.id);

    // Other cache types are refused before anything runs.
    let out = kiln(&env, &reg, "b")
        .args(["build", "--cache-to", "type=local,dest=/tmp/x", s(&ctx)])
        .output()
        .expect("kiln");
    support::assert_fails(
        &out,
        2,
        &["cache type \"local\" is not supported", "type=registry"],
    );
}

/// A cache whose records name other blobs than its layers hold: each such step runs (with a
/// warning naming the digests) and nothing unverified reaches the store.
#[test]
fn a_cache_layer_that_fails_to_verify_runs_its_step() {
    let (env, reg, h) = start(Setup::Plain);
    let ctx = context(&env, "ctx", &single_stage(&h), "app\n");
    let cache = format!("{h}/cache/app:1");
    build(
        &env,
        &reg,
        "a",
        &["--cache-to", &format!("type=registry,ref={cache}"), s(&ctx)],
    );
    let mut manifest = reg.raw_manifest("cache/app:1");
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let config = run_ok(std::process::Command::new(tool("curl", "curl")).args([
        "-sSf",
        &format!("http://{h}/v2/cache/app/blobs/{config_digest}"),
    ]));
    let mut config: serde_json::Value = serde_json::from_str(&config).expect("config");
    let other = format!("sha256:{}", support::sha256_hex(b"other"));
    let mut tampered = 0;
    for rec in config["records"].as_array_mut().expect("records") {
        if let Some(layer) = rec.get_mut("layer").and_then(|l| l.as_object_mut()) {
            layer.insert("digest".into(), other.clone().into());
            layer.insert("diffId".into(), other.clone().into());
            tampered += 1;
        }
    }
    assert_eq!(tampered, 4, "{config}");
    let bytes = serde_json::to_vec(&config).expect("json");
    let (digest, size) = put_blob(&reg, "cache/app", env.path(), "config", &bytes);
    manifest["config"]["digest"] = digest.into();
    manifest["config"]["size"] = size.into();
    put_manifest(&reg, "cache/app", env.path(), "tampered", &manifest);

    let b = build(
        &env,
        &reg,
        "b",
        &["--cache-from", &format!("{h}/cache/app:tampered"), s(&ctx)],
    );
    assert_eq!(
        marks(&b),
        vec!["CACHED", "DONE", "DONE", "DONE", "DONE"],
        "{}",
        b.stderr
    );
    for phrase in [
        "warning: cannot use step sha256:",
        &format!("from cache {h}/cache/app:tampered"),
        &format!("expected {other}"),
        "running the step",
    ] {
        assert!(b.stderr.contains(phrase), "no {phrase:?} in:\n{}", b.stderr);
    }
    assert!(b.stderr.contains("step-one-42"), "{}", b.stderr);
    kiln_ok(&env, &reg, "b", &["store", "verify"]);
    let blobs = env.path().join("b/blobs/sha256");
    assert!(blobs.is_dir() && !blobs.join(&other[7..]).exists());
}
