//! Helpers shared by the store tests (tests/store_*.rs).

#![allow(dead_code)]

use crate::support::{kiln_bin, show};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A `kiln --root STORE` command with a clean environment.
pub fn kiln_at(store: &Path) -> Command {
    let mut c = Command::new(kiln_bin());
    c.arg("--root").arg(store);
    c.env_remove("KILN_ROOT").env_remove("SOURCE_DATE_EPOCH");
    c.stdin(Stdio::null());
    c
}

/// Runs kiln on `store`; panics with its output unless it succeeds.
pub fn ok_at(store: &Path, args: &[&str]) -> String {
    let out = kiln_at(store).args(args).output().expect("run kiln");
    assert!(out.status.success(), "kiln {args:?} failed\n{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kiln store verify --format json` on `store`: (exit code, report).
pub fn verify_json(store: &Path) -> (Option<i32>, serde_json::Value, Output) {
    let out = kiln_at(store)
        .args(["store", "verify", "--format", "json"])
        .output()
        .expect("run kiln store verify");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify printed no JSON ({e})\n{}", show(&out)));
    (out.status.code(), report, out)
}

/// Findings of a verify report with this severity.
pub fn findings(report: &serde_json::Value, severity: &str) -> Vec<serde_json::Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == severity)
        .cloned()
        .collect()
}

/// Asserts the store has no damage (harmless leftovers are allowed).
pub fn assert_intact(store: &Path) {
    let (code, report, out) = verify_json(store);
    assert_eq!(
        findings(&report, "corrupt"),
        Vec::<serde_json::Value>::new(),
        "the store is damaged\n{}",
        show(&out)
    );
    assert_eq!(code, Some(0), "verify failed\n{}", show(&out));
}

/// `kiln df --format json`.
pub fn df_json(store: &Path) -> serde_json::Value {
    serde_json::from_str(&ok_at(store, &["df", "--format", "json"])).expect("df JSON")
}

/// `kiln inspect NAME` → (image ID, layer digests).
pub fn layers_of(store: &Path, name: &str) -> (String, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_str(&ok_at(store, &["inspect", name])).expect("inspect JSON");
    let img = &v[0];
    let layers = img["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| l["Digest"].as_str().expect("Digest").to_owned())
        .collect();
    (img["Id"].as_str().expect("Id").to_owned(), layers)
}

/// Where a blob lives in the store.
pub fn blob_file(store: &Path, digest: &str) -> PathBuf {
    store
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").expect("sha256 digest"))
}

/// Mount points at or below `dir` in this process's mount namespace.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| Path::new(m).starts_with(&dir))
        .collect()
}

/// A build context with a Dockerfile and `files` data files of `size` bytes
/// each (distinct content per `salt`).
pub fn context_with_data(dir: &Path, dockerfile: &str, files: usize, size: usize, salt: &str) {
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("Dockerfile");
    for i in 0..files {
        let mut content = format!("{salt} file {i}\n").into_bytes();
        content.resize(size, b'a' + (i % 26) as u8);
        std::fs::write(dir.join("data").join(format!("f{i:05}")), content).expect("data file");
    }
}

/// Exports `image`'s root filesystem from `store` into `dest`; returns `dest`.
pub fn exported(store: &Path, image: &str, dest: &Path) -> PathBuf {
    ok_at(
        store,
        &["export", image, "-o", dest.to_str().expect("utf-8 path")],
    );
    dest.to_owned()
}

/// The text of a file, or a panic naming it.
pub fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
