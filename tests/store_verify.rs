//! `kiln store verify`, `kiln prune` and `kiln df` on real stores: damage is found
//! (with the path, the digest and what to do) and repaired, leftovers of ended
//! processes are harmless and pruned, and prune keeps what images, step-cache records
//! and running processes need.

mod store_common;
mod support;

use std::fs;
use std::path::Path;
use store_common::{
    assert_intact, blob_file, df_json, exported, findings, layers_of, text, verify_json,
};
use support::{show, TestEnv};

const DOCKERFILE: &str =
    "FROM bb\nRUN echo built > /built && mkdir /d && echo x > /d/x\nCOPY data /data\n";

/// A store with busybox as `bb` and an image `app` built from it with RUN and COPY.
fn built_env() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("bb");
    let ctx = env.path().join("ctx");
    store_common::context_with_data(&ctx, DOCKERFILE, 3, 5000, "verify");
    env.ok(&["build", "-q", "-t", "app", ctx.to_str().expect("utf-8")]);
    env
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn verify_finds_a_flipped_byte_and_a_missing_blob_and_repair_fixes_the_store() {
    let env = built_env();
    let store = env.store();
    assert_intact(&store);
    let (_, layers) = layers_of(&store, "app");
    let copy_layer = layers.last().expect("a layer").clone();
    // Flip one byte in the middle of the COPY layer.
    let path = blob_file(&store, &copy_layer);
    let mut bytes = fs::read(&path).expect("read blob");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&path, &bytes).expect("write blob");
    let (code, report, out) = verify_json(&store);
    assert_eq!(code, Some(1), "{}", show(&out));
    let damaged = findings(&report, "corrupt");
    let blob_finding = damaged
        .iter()
        .find(|f| f["subject"] == path.display().to_string())
        .unwrap_or_else(|| panic!("no finding names {}\n{}", path.display(), show(&out)));
    let problem = blob_finding["problem"].as_str().expect("problem");
    assert!(problem.contains(&copy_layer), "{problem}");
    assert!(
        problem.contains(&format!("sha256:{}", sha256_hex(&bytes))),
        "{problem}"
    );
    assert!(blob_finding["fix"]
        .as_str()
        .expect("fix")
        .contains("--repair"));
    // The image using it is named too.
    assert!(
        damaged.iter().any(|f| f["subject"]
            .as_str()
            .expect("subject")
            .contains("docker.io/library/app:latest")
            && f["problem"]
                .as_str()
                .expect("problem")
                .contains("is damaged")),
        "{}",
        show(&out)
    );
    // The human form says the same and ends with what to do.
    let human = env.run(&["store", "verify"]);
    support::assert_fails(&human, 1, &["is damaged", "store verify --repair"]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains(&format!("damaged: {}", path.display()))
    );

    // A missing blob: remove the config of the base image.
    let (bb_id, _) = layers_of(&store, "bb");
    fs::remove_file(blob_file(&store, &bb_id)).expect("remove config blob");
    let (code, report, out) = verify_json(&store);
    assert_eq!(code, Some(1));
    assert!(
        findings(&report, "corrupt").iter().any(|f| {
            f["subject"]
                .as_str()
                .expect("s")
                .contains("docker.io/library/bb:latest")
                && f["problem"]
                    .as_str()
                    .expect("p")
                    .contains(&format!("config blob {bb_id} is missing"))
        }),
        "{}",
        show(&out)
    );

    // Repair: the damaged blob and both images go; the store is consistent again.
    let out = env.run(&["store", "verify", "--repair"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("removed damaged blob {copy_layer}")),
        "{text}"
    );
    assert!(
        text.contains("removed image docker.io/library/app:latest"),
        "{text}"
    );
    assert!(
        text.contains("removed image docker.io/library/bb:latest"),
        "{text}"
    );
    assert!(!path.exists());
    assert_intact(&store);
    assert_eq!(env.ok(&["images", "-q"]).trim(), "");
    // Loading the base again and building works.
    env.import_busybox("bb");
    let ctx = env.path().join("ctx");
    env.ok(&["build", "-q", "-t", "app", ctx.to_str().expect("utf-8")]);
    assert_intact(&store);
}

