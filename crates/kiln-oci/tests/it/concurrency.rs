//! Several threads and processes updating one store.

use std::process::{Command, Stdio};

use kiln_oci::Store;

use crate::common::{reference, tiny, Env};

#[test]
fn concurrent_tags_from_threads_are_all_kept() {
    let env = Env::new();
    let img = tiny(&env.store, "threads");
    let root = env.store.root().to_owned();
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let root = root.clone();
            let manifest = img.manifest_digest;
            std::thread::spawn(move || {
                // Each thread opens its own handle, as separate processes would.
                let store = Store::open(&root).expect("open");
                for i in 0..15 {
                    store
                        .tag(&reference(&format!("t{t}:{i}")), &manifest)
                        .expect("tag");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let names = env.store.lookup("t0:0").expect("lookup").names;
    assert_eq!(names.len(), 90);
    env.assert_contained(&[]);
}

const CHILD_ENV: &str = "KILN_OCI_TEST_CHILD_STORE";

/// Child side of the two-process test; does nothing unless started by it.
#[test]
fn child_process_tagger() {
    let (Ok(root), Ok(who)) = (
        std::env::var(CHILD_ENV),
        std::env::var("KILN_OCI_TEST_CHILD_ID"),
    ) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&root)).expect("open");
    let manifest = store.lookup("base:1").expect("base").manifest;
    for i in 0..25 {
        store
            .tag(&reference(&format!("p{who}:{i}")), &manifest)
            .expect("tag");
        // Also move one shared name back and forth.
        store.tag(&reference("shared:1"), &manifest).expect("tag");
    }
}

#[test]
fn concurrent_tags_from_two_processes_are_all_kept() {
    let env = Env::new();
    let img = tiny(&env.store, "processes");
    env.store
        .tag(&reference("base:1"), &img.manifest_digest)
        .expect("tag");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|who| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "concurrency::child_process_tagger",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, env.store.root())
                .env("KILN_OCI_TEST_CHILD_ID", who.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "child failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names = env.store.lookup("base:1").expect("lookup").names;
    // base:1, shared:1 and 25 names from each child.
    assert_eq!(names.len(), 52, "{names:?}");
    env.assert_contained(&[]);
}
