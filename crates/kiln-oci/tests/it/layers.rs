//! Unpacked layers: the store's crash and concurrency promises.

use std::path::Path;
use std::sync::Barrier;

use kiln_oci::store::PruneOptions;
use kiln_oci::{Digest, Store};

use crate::common::Env;

/// Fills a staged layer the way an unpack would (plain files: the store does not care).
fn fill(root: &Path, text: &str) {
    std::fs::create_dir(root.join("etc")).expect("mkdir");
    std::fs::write(root.join("etc/os-release"), text).expect("write");
}

const CRASH_ROOT: &str = "KILN_TEST_CRASH_STORE_ROOT";

/// Not a test on its own: run by `a_crash_mid_install_leaves_no_half_layer` in a child
/// process, which stages and fills a layer, then dies before installing it.
#[test]
#[ignore = "helper: run in a child process by a_crash_mid_install_leaves_no_half_layer"]
fn crash_helper_stage_then_die() {
    let Some(root) = std::env::var_os(CRASH_ROOT) else {
        return;
    };
    let store = Store::open(Path::new(&root)).expect("open");
    let staged = store
        .stage_layer(&Digest::of_bytes(b"layer"))
        .expect("stage");
    fill(staged.root(), "half");
    // Dies as a crash does: no destructor runs (no cleanup of the staging directory), the
    // kernel drops the lease's lock. (`exit`, not `abort`: no core file.)
    std::process::exit(86);
}

#[test]
fn a_crash_mid_install_leaves_no_half_layer() {
    let env = Env::new();
    let diff_id = Digest::of_bytes(b"layer");
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "layers::crash_helper_stage_then_die",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_ROOT, env.store.root())
        .status()
        .expect("run the crashing child");
    assert_eq!(status.code(), Some(86), "the child was to die mid-install");
    // The child's staging directory is left behind in its temp directory...
    let tmp = env.store.root().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").collect();
    assert_eq!(left.len(), 1, "the dead process's temp directory");
    // ...but no layer is visible.
    assert!(!env.store.has_unpacked_layer(&diff_id));
    assert_eq!(env.store.unpacked_layer(&diff_id).expect("look"), None);
    assert!(!env.store.layer_dir(&diff_id).exists());
    // An incomplete directory (no marker, as older kiln versions could leave) is not
    // used either, and the next install replaces it.
    let stale = env.store.unpacked_layer_root(&diff_id);
    std::fs::create_dir_all(&stale).expect("mkdir");
    std::fs::write(stale.join("junk"), b"x").expect("write");
    assert!(!env.store.has_unpacked_layer(&diff_id));
    assert_eq!(env.store.unpacked_layer(&diff_id).expect("look"), None);
    let staged = env.store.stage_layer(&diff_id).expect("stage");
    fill(staged.root(), "whole");
    let root = staged.install().expect("install");
    assert_eq!(root, stale);
    assert!(!root.join("junk").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/os-release")).expect("read"),
        "whole"
    );
    assert_eq!(
        env.store.unpacked_layer(&diff_id).expect("look"),
        Some(root)
    );
    // Prune removes what the dead process left.
    let report = env.store.prune(&PruneOptions::default()).expect("prune");
    assert_eq!(report.temps.len(), 1, "{report:?}");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn concurrent_installs_of_one_layer_all_succeed() {
    let env = Env::new();
    let diff_id = Digest::of_bytes(b"shared layer");
    let start = Barrier::new(4);
    let roots: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (store, start) = (&env.store, &start);
                s.spawn(move || {
                    let staged = store.stage_layer(&diff_id).expect("stage");
                    fill(staged.root(), "same");
                    std::fs::write(staged.root().join(format!("by-{i}")), b"").expect("write");
                    start.wait();
                    staged.install().expect("install")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(roots
        .iter()
        .all(|r| *r == env.store.unpacked_layer_root(&diff_id)));
    assert!(env.store.has_unpacked_layer(&diff_id));
    // Exactly one copy won; the others were dropped.
    let winners = std::fs::read_dir(&roots[0])
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with("by-")
        })
        .count();
    assert_eq!(winners, 1);
    // Nothing left in this process's temp directory.
    for lease in std::fs::read_dir(env.store.root().join("tmp")).expect("tmp") {
        let inside = std::fs::read_dir(lease.expect("lease").path()).expect("list");
        assert_eq!(inside.count(), 0);
    }
    // Two separate store handles (as two kiln processes) agree too.
    let other = Store::open(env.store.root()).expect("open");
    let staged = other.stage_layer(&diff_id).expect("stage");
    fill(staged.root(), "same");
    assert_eq!(staged.install().expect("install"), roots[0]);
}

#[test]
fn a_later_install_never_replaces_a_complete_layer() {
    let env = Env::new();
    let diff_id = Digest::of_bytes(b"first wins");
    let first = env.store.stage_layer(&diff_id).expect("stage");
    fill(first.root(), "same");
    std::fs::write(first.root().join("by-first"), b"").expect("write");
    let second = env.store.stage_layer(&diff_id).expect("stage");
    fill(second.root(), "same");
    std::fs::write(second.root().join("by-second"), b"").expect("write");
    let root = first.install().expect("install");
    // A build may already use `root` as an overlay lower directory: it must stay.
    let inode =
        |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).expect("stat"));
    let before = inode(&root);
    assert_eq!(second.install().expect("install"), root);
    assert_eq!(inode(&root), before);
    assert!(root.join("by-first").exists());
    assert!(!root.join("by-second").exists());
}

#[test]
fn a_dropped_staging_directory_is_removed() {
    let env = Env::new();
    let diff_id = Digest::of_bytes(b"abandoned");
    let staged = env.store.stage_layer(&diff_id).expect("stage");
    fill(staged.root(), "x");
    let dir = staged.root().to_owned();
    drop(staged);
    assert!(!dir.exists());
    assert!(!env.store.has_unpacked_layer(&diff_id));
}

#[test]
fn prune_keeps_a_layer_a_running_process_installed_and_removes_it_once_that_ends() {
    let env = Env::new();
    let diff_id = Digest::of_bytes(b"built by another process");
    // Another "process": a second handle on the store with its own lease.
    let builder = Store::open(env.store.root()).expect("open");
    let staged = builder.stage_layer(&diff_id).expect("stage");
    fill(staged.root(), "x");
    let root = staged.install().expect("install");
    let all = PruneOptions {
        all: true,
        ..PruneOptions::default()
    };
    let report = env.store.prune(&all).expect("prune");
    assert!(report.layers.is_empty(), "{report:?}");
    assert!(env.store.has_unpacked_layer(&diff_id));
    assert!(root.join("etc/os-release").is_file());
    drop(builder);
    let report = env.store.prune(&all).expect("prune");
    assert_eq!(report.layers.len(), 1, "{report:?}");
    assert!(!env.store.has_unpacked_layer(&diff_id));
    assert!(!root.exists());
}