#[test]
fn half_unpacked_layers_and_dead_temp_dirs_are_harmless_and_pruned() {
    let env = built_env();
    let store = env.store();
    // An unpacked layer without its `complete` marker (as an interrupted unpack would
    // leave it if it were not staged in tmp/), and a temp dir of a process that is gone.
    let half = store.join("layers/sha256").join("ab".repeat(32));
    fs::create_dir_all(half.join("root/etc")).expect("mkdir");
    fs::write(half.join("root/etc/partial"), b"half").expect("write");
    // Made an hour ago: older than the live process below (whose work prune keeps).
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::open(&half)
        .and_then(|d| d.set_modified(hour_ago))
        .expect("set mtime");
    let dead = store.join("tmp/999999-gone");
    fs::create_dir_all(dead.join("work-x/run-y/upper")).expect("mkdir");
    fs::write(dead.join("work-x/blob-partial"), vec![7u8; 10_000]).expect("write");
    fs::write(store.join("leases/999999-gone"), b"pid 999999\n").expect("lease");
    // A live process's temp dir: its lease is locked by this test.
    let live_lease = fs::File::create(store.join("leases/1-live")).expect("lease");
    rustix::fs::flock(&live_lease, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let live = store.join("tmp/1-live");
    fs::create_dir_all(&live).expect("mkdir");
    fs::write(live.join("in-progress"), b"busy").expect("write");

    let (code, report, out) = verify_json(&store);
    assert_eq!(code, Some(0), "leftovers are not damage\n{}", show(&out));
    let harmless = findings(&report, "harmless");
    let subjects: Vec<&str> = harmless
        .iter()
        .map(|f| f["subject"].as_str().expect("s"))
        .collect();
    assert!(
        subjects.contains(&half.display().to_string().as_str()),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&dead.display().to_string().as_str()),
        "{subjects:?}"
    );
    assert!(
        !subjects.iter().any(|s| s.contains("1-live")),
        "{subjects:?}"
    );
    assert!(harmless
        .iter()
        .any(|f| f["problem"].as_str().expect("p").contains("incomplete")));

    let df = df_json(&store);
    assert!(
        df["temp"]["reclaimable"].as_u64().expect("n") >= 10_000,
        "{df}"
    );
    assert_eq!(df["temp"]["active"], 1, "{df}");

    let out = env.ok(&["prune"]);
    assert!(
        out.contains("Deleted temp directories of ended kiln processes: 1"),
        "{out}"
    );
    assert!(out.contains("Deleted unpacked layers: 1"), "{out}");
    assert!(!half.exists() && !dead.exists() && !store.join("leases/999999-gone").exists());
    assert!(
        live.join("in-progress").is_file(),
        "a running process's temp files were removed"
    );
    let (_, report, _) = verify_json(&store);
    assert!(findings(&report, "harmless").is_empty(), "{report}");
    drop(live_lease);
    // Its owner gone, the next prune takes it too.
    env.ok(&["prune"]);
    assert!(!live.exists());
}

/// Writes a blob the way the store does (named by its digest); returns the digest.
fn put_raw_blob(store: &Path, content: &[u8]) -> String {
    let hex = sha256_hex(content);
    fs::write(store.join("blobs/sha256").join(&hex), content).expect("write blob");
    format!("sha256:{hex}")
}

fn step_record(store: &Path, name: &str, blobs: &[&str], last_used: &str) -> std::path::PathBuf {
    let dir = store.join("cache/steps");
    fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join(format!("{name}.json"));
    let record = serde_json::json!({
        "key": name, "blobs": blobs, "created": last_used, "last_used": last_used,
    });
    fs::write(&path, record.to_string()).expect("write record");
    path
}

#[test]
fn step_cache_records_are_roots_and_are_checked() {
    let env = built_env();
    let store = env.store();
    // The build's own step records.
    let built_records = fs::read_dir(store.join("cache/steps"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0);
    let old_blob = put_raw_blob(&store, &vec![1u8; 50_000]);
    let new_blob = put_raw_blob(&store, &vec![2u8; 60_000]);
    let orphan = put_raw_blob(&store, &vec![3u8; 70_000]);
    let old = step_record(&store, "old", &[&old_blob], "2001-01-01T00:00:00Z");
    let new = step_record(&store, "new", &[&new_blob], &kiln_oci::time::now_rfc3339());
    // A record being written (temp + rename) is not a record, and not damage; one
    // whose writer ended an hour ago is a harmless leftover that prune removes.
    let writing = store.join("cache/steps/.tmp-writing.json");
    fs::write(&writing, b"{\"blobs\": [\"sha256:").expect("write");
    let ended = store.join("cache/steps/.tmp-ended.json");
    fs::write(&ended, b"{").expect("write");
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    fs::File::open(&ended)
        .and_then(|f| f.set_modified(hour_ago))
        .expect("mtime");
    assert_intact(&store);
    let (_, report, _) = verify_json(&store);
    let harmless = findings(&report, "harmless");
    assert_eq!(harmless.len(), 1, "{report}");
    assert_eq!(harmless[0]["subject"], ended.display().to_string());
    let df = df_json(&store);
    assert_eq!(df["step_cache"]["count"], built_records + 2, "{df}");
    assert!(
        df["step_cache"]["bytes"].as_u64().expect("n") >= 110_000,
        "{df}"
    );
    assert!(
        df["unused_blobs"]["bytes"].as_u64().expect("n") >= 70_000,
        "{df}"
    );

    // Plain prune: the orphan goes, the records' blobs stay.
    let out = env.ok(&["prune", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["blobs"], serde_json::json!([orphan]), "{v}");
    assert!(writing.is_file() && !ended.exists());
    fs::remove_file(&writing).expect("rm");
    assert!(blob_file(&store, &old_blob).is_file() && blob_file(&store, &new_blob).is_file());

    // until=: only the record not used for that long, then its blob.
    let out = env.ok(&["prune", "--filter", "until=24h", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["step_records"],
        serde_json::json!([old.display().to_string()]),
        "{v}"
    );
    assert_eq!(v["blobs"], serde_json::json!([old_blob]), "{v}");
    assert!(new.is_file() && blob_file(&store, &new_blob).is_file());

    // A record whose blob is missing is damage for verify, and prune drops it.
    fs::remove_file(blob_file(&store, &new_blob)).expect("rm");
    let (code, report, out) = verify_json(&store);
    assert_eq!(code, Some(1), "{}", show(&out));
    assert!(findings(&report, "corrupt")
        .iter()
        .any(|f| f["subject"] == new.display().to_string()
            && f["problem"]
                .as_str()
                .expect("p")
                .contains(&format!("{new_blob} is missing"))));
    env.ok(&["prune"]);
    assert!(!new.exists());
    assert_intact(&store);

    // --all: the whole step cache and every unpacked layer go; tagged images stay.
    let kept_blob = put_raw_blob(&store, &vec![4u8; 10_000]);
    step_record(
        &store,
        "again",
        &[&kept_blob],
        &kiln_oci::time::now_rfc3339(),
    );
    let layers_before = fs::read_dir(store.join("layers/sha256"))
        .expect("ls")
        .count();
    assert!(layers_before > 0);
    // A build context's stat cache file (as a build with COPY leaves it) goes too.
    let stat_dir = store.join("cache/stat");
    fs::create_dir_all(&stat_dir).expect("mkdir");
    fs::write(stat_dir.join("v2-made"), b"0123456789abcdef 10 1 1\n").expect("write");
    let out = env.ok(&["prune", "--all"]);
    assert!(out.contains("Deleted cache files: 1"), "{out}");
    assert_eq!(fs::read_dir(&stat_dir).expect("ls").count(), 0);
    // The record of the built image's Dockerfile lines stays while the image does.
    let builds = store.join("cache/builds");
    assert_eq!(fs::read_dir(&builds).expect("ls").count(), 1);
    assert!(
        out.contains(&format!(
            "Deleted step-cache records: {}",
            built_records + 1
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("Deleted unpacked layers: {layers_before}")),
        "{out}"
    );
    assert!(!blob_file(&store, &kept_blob).exists());
    assert_eq!(
        fs::read_dir(store.join("cache/steps")).expect("ls").count(),
        0
    );
    assert!(env.ok(&["images"]).contains("docker.io/library/app"));
    assert_intact(&store);
    // The image still builds on (its layers are unpacked again).
    let ctx = env.context(
        "ctx2",
        &[(
            "Dockerfile",
            "FROM app\nRUN cat /built /data/f00000 > /both\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "on-top", ctx.to_str().expect("utf-8")]);
    let rootfs = env.path().join("rootfs");
    let both = text(&exported(&store, "on-top", &rootfs).join("both"));
    assert!(both.starts_with("built\nverify file 0\n"), "{both:?}");
}

#[test]
fn prune_removes_untagged_images_and_keep_storage_drops_least_recently_used_cache() {
    let env = built_env();
    let store = env.store();
    // An untagged image (another label, so another image).
    let ctx = env.path().join("ctx");
    let untagged = env.ok(&[
        "build",
        "-q",
        "--label",
        "kind=untagged",
        ctx.to_str().expect("utf-8"),
    ]);
    let untagged = untagged.trim();
    let df = df_json(&store);
    assert_eq!(
        (
            df["images"]["count"].as_u64(),
            df["images"]["active"].as_u64()
        ),
        (Some(3), Some(2)),
        "{df}"
    );
    assert!(df["images"]["reclaimable"].as_u64().expect("n") > 0, "{df}");
    let out = env.ok(&["prune"]);
    assert!(out.contains(&format!("deleted: {untagged}")), "{out}");
    let reclaimed = out.lines().last().expect("summary");
    assert!(
        reclaimed.starts_with("Total reclaimed space: ") && !reclaimed.ends_with(" 0B"),
        "{out}"
    );
    assert!(!env.ok(&["images", "-q", "--no-trunc"]).contains(untagged));
    assert_intact(&store);

    // keep-storage: least recently used cache first. The old record goes before the
    // new one; with a tiny limit, unpacked layers go too; images never.
    let a = put_raw_blob(&store, &vec![5u8; 200_000]);
    let b = put_raw_blob(&store, &vec![6u8; 200_000]);
    let old = step_record(&store, "a", &[&a], "2002-01-01T00:00:00Z");
    let new = step_record(&store, "b", &[&b], "2003-01-01T00:00:00Z");
    let total = df_json(&store);
    let blobs_and_layers = total["images"]["bytes"].as_u64().expect("n")
        + total["step_cache"]["bytes"].as_u64().expect("n")
        + total["unpacked_layers"]["bytes"].as_u64().expect("n");
    // Room for everything but ~100 kB: only the oldest record has to go.
    let limit = blobs_and_layers - 100_000;
    let out = env.ok(&["prune", "--keep-storage", &limit.to_string()]);
    assert!(out.contains("Deleted step-cache records: 1"), "{out}");
    assert!(!old.exists() && new.exists(), "{out}");
    assert!(!blob_file(&store, &a).exists() && blob_file(&store, &b).exists());
    let out = env.ok(&["prune", "--keep-storage", "1"]);
    assert!(!new.exists(), "{out}");
    assert_eq!(
        fs::read_dir(store.join("layers/sha256"))
            .expect("ls")
            .count(),
        0,
        "{out}"
    );
    assert!(env.ok(&["images"]).contains("docker.io/library/app"));
    assert_intact(&store);
}

#[test]
fn prune_and_df_reject_bad_arguments_with_a_hint() {
    let env = TestEnv::new();
    let out = env.run(&["prune", "--filter", "label=x"]);
    support::assert_fails(&out, 2, &["unknown prune filter", "until=DURATION"]);
    let out = env.run(&["prune", "--filter", "until=soon"]);
    support::assert_fails(&out, 2, &["not a duration", "24h"]);
    let out = env.run(&["prune", "--keep-storage", "lots"]);
    support::assert_fails(&out, 2, &["not a size", "10GB"]);
    // An empty store is fine for all three.
    assert!(env.ok(&["prune"]).contains("Total reclaimed space: 0B"));
    assert!(env.ok(&["df"]).starts_with("TYPE"));
    assert!(env.ok(&["store", "verify"]).contains("0 damaged"));
}
